package duckdb

import (
	"context"
	"strings"
	"testing"
)

// TestColumnsBind: a row is read by its columns' names, whatever their order, and a
// column without a destination or a destination without a column is an error naming it.
func TestColumnsBind(t *testing.T) {
	ctx := context.Background()
	s := openJ(t, t.TempDir(), false)
	defer s.Close()
	rows, err := s.db.QueryContext(ctx, `SELECT 2 AS b, 'x' AS a`)
	if err != nil {
		t.Fatal(err)
	}
	var a string
	var b int
	dest, err := columns{"a": &a, "b": &b}.bind(rows)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if a != "x" || b != 2 {
		t.Errorf("a=%q b=%d, want x 2", a, b)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT 2 AS b, 'x' AS a`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	_, err = columns{"a": &a, "c": &b}.bind(rows)
	if err == nil || !strings.Contains(err.Error(), "[b]") || !strings.Contains(err.Error(), "[c]") {
		t.Errorf("bind with a missing and an unused name: %v", err)
	}
}
