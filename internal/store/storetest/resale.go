package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// The conformance case of the named pruning fact ResoldHistories (C12, run by Run): of
// the ledger scenario's codes, only codeA was sold at two institutions (P, then Q); codeB
// (a double scan, a return, a resale at the same counter), the carton (three split-pack
// parts at one counter) and the GS1 code (one sale, cancelled) stay behind. codeA's
// history is the one DuplicateHistories gives, complete; a window ending before its last
// sale selects nothing.
func testResoldHistories(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	r := factReader(t, s)
	scenario(t, s)
	collect := func(read func(context.Context, tracewatch.Window, func(*facts.CodeHistory) error) error, w tracewatch.Window) map[string]facts.CodeHistory {
		out := map[string]facts.CodeHistory{}
		must(t, read(ctx, w, func(h *facts.CodeHistory) error {
			out[h.Key] = *h
			return nil
		}))
		return out
	}
	all := tracewatch.Window{}
	got := collect(r.ResoldHistories, all)
	if len(got) != 1 {
		t.Fatalf("ResoldHistories: %d codes, want only %s: %+v", len(got), codeA, got)
	}
	h, ok := got[codeA]
	if !ok {
		t.Fatalf("ResoldHistories: want %s, got %+v", codeA, got)
	}
	if len(h.Facts) != 2 || h.Facts[0].Institution != instP || h.Facts[1].Institution != instQ ||
		!h.Facts[0].Time.Equal(at(2, 10, 0)) || !h.Facts[1].Time.Equal(at(5, 11, 0)) || h.Facts[0].Whole != 1 || h.Facts[1].Whole != 1 {
		t.Errorf("%s facts: %+v", codeA, h.Facts)
	}
	persons := map[string]bool{}
	for _, l := range h.Lines {
		persons[l.Person] = true
	}
	if len(h.Lines) < 2 || !persons["P1"] {
		t.Errorf("%s lines: %+v", codeA, h.Lines)
	}
	dup := collect(r.DuplicateHistories, all)
	if !reflect.DeepEqual(dup[codeA], h) {
		t.Errorf("%s: ResoldHistories\n %+v\nDuplicateHistories\n %+v", codeA, h, dup[codeA])
	}
	if len(dup) < 2 {
		t.Errorf("DuplicateHistories: %d codes, want codeB and the carton as well", len(dup))
	}
	// A window over the resale selects the code; one ending before it does not.
	if w := (tracewatch.Window{From: at(5, 0, 0), To: at(6, 0, 0)}); len(collect(r.ResoldHistories, w)) != 1 {
		t.Errorf("window %v: want %s", w, codeA)
	}
	if w := (tracewatch.Window{From: at(1, 0, 0), To: at(5, 0, 0).Add(-time.Second)}); len(collect(r.ResoldHistories, w)) != 0 {
		t.Errorf("window %v: want no code", w)
	}
}
