package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"tracewatch/internal/ingest"
)

func init() {
	register("ingest", "bulk-ingest NHSA messages: ingest [--data-dir D | --server URL [--token T]] [--json] FILE… (JSONL of envelopes, .gz too)", runIngest)
}

func runIngest(e env) int {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	batch := fs.Int("batch-lines", 50_000, "lines per durable commit")
	progressFlag := fs.Bool("progress", false, "print a progress line per commit to stderr even when it is not a terminal")
	ledgerMode := ledgerFlag(fs)
	rf := addRemoteFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch ingest [--data-dir D | --server URL [--token T]] [--json] FILE…")
		fmt.Fprintln(e.stderr, "Reads JSONL of NHSA request envelopes, one message per line (.gz too). Safe to re-run:")
		fmt.Fprintln(e.stderr, "messages already stored (by msgid) change nothing. Refused rows go to the quarantine.")
		fmt.Fprintln(e.stderr, "With --server, a running tracewatch serve ingests the files (sent as they are).")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	if err := checkLedgerMode(*ledgerMode); err != nil {
		fmt.Fprintln(e.stderr, "tracewatch ingest:", err)
		return exitUsage
	}
	rc, err := remoteOf(fs, rf, "data-dir")
	if err != nil {
		return failRemote(e, "ingest", err)
	}
	if rc != nil && *ledgerMode != ledgerAuto {
		fmt.Fprintf(e.stderr, "tracewatch ingest: --ledger %s applies to a local store; a server keeps its ledger at every commit\n", *ledgerMode)
		return exitUsage
	}
	ctx := context.Background()
	terminal := e.stderr == os.Stderr && isTerminal(os.Stderr)
	progress := terminal || *progressFlag
	var all []ingest.FileStats
	// options are a file's ingest options, with the progress line from start.
	options := func(name string, start *time.Time) ingest.FileOptions {
		o := ingest.FileOptions{Name: filepath.Base(name), BatchLines: *batch}
		if progress {
			o.Progress = func(s ingest.FileStats) {
				el := time.Since(*start).Seconds()
				if terminal {
					fmt.Fprintf(e.stderr, "\r%s: %d lines, %d messages (%.0f lines/s)   ", name, s.Lines, s.Messages, float64(s.Lines)/max(el, 1e-9))
					return
				}
				fmt.Fprintf(e.stderr, "progress: %s: %d lines committed\n", name, s.Lines)
			}
		}
		return o
	}
	// finished reports a file ingested in took.
	finished := func(name string, s ingest.FileStats, took time.Duration) {
		if terminal {
			fmt.Fprintln(e.stderr)
		}
		all = append(all, s)
		if !*asJSON {
			printIngestSummary(e, name, s, took)
		}
	}
	if rc != nil {
		// The server ingests the files, sent as they are (gzip or not), one by one.
		for _, name := range fs.Args() {
			f, err := os.Open(name)
			if err != nil {
				return fail(e.stderr, "ingest", err)
			}
			start := time.Now()
			s, err := rc.ingest(ctx, newUpload(f), options(name, &start))
			f.Close()
			if err != nil {
				if terminal {
					fmt.Fprintln(e.stderr)
				}
				var refused *remoteError
				if errors.As(err, &refused) && refused.status != http.StatusOK { // refused before any commit
					return fail(e.stderr, "ingest", fmt.Errorf("%s: %w", name, err))
				}
				return fail(e.stderr, "ingest", fmt.Errorf("%s: %w (committed batches are kept; re-run to continue)", name, err))
			}
			finished(name, s, time.Since(start))
		}
	} else {
		defer bulkGC()()
		st, err := createStore(ctx, *dir, e.stderr)
		if err != nil {
			return fail(e.stderr, "ingest", err)
		}
		defer st.Close()
		in, err := ingest.New(ctx, st)
		if err != nil {
			return fail(e.stderr, "ingest", err)
		}
		deferred, err := deferLedger(ctx, st, *ledgerMode, inputLines(fs.Args()))
		if err != nil {
			return fail(e.stderr, "ingest", err)
		}
		// The files in order; the next one is read and decoded while the last batch of
		// the one before is committed. A file's time runs from the end of the one before.
		names := fs.Args()
		start := time.Now()
		srcs := make([]ingest.Source, len(names))
		for i, name := range names {
			srcs[i] = ingest.Source{Open: func() (io.ReadCloser, error) { return openInput(name) }, Options: options(name, &start)}
		}
		failed, err := in.IngestFiles(ctx, st, srcs, func(i int, s ingest.FileStats) {
			finished(names[i], s, time.Since(start))
			start = time.Now()
		})
		// Whatever the load did, the ledger follows the facts it committed.
		var cerr error
		if deferred {
			t := time.Now()
			var codes int64
			if codes, cerr = st.CatchUpLedger(ctx); cerr == nil && !*asJSON {
				fmt.Fprintf(e.stdout, "ledger: rebuilt from the facts after the load, %d codes in %s\n", codes, time.Since(t).Round(time.Millisecond))
			}
		}
		if err != nil {
			if terminal {
				fmt.Fprintln(e.stderr)
			}
			err = fmt.Errorf("%s: %w (committed batches are kept; re-run to continue)", names[failed], err)
			if cerr != nil {
				err = fmt.Errorf("%w; the ledger could not be rebuilt either (the next command that opens the store tries again): %v", err, cerr)
			}
			return fail(e.stderr, "ingest", err)
		}
		if cerr != nil {
			return fail(e.stderr, "ingest", fmt.Errorf("the files are stored, but the ledger could not be rebuilt from them (the next command that opens the store tries again): %w", cerr))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if len(all) == 1 {
			enc.Encode(all[0])
		} else {
			enc.Encode(all)
		}
	}
	return exitOK
}

func printIngestSummary(e env, name string, s ingest.FileStats, took time.Duration) {
	fmt.Fprintf(e.stdout, "%s: %d lines in %s (%.0f lines/s)\n", name, s.Lines, took.Round(time.Millisecond), float64(s.Lines)/max(took.Seconds(), 1e-9))
	fmt.Fprintf(e.stdout, "  messages %d: accepted %d, already stored %d, refused %d; unreadable lines %d\n", s.Messages, s.Accepted, s.Replayed, s.Refused, s.Unreadable)
	fmt.Fprintf(e.stdout, "  rows stored %d (codes %d); rows quarantined %d\n", s.Events, s.Codes, s.Quarantined)
	if s.DeadLettered > 0 {
		fmt.Fprintf(e.stdout, "  messages that could not be stored %d (dead letters, listed by quarantine list)\n", s.DeadLettered)
	}
	for _, infno := range s.Infnos() {
		i := s.ByInfno[infno]
		fmt.Fprintf(e.stdout, "  %-6s messages %d accepted %d already stored %d refused %d rows %d quarantined %d\n",
			infno, i.Messages, i.Accepted, i.Replayed, i.Refused, i.Rows, i.Rejected)
	}
}

// bulkGCPercent is the garbage collector's target during a bulk ingest: the heap may grow
// to 5× the live batches between collections. At Go's default (100) the collector took
// about a quarter of the CPU of `bench ingest`; the live heap is bounded by the batches
// in flight (a few hundred MB at --batch-lines 50000).
const bulkGCPercent = 400

// bulkGC sets the collector's target for a bulk ingest, unless GOGC says otherwise, and
// returns the function that restores it.
func bulkGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(bulkGCPercent)
	return func() { debug.SetGCPercent(old) }
}
