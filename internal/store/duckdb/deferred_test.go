package duckdb

import (
	"context"
	"fmt"
	"testing"

	"tracewatch"
	"tracewatch/internal/store/storetest"
)

func behind(t *testing.T, s *Store) bool {
	t.Helper()
	var b bool
	if err := s.db.QueryRowContext(context.Background(), `SELECT behind FROM ledger_state`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeferredLedger: a load that defers the ledger ends with the same sale_codes, ledger
// and withdrawal marks as one that keeps them at every commit, whether it ends with
// CatchUpLedger or stops without it (Open brings the store up to date); commits after
// the catch-up keep the ledger again.
func TestDeferredLedger(t *testing.T) {
	ctx := context.Background()
	orders := storetest.ArrivalOrders()[:3]
	for _, o := range orders {
		for _, per := range []int{1, 4} {
			for _, crash := range []bool{false, true} {
				label := fmt.Sprintf("%s, %d per commit, stopped before the end %v", o.Name, per, crash)
				inc, err := Open(ctx, "", Options{Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				storetest.LoadReference(t, inc)
				storetest.CommitInOrder(t, inc, o.Order, per)
				want := derivedRows(t, inc)
				inc.Close()

				dir := t.TempDir()
				s, err := Open(ctx, dir, Options{Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				storetest.LoadReference(t, s)
				if err := s.DeferLedger(ctx); err != nil {
					t.Fatal(err)
				}
				storetest.CommitInOrder(t, s, o.Order, per)
				if !s.LedgerDeferred() || !behind(t, s) {
					t.Fatalf("%s: not deferred after the commits", label)
				}
				var n int64
				if err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM ledger) + (SELECT count(*) FROM sale_codes)`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%s: the deferred commits wrote %d ledger and sale rows", label, n)
				}
				if crash {
					// Stop as a killed load would: no catch-up, no Close.
					s.writer.close()
					s.db.Close()
				} else {
					codes, err := s.CatchUpLedger(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if codes <= 0 {
						t.Errorf("%s: CatchUpLedger = %d codes", label, codes)
					}
					if again, err := s.CatchUpLedger(ctx); err != nil || again != -1 {
						t.Errorf("%s: a second CatchUpLedger = %d, %v; want -1 (nothing behind)", label, again, err)
					}
					s.Close()
				}
				if s, err = Open(ctx, dir, Options{Threads: 2}); err != nil {
					t.Fatal(err)
				}
				if got := derivedRows(t, s); got != want {
					t.Errorf("%s: deferred\n%s\nkept at every commit\n%s", label, got, want)
				}
				if s.LedgerDeferred() || behind(t, s) {
					t.Errorf("%s: still behind after reopening", label)
				}
				s.Close()
			}
		}
	}
}

// TestDeferredLedgerThenCommits: after a catch-up the commits keep the ledger again, and
// the ledger equals a rebuild.
func TestDeferredLedgerThenCommits(t *testing.T) {
	ctx := context.Background()
	o := storetest.ArrivalOrders()[0]
	half := len(o.Order) / 2
	s, err := Open(ctx, "", Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.LoadReference(t, s)
	if err := s.DeferLedger(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.CommitInOrder(t, s, o.Order[:half], 2)
	if _, err := s.CatchUpLedger(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.CommitInOrder(t, s, o.Order[half:], 1)
	got := derivedRows(t, s)
	r, err := s.RebuildLedger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Changed != 0 {
		t.Errorf("after the catch-up, the commits left %d ledger codes unlike a rebuild", r.Changed)
	}
	if rebuilt := derivedRows(t, s); got != rebuilt {
		t.Errorf("incremental after the catch-up\n%s\nrebuilt\n%s", got, rebuilt)
	}
}

// TestDeferredLedgerJournal: a journaled store (serve) refuses to defer its ledger.
func TestDeferredLedgerJournal(t *testing.T) {
	s := openJ(t, t.TempDir(), true)
	defer s.Close()
	if err := s.DeferLedger(context.Background()); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Fatalf("DeferLedger on a journaled store = %v, want a conflict", err)
	}
	if s.LedgerDeferred() {
		t.Fatal("deferred anyway")
	}
}
