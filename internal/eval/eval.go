// Package eval measures detectors against the planted cases of a synthetic province
// (labels.jsonl, docs/synthetic-data.md): per scenario planted vs found, precision and
// recall, and the false-alert rate over clean codes, for our detectors and for the naive
// baseline B0 side by side.
package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// Label is one planted case.
type Label struct {
	ID          string   `json:"id"`
	Scenario    string   `json:"scenario"`
	Detector    string   `json:"detector"`
	Severity    string   `json:"severity,omitempty"`
	Institution string   `json:"institution,omitempty"`
	Codes       []string `json:"codes,omitempty"`
	Settlements []string `json:"settlements,omitempty"`
	Receipts    []string `json:"receipts,omitempty"`
	MsgIDs      []string `json:"msgids,omitempty"`
	Persons     []string `json:"persons,omitempty"`
	Region      string   `json:"region,omitempty"` // a region-wide case (upload_outage): matched by region clues
	Day         string   `json:"day,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// ReadLabels reads labels.jsonl. Blank lines are skipped; a bad line is an error naming it.
func ReadLabels(r io.Reader) ([]Label, error) {
	var out []Label
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var l Label
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			return nil, tracewatch.Errorf("eval.ReadLabels", tracewatch.KindInvalid, "line %d: %v", n, err)
		}
		if l.Scenario == "" || l.Detector == "" {
			return nil, tracewatch.Errorf("eval.ReadLabels", tracewatch.KindInvalid, "line %d: scenario and detector are required", n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, tracewatch.E("eval.ReadLabels", tracewatch.KindInvalid, err)
	}
	return out, nil
}

// ScenarioResult is one row of the evaluation.
type ScenarioResult struct {
	Scenario      string  `json:"scenario"`
	Detector      string  `json:"detector"`
	Planted       int     `json:"planted"`
	Found         int     `json:"found"`               // clues of the detector that match a label of the scenario
	TruePositives int     `json:"true_positives"`      // labels of the scenario matched by at least one clue
	FalseClues    int     `json:"false_clues"`         // clues of the detector (可疑 or worse) that match no label at all
	Precision     float64 `json:"precision"`           // found / (found + false_clues)
	Recall        float64 `json:"recall"`              // true_positives / planted
	NotBuilt      bool    `json:"not_built,omitempty"` // the expected detector does not exist yet: nothing could be found
}

// QuarantineDetector is the detector name the quarantine's rows are scored under (the
// planted malformed messages): the ingest refuses them, no screen is needed.
const QuarantineDetector = "ingest.quarantine"

// MarkNotBuilt flags the scenarios whose expected detector built does not know, so that
// a zero recall reads as "no detector yet", not as a detector that misses.
func MarkNotBuilt(r *Report, built func(detector string) bool) {
	for i := range r.Scenarios {
		r.Scenarios[i].NotBuilt = !built(r.Scenarios[i].Detector)
	}
}

// Figures are the results of one set of clues.
type Figures struct {
	Scenarios      []ScenarioResult `json:"scenarios"`
	FalseAlertRate float64          `json:"false_alert_rate"` // clean codes with a clue of 可疑 or worse / clean codes
	CleanCodes     int              `json:"clean_codes"`      // codes sold that no label names
	CleanFlagged   int              `json:"clean_flagged"`
}

// Report is the evaluation: our detectors, and the naive baseline on the trace scenarios.
type Report struct {
	Figures
	Baseline Figures `json:"baseline"`
}

// BaselineDetector is the name of the naive baseline (B0).
const BaselineDetector = "baseline.repeat"

// Input is what Evaluate needs.
type Input struct {
	Labels    []Label
	Clues     []tracewatch.Clue // of every detector screened, and quarantine rows as ingest.quarantine clues
	Baseline  []tracewatch.Clue // B0's clues
	SoldCodes []string          // every code identity sold in the store
}

// Evaluate computes the report.
func Evaluate(in Input) Report {
	labelled := map[string]bool{}
	for _, l := range in.Labels {
		for _, k := range l.Codes {
			labelled[k] = true
		}
	}
	var clean []string
	for _, k := range in.SoldCodes {
		if !labelled[k] {
			clean = append(clean, k)
		}
	}
	rep := Report{Figures: figures(in.Labels, in.Clues, clean, "")}
	var trace []Label
	for _, l := range in.Labels {
		if strings.HasPrefix(l.Detector, "trace.") {
			trace = append(trace, l)
		}
	}
	rep.Baseline = figures(trace, in.Baseline, clean, BaselineDetector)
	return rep
}

// figures evaluates clues against labels. When as is set, every clue is taken as a
// finding for every label's detector (the baseline claims every trace scenario), and
// matches a label only by a code both name (the baseline knows nothing else).
func figures(labels []Label, clues []tracewatch.Clue, clean []string, as string) Figures {
	var f Figures
	// Scenarios in the order they first appear.
	type scen struct {
		name, detector string
		labels         []*Label
	}
	var scens []*scen
	byName := map[string]*scen{}
	for i := range labels {
		l := &labels[i]
		s := byName[l.Scenario]
		if s == nil {
			s = &scen{name: l.Scenario, detector: l.Detector}
			byName[l.Scenario] = s
			scens = append(scens, s)
		}
		s.labels = append(s.labels, l)
	}
	detOf := func(c *tracewatch.Clue) string {
		if as != "" {
			return as
		}
		return c.DetectorName()
	}
	// False clues per detector: 可疑 or worse, matching no label at all by keys.
	falseBy := map[string]int{}
	for i := range clues {
		if c := &clues[i]; False(c, labels) {
			falseBy[detOf(c)]++
		}
	}
	for _, s := range scens {
		det := s.detector
		if as != "" {
			det = as
		}
		r := ScenarioResult{Scenario: s.name, Detector: det, Planted: len(s.labels), FalseClues: falseBy[det]}
		matched := make([]bool, len(s.labels))
		for i := range clues {
			c := &clues[i]
			if detOf(c) != det {
				continue
			}
			any := false
			for j, l := range s.labels {
				if (as != "" || c.DetectorName() == l.Detector) && c.Severity >= qualifying(l) && keysMatch(c, l) &&
					(as == "" || intersects(c.Codes, l.Codes)) {
					matched[j], any = true, true
				}
			}
			if any {
				r.Found++
			}
		}
		for _, m := range matched {
			if m {
				r.TruePositives++
			}
		}
		if r.Planted > 0 {
			r.Recall = float64(r.TruePositives) / float64(r.Planted)
		}
		if r.Found+r.FalseClues > 0 {
			r.Precision = float64(r.Found) / float64(r.Found+r.FalseClues)
		}
		f.Scenarios = append(f.Scenarios, r)
	}
	sort.SliceStable(f.Scenarios, func(i, j int) bool { return f.Scenarios[i].Detector < f.Scenarios[j].Detector })

	// False-alert rate over clean codes.
	flagged := map[string]bool{}
	for i := range clues {
		if clues[i].Severity >= tracewatch.SeveritySuspicious {
			for _, k := range clues[i].Codes {
				flagged[k] = true
			}
		}
	}
	f.CleanCodes = len(clean)
	for _, k := range clean {
		if flagged[k] {
			f.CleanFlagged++
		}
	}
	if f.CleanCodes > 0 {
		f.FalseAlertRate = float64(f.CleanFlagged) / float64(f.CleanCodes)
	}
	return f
}

// False reports whether clue c is a false clue: of 可疑 or worse and matching no label at
// all by its keys (a clue on a case planted for another detector is not false).
func False(c *tracewatch.Clue, labels []Label) bool {
	if c.Severity < tracewatch.SeveritySuspicious {
		return false
	}
	for j := range labels {
		if keysMatch(c, &labels[j]) {
			return false
		}
	}
	return true
}

// Matches reports whether clue c finds the planted case l: c is of l's detector, at
// least of the severity l needs, and shares the first key kind both carry.
func Matches(c *tracewatch.Clue, l *Label) bool {
	return c.DetectorName() == l.Detector && c.Severity >= qualifying(l) && keysMatch(c, l)
}

// qualifying is the least severity a clue needs to count for a label: 可疑, or the
// label's own severity when that is lower (data-quality cases expect 提示).
func qualifying(l *Label) tracewatch.Severity {
	min := tracewatch.SeveritySuspicious
	if l.Severity != "" {
		if s, err := tracewatch.ParseSeverity(l.Severity); err == nil && s < min {
			min = s
		}
	}
	return min
}

// keysMatch applies the matching rule: the first key kind both sides carry (codes,
// settlements, receipts, msgids, persons) must intersect; with none shared, the
// institutions must be equal. A clue about a region (tracewatch.SubjectRegion) matches
// only a label of that region (Region), and, when the label has a day, when one of its
// evidence days falls within the week from it.
func keysMatch(c *tracewatch.Clue, l *Label) bool {
	if c.Subject == tracewatch.SubjectRegion || l.Region != "" {
		return c.Subject == tracewatch.SubjectRegion && l.Region != "" && string(c.Region) == l.Region && nearDay(c, l.Day)
	}
	for _, p := range [][2][]string{{c.Codes, l.Codes}, {c.Settlements, l.Settlements}, {c.Receipts, l.Receipts},
		{c.MsgIDs, l.MsgIDs}, {c.Persons, l.Persons}} {
		if len(p[0]) > 0 && len(p[1]) > 0 {
			return intersects(p[0], p[1])
		}
	}
	return c.Institution != "" && c.Institution == l.Institution
}

// nearDay reports whether one of c's evidence days (business time zone) lies within the
// seven days from day (yyyy-mm-dd); true when day is empty or unreadable.
func nearDay(c *tracewatch.Clue, day string) bool {
	d, err := time.ParseInLocation("2006-01-02", day, tracewatch.Beijing)
	if err != nil {
		return true
	}
	for _, e := range c.Evidence {
		if t := e.Time.In(tracewatch.Beijing); !t.Before(d) && t.Before(d.AddDate(0, 0, 7)) {
			return true
		}
	}
	return false
}

func intersects(a, b []string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	set := make(map[string]bool, len(a))
	for _, v := range a {
		set[v] = true
	}
	for _, v := range b {
		if set[v] {
			return true
		}
	}
	return false
}

// WriteTable prints the report as a table, ours and the baseline side by side.
func WriteTable(w io.Writer, r Report) {
	base := map[string]ScenarioResult{}
	for _, s := range r.Baseline.Scenarios {
		base[s.Scenario] = s
	}
	fmt.Fprintf(w, "%-24s %-20s %7s %6s %5s %9s %7s   %-s\n", "scenario", "detector", "planted", "found", "TP", "precision", "recall", "B0: found precision recall")
	for _, s := range r.Scenarios {
		if s.NotBuilt {
			fmt.Fprintf(w, "%-24s %-20s %7d   (no detector yet)\n", s.Scenario, s.Detector, s.Planted)
			continue
		}
		fmt.Fprintf(w, "%-24s %-20s %7d %6d %5d %9.3f %7.3f", s.Scenario, s.Detector, s.Planted, s.Found, s.TruePositives, s.Precision, s.Recall)
		if b, ok := base[s.Scenario]; ok {
			fmt.Fprintf(w, "   %6d %9.3f %6.3f", b.Found, b.Precision, b.Recall)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "false-alert rate: %.5f%% (%d of %d clean codes with a clue of 可疑 or worse); B0: %.5f%% (%d)\n",
		r.FalseAlertRate*100, r.CleanFlagged, r.CleanCodes, r.Baseline.FalseAlertRate*100, r.Baseline.CleanFlagged)
}
