package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/export"
	"tracewatch/internal/store/duckdb"
)

func init() {
	benchCommands["inbox"] = runBenchInbox
}

// runBenchInbox measures the web inbox at N clues: a store is filled with generated
// clues, then each query the inbox, the dashboard and the export make is timed (the
// median of a few runs): the first page of a filter with its total, a deep page, the
// dashboard's clue summary, and a region's Excel export.
func runBenchInbox(e env) int {
	fs := flag.NewFlagSet("bench inbox", flag.ContinueOnError)
	n := fs.Int("clues", 1_000_000, "clues in the store")
	runs := fs.Int("runs", 5, "runs of each query (the median is reported)")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	const op = "bench inbox"
	if *n < 1000 || *runs < 1 {
		return fail(e.stderr, op, tracewatch.Errorf(op, tracewatch.KindInvalid, "want --clues ≥ 1000 and --runs ≥ 1").WithField("clues"))
	}
	d, err := os.MkdirTemp("", "tracewatch-bench-inbox-")
	if err != nil {
		return fail(e.stderr, op, err)
	}
	defer os.RemoveAll(d)
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(d, "data"), duckdb.Options{})
	if err != nil {
		return fail(e.stderr, op, err)
	}
	defer st.Close()
	regions := []tracewatch.Region{"360102", "360103", "360202", "360302", "360403", "360502", "360602", "360702", "360802", "360902", "361002", "361102"}
	dets := []string{"trace.duplicate@1", "trace.substitution@1", "trace.nosource@1", "claims.gender@1", "claims.age@1"}
	t0 := time.Now()
	at := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]tracewatch.Clue, 0, 50_000)
	for i := range *n {
		r := regions[i%len(regions)]
		batch = append(batch, tracewatch.Clue{Fingerprint: "bench" + strconv.Itoa(i), Detector: dets[i%len(dets)], Rule: "bench",
			Severity: tracewatch.Severity(1 + i%4), Subject: tracewatch.SubjectCode, SubjectID: strconv.Itoa(i), Region: r,
			Institution: "P" + string(r) + strconv.Itoa(10000+i%300), AmountFen: tracewatch.Fen((i * 7919) % 5_000_000),
			Codes: []string{fmt.Sprintf("8%019d", i)}, Explanation: "基准测试线索"})
		if len(batch) == cap(batch) || i == *n-1 {
			if _, err := st.PutClues(ctx, batch, at); err != nil {
				return fail(e.stderr, op, err)
			}
			batch = batch[:0]
		}
	}
	fmt.Fprintf(e.stdout, "%d clues stored in %s\n", *n, time.Since(t0).Round(time.Millisecond))
	page := func(f tracewatch.ClueFilter) func() error {
		return func() error {
			f.Limit = 50
			if _, err := st.Clues(ctx, f); err != nil {
				return err
			}
			f.Limit, f.Offset, f.Order = -1, 0, ""
			_, err := st.ClueStates(ctx, f)
			return err
		}
	}
	cases := []struct {
		name string
		fn   func() error
	}{
		{"first page, id order, with total", page(tracewatch.ClueFilter{})},
		{"first page, by severity, with total", page(tracewatch.ClueFilter{Order: tracewatch.OrderSeverity})},
		{"a city's new clues by amount", page(tracewatch.ClueFilter{Region: "360100", States: []tracewatch.ClueState{tracewatch.ClueNew}, Order: tracewatch.OrderAmount})},
		{"detector + severity + amount filter", page(tracewatch.ClueFilter{Detector: "trace.duplicate", MinSeverity: tracewatch.SeverityHighlySuspicious, MinAmount: 100_000, Order: tracewatch.OrderSeverity})},
		{"one institution by deadline", page(tracewatch.ClueFilter{Institution: "P36010210005", Order: tracewatch.OrderDeadline})},
		{"page at offset n/2, by severity", page(tracewatch.ClueFilter{Order: tracewatch.OrderSeverity, Offset: *n / 2})},
		{"dashboard clue summary", func() error {
			_, err := st.ClueGroups(ctx, tracewatch.ClueFilter{Limit: -1}, tracewatch.ByDetector|tracewatch.BySeverity|tracewatch.ByState|tracewatch.ByRegion)
			return err
		}},
		{"Excel export of one county (n/12 clues)", func() error {
			_, _, err := export.Clues(ctx, io.Discard, st, tracewatch.ClueFilter{Region: "360102"}, nil, nil)
			return err
		}},
	}
	for _, c := range cases {
		var took []time.Duration
		for range *runs {
			t := time.Now()
			if err := c.fn(); err != nil {
				return fail(e.stderr, op, fmt.Errorf("%s: %w", c.name, err))
			}
			took = append(took, time.Since(t))
		}
		slices.Sort(took)
		fmt.Fprintf(e.stdout, "%-40s median %8.1f ms (min %.1f, max %.1f)\n", c.name, ms(took[len(took)/2]), ms(took[0]), ms(took[len(took)-1]))
	}
	return exitOK
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
