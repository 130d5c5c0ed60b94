// Package storetest is the conformance suite every tracewatch.Store passes: the
// embedded DuckDB store now, the PostgreSQL store later. A store's test calls Run with a
// function that opens a fresh store in a directory (and can reopen the same one).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// Opener opens the store kept in dir (a fresh directory gives an empty store).
type Opener func(t *testing.T, dir string) tracewatch.Store

// FailureInjector is what a store's test build offers so that the suite can check dead
// letters: every batch holding a message with msgid fails to apply from then on (for
// this store value; a reopened store has no injected failures).
type FailureInjector interface {
	FailApplyOf(msgid string)
}

var cst = tracewatch.Beijing

func at(day, hour, minute int) time.Time {
	return time.Date(2025, 3, day, hour, minute, 0, 0, cst)
}

// Keys used throughout: two NMPA codes, a carton, and a GS1 code (dictionary id).
const (
	codeA  = "83857930000879766660"
	codeB  = "83857930000879766677"
	carton = "83857940000000012345"
	gs1Key = "(01)06904879000120(21)ABC123"
	drugX  = "XA11DAW036A001010104127"
	instP  = "P36010200001"
	instQ  = "P36010200002"
)

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"Reference", testReference},
		{"CommitAndReplay", testCommitAndReplay},
		{"Ledger", testLedger},
		{"RebuildMatchesIncremental", testRebuild},
		{"ArrivalOrder", testArrivalOrder},
		{"Timeline", testTimeline},
		{"Quarantine", testQuarantine},
		{"InstitutionKeys", testKeys},
		{"Reopen", testReopen},
		{"Clues", testClues},
		{"HostileText", testHostileText},
		{"PayloadOnce", testPayloadOnce},
		{"MsgIDPerInstitution", testMsgIDPerInstitution},
		{"DeadLetter", testDeadLetter},
		{"BatchReuse", testBatchReuse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, s tracewatch.Store)
	}{
		{"UnknownLevel", testUnknownLevel},
		{"PackOrders", testPackOrders},
		{"PackOrdersMove", testPackOrdersMove},
		{"Workflow", testWorkflow},
		{"DrugLimitsEmpty", testDrugLimitsEmpty}, {"DrugLimitsRoundTrip", testDrugLimitsRoundTrip}, {"DrugLimitsReload", testDrugLimitsReload},
		{"ResoldHistories", testResoldHistories},
		{"StayCares", testStayCares},
		{"TravelSettlements", testTravelSettlements},
		{"DrugLimitsPrice", testDrugLimitsPrice},
		{"UnsourcedTally", testUnsourcedTally},
		{"InsuredLinesModes", testInsuredLinesModes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, fresh(t, open)) })
	}
}

// factReader returns s's fact reads (facts.Reader), or skips the test when s has none.
func factReader(t *testing.T, s tracewatch.Store) facts.Reader {
	t.Helper()
	r, ok := s.(facts.Reader)
	if !ok {
		t.Skip("the store implements no fact reads (facts.Reader)")
	}
	return r
}

func fresh(t *testing.T, open Opener) tracewatch.Store {
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func loadReference(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	must(t, s.UpsertRegions(ctx, []tracewatch.RegionInfo{{Code: "360000", Name: "江西省"}, {Code: "360100", Name: "南昌市", Parent: "360000"}}))
	must(t, s.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: instP, Name: "药店甲", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: instQ, Name: "药店乙", Type: tracewatch.InstitutionPharmacy, Region: "360103",
			Agreements: []tracewatch.Agreement{{Status: tracewatch.AgreementNormal, From: at(1, 0, 0)}, {Status: tracewatch.AgreementSuspended, From: at(10, 0, 0), To: at(20, 0, 0)}}},
	}))
	must(t, s.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drugX, Name: "维生素B1片", Spec: "10mg*100片", PackContent: 100, Price: 350, Reimbursable: true}}))
	must(t, s.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: "8385793", DrugCode: drugX, PackLevel: 1}, {ProductID: "8385794", DrugCode: drugX, PackLevel: 3}}))
	must(t, s.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: carton, Child: codeA}, {Parent: carton, Child: codeB}, {Parent: carton, Child: codeA}}))
}

func testReference(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	loadReference(t, s)
	in, err := s.Institution(ctx, instQ)
	must(t, err)
	if in.Name != "药店乙" || in.Type != tracewatch.InstitutionPharmacy || in.Region != "360103" || len(in.Agreements) != 2 {
		t.Errorf("Institution = %+v", in)
	}
	if st := in.AgreementAt(at(15, 0, 0)); st != tracewatch.AgreementSuspended {
		t.Errorf("agreement on the 15th = %s, want suspended", st)
	}
	// Re-loading upserts; the last row of a key wins.
	must(t, s.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: instP, Name: "旧名", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: instP, Name: "药店甲（新）", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
	}))
	in, err = s.Institution(ctx, instP)
	must(t, err)
	if in.Name != "药店甲（新）" {
		t.Errorf("after upsert Name = %q", in.Name)
	}
	if _, err := s.Institution(ctx, "P00000000000"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("missing institution: %v, want not found", err)
	}
	d, err := s.Drug(ctx, drugX)
	must(t, err)
	if d.PackContent != 100 || d.Price != 350 || !d.Reimbursable {
		t.Errorf("Drug = %+v", d)
	}
	maps, err := s.CodeMappings(ctx)
	must(t, err)
	if maps["8385794"].PackLevel != 3 || maps["8385793"].DrugCode != drugX {
		t.Errorf("CodeMappings = %v", maps)
	}
	packs, err := s.DrugPackContents(ctx)
	must(t, err)
	if packs[drugX] != 100 {
		t.Errorf("DrugPackContents = %v", packs)
	}
	must(t, s.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: gs1Key, Child: "(01)06904879000120(21)C1"}}))
	kids, err := s.PackageChildren(ctx, []string{carton, gs1Key, "83857930000000000000"})
	must(t, err)
	sort.Strings(kids[carton])
	if !reflect.DeepEqual(kids[carton], []string{codeA, codeB}) || !reflect.DeepEqual(kids[gs1Key], []string{"(01)06904879000120(21)C1"}) || len(kids) != 2 {
		t.Errorf("PackageChildren = %v", kids)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Tables["institutions"] != 2 || st.Tables["packages"] != 3 || st.Tables["drugs"] != 1 {
		t.Errorf("Stats = %v", st.Tables)
	}
	// A pack lies in one parent: loading a child under another parent moves it.
	must(t, s.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: "83857940000000099999", Child: codeB}}))
	kids, err = s.PackageChildren(ctx, []string{carton, "83857940000000099999"})
	must(t, err)
	if !reflect.DeepEqual(kids[carton], []string{codeA}) || !reflect.DeepEqual(kids["83857940000000099999"], []string{codeB}) {
		t.Errorf("after moving %s: PackageChildren = %v", codeB, kids)
	}
	must(t, s.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: carton, Child: codeB}}))
	st, err = s.Stats(ctx)
	must(t, err)
	if st.Tables["packages"] != 3 {
		t.Errorf("after moving a child back: %d package links, want 3", st.Tables["packages"])
	}
}

// msg builds a message with its events; every event gets the message's ids.
func msg(msgid, infno, inst string, evs ...tracewatch.Event) ([]tracewatch.MessageRecord, []tracewatch.Event) {
	for i := range evs {
		evs[i].MsgID, evs[i].Infno, evs[i].Institution = msgid, infno, inst
		if evs[i].Line == 0 {
			evs[i].Line = i + 1
		}
	}
	return []tracewatch.MessageRecord{{MsgID: msgid, Infno: infno, Institution: inst, Source: "test", Received: at(1, 0, 0),
		Accepted: len(evs), Response: []byte(`{"infcode":"0","inf_refmsgid":"` + msgid + `"}`)}}, evs
}

func commit(t *testing.T, s tracewatch.Store, msgs []tracewatch.MessageRecord, evs []tracewatch.Event) tracewatch.CommitResult {
	t.Helper()
	r, err := s.Commit(context.Background(), &tracewatch.Batch{Messages: msgs, Events: evs})
	must(t, err)
	return r
}

func codes(keys ...string) []tracewatch.EventCode {
	var out []tracewatch.EventCode
	for _, k := range keys {
		out = append(out, tracewatch.EventCode{Raw: k, Key: k, Kind: "nmpa20", ProductID: k[:7], DrugCode: drugX, Level: 1})
	}
	return out
}

func purchase(day int, keys ...string) tracewatch.Event {
	return tracewatch.Event{Kind: tracewatch.EventPurchase, DrugCode: drugX, Qty: tracewatch.Qty(len(keys)) * tracewatch.QtyScale, Time: at(day, 9, 0), BatchNo: "B1", Codes: codes(keys...)}
}

func sale(day, hour int, receipt, setl string, keys ...string) tracewatch.Event {
	return tracewatch.Event{Kind: tracewatch.EventSale, DrugCode: drugX, Qty: tracewatch.QtyScale, Time: at(day, hour, 0), Receipt: receipt, Settlement: setl,
		SettleType: "1", Person: "P1", CertnoMasked: "3601**********1234", Codes: codes(keys...)}
}

func testCommitAndReplay(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	loadReference(t, s)
	m, e := msg("M1", "3503", instP, purchase(1, codeA, codeB))
	r := commit(t, s, m, e)
	if r.Events != 1 || r.Codes != 2 || len(r.Replayed) != 0 {
		t.Errorf("first commit = %+v", r)
	}
	before, err := s.Stats(ctx)
	must(t, err)
	// The same msgid again, with other content: the first answer, nothing changed.
	m2, e2 := msg("M1", "3503", instP, purchase(2, codeA))
	m2[0].Response = []byte(`{"infcode":"0","other":true}`)
	r = commit(t, s, m2, e2)
	m1 := tracewatch.MessageKey{Institution: instP, MsgID: "M1"}
	if string(r.Replayed[m1]) != `{"infcode":"0","inf_refmsgid":"M1"}` || r.Events != 0 {
		t.Errorf("replay = %+v (%s)", r, r.Replayed[m1])
	}
	after, err := s.Stats(ctx)
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("replay changed the store: %v → %v", before.Tables, after.Tables)
	}
	got, err := s.Message(ctx, instP, "M1")
	must(t, err)
	if got.Infno != "3503" || got.Accepted != 1 || string(got.Response) != `{"infcode":"0","inf_refmsgid":"M1"}` {
		t.Errorf("Message = %+v", got)
	}
	if _, err := s.Message(ctx, instP, "nope"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("Message(nope) = %v", err)
	}
	// One batch holding the same msgid twice stores it once.
	ma, ea := msg("M2", "3505", instP, sale(3, 10, "R1", "", codeA))
	mb, eb := msg("M2", "3505", instP, sale(3, 10, "R1", "", codeA))
	r = commit(t, s, append(ma, mb...), append(ea, eb...))
	if r.Events != 1 || len(r.Replayed) != 1 {
		t.Errorf("duplicate within a batch = %+v", r)
	}
	// Concurrent commits are all durable and each answered.
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func(i int) {
			m, e := msg(fmt.Sprintf("C%02d", i), "3505", instQ, sale(4, 10, fmt.Sprintf("RC%d", i), "", fmt.Sprintf("838579300%011d", i)))
			_, err := s.Commit(ctx, &tracewatch.Batch{Messages: m, Events: e})
			errs <- err
		}(i)
	}
	for i := 0; i < 20; i++ {
		must(t, <-errs)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Tables["messages"] != 22 || st.Tables["sale_lines"] != 21 {
		t.Errorf("after concurrent commits: %v", st.Tables)
	}
}

func ledger(t *testing.T, s tracewatch.Store, key string) tracewatch.LedgerEntry {
	t.Helper()
	l, err := s.Ledger(context.Background(), key)
	must(t, err)
	return l
}

// scenario stores a small history exercising every ledger rule.
func scenario(t *testing.T, s tracewatch.Store) {
	loadReference(t, s)
	steps := []struct {
		msgid, infno, inst string
		ev                 tracewatch.Event
	}{
		{"S1", "3503", instP, purchase(1, codeA, codeB)},
		// codeA: sold with settlement S100, reported by 3505 and again by 2207: one sale.
		{"S2", "3505", instP, sale(2, 10, "R1", "S100", codeA)},
		{"S3", "2207", instP, tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: "S100", Time: at(2, 10, 1), Codes: codes(codeA)}},
		// codeA sold again at another pharmacy: two sales, first seller P.
		{"S4", "3505", instQ, sale(5, 11, "R9", "", codeA)},
		// codeB: double scan on one receipt counts once; then returned; then resold.
		{"S5", "3505", instP, sale(3, 10, "R2", "", codeB, codeB)},
		{"S6", "3506", instP, tracewatch.Event{Kind: tracewatch.EventSaleReturn, Qty: tracewatch.QtyScale, Time: at(3, 12, 0), Codes: codes(codeB)}},
		{"S7", "3505", instP, sale(4, 10, "R3", "", codeB)},
		// The carton: sold in three split-pack parts of 30 units (of 100).
		{"S8", "3505", instP, tracewatch.Event{Kind: tracewatch.EventSale, DrugCode: drugX, SplitPack: true, Qty: 30 * tracewatch.QtyScale, Time: at(6, 9, 0), Receipt: "R4", Codes: codes(carton)}},
		{"S9", "3505", instP, tracewatch.Event{Kind: tracewatch.EventSale, DrugCode: drugX, SplitPack: true, Qty: 30 * tracewatch.QtyScale, Time: at(6, 10, 0), Receipt: "R5", Codes: codes(carton)}},
		{"S10", "3505", instP, tracewatch.Event{Kind: tracewatch.EventSale, DrugCode: drugX, SplitPack: true, Qty: 30 * tracewatch.QtyScale, Time: at(6, 11, 0), Receipt: "R6", Codes: codes(carton)}},
		// The GS1 code: sold with settlement S200, then the settlement is cancelled.
		{"S11", "3505", instQ, sale(7, 9, "R7", "S200", gs1Key)},
		{"S12", "2208", instQ, tracewatch.Event{Kind: tracewatch.EventSettlementCancel, Settlement: "S200", Time: at(7, 10, 0)}},
		// The carton's last 10 units, settled first (a 2207 split line carries no
		// quantity), then reported by the 3505 of the same settlement: one sale of 10.
		{"S13", "2207", instP, tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: "S300", SplitPack: true, Time: at(8, 9, 0), Codes: codes(carton)}},
		{"S14", "3505", instP, tracewatch.Event{Kind: tracewatch.EventSale, DrugCode: drugX, SplitPack: true, Qty: 10 * tracewatch.QtyScale,
			Time: at(8, 9, 1), Receipt: "R8", Settlement: "S300", SettleType: "1", Codes: codes(carton)}},
	}
	for _, st := range steps {
		m, e := msg(st.msgid, st.infno, st.inst, st.ev)
		commit(t, s, m, e)
	}
}

func testLedger(t *testing.T, open Opener) {
	s := fresh(t, open)
	scenario(t, s)
	a := ledger(t, s, codeA)
	if a.Sales != 2 || a.SoldWhole != 2 || a.FirstSeller != instP || !a.FirstSale.Equal(at(2, 10, 0)) || !a.LastSale.Equal(at(5, 11, 0)) || a.Received != 1 || a.PackContent != 100 {
		t.Errorf("codeA ledger = %+v", a)
	}
	b := ledger(t, s, codeB)
	if b.Sales != 2 || b.Returns != 1 || b.SoldWhole != 1 || b.SoldNet() != 1 {
		t.Errorf("codeB ledger = %+v", b)
	}
	c := ledger(t, s, carton)
	if c.Sales != 4 || c.Returns != 0 || c.SoldWhole != 0 || c.SoldSplit != 100*tracewatch.QtyScale || c.SoldNet() != 1 {
		t.Errorf("carton ledger = %+v (net %v)", c, c.SoldNet())
	}
	g := ledger(t, s, gs1Key)
	if g.Sales != 1 || g.Returns != 1 || g.SoldWhole != 0 {
		t.Errorf("GS1 ledger = %+v", g)
	}
	if _, err := s.Ledger(context.Background(), "83857930000000099999"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("unknown code: %v", err)
	}
}

func testRebuild(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	scenario(t, s)
	keys := []string{codeA, codeB, carton, gs1Key}
	var before []tracewatch.LedgerEntry
	for _, k := range keys {
		before = append(before, ledger(t, s, k))
	}
	n, err := s.RebuildLedger(ctx)
	must(t, err)
	if n.Codes != 4 || n.Changed != 0 {
		t.Errorf("RebuildLedger = %d codes, %d changed, want 4 and 0", n.Codes, n.Changed)
	}
	for i, k := range keys {
		if got := ledger(t, s, k); !reflect.DeepEqual(got, before[i]) {
			t.Errorf("%s: rebuilt %+v, incremental %+v", k, got, before[i])
		}
	}
}

func testTimeline(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	scenario(t, s)
	tl, err := s.Timeline(ctx, codeA)
	must(t, err)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, string(e.Kind)+"@"+e.Institution)
	}
	want := []string{"purchase@" + instP, "sale@" + instP, "settlement@" + instP, "sale@" + instQ}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("timeline = %v, want %v", kinds, want)
	}
	if tl[1].Receipt != "R1" || tl[1].Settlement != "S100" || tl[1].CertnoMasked != "3601**********1234" || tl[1].Code.Key != codeA {
		t.Errorf("sale entry = %+v", tl[1])
	}
	tl, err = s.Timeline(ctx, "83857930000000099999")
	if err != nil || len(tl) != 0 {
		t.Errorf("unknown code timeline = %v, %v", tl, err)
	}
}

func testQuarantine(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	m, _ := msg("Q1", "3505", instP)
	m[0].Accepted, m[0].Rejected = 0, 1
	q := []tracewatch.QuarantineRow{{MsgID: "Q1", Infno: "3505", Institution: instP, Source: "http", Row: 1, Field: "rtal_docno", Reason: "required", Payload: []byte(`{"infno":"3505"}`), Received: at(1, 0, 0)}}
	_, err := s.Commit(ctx, &tracewatch.Batch{Messages: m, Quarantine: q})
	must(t, err)
	// Replaying the message adds no second quarantine row.
	_, err = s.Commit(ctx, &tracewatch.Batch{Messages: m, Quarantine: q})
	must(t, err)
	q2 := q[0]
	q2.MsgID, q2.Institution = "", instQ
	_, err = s.Commit(ctx, &tracewatch.Batch{Quarantine: []tracewatch.QuarantineRow{q2}})
	must(t, err)
	// Rows whose message record is not in the batch are kept, not dropped.
	q3 := q[0]
	q3.MsgID, q3.Reason = "Q-ORPHAN", "orphan"
	_, err = s.Commit(ctx, &tracewatch.Batch{Quarantine: []tracewatch.QuarantineRow{q3}})
	must(t, err)
	if orphan, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{MsgID: "Q-ORPHAN"}); err != nil || len(orphan) != 1 {
		t.Errorf("a quarantine row without its message in the batch: %+v, %v", orphan, err)
	}
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{Institution: ""})
	must(t, err)
	rows = slices.DeleteFunc(rows, func(r tracewatch.QuarantineRow) bool { return r.MsgID == "Q-ORPHAN" })
	if len(rows) != 2 || rows[0].Field != "rtal_docno" || string(rows[0].Payload) != `{"infno":"3505"}` || rows[0].Resubmitted {
		t.Fatalf("Quarantine = %+v", rows)
	}
	byMsg, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{MsgID: "Q1"})
	must(t, err)
	if len(byMsg) != 1 || byMsg[0].MsgID != "Q1" {
		t.Errorf("by msgid = %+v", byMsg)
	}
	rows, err = s.Quarantine(ctx, tracewatch.QuarantineFilter{Institution: instQ})
	must(t, err)
	if len(rows) != 1 {
		t.Errorf("filtered = %d rows", len(rows))
	}
	must(t, s.MarkResubmitted(ctx, []int64{rows[0].ID}))
	r, err := s.QuarantineRow(ctx, rows[0].ID)
	must(t, err)
	if !r.Resubmitted {
		t.Error("not marked resubmitted")
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Quarantined != 2 || st.Tables["quarantine"] != 3 { // with the orphan row
		t.Errorf("Stats quarantined = %d of %d", st.Quarantined, st.Tables["quarantine"])
	}
}

func testKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	k := tracewatch.InstitutionKey{PaasID: "pid1", Institution: instP, SecretEnc: []byte{1, 2, 3, 0xff}, Created: at(1, 0, 0)}
	must(t, s.PutInstitutionKey(ctx, k))
	got, err := s.InstitutionKey(ctx, "pid1")
	must(t, err)
	if got.Institution != instP || !reflect.DeepEqual(got.SecretEnc, k.SecretEnc) || !got.Created.Equal(k.Created) || got.Revoked {
		t.Errorf("InstitutionKey = %+v", got)
	}
	if _, err := s.InstitutionKey(ctx, "nope"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("missing key: %v", err)
	}
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	scenario(t, s)
	want := ledger(t, s, gs1Key)
	must(t, s.Close())
	s = open(t, dir)
	defer s.Close()
	if got := ledger(t, s, gs1Key); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen %+v, want %+v", got, want)
	}
	// New codes after reopening get fresh dictionary ids; old ones keep theirs.
	m, e := msg("R1", "3503", instP, purchase(8, "(01)06904879000120(21)NEW1"))
	commit(t, s, m, e)
	if l := ledger(t, s, "(01)06904879000120(21)NEW1"); l.Received != 1 {
		t.Errorf("new GS1 code after reopen = %+v", l)
	}
	if l := ledger(t, s, gs1Key); l.Sales != 1 {
		t.Errorf("old GS1 code after reopen = %+v", l)
	}
	if _, err := s.Message(ctx, instP, "S1"); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("message after reopen: %v", err)
	}
}

// testClues: a clue per fingerprint; storing again keeps id, state and first_seen and
// takes the new severity and evidence; filters.
func testClues(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	t1, t2 := at(1, 9, 0), at(2, 9, 0)
	mk := func(fp string, sev tracewatch.Severity, inst, region string, codes ...string) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: "trace.duplicate@1", Rule: "same_city", Severity: sev,
			Subject: tracewatch.SubjectCode, SubjectID: fp, Region: tracewatch.Region(region), Institution: inst, AmountFen: 100,
			Codes: codes, Persons: []string{"P1"}, Explanation: "说明 " + fp,
			Evidence: []tracewatch.Evidence{{Time: t1, What: "sale", Institution: inst, Ref: "m#1", Note: "销售"}}}
	}
	n, err := s.PutClues(ctx, []tracewatch.Clue{
		mk("a", tracewatch.SeveritySuspicious, "P1", "360102", "K1"),
		mk("b", tracewatch.SeverityNotice, "P2", "430102", "K2"),
	}, t1)
	must(t, err)
	if n != 2 {
		t.Fatalf("first put added %d, want 2", n)
	}
	again := mk("a", tracewatch.SeverityViolation, "P1", "360102", "K1", "K3")
	again.Evidence = append(again.Evidence, tracewatch.Evidence{Time: t2, What: "sale", Institution: "P9", Note: "再次销售"})
	n, err = s.PutClues(ctx, []tracewatch.Clue{again, mk("c", tracewatch.SeverityHighlySuspicious, "P3", "360103", "K4")}, t2)
	must(t, err)
	if n != 1 {
		t.Fatalf("second put added %d, want 1", n)
	}
	all, err := s.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	must(t, err)
	if len(all) != 3 || all[0].Fingerprint != "a" || all[0].ID != 1 || all[2].ID != 3 {
		t.Fatalf("clues = %+v", all)
	}
	a := all[0]
	if a.Severity != tracewatch.SeverityViolation || !a.FirstSeen.Equal(t1) || !a.LastSeen.Equal(t2) || len(a.Evidence) != 2 ||
		!reflect.DeepEqual(a.Codes, []string{"K1", "K3"}) || a.State != tracewatch.ClueNew {
		t.Errorf("updated clue = %+v", a)
	}
	got, err := s.Clue(ctx, a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Errorf("Clue(%d) = %+v, want %+v", a.ID, got, a)
	}
	if _, err := s.Clue(ctx, 99); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("Clue(99) = %v, want not found", err)
	}
	for _, tc := range []struct {
		f    tracewatch.ClueFilter
		want []string
	}{
		{tracewatch.ClueFilter{MinSeverity: tracewatch.SeverityHighlySuspicious, Limit: -1}, []string{"a", "c"}},
		{tracewatch.ClueFilter{Region: "360000", Limit: -1}, []string{"a", "c"}},
		{tracewatch.ClueFilter{Region: "360100", Limit: -1}, []string{"a", "c"}},
		{tracewatch.ClueFilter{Region: "430102", Limit: -1}, []string{"b"}},
		{tracewatch.ClueFilter{Code: "K3", Limit: -1}, []string{"a"}},
		{tracewatch.ClueFilter{Institution: "P2", Limit: -1}, []string{"b"}},
		{tracewatch.ClueFilter{Detector: "trace.duplicate", AfterID: 1, Limit: 1}, []string{"b"}},
		{tracewatch.ClueFilter{Detector: "trace.substitution", Limit: -1}, nil},
	} {
		cs, err := s.Clues(ctx, tc.f)
		must(t, err)
		var fps []string
		for _, c := range cs {
			fps = append(fps, c.Fingerprint)
		}
		if !reflect.DeepEqual(fps, tc.want) {
			t.Errorf("Clues(%+v) = %v, want %v", tc.f, fps, tc.want)
		}
	}
	counts, err := s.ClueCounts(ctx, tracewatch.ClueFilter{})
	must(t, err)
	if len(counts) != 3 || counts[0].Severity != tracewatch.SeverityViolation || counts[0].Clues != 1 || counts[0].Amount != 100 {
		t.Errorf("counts = %+v", counts)
	}
}

// hostile is text a client may send: invalid UTF-8 and NUL bytes.
const hostile = "a\xff\xfe\x00b"

// testHostileText: invalid UTF-8 and NUL in every text field of a message, its event
// and code, and a quarantine row commit, and read back as tracewatch.StoredText (valid
// UTF-8, U+FFFD for each run of bad bytes and each NUL); the payload comes back byte for byte.
// Lookups with the raw text find the stored one.
func testHostileText(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	loadReference(t, s)
	h := func(field string) string { return field + hostile }
	inst, msgid := h("inst"), h("msgid")
	badKey := h("(01)06904879000120(21)") // a dictionary code whose key is hostile
	e := tracewatch.Event{MsgID: msgid, Line: 1, Infno: h("3505"), Kind: tracewatch.EventSale, ChangeType: h("ct"), Institution: inst,
		DrugCode: h("drug"), ItemID: h("item"), ItemName: h("name"), BatchNo: h("bch"), LotNo: h("lot"), Qty: tracewatch.QtyScale,
		Time: at(2, 10, 0), Receipt: h("rtal"), Settlement: h("setl"), Visit: h("mdtrt"), FeeLine: h("fee"), Person: h("psn"),
		CertnoMasked: h("cert"), SettleType: h("st"), Supplier: h("spler"), Prescriber: h("dr"), Pharmacist: h("phar"),
		DataType: h("dt"), Diagnosis: h("diag"),
		Codes: []tracewatch.EventCode{
			{Raw: h("raw"), Key: codeA, Kind: h("kind"), ProductID: h("pid"), Parent: carton, Level: 1, DrugCode: h("cdrug")},
			{Raw: h("raw2"), Key: badKey, Kind: "gs1", Error: h("err")},
		}}
	payload := []byte("{\"infno\":\"3505\",\"x\":\"\xff\xfe\x00\"}")
	m := tracewatch.MessageRecord{MsgID: msgid, Infno: h("3505"), Institution: inst, Source: h("src"), Received: at(2, 10, 0),
		Accepted: 1, Rejected: 1, Response: []byte(h(`{"infcode":"0","err_msg":"`) + `"}`)}
	q := tracewatch.QuarantineRow{MsgID: msgid, Infno: h("3505"), Institution: inst, Source: h("src"), Row: 2, Field: h("field"),
		Reason: h("reason"), Payload: payload, Received: at(2, 10, 0)}
	r, err := s.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m}, Events: []tracewatch.Event{e}, Quarantine: []tracewatch.QuarantineRow{q}})
	must(t, err)
	if r.Events != 1 || r.Codes != 2 || len(r.DeadLettered) != 0 {
		t.Fatalf("Commit = %+v", r)
	}
	st := tracewatch.StoredText
	if got, want := st(hostile), "a\uFFFD\uFFFDb"; got != want {
		t.Fatalf("StoredText(%q) = %q, want %q", hostile, got, want)
	}
	// The message, found by the raw and by the stored key.
	for _, k := range [][2]string{{inst, msgid}, {st(inst), st(msgid)}} {
		got, err := s.Message(ctx, k[0], k[1])
		must(t, err)
		want := m
		want.MsgID, want.Infno, want.Institution, want.Source, want.Response = st(m.MsgID), st(m.Infno), st(m.Institution), st(m.Source), []byte(st(string(m.Response)))
		got.Received, want.Received = got.Received.UTC(), want.Received.UTC()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Message(%q, %q) = %+v, want %+v", k[0], k[1], got, want)
		}
	}
	// Replaying it (raw or stored text) answers its first answer.
	r, err = s.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m}})
	must(t, err)
	if string(r.Replayed[tracewatch.MessageKey{Institution: st(inst), MsgID: st(msgid)}]) != st(string(m.Response)) {
		t.Errorf("replay = %+v", r)
	}
	// The event, as the timeline reads it.
	tl, err := s.Timeline(ctx, codeA)
	must(t, err)
	if len(tl) != 1 {
		t.Fatalf("Timeline(codeA) = %d entries", len(tl))
	}
	g := tl[0]
	for _, f := range []struct{ name, got, sent string }{
		{"MsgID", g.MsgID, e.MsgID}, {"Infno", g.Infno, e.Infno}, {"ChangeType", g.ChangeType, e.ChangeType},
		{"Institution", g.Institution, e.Institution}, {"DrugCode", g.DrugCode, e.DrugCode}, {"ItemName", g.ItemName, e.ItemName},
		{"BatchNo", g.BatchNo, e.BatchNo}, {"LotNo", g.LotNo, e.LotNo}, {"Receipt", g.Receipt, e.Receipt},
		{"Settlement", g.Settlement, e.Settlement}, {"Visit", g.Visit, e.Visit}, {"FeeLine", g.FeeLine, e.FeeLine},
		{"Person", g.Person, e.Person}, {"CertnoMasked", g.CertnoMasked, e.CertnoMasked}, {"SettleType", g.SettleType, e.SettleType},
		{"Code.Raw", g.Code.Raw, e.Codes[0].Raw}, {"Code.Kind", g.Code.Kind, e.Codes[0].Kind},
		{"Code.ProductID", g.Code.ProductID, e.Codes[0].ProductID}, {"Code.DrugCode", g.Code.DrugCode, e.Codes[0].DrugCode},
	} {
		if f.got != st(f.sent) {
			t.Errorf("timeline %s = %q, want %q", f.name, f.got, st(f.sent))
		}
	}
	// A code whose key is hostile: found by the raw key and by the stored one.
	for _, k := range []string{badKey, st(badKey)} {
		tl, err := s.Timeline(ctx, k)
		must(t, err)
		if len(tl) != 1 || tl[0].Code.Raw != st(e.Codes[1].Raw) || tl[0].Code.Key != st(badKey) {
			t.Errorf("Timeline(%q) = %+v", k, tl)
		}
	}
	// The quarantine row: texts stored, payload byte for byte; filters with raw text work.
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{MsgID: msgid, Institution: inst})
	must(t, err)
	if len(rows) != 1 {
		t.Fatalf("Quarantine = %+v", rows)
	}
	gq := rows[0]
	wq := q
	wq.ID, wq.MsgID, wq.Infno, wq.Institution, wq.Source, wq.Field, wq.Reason = gq.ID, st(q.MsgID), st(q.Infno), st(q.Institution), st(q.Source), st(q.Field), st(q.Reason)
	gq.Received, wq.Received = gq.Received.UTC(), wq.Received.UTC()
	if !reflect.DeepEqual(gq, wq) {
		t.Errorf("quarantine row = %+v\nwant %+v", gq, wq)
	}
	// A quarantine row of raw bytes only (an unreadable line).
	line := []byte("\xff\xfe x")
	_, err = s.Commit(ctx, &tracewatch.Batch{Quarantine: []tracewatch.QuarantineRow{{Source: "file:" + string(line), Reason: "invalid character 'ÿ' looking for beginning of value", Payload: line, Received: at(2, 0, 0)}}})
	must(t, err)
	rows, err = s.Quarantine(ctx, tracewatch.QuarantineFilter{})
	must(t, err)
	if len(rows) != 2 || string(rows[1].Payload) != string(line) || rows[1].Source != st("file:"+string(line)) {
		t.Errorf("raw line in the quarantine = %+v", rows)
	}
	// Reference data with hostile names stores too.
	must(t, s.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: "P36010200009", Name: h("name"), Type: tracewatch.InstitutionPharmacy, Region: "360102"}}))
	in, err := s.Institution(ctx, "P36010200009")
	must(t, err)
	if in.Name != st(h("name")) {
		t.Errorf("institution name = %q", in.Name)
	}
	if _, err := s.Institution(ctx, h("P")); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("Institution(hostile) = %v, want not found", err)
	}
}

// testPayloadOnce: a refused batch message with 240 bad rows stores its payload once,
// and every row still reads it back.
func testPayloadOnce(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	payload := make([]byte, 64<<10)
	for i := range payload {
		payload[i] = byte(i * 7) // not UTF-8, NULs included
	}
	m := tracewatch.MessageRecord{MsgID: "BIG", Infno: "3505A", Institution: instP, Source: "http", Received: at(1, 0, 0), Rejected: 240, Response: []byte(`{"infcode":"0"}`)}
	var q []tracewatch.QuarantineRow
	for i := range 240 {
		p := payload
		if i%2 == 1 {
			p = append([]byte(nil), payload...) // the same content in another slice
		}
		q = append(q, tracewatch.QuarantineRow{MsgID: "BIG", Infno: "3505A", Institution: instP, Source: "http", Row: i + 1, Field: "rtal_docno", Reason: "required", Payload: p, Received: at(1, 0, 0)})
	}
	_, err := s.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m}, Quarantine: q})
	must(t, err)
	// Another message refused with the same bytes shares them too.
	m2 := m
	m2.MsgID = "BIG2"
	q2 := q[0]
	q2.MsgID = "BIG2"
	_, err = s.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m2}, Quarantine: []tracewatch.QuarantineRow{q2}})
	must(t, err)
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Tables["quarantine"] != 241 || st.Tables["quarantine_payloads"] != 1 {
		t.Errorf("quarantine rows %d, payloads %d; want 241 and 1", st.Tables["quarantine"], st.Tables["quarantine_payloads"])
	}
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{MsgID: "BIG", Limit: 1000})
	must(t, err)
	if len(rows) != 240 {
		t.Fatalf("%d rows, want 240", len(rows))
	}
	for _, r := range rows {
		if string(r.Payload) != string(payload) {
			t.Fatalf("row %d: payload of %d bytes differs", r.Row, len(r.Payload))
		}
	}
	one, err := s.QuarantineRow(ctx, rows[17].ID)
	must(t, err)
	if string(one.Payload) != string(payload) || one.Row != 18 {
		t.Errorf("QuarantineRow: row %d, %d bytes", one.Row, len(one.Payload))
	}
}

// testMsgIDPerInstitution: a msgid is unique per institution: two institutions using
// the same msgid are both stored, each replay answers its own first answer, and neither
// can take the other's.
func testMsgIDPerInstitution(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	loadReference(t, s)
	mp, ep := msg("SAME", "3505", instP, sale(2, 10, "RP", "", codeA))
	mq, eq := msg("SAME", "3505", instQ, sale(2, 11, "RQ", "", codeB))
	mq[0].Response = []byte(`{"infcode":"0","inf_refmsgid":"SAME","q":true}`)
	// Q's first (B could not be locked out by A claiming its msgid first), then P's.
	if r := commit(t, s, mq, eq); len(r.Replayed) != 0 || r.Events != 1 {
		t.Errorf("Q's SAME = %+v", r)
	}
	if r := commit(t, s, mp, ep); len(r.Replayed) != 0 || r.Events != 1 {
		t.Errorf("P's SAME = %+v", r)
	}
	for _, c := range []struct {
		inst, resp string
	}{{instP, string(mp[0].Response)}, {instQ, string(mq[0].Response)}} {
		got, err := s.Message(ctx, c.inst, "SAME")
		must(t, err)
		if got.Institution != c.inst || string(got.Response) != c.resp {
			t.Errorf("Message(%s, SAME) = %+v", c.inst, got)
		}
	}
	// Replays, one batch holding both: each gets its own first answer.
	mp2, ep2 := msg("SAME", "3505", instP, sale(3, 10, "RP2", "", codeB))
	mq2, eq2 := msg("SAME", "3505", instQ, sale(3, 11, "RQ2", "", codeA))
	r := commit(t, s, append(mp2, mq2...), append(ep2, eq2...))
	want := map[tracewatch.MessageKey][]byte{{Institution: instP, MsgID: "SAME"}: mp[0].Response, {Institution: instQ, MsgID: "SAME"}: mq[0].Response}
	if !reflect.DeepEqual(r.Replayed, want) || r.Events != 0 {
		t.Errorf("replays = %+v, want %s", r, want)
	}
	if _, err := s.Message(ctx, "P36010200003", "SAME"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("a third institution's SAME: %v, want not found", err)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Tables["messages"] != 2 || st.Tables["sale_lines"] != 2 {
		t.Errorf("tables = %v", st.Tables)
	}
	for _, k := range []string{codeA, codeB} {
		if l := ledger(t, s, k); l.Sales != 1 {
			t.Errorf("ledger %s = %+v", k, l)
		}
	}
	// Lines without a receipt or settlement are sales of their message line: the same
	// msgid and line at two institutions are two sales (sale ids carry the institution),
	// incrementally and after a rebuild.
	const codeN = "83857930000000077777"
	for _, inst := range []string{instP, instQ} {
		m, e := msg("NOREF", "3505", inst, sale(4, 10, "", "", codeN))
		commit(t, s, m, e)
	}
	if l := ledger(t, s, codeN); l.Sales != 2 || l.FirstSeller != instP {
		t.Errorf("two institutions' NOREF line 1: %+v", l)
	}
	if _, err := s.RebuildLedger(ctx); err != nil {
		t.Fatal(err)
	}
	if l := ledger(t, s, codeN); l.Sales != 2 {
		t.Errorf("after a rebuild: %+v", l)
	}
}

// testDeadLetter: a message that cannot be stored is set aside as a dead letter (kept,
// counted, listed in the quarantine with its payload) and does not stop the messages
// after it; dead letters survive a reopen.
func testDeadLetter(t *testing.T, open Opener) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	fi, ok := s.(FailureInjector)
	if !ok {
		s.Close()
		t.Skip("the store offers no failure injection")
	}
	loadReference(t, s)
	fi.FailApplyOf("BAD1")
	fi.FailApplyOf("BAD2")
	raw := []byte("{\"msgid\":\"BAD1\",\"x\":\"\xff\xfe\"}")
	bad, badEv := msg("BAD1", "3505", instP, sale(2, 10, "RB", "", codeB))
	bad[0].Source = "http"
	badQ := []tracewatch.QuarantineRow{{MsgID: "BAD1", Infno: "3505", Institution: instP, Source: "http", Row: 2, Field: "rtal_docno", Reason: "required", Payload: raw, Received: at(1, 0, 0)}}
	r, err := s.Commit(ctx, &tracewatch.Batch{Messages: bad, Events: badEv, Quarantine: badQ})
	must(t, err)
	if len(r.DeadLettered) > 0 && !reflect.DeepEqual(r.DeadLettered, []tracewatch.MessageKey{{Institution: instP, MsgID: "BAD1"}}) {
		t.Errorf("DeadLettered = %v", r.DeadLettered)
	}
	// The next acknowledged commit is readable (its reads wait for it).
	good, goodEv := msg("GOOD1", "3505", instP, sale(2, 11, "RG", "", codeA))
	commit(t, s, good, goodEv)
	if l := ledger(t, s, codeA); l.Sales != 1 {
		t.Errorf("ledger after the dead letter = %+v", l)
	}
	// A batch of three messages, the middle one bad: the other two are stored.
	m1, e1 := msg("G2", "3503", instQ, purchase(3, codeA))
	m2, e2 := msg("BAD2", "3503", instQ, purchase(3, codeB))
	m3, e3 := msg("G3", "3503", instQ, purchase(3, carton))
	r, err = s.Commit(ctx, &tracewatch.Batch{Messages: slices.Concat(m1, m2, m3), Events: slices.Concat(e1, e2, e3)})
	must(t, err)
	if len(r.DeadLettered) > 0 && !reflect.DeepEqual(r.DeadLettered, []tracewatch.MessageKey{{Institution: instQ, MsgID: "BAD2"}}) {
		t.Errorf("DeadLettered = %v", r.DeadLettered)
	}
	check := func(s tracewatch.Store, when string) {
		t.Helper()
		for _, k := range []tracewatch.MessageKey{{Institution: instP, MsgID: "GOOD1"}, {Institution: instQ, MsgID: "G2"}, {Institution: instQ, MsgID: "G3"}} {
			if _, err := s.Message(ctx, k.Institution, k.MsgID); err != nil {
				t.Errorf("%s: %v: %v", when, k, err)
			}
		}
		if l := ledger(t, s, carton); l.Received != 1 {
			t.Errorf("%s: ledger of G3's code = %+v", when, l)
		}
		st, err := s.Stats(ctx)
		must(t, err)
		if st.Tables["messages"] != 3 || st.Tables["events"] != 3 {
			t.Errorf("%s: tables %v, want the 3 good messages only", when, st.Tables)
		}
		n, err := s.DeadLetters(ctx)
		must(t, err)
		if n != 2 {
			t.Errorf("%s: DeadLetters = %d, want 2", when, n)
		}
		rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{})
		must(t, err)
		dead := map[string]tracewatch.QuarantineRow{}
		for _, r := range rows {
			if strings.HasPrefix(r.Reason, "could not be stored: ") {
				dead[r.MsgID] = r
			}
		}
		if d := dead["BAD1"]; d.Institution != instP || d.Infno != "3505" || d.Source != "http" || d.Field != "" || string(d.Payload) != string(raw) {
			t.Errorf("%s: BAD1's dead-letter row = %+v", when, d)
		}
		if d := dead["BAD2"]; d.Institution != instQ || d.Source != "test" || len(d.Payload) != 0 || len(dead) != 2 {
			t.Errorf("%s: dead-letter rows = %+v", when, dead)
		}
	}
	check(s, "open")
	must(t, s.Close())
	s = open(t, dir)
	defer s.Close()
	check(s, "reopened")
	// Not stored, so the same msgid again is new (and now stores).
	r = commit(t, s, bad, badEv)
	if len(r.Replayed) != 0 || r.Events != 1 {
		t.Errorf("BAD1 again after the reopen = %+v", r)
	}
}

// testBatchReuse: once Commit returns, the caller may reuse the batch and its lists (a
// bulk ingest does): what was committed is what is stored.
func testBatchReuse(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	loadReference(t, s)
	m, e := msg("REUSE", "3505", instP, sale(2, 10, "R1", "", codeA))
	b := &tracewatch.Batch{Messages: m, Events: e, Quarantine: []tracewatch.QuarantineRow{{MsgID: "REUSE", Institution: instP, Source: "test", Reason: "r", Received: at(1, 0, 0)}}}
	_, err := s.Commit(ctx, b)
	must(t, err)
	b.Messages[0].MsgID, b.Events[0].MsgID, b.Events[0].Receipt, b.Quarantine[0].MsgID = "OTHER", "OTHER", "R2", "OTHER"
	*b = tracewatch.Batch{}
	got, err := s.Message(ctx, instP, "REUSE")
	must(t, err)
	if got.Accepted != 1 {
		t.Errorf("Message = %+v", got)
	}
	tl, err := s.Timeline(ctx, codeA)
	must(t, err)
	if len(tl) != 1 || tl[0].MsgID != "REUSE" || tl[0].Receipt != "R1" {
		t.Errorf("Timeline = %+v", tl)
	}
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{})
	must(t, err)
	if len(rows) != 1 || rows[0].MsgID != "REUSE" {
		t.Errorf("Quarantine = %+v", rows)
	}
}

// ArrivalMessages is a realistic mix of uploads whose order of arrival varies: sales
// reported by 3505 and 2207 (whole and split packs), a return, a settlement cancelled
// and settled again, a cancel with no sale yet, 3507 withdrawals with and without a
// re-upload (of a sale and of a purchase), a 3507 naming another data type, and sales
// of one code at two institutions at the same second. Every message carries the time it
// was sent (inf_time): that order, not the arrival, decides what a 3507 withdraws.
func ArrivalMessages() []tracewatch.Batch {
	const (
		codeC = "83857930000000000031"
		codeD = "83857930000000000048"
		codeE = "83857930000000000055"
		codeF = "83857930000000000062"
		codeG = "83857930000000000079"
	)
	type step struct {
		msgid, infno, inst string
		sent               time.Time
		evs                []tracewatch.Event
	}
	withBatch := func(e tracewatch.Event, bch string) tracewatch.Event { e.BatchNo = bch; return e }
	settle := func(day, hour, minute int, setl string, split bool, keys ...string) tracewatch.Event {
		return tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: setl, Person: "P1", SplitPack: split,
			Time: at(day, hour, minute), FundPaid: 500, Amount: 700, Codes: codes(keys...)}
	}
	cancel := func(day, hour, minute int, setl string) tracewatch.Event {
		return tracewatch.Event{Kind: tracewatch.EventSettlementCancel, Settlement: setl, Time: at(day, hour, minute)}
	}
	splitSale := func(day, hour int, receipt, setl string, units int, keys ...string) tracewatch.Event {
		e := sale(day, hour, receipt, setl, keys...)
		e.SplitPack, e.Qty = true, tracewatch.Qty(units)*tracewatch.QtyScale
		return e
	}
	deletion := func(bch, dataType string) tracewatch.Event {
		return tracewatch.Event{Kind: tracewatch.EventDeletion, BatchNo: bch, DataType: dataType}
	}
	steps := []step{
		{"P1", "3503", instP, at(1, 9, 5), []tracewatch.Event{purchase(1, codeA, codeB, codeC, codeD, codeG)}},
		{"P2", "3503", instQ, at(1, 9, 6), []tracewatch.Event{purchase(1, codeE, codeG)}},
		// A purchase withdrawn, never uploaded again.
		{"P3", "3503", instQ, at(1, 9, 7), []tracewatch.Event{withBatch(purchase(1, codeF), "BP")}},
		{"P3-DEL", "3507", instQ, at(1, 15, 0), []tracewatch.Event{deletion("BP", "3")}},
		// codeA: 3505 and 2207 of settlement S1 (the 2207 two minutes later), S1 cancelled,
		// then settled again as S3 (3505 and 2207).
		{"A-3505", "3505", instP, at(2, 10, 0), []tracewatch.Event{withBatch(sale(2, 10, "R1", "S1", codeA), "B1")}},
		{"A-2207", "2207", instP, at(2, 10, 2), []tracewatch.Event{settle(2, 10, 2, "S1", false, codeA)}},
		{"A-2208", "2208", instP, at(2, 10, 5), []tracewatch.Event{cancel(2, 10, 5, "S1")}},
		{"A-2207b", "2207", instP, at(2, 10, 7), []tracewatch.Event{settle(2, 10, 7, "S3", false, codeA)}},
		{"A-3505b", "3505", instP, at(2, 10, 8), []tracewatch.Event{withBatch(sale(2, 10, "R1b", "S3", codeA), "B1")}},
		// codeB: sold, returned.
		{"B-3505", "3505", instP, at(3, 10, 0), []tracewatch.Event{withBatch(sale(3, 10, "R2", "", codeB), "B1")}},
		{"B-3506", "3506", instP, at(3, 12, 0), []tracewatch.Event{{Kind: tracewatch.EventSaleReturn, BatchNo: "B1", Qty: tracewatch.QtyScale, Time: at(3, 12, 0), Codes: codes(codeB)}}},
		// codeC: a split line settled first (no quantity), its 3505 brings 30 units.
		{"C-2207", "2207", instP, at(4, 9, 0), []tracewatch.Event{settle(4, 9, 0, "S2", true, codeC)}},
		{"C-3505", "3505", instP, at(4, 9, 1), []tracewatch.Event{withBatch(splitSale(4, 9, "R3", "S2", 30, codeC), "B1")}},
		// codeD: a sale withdrawn by a 3507 of its batch number and uploaded again.
		{"D-3505", "3505", instP, at(5, 10, 0), []tracewatch.Event{withBatch(sale(5, 10, "R4", "", codeD), "B7")}},
		{"D-3507", "3507", instP, at(6, 9, 0), []tracewatch.Event{deletion("B7", "4")}},
		{"D-3505R", "3505", instP, at(6, 9, 1), []tracewatch.Event{withBatch(sale(5, 10, "R4", "", codeD), "B7")}},
		// A 3507 of another data type (库存变更) naming the batch number of the sales and the
		// purchase: they stand.
		{"X-3507", "3507", instP, at(7, 9, 0), []tracewatch.Event{deletion("B1", "2")}},
		// codeE: sold at Q and withdrawn, never uploaded again: received, never sold.
		{"E-3505", "3505", instQ, at(5, 11, 0), []tracewatch.Event{withBatch(sale(5, 11, "R9", "", codeE), "B8")}},
		{"E-3507", "3507", instQ, at(6, 11, 0), []tracewatch.Event{deletion("B8", "4")}},
		// codeG: sold at P and at Q in the same second: the first seller is the smaller code.
		{"G-P", "3505", instP, at(8, 10, 0), []tracewatch.Event{withBatch(sale(8, 10, "R5", "", codeG), "B1")}},
		{"G-Q", "3505", instQ, at(8, 10, 0), []tracewatch.Event{withBatch(sale(8, 10, "R6", "", codeG), "B2")}},
		// A cancel of a settlement whose sale never comes.
		{"Z-2208", "2208", instQ, at(9, 9, 0), []tracewatch.Event{cancel(9, 9, 0, "S9")}},
	}
	out := make([]tracewatch.Batch, len(steps))
	for i, st := range steps {
		for j := range st.evs {
			st.evs[j].Sent = st.sent
		}
		m, e := msg(st.msgid, st.infno, st.inst, st.evs...)
		out[i] = tracewatch.Batch{Messages: m, Events: e}
	}
	return out
}

// arrivalKeys are the codes of ArrivalMessages.
var arrivalKeys = []string{codeA, codeB, "83857930000000000031", "83857930000000000048", "83857930000000000055",
	"83857930000000000062", "83857930000000000079"}

// ArrivalOrder is an order of arrival of ArrivalMessages: indexes into them.
type ArrivalOrder struct {
	Name  string
	Order []int
}

// ArrivalOrders returns the orders the suite commits ArrivalMessages in: as sent,
// reversed (every cancel before its sale, every re-upload before its 3507 and the 3507
// before the row it withdraws) and four deterministic shuffles.
func ArrivalOrders() []ArrivalOrder {
	n := len(ArrivalMessages())
	sent, rev := make([]int, n), make([]int, n)
	for i := range n {
		sent[i], rev[i] = i, n-1-i
	}
	out := []ArrivalOrder{{"as sent", sent}, {"reversed", rev}}
	x := uint32(11) // a linear congruential generator: no seed to forget
	for k := range 4 {
		p := slices.Clone(sent)
		for i := n - 1; i > 0; i-- {
			x = x*1664525 + 1013904223
			j := int(x>>8) % (i + 1)
			p[i], p[j] = p[j], p[i]
		}
		out = append(out, ArrivalOrder{fmt.Sprintf("shuffle %d", k), p})
	}
	return out
}

// CommitInOrder commits ArrivalMessages to s in order, per messages to a commit.
func CommitInOrder(t *testing.T, s tracewatch.Store, order []int, per int) {
	t.Helper()
	for i := 0; i < len(order); i += per {
		var b tracewatch.Batch
		for _, j := range order[i:min(i+per, len(order))] {
			m := ArrivalMessages()[j] // a fresh copy: a store may keep what it is given
			b.Messages = append(b.Messages, m.Messages...)
			b.Events = append(b.Events, m.Events...)
		}
		_, err := s.Commit(context.Background(), &b)
		must(t, err)
	}
}

// LoadReference loads the suite's reference data (regions, two pharmacies, one drug,
// its codemap and package links).
func LoadReference(t *testing.T, s tracewatch.Store) { loadReference(t, s) }

// ledgerState reads the ledger rows of keys (a missing row as its key alone).
func ledgerState(t *testing.T, s tracewatch.Store, keys []string) []tracewatch.LedgerEntry {
	t.Helper()
	out := make([]tracewatch.LedgerEntry, len(keys))
	for i, k := range keys {
		l, err := s.Ledger(context.Background(), k)
		switch {
		case tracewatch.KindOf(err) == tracewatch.KindNotFound:
			out[i] = tracewatch.LedgerEntry{Key: k}
		case err != nil:
			t.Fatal(err)
		default:
			l.FirstSale, l.LastSale = l.FirstSale.UTC(), l.LastSale.UTC()
			out[i] = l
		}
	}
	return out
}

// testArrivalOrder: whatever order the messages arrive in, one by one or several per
// commit, the incremental ledger is the rebuilt one, and the same for every order.
func testArrivalOrder(t *testing.T, open Opener) {
	ctx := context.Background()
	var want []tracewatch.LedgerEntry
	var wantFrom string
	for _, o := range ArrivalOrders() {
		for _, per := range []int{1, 3, len(o.Order)} {
			label := fmt.Sprintf("%s, %d per commit", o.Name, per)
			s := fresh(t, open)
			LoadReference(t, s)
			CommitInOrder(t, s, o.Order, per)
			got := ledgerState(t, s, arrivalKeys)
			if r, err := s.RebuildLedger(ctx); err != nil {
				t.Fatal(err)
			} else if r.Changed != 0 {
				t.Errorf("%s: the rebuild changed %d of %d ledger rows", label, r.Changed, r.Codes)
			}
			rebuilt := ledgerState(t, s, arrivalKeys)
			for i := range got {
				if !reflect.DeepEqual(got[i], rebuilt[i]) {
					t.Errorf("%s: %s incremental %+v, rebuilt %+v", label, arrivalKeys[i], got[i], rebuilt[i])
				}
			}
			if want == nil {
				want, wantFrom = rebuilt, label
				checkArrivalLedger(t, s, want)
				continue
			}
			for i := range rebuilt {
				if !reflect.DeepEqual(rebuilt[i], want[i]) {
					t.Errorf("%s: %s = %+v, but %s gives %+v", label, arrivalKeys[i], rebuilt[i], wantFrom, want[i])
				}
			}
		}
	}
}

// checkArrivalLedger checks what the ledger of arrivalMessages says.
func checkArrivalLedger(t *testing.T, s tracewatch.Store, l []tracewatch.LedgerEntry) {
	t.Helper()
	a, b, c, d, e, f, g := l[0], l[1], l[2], l[3], l[4], l[5], l[6]
	if a.Sales != 2 || a.Returns != 1 || a.SoldWhole != 1 || !a.FirstSale.Equal(at(2, 10, 0)) || !a.LastSale.Equal(at(2, 10, 0)) {
		t.Errorf("codeA (S1 cancelled, settled again as S3) = %+v", a) // S3's 3505 keeps the receipt's time
	}
	if b.Sales != 1 || b.Returns != 1 || b.SoldWhole != 0 || b.Received != 1 {
		t.Errorf("codeB (sold, returned) = %+v", b)
	}
	if c.Sales != 1 || c.SoldSplit != 30*tracewatch.QtyScale || c.PackContent != 100 {
		t.Errorf("codeC (split, 2207 then 3505) = %+v", c)
	}
	if d.Sales != 1 || d.SoldWhole != 1 || d.FirstSeller != instP {
		t.Errorf("codeD (withdrawn, uploaded again) = %+v, want one sale", d)
	}
	if e.Sales != 0 || e.SoldWhole != 0 || e.Received != 1 || e.FirstSeller != "" {
		t.Errorf("codeE (sale withdrawn) = %+v, want received and never sold", e)
	}
	if f != (tracewatch.LedgerEntry{Key: f.Key}) {
		t.Errorf("codeF (purchase withdrawn) = %+v, want no ledger row", f)
	}
	if g.Sales != 2 || g.FirstSeller != instP || g.Received != 2 {
		t.Errorf("codeG (two sellers in one second) = %+v", g)
	}
	// The withdrawn rows stay for audit, marked.
	tl, err := s.Timeline(context.Background(), d.Key)
	must(t, err)
	var marks []string
	for _, x := range tl {
		marks = append(marks, x.MsgID+":"+x.WithdrawnBy)
	}
	slices.Sort(marks)
	if want := []string{"D-3505:D-3507", "D-3505R:", "P1:"}; !reflect.DeepEqual(marks, want) {
		t.Errorf("codeD timeline withdrawals = %v, want %v", marks, want)
	}
}
