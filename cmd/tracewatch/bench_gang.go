package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

func init() {
	benchCommands["gang"] = runBenchGang
}

// runBenchGang measures C10 (claims.gang) at scale: its co-purchase read and the
// community split over a store of N insured settlements with planted rings of 3 to 50
// persons, and how many rings it finds as exactly one clue.
func runBenchGang(e env) int {
	fs := flag.NewFlagSet("bench gang", flag.ContinueOnError)
	n := fs.Int64("settlements", 1_000_000, "insured settlements in the synthetic store")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards); an existing filled store there is reused")
	mem := fs.String("memory-limit", "", "DuckDB memory_limit (e.g. 3GB)")
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	ctx := context.Background()
	st, stats, done, err := openBenchStore(ctx, e, "gang", *dir, *mem, "events", fmt.Sprintf("%d insured settlements", *n),
		func(st *duckdb.Store) error { return st.FillGangLoad(ctx, *n) })
	if err != nil {
		return fail(e.stderr, "bench gang", err)
	}
	defer done()
	rings := duckdb.GangLoadRings(*n)
	fmt.Fprintf(e.stdout, "store: %d events, %d planted rings of 3–50 persons (GOMAXPROCS %d)\n", stats.Tables["events"], len(rings), runtime.GOMAXPROCS(0))
	env, err := rules.NewEnv(ctx, st, tracewatch.Window{}, time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return fail(e.stderr, "bench gang", err)
	}
	ds, err := rules.Select([]string{"C10"})
	if err != nil {
		return fail(e.stderr, "bench gang", err)
	}
	// The co-purchase read alone, then the rule (the read again, the graph and its split).
	g := rules.NewGang()
	start := time.Now()
	pairs := 0
	err = st.CoPurchases(ctx, facts.CoPurchaseQuery{Within: g.Within, MinDays: g.MinDays}, func(facts.CoPurchase) error {
		pairs++
		return nil
	})
	if err != nil {
		return fail(e.stderr, "bench gang", err)
	}
	fmt.Fprintf(e.stdout, "co-purchase read: %.2fs, %d linked pairs\n", time.Since(start).Seconds(), pairs)
	start = time.Now()
	res, err := rules.Run(ctx, env, ds, nil)
	if err != nil {
		return fail(e.stderr, "bench gang", err)
	}
	took := time.Since(start)
	var clues []tracewatch.Clue
	for _, r := range res {
		clues = append(clues, r.Clues...)
	}
	// A ring is found whole when one clue names its members (a bridge to another ring
	// may add or take one), merged when a clue names them among more persons (two
	// bridged rings small enough to be one group), split otherwise.
	var whole, merged, split int
	inRing := map[string]bool{}
	for _, r := range rings {
		members := map[string]bool{}
		for _, p := range r.Persons {
			members[p], inRing[p] = true, true
		}
		best, bestOut := 0, 0
		for _, c := range clues {
			in := 0
			for _, p := range c.Persons {
				if members[p] {
					in++
				}
			}
			if in > best {
				best, bestOut = in, len(c.Persons)-in
			}
		}
		switch {
		case best >= len(r.Persons)-1 && bestOut <= 1:
			whole++
		case best >= len(r.Persons)-1:
			merged++
		default:
			split++
		}
	}
	other := 0
	for _, c := range clues {
		if !slices.ContainsFunc(c.Persons, func(p string) bool { return inRing[p] }) {
			other++
		}
	}
	fmt.Fprintf(e.stdout, "C10: %.2fs = %.0f settlements/s; %d clues; of %d rings %d found whole, %d merged with a bridged ring, %d split or missed; %d clues of no ring\n",
		took.Seconds(), float64(stats.Tables["events"])/took.Seconds(), len(clues), len(rings), whole, merged, split, other)
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		fmt.Fprintf(e.stdout, "peak RSS of the process %.0f MB (fill included when it ran)\n", float64(ru.Maxrss)/1024)
	}
	return exitOK
}
