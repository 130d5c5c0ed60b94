package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tracewatch"
	"tracewatch/internal/refload"
)

// TestLoadDrugLimits: `tracewatch load drug_limits FILE` stores the knowledge base; a
// reload replaces a drug's row; a file with a bad row loads nothing.
func TestLoadDrugLimits(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	limits := func() []tracewatch.DrugLimit {
		t.Helper()
		st, err := openStore(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		got, err := st.DrugLimits(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	f := write("limits.csv", "med_list_codg,gend,min_age,max_days,daily_dose,scenes,basis\n"+
		"XC08CAA001A001010100001,,,30,1,门诊|pharmacy,门诊慢特病用药处方量原则上不超过4周\n"+
		"XG04CAT001A001010100001,男,18,,,,限男性\n")
	code, out, errOut := runCLI(t, "", "load", "--data-dir", data, "drug_limits", f)
	if code != exitOK || !strings.Contains(out, "loaded 2 drug_limits") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	want := []tracewatch.DrugLimit{
		{DrugCode: "XC08CAA001A001010100001", MaxDays: 30, DailyDose: tracewatch.QtyScale, Scenes: []string{"outpatient", "pharmacy"},
			Basis: "门诊慢特病用药处方量原则上不超过4周"},
		{DrugCode: "XG04CAT001A001010100001", Gender: "1", MinAge: 18, Basis: "限男性"},
	}
	if got := limits(); !reflect.DeepEqual(got, want) {
		t.Errorf("stored:\n got %+v\nwant %+v", got, want)
	}

	// Reloading a drug replaces its row whole.
	f = write("again.jsonl", `{"med_list_codg":"XC08CAA001A001010100001","max_days":28,"daily_dose":0.5}`+"\n")
	if code, out, errOut := runCLI(t, "", "load", "--data-dir", data, "drug_limits", f); code != exitOK {
		t.Fatalf("reload: exit %d\n%s\n%s", code, out, errOut)
	}
	want[0] = tracewatch.DrugLimit{DrugCode: "XC08CAA001A001010100001", MaxDays: 28, DailyDose: 5000}
	if got := limits(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the reload:\n got %+v\nwant %+v", got, want)
	}

	// A bad row: nothing loaded, the problem named by line and column.
	f = write("bad.csv", "med_list_codg,max_qty,period_days\nXA1,20,30\nXA2,20,\n")
	code, out, errOut = runCLI(t, "", "load", "--data-dir", data, "drug_limits", f)
	if code != exitFail || !strings.Contains(errOut, "drug_limits line 3, column period_days: is required when max_qty is given") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if got := limits(); len(got) != 2 {
		t.Errorf("a refused file loaded rows: %+v", got)
	}
}

// TestLoadProvinceFiles: a province's reference files in load order; the knowledge base
// of drug limits may be missing, any other file may not.
func TestLoadProvinceFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "reference"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range refload.Kinds() {
		if err := os.WriteFile(filepath.Join(dir, "reference", string(k)+".csv"), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kinds := func() []refload.Kind {
		t.Helper()
		fs, err := provinceFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []refload.Kind
		for _, f := range fs {
			if f.path != filepath.Join(dir, "reference", string(f.kind)+".csv") {
				t.Errorf("%s: path %s", f.kind, f.path)
			}
			out = append(out, f.kind)
		}
		return out
	}
	if got := kinds(); !reflect.DeepEqual(got, refload.Kinds()) {
		t.Errorf("every file: %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "reference", "drug_limits.csv")); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(), refload.Kinds()[:len(refload.Kinds())-1]; !reflect.DeepEqual(got, want) || refload.Kinds()[len(want)] != refload.KindDrugLimits {
		t.Errorf("without drug_limits.csv: %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "reference", "drugs.csv")); err != nil {
		t.Fatal(err)
	}
	if fs, err := provinceFiles(dir); err == nil || !strings.Contains(err.Error(), "drugs.csv") {
		t.Errorf("without drugs.csv: %v, %v", fs, err)
	}
}
