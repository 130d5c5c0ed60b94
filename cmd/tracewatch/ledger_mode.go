package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"tracewatch/internal/store/duckdb"
)

// Modes of --ledger: when a bulk load into the local store brings the code ledger and
// the sale facts up to date (docs/ledger.md, "Bulk loads").
const (
	ledgerAuto   = "auto"   // end when the load is large against the store, else commit
	ledgerCommit = "commit" // at every commit, as serve does
	ledgerEnd    = "end"    // once, rebuilt from the facts after the last file
)

// bytesPerLine estimates the lines of a JSONL file of NHSA envelopes from its size (a
// medium province's messages average 900 bytes, `bench ingest`'s 3505 lines 830); a
// gzip file counts gzipRatio times its size.
const (
	bytesPerLine = 1000
	gzipRatio    = 5
)

func ledgerFlag(fs *flag.FlagSet) *string {
	return fs.String("ledger", ledgerAuto, "when the code ledger and sale facts follow the load (local store only): "+
		"commit = at every commit, as serve does; end = once, rebuilt from the facts after the last file (faster for a load "+
		"that is large against the store); auto = end when the files hold at least as many lines as the store holds events "+
		"(estimated at 1 KB a line, 5 KB a gzip KB), else commit")
}

// checkLedgerMode refuses a --ledger value that is not a mode.
func checkLedgerMode(mode string) error {
	switch mode {
	case ledgerAuto, ledgerCommit, ledgerEnd:
		return nil
	}
	return fmt.Errorf("--ledger %q: want %s, %s or %s", mode, ledgerAuto, ledgerCommit, ledgerEnd)
}

// inputLines estimates how many lines the files hold, from their sizes.
func inputLines(names []string) int64 {
	var n int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			continue // the ingest reports it
		}
		size := fi.Size()
		if strings.HasSuffix(name, ".gz") {
			size *= gzipRatio
		}
		n += size / bytesPerLine
	}
	return n
}

// deferLedger defers the ledger of st for a load of about lines lines when mode says so,
// and reports whether it did.
func deferLedger(ctx context.Context, st *duckdb.Store, mode string, lines int64) (bool, error) {
	switch mode {
	case ledgerCommit:
		return false, nil
	case ledgerAuto:
		n, err := st.StoredEvents(ctx)
		if err != nil {
			return false, err
		}
		if lines < n || lines == 0 {
			return false, nil
		}
	}
	return true, st.DeferLedger(ctx)
}
