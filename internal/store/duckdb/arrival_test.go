package duckdb

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"tracewatch/internal/store/storetest"
)

// derivedRows reads what derives from the facts: sale_codes, the ledger and which rows
// are withdrawn (by msgid and line: event ids follow the arrival).
func derivedRows(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT code_id, sale_id, fixmedins_code, event_time, whole, split_qty FROM sale_codes ORDER BY code_id, sale_id`,
		`SELECT code_id, sold_whole, sold_split, pack_content, sales, returns, first_seller, first_sale, last_sale, received FROM ledger ORDER BY code_id`,
		`SELECT fixmedins_code, msgid, line, withdrawn_by FROM events WHERE withdrawn_by IS NOT NULL ORDER BY fixmedins_code, msgid, line`,
	} {
		rows, err := s.db.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

// TestArrivalOrderDerivedRows: beyond the ledger rows the conformance suite compares,
// every row of sale_codes (what T1 walks) and every withdrawal mark is the same after
// the incremental path as after a rebuild, whatever the order of arrival.
func TestArrivalOrderDerivedRows(t *testing.T) {
	var want, wantFrom string
	for _, o := range storetest.ArrivalOrders() {
		for _, per := range []int{1, 4} {
			label := fmt.Sprintf("%s, %d per commit", o.Name, per)
			s, err := Open(context.Background(), "", Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			storetest.LoadReference(t, s)
			storetest.CommitInOrder(t, s, o.Order, per)
			got := derivedRows(t, s)
			if _, err := s.RebuildLedger(context.Background()); err != nil {
				t.Fatal(err)
			}
			rebuilt := derivedRows(t, s)
			s.Close()
			if got != rebuilt {
				t.Errorf("%s: incremental\n%s\nrebuilt\n%s", label, got, rebuilt)
			}
			if want == "" {
				want, wantFrom = rebuilt, label
				if !strings.Contains(want, "CAN|") || !strings.Contains(want, "D-3507") {
					t.Errorf("%s: no cancel or withdrawal in\n%s", label, want)
				}
				continue
			}
			if rebuilt != want {
				t.Errorf("%s:\n%s\n%s:\n%s", label, rebuilt, wantFrom, want)
			}
		}
	}
}
