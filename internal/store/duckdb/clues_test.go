package duckdb

import (
	"context"
	"testing"
	"time"

	"tracewatch"
)

// TestClueAmountBasis: a clue keeps the basis of its amount (fund, sale or none) through
// a store and an update; a clue stored before migration 0008 (its column NULL) reads with
// no basis, its amount unchanged.
func TestClueAmountBasis(t *testing.T) {
	ctx := context.Background()
	s := openJ(t, t.TempDir(), false)
	defer s.Close()
	now := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	clue := func(fp string, amount tracewatch.Fen, basis tracewatch.AmountBasis) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: "trace.duplicate@1", Rule: "other_city", Severity: tracewatch.SeverityHighlySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: fp, Institution: "P1", AmountFen: amount, AmountBasis: basis, Explanation: "x"}
	}
	if _, err := s.PutClues(ctx, []tracewatch.Clue{clue("a", 750, tracewatch.AmountFund), clue("b", 1250, tracewatch.AmountSale), clue("c", 0, "")}, now); err != nil {
		t.Fatal(err)
	}
	got := func() map[string]tracewatch.Clue {
		t.Helper()
		cs, err := s.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]tracewatch.Clue{}
		for _, c := range cs {
			out[c.Fingerprint] = c
		}
		return out
	}
	check := func(want map[string]tracewatch.AmountBasis, amounts map[string]tracewatch.Fen) {
		t.Helper()
		cs := got()
		for fp, b := range want {
			if cs[fp].AmountBasis != b || cs[fp].AmountFen != amounts[fp] {
				t.Errorf("clue %s: %d %q, want %d %q", fp, cs[fp].AmountFen, cs[fp].AmountBasis, amounts[fp], b)
			}
		}
	}
	check(map[string]tracewatch.AmountBasis{"a": "fund", "b": "sale", "c": ""}, map[string]tracewatch.Fen{"a": 750, "b": 1250})
	// A later screen learns the settlement: the clue takes the new amount and basis.
	if _, err := s.PutClues(ctx, []tracewatch.Clue{clue("b", 600, tracewatch.AmountFund)}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check(map[string]tracewatch.AmountBasis{"b": "fund"}, map[string]tracewatch.Fen{"b": 600})
	// A clue from before the column: NULL.
	if _, err := s.db.ExecContext(ctx, `UPDATE clues SET amount_basis = NULL WHERE fingerprint = 'a'`); err != nil {
		t.Fatal(err)
	}
	check(map[string]tracewatch.AmountBasis{"a": ""}, map[string]tracewatch.Fen{"a": 750})
}
