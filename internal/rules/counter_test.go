package rules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/ingest"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

// slowSource holds the index load inside Holdings until released.
type slowSource struct {
	*duckdb.Store
	entered, release chan struct{}
}

func (s slowSource) Holdings(ctx context.Context, fn func(string, facts.Holding) error) error {
	close(s.entered)
	<-s.release
	return s.Store.Holdings(ctx, fn)
}

// TestIndexApplyDuringLoad: a sale accepted while the index loads is not lost: checks
// after the load see it.
func TestIndexApplyDuringLoad(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, "", duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const a, b, drug, code = "P36010200001", "P36010200002", "XA11DAW036A001010104127", "83857930000879766660"
	if err := st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: a, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: b, Name: "二号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drug, Name: "维生素B1片", PackContent: 100, Reimbursable: true, Kind: "western"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: code[:7], DrugCode: drug, PackLevel: 1}}); err != nil {
		t.Fatal(err)
	}
	src := slowSource{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	idx := rules.NewIndex()
	done := make(chan error, 1)
	go func() { done <- idx.Load(ctx, src) }()
	<-src.entered
	when := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	idx.Apply([]tracewatch.Event{{Kind: tracewatch.EventSale, Institution: a, DrugCode: drug, Qty: tracewatch.QtyScale, Time: when,
		Receipt: "R1", Codes: []tracewatch.EventCode{{Raw: code, Key: code, DrugCode: drug, Level: 1}}}})
	if idx.Ready() {
		t.Fatal("ready before the load finished")
	}
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	vs := idx.Check(rules.CheckRequest{Institution: b, Receipt: "R2", Time: when.Add(time.Hour),
		Lines: []rules.CheckLine{{DrugCode: drug, Qty: tracewatch.QtyScale, Codes: []string{code}}}})
	if len(vs) != 1 || vs[0].RuleID != "trace.duplicate@1" {
		t.Fatalf("check after a sale applied during the load: %+v", vs)
	}
}

// TestIndexCartonScannedAtPurchase: a carton listed on a 3503 instead of its packs, the
// package levels unknown (a codemap without pack_level), counts at the counter as the
// packs it contains: the institution's inbound coverage is 100 % and its packs are
// received there, so selling one raises nothing, while a pack it never received is
// 无进货来源.
func TestIndexCartonScannedAtPurchase(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, "", duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const a, drug = "P36010200001", "XJ01CAA040A001010100001"
	const carton, pack1, pack2, never = "83857940000000031163", "83857930008799678379", "83857930008799686298", "83857930008799710025"
	for _, err := range []error{
		st.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: a, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"}}),
		st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drug, Name: "阿莫西林胶囊", PackContent: 24, Price: 1250, Reimbursable: true, Kind: "western"}}),
		st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: "8385793", DrugCode: drug}, {ProductID: "8385794", DrugCode: drug}}),
		st.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: carton, Child: pack1}, {Parent: carton, Child: pack2}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	msg := `{"infno": "3503", "msgid": "P36010200001202503010900000001", "mdtrtarea_admvs": "360102", "opter": "Y1", "opter_name": "王丽", "inf_time": "2025-03-01 09:00:00", "fixmedins_code": "P36010200001", "input": {"purcinfo": {"med_list_codg": "XJ01CAA040A001010100001", "fixmedins_hilist_id": "YP00001", "fixmedins_hilist_name": "阿莫西林胶囊", "rx_flag": "1", "fixmedins_bchno": "B1", "manu_lotnum": "240801", "manu_date": "2024-08-01", "expy_end": "2026-07-31", "spler_name": "江西南华医药有限公司", "prodentp_name": "华北制药股份有限公司", "aprvno": "国药准字H13023964", "finl_trns_pric": "10.00", "purc_retn_cnt": 2, "purc_retn_stoin_time": "2025-03-01 09:00:00", "purc_retn_opter_name": "王丽", "drugtracinfo": [{"drug_trac_codg": "` + carton + `"}]}}}` + "\n"
	when := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	s, err := in.IngestFile(ctx, st, strings.NewReader(msg), ingest.FileOptions{Name: "m.jsonl", Now: func() time.Time { return when }, Workers: 1})
	if err != nil || s.Accepted != 1 || s.Codes != 3 {
		t.Fatalf("ingest: %+v, %v; want 1 message, the carton and its 2 packs", s, err)
	}
	idx := rules.NewIndex()
	if err := idx.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	check := func(code string) []rules.Violation {
		return idx.Check(rules.CheckRequest{Institution: a, Receipt: "R1", Time: when,
			Lines: []rules.CheckLine{{DrugCode: drug, Qty: tracewatch.QtyScale, Codes: []string{code}}}})
	}
	if vs := check(pack1); len(vs) != 0 {
		t.Errorf("a pack of the carton received: %+v, want no violation", vs)
	}
	if vs := check(never); len(vs) != 1 || vs[0].RuleID != "trace.nosource@1" || !strings.Contains(vs[0].Evidence, "100.0%") {
		t.Errorf("a pack never received: %+v, want one trace.nosource violation at coverage 100.0%%", vs)
	}
}
