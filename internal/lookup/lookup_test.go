package lookup

import (
	"context"
	"testing"
	"time"

	"tracewatch"
)

type fakeStore struct {
	tl   []tracewatch.TimelineEntry
	maps map[string]tracewatch.CodeMapping
}

func (f fakeStore) Timeline(context.Context, string) ([]tracewatch.TimelineEntry, error) {
	return f.tl, nil
}
func (fakeStore) Ledger(context.Context, string) (tracewatch.LedgerEntry, error) {
	return tracewatch.LedgerEntry{}, tracewatch.E("fake", tracewatch.KindNotFound, nil)
}
func (fakeStore) Drug(context.Context, string) (tracewatch.Drug, error) {
	return tracewatch.Drug{}, tracewatch.E("fake", tracewatch.KindNotFound, nil)
}
func (f fakeStore) CodeMappings(context.Context) (map[string]tracewatch.CodeMapping, error) {
	return f.maps, nil
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

// TestPackLevel: the package level comes from the events' codes, else from the code
// mapping (with the drug); a product the mapping does not know has level 0 (unknown).
func TestPackLevel(t *testing.T) {
	const key = "83857930008797872959"
	maps := map[string]tracewatch.CodeMapping{"8385793": {ProductID: "8385793", DrugCode: "XA01", PackLevel: 2}}
	v, err := Lookup(context.Background(), fakeStore{maps: maps}, " "+key)
	if err != nil {
		t.Fatal(err)
	}
	if v.PackLevel != 2 || v.Drug == nil || v.Drug.Code != "XA01" || v.Normalized != key {
		t.Errorf("a code never seen: level %d, drug %+v, normalized %q; want 2, XA01 from the mapping", v.PackLevel, v.Drug, v.Normalized)
	}
	var e tracewatch.TimelineEntry
	e.Kind, e.Institution, e.Time = tracewatch.EventSale, "P36010200001", time.Date(2025, 3, 4, 3, 20, 0, 0, time.UTC)
	e.Code = tracewatch.EventCode{Raw: key, Key: key, Level: 1, DrugCode: "XA02"}
	v, err = Lookup(context.Background(), fakeStore{tl: []tracewatch.TimelineEntry{e}, maps: maps}, key)
	if err != nil {
		t.Fatal(err)
	}
	if v.PackLevel != 1 || v.Drug.Code != "XA02" {
		t.Errorf("the events' level and drug: %d %s, want 1 XA02", v.PackLevel, v.Drug.Code)
	}
	if v, _ = Lookup(context.Background(), fakeStore{}, key); v.PackLevel != 0 || v.Drug != nil {
		t.Errorf("an unknown product: level %d drug %+v, want 0 and none", v.PackLevel, v.Drug)
	}
}
