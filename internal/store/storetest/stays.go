package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// The conformance case of StayCares (C6, C13; run by Run): a stay's fee lines per
// business day (a line timed at its envelope's inf_time is undated), the person's
// settlements strictly inside the stay (a 2207, a 3505-only setl_id, the stay's own
// hospital included; a cancelled one, one before the admission and one of another person
// left out), a cancelled stay left out, a stay without fee lines read with none.
func testStayCares(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	src := factReader(t, s)
	const hosp = "H36010200005"
	in := func(ev tracewatch.Event, setting tracewatch.Setting) tracewatch.Event {
		ev.Setting = setting
		return ev
	}
	stay := func(setl, visit, psn string, adm, dis time.Time, amount, fund tracewatch.Fen) tracewatch.Event {
		return in(tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: setl, Visit: visit, Person: psn, Time: dis,
			Amount: amount, FundPaid: fund, Admitted: adm, Discharged: dis, Diagnosis: "J18.9"}, tracewatch.SettingInpatient)
	}
	fee := func(sn, visit string, when time.Time, amount tracewatch.Fen) tracewatch.Event {
		return in(tracewatch.Event{Kind: tracewatch.EventFeeLine, FeeLine: sn, Visit: visit, Person: "P1", Time: when, DrugCode: "001102000010000",
			Amount: amount, Qty: tracewatch.QtyScale}, tracewatch.SettingInpatient)
	}
	out := func(setl, psn string, when time.Time, amount, fund tracewatch.Fen) tracewatch.Event {
		return in(tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: setl, Visit: "V" + setl, Person: psn, Time: when,
			Amount: amount, FundPaid: fund}, tracewatch.SettingOutpatient)
	}
	var msgs []tracewatch.MessageRecord
	var evs []tracewatch.Event
	add := func(id, infno, inst string, sent time.Time, e ...tracewatch.Event) {
		for i := range e {
			e[i].Sent = sent
		}
		m, x := msg(id, infno, inst, e...)
		msgs, evs = append(msgs, m...), append(evs, x...)
	}
	adm, dis := at(2, 10, 0), at(8, 9, 0)
	// Fee lines: two on 03-02, one on 03-04 at 23:30 Beijing (still 03-04), one timed at
	// its envelope's inf_time (undated).
	add("F1", "2301", hosp, dis, fee("F1", "MD1", at(2, 8, 0), 4000), fee("F2", "MD1", at(2, 9, 0), 1500),
		fee("F3", "MD1", at(4, 23, 30), 4000), fee("F4", "MD1", dis, 1200))
	add("S1", "2304", hosp, dis, stay("S1", "MD1", "P1", adm, dis, 90000, 63000))
	add("S2", "2304", hosp, at(20, 9, 0), stay("S2", "MD2", "P2", at(12, 10, 0), at(20, 9, 0), 50000, 35000)) // no fee lines
	add("S3", "2304", hosp, at(25, 9, 0), stay("S3", "MD3", "P1", at(22, 10, 0), at(25, 9, 0), 30000, 21000))
	add("C3", "2305", hosp, at(25, 10, 0), in(tracewatch.Event{Kind: tracewatch.EventSettlementCancel, Settlement: "S3", Visit: "MD3", Person: "P1", Time: at(25, 10, 0)}, tracewatch.SettingInpatient))
	add("O1", "2207", instP, at(5, 10, 0), out("O1", "P1", at(5, 10, 0), 1250, 750)) // elsewhere, inside
	add("O2", "2207", hosp, at(6, 10, 0), out("O2", "P1", at(6, 10, 0), 3000, 2000)) // own hospital, inside
	add("O3", "2207", instQ, at(2, 9, 0), out("O3", "P1", at(2, 9, 0), 800, 500))    // before the admission
	add("O4", "2207", instQ, at(5, 11, 0), out("O4", "P9", at(5, 11, 0), 800, 500))  // another person
	add("O5", "2207", instQ, at(6, 11, 0), out("O5", "P1", at(6, 11, 0), 800, 500))  // cancelled
	add("X5", "2208", instQ, at(6, 12, 0), in(tracewatch.Event{Kind: tracewatch.EventSettlementCancel, Settlement: "O5", Person: "P1", Time: at(6, 12, 0)}, tracewatch.SettingOutpatient))
	sl := sale(7, 15, "R7", "S7", codeA) // a 3505-only settlement, inside
	add("M7", "3505", instQ, at(7, 15, 0), sl)
	_, err := s.Commit(ctx, &tracewatch.Batch{Messages: msgs, Events: evs})
	must(t, err)

	var got []facts.StayCare
	must(t, src.StayCares(ctx, facts.StayQuery{Window: tracewatch.Window{From: at(1, 0, 0), To: at(31, 0, 0)}}, func(st facts.StayCare) error {
		got = append(got, st)
		return nil
	}))
	day := func(d int) time.Time { return time.Date(2025, 3, d, 0, 0, 0, 0, cst) }
	if len(got) != 2 {
		t.Fatalf("StayCares: %d stays, want 2 (S1, S2; S3 cancelled): %+v", len(got), got)
	}
	a := got[0]
	for i := range a.Days {
		a.Days[i].Day = a.Days[i].Day.In(cst)
	}
	for i := range a.During {
		a.During[i].Time = a.During[i].Time.In(cst)
	}
	if a.Settlement != "S1" || a.Person != "P1" || a.Visit != "MD1" || a.Amount != 90000 || a.FundPaid != 63000 || !a.Admitted.Equal(adm) || !a.Discharged.Equal(dis) {
		t.Errorf("S1 = %+v", a)
	}
	if a.Lines != 4 || a.Undated != 1 || a.LineAmount != 10700 {
		t.Errorf("S1 lines %d undated %d amount %d, want 4, 1, 10700", a.Lines, a.Undated, a.LineAmount)
	}
	wantDays := []facts.CareDay{{Day: day(2), Lines: 2, Amount: 5500}, {Day: day(4), Lines: 1, Amount: 4000}}
	if !reflect.DeepEqual(a.Days, wantDays) {
		t.Errorf("S1 days = %+v, want %+v", a.Days, wantDays)
	}
	var during []string
	for _, x := range a.During {
		during = append(during, x.Institution+"/"+x.Settlement)
	}
	wantDuring := []string{instP + "/O1", hosp + "/O2", instQ + "/S7"}
	if !reflect.DeepEqual(during, wantDuring) {
		t.Errorf("S1 during = %v, want %v", during, wantDuring)
	}
	if len(a.During) == 3 && (a.During[0].Amount != 1250 || a.During[0].FundPaid != 750 || a.During[0].SalesOnly || !a.During[2].SalesOnly || !a.During[0].Time.Equal(at(5, 10, 0))) {
		t.Errorf("S1 during = %+v", a.During)
	}
	if b := got[1]; b.Settlement != "S2" || b.Lines != 0 || len(b.Days) != 0 || len(b.During) != 0 {
		t.Errorf("S2 = %+v, want no lines and no settlements", b)
	}
}
