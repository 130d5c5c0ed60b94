package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

func init() {
	benchCommands["screen"] = runBenchScreen
}

// openBenchStore opens the store of a bench under dir (default: a temporary directory,
// removed by done) and, when its table is empty, fills it with fill, printing how long
// that took; a filled store there is reused.
func openBenchStore(ctx context.Context, e env, name, dir, mem, table, what string, fill func(*duckdb.Store) error) (
	st *duckdb.Store, stats tracewatch.Stats, done func(), err error) {
	work, rm := dir, func() {}
	if work == "" {
		d, err := os.MkdirTemp("", "tracewatch-bench-"+name+"-")
		if err != nil {
			return nil, stats, nil, err
		}
		work, rm = d, func() { os.RemoveAll(d) }
	}
	if st, err = duckdb.Open(ctx, filepath.Join(work, "data"), duckdb.Options{MemoryLimit: mem}); err != nil {
		rm()
		return nil, stats, nil, err
	}
	closeAll := func() { st.Close(); rm() }
	if stats, err = st.Stats(ctx); err == nil && stats.Tables[table] == 0 {
		start := time.Now()
		if err = fill(st); err == nil {
			fmt.Fprintf(e.stdout, "filled a store of %s in %s\n", what, time.Since(start).Round(time.Millisecond))
			stats, err = st.Stats(ctx)
		}
	}
	if err != nil {
		closeAll()
		return nil, stats, nil, err
	}
	return st, stats, closeAll, nil
}

// runBenchScreen measures P2: T1–T5 over a store of N sale lines against the naive
// baseline query on the same store in the same run.
func runBenchScreen(e env) int {
	fs := flag.NewFlagSet("bench screen", flag.ContinueOnError)
	lines := fs.Int64("sale-lines", 1_000_000, "sale lines in the synthetic store")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards); an existing filled store there is reused")
	mem := fs.String("memory-limit", "", "DuckDB memory_limit (e.g. 3GB) for the P4 memory bound")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	ctx := context.Background()
	st, stats, done, err := openBenchStore(ctx, e, "screen", *dir, *mem, "sale_lines", fmt.Sprintf("%d sale lines", *lines),
		func(st *duckdb.Store) error { return st.FillScreenLoad(ctx, *lines) })
	if err != nil {
		return fail(e.stderr, "bench screen", err)
	}
	defer done()
	n := stats.Tables["sale_lines"]
	fmt.Fprintf(e.stdout, "store: %d sale lines, %d event codes, %d codes in the ledger (GOMAXPROCS %d)\n",
		n, stats.Tables["event_codes"], stats.LedgerCodes, runtime.GOMAXPROCS(0))

	baseline := func() (time.Duration, int, error) {
		start := time.Now()
		k, err := st.CountRepeats(ctx)
		return time.Since(start), int(k), err
	}
	b1, repeats, err := baseline()
	if err != nil {
		return fail(e.stderr, "bench screen", err)
	}
	denv, err := rules.NewEnv(ctx, st, tracewatch.Window{}, time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return fail(e.stderr, "bench screen", err)
	}
	ds, err := rules.Select([]string{"T1", "T2", "T3", "T4", "T5"})
	if err != nil {
		return fail(e.stderr, "bench screen", err)
	}
	// Rule by rule, as tracewatch screen runs them: a rule's clues are counted, then
	// dropped, so that the heap holds one rule's clues at a time (at 10^8 lines, five
	// rules' clues together would be gigabytes; P4).
	type ran struct {
		rule    rules.Rule
		clues   int
		elapsed time.Duration
	}
	var res []ran
	start := time.Now()
	for _, d := range ds {
		r, err := rules.Run(ctx, denv, []rules.Rule{d}, nil)
		if err != nil {
			return fail(e.stderr, "bench screen", err)
		}
		res = append(res, ran{rule: d, clues: len(r[0].Clues), elapsed: r[0].Elapsed})
	}
	ours := time.Since(start)
	b2, _, err := baseline()
	if err != nil {
		return fail(e.stderr, "bench screen", err)
	}
	b := (b1 + b2) / 2
	for _, r := range res {
		fmt.Fprintf(e.stdout, "  %-22s %8d clues %8.2fs\n", rules.ID(r.rule), r.clues, r.elapsed.Seconds())
	}
	fmt.Fprintf(e.stdout, "T1–T5: %.2fs = %.0f sale lines/s\n", ours.Seconds(), float64(n)/ours.Seconds())
	fmt.Fprintf(e.stdout, "B0 (GROUP BY code HAVING count(*) >= 2): %.2fs (runs %.2fs, %.2fs), %d codes\n", b.Seconds(), b1.Seconds(), b2.Seconds(), repeats)
	fmt.Fprintf(e.stdout, "ratio T1–T5 / B0: %.2f (target ≤ 1.5)\n", ours.Seconds()/b.Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(e.stdout, "Go heap in use %.0f MB (DuckDB memory is outside it: measure the process with /usr/bin/time -v)\n", float64(ms.HeapInuse)/1e6)
	return exitOK
}
