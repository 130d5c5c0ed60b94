package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkflowCLI works a clue of a tiny demo province from the command line: users with
// passwords from stdin, a clue from new to closed with a second reviewer, a panel quorum,
// dispatch, feedback and points; a second screen leaves every state; points list shows the
// practitioner suspended at 9; the audit log verifies, and fails once a line is altered.
func TestWorkflowCLI(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "", "demo", "--dir", dir, "--scale", "tiny", "--seed", "7"); code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	data := filepath.Join(dir, "data")
	for _, u := range []struct{ name, role, region string }{
		{"r1", "reviewer", "360000"}, {"r2", "reviewer", "360000"}, {"p1", "panel", "360000"}, {"p2", "panel", "360000"},
		{"d1", "dispatcher", "360000"}, {"i1", "inspector", "360000"},
	} {
		code, out, errOut := runCLI(t, "a long enough password\n", "user", "create", "--data-dir", data, "--name", u.name, "--role", u.role,
			"--region", u.region, "--password-stdin")
		if code != exitOK || strings.Contains(out, "password") {
			t.Fatalf("user create %s: %d %q %q", u.name, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "", "user", "create", "--data-dir", data, "--name", "x", "--role", "boss", "--region", "360000"); code != exitFail || !strings.Contains(errOut, `unknown role "boss"`) {
		t.Errorf("a bad role: %d %q", code, errOut)
	}
	code, out, _ := runCLI(t, "", "user", "list", "--data-dir", data, "--json")
	if code != exitOK || len(decodeLines(t, out)) != 6 || strings.Contains(out, "argon2") {
		t.Errorf("user list: %d %q", code, out)
	}
	// The clue to work: the first one, and its state before.
	code, out, _ = runCLI(t, "", "clues", "list", "--data-dir", data, "--limit", "0", "--json")
	var clues []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &clues) != nil || len(clues) < 2 {
		t.Fatalf("clues list: %d %.300s", code, out)
	}
	id := "1"
	region := clues[0]["region"].(string)

	move := func(as, to string, want int, flags ...string) string {
		t.Helper()
		args := append([]string{"clue", "transition", "--data-dir", data, id, to, "--as", as}, flags...)
		code, out, errOut := runCLI(t, "", args...)
		if code != want {
			t.Fatalf("%s → %s: exit %d, want %d\n%s%s", as, to, code, want, out, errOut)
		}
		return out + errOut
	}
	if out := move("r1", "triaged", exitOK, "--note", "初审"); !strings.Contains(out, "new (机审) → triaged (初审)") {
		t.Errorf("triaged: %q", out)
	}
	if out := move("r1", "reviewed", exitFail); !strings.Contains(out, "cannot also approve it") {
		t.Errorf("self-approval: %q", out)
	}
	move("r2", "reviewed", exitOK, "--deliberate")
	if out := move("d1", "dispatched", exitFail, "--region", region); !strings.Contains(out, "needs 合议") {
		t.Errorf("dispatch before 合议: %q", out)
	}
	if out := move("p1", "deliberated", exitOK); !strings.Contains(out, "1 of 2") {
		t.Errorf("first vote: %q", out)
	}
	move("p2", "deliberated", exitOK)
	move("d1", "dispatched", exitOK, "--region", region[:4]+"00", "--deadline", "2099-12-31")
	// The dispatch list of the city: an XLSX export of what was dispatched there, logged.
	xlsx := filepath.Join(dir, "dispatch.xlsx")
	if code, out, errOut := runCLI(t, "", "clues", "export", "--data-dir", data, "--xlsx", xlsx, "--state", "dispatched", "--region", region[:4]+"00"); code != exitOK || !strings.Contains(out, "1 clues written") {
		t.Errorf("dispatch list: %d %q %q", code, out, errOut)
	}
	move("i1", "investigating", exitOK)
	move("i1", "answered", exitOK, "--note", "属实")
	move("i1", "closed", exitFail, "--outcome", "confirmed") // an inspector does not close
	out = move("r1", "closed", exitOK, "--outcome", "confirmed", "--recovered-fen", "12000", "--point", "D001:9:important", "--point", "D002:2:minor", "--json")
	var res map[string]any
	if json.Unmarshal([]byte(out), &res) != nil || res["state"] != "closed" {
		t.Errorf("closed: %q", out)
	}
	// A second screen leaves the workflow alone.
	if code, _, errOut := runCLI(t, "", "screen", "--data-dir", data, "--json"); code != exitOK {
		t.Fatalf("screen: %s", errOut)
	}
	code, out, _ = runCLI(t, "", "clues", "show", "--data-dir", data, "--json", id)
	if code != exitOK || !strings.Contains(out, `"state": "closed"`) {
		t.Errorf("after a second screen: %.400s", out)
	}
	code, out, _ = runCLI(t, "", "points", "list", "--data-dir", data, "--json")
	var pts []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &pts) != nil || len(pts) != 2 || pts[0]["practitioner"] != "D001" ||
		pts[0]["points"] != float64(9) || pts[0]["status"] != "suspended" || pts[1]["status"] != "active" {
		t.Errorf("points list: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, "", "points", "list", "--data-dir", data, "--practitioner", "D002"); code != exitOK || !strings.Contains(out, "D002") || strings.Contains(out, "D001") {
		t.Errorf("points list --practitioner: %q", out)
	}
	// The outcome is a label for the rule's backtest.
	detector := clues[0]["detector"].(string)
	code, out, errOut := runCLI(t, "", "rules", "backtest", strings.Split(detector, "@")[0], "--data-dir", data, "--json")
	var bt struct {
		Outcomes *struct{ Decided, Confirmed, Dismissed, Missed int }
	}
	if code != exitOK || json.Unmarshal([]byte(out), &bt) != nil || bt.Outcomes == nil || bt.Outcomes.Decided != 1 || bt.Outcomes.Confirmed+bt.Outcomes.Missed != 1 {
		t.Errorf("backtest with outcomes: %d %.300s %s", code, out, errOut)
	}
	// The audit log holds and then does not.
	if code, out, errOut := runCLI(t, "", "audit", "verify", "--data-dir", data); code != exitOK {
		t.Fatalf("audit verify: %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "audit", "list", "--data-dir", data, "--action", "transition", "--json")
	if code != exitOK || len(decodeLines(t, out)) != 8 {
		t.Errorf("audit list of transitions: %d\n%s", code, out)
	}
	files, _ := filepath.Glob(filepath.Join(data, "audit", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no audit file")
	}
	b, _ := os.ReadFile(files[0])
	altered := strings.Replace(string(b), `"r2"`, `"r3"`, 1)
	if altered == string(b) {
		t.Fatal("nothing to alter")
	}
	os.WriteFile(files[0], []byte(altered), 0o600)
	if code, _, errOut := runCLI(t, "", "audit", "verify", "--data-dir", data); code != exitFail || !strings.Contains(errOut, "line") {
		t.Errorf("audit verify after altering a line: %d %q", code, errOut)
	}
}
