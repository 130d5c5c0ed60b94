package main

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestIngestLedgerModes: a load that rebuilds the ledger at its end leaves the same
// ledger as one that keeps it at every commit (a rebuild afterwards changes no row of
// either); auto rebuilds at the end of a load into an empty store and keeps the ledger
// at every commit for a small load into a larger store; an unknown mode is a usage error.
func TestIngestLedgerModes(t *testing.T) {
	dir := t.TempDir()
	prov := filepath.Join(dir, "province")
	if code, _, stderr := runCLI(t, "", "gen", "--seed", "3", "--scale", "tiny", "--out", prov); code != exitOK {
		t.Fatalf("gen: %s", stderr)
	}
	refs, err := provinceFiles(prov)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(prov, "messages", "*.jsonl"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("%d message files", len(files))
	}
	rebuilt := regexp.MustCompile(`ledger: rebuilt from the facts after the load, (\d+) codes`)
	unchanged := regexp.MustCompile(`ledger rebuilt from the facts: (\d+) codes in \S+; 0 rows changed`)
	codes := map[string]string{}
	for _, mode := range []string{"end", "commit", "auto"} {
		data := filepath.Join(dir, mode)
		for _, f := range refs {
			if code, _, stderr := runCLI(t, "", "load", "--data-dir", data, string(f.kind), f.path); code != exitOK {
				t.Fatalf("load: %s", stderr)
			}
		}
		code, out, stderr := runCLI(t, "", append([]string{"ingest", "--ledger", mode, "--data-dir", data}, files[:len(files)-1]...)...)
		if code != exitOK {
			t.Fatalf("ingest --ledger %s: %s", mode, stderr)
		}
		if got := rebuilt.FindStringSubmatch(out); (got != nil) != (mode != "commit") {
			t.Errorf("ingest --ledger %s into an empty store:\n%s", mode, out)
		}
		// One more file, small against the store: auto keeps the ledger at every commit.
		code, out, stderr = runCLI(t, "", "ingest", "--data-dir", data, files[len(files)-1])
		if code != exitOK || rebuilt.MatchString(out) {
			t.Errorf("ingest of the last file (auto): %d %s\n%s", code, stderr, out)
		}
		code, out, stderr = runCLI(t, "", "ledger", "rebuild", "--data-dir", data)
		m := unchanged.FindStringSubmatch(out)
		if code != exitOK || m == nil {
			t.Fatalf("--ledger %s: ledger rebuild: %d %s\n%s", mode, code, stderr, out)
		}
		codes[mode] = m[1]
	}
	if codes["end"] != codes["commit"] || codes["end"] != codes["auto"] || codes["end"] == "0" {
		t.Errorf("ledger codes by mode: %v", codes)
	}
	code, _, stderr := runCLI(t, "", "ingest", "--ledger", "later", "--data-dir", filepath.Join(dir, "x"), files[0])
	if code != exitUsage || !strings.Contains(stderr, `--ledger "later"`) {
		t.Errorf("--ledger later: %d %s", code, stderr)
	}
	// A server keeps its own ledger: asking it for another way is a usage error, before
	// any request is sent.
	code, _, stderr = runCLI(t, "", "ingest", "--ledger", "end", "--server", "http://127.0.0.1:1", "--token", "x", files[0])
	if code != exitUsage || !strings.Contains(stderr, "applies to a local store") {
		t.Errorf("--ledger end --server: %d %s", code, stderr)
	}
}
