package refload

import (
	"bytes"
	"errors"
	"testing"

	"tracewatch"
)

// fuzzSeeds are small valid and broken files, one per kind: the first byte picks the
// kind (its value modulo the number of kinds).
var fuzzSeeds = map[Format][]string{
	CSV: {
		"\x00admdvs,name,parent\r\n360000,江西省,\r\n360100,\"南昌市, 省会\",360000\r\n",
		"\x01fixmedins_code,fixmedins_name,fixmedins_type,admdvs,agreements\nH1,医院,医院,360102,normal:2020-01-01;suspended:2025-03-01:2025-06-01\n",
		"\x01fixmedins_code,fixmedins_name,fixmedins_type,admdvs,agreement_status,agreement_from,agreement_to\nP1,药店,pharmacy,360102,中止,2024-01-01,2024-02-01\n",
		"\x02psn_no,certno,psn_name,gend,brdy,admdvs,chronic\nP1,360102199001011236,张三,1,1990-01-01,360102,M01;M02\nP2,36010219900101123x,李四,男,1990-01-01,360102,\n",
		"\x03practitioner_code,name,kind,status\nD1,王,医师,\n",
		"\x04med_list_codg,drug_name,pack_content,price,reimbursable,min_age,max_age\nX1,药,24,12.5,是,1,2\n",
		"\x05product_id,med_list_codg,commodity_code,pack_level\n6901234567892,X1,6901234567892,3\n8385793,X1,,\n",
		"\x06parent_code,child_code\n\"8385793 0000879766660\",83857930000879766661\n",
		"\x07med_list_codg,gend,min_age,max_age,max_days,daily_dose,max_qty,period_days,hosp_lv,scenes,basis\nX1,女,12,60,30,1.5,90,30,二级,门诊|pharmacy,\"限\"\"说明\"\"\"\nX2,,,,,,,,,,\n",
		"\x00admdvs,name\n\"36\"0102,a\n",
		"\x00\xef\xbb\xbfadmdvs,name\n",
	},
	JSONL: {
		"\x00{\"admdvs\":360100,\"name\":\"南昌市\",\"parent\":\"360000\"}\n\n{\"admdvs\":\"360000\",\"name\":\"江西省\"}\n",
		"\x01{\"fixmedins_code\":\"H1\",\"fixmedins_name\":\"医院\",\"fixmedins_type\":\"hospital\",\"admdvs\":\"360102\",\"agreements\":\"terminated:2024-01-01\"}\n",
		"\x02{\"psn_no\":\"P1\",\"certno\":\"360102199001011236\",\"gend\":1,\"brdy\":\"1990-01-01\",\"admdvs\":\"360102\"}\r\n",
		"\x03{\"prac_id\":\"D1\",\"name\":\"王\",\"kind\":\"nurse\",\"status\":null}\n",
		"\x04{\"med_list_codg\":\"X1\",\"drug_name\":\"药\",\"pack_content\":24,\"price\":12.50,\"reimbursable\":false}\n",
		"\x05{\"product_id\":\"96385074\",\"med_list_codg\":\"X1\"}\n",
		"\x06{\"parent_code\":\"(01)06904879000120(21)BOX\",\"child_code\":\"8385793-000087976-6660\"}\n",
		"\x07{\"med_list_codg\":\"X1\",\"daily_dose\":0.5,\"max_days\":30,\"scenes\":\"住院｜inpatient\"}\n",
		"\x00{\"admdvs\":[1],\"name\":{}}\n{\"admdvs\"\n[]\n",
	},
}

func fuzzRead(f *testing.F, format Format) {
	for _, s := range fuzzSeeds[format] {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		kind := kinds[int(data[0])%len(kinds)]
		rows, err := Read(kind, format, bytes.NewReader(data[1:]), Options{HashKey: []byte("fuzz")})
		if err != nil {
			if rows != nil {
				t.Fatal("rows and an error")
			}
			if tracewatch.KindOf(err) != tracewatch.KindInvalid {
				t.Fatalf("error of kind %v from an in-memory file: %v", tracewatch.KindOf(err), err)
			}
			var re *RowErrors
			if errors.As(err, &re) {
				if len(re.Errors) == 0 || len(re.Errors) > MaxErrors || re.Truncated && len(re.Errors) != MaxErrors {
					t.Fatalf("%d errors (truncated %v)", len(re.Errors), re.Truncated)
				}
				for _, e := range re.Errors {
					if e.Line < 1 || e.Msg == "" {
						t.Fatalf("error without a line or message: %+v", e)
					}
				}
			}
			return
		}
		checkKeys(t, kind, rows)
	})
}

// checkKeys fails when a row lacks its key or a row of another kind is set.
func checkKeys(t *testing.T, kind Kind, rows *Rows) {
	t.Helper()
	n := 0
	switch kind {
	case KindRegions:
		for _, r := range rows.Regions {
			if len(r.Code) != 6 || r.Name == "" {
				t.Fatalf("region %+v", r)
			}
		}
		n = len(rows.Regions)
	case KindInstitutions:
		for _, r := range rows.Institutions {
			if r.Code == "" || !r.Type.Valid() || r.Region == "" {
				t.Fatalf("institution %+v", r)
			}
		}
		n = len(rows.Institutions)
	case KindPersons:
		for _, r := range rows.Persons {
			if r.PsnNo == "" || r.Birth.IsZero() || r.Gender == "" || (r.CertnoMasked == "") != (r.CertnoHash == "") {
				t.Fatalf("person %+v", r)
			}
		}
		n = len(rows.Persons)
	case KindPractitioners:
		for _, r := range rows.Practitioners {
			if r.ID == "" || r.Kind == "" || r.Status == "" {
				t.Fatalf("practitioner %+v", r)
			}
		}
		n = len(rows.Practitioners)
	case KindDrugs:
		for _, r := range rows.Drugs {
			if r.Code == "" || r.PackContent <= 0 || r.Price < 0 {
				t.Fatalf("drug %+v", r)
			}
		}
		n = len(rows.Drugs)
	case KindCodeMap:
		for _, r := range rows.CodeMaps {
			if (len(r.ProductID) != 7 && len(r.ProductID) != 14) || r.DrugCode == "" || r.PackLevel < 0 || r.PackLevel > 3 {
				t.Fatalf("code mapping %+v", r)
			}
		}
		n = len(rows.CodeMaps)
	case KindPackages:
		for _, r := range rows.Packages {
			if r.Parent == "" || r.Child == "" || r.Parent == r.Child {
				t.Fatalf("package link %+v", r)
			}
		}
		n = len(rows.Packages)
	case KindDrugLimits:
		for _, r := range rows.DrugLimits {
			if r.DrugCode == "" || r.DailyDose < 0 || r.MaxQty < 0 || r.MaxQty > 0 && r.PeriodDays <= 0 ||
				r.MinAge > 0 && r.MaxAge > 0 && r.MaxAge < r.MinAge || r.Gender != "" && r.Gender != "1" && r.Gender != "2" {
				t.Fatalf("drug limit %+v", r)
			}
			for _, sc := range r.Scenes {
				if sc != "outpatient" && sc != "inpatient" && sc != "pharmacy" {
					t.Fatalf("drug limit %+v: scene %q", r, sc)
				}
			}
		}
		n = len(rows.DrugLimits)
	}
	if rows.Len() != n {
		t.Fatalf("Len() = %d, but %d rows of kind %s", rows.Len(), n, kind)
	}
}

func FuzzReadCSV(f *testing.F)   { fuzzRead(f, CSV) }
func FuzzReadJSONL(f *testing.F) { fuzzRead(f, JSONL) }

// TestFuzzSeeds: the valid seeds load (so the fuzzers start from real files).
func TestFuzzSeeds(t *testing.T) {
	for format, seeds := range fuzzSeeds {
		valid := 0
		for _, s := range seeds {
			kind := kinds[int(s[0])%len(kinds)]
			rows, err := Read(kind, format, bytes.NewReader([]byte(s[1:])), Options{HashKey: []byte("fuzz")})
			if err == nil {
				checkKeys(t, kind, rows)
				if rows.Len() > 0 {
					valid++
				}
			}
		}
		if valid < len(kinds) {
			t.Errorf("%v: only %d seeds load", format, valid)
		}
	}
}
