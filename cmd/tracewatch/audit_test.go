package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditExportVerifyTamper: an export is recorded in the audit log with the file's
// SHA-256; `audit verify` passes, and fails naming the line after a row is altered by
// hand (issue 13, acceptance 5); `audit list` lists the entries.
func TestAuditExportVerifyTamper(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	regions := filepath.Join(dir, "regions.csv")
	if err := os.WriteFile(regions, []byte("admdvs,name,parent\n360000,江西省,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "", "load", "--data-dir", data, "regions", regions); code != exitOK {
		t.Fatalf("load: %d %s", code, stderr)
	}
	for i := range 2 {
		xlsx := filepath.Join(dir, "c"+string(rune('0'+i))+".xlsx")
		if code, _, stderr := runCLI(t, "", "clues", "export", "--data-dir", data, "--xlsx", xlsx, "--severity", "可疑"); code != exitOK {
			t.Fatalf("export: %d %s", code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "", "audit", "verify", "--data-dir", data, "--json")
	if code != exitOK {
		t.Fatalf("verify: %d %s %s", code, stdout, stderr)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v["ok"] != true || v["entries"] != float64(2) {
		t.Fatalf("verify --json: %s (%v)", stdout, err)
	}
	code, stdout, _ = runCLI(t, "", "audit", "list", "--data-dir", data, "--action", "export", "--json")
	lines := decodeLines(t, stdout)
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("list: %d %s", code, stdout)
	}
	d, _ := lines[0]["detail"].(map[string]any)
	if sum, _ := d["sha256"].(string); len(sum) != 64 || !strings.HasPrefix(lines[0]["actor"].(string), "cli") {
		t.Errorf("export entry: %v", lines[0])
	}

	// Alter the first row by hand: the second row no longer carries its hash.
	files, _ := filepath.Glob(filepath.Join(data, "audit", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no audit file")
	}
	b, _ := os.ReadFile(files[0])
	if err := os.WriteFile(files[0], []byte(strings.Replace(string(b), `"clues":0`, `"clues":5`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "", "audit", "verify", "--data-dir", data)
	if code != exitFail || !strings.Contains(stderr, "line 2") {
		t.Errorf("verify after tampering: %d %q", code, stderr)
	}
}
