package tracewatch_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules enforces docs/architecture.md: the root package and the leaves import
// only the standard library; only cmd/ and test code (test files and the harness packages
// storetest and rulestest) import store packages; rules, ingest and workflow do not import
// each other; a rule never sees SQL (internal/rules and internal/facts do not import
// database/sql or a driver); only cmd/ reads flags or calls os.Exit.
func TestImportRules(t *testing.T) {
	leaves := map[string]bool{".": true, "internal/tracecode": true, "internal/idno": true}
	siblings := []string{"internal/rules", "internal/ingest", "internal/workflow"}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			local := p == "tracewatch" || strings.HasPrefix(p, "tracewatch/")
			thirdParty := strings.Contains(strings.Split(p, "/")[0], ".")
			if leaves[dir] && (local || thirdParty) {
				t.Errorf("%s imports %s: the root package and leaves import only the standard library", path, p)
			}
			harness := strings.HasSuffix(dir, "test") // internal/store/storetest, internal/rules/rulestest
			if strings.HasPrefix(p, "tracewatch/internal/store/") && !strings.HasPrefix(dir, "cmd/") && !strings.HasPrefix(dir, "internal/store/") && !harness {
				t.Errorf("%s imports %s: only cmd/ (and tests) import store packages", path, p)
			}
			for _, a := range siblings {
				for _, b := range siblings {
					if a != b && strings.HasPrefix(dir, a) && p == "tracewatch/"+b && !harness {
						t.Errorf("%s imports %s: rules, ingest and workflow do not import each other", path, p)
					}
				}
			}
			if (dir == "internal/rules" || dir == "internal/facts") && (p == "database/sql" || strings.Contains(p, "duckdb") || strings.Contains(p, "pgx")) {
				t.Errorf("%s imports %s: a rule never sees SQL", path, p)
			}
			if p == "flag" && !strings.HasPrefix(dir, "cmd/") {
				t.Errorf("%s imports flag: only cmd/ reads flags", path)
			}
		}
		if !strings.HasPrefix(dir, "cmd/") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if src := string(b); strings.Contains(src, "os.Exit(") || strings.Contains(src, "os.Getenv(") {
				t.Errorf("%s calls os.Exit or os.Getenv: only cmd/ does", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
