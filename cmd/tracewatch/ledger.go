package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

func init() {
	register("ledger", "the code ledger: ledger rebuild [--data-dir D]", func(e env) int {
		return subcommand(e, "ledger", map[string]func(env) int{"rebuild": runLedgerRebuild})
	})
}

func runLedgerRebuild(e env) int {
	fs := flag.NewFlagSet("ledger rebuild", flag.ContinueOnError)
	dir := dataDirFlag(fs)
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
	n, err := st.RebuildLedger(ctx)
	if err != nil {
		return fail(e.stderr, "ledger rebuild", err)
	}
	fmt.Fprintf(e.stdout, "ledger rebuilt from the facts: %d codes in %s\n", n, time.Since(start).Round(time.Millisecond))
	return exitOK
}
