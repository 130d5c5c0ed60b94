package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"tracewatch"
)

func init() {
	register("ledger", "the code ledger: ledger rebuild [--data-dir D] [--json]", func(e env) int {
		return subcommand(e, "ledger", map[string]func(env) int{"rebuild": runLedgerRebuild})
	})
}

func runLedgerRebuild(e env) int {
	fs := flag.NewFlagSet("ledger rebuild", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, `print {"codes": N, "changed": M, "elapsed_ms": T}`)
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "ledger rebuild", err)
	}
	defer st.Close()
	start := time.Now()
	r, err := st.RebuildLedger(ctx)
	if err != nil {
		return fail(e.stderr, "ledger rebuild", err)
	}
	took := time.Since(start)
	if *asJSON {
		json.NewEncoder(e.stdout).Encode(struct {
			tracewatch.LedgerRebuild
			ElapsedMS int64 `json:"elapsed_ms"`
		}{r, took.Milliseconds()})
		return exitOK
	}
	// The count of rows changed is the check that the incremental ledger (kept by every
	// commit) is what the facts give: anything but 0 is a defect to report.
	fmt.Fprintf(e.stdout, "ledger rebuilt from the facts: %d codes in %s; %d rows changed\n", r.Codes, took.Round(time.Millisecond), r.Changed)
	return exitOK
}
