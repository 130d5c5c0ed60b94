package storetest

import (
	"context"
	"reflect"
	"testing"

	"tracewatch"
)

// The conformance cases of the knowledge base's price ceiling and key-drug category
// (drug_limits.price_ceiling, key_drug; C14 claims.over_price, C11 claims.key_drug): both
// read back as written, beside the other limits or alone, and a reload without them
// clears them.
func testDrugLimitsPrice(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	rows := []tracewatch.DrugLimit{
		{DrugCode: "XB01ACL001A001010100001", PriceCeiling: 2150, KeyDrug: tracewatch.KeyDrugResale},
		{DrugCode: "XA10AEG001B001010100001", MaxDays: 30, DailyDose: 800, PriceCeiling: 6800, KeyDrug: tracewatch.KeyDrugHighValue,
			Basis: "挂网价 68.00 元/支"},
		{DrugCode: "XC10AAA001A001010100001", KeyDrug: tracewatch.KeyDrugVBPAlternative},
		{DrugCode: "XC08CAA001A001010100001", PriceCeiling: 1}, // one fen: a ceiling, not "none"
	}
	must(t, s.UpsertDrugLimits(ctx, rows))
	got, err := s.DrugLimits(ctx)
	must(t, err)
	want := []tracewatch.DrugLimit{rows[1], rows[0], rows[3], rows[2]} // by drug code
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DrugLimits:\n got %+v\nwant %+v", got, want)
	}
	// A reload without the new columns (an older knowledge-base file) clears them.
	again := tracewatch.DrugLimit{DrugCode: rows[0].DrugCode, MaxDays: 28, DailyDose: tracewatch.QtyScale}
	must(t, s.UpsertDrugLimits(ctx, []tracewatch.DrugLimit{again}))
	got, err = s.DrugLimits(ctx)
	must(t, err)
	want = []tracewatch.DrugLimit{rows[1], again, rows[3], rows[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reloading %s without a ceiling:\n got %+v\nwant %+v", rows[0].DrugCode, got, want)
	}
}
