package main

import (
	"path/filepath"
	"testing"

	"tracewatch"
	"tracewatch/internal/rules"
)

// TestRuleFileDefaults: serve runs with --rules FILE (which must exist) or the data
// directory's rules.txt (missing: the default, created by the first edit); screen and
// rules backtest take that file too once it exists, so that an edit made in the web
// workplace is what a local screening runs.
func TestRuleFileDefaults(t *testing.T) {
	dir := t.TempDir()
	if _, err := openRuleFile(dir, filepath.Join(dir, "missing.rules")); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("a --rules file that is not there: %v, want invalid", err)
	}
	rf, err := openRuleFile(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if rf.Path() != filepath.Join(dir, rules.FileName) || dataRulesFile(dir, "") != "" {
		t.Errorf("path %s, screen's file %q before any edit", rf.Path(), dataRulesFile(dir, ""))
	}
	off := false
	if _, err := rf.Set("C10", rules.Change{Enabled: &off}, "test"); err != nil {
		t.Fatal(err)
	}
	if got := dataRulesFile(dir, ""); got != rf.Path() {
		t.Errorf("screen's file after an edit: %q, want %s", got, rf.Path())
	}
	if got := dataRulesFile(dir, "other.rules"); got != "other.rules" {
		t.Errorf("--rules given: %q", got)
	}
	b, err := rules.LoadBase(dataRulesFile(dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := b.Entry("C10"); e.Enabled {
		t.Error("the edit is not in the base a local screening loads")
	}
	again, err := openRuleFile(dir, "") // serve started again
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := again.Base(); func() bool { e, _ := b.Entry("C10"); return e.Enabled }() {
		t.Error("the edit is lost when serve starts again")
	}
}
