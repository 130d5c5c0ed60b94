package monitor

import (
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// TestForInstitution: only the institution's rows inside the period count; a day
// without sale lines has an unknown rate (nil), not 0%; upload days count days with
// events.
func TestForInstitution(t *testing.T) {
	from, to := Period(time.Date(2025, 3, 3, 15, 0, 0, 0, tracewatch.Beijing), 3) // 1–3 March
	d := func(n int) time.Time { return time.Date(2025, 3, n, 0, 0, 0, 0, tracewatch.Beijing) }
	coll := []facts.CollectionDay{
		{Institution: "P1", Day: d(1), Lines: 10, Coded: 9, UncodedFund: 100, UncodedSale: 150},
		{Institution: "P1", Day: d(3), Lines: 10, Coded: 5},
		{Institution: "P2", Day: d(1), Lines: 100, Coded: 0},       // another institution
		{Institution: "P1", Day: d(4), Lines: 100, Coded: 0},       // after the period
		{Institution: "P1", Day: d(1).AddDate(0, 0, -1), Lines: 7}, // before it
	}
	up := []facts.UploadDay{{Institution: "P1", Day: d(1), Events: 12}, {Institution: "P1", Day: d(2), Events: 3},
		{Institution: "P2", Day: d(3), Events: 50}, {Institution: "P1", Day: d(4), Events: 9}}
	f := ForInstitution("P1", from, to, coll, up)
	if f.From != "2025-03-01" || f.To != "2025-03-03" || f.PeriodDays != 3 || len(f.Days) != 3 {
		t.Fatalf("period %s–%s, %d days %v", f.From, f.To, f.PeriodDays, f.Days)
	}
	if f.Lines != 20 || f.Coded != 14 || f.Collection == nil || *f.Collection != 0.7 {
		t.Errorf("lines %d coded %d collection %v: want 20, 14, 0.7", f.Lines, f.Coded, f.Collection)
	}
	if f.Events != 15 || f.UploadDays != 2 {
		t.Errorf("events %d on %d days: want 15 on 2", f.Events, f.UploadDays)
	}
	if f.UncodedFundFen != 100 || f.UncodedSaleFen != 150 {
		t.Errorf("uncoded %v / %v", f.UncodedFundFen, f.UncodedSaleFen)
	}
	if c := f.Days[1].Collection; c != nil {
		t.Errorf("2 March has no sale lines: collection %v, want unknown (nil)", *c)
	}
	if c := f.Days[2].Collection; c == nil || *c != 0.5 || f.Days[2].Events != 0 {
		t.Errorf("3 March: %+v, want 50%% and no events", f.Days[2])
	}
	if empty := ForInstitution("P9", from, to, coll, up); empty.Collection != nil || empty.Events != 0 || len(empty.Days) != 3 {
		t.Errorf("an institution without facts: %+v", empty)
	}
}
