package eval

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"tracewatch"
)

const labelsJSONL = `{"id":"L1","scenario":"resale_other_city","detector":"trace.duplicate","severity":"高度可疑","institution":"P2","codes":["K1"]}
{"id":"L2","scenario":"resale_other_city","detector":"trace.duplicate","institution":"P3","codes":["K2"]}
{"id":"L3","scenario":"substitution_nondrug","detector":"trace.substitution","institution":"P4","settlements":["S9"]}

{"id":"L4","scenario":"scan_typo","detector":"trace.anomaly","severity":"提示","institution":"P5","receipts":["R5"]}
{"id":"L5","scenario":"stop_scanning","detector":"trace.collection","institution":"P6"}
`

func TestEvaluateHandMade(t *testing.T) {
	labels, err := ReadLabels(strings.NewReader(labelsJSONL))
	if err != nil {
		t.Fatal(err)
	}
	hs, sus, note := tracewatch.SeverityHighlySuspicious, tracewatch.SeveritySuspicious, tracewatch.SeverityNotice
	clues := []tracewatch.Clue{
		// T1 finds L1 (twice: two clues naming K1) and a clean code K7: one false clue.
		{Detector: "trace.duplicate@1", Severity: hs, Codes: []string{"K1"}, Institution: "P2"},
		{Detector: "trace.duplicate@1", Severity: sus, Codes: []string{"K1", "K8"}, Institution: "P2"},
		{Detector: "trace.duplicate@1", Severity: sus, Codes: []string{"K7"}, Institution: "P9"},
		// A 提示 on K2 does not count for L2 (needs 可疑) and is not a false clue either.
		{Detector: "trace.duplicate@1", Severity: note, Codes: []string{"K2"}, Institution: "P3"},
		// T3 names K2 (a planted code): not found for T1's scenario, not false.
		{Detector: "trace.nosource@1", Severity: hs, Codes: []string{"K2"}, Institution: "P3"},
		// T2 matches L3 by settlement although the institution differs.
		{Detector: "trace.substitution@1", Severity: hs, Settlements: []string{"S9"}, Institution: "PX"},
		// The first key kind both carry decides: L3 has no codes, so settlements match.
		{Detector: "trace.substitution@1", Severity: hs, Codes: []string{"K5"}, Settlements: []string{"S9"}},
		// L1 and this clue both carry codes, which do not intersect: no match although
		// the institution is L1's; a false clue of T2.
		{Detector: "trace.substitution@1", Severity: hs, Codes: []string{"K8"}, Institution: "P2"},
		// T4 notice on receipt R5 matches L4 (expects 提示).
		{Detector: "trace.anomaly@1", Severity: note, Receipts: []string{"R5"}, Institution: "P5"},
		// T6 at the wrong institution: false.
		{Detector: "trace.collection@1", Severity: sus, Institution: "P7"},
	}
	baseline := []tracewatch.Clue{
		{Detector: "baseline.repeat@1", Severity: sus, Codes: []string{"K1"}},
		{Detector: "baseline.repeat@1", Severity: sus, Codes: []string{"K2"}},
		{Detector: "baseline.repeat@1", Severity: sus, Codes: []string{"K7"}},
		{Detector: "baseline.repeat@1", Severity: sus, Codes: []string{"K6"}},
	}
	sold := []string{"K1", "K2", "K5", "K6", "K7", "K8", "K10", "K11", "K12", "K13"}
	rep := Evaluate(Input{Labels: labels, Clues: clues, Baseline: baseline, SoldCodes: sold})

	want := map[string]ScenarioResult{
		"resale_other_city":    {Scenario: "resale_other_city", Detector: "trace.duplicate", Planted: 2, Found: 2, TruePositives: 1, FalseClues: 1, Precision: 2.0 / 3, Recall: 0.5},
		"substitution_nondrug": {Scenario: "substitution_nondrug", Detector: "trace.substitution", Planted: 1, Found: 2, TruePositives: 1, FalseClues: 1, Precision: 2.0 / 3, Recall: 1},
		"scan_typo":            {Scenario: "scan_typo", Detector: "trace.anomaly", Planted: 1, Found: 1, TruePositives: 1, Precision: 1, Recall: 1},
		"stop_scanning":        {Scenario: "stop_scanning", Detector: "trace.collection", Planted: 1, FalseClues: 1},
	}
	if len(rep.Scenarios) != len(want) {
		t.Fatalf("scenarios = %+v", rep.Scenarios)
	}
	for _, got := range rep.Scenarios {
		w := want[got.Scenario]
		if got.Planted != w.Planted || got.Found != w.Found || got.TruePositives != w.TruePositives || got.FalseClues != w.FalseClues ||
			!near(got.Precision, w.Precision) || !near(got.Recall, w.Recall) || got.Detector != w.Detector {
			t.Errorf("%s:\n got %+v\nwant %+v", got.Scenario, got, w)
		}
	}
	// Clean codes: sold minus labelled (K1, K2) = 8; flagged 可疑+: K7, K8 (K5 too: the
	// substitution clue names it) = 3.
	if rep.CleanCodes != 8 || rep.CleanFlagged != 3 || !near(rep.FalseAlertRate, 3.0/8) {
		t.Errorf("clean %d flagged %d rate %v, want 8, 3, 0.375", rep.CleanCodes, rep.CleanFlagged, rep.FalseAlertRate)
	}
	// The baseline claims trace scenarios only: it finds K1 and K2 (recall 1), K7 and K6
	// are false (precision 2/4), 2 of 8 clean codes flagged.
	if len(rep.Baseline.Scenarios) != 4 {
		t.Fatalf("baseline scenarios = %+v", rep.Baseline.Scenarios)
	}
	for _, b := range rep.Baseline.Scenarios {
		if b.Scenario != "resale_other_city" {
			continue
		}
		if b.Detector != BaselineDetector || b.Found != 2 || b.TruePositives != 2 || b.FalseClues != 2 || !near(b.Precision, 0.5) || b.Recall != 1 {
			t.Errorf("baseline = %+v", b)
		}
	}
	if rep.Baseline.CleanFlagged != 2 || !near(rep.Baseline.FalseAlertRate, 0.25) {
		t.Errorf("baseline clean flagged %d rate %v", rep.Baseline.CleanFlagged, rep.Baseline.FalseAlertRate)
	}

	// The JSON document carries the contract's keys.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	for _, k := range []string{"scenarios", "false_alert_rate", "clean_codes", "baseline"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	row := doc["scenarios"].([]any)[0].(map[string]any)
	for _, k := range []string{"scenario", "detector", "planted", "found", "true_positives", "precision", "recall"} {
		if _, ok := row[k]; !ok {
			t.Errorf("scenario row lacks %q: %v", k, row)
		}
	}
}

func TestReadLabelsErrors(t *testing.T) {
	for _, in := range []string{`{"id":"L1"`, `{"id":"L1","detector":"trace.duplicate"}`} {
		if _, err := ReadLabels(strings.NewReader("\n" + in + "\n")); tracewatch.KindOf(err) != tracewatch.KindInvalid || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ReadLabels(%q) = %v, want invalid naming line 2", in, err)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
