// Package storetest is the conformance suite every tracewatch.Store passes: the
// embedded DuckDB store now, the PostgreSQL store later. A store's test calls Run with a
// function that opens a fresh store in a directory (and can reopen the same one).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"tracewatch"
)

// Opener opens the store kept in dir (a fresh directory gives an empty store).
type Opener func(t *testing.T, dir string) tracewatch.Store

var cst = time.FixedZone("CST", 8*3600)

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
		{"Timeline", testTimeline},
		{"Quarantine", testQuarantine},
		{"InstitutionKeys", testKeys},
		{"Reopen", testReopen},
		{"Clues", testClues},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
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
	if string(r.Replayed["M1"]) != `{"infcode":"0","inf_refmsgid":"M1"}` || r.Events != 0 {
		t.Errorf("replay = %+v (%s)", r, r.Replayed["M1"])
	}
	after, err := s.Stats(ctx)
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("replay changed the store: %v → %v", before.Tables, after.Tables)
	}
	got, err := s.Message(ctx, "M1")
	must(t, err)
	if got.Infno != "3503" || got.Accepted != 1 || string(got.Response) != `{"infcode":"0","inf_refmsgid":"M1"}` {
		t.Errorf("Message = %+v", got)
	}
	if _, err := s.Message(ctx, "nope"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
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
	if n != 4 {
		t.Errorf("RebuildLedger = %d codes, want 4", n)
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
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{})
	must(t, err)
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
	if st.Quarantined != 1 || st.Tables["quarantine"] != 2 {
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
	if _, err := s.Message(ctx, "S1"); err != nil && !errors.Is(err, context.Canceled) {
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
