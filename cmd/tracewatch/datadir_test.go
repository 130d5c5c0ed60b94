package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A command that only reads a store refuses a directory that holds none, and creates
// nothing there (issue 10 case 8: a misspelt --data-dir).
func TestReadersRefuseMissingStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "tracewatch-dta") // misspelt
	if err := os.WriteFile(filepath.Join(dir, "labels.jsonl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"stats"},
		{"trace", "83857930000879766660"},
		{"clues", "list"},
		{"clues", "show", "1"},
		{"clues", "export", "--xlsx", filepath.Join(dir, "c.xlsx")},
		{"screen"},
		{"eval", "--labels", filepath.Join(dir, "labels.jsonl")},
		{"quarantine", "list"},
		{"ledger", "rebuild"},
		{"institution", "key", "create", "P36010200001"},
		{"institution", "key", "revoke", "tw0000000000000000"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append(append([]string{}, args...), "--data-dir", missing)
			code, _, stderr := runCLI(t, "", full...)
			if code == exitOK {
				t.Fatalf("status 0 on a directory without a store")
			}
			if !strings.Contains(stderr, "no store there") || !strings.Contains(stderr, missing) {
				t.Errorf("stderr does not name the missing store: %q", stderr)
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("%s was created (err %v)", missing, err)
			}
		})
	}
}

// Commands that write create the store, say so on stderr, and honour flags given after
// the positional arguments.
func TestWritersCreateStoreAndFlagsAfterArgs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	file := filepath.Join(dir, "m.jsonl")
	line := `{"infno":"3505","msgid":"M-FLAGS-1","fixmedins_code":"P36010200001","inf_time":"2025-07-01 10:00:00","input":{"selinfo":{"med_list_codg":"XA01","fixmedins_hilist_id":"A","fixmedins_hilist_name":"a","rtal_docno":"R1","sel_retn_cnt":1,"sel_retn_time":"2025-07-01 10:00:00","drug_trac_info":[{"drug_trac_codg":"83857930000879766660"}]}}}`
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "", "ingest", file, "--data-dir", data, "--json")
	if code == exitUsage {
		t.Fatalf("flags after the file refused: %s", stderr)
	}
	if !strings.Contains(stderr, "creating a new store in") {
		t.Errorf("no word of the new store on stderr: %q", stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "tracewatch.duckdb")); err != nil {
		t.Fatalf("the store is not in --data-dir: %v", err)
	}
	if _, err := os.Stat("tracewatch-data"); err == nil {
		t.Errorf("./tracewatch-data was created")
	}
	// A second run says nothing about creating; a reader now opens it.
	_, _, stderr = runCLI(t, "", "ingest", "--data-dir", data, file)
	if strings.Contains(stderr, "creating") {
		t.Errorf("announced a new store on an existing one: %q", stderr)
	}
	if code, out, stderr := runCLI(t, "", "stats", "--json", "--data-dir", data); code != exitOK || !strings.Contains(out, "messages") {
		t.Errorf("stats on the new store: %d %q %q", code, out, stderr)
	}
	// After "--" everything is positional.
	if code, _, _ := runCLI(t, "", "ingest", "--data-dir", data, "--", "--json"); code == exitUsage {
		t.Errorf("'--json' after '--' was taken as a flag")
	}
	// An unknown flag after the file is refused before anything is written.
	other := filepath.Join(dir, "other")
	if code, _, _ := runCLI(t, "", "ingest", file, "--data-dirr", other); code != exitUsage {
		t.Errorf("unknown flag after the file: status %d, want %d", code, exitUsage)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("something was written for a refused command line")
	}
}
