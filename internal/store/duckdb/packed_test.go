package duckdb

import (
	"context"
	"fmt"
	"math"
	"testing"

	"tracewatch"
)

// TestProductNumSQL checks productNumSQL, the BIGINT form of packedSQL // 10^13, against
// the unsigned id's quotient in Go (for a packed code, its key's digits 2–7), at the ends
// of the id range and around every carry and sign change of its arithmetic.
func TestProductNumSQL(t *testing.T) {
	s := openJ(t, t.TempDir(), false)
	ids := []int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64, math.MaxInt64 - 1, 0, -1, 1,
		-10000000000000, 10000000000000, -10000000000001, 9999999999999,
		-2036854775808, -2036854775809, -2036854775807, 7963145224191, 7963145224192, -7963145224192}
	for _, key := range []string{"81000000000000000000", "81234560000000000001", "89999999999999999999", "80000000000000000000", "84567890123456789012"} {
		id, ok := tracewatch.PackedCodeID(key)
		if !ok {
			t.Fatalf("PackedCodeID(%s) failed", key)
		}
		ids = append(ids, int64(id))
	}
	for _, id := range ids {
		var got, huge int64
		q := fmt.Sprintf(`SELECT %s, CAST(%s // 10000000000000 AS BIGINT) FROM (SELECT CAST(%d AS BIGINT) AS x) v`, productNumSQL("x"), packedSQL("x"), id)
		if err := s.db.QueryRowContext(context.Background(), q).Scan(&got, &huge); err != nil {
			t.Fatal(err)
		}
		want := int64((uint64(id) ^ 1<<63) / 10_000_000_000_000)
		if key, ok := tracewatch.KeyOfPackedID(tracewatch.CodeID(id)); ok && key[1:7] != fmt.Sprintf("%06d", want) {
			t.Fatalf("id %d: key %s, product number %d", id, key, want)
		}
		if got != want || huge != want {
			t.Errorf("id %d: productNumSQL %d, HUGEINT %d, want %d", id, got, huge, want)
		}
	}
}
