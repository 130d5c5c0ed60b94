package rules_test

// Golden cases (STYLE habit 7): every file testdata/<rule>/<case>.txtar is one case, run
// by internal/rules/rulestest on a fresh in-memory DuckDB store exactly as an operator
// would (load, ingest, screen), through the facts reader the store implements. The
// sections are documented in package rulestest and docs/rules.md.
//
// go test ./internal/rules -run 'Golden/<rule>' -update rewrites the want sections of
// that rule's cases without a bug section (without the pattern: every rule's). Case
// names start with hit_, near_miss_, odd_ or are empty: every rule needs all four
// (TestGoldenCoverage).

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tracewatch/internal/rules"
	"tracewatch/internal/rules/rulestest"
)

var (
	update  = flag.Bool("update", false, "rewrite the want sections of testdata/*/*.txtar (cases without a bug section)")
	runBugs = flag.Bool("bugs", false, "run the golden cases marked with a bug section instead of skipping them")
)

func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden cases in testdata/*/*.txtar")
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".txtar")
		t.Run(name, func(t *testing.T) {
			t.Parallel() // one store per case; -parallel defaults to the cores
			a, c, err := rulestest.ReadCase(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Bug != "" && !*runBugs {
				t.Skipf("known rule bug (run with -bugs to check it):\n%s", c.Bug)
			}
			res, err := c.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Problems {
				t.Error(p)
			}
			if *update && c.Bug == "" {
				a.Set("want", []byte(res.Got))
				if err := os.WriteFile(path, rulestest.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if res.Got != c.Want {
				t.Errorf("%s: clues differ from the want section (- want, + got; -update rewrites it):\n%s", path, rulestest.Diff(c.Want, res.Got))
			}
		})
	}
}

// TestGoldenCoverage checks that every registered rule has golden cases of the four
// kinds STYLE habit 7 asks for: a minimal hit, a near miss, an empty input and an odd
// code format.
func TestGoldenCoverage(t *testing.T) {
	for _, r := range rules.Registry() {
		name := rules.Name(r)
		var kinds []string
		for _, k := range []string{"hit_", "near_miss_", "odd_", "empty"} {
			m, _ := filepath.Glob(filepath.Join("testdata", name, k+"*.txtar"))
			if len(m) == 0 {
				kinds = append(kinds, k+"*")
			}
		}
		if len(kinds) > 0 {
			t.Errorf("%s: no golden case testdata/%s/{%s}.txtar", rules.ID(r), name, strings.Join(kinds, ","))
		}
	}
}
