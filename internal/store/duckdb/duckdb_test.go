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
