package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

func init() {
	benchCommands["index"] = runBenchIndex
}

// indexLoad is an empty store whose holdings and receipts are generated: N codes each
// sold once and received once, spread over the institutions, as a bench screen store
// has them, without the hours of filling a DuckDB file of that size.
type indexLoad struct {
	*duckdb.Store
	codes int64
	insts int
}

func (l indexLoad) key(i int64) string {
	b := make([]byte, 0, 20)
	b = append(b, "8385793"...)
	s := strconv.FormatInt(i, 10)
	for range 13 - len(s) {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

func (l indexLoad) Holdings(ctx context.Context, fn func(key string, h facts.Holding) error) error {
	t0 := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range l.codes {
		h := facts.Holding{Institution: benchInstitutionCode(int(i % int64(l.insts))), Units: tracewatch.QtyScale,
			Last: t0.Add(time.Duration(i%(90*86400)) * time.Second), Receipt: "R" + strconv.FormatInt(i/2, 36),
			Person: "PSN" + strconv.FormatInt(i%2_000_000, 36)}
		if err := fn(l.key(i), h); err != nil {
			return err
		}
	}
	return nil
}

func (l indexLoad) Receipts(ctx context.Context, fn func(key, institution string) error) error {
	for i := range l.codes {
		if err := fn(l.key(i), benchInstitutionCode(int(i%int64(l.insts)))); err != nil {
			return err
		}
	}
	return nil
}

// runBenchIndex measures the real-time check index's memory at N codes: the index is
// built by the same Load as serve's, from generated holdings and receipts.
func runBenchIndex(e env) int {
	fs := flag.NewFlagSet("bench index", flag.ContinueOnError)
	codes := fs.Int64("codes", 10_000_000, "codes in the ledger: each sold once and received once")
	insts := fs.Int("institutions", 2000, "institutions the codes are spread over")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	d, err := os.MkdirTemp("", "tracewatch-bench-index-")
	if err != nil {
		return fail(e.stderr, "bench index", err)
	}
	defer os.RemoveAll(d)
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(d, "data"), duckdb.Options{})
	if err != nil {
		return fail(e.stderr, "bench index", err)
	}
	defer st.Close()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := rules.NewIndex()
	t0 := time.Now()
	if err := x.Load(ctx, indexLoad{Store: st, codes: *codes, insts: *insts}); err != nil {
		return fail(e.stderr, "bench index", err)
	}
	took := time.Since(t0)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	held, recv := x.Size()
	heap := after.HeapInuse - before.HeapInuse
	fmt.Fprintf(e.stdout, "index of %d held and %d received codes loaded in %s: heap in use %.2f GB (%.0f bytes per code), Go runtime total %.2f GB\n",
		held, recv, took.Round(time.Millisecond), float64(heap)/1e9, float64(heap)/float64(max(*codes, 1)), float64(after.Sys)/1e9)
	runtime.KeepAlive(x)
	return exitOK
}
