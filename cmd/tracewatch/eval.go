package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"time"

	"tracewatch"
	"tracewatch/internal/eval"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

func init() {
	register("eval", "measure the clues against planted cases: eval [--data-dir D] --labels FILE [--json]", runEval)
}

func runEval(e env) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	labelsPath := fs.String("labels", "", "labels.jsonl of the synthetic province (tracewatch gen writes DIR/labels.jsonl)")
	asJSON := fs.Bool("json", false, "print one JSON document: {scenarios, false_alert_rate, clean_codes, clean_flagged, baseline}")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if *labelsPath == "" {
		return fail(e.stderr, "eval", tracewatch.Errorf("eval", tracewatch.KindInvalid, "--labels FILE is required").WithField("labels"))
	}
	f, err := os.Open(*labelsPath)
	if err != nil {
		return fail(e.stderr, "eval", err)
	}
	labels, err := eval.ReadLabels(f)
	f.Close()
	if err != nil {
		return fail(e.stderr, "eval", err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "eval", err)
	}
	defer st.Close()
	rep, err := evaluate(ctx, st, labels)
	if err != nil {
		return fail(e.stderr, "eval", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return exitOK
	}
	eval.WriteTable(e.stdout, rep)
	return exitOK
}

// evaluate gathers the stored clues, the quarantine (as ingest.quarantine findings), the
// baseline's findings (computed, not stored) and the sold codes, and scores them.
func evaluate(ctx context.Context, st *duckdb.Store, labels []eval.Label) (eval.Report, error) {
	in := eval.Input{Labels: labels}
	clues, err := st.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	if err != nil {
		return eval.Report{}, err
	}
	in.Clues = clues
	for after := int64(0); ; {
		rows, err := st.Quarantine(ctx, tracewatch.QuarantineFilter{AfterID: after, Limit: 1000})
		if err != nil {
			return eval.Report{}, err
		}
		if len(rows) == 0 {
			break
		}
		for _, q := range rows {
			after = q.ID
			c := tracewatch.Clue{Detector: eval.QuarantineDetector, Severity: tracewatch.SeverityNotice, Institution: q.Institution}
			if q.MsgID != "" {
				c.MsgIDs = []string{q.MsgID}
			}
			in.Clues = append(in.Clues, c)
		}
	}
	denv, err := rules.NewEnv(ctx, st, tracewatch.Window{}, clueTime(clues))
	if err != nil {
		return eval.Report{}, err
	}
	res, err := rules.Run(ctx, denv, []rules.Rule{rules.NewBaseline()}, nil)
	if err != nil {
		return eval.Report{}, err
	}
	in.Baseline = res[0].Clues
	err = st.SoldCodes(ctx, tracewatch.Window{}, func(k string) error {
		in.SoldCodes = append(in.SoldCodes, k)
		return nil
	})
	if err != nil {
		return eval.Report{}, err
	}
	rep := eval.Evaluate(in)
	known := map[string]bool{eval.QuarantineDetector: true}
	for _, d := range rules.Registry() {
		known[rules.Name(d)] = true
	}
	eval.MarkNotBuilt(&rep, func(det string) bool { return known[det] })
	return rep, nil
}

// clueTime is the latest last_seen of the clues (the baseline's evaluation time), so
// that an evaluation reads no clock.
func clueTime(clues []tracewatch.Clue) (t time.Time) {
	for _, c := range clues {
		if c.LastSeen.After(t) {
			t = c.LastSeen
		}
	}
	return t
}
