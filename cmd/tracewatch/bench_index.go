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

// key returns code i's 20-digit key: a fresh string, as a store's row gives it.
func (l indexLoad) key(i int64) string {
	var b [20]byte
	copy(b[:], "8385793")
	for j := 19; j >= 7; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b[:])
}

// institutions returns the institutions' codes, made once: formatting one per row
// would be most of the generator's time (the index looks them up by value).
func (l indexLoad) institutions() []string {
	out := make([]string, l.insts)
	for i := range out {
		out[i] = benchInstitutionCode(i)
	}
	return out
}

// Holdings gives each code a fresh key string, as a store's row does; the receipt
// (shared by two codes) and the person (one of 2,000,000) are made once each and
// shared, where a store would hand out a fresh string per row (the index only hashes
// them), so that the generator's garbage does not weigh on the load it measures.
func (l indexLoad) Holdings(ctx context.Context, fn func(key string, h facts.Holding) error) error {
	t0 := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	insts := l.institutions()
	persons := make([]string, min(l.codes, 2_000_000))
	for i := range persons {
		persons[i] = "PSN" + strconv.FormatInt(int64(i), 36)
	}
	var receipt string
	var buf [24]byte
	for i := range l.codes {
		if i%2 == 0 {
			receipt = string(strconv.AppendInt(append(buf[:0], 'R'), i/2, 10))
		}
		h := facts.Holding{Institution: insts[i%int64(l.insts)], Units: tracewatch.QtyScale,
			Last: t0.Add(time.Duration(i%(90*86400)) * time.Second), Receipt: receipt, Person: persons[i%2_000_000]}
		if err := fn(l.key(i), h); err != nil {
			return err
		}
	}
	return nil
}

func (l indexLoad) Receipts(ctx context.Context, fn func(key, institution string) error) error {
	insts := l.institutions()
	for i := range l.codes {
		if err := fn(l.key(i), insts[i%int64(l.insts)]); err != nil {
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
