package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/eval"
	"tracewatch/internal/monitor"
	"tracewatch/internal/rules"
	"tracewatch/internal/synth"
)

func init() {
	register("demo", "the whole job on a synthetic province: demo [--dir D] [--scale medium] [--seed N] (generate, load, ingest, screen, evaluate)", runDemo)
}

func runDemo(e env) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", "./tracewatch-demo", "working directory: the province goes to DIR/province, the store to DIR/data (both replaced)")
	scale := fs.String("scale", "medium", "province size: tiny, small, medium (10^6 sale lines) or large")
	seed := fs.Int64("seed", 1, "generator seed")
	top := fs.Int("top", 10, "how many top clues to print")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	prov, data := filepath.Join(*dir, "province"), filepath.Join(*dir, "data")
	for _, p := range []string{prov, data} {
		if err := os.RemoveAll(p); err != nil {
			return fail(e.stderr, "demo", err)
		}
	}
	start := time.Now()
	step := func(n int, what string) func() {
		t := time.Now()
		fmt.Fprintf(e.stdout, "[%d/5] %s …", n, what)
		return func() { fmt.Fprintf(e.stdout, " done in %s\n", time.Since(t).Round(100*time.Millisecond)) }
	}
	quiet := func(args ...string) env { return env{args: args, stdin: e.stdin, stdout: io.Discard, stderr: e.stderr} }

	done := step(1, fmt.Sprintf("generating a %s synthetic province (seed %d) into %s", *scale, *seed, prov))
	if rc := runGen(quiet("--seed", strconv.FormatInt(*seed, 10), "--scale", *scale, "--out", prov)); rc != exitOK {
		return rc
	}
	done()

	done = step(2, "loading the reference data")
	refs, err := provinceFiles(prov)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	for _, f := range refs {
		if rc := runLoad(quiet("--data-dir", data, string(f.kind), f.path)); rc != exitOK {
			return rc
		}
	}
	done()

	files, err := filepath.Glob(filepath.Join(prov, "messages", "*.jsonl"))
	if err != nil || len(files) == 0 {
		return fail(e.stderr, "demo", fmt.Errorf("no messages generated in %s", prov))
	}
	sort.Strings(files)
	done = step(3, fmt.Sprintf("ingesting %d files of NHSA messages", len(files)))
	if rc := runIngest(quiet(append([]string{"--data-dir", data}, files...)...)); rc != exitOK {
		return rc
	}
	done()

	ctx := context.Background()
	st, err := openStore(ctx, data)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	fmt.Fprintf(e.stdout, "      %d messages, %d sale lines, %d codes in the ledger, %d quarantined\n",
		stats.Tables["messages"], stats.Tables["sale_lines"], stats.LedgerCodes, stats.Quarantined)

	done = step(4, "screening (T1–T6, T3C, T6A, C1–C14)")
	ds, _ := rules.Select(nil)
	var progress bytes.Buffer
	// As a province runs it: a screen at the end of each month has looked at the days
	// before it, and one the night after the last data at the days left, so the clues carry
	// the day they would have been found (and a month's report has that month's findings);
	// today's screen of everything finds the rest.
	last, err := st.LastEvent(ctx)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	found := 0
	for _, w := range monthScreens(synth.DefaultStart, last) {
		s, err := screen(ctx, st, ds, w, w.To.Add(2*time.Hour), &progress)
		if err != nil {
			return fail(e.stderr, "demo", err)
		}
		found += s.New
	}
	sum, err := screen(ctx, st, ds, tracewatch.Window{}, time.Now().UTC().Truncate(time.Second), &progress)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	done()
	if found > 0 {
		fmt.Fprintf(e.stdout, "      %d clues found by the screens at each month's end and after the last data, %d more by today's\n", found, sum.New)
	}
	fmt.Fprintln(e.stdout)
	printScreenSummary(e.stdout, sum)

	fmt.Fprintln(e.stdout, "\n[5/5] evaluation against the planted cases (labels.jsonl):")
	lf, err := os.Open(filepath.Join(prov, "labels.jsonl"))
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	labels, err := eval.ReadLabels(lf)
	lf.Close()
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	rep, err := evaluate(ctx, st, labels)
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	eval.WriteTable(e.stdout, rep)
	if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
		os.WriteFile(filepath.Join(*dir, "eval.json"), append(b, '\n'), 0o644)
	}

	clues, err := st.Clues(ctx, tracewatch.ClueFilter{MinSeverity: tracewatch.SeverityHighlySuspicious, Limit: -1})
	if err != nil {
		return fail(e.stderr, "demo", err)
	}
	sort.SliceStable(clues, func(i, j int) bool {
		if clues[i].Severity != clues[j].Severity {
			return clues[i].Severity > clues[j].Severity
		}
		return clues[i].AmountFen > clues[j].AmountFen
	})
	fmt.Fprintf(e.stdout, "\ntop clues:\n")
	for i, c := range clues {
		if i == *top {
			break
		}
		fmt.Fprintf(e.stdout, "  #%d %s %s %s元  %s\n", c.ID, c.Severity.Chinese(), c.Detector, c.AmountFen, truncate(c.Explanation, 100))
	}
	fmt.Fprintf(e.stdout, "\nall done in %s. Next:\n", time.Since(start).Round(time.Second))
	fmt.Fprintf(e.stdout, "  tracewatch clues list --data-dir %s --severity highly_suspicious\n", data)
	fmt.Fprintf(e.stdout, "  tracewatch clues show --data-dir %s ID\n", data)
	fmt.Fprintf(e.stdout, "  tracewatch clues export --data-dir %s --xlsx clues.xlsx\n", data)
	fmt.Fprintf(e.stdout, "  tracewatch eval --data-dir %s --labels %s --json\n", data, filepath.Join(prov, "labels.jsonl"))
	fmt.Fprintf(e.stdout, "  tracewatch user create --data-dir %s --name me --role admin --region 360000   (a user of the workplace; the password is shown once)\n", data)
	fmt.Fprintf(e.stdout, "  tracewatch serve --data-dir %s   (then open http://127.0.0.1:8080/ and sign in)\n", data)
	fmt.Fprintf(e.stdout, "  tracewatch report monthly --data-dir %s --region 360000 --month %s --pdf report.pdf --xlsx report.xlsx\n", data, lastFullMonth(last))
	return exitOK
}

// monthScreens are the windows of the demo's screens over data from start to last: one
// at the end of each month whose last day is within the data, each from the previous one's
// end (the first from the beginning) up to that last day's midnight (Beijing), and the
// night after the data's last day, over the days left. Each window is screened two hours
// after it ends; what is left is found by the screen of everything.
func monthScreens(start, last time.Time) []tracewatch.Window {
	var out []tracewatch.Window
	var from time.Time
	s := start.In(tracewatch.Beijing)
	_, end := monitor.Period(last, 1) // the midnight after the last data
	for m := time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, tracewatch.Beijing); ; m = m.AddDate(0, 1, 0) {
		to := m.AddDate(0, 1, -1) // the month's last day, 00:00
		if !to.Before(end) {
			break
		}
		if to.After(start) {
			out = append(out, tracewatch.Window{From: from, To: to})
			from = to
		}
	}
	if end.After(start) {
		out = append(out, tracewatch.Window{From: from, To: end})
	}
	return out
}

// lastFullMonth is the last month (YYYY-MM) whose every day is up to last: the month
// before the one of the midnight after last.
func lastFullMonth(last time.Time) string {
	_, end := monitor.Period(last, 1)
	return time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, tracewatch.Beijing).AddDate(0, -1, 0).Format("2006-01")
}
