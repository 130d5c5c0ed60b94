package refload

import (
	"reflect"
	"strings"
	"testing"

	"tracewatch"
)

// TestDrugLimitPrice: the knowledge base's price_ceiling (yuan per pack) and key_drug
// (English or Chinese names) load, an older file without them loads as before, and bad
// values are refused with the column named.
func TestDrugLimitPrice(t *testing.T) {
	const head = "med_list_codg,gend,min_age,max_age,max_days,daily_dose,max_qty,period_days,hosp_lv,scenes,basis,price_ceiling,key_drug"
	rows, re := read(t, KindDrugLimits, CSV, head+"\n"+
		"XB01,,,,,,,,,,挂网价,21.00,易倒卖\n"+
		"XA10,,,,30,0.08,,,,,,68,high_value\n"+
		"XC10,,,,,,,,,,,,集采替代\n"+
		"XJ01,,,,,,,,,,,0.65,\n", Options{})
	if re != nil {
		t.Fatal(re)
	}
	want := []tracewatch.DrugLimit{
		{DrugCode: "XB01", Basis: "挂网价", PriceCeiling: 2100, KeyDrug: tracewatch.KeyDrugResale},
		{DrugCode: "XA10", MaxDays: 30, DailyDose: 800, PriceCeiling: 6800, KeyDrug: tracewatch.KeyDrugHighValue},
		{DrugCode: "XC10", KeyDrug: tracewatch.KeyDrugVBPAlternative},
		{DrugCode: "XJ01", PriceCeiling: 65},
	}
	if !reflect.DeepEqual(rows.DrugLimits, want) {
		t.Errorf("drug limits:\n got %+v\nwant %+v", rows.DrugLimits, want)
	}
	// A file of before issue 15: no price columns, no price limits.
	old := strings.Join(strings.Split(head, ",")[:11], ",")
	rows, re = read(t, KindDrugLimits, CSV, old+"\nXB01,,,,30,1,,,,,\n", Options{})
	if re != nil || len(rows.DrugLimits) != 1 || rows.DrugLimits[0].PriceCeiling != 0 || rows.DrugLimits[0].KeyDrug != "" {
		t.Errorf("an older file: %+v, %v", rows, re)
	}
	for _, tt := range []struct{ row, column, msg string }{
		{"XB01,,,,,,,,,,,abc,", "price_ceiling", "not an amount in yuan"},
		{"XB01,,,,,,,,,,,-1.00,", "price_ceiling", "negative"},
		{"XB01,,,,,,,,,,,1.234,", "price_ceiling", "not an amount in yuan"},
		{"XB01,,,,,,,,,,,10000001,", "price_ceiling", "more than 10000000 yuan"},
		{"XB01,,,,,,,,,,,,重点", "key_drug", `"重点" is not one of resale, high_value, vbp_alternative`},
	} {
		_, re := read(t, KindDrugLimits, CSV, head+"\n"+tt.row+"\n", Options{})
		if re == nil || len(re.Errors) != 1 || re.Errors[0].Column != tt.column || !strings.Contains(re.Errors[0].Msg, tt.msg) {
			t.Errorf("%s: %v, want one error in %s containing %q", tt.row, re, tt.column, tt.msg)
		}
	}
}
