package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

var _ facts.Reader = (*duckdb.Store)(nil)

func init() {
	register("screen", "run the detectors and write clues: screen [--data-dir D | --server URL [--token T]] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--region R] [--detector T1,…] [--rules FILE] [--param name.param=value] [--json]", runScreen)
}

// rulesFlag adds --rules: a rule-base file (docs/rules.md) applied over the default.
func rulesFlag(fs *flag.FlagSet) *string {
	return fs.String("rules", "", "a rule-base file (text or JSON form, docs/rules.md) applied over the embedded default: enables, disables and sets the parameters, severity and regions of rules (serve, screen and rules backtest default to DATA_DIR/rules.txt, the file the web workplace edits, when it exists)")
}

// listFlag collects repeated or comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// windowFlags are the flags that choose a screening window.
type windowFlags struct {
	from, to, region, at *string
}

func addWindowFlags(fs *flag.FlagSet) windowFlags {
	return windowFlags{
		from:   fs.String("from", "", "first day of the window, YYYY-MM-DD (Asia/Shanghai); default: the beginning"),
		to:     fs.String("to", "", "last day of the window, YYYY-MM-DD, inclusive; default: open"),
		region: fs.String("region", "", "only institutions in this region (6-digit code; a province or city contains its counties)"),
		at:     fs.String("at", "", "evaluation time, RFC 3339 (first_seen of new clues); default: now"),
	}
}

func (f windowFlags) parse() (tracewatch.Window, time.Time, error) {
	return parseWindow(*f.from, *f.to, *f.region, *f.at, time.Now())
}

// parseWindow reads a screening window as screen's flags give it: from and to are
// days (YYYY-MM-DD, Asia/Shanghai; to inclusive), region a region code, at the
// evaluation time (RFC 3339); an empty one takes the default (at: now).
func parseWindow(from, to, region, at string, now time.Time) (tracewatch.Window, time.Time, error) {
	var w tracewatch.Window
	when := now.UTC().Truncate(time.Second)
	if from != "" {
		t, err := time.ParseInLocation("2006-01-02", from, cstZone)
		if err != nil {
			return w, when, tracewatch.Errorf("screen", tracewatch.KindInvalid, "--from %q: want YYYY-MM-DD", from).WithField("from")
		}
		w.From = t
	}
	if to != "" {
		t, err := time.ParseInLocation("2006-01-02", to, cstZone)
		if err != nil {
			return w, when, tracewatch.Errorf("screen", tracewatch.KindInvalid, "--to %q: want YYYY-MM-DD", to).WithField("to")
		}
		w.To = t.AddDate(0, 0, 1)
	}
	if region != "" {
		r, err := tracewatch.ParseRegion(region)
		if err != nil {
			return w, when, err
		}
		w.Region = r
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return w, when, tracewatch.Errorf("screen", tracewatch.KindInvalid, "--at %q: want RFC 3339 (2025-10-01T00:00:00+08:00)", at).WithField("at")
		}
		when = t.UTC()
	}
	return w, when, nil
}

// applyParams sets "rule.param=value" parameters on the selected rules.
func applyParams(ds []rules.Rule, params []string) error {
	for _, p := range params {
		name, value, ok := strings.Cut(p, "=")
		dot := strings.LastIndexByte(name, '.')
		if !ok || dot < 0 {
			return tracewatch.Errorf("screen", tracewatch.KindInvalid, "--param %q: want detector.param=value (e.g. trace.nosource.min_coverage=0.9)", p).WithField("param")
		}
		det, param := name[:dot], name[dot+1:]
		found := false
		for _, d := range ds {
			if rules.Name(d) == det {
				if err := rules.SetParam(d, param, value); err != nil {
					return err
				}
				found = true
			}
		}
		if !found {
			return tracewatch.Errorf("screen", tracewatch.KindInvalid, "--param %q: detector %s is not selected", p, det).WithField("param")
		}
	}
	return nil
}

// screenSummary is what screen prints with --json.
type screenSummary struct {
	Window    map[string]string `json:"window"`
	Detectors []detectorSummary `json:"detectors"`
	Clues     int               `json:"clues"`
	New       int               `json:"new"`
	Failed    int               `json:"failed"` // detectors that failed (their error is in detectors[].error)
}

type detectorSummary struct {
	Detector   string         `json:"detector"`
	Title      string         `json:"title"`
	Clues      int            `json:"clues"`
	BySeverity map[string]int `json:"by_severity"`
	AmountFen  int64          `json:"amount_fen"`
	Seconds    float64        `json:"seconds"`
	Error      string         `json:"error,omitempty"` // why the detector failed; it stored no clue
}

func runScreen(e env) int {
	fs := flag.NewFlagSet("screen", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	wf := addWindowFlags(fs)
	var dets, params listFlag
	fs.Var(&dets, "detector", "detectors to run (T1…T6, T3C, T6A, C1…C14, B0, or names such as trace.duplicate); repeatable or comma-separated; default all but B0")
	fs.Var(&params, "param", "set a detector parameter, detector.param=value (docs/detectors.md); repeatable")
	rulesFile := rulesFlag(fs)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	rf := addRemoteFlags(fs)
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	req := server.ScreenRequest{From: *wf.from, To: *wf.to, Region: *wf.region, At: *wf.at, Detectors: dets, Params: params}
	if rf.given() {
		return remoteScreen(e, fs, rf, req, *asJSON)
	}
	base, err := rules.LoadBase(dataRulesFile(*dir, *rulesFile))
	if err != nil {
		return fail(e.stderr, "screen", err)
	}
	plan, err := planScreen(base, req, time.Now())
	if err != nil {
		return fail(e.stderr, "screen", err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "screen", err)
	}
	defer st.Close()
	sum, err := plan.run(ctx, st, e.stderr)
	if err != nil && sum.Failed == 0 {
		return fail(e.stderr, "screen", err)
	}
	return writeScreen(e.stdout, e.stderr, sum, *asJSON)
}

// screenPlan is a screening resolved: its window, evaluation time and rules.
type screenPlan struct {
	window tracewatch.Window
	at     time.Time
	rules  []rules.Rule
}

// planScreen resolves a screening as screen's flags (or POST /api/v1/screen, or serve's
// schedule) ask for it, against a rule base: the window, the evaluation time (now when
// req gives none), the detectors named (default: every one the base enables) with the
// parameters set. It sets the parameters on the base's rules: give it a base of its own.
// tracewatch screen and serve both screen through planScreen and run.
func planScreen(base *rules.Base, req server.ScreenRequest, now time.Time) (screenPlan, error) {
	w, at, err := parseWindow(req.From, req.To, req.Region, req.At, now)
	if err != nil {
		return screenPlan{}, err
	}
	ds, err := base.Rules(req.Detectors)
	if err != nil {
		return screenPlan{}, err
	}
	if err := applyParams(ds, req.Params); err != nil {
		return screenPlan{}, err
	}
	return screenPlan{window: w, at: at, rules: ds}, nil
}

// run screens st as planned (screen), with progress lines on progress.
func (p screenPlan) run(ctx context.Context, st *duckdb.Store, progress io.Writer) (screenSummary, error) {
	return screen(ctx, st, p.rules, p.window, p.at, progress)
}

// writeScreen writes the summary of a screen and returns the exit status: exitFail when
// a detector failed. The summary is written either way: the other detectors' clues are
// stored.
func writeScreen(stdout, stderr io.Writer, sum screenSummary, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		printScreenSummary(stdout, sum)
	}
	if sum.Failed > 0 {
		fmt.Fprintf(stderr, "tracewatch screen: %d of %d detectors failed (see their error); the clues of the others are stored\n", sum.Failed, len(sum.Detectors))
		return exitFail
	}
	return exitOK
}

// screen runs ds over the window, stores the clues and summarises them. A detector that
// fails (or whose clues cannot be stored) is reported on progress and in its summary
// (error), stores no clue, and does not stop the others; the error returned then joins
// every failure, and the summary counts them in Failed. An error with Failed 0 means the
// run could not start (the reference data did not load) or was cancelled.
func screen(ctx context.Context, st *duckdb.Store, ds []rules.Rule, w tracewatch.Window, at time.Time, progress io.Writer) (screenSummary, error) {
	sum := screenSummary{Window: map[string]string{}}
	if !w.From.IsZero() {
		sum.Window["from"] = w.From.In(cstZone).Format("2006-01-02")
	}
	if !w.To.IsZero() {
		sum.Window["to"] = w.To.AddDate(0, 0, -1).In(cstZone).Format("2006-01-02")
	}
	if w.Region != "" {
		sum.Window["region"] = string(w.Region)
	}
	denv, err := rules.NewEnv(ctx, st, w, at)
	if err != nil {
		return sum, err
	}
	var failed []error
	for i, d := range ds {
		fmt.Fprintf(progress, "[%d/%d] %s %s …", i+1, len(ds), rules.ID(d), d.Spec().Title)
		res, err := rules.Run(ctx, denv, []rules.Rule{d}, nil)
		if len(res) == 0 { // cancelled
			fmt.Fprintln(progress)
			return sum, errors.Join(append(failed, err)...)
		}
		r := res[0]
		ds := detectorSummary{Detector: rules.ID(d), Title: d.Spec().Title, BySeverity: map[string]int{}, Seconds: r.Elapsed.Seconds()}
		added := 0
		if err == nil {
			if added, err = st.PutClues(ctx, r.Clues, at); err != nil {
				err = fmt.Errorf("%s: storing its clues: %w", rules.ID(d), err)
			}
		}
		if err != nil {
			fmt.Fprintf(progress, " FAILED: %v\n", err)
			ds.Error = err.Error()
			failed = append(failed, err)
			sum.Detectors = append(sum.Detectors, ds)
			sum.Failed++
			continue
		}
		fmt.Fprintf(progress, " %d clues (%d new) in %.1fs\n", len(r.Clues), added, r.Elapsed.Seconds())
		ds.Clues = len(r.Clues)
		for _, c := range r.Clues {
			ds.BySeverity[c.Severity.String()]++
			ds.AmountFen += int64(c.AmountFen)
		}
		sum.Detectors = append(sum.Detectors, ds)
		sum.Clues += len(r.Clues)
		sum.New += added
	}
	return sum, errors.Join(failed...)
}

func printScreenSummary(w io.Writer, sum screenSummary) {
	sevs := []tracewatch.Severity{tracewatch.SeverityViolation, tracewatch.SeverityHighlySuspicious, tracewatch.SeveritySuspicious, tracewatch.SeverityNotice}
	fmt.Fprintf(w, "%-22s %-14s %8s %8s %8s %8s %8s %14s\n", "detector", "", "明确违规", "高度可疑", "可疑", "提示", "clues", "amount(元)")
	for _, d := range sum.Detectors {
		if d.Error != "" {
			fmt.Fprintf(w, "%-22s %-14s FAILED: %s\n", d.Detector, d.Title, d.Error)
			continue
		}
		fmt.Fprintf(w, "%-22s %-14s", d.Detector, d.Title)
		for _, s := range sevs {
			fmt.Fprintf(w, " %8d", d.BySeverity[s.String()])
		}
		fmt.Fprintf(w, " %8d %14s\n", d.Clues, tracewatch.Fen(d.AmountFen))
	}
	fmt.Fprintf(w, "%d clues, %d new\n", sum.Clues, sum.New)
	if sum.Failed > 0 {
		fmt.Fprintf(w, "%d detectors failed\n", sum.Failed)
	}
}
