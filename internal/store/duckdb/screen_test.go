package duckdb_test

import (
	"context"
	"math"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
	"tracewatch/internal/tracecode"
)

var cst = time.FixedZone("CST", 8*3600)

// extremeBatch is a small province whose money and quantities lie far past the ingest
// bounds (docs/data-formats.md#field-limits), as a store filled before the bounds existed
// may hold them: a code sold at two pharmacies (a T1 hit), prices and quantities near
// the top of int64, settlements whose fund and total sum past int64 (eight of them for
// one person in a week: a C4 hit), purchases whose quantities sum past int64, a
// stocktake and fee lines.
func extremeBatch(t *testing.T) *tracewatch.Batch {
	t.Helper()
	const (
		drug  = "XA11DAW036A001010104127"
		instA = "P36010200001"
		instB = "P36010200002"
	)
	code := func(raw string) tracewatch.EventCode {
		c, err := tracecode.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return tracewatch.EventCode{Raw: raw, Key: c.Key, Kind: c.Kind.String(), ProductID: c.ProductID, DrugCode: drug, Level: 1}
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, cst)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const (
		hugeFen = tracewatch.Fen(math.MaxInt64/2 + 1)    // sums of two overflow int64
		hugeQty = tracewatch.Qty(9_999_999_999_999_999)  // 999999999999.9999
		bigFen  = tracewatch.Fen(99_999_999_999_999_900) // 999999999999999 yuan
	)
	shared := "83857930000879766660"
	ev := func(msgid, infno string, kind tracewatch.EventKind, inst string, line int) tracewatch.Event {
		return tracewatch.Event{MsgID: msgid, Infno: infno, Kind: kind, Institution: inst, Line: line, DrugCode: drug,
			ItemName: "维生素B1片", BatchNo: "B1", Qty: hugeQty, UnitPrice: bigFen}
	}
	var events []tracewatch.Event
	var msgs []tracewatch.MessageRecord
	add := func(e tracewatch.Event) {
		events = append(events, e)
		if len(msgs) == 0 || msgs[len(msgs)-1].MsgID != e.MsgID {
			msgs = append(msgs, tracewatch.MessageRecord{MsgID: e.MsgID, Infno: e.Infno, Institution: e.Institution, Source: "test",
				Received: e.Time, Accepted: 1, Response: []byte(`{"infcode":"0"}`)})
		} else {
			msgs[len(msgs)-1].Accepted++
		}
	}
	for i, s := range []struct {
		inst, setl, person, when string
	}{{instA, "S1", "P1", "2025-03-01 10:00:00"}, {instB, "S2", "P2", "2025-03-02 10:00:00"}} {
		for k := range 2 { // quantities summing past int64
			pur := ev("M-purc-"+s.setl+"-"+string(rune('a'+k)), "3503", tracewatch.EventPurchase, s.inst, 1)
			pur.Time, pur.Qty = at(s.when).Add(-24*time.Hour), tracewatch.Qty(math.MaxInt64/2)
			add(pur)
		}
		msg := "M-sale-" + s.setl
		e := ev(msg, "3505", tracewatch.EventSale, s.inst, 1)
		e.Time, e.Settlement, e.Person, e.SettleType, e.Receipt = at(s.when), s.setl, s.person, "1", "R"+s.setl
		e.Codes = []tracewatch.EventCode{code(shared)}
		add(e)
		for line := 1; line <= 2; line++ {
			st := ev("M-setl-"+s.setl, "2207", tracewatch.EventSettlement, s.inst, line)
			st.Setting = tracewatch.SettingOutpatient
			st.Time, st.Settlement, st.Person, st.Visit = at(s.when).Add(time.Minute), s.setl, s.person, "V"+s.setl
			st.Amount, st.FundPaid, st.FeeLine = hugeFen, hugeFen, "F"+string(rune('0'+line))
			if line == 1 {
				st.Codes = []tracewatch.EventCode{code(shared)}
			}
			add(st)
		}
		fee := ev("M-fee-"+s.setl, "2204", tracewatch.EventFeeLine, s.inst, 1)
		fee.Setting = tracewatch.SettingOutpatient
		fee.Time, fee.FeeLine, fee.Visit, fee.Person, fee.Amount = at(s.when), "F1", "V"+s.setl, s.person, hugeFen
		add(fee)
		pur := ev("M-purc-"+s.setl, "3503", tracewatch.EventPurchase, s.inst, 1)
		pur.Time = at(s.when).Add(-48 * time.Hour)
		pur.Codes = []tracewatch.EventCode{code("8385793000087976667" + string(rune('0'+i)))}
		add(pur)
		inv := ev("M-inv-"+s.setl, "3501", tracewatch.EventStocktake, s.inst, 1)
		inv.Time = at(s.when).Add(-72 * time.Hour)
		add(inv)
	}
	for k := range 8 { // P1 settles eight times in eight hours
		setl := "SF" + string(rune('0'+k))
		st := ev("M-freq-"+setl, "2207", tracewatch.EventSettlement, instA, 1)
		st.Setting = tracewatch.SettingOutpatient
		st.Time, st.Settlement, st.Person, st.Visit = at("2025-03-05 08:00:00").Add(time.Duration(k)*time.Hour), setl, "P1", "V"+setl
		st.Amount, st.FundPaid = hugeFen, hugeFen
		add(st)
		st.MsgID, st.Line = st.MsgID+"-2", 1
		add(st) // the same settlement reported twice: its sums overflow int64
	}
	return &tracewatch.Batch{Messages: msgs, Events: events}
}

// TestScreenExtremeValues: a store holding money and quantities far past the ingest
// bounds (rows written before the bounds existed) still screens: every default detector
// completes, and the double sale is still found.
func TestScreenExtremeValues(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, t.TempDir(), duckdb.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: "P36010200001", Name: "药店甲", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: "P36010200002", Name: "药店乙", Type: tracewatch.InstitutionPharmacy, Region: "360102",
			Agreements: []tracewatch.Agreement{{Status: tracewatch.AgreementSuspended, From: time.Date(2025, 1, 1, 0, 0, 0, 0, cst)}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertPersons(ctx, []tracewatch.Person{
		{PsnNo: "P1", Gender: "2", Birth: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), Death: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{PsnNo: "P2", Gender: "2", Birth: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: "XA11DAW036A001010104127", Name: "维生素B1片", PackContent: 1_000_000_000,
		Price: math.MaxInt64 / 4, Reimbursable: true, GenderLimit: "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, extremeBatch(t)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	env, err := rules.NewEnv(ctx, st, tracewatch.Window{}, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := rules.Select(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rules.Run(ctx, env, ds, nil)
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(res) != len(ds) {
		t.Fatalf("%d results for %d detectors", len(res), len(ds))
	}
	found := map[string]int{}
	for _, r := range res {
		found[rules.ID(r.Rule)] = len(r.Clues)
		for _, c := range r.Clues {
			if c.AmountFen < 0 {
				t.Errorf("%s clue %s: negative amount %d (overflow)", rules.ID(r.Rule), c.Fingerprint, c.AmountFen)
			}
		}
	}
	// The real-time check's index reads the same facts.
	if err := st.Holdings(ctx, func(string, facts.Holding) error { return nil }); err != nil {
		t.Errorf("Holdings: %v", err)
	}
	// The hits the facts hold, through the queries that overflowed: the fund share of a
	// sale (T1, C1), settlement sums (C4, C7, C8).
	for _, id := range []string{"trace.duplicate@1", "claims.gender@1", "claims.frequency@1", "claims.after_death@1", "claims.suspended@1"} {
		if found[id] == 0 {
			t.Errorf("%s found nothing among the extreme values (%v)", id, found)
		}
	}
}
