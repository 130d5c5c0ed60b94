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

// TestRebuildPartSize: the rebuild's parts follow DuckDB's memory limit, read back as
// DuckDB prints it; a size that cannot be read falls back to 16 million event codes.
func TestRebuildPartSize(t *testing.T) {
	for in, want := range map[string]int64{
		"858.3 MiB": 899992780, "2.7 GiB": 2899102924, "512 bytes": 512, "18.8 GiB": 20186346291, "3 GB": 3_000_000_000,
	} {
		if got, ok := memorySize(in); !ok || got != want {
			t.Errorf("memorySize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "12", "x MiB", "-1 MiB", "1 furlong", "1e300 TiB", "NaN GiB"} {
		if got, ok := memorySize(in); ok {
			t.Errorf("memorySize(%q) = %d, want no size", in, got)
		}
	}
	ctx := context.Background()
	for _, c := range []struct {
		limit    string
		min, max int64
	}{{"900MB", 3_400_000, 3_600_000}, {"3GB", 11_000_000, 12_000_000}, {"100MB", 1_000_000, 1_000_000}} {
		s, err := Open(ctx, t.TempDir(), Options{MemoryLimit: c.limit})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := rebuildPartSize(ctx, conn); got < c.min || got > c.max {
			t.Errorf("memory limit %s: parts of %d event codes, want %d to %d", c.limit, got, c.min, c.max)
		}
		conn.Close()
		s.Close()
	}
}
