package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tracewatch"
)

// fieldOf returns the field an error names.
func fieldOf(err error) string {
	var e *tracewatch.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// TestFileSet: an edit is written to the file and read back by a fresh File; what the
// rule base refuses names its field and leaves the file as it was.
func TestFileSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Base(); ParamValue(mustEntry(t, b, "T3"), "min_coverage") != "0.95" {
		t.Fatal("a missing file is not the default rule base")
	}
	off := false
	b, err := f.Set("T3", Change{Enabled: &off, Severity: "可疑", Params: map[string]string{"min_coverage": " 0.9 "}}, "admin 2025-03-01 10:00\nforged = line")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEntry(t, b, "trace.nosource")
	if e.Enabled || e.EffectiveSeverity() != tracewatch.SeveritySuspicious || ParamValue(e, "min_coverage") != "0.9" {
		t.Errorf("returned base: enabled %v severity %v min_coverage %s", e.Enabled, e.EffectiveSeverity(), ParamValue(e, "min_coverage"))
	}
	again, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := again.Base()
	if e := mustEntry(t, rb, "T3"); e.Enabled || ParamValue(e, "min_coverage") != "0.9" {
		t.Errorf("the file read back: enabled %v min_coverage %s", e.Enabled, ParamValue(e, "min_coverage"))
	}
	if e := mustEntry(t, rb, "T1"); !e.Enabled || ParamValue(e, "double_scan") != "10m" {
		t.Error("a rule not edited changed")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "\nforged = line") {
		t.Errorf("the note broke out of its comment:\n%s", data)
	}
	for _, c := range []struct {
		name, field string
		kind        tracewatch.ErrorKind
		change      Change
	}{
		{"T3", "min_coverage", tracewatch.KindInvalid, Change{Params: map[string]string{"min_coverage": "abc"}}},
		{"T3", "min_coverage", tracewatch.KindInvalid, Change{Params: map[string]string{"min_coverage": "1.5"}}},
		{"T3", "min_coverage", tracewatch.KindInvalid, Change{Params: map[string]string{"min_coverage": "0.9\n[T1]\nenabled = false"}}},
		{"T3", "nope", tracewatch.KindInvalid, Change{Params: map[string]string{"nope": "1"}}},
		{"T3", "severity", tracewatch.KindInvalid, Change{Severity: "明确违规"}}, // above T3's own grading
		{"T3", "severity", tracewatch.KindInvalid, Change{Severity: "severe"}},
		{"T3", "body", tracewatch.KindInvalid, Change{}},
		{"T99", "rule", tracewatch.KindNotFound, Change{Enabled: &off}},
	} {
		_, err := f.Set(c.name, c.change, "")
		if tracewatch.KindOf(err) != c.kind || fieldOf(err) != c.field {
			t.Errorf("Set(%s, %+v): %v (field %q), want %v naming %q", c.name, c.change, err, fieldOf(err), c.kind, c.field)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Errorf("refused edits changed the file:\n%s", after)
	}
}

// TestFileSetKeepsProvinceFile: the province's own lines and comments stay; a JSON file
// stays JSON.
func TestFileSetKeepsProvinceFile(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.rules")
	os.WriteFile(text, []byte("# 本省规则库\n[C10]\nenabled = false"), 0o600)
	f, err := OpenFile(text)
	if err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := f.Set("C4", Change{Enabled: &on, Params: map[string]string{"min": "9"}}, "admin"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(text)
	if !strings.HasPrefix(string(data), "# 本省规则库\n[C10]\nenabled = false\n") {
		t.Errorf("the province's lines changed:\n%s", data)
	}
	if st, _ := os.Stat(text); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", st.Mode().Perm())
	}
	b, err := LoadBase(text)
	if err != nil {
		t.Fatal(err)
	}
	if mustEntry(t, b, "C10").Enabled || ParamValue(mustEntry(t, b, "C4"), "min") != "9" {
		t.Errorf("LoadBase of the edited file:\n%s", data)
	}

	js := filepath.Join(dir, "rules.json")
	os.WriteFile(js, []byte(`{"rules": [{"id": "trace.nosource@1", "params": {"min_coverage": 0.8}}]}`), 0o644)
	f, err = OpenFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Set("T1", Change{Params: map[string]string{"double_scan": "5m"}}, "admin"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(js)
	if b, err = LoadBase(js); err != nil || !strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		t.Fatalf("JSON file after Set: %v\n%s", err, data)
	}
	if ParamValue(mustEntry(t, b, "T3"), "min_coverage") != "0.8" || ParamValue(mustEntry(t, b, "T1"), "double_scan") != "5m" {
		t.Errorf("JSON file after Set:\n%s", data)
	}
}

func mustEntry(t *testing.T, b *Base, name string) *Entry {
	t.Helper()
	e, ok := b.Entry(name)
	if !ok {
		t.Fatalf("no rule %s", name)
	}
	return e
}

// TestRepeatedSections: a rule named in two sections takes both in order: the later one
// changes what it names and keeps what the earlier one set (so that edits appended to a
// file add up). The near miss: a later section that sets the same setting wins.
func TestRepeatedSections(t *testing.T) {
	b := DefaultBase()
	err := b.Apply([]byte("[T3]\nseverity = 可疑\nenabled = false\nmin_coverage = 0.9\n\n[trace.nosource@1]\nmin_coverage = 0.8\n\n[T3]\nregions = 360100\n"), "test.rules")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEntry(t, b, "T3")
	if e.EffectiveSeverity() != tracewatch.SeveritySuspicious || e.Enabled || ParamValue(e, "min_coverage") != "0.8" || len(e.Regions) != 1 {
		t.Errorf("after three sections: severity %v enabled %v min_coverage %s regions %v; want 可疑, false, 0.8 (the later), [360100]",
			e.EffectiveSeverity(), e.Enabled, ParamValue(e, "min_coverage"), e.Regions)
	}

	f, err := OpenFile(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := f.Set("T3", Change{Severity: "suspicious", Enabled: &off}, "first"); err != nil {
		t.Fatal(err)
	}
	b, err = f.Set("T3", Change{Params: map[string]string{"min_coverage": "0.92"}}, "second")
	if err != nil {
		t.Fatal(err)
	}
	if e := mustEntry(t, b, "T3"); e.EffectiveSeverity() != tracewatch.SeveritySuspicious || e.Enabled || ParamValue(e, "min_coverage") != "0.92" {
		t.Errorf("two edits: severity %v enabled %v min_coverage %s; the second edit undid the first", e.EffectiveSeverity(), e.Enabled, ParamValue(e, "min_coverage"))
	}
}
