package storetest

import (
	"context"
	"reflect"
	"testing"

	"tracewatch"
)

// The conformance cases of the knowledge base of drug limits (知识库, run by Run): every
// field read back as written, a reloaded drug's row replacing the stored one whole, an
// empty store reading as no limits.

// drugLimits are three rows, given out of order: every field set, a gender limit only,
// and a quantity limit with a fractional daily dose.
func drugLimits() []tracewatch.DrugLimit {
	return []tracewatch.DrugLimit{
		{DrugCode: "XC08CAA001A001010100001", Gender: "2", MinAge: 18, MaxAge: 75, MaxDays: 30, DailyDose: tracewatch.QtyScale,
			MaxQty: 90 * tracewatch.QtyScale, PeriodDays: 90, InstitutionLevel: "二级", Scenes: []string{"outpatient", "pharmacy"},
			Basis: "门诊慢特病用药处方量原则上不超过4周（长处方不超过12周）\n第二行"},
		{DrugCode: drugX, Gender: "1", Basis: "限男性"},
		{DrugCode: "XA10AEG001B001010100001", MaxDays: 30, DailyDose: 800, MaxQty: 12345, PeriodDays: 7, Scenes: []string{"inpatient"}},
	}
}

func testDrugLimitsEmpty(t *testing.T, s tracewatch.Store) {
	got, err := s.DrugLimits(context.Background())
	must(t, err)
	if len(got) != 0 {
		t.Errorf("empty store: DrugLimits = %+v", got)
	}
	// Loading no rows is no error and changes nothing.
	must(t, s.UpsertDrugLimits(context.Background(), nil))
	if got, err = s.DrugLimits(context.Background()); err != nil || len(got) != 0 {
		t.Errorf("after an empty load: %+v, %v", got, err)
	}
}

// testDrugLimitsRoundTrip: every field comes back as loaded, sorted by drug code.
func testDrugLimitsRoundTrip(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	rows := drugLimits()
	must(t, s.UpsertDrugLimits(ctx, rows))
	got, err := s.DrugLimits(ctx)
	must(t, err)
	want := []tracewatch.DrugLimit{rows[2], rows[1], rows[0]} // XA10…, XA11…, XC08…
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DrugLimits:\n got %+v\nwant %+v", got, want)
	}
}

// testDrugLimitsReload: a reloaded drug's row replaces the stored one whole (the limits
// it leaves empty are cleared), the other drugs keep theirs, and within one load the last
// row of a drug wins.
func testDrugLimitsReload(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	rows := drugLimits()
	must(t, s.UpsertDrugLimits(ctx, rows))
	again := tracewatch.DrugLimit{DrugCode: rows[0].DrugCode, MaxDays: 28, DailyDose: 2 * tracewatch.QtyScale}
	must(t, s.UpsertDrugLimits(ctx, []tracewatch.DrugLimit{
		{DrugCode: rows[0].DrugCode, Gender: "1", MaxDays: 7}, // replaced by the next row of the same drug
		again,
	}))
	got, err := s.DrugLimits(ctx)
	must(t, err)
	want := []tracewatch.DrugLimit{rows[2], rows[1], again}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reloading %s:\n got %+v\nwant %+v", rows[0].DrugCode, got, want)
	}
}
