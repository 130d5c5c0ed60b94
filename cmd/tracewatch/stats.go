package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
)

func init() {
	register("stats", "counts of the store: stats [--data-dir D] [--json]", runStats)
}

func runStats(e env) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON: {tables: {name: count}, ledger_codes, quarantined}")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "stats", err)
	}
	defer st.Close()
	s, err := st.Stats(ctx)
	if err != nil {
		return fail(e.stderr, "stats", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(s)
		return exitOK
	}
	names := make([]string, 0, len(s.Tables))
	for n := range s.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(e.stdout, "%-14s %d\n", n, s.Tables[n])
	}
	fmt.Fprintf(e.stdout, "%-14s %d\n%-14s %d\n", "ledger codes", s.LedgerCodes, "quarantined", s.Quarantined)
	return exitOK
}
