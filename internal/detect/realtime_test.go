package detect_test

import (
	"context"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/detect"
	"tracewatch/internal/store/duckdb"
)

// slowSource holds the index load inside Holdings until released.
type slowSource struct {
	*duckdb.Store
	entered, release chan struct{}
}

func (s slowSource) Holdings(ctx context.Context, fn func(string, tracewatch.Holding) error) error {
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
	idx := detect.NewIndex()
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
	vs := idx.Check(detect.CheckRequest{Institution: b, Receipt: "R2", Time: when.Add(time.Hour),
		Lines: []detect.CheckLine{{DrugCode: drug, Qty: tracewatch.QtyScale, Codes: []string{code}}}})
	if len(vs) != 1 || vs[0].RuleID != "trace.duplicate@1" {
		t.Fatalf("check after a sale applied during the load: %+v", vs)
	}
}
