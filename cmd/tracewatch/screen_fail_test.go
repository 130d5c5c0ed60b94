package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
	"tracewatch/internal/tracecode"
)

// extremeStore fills a store in dir with facts far past the ingest bounds, written
// directly as a store filled before the bounds existed may hold them: one pack sold at
// two pharmacies at a price of 10^15 yuan and a quantity of 10^12, settlements whose
// fund payments sum past int64, purchases whose quantities do.
func extremeStore(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, dir, duckdb.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const drug = "XA11DAW036A001010104127"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: "P36010200001", Name: "药店甲", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: "P36010200002", Name: "药店乙", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
	}))
	must(st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drug, Name: "维生素B1片", PackContent: 100, Price: 350, Reimbursable: true}}))
	c, err := tracecode.Parse("83857930000879766660")
	must(err)
	code := tracewatch.EventCode{Raw: c.Raw, Key: c.Key, Kind: c.Kind.String(), ProductID: c.ProductID, DrugCode: drug, Level: 1}
	var b tracewatch.Batch
	add := func(e tracewatch.Event) {
		e.DrugCode, e.Line = drug, 1
		b.Events = append(b.Events, e)
		b.Messages = append(b.Messages, tracewatch.MessageRecord{MsgID: e.MsgID, Infno: e.Infno, Institution: e.Institution,
			Source: "test", Received: e.Time, Accepted: 1, Response: []byte(`{"infcode":"0"}`)})
	}
	for i, inst := range []string{"P36010200001", "P36010200002"} {
		when := time.Date(2025, 3, 1+i, 10, 0, 0, 0, cstZone)
		setl := "S" + inst
		add(tracewatch.Event{MsgID: "sale-" + inst, Infno: "3505", Kind: tracewatch.EventSale, Institution: inst, Time: when,
			Qty: 9_999_999_999_999_999, UnitPrice: 99_999_999_999_999_900, Settlement: setl, SettleType: "1", Receipt: "R" + inst,
			Person: "P" + inst, Codes: []tracewatch.EventCode{code}})
		for k := range 2 {
			add(tracewatch.Event{MsgID: "setl-" + inst + string(rune('a'+k)), Infno: "2207", Kind: tracewatch.EventSettlement,
				Institution: inst, Time: when.Add(time.Minute), Settlement: setl, Person: "P" + inst,
				Amount: math.MaxInt64/2 + 1, FundPaid: math.MaxInt64/2 + 1})
			add(tracewatch.Event{MsgID: "purc-" + inst + string(rune('a'+k)), Infno: "3503", Kind: tracewatch.EventPurchase,
				Institution: inst, Time: when.Add(-48 * time.Hour), Qty: math.MaxInt64/2 + 1})
		}
		add(tracewatch.Event{MsgID: "inv-" + inst, Infno: "3501", Kind: tracewatch.EventStocktake, Institution: inst,
			Time: when.Add(-72 * time.Hour), Qty: math.MaxInt64 / 2})
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// TestScreenExtremeValues: tracewatch screen over a store holding values past the
// ingest bounds completes with every detector, exit 0, and finds the double sale.
func TestScreenExtremeValues(t *testing.T) {
	dir := t.TempDir()
	extremeStore(t, dir)
	code, out, errOut := runCLI(t, "", "screen", "--data-dir", dir, "--json", "--at", "2025-04-01T00:00:00+08:00")
	if code != exitOK {
		t.Fatalf("screen: exit %d\n%s\n%s", code, out, errOut)
	}
	var sum screenSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("screen --json: %v\n%s", err, out)
	}
	if sum.Failed != 0 || len(sum.Detectors) == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, d := range sum.Detectors {
		if d.Error != "" || d.AmountFen < 0 {
			t.Errorf("%s: error %q, amount %d", d.Detector, d.Error, d.AmountFen)
		}
		if d.Detector == "trace.duplicate@1" && d.Clues == 0 {
			t.Errorf("T1 found no double sale among the extreme values")
		}
	}
}

// failing is a detector whose query fails.
type failing struct{ rules.Rule }

func (f failing) Spec() rules.Spec {
	sp := f.Rule.Spec()
	sp.Name = "trace.broken"
	return sp
}
func (failing) Eval(context.Context, *rules.Env, func(tracewatch.Clue)) error {
	return tracewatch.Errorf("duckdb.StockPeriods", tracewatch.KindInternal, "Out of Range Error: Overflow in multiplication of INT64")
}

// TestScreenFailingDetector: a detector that fails is reported (progress line, summary,
// --json error, exit 1) and the detectors after it still run and store their clues.
func TestScreenFailingDetector(t *testing.T) {
	dir := t.TempDir()
	extremeStore(t, dir)
	ctx := context.Background()
	st, err := duckdb.Open(ctx, dir, duckdb.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var progress bytes.Buffer
	at := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	sum, err := screen(ctx, st, []rules.Rule{failing{rules.NewStockBalance()}, rules.NewDuplicate()}, tracewatch.Window{}, at, &progress)
	if err == nil || !strings.Contains(err.Error(), "trace.broken@1: duckdb.StockPeriods") {
		t.Errorf("screen error %v", err)
	}
	if !strings.Contains(progress.String(), "trace.broken@1 进销存不符 … FAILED: trace.broken@1: duckdb.StockPeriods") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if sum.Failed != 1 || len(sum.Detectors) != 2 || sum.Detectors[0].Error == "" || sum.Detectors[1].Error != "" ||
		sum.Detectors[1].Clues == 0 || sum.New != sum.Detectors[1].Clues {
		t.Fatalf("summary %+v", sum)
	}
	clues, err := st.Clues(ctx, tracewatch.ClueFilter{})
	if err != nil || len(clues) != sum.Detectors[1].Clues {
		t.Errorf("stored %d clues (%v), want T1's %d", len(clues), err, sum.Detectors[1].Clues)
	}

	var out, errOut bytes.Buffer
	if code := writeScreen(&out, &errOut, sum, true); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	var got struct {
		Failed    int
		Detectors []struct{ Detector, Error string }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Failed != 1 || !strings.Contains(got.Detectors[0].Error, "Overflow") {
		t.Errorf("--json: %+v (%v)\n%s", got, err, out.String())
	}
	if !strings.Contains(errOut.String(), "1 of 2 detectors failed") {
		t.Errorf("stderr: %s", errOut.String())
	}
	out.Reset()
	writeScreen(&out, &errOut, sum, false)
	if !strings.Contains(out.String(), "trace.broken@1") || !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "1 detectors failed") {
		t.Errorf("table:\n%s", out.String())
	}
}
