package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"tracewatch"
	"tracewatch/internal/facts"
)

// lineRef names a line and the code it was read for.
type lineRef struct {
	MsgID string
	Line  int
	Raw   string
}

func refOf(l *tracewatch.TimelineEntry) lineRef { return lineRef{l.MsgID, l.Line, l.Code.Raw} }

// testUnsourcedTally: the tally of an institution that UnsourcedLines does not itemize is
// what a rule would count from its lines streamed one by one: the distinct sales
// (tracewatch.SaleOf) of its unsourced lines, and as samples the first line of each of
// its first Samples sales that is a 3505 sale line, in stream order; the lines of the
// itemized institutions are the same as when every institution is itemized.
func testUnsourcedTally(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	r := factReader(t, s)
	loadReference(t, s)
	key := func(i int) string { return fmt.Sprintf("838579300000000001%02d", i) }
	settle := func(day, hour int, setl string, keys ...string) tracewatch.Event {
		return tracewatch.Event{Kind: tracewatch.EventSettlement, Time: at(day, hour, 0), Settlement: setl, Person: "P1", Visit: "V" + setl,
			Amount: 1000, FundPaid: 700, Codes: codes(keys...)}
	}
	// instP received key(0) and sold it, and sold key(1) without a source; instQ received
	// nothing: a settlement first, then sales by receipt (two codes of one sale, and the
	// same receipt again later), by settlement (a 3505 and its 2207), and by message line.
	var m []tracewatch.MessageRecord
	var e []tracewatch.Event
	add := func(msgs []tracewatch.MessageRecord, evs []tracewatch.Event) {
		m, e = append(m, msgs...), append(e, evs...)
	}
	add(msg("P-IN", "3503", instP, purchase(1, key(0))))
	add(msg("P-S1", "3505", instP, sale(2, 10, "PR1", "", key(0))))
	add(msg("P-S2", "3505", instP, sale(2, 11, "PR2", "", key(1))))
	add(msg("Q-ST", "2207", instQ, settle(1, 8, "QS0", key(2))))
	add(msg("Q-S1", "3505", instQ, sale(2, 9, "QR1", "", key(3), key(4))))
	add(msg("Q-S2", "3505", instQ, sale(2, 10, "", "QS1", key(5))))
	add(msg("Q-S3", "2207", instQ, settle(2, 11, "QS1", key(5))))
	add(msg("Q-S4", "3505", instQ, sale(3, 9, "", "", key(6)), sale(3, 9, "", "", key(7))))
	add(msg("Q-S5", "3505", instQ, sale(4, 9, "QR1", "", key(8))))
	for i := 9; i < 14; i++ {
		add(msg(fmt.Sprintf("Q-R%d", i), "3505", instQ, sale(5, i, fmt.Sprintf("QR%d", i), "", key(i))))
	}
	commit(t, s, m, e)

	read := func(q facts.UnsourcedQuery) (map[string][]lineRef, map[string]facts.UnsourcedTally) {
		t.Helper()
		lines, tallies := map[string][]lineRef{}, map[string]facts.UnsourcedTally{}
		err := r.UnsourcedLines(ctx, q, func(l *tracewatch.TimelineEntry, _ bool) error {
			lines[l.Institution] = append(lines[l.Institution], refOf(l))
			return nil
		}, func(u facts.UnsourcedTally) error {
			if _, dup := tallies[u.Institution]; dup {
				t.Errorf("two tallies of %s", u.Institution)
			}
			tallies[u.Institution] = u
			return nil
		})
		must(t, err)
		return lines, tallies
	}
	// What a rule counts of every line (nil Itemize: every institution itemized).
	const samples = 3
	all := map[string][]*tracewatch.TimelineEntry{}
	must(t, r.UnsourcedLines(ctx, facts.UnsourcedQuery{}, func(l *tracewatch.TimelineEntry, _ bool) error {
		all[l.Institution] = append(all[l.Institution], l)
		return nil
	}, func(u facts.UnsourcedTally) error {
		t.Errorf("a tally (%s) though every institution is itemized", u.Institution)
		return nil
	}))
	type want struct {
		sales   int
		samples []lineRef
	}
	counted := map[string]want{}
	for in, ls := range all {
		seen := map[tracewatch.SaleID]bool{}
		var w want
		for _, l := range ls {
			if id := tracewatch.SaleOf(&l.Event); !seen[id] {
				seen[id] = true
				w.sales++
				if len(w.samples) < samples && l.Kind == tracewatch.EventSale {
					w.samples = append(w.samples, refOf(l))
				}
			}
		}
		counted[in] = w
	}
	if w := counted[instQ]; w.sales != 10 || len(w.samples) != samples || len(all[instP]) != 1 {
		t.Fatalf("the fixture: %s has %d sales, %d samples; %s %d unsourced lines", instQ, w.sales, len(w.samples), instP, len(all[instP]))
	}

	// The list of institutions to itemize may hold any text (a code with the list
	// separator of a store, an empty one) without changing what is itemized.
	for _, itemize := range []map[string]bool{{instP: true}, {}, {instP: true, "X\x1fY": true, "": true, "P,Q": true}} {
		lines, tallies := read(facts.UnsourcedQuery{Itemize: itemize, Samples: samples})
		for _, in := range []string{instP, instQ} {
			if itemize[in] {
				var wantLines []lineRef
				for _, l := range all[in] {
					wantLines = append(wantLines, refOf(l))
				}
				if !reflect.DeepEqual(lines[in], wantLines) {
					t.Errorf("itemize %v: lines of %s = %v, want %v", itemize, in, lines[in], wantLines)
				}
				if _, ok := tallies[in]; ok {
					t.Errorf("itemize %v: a tally of itemized %s", itemize, in)
				}
				continue
			}
			if len(lines[in]) > 0 {
				t.Errorf("itemize %v: %d lines of tallied %s", itemize, len(lines[in]), in)
			}
			u, w := tallies[in], counted[in]
			var got []lineRef
			for _, l := range u.Samples {
				got = append(got, refOf(l))
			}
			if u.Sales != w.sales || !reflect.DeepEqual(got, w.samples) {
				t.Errorf("itemize %v: tally of %s = %d sales, samples %v; want %d, %v", itemize, in, u.Sales, got, w.sales, w.samples)
			}
		}
	}
}
