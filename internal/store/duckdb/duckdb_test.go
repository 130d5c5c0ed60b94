package duckdb

import (
	"context"
	"testing"

	"tracewatch"
	"tracewatch/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) tracewatch.Store {
		s, err := Open(context.Background(), dir, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceJournal: the same contract when Commit acknowledges from the journal.
func TestConformanceJournal(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) tracewatch.Store {
		s, err := Open(context.Background(), dir, Options{Threads: 2, Journal: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceRebuildInParts: the same contract when `ledger rebuild` computes
// sale_codes and the ledger in parts of a few codes (a store of 10^8 sale lines is
// rebuilt in parts of about 16 million event codes): every part's rows are the rows the
// whole rebuild and the incremental ledger give.
func TestConformanceRebuildInParts(t *testing.T) {
	defer func(n int64) { rebuildPartRows = n }(rebuildPartRows)
	rebuildPartRows = 4
	storetest.Run(t, func(t *testing.T, dir string) tracewatch.Store {
		s, err := Open(context.Background(), dir, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
