package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"tracewatch"
	"tracewatch/internal/export"

	"github.com/xuri/excelize/v2"
)

// TestDemoScreenCluesEval runs the whole job on a tiny province in-process: demo, a
// second screen that adds no clue, the clue commands and the XLSX export, and eval --json.
func TestDemoScreenCluesEval(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "demo", "--dir", dir, "--scale", "tiny", "--seed", "7")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"[5/5] evaluation", "scenario", "false-alert rate", "tracewatch clues list"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	data, demoOut := filepath.Join(dir, "data"), out

	clueCount := func() int {
		code, out, errOut := runCLI(t, "", "clues", "list", "--data-dir", data, "--limit", "0", "--json")
		if code != exitOK {
			t.Fatalf("clues list: %d %s", code, errOut)
		}
		var clues []map[string]any
		if err := json.Unmarshal([]byte(out), &clues); err != nil {
			t.Fatalf("clues list --json: %v\n%s", err, out)
		}
		return len(clues)
	}
	before := clueCount()
	if before == 0 {
		t.Fatal("the demo found no clues")
	}
	code, out, errOut = runCLI(t, "", "screen", "--data-dir", data, "--json")
	if code != exitOK {
		t.Fatalf("screen: %d %s", code, errOut)
	}
	var sum struct {
		Clues, New int
	}
	// The same clues as the demo's screen of everything (the store also keeps the few its
	// month-end screens raised that a screen of everything does not), none new.
	var demoClues int
	if m := regexp.MustCompile(`(?m)^(\d+) clues, \d+ new$`).FindStringSubmatch(demoOut); m != nil {
		demoClues, _ = strconv.Atoi(m[1])
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.New != 0 || sum.Clues != demoClues || sum.Clues > before {
		t.Errorf("second screen: %+v (%v), want %d clues (of %d stored) and none new\n%s", sum, err, demoClues, before, out)
	}
	if after := clueCount(); after != before {
		t.Errorf("clues after a second screen: %d, want %d", after, before)
	}

	code, out, _ = runCLI(t, "", "clues", "show", "--data-dir", data, "1")
	if code != exitOK || !strings.Contains(out, "证据") {
		t.Errorf("clues show 1: %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "", "clues", "show", "--data-dir", data, "999999"); code != exitFail || !strings.Contains(errOut, "not found") {
		t.Errorf("clues show 999999: %d %s", code, errOut)
	}

	xlsx := filepath.Join(dir, "out.xlsx")
	if code, out, errOut := runCLI(t, "", "clues", "export", "--data-dir", data, "--xlsx", xlsx); code != exitOK {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	f, err := excelize.OpenFile(xlsx)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("疑点线索")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != before+1 {
		t.Errorf("workbook has %d rows, want a header and %d clues", len(rows), before)
	}
	if got := strings.Join(rows[0], ","); got != strings.Join(export.Headers, ",") {
		t.Errorf("headers = %s", got)
	}

	code, out, errOut = runCLI(t, "", "eval", "--data-dir", data, "--labels", filepath.Join(dir, "province", "labels.jsonl"), "--json")
	if code != exitOK {
		t.Fatalf("eval: %d %s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenarios", "false_alert_rate", "clean_codes", "baseline"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("eval --json lacks %q", k)
		}
	}
	if code, _, errOut := runCLI(t, "", "eval", "--data-dir", data); code != exitFail || !strings.Contains(errOut, "--labels") {
		t.Errorf("eval without --labels: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "screen", "--data-dir", data, "--detector", "T9"); code != exitFail || !strings.Contains(errOut, "T9") {
		t.Errorf("screen --detector T9: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "screen", "--data-dir", data, "--param", "trace.nosource.min_coverage=2"); code != exitFail || !strings.Contains(errOut, "min_coverage") {
		t.Errorf("bad param: %d %s", code, errOut)
	}
}

// TestMonthScreens: the demo's screens cover the data without gap or overlap, one per
// month whose last day the data reaches and one the night after the last data; the month
// the demo suggests reporting is the last full one.
func TestMonthScreens(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.ParseInLocation("2006-01-02", s, tracewatch.Beijing)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		start, last string
		want        []string // from–to of each window ("" for the beginning)
		month       string
	}{
		{"2025-07-01", "2025-09-28", []string{"–2025-07-31", "2025-07-31–2025-08-31", "2025-08-31–2025-09-29"}, "2025-08"},
		{"2025-07-01", "2025-07-20", []string{"–2025-07-21"}, "2025-06"},
		{"2025-07-31", "2025-08-31", []string{"–2025-08-31", "2025-08-31–2025-09-01"}, "2025-08"},
		{"2025-07-01", "2025-08-30", []string{"–2025-07-31", "2025-07-31–2025-08-31"}, "2025-07"},
	} {
		var got []string
		for _, w := range monthScreens(day(c.start), day(c.last).Add(15*time.Hour)) {
			f := ""
			if !w.From.IsZero() {
				f = w.From.In(tracewatch.Beijing).Format("2006-01-02")
			}
			got = append(got, f+"–"+w.To.In(tracewatch.Beijing).Format("2006-01-02"))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("data %s to %s: windows %q, want %q", c.start, c.last, got, c.want)
		}
		if m := lastFullMonth(day(c.last).Add(15 * time.Hour)); m != c.month {
			t.Errorf("data to %s: last full month %s, want %s", c.last, m, c.month)
		}
	}
}

// TestBenchGang runs `bench gang` on a small load: every planted ring is found whole (the
// first two, of 3 and 50 persons, are bridged into one group of 53 that C10 must split)
// and no clue names only honest buyers.
func TestBenchGang(t *testing.T) {
	code, out, errOut := runCLI(t, "", "bench", "gang", "--settlements", "100000", "--dir", t.TempDir())
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "of 5 rings 5 found whole, 0 merged with a bridged ring, 0 split or missed; 0 clues of no ring") {
		t.Errorf("bench gang:\n%s", out)
	}
}
