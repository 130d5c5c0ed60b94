package duckdb

import (
	"context"
	"testing"

	"tracewatch"
	"tracewatch/internal/store/storetest"
)

// TestLevels: the package-level facts (unknown levels, PackOrders) on the plain store and
// on the journaled one.
func TestLevels(t *testing.T) {
	for _, journal := range []bool{false, true} {
		name := "plain"
		if journal {
			name = "journal"
		}
		t.Run(name, func(t *testing.T) {
			storetest.RunLevels(t, func(t *testing.T, dir string) tracewatch.Store {
				s, err := Open(context.Background(), dir, Options{Threads: 2, Journal: journal})
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}
