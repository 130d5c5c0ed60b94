package lookup

import (
	"context"
	"testing"
	"time"

	"tracewatch"
)

type fakeStore struct{ tl []tracewatch.TimelineEntry }

func (f fakeStore) Timeline(context.Context, string) ([]tracewatch.TimelineEntry, error) {
	return f.tl, nil
}
func (fakeStore) Ledger(context.Context, string) (tracewatch.LedgerEntry, error) {
	return tracewatch.LedgerEntry{}, tracewatch.E("fake", tracewatch.KindNotFound, nil)
}
func (fakeStore) Drug(context.Context, string) (tracewatch.Drug, error) {
	return tracewatch.Drug{}, tracewatch.E("fake", tracewatch.KindNotFound, nil)
}
func (fakeStore) CodeMappings(context.Context) (map[string]tracewatch.CodeMapping, error) {
	return nil, nil
}

// TestWithdrawnShownNotCounted: a row a 3507 withdrew stays in the timeline with the
// 3507's msgid, and counts neither as a sale event nor for its institution.
func TestWithdrawnShownNotCounted(t *testing.T) {
	const key = "83857930008797872959"
	at := time.Date(2025, 3, 4, 3, 20, 0, 0, time.UTC)
	sale := func(inst, msgid, by string) tracewatch.TimelineEntry {
		var e tracewatch.TimelineEntry
		e.Kind, e.Infno, e.MsgID, e.Line, e.Institution, e.Time = tracewatch.EventSale, "3505", msgid, 1, inst, at
		e.Qty = tracewatch.QtyScale
		e.Code = tracewatch.EventCode{Raw: key, Key: key}
		e.WithdrawnBy = by
		return e
	}
	st := fakeStore{tl: []tracewatch.TimelineEntry{
		sale("P36010200001", "M1", "M1D"),
		sale("P36010200002", "M2", ""),
	}}
	v, err := Lookup(context.Background(), st, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Timeline) != 2 || v.Timeline[0].WithdrawnBy != "M1D" || v.Timeline[1].WithdrawnBy != "" {
		t.Fatalf("timeline %+v", v.Timeline)
	}
	if v.SaleEvents != 1 || len(v.Institutions) != 1 || v.Institutions[0] != "P36010200002" {
		t.Errorf("sale_events %d, institutions %v: want 1 and the standing row's only", v.SaleEvents, v.Institutions)
	}
}
