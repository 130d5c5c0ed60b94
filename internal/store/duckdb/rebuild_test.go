package duckdb

import (
	"context"
	"testing"
)

// TestRebuildCountsChanges: a ledger that differs from the facts is put right by a
// rebuild, which counts the codes whose row it changed; a second rebuild changes none.
func TestRebuildCountsChanges(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Two codes in the ledger: one whose row is wrong, one that the facts do not give.
	for _, q := range []string{
		`INSERT INTO ledger (code_id, sold_whole, sold_split, pack_content, sales, returns, received) VALUES (1, 1, 0, 0, 1, 0, 0), (2, 0, 0, 0, 0, 0, 3)`,
	} {
		if err := s.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.RebuildLedger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Codes != 0 || r.Changed != 2 {
		t.Errorf("first rebuild: %+v, want 0 codes, 2 changed", r)
	}
	if r, err = s.RebuildLedger(ctx); err != nil || r.Changed != 0 {
		t.Errorf("second rebuild: %+v, %v, want nothing changed", r, err)
	}
}
