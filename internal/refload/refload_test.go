package refload

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/idno"
)

var testKey = []byte("test-hash-key")

// validID returns a valid 18-digit ID number for the first 17 digits.
func validID(t testing.TB, first17 string) string {
	t.Helper()
	c, err := idno.CheckDigit(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

// day is midnight of a date in Asia/Shanghai.
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, cst) }

// read runs Read and splits the result into rows and row errors; any other error fails
// the test.
func read(t *testing.T, kind Kind, f Format, text string, o Options) (*Rows, *RowErrors) {
	t.Helper()
	rows, err := Read(kind, f, strings.NewReader(text), o)
	if err == nil {
		if rows == nil {
			t.Fatal("Read returned neither rows nor an error")
		}
		return rows, nil
	}
	if rows != nil {
		t.Fatalf("Read returned rows and an error: %v", err)
	}
	if k := tracewatch.KindOf(err); k != tracewatch.KindInvalid {
		t.Fatalf("error kind = %v, want invalid: %v", k, err)
	}
	var re *RowErrors
	if !errors.As(err, &re) {
		t.Fatalf("error is not a *RowErrors: %v", err)
	}
	if re.Kind != kind {
		t.Fatalf("RowErrors.Kind = %q, want %q", re.Kind, kind)
	}
	return nil, re
}

// crlf turns \n line ends into \r\n.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const bom = "\uFEFF"

func TestReadValid(t *testing.T) {
	idMale := validID(t, "36010219900101123") // sequence 123: odd, male
	nmpa := "83857930000879766660"
	tests := []struct {
		name string
		kind Kind
		csv  string // read with a BOM and CRLF line ends
		json string
		want Rows
	}{
		{
			name: "regions", kind: KindRegions,
			csv: "admdvs,name,parent\n" +
				"360000,江西省,\n" +
				"360100,\"南昌市, 省会\",360000\n" +
				"360102, 东湖区 ,360100\n",
			json: `{"admdvs":"360000","name":"江西省"}` + "\n" +
				`{"admdvs":360100,"name":"南昌市, 省会","parent":"360000"}` + "\n" +
				"\n" +
				`{"admdvs":"360102","name":"东湖区","parent":360100,"future_column":[1,2]}` + "\n",
			want: Rows{Regions: []tracewatch.RegionInfo{
				{Code: "360000", Name: "江西省"},
				{Code: "360100", Name: "南昌市, 省会", Parent: "360000"},
				{Code: "360102", Name: "东湖区", Parent: "360100"},
			}},
		},
		{
			name: "institutions", kind: KindInstitutions,
			csv: "fixmedins_code,fixmedins_name,fixmedins_type,admdvs,hosp_lv,chain,agreements,future_column\n" +
				"H36010200001,\"南昌市第一医院, 东湖院区\",医院,360102,三级甲等,,normal:2020-01-01;suspended:2025-03-01:2025-06-01,x\n" +
				"P36010200002,好药师大药房,零售药店,360102,,\"好药师, 连锁\",,\n" +
				"V36010200003,村卫生室,village_clinic,360102,,,,\n",
			json: `{"fixmedins_code":"H36010200001","fixmedins_name":"南昌市第一医院, 东湖院区","fixmedins_type":"hospital","admdvs":"360102","hosp_lv":"三级甲等","agreements":"normal:2020-01-01;suspended:2025-03-01:2025-06-01"}` + "\n" +
				`{"fixmedins_code":"P36010200002","fixmedins_name":"好药师大药房","fixmedins_type":"药店","admdvs":360102,"chain":"好药师, 连锁","hosp_lv":null}` + "\n" +
				`{"fixmedins_code":"V36010200003","fixmedins_name":"村卫生室","fixmedins_type":"卫生室","admdvs":"360102"}` + "\n",
			want: Rows{Institutions: []tracewatch.Institution{
				{Code: "H36010200001", Name: "南昌市第一医院, 东湖院区", Type: tracewatch.InstitutionHospital, Region: "360102", Level: "三级甲等",
					Agreements: []tracewatch.Agreement{
						{Status: tracewatch.AgreementNormal, From: day(2020, 1, 1)},
						{Status: tracewatch.AgreementSuspended, From: day(2025, 3, 1), To: day(2025, 6, 1)},
					}},
				{Code: "P36010200002", Name: "好药师大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102", Chain: "好药师, 连锁"},
				{Code: "V36010200003", Name: "村卫生室", Type: tracewatch.InstitutionVillageClinic, Region: "360102"},
			}},
		},
		{
			name: "persons", kind: KindPersons,
			csv: "psn_no,certno,psn_name,gend,brdy,admdvs,insutype,death_date,chronic\n" +
				"36000000000000000001," + idMale + ",\"张三, 小名\",男,1990-01-01,360102,310,,M03900; M01600;M03900\n" +
				"36000000000000000002,,李四,2,1985-12-31,360102,390,2024-05-01,\n",
			json: `{"psn_no":"36000000000000000001","certno":"` + idMale + `","psn_name":"张三, 小名","gend":1,"brdy":"1990-01-01","admdvs":"360102","insutype":310,"chronic":"M03900;M01600"}` + "\n" +
				`{"psn_no":"36000000000000000002","psn_name":"李四","gend":"女","brdy":"1985-12-31","admdvs":"360102","insutype":"390","death_date":"2024-05-01"}` + "\n",
			want: Rows{Persons: []tracewatch.Person{
				{PsnNo: "36000000000000000001", CertnoMasked: idno.Mask(idMale), CertnoHash: certnoHash(testKey, idMale), Name: "张三, 小名",
					Gender: "1", Birth: day(1990, 1, 1), Region: "360102", InsuType: "310", Chronic: []string{"M03900", "M01600"}},
				{PsnNo: "36000000000000000002", Name: "李四", Gender: "2", Birth: day(1985, 12, 31), Region: "360102", InsuType: "390",
					Death: day(2024, 5, 1)},
			}},
		},
		{
			name: "practitioners", kind: KindPractitioners,
			csv: "practitioner_code,name,kind,fixmedins_code,status\n" +
				"D360102000001,王医生,医师,H36010200001,\n" +
				"Y360102000002,\"赵, 药师\",pharmacist,P36010200002,suspended\n" +
				"Z360102000003,钱老板,主要负责人,P36010200002,解除\n",
			json: `{"prac_id":"D360102000001","name":"王医生","kind":"doctor","fixmedins_code":"H36010200001"}` + "\n" +
				`{"practitioner_code":"Y360102000002","name":"赵, 药师","kind":"药师","fixmedins_code":"P36010200002","status":"中止"}` + "\n" +
				`{"prac_id":"Z360102000003","name":"钱老板","kind":"principal","fixmedins_code":"P36010200002","status":"terminated"}` + "\n",
			want: Rows{Practitioners: []tracewatch.Practitioner{
				{ID: "D360102000001", Name: "王医生", Kind: "doctor", Institution: "H36010200001", Status: "normal"},
				{ID: "Y360102000002", Name: "赵, 药师", Kind: "pharmacist", Institution: "P36010200002", Status: "suspended"},
				{ID: "Z360102000003", Name: "钱老板", Kind: "principal", Institution: "P36010200002", Status: "terminated"},
			}},
		},
		{
			name: "drugs", kind: KindDrugs,
			csv: "med_list_codg,drug_name,spec,pack_content,price,reimbursable,drug_kind,gender_limit,min_age,max_age,max_days,restriction\n" +
				"XJ01CAA040A001010100001,阿莫西林胶囊,\"0.25g*24粒, 盒\",24,12.5,是,western,,,,7,\"限二线用药，\"\"说明\"\"\"\n" +
				"ZA01AAA0001010101010101,六味地黄丸,,120,30,0,中成药,2,18,60,30,\n" +
				"XB05XXX000000000000001,葡萄糖注射液,,1,0.07,,,,,,,\n",
			json: `{"med_list_codg":"XJ01CAA040A001010100001","drug_name":"阿莫西林胶囊","spec":"0.25g*24粒, 盒","pack_content":24,"price":12.50,"reimbursable":true,"drug_kind":"western","max_days":7,"restriction":"限二线用药，\"说明\""}` + "\n" +
				`{"med_list_codg":"ZA01AAA0001010101010101","drug_name":"六味地黄丸","pack_content":"120","price":"30","reimbursable":"否","drug_kind":"patent","gender_limit":"女","min_age":18,"max_age":60,"max_days":30}` + "\n" +
				`{"med_list_codg":"XB05XXX000000000000001","drug_name":"葡萄糖注射液","pack_content":1,"price":0.07}` + "\n",
			want: Rows{Drugs: []tracewatch.Drug{
				{Code: "XJ01CAA040A001010100001", Name: "阿莫西林胶囊", Spec: "0.25g*24粒, 盒", PackContent: 24, Price: 1250, Reimbursable: true,
					Kind: "western", MaxDays: 7, Restriction: `限二线用药，"说明"`},
				{Code: "ZA01AAA0001010101010101", Name: "六味地黄丸", PackContent: 120, Price: 3000, Reimbursable: false,
					Kind: "patent", GenderLimit: "2", MinAge: 18, MaxAge: 60, MaxDays: 30},
				{Code: "XB05XXX000000000000001", Name: "葡萄糖注射液", PackContent: 1, Price: 7, Reimbursable: true},
			}},
		},
		{
			name: "codemap", kind: KindCodeMap,
			csv: "product_id,med_list_codg,commodity_code,pack_level\n" +
				"8385793,XJ01CAA040A001010100001,6901234567892,\n" +
				"6901234567892,XJ01CAA040A001010100001,,2\n" +
				"96385074,ZA01AAA0001010101010101,,大码\n",
			json: `{"product_id":"8385793","med_list_codg":"XJ01CAA040A001010100001","commodity_code":"6901234567892"}` + "\n" +
				`{"product_id":6901234567892,"med_list_codg":"XJ01CAA040A001010100001","pack_level":"2"}` + "\n" +
				`{"product_id":"96385074","med_list_codg":"ZA01AAA0001010101010101","pack_level":3}` + "\n",
			want: Rows{CodeMaps: []tracewatch.CodeMapping{
				{ProductID: "8385793", DrugCode: "XJ01CAA040A001010100001", CommodityCode: "6901234567892"}, // level unknown (0)
				{ProductID: "06901234567892", DrugCode: "XJ01CAA040A001010100001", PackLevel: 2},
				{ProductID: "00000096385074", DrugCode: "ZA01AAA0001010101010101", PackLevel: 3},
			}},
		},
		{
			name: "packages", kind: KindPackages,
			csv: "parent_code,child_code\n" +
				"\"8385793 0000879766660\",83857930000879766661\n" +
				nmpa + ",8385793-000087976-6662\n" +
				"(01)06904879000120(21)BOX1,\"(01)06904879000120(21)ABC,1\"\n",
			json: `{"parent_code":"8385793 0000879766660","child_code":"83857930000879766661"}` + "\n" +
				`{"parent_code":"` + nmpa + `","child_code":"8385793-000087976-6662"}` + "\n" +
				`{"parent_code":"(01)06904879000120(21)BOX1","child_code":"(01)06904879000120(21)ABC,1"}` + "\n",
			want: Rows{Packages: []tracewatch.PackageLink{
				{Parent: nmpa, Child: "83857930000879766661"},
				{Parent: nmpa, Child: "83857930000879766662"},
				{Parent: "(01)06904879000120(21)BOX1", Child: "(01)06904879000120(21)ABC,1"},
			}},
		},
		{
			name: "drug_limits", kind: KindDrugLimits,
			csv: "med_list_codg,gend,min_age,max_age,max_days,daily_dose,max_qty,period_days,hosp_lv,scenes,basis,future_column\n" +
				"XC08CAA001A001010100001,,18,,30,1,,,,pharmacy|门诊| outpatient ,\"门诊慢特病用药处方量原则上不超过4周，\"\"长处方\"\"不超过12周\",x\n" +
				"XG04CAT001A001010100001,男,,,,,,,,,限男性,\n" +
				"XA10AEG001B001010100001,,,,30,0.08,20,90,二级,住院｜inpatient,\"限胰岛素\n注射\",\n",
			json: `{"med_list_codg":"XC08CAA001A001010100001","min_age":18,"max_days":30,"daily_dose":1,"scenes":"pharmacy|门诊|outpatient","basis":"门诊慢特病用药处方量原则上不超过4周，\"长处方\"不超过12周"}` + "\n" +
				`{"med_list_codg":"XG04CAT001A001010100001","gend":1,"min_age":null,"basis":"限男性"}` + "\n" +
				`{"med_list_codg":"XA10AEG001B001010100001","max_days":"30","daily_dose":0.0800,"max_qty":20,"period_days":90,"hosp_lv":"二级","scenes":"住院｜inpatient","basis":"限胰岛素\n注射"}` + "\n",
			want: Rows{DrugLimits: []tracewatch.DrugLimit{
				{DrugCode: "XC08CAA001A001010100001", MinAge: 18, MaxDays: 30, DailyDose: tracewatch.QtyScale,
					Scenes: []string{"outpatient", "pharmacy"}, Basis: `门诊慢特病用药处方量原则上不超过4周，"长处方"不超过12周`},
				{DrugCode: "XG04CAT001A001010100001", Gender: "1", Basis: "限男性"},
				{DrugCode: "XA10AEG001B001010100001", MaxDays: 30, DailyDose: 800, MaxQty: 20 * tracewatch.QtyScale, PeriodDays: 90,
					InstitutionLevel: "二级", Scenes: []string{"inpatient"}, Basis: "限胰岛素\n注射"},
			}},
		},
	}
	for _, tt := range tests {
		for _, in := range []struct {
			f    Format
			text string
		}{
			{CSV, bom + crlf(tt.csv)},
			{CSV, tt.csv},
			{JSONL, tt.json},
			{JSONL, bom + crlf(tt.json)},
		} {
			t.Run(fmt.Sprintf("%s/%v", tt.name, in.f), func(t *testing.T) {
				rows, re := read(t, tt.kind, in.f, in.text, Options{HashKey: testKey})
				if re != nil {
					t.Fatalf("unexpected errors:\n%v", re)
				}
				if !reflect.DeepEqual(*rows, tt.want) {
					t.Errorf("rows differ\n got: %+v\nwant: %+v", *rows, tt.want)
				}
				if rows.Len() != 3 && rows.Len() != 2 {
					t.Errorf("Len() = %d", rows.Len())
				}
			})
		}
	}
}

// TestMissingColumn removes each required column from a valid header: one error, on
// line 1, naming the column. The required columns are the public contract.
func TestMissingColumn(t *testing.T) {
	required := map[Kind][]string{
		KindRegions:       {"admdvs", "name"},
		KindInstitutions:  {"fixmedins_code", "fixmedins_name", "fixmedins_type", "admdvs"},
		KindPersons:       {"psn_no", "gend", "brdy", "admdvs"},
		KindPractitioners: {"prac_id", "name", "kind"},
		KindDrugs:         {"med_list_codg", "drug_name", "pack_content", "price"},
		KindCodeMap:       {"product_id", "med_list_codg"},
		KindPackages:      {"parent_code", "child_code"},
		KindDrugLimits:    {"med_list_codg"},
	}
	for _, kind := range Kinds() {
		cols := required[kind]
		if len(cols) == 0 {
			t.Fatalf("no required columns listed for %s", kind)
		}
		for _, missing := range cols {
			t.Run(string(kind)+"/"+missing, func(t *testing.T) {
				var header []string
				for _, c := range cols {
					if c != missing {
						header = append(header, c)
					}
				}
				header = append(header, "some_future_column")
				_, re := read(t, kind, CSV, strings.Join(header, ",")+"\n", Options{})
				if re == nil {
					t.Fatal("no error")
				}
				if len(re.Errors) != 1 || re.Errors[0].Line != 1 || re.Errors[0].Column != missing ||
					!strings.Contains(re.Errors[0].Msg, "missing") {
					t.Fatalf("errors = %+v, want one on line 1 naming %s", re.Errors, missing)
				}
			})
		}
	}
	t.Run("empty file", func(t *testing.T) {
		_, re := read(t, KindRegions, CSV, "", Options{})
		if re == nil || len(re.Errors) != 1 || re.Errors[0].Line != 1 {
			t.Fatalf("errors = %+v", re)
		}
	})
	t.Run("empty JSONL is no rows", func(t *testing.T) {
		rows, re := read(t, KindRegions, JSONL, "\n\n", Options{})
		if re != nil || rows.Len() != 0 {
			t.Fatalf("rows %+v errors %v", rows, re)
		}
	})
	t.Run("header only is no rows", func(t *testing.T) {
		rows, re := read(t, KindRegions, CSV, "admdvs,name\r\n", Options{})
		if re != nil || rows.Len() != 0 {
			t.Fatalf("rows %+v errors %v", rows, re)
		}
	})
	t.Run("duplicate column", func(t *testing.T) {
		_, re := read(t, KindRegions, CSV, "admdvs,name,name\n360102,a,b\n", Options{})
		if re == nil || len(re.Errors) != 1 || re.Errors[0].Column != "name" {
			t.Fatalf("errors = %+v", re)
		}
	})
	t.Run("alias and column both", func(t *testing.T) {
		_, re := read(t, KindPractitioners, CSV, "prac_id,practitioner_code,name,kind\nD1,D1,王,doctor\n", Options{})
		if re == nil || len(re.Errors) != 1 || re.Errors[0].Column != "practitioner_code" {
			t.Fatalf("errors = %+v", re)
		}
	})
	t.Run("JSONL row without a required key", func(t *testing.T) {
		_, re := read(t, KindRegions, JSONL, `{"admdvs":"360102","name":"东湖区"}`+"\n\n"+`{"admdvs":"360103"}`+"\n", Options{})
		want := []RowError{{Line: 3, Column: "name", Msg: "is required"}}
		if re == nil || !reflect.DeepEqual(re.Errors, want) {
			t.Fatalf("errors = %+v, want %+v", re, want)
		}
	})
}

// TestBadValues: one bad value per case, on line 2 of a CSV file (line 1 is the header).
func TestBadValues(t *testing.T) {
	const (
		regHead  = "admdvs,name,parent"
		instHead = "fixmedins_code,fixmedins_name,fixmedins_type,admdvs,agreements,agreement_status,agreement_from,agreement_to"
		psnHead  = "psn_no,gend,brdy,admdvs,insutype,death_date,chronic"
		pracHead = "prac_id,name,kind,fixmedins_code,status"
		drugHead = "med_list_codg,drug_name,pack_content,price,reimbursable,drug_kind,gender_limit,min_age,max_age,max_days"
		mapHead  = "product_id,med_list_codg,commodity_code,pack_level"
		pkgHead  = "parent_code,child_code"
		limHead  = "med_list_codg,gend,min_age,max_age,max_days,daily_dose,max_qty,period_days,hosp_lv,scenes,basis"
		drugOK   = "XJ01,阿莫西林,24,12.5"
	)
	tests := []struct {
		kind   Kind
		header string
		row    string
		column string
		msg    string // a substring of the message
	}{
		{KindRegions, regHead, "36010,东湖区,", "admdvs", "want 6 digits"},
		{KindRegions, regHead, "000102,东湖区,", "admdvs", "no province 00"},
		{KindRegions, regHead, "36010a,东湖区,", "admdvs", `"36010a"`},
		{KindRegions, regHead, "360102,,360100", "name", "is required"},
		{KindRegions, regHead, "360102,东湖区,3601", "parent", "want 6 digits"},
		{KindRegions, regHead, "360102,东湖区,360102", "parent", "the region itself"},
		{KindRegions, regHead, "360102,\"东湖\x01区\",", "name", "control character"},

		{KindInstitutions, instHead, "H 1,医院,hospital,360102,,,,", "fixmedins_code", "printable ASCII"},
		{KindInstitutions, instHead, "H医院,医院,hospital,360102,,,,", "fixmedins_code", "printable ASCII"},
		{KindInstitutions, instHead, strings.Repeat("H", 31) + ",医院,hospital,360102,,,,", "fixmedins_code", "at most 30"},
		{KindInstitutions, instHead, ",医院,hospital,360102,,,,", "fixmedins_code", "is required"},
		{KindInstitutions, instHead, "H1,,hospital,360102,,,,", "fixmedins_name", "is required"},
		{KindInstitutions, instHead, "H1,医院,drugstore,360102,,,,", "fixmedins_type",
			`"drugstore" is not one of hospital, clinic, village_clinic, pharmacy`},
		{KindInstitutions, instHead, "H1,医院,hospital,36-102,,,,", "admdvs", "want 6 digits"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,closed:2020-01-01,,,", "agreements", "status \"closed\" is not one of"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,normal:2020-02-30,,,", "agreements", "not a date"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,normal,,,", "agreements", "status:from[:to]"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,normal:2020-01-01:2020-01-01,,,", "agreements", "not after from"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,normal:2020-01-01,normal,2020-01-01,", "agreements", "not both"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,,paused,2020-01-01,", "agreement_status", `"paused" is not one of`},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,,normal,,", "agreement_from", "is required when"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,,,2020-01-01,", "agreement_status", "is required when"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,,normal,2020/01/01,", "agreement_from", "yyyy-mm-dd"},
		{KindInstitutions, instHead, "H1,医院,hospital,360102,,normal,2020-01-01,2019-01-01", "agreement_to", "not after agreement_from"},

		{KindPersons, psnHead, ",1,1990-01-01,360102,,,", "psn_no", "is required"},
		{KindPersons, psnHead, "P1,3,1990-01-01,360102,,,", "gend", `"3" is not one of 1, 2, 9`},
		{KindPersons, psnHead, "P1,male,1990-01-01,360102,,,", "gend", "is not one of"},
		{KindPersons, psnHead, "P1,1,1990-13-01,360102,,,", "brdy", "yyyy-mm-dd"},
		{KindPersons, psnHead, "P1,1,1990-1-1,360102,,,", "brdy", "yyyy-mm-dd"},
		{KindPersons, psnHead, "P1,1,19900101,360102,,,", "brdy", "yyyy-mm-dd"},
		{KindPersons, psnHead, "P1,1,1899-12-31,360102,,,", "brdy", "before 1900"},
		{KindPersons, psnHead, "P1,1,,360102,,,", "brdy", "is required"},
		{KindPersons, psnHead, "P1,1,1990-01-01,,,,", "admdvs", "is required"},
		{KindPersons, psnHead, "P1,1,1990-01-01,360102,3 10,,", "insutype", "printable ASCII"},
		{KindPersons, psnHead, "P1,1,1990-01-01,360102,,1989-12-31,", "death_date", "before the birth date"},
		{KindPersons, psnHead, "P1,1,1990-01-01,360102,,yesterday,", "death_date", "yyyy-mm-dd"},
		{KindPersons, psnHead, "P1,1,1990-01-01,360102,,,M01;" + strings.Repeat("M", 51), "chronic", "more than 50 characters"},
		{KindRegions, regHead, "360102," + strings.Repeat("东", 201) + ",", "name", "has 201 characters; at most 200"},

		{KindPractitioners, pracHead, ",王,doctor,,", "prac_id", "is required"},
		{KindPractitioners, pracHead, "D1,,doctor,,", "name", "is required"},
		{KindPractitioners, pracHead, "D1,王,surgeon,,", "kind", `"surgeon" is not one of doctor, pharmacist, nurse, principal`},
		{KindPractitioners, pracHead, "D1,王,doctor,H 1,", "fixmedins_code", "printable ASCII"},
		{KindPractitioners, pracHead, "D1,王,doctor,,retired", "status", `"retired" is not one of normal, suspended, terminated`},
		{KindPractitioners, "practitioner_code,name,kind", "D 1,王,doctor", "practitioner_code", "printable ASCII"},

		{KindDrugs, drugHead, ",阿莫西林,24,12.5,,,,,,", "med_list_codg", "is required"},
		{KindDrugs, drugHead, "XJ01,,24,12.5,,,,,,", "drug_name", "is required"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,0,12.5,,,,,,", "pack_content", "positive whole number"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,-1,12.5,,,,,,", "pack_content", "positive whole number"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,1.5,12.5,,,,,,", "pack_content", "positive whole number"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,+3,12.5,,,,,,", "pack_content", "positive whole number"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,2000000,12.5,,,,,,", "pack_content", "more than 1000000"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,,12.5,,,,,,", "pack_content", "is required"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,24,12.345,,,,,,", "price", "at most two decimals"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,24,¥12,,,,,,", "price", "at most two decimals"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,24,-1,,,,,,", "price", "negative"},
		{KindDrugs, drugHead, "XJ01,阿莫西林,24,,,,,,,", "price", "is required"},
		{KindDrugs, drugHead, drugOK + ",maybe,,,,,", "reimbursable", `"maybe" is not one of 1, 0, true, false, 是, 否`},
		{KindDrugs, drugHead, drugOK + ",,pill,,,,", "drug_kind", `"pill" is not one of western, patent`},
		{KindDrugs, drugHead, drugOK + ",,,3,,,", "gender_limit", `"3" is not one of 1, 2 or empty`},
		{KindDrugs, drugHead, drugOK + ",,,,-1,,", "min_age", "non-negative whole number"},
		{KindDrugs, drugHead, drugOK + ",,,,,200,", "max_age", "more than 150"},
		{KindDrugs, drugHead, drugOK + ",,,,60,18,", "max_age", "less than min_age"},
		{KindDrugs, drugHead, drugOK + ",,,,,,7d", "max_days", "non-negative whole number"},

		{KindCodeMap, mapHead, "123456,XJ01,,", "product_id", "6 digits"},
		{KindCodeMap, mapHead, "ABC1234,XJ01,,", "product_id", "not a product identifier"},
		{KindCodeMap, mapHead, "6901234567891,XJ01,,", "product_id", "GTIN-13 check digit is wrong (want 2)"},
		{KindCodeMap, mapHead, "96385075,XJ01,,", "product_id", "GTIN-8 (EAN-8) check digit is wrong (want 4)"},
		{KindCodeMap, mapHead, "06904879000121,XJ01,,", "product_id", "GTIN-14 check digit is wrong (want 0)"},
		{KindCodeMap, mapHead, "83857930000879766660,XJ01,,", "product_id", "first 7 digits (8385793)"},
		{KindCodeMap, mapHead, ",XJ01,,", "product_id", "is required"},
		{KindCodeMap, mapHead, "8385793,,,", "med_list_codg", "is required"},
		{KindCodeMap, mapHead, "8385793,XJ01,6901234567891,", "commodity_code", "check digit is wrong (want 2)"},
		{KindCodeMap, mapHead, "8385793,XJ01,036000291452,", "commodity_code", "not a GTIN-13"},
		{KindCodeMap, mapHead, "8385793,XJ01,,4", "pack_level", `"4" is not one of 1, 2, 3`},

		{KindPackages, pkgHead, "8385793000087976666,83857930000879766661", "parent_code", "bad_length"},
		{KindPackages, pkgHead, "83857930000879766660,6901234567892", "child_code", "not_trace_code"},
		{KindPackages, pkgHead, "83857930000879766660,6901234567891", "child_code", "bad_check_digit"},
		{KindPackages, pkgHead, "\"8385793 0000879766660\",8385793-000087976-6660", "child_code", "cannot contain itself"},
		{KindPackages, pkgHead, "83857930000879766660,", "child_code", "is required"},
		{KindPackages, pkgHead, "83857930000879766660,\"  \"", "child_code", "is required"},

		{KindDrugLimits, limHead, ",,,,30,1,,,,,", "med_list_codg", "is required"},
		{KindDrugLimits, limHead, "X C08,,,,30,1,,,,,", "med_list_codg", "printable ASCII"},
		{KindDrugLimits, limHead, "XC08,9,,,,,,,,,", "gend", `"9" is not one of 1, 2`},
		{KindDrugLimits, limHead, "XC08,,-1,,,,,,,,", "min_age", "non-negative whole number"},
		{KindDrugLimits, limHead, "XC08,,,151,,,,,,,", "max_age", "more than 150"},
		{KindDrugLimits, limHead, "XC08,,60,18,,,,,,,", "max_age", "less than min_age 60"},
		{KindDrugLimits, limHead, "XC08,,,,30.5,,,,,,", "max_days", "non-negative whole number"},
		{KindDrugLimits, limHead, "XC08,,,,3651,,,,,,", "max_days", "more than 3650"},
		{KindDrugLimits, limHead, "XC08,,,,30,1片,,,,,", "daily_dose", "not a number of minimum units a day"},
		{KindDrugLimits, limHead, "XC08,,,,30,0.00001,,,,,", "daily_dose", "at most 4 decimals"},
		{KindDrugLimits, limHead, "XC08,,,,30,-1,,,,,", "daily_dose", "negative"},
		{KindDrugLimits, limHead, "XC08,,,,30,1000001,,,,,", "daily_dose", "more than 1000000"},
		{KindDrugLimits, limHead, "XC08,,,,,,abc,30,,,", "max_qty", "not a number of minimum units per period"},
		{KindDrugLimits, limHead, "XC08,,,,,,20000000,30,,,", "max_qty", "more than 10000000"},
		{KindDrugLimits, limHead, "XC08,,,,,,60,,,,", "period_days", "is required when max_qty is given"},
		{KindDrugLimits, limHead, "XC08,,,,,,60,00,,,", "period_days", "is required when max_qty is given"},
		{KindDrugLimits, limHead, "XC08,,,,,,60,3651,,,", "period_days", "more than 3650"},
		{KindDrugLimits, limHead, "XC08,,,,,,,,\"二\x01级\",,", "hosp_lv", "control character"},
		{KindDrugLimits, limHead, "XC08,,,,,,,,,pharmacy|急诊,", "scenes", `"急诊" is not one of outpatient, inpatient, pharmacy`},
		{KindDrugLimits, limHead, "XC08,,,,,,,,,outpatient;inpatient,", "scenes", "separated by |"},
		{KindDrugLimits, limHead, "XC08,,,,,,,,,," + strings.Repeat("限", 2001), "basis", "at most 2000"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.column+"/"+tt.row, func(t *testing.T) {
			_, re := read(t, tt.kind, CSV, tt.header+"\n"+tt.row+"\n", Options{})
			if re == nil {
				t.Fatal("no error")
			}
			if len(re.Errors) != 1 {
				t.Fatalf("%d errors, want 1:\n%v", len(re.Errors), re)
			}
			e := re.Errors[0]
			if e.Line != 2 || e.Column != tt.column || !strings.Contains(e.Msg, tt.msg) {
				t.Fatalf("error %+v, want line 2, column %s, message containing %q", e, tt.column, tt.msg)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	in := "fixmedins_code,fixmedins_name,fixmedins_type,admdvs\n" +
		"H1,医院,hospital,360102\n" +
		"H2,医院,drugstore,360102\n"
	_, err := Read(KindInstitutions, CSV, strings.NewReader(in), Options{})
	want := `institutions line 3, column fixmedins_type: "drugstore" is not one of hospital, clinic, village_clinic, pharmacy`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("error = %v\nwant it to end with %s", err, want)
	}
}

func TestRowProblems(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		f    Format
		in   string
		want []RowError // Msg is compared as a substring
	}{
		{"field count", KindRegions, CSV, "admdvs,name\n360102,东湖区,extra\n360103,西湖区\n",
			[]RowError{{Line: 2, Msg: "has 3 fields, but the header has 2"}}},
		{"bare quote", KindRegions, CSV, "admdvs,name\n360102,东\"湖区\n360103,西湖区\n",
			[]RowError{{Line: 2, Msg: "CSV syntax"}}},
		{"GBK bytes", KindRegions, CSV, "admdvs,name\n360102,\xb6\xab\xba\xfe\n",
			[]RowError{{Line: 2, Column: "name", Msg: "not valid UTF-8"}}},
		{"quoted line break keeps the line of the row start", KindRegions, CSV, "admdvs,name\n360102,\"东\n湖区\"\n36010,西湖区\n",
			[]RowError{{Line: 2, Column: "name", Msg: "control character"}, {Line: 4, Column: "admdvs", Msg: "want 6 digits"}}},
		{"JSONL not an object", KindRegions, JSONL, "[1,2]\n",
			[]RowError{{Line: 1, Msg: "not a JSON object"}}},
		{"JSONL syntax", KindRegions, JSONL, `{"admdvs":"360102","name":}` + "\n",
			[]RowError{{Line: 1, Msg: "not valid JSON"}}},
		{"JSONL nested value", KindRegions, JSONL, "\n\n" + `{"admdvs":"360102","name":{"zh":"东湖区"}}` + "\n",
			[]RowError{{Line: 3, Column: "name", Msg: "want a string or a number"}}},
		{"JSONL two values", KindRegions, JSONL, `{"admdvs":"360102","name":"a"} {"admdvs":"360103","name":"b"}` + "\n",
			[]RowError{{Line: 1, Msg: "more than one JSON value"}}},
		{"JSONL key twice", KindRegions, JSONL, `{"admdvs":"360102","name":"a","NAME":"b"}` + "\n",
			[]RowError{{Line: 1, Column: "name", Msg: "given twice"}}},
		{"JSONL invalid UTF-8", KindRegions, JSONL, `{"admdvs":"360102","name":"` + "\xb6\xab" + `"}` + "\n",
			[]RowError{{Line: 1, Msg: "not valid UTF-8"}}},
		{"JSONL number where a date is wanted", KindPersons, JSONL, `{"psn_no":"P1","gend":1,"brdy":19900101,"admdvs":360102}` + "\n",
			[]RowError{{Line: 1, Column: "brdy", Msg: "yyyy-mm-dd"}}},
		{"JSONL boolean where a number is wanted", KindDrugs, JSONL, `{"med_list_codg":"X","drug_name":"d","pack_content":true,"price":1}` + "\n",
			[]RowError{{Line: 1, Column: "pack_content", Msg: "positive whole number"}}},
		{"several problems in one row", KindRegions, CSV, "admdvs,name,parent\n3601,,3601\n",
			[]RowError{{Line: 2, Column: "admdvs"}, {Line: 2, Column: "name"}, {Line: 2, Column: "parent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, re := read(t, tt.kind, tt.f, tt.in, Options{})
			if re == nil {
				t.Fatal("no error")
			}
			if len(re.Errors) != len(tt.want) {
				t.Fatalf("errors:\n%v\nwant %+v", re, tt.want)
			}
			for i, w := range tt.want {
				g := re.Errors[i]
				if g.Line != w.Line || g.Column != w.Column || !strings.Contains(g.Msg, w.Msg) {
					t.Errorf("error %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestAgreements(t *testing.T) {
	const head = "fixmedins_code,fixmedins_name,fixmedins_type,admdvs,agreements,agreement_status,agreement_from,agreement_to\n"
	tests := []struct {
		name string
		row  string
		want []tracewatch.Agreement
		at   map[string]tracewatch.AgreementStatus // date → AgreementAt
	}{
		{"none: normal throughout", "H1,医院,hospital,360102,,,,", nil,
			map[string]tracewatch.AgreementStatus{"2000-01-01": "normal", "2030-01-01": "normal"}},
		{"timeline", "H1,医院,hospital,360102,normal:2020-01-01;suspended:2025-03-01:2025-06-01,,,",
			[]tracewatch.Agreement{{Status: "normal", From: day(2020, 1, 1)}, {Status: "suspended", From: day(2025, 3, 1), To: day(2025, 6, 1)}},
			map[string]tracewatch.AgreementStatus{"2025-02-28": "normal", "2025-03-01": "suspended", "2025-05-31": "suspended", "2025-06-01": "normal"}},
		{"out of order, spaces, Chinese, full-width separators, trailing ;",
			`H1,医院,hospital,360102," 解除：2026-01-01 ；中止:2025-03-01:2025-06-01; 正常:2020-01-01 ;",,,`,
			[]tracewatch.Agreement{{Status: "normal", From: day(2020, 1, 1)}, {Status: "suspended", From: day(2025, 3, 1), To: day(2025, 6, 1)},
				{Status: "terminated", From: day(2026, 1, 1)}},
			map[string]tracewatch.AgreementStatus{"2025-12-31": "normal", "2026-01-01": "terminated"}},
		{"empty to is open-ended", "H1,医院,hospital,360102,suspended:2024-01-01:,,,",
			[]tracewatch.Agreement{{Status: "suspended", From: day(2024, 1, 1)}}, nil},
		{"simple columns", "H1,医院,hospital,360102,,terminated,2024-07-01,",
			[]tracewatch.Agreement{{Status: "terminated", From: day(2024, 7, 1)}},
			map[string]tracewatch.AgreementStatus{"2024-06-30": "normal", "2024-07-01": "terminated"}},
		{"simple columns with an end", "H1,医院,hospital,360102,,中止,2024-07-01,2024-10-01",
			[]tracewatch.Agreement{{Status: "suspended", From: day(2024, 7, 1), To: day(2024, 10, 1)}},
			map[string]tracewatch.AgreementStatus{"2024-09-30": "suspended", "2024-10-01": "normal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, re := read(t, KindInstitutions, CSV, head+tt.row+"\n", Options{})
			if re != nil {
				t.Fatalf("errors:\n%v", re)
			}
			in := rows.Institutions[0]
			if !reflect.DeepEqual(in.Agreements, tt.want) {
				t.Fatalf("agreements = %+v\nwant %+v", in.Agreements, tt.want)
			}
			for d, want := range tt.at {
				when, _ := parseDate(d)
				if got := in.AgreementAt(when.Add(12 * time.Hour)); got != want {
					t.Errorf("AgreementAt(%s) = %s, want %s", d, got, want)
				}
			}
		})
	}
	t.Run("dates are Shanghai midnight", func(t *testing.T) {
		rows, _ := read(t, KindInstitutions, CSV, head+"H1,医院,hospital,360102,suspended:2025-03-01,,,\n", Options{})
		from := rows.Institutions[0].Agreements[0].From
		if want := time.Date(2025, 2, 28, 16, 0, 0, 0, time.UTC); !from.Equal(want) {
			t.Fatalf("From = %v, want %v", from, want)
		}
	})
}

func TestPersonsCertno(t *testing.T) {
	idMale := validID(t, "36010219900101123")   // male, 1990-01-01
	idFemale := validID(t, "11010519851231002") // female, 1985-12-31
	// An ID number whose check character is X, to write in lower case.
	var idX string
	for seq := 100; seq < 999 && idX == ""; seq++ {
		first17 := fmt.Sprintf("36010219900101%03d", seq)
		if c, _ := idno.CheckDigit(first17); c == 'X' {
			idX = first17 + "X"
		}
	}
	if idX == "" {
		t.Fatal("no ID number with check character X found")
	}
	fullWidth := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				r += '０' - '0'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	gend := func(id string) string { // gender digit of an ID number
		if (id[16]-'0')%2 == 1 {
			return "1"
		}
		return "2"
	}
	const head = "psn_no,certno,psn_name,gend,brdy,admdvs\n"
	line := func(psn, certno, gend, brdy string) string {
		return psn + ",\"" + certno + "\",张三," + gend + "," + brdy + ",360102\n"
	}

	t.Run("same person in other spellings hashes the same", func(t *testing.T) {
		lower := strings.ToLower(idX)
		in := head +
			line("P1", idX, gend(idX), "1990-01-01") +
			line("P2", lower, gend(idX), "1990-01-01") +
			line("P3", fullWidth(lower), gend(idX), "1990-01-01") +
			line("P4", "\u3000"+idX+" ", gend(idX), "1990-01-01")
		rows, re := read(t, KindPersons, CSV, in, Options{HashKey: testKey})
		if re != nil {
			t.Fatalf("errors:\n%v", re)
		}
		if len(rows.Persons) != 4 {
			t.Fatalf("%d persons", len(rows.Persons))
		}
		want := certnoHash(testKey, idX)
		for _, p := range rows.Persons {
			if p.CertnoHash != want || p.CertnoMasked != idno.Mask(idX) {
				t.Errorf("%s: hash %s masked %s, want %s %s", p.PsnNo, p.CertnoHash, p.CertnoMasked, want, idno.Mask(idX))
			}
		}
		if len(want) != 64 || strings.ToLower(want) != want {
			t.Errorf("hash %q is not lowercase hex SHA-256", want)
		}
		// The hash is keyed: another key gives another hash.
		other, _ := read(t, KindPersons, CSV, head+line("P1", idX, gend(idX), "1990-01-01"), Options{HashKey: []byte("other")})
		if other.Persons[0].CertnoHash == want {
			t.Error("the hash does not depend on the key")
		}
		assertNoCertno(t, rows, nil, idX, lower, fullWidth(lower), idX[:17])
	})

	t.Run("not an ID number: trimmed and hashed as given", func(t *testing.T) {
		rows, re := read(t, KindPersons, CSV, head+line("P1", " H01234567 ", "1", "1990-01-01"), Options{HashKey: testKey})
		if re != nil {
			t.Fatalf("errors:\n%v", re)
		}
		p := rows.Persons[0]
		if p.CertnoHash != certnoHash(testKey, "H01234567") || p.CertnoMasked != "H0*****67" {
			t.Fatalf("person %+v", p)
		}
	})

	t.Run("hash key required", func(t *testing.T) {
		for _, in := range []struct {
			f    Format
			text string
		}{
			{CSV, head + line("P1", idMale, "1", "1990-01-01")},
			{CSV, "psn_no,certno,gend,brdy,admdvs\nP1,,1,1990-01-01,360102\n"},
			{JSONL, `{"psn_no":"P1","gend":1,"brdy":"1985-12-31","admdvs":"360102"}` + "\n" +
				`{"psn_no":"P2","certno":"` + idMale + `","gend":1,"brdy":"1990-01-01","admdvs":"360102"}` + "\n"},
		} {
			_, err := Read(KindPersons, in.f, strings.NewReader(in.text), Options{})
			if err == nil || tracewatch.KindOf(err) != tracewatch.KindInvalid || !strings.Contains(err.Error(), "hash key is required") {
				t.Fatalf("%v: err = %v", in.f, err)
			}
			if strings.Contains(err.Error(), idMale) {
				t.Fatal("the error contains the ID number")
			}
		}
		// Without certno no key is needed.
		rows, re := read(t, KindPersons, CSV, "psn_no,gend,brdy,admdvs\nP1,1,1990-01-01,360102\n", Options{})
		if re != nil || rows.Persons[0].CertnoHash != "" || rows.Persons[0].CertnoMasked != "" {
			t.Fatalf("rows %+v, errors %v", rows, re)
		}
	})

	t.Run("gend and brdy must agree with the ID number", func(t *testing.T) {
		in := head +
			line("P1", idMale, "2", "1990-01-01") + // gender disagrees
			line("P2", idMale, "1", "1990-01-02") + // birth date disagrees
			line("P3", idFemale, "男", "1985-12-31") + // gender disagrees (Chinese)
			line("P4", idFemale, "9", "1985-12-31") + // unknown gender does not disagree
			line("P5", idFemale, "2", "1985-12-31") // agrees
		_, re := read(t, KindPersons, CSV, in, Options{HashKey: testKey})
		want := []RowError{
			{Line: 2, Column: "gend", Msg: `"2" disagrees with the gender encoded in certno`},
			{Line: 3, Column: "brdy", Msg: "disagrees with the birth date encoded in certno"},
			{Line: 4, Column: "gend", Msg: `"男" disagrees with the gender encoded in certno`},
		}
		if re == nil || !reflect.DeepEqual(re.Errors, want) {
			t.Fatalf("errors = %+v\nwant %+v", re, want)
		}
		assertNoCertno(t, nil, re, idMale, idFemale)
	})

	t.Run("errors never quote an ID number or a name", func(t *testing.T) {
		// An ID number in the wrong column, and a bad row with a name.
		in := "psn_no,psn_name,gend,brdy,admdvs,insutype\n" +
			idMale + ",张三丰,1,1990-01-01,360102,\"" + idMale + " x\"\n" +
			"P2,李四光,1," + idFemale + ",360102,\n"
		_, re := read(t, KindPersons, CSV, in, Options{HashKey: testKey})
		if re == nil || len(re.Errors) != 2 {
			t.Fatalf("errors = %v", re)
		}
		assertNoCertno(t, nil, re, idMale, idFemale, "张三丰", "李四光")
		if !strings.Contains(re.Error(), idno.Mask(idFemale)) {
			t.Errorf("want the misplaced ID number masked in %q", re.Error())
		}
	})
}

// assertNoCertno fails when any of the secrets appears in the rows or errors.
func assertNoCertno(t *testing.T, rows *Rows, re *RowErrors, secrets ...string) {
	t.Helper()
	var text string
	if rows != nil {
		text += fmt.Sprintf("%+v %#v", *rows, *rows)
	}
	if re != nil {
		text += re.Error() + fmt.Sprintf("%+v", re.Errors)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%q appears in the output", s)
		}
	}
}

// TestCodeMapLevelUnknown: a code mapping row that states no package level (the column
// absent, as in many provinces' NHSA tables; an empty cell; JSON without the field or
// with null) leaves the level unknown (0), never 1; a stated level is kept in every
// spelling.
func TestCodeMapLevelUnknown(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []int
	}{
		{"no column", CSV, "product_id,med_list_codg\n8385793,XJ01\n8385794,XJ01\n", []int{0, 0}},
		{"empty cells", CSV, "product_id,med_list_codg,pack_level\n8385793,XJ01,\n8385794,XJ01,3\n", []int{0, 3}},
		{"Chinese names", CSV, "product_id,med_list_codg,pack_level\n8385793,XJ01,小码\n8385794,XJ01,中码\n", []int{1, 2}},
		{"JSON without or null", JSONL, `{"product_id":"8385793","med_list_codg":"XJ01"}` + "\n" +
			`{"product_id":"8385794","med_list_codg":"XJ01","pack_level":null}` + "\n", []int{0, 0}},
		{"JSON stated", JSONL, `{"product_id":"8385793","med_list_codg":"XJ01","pack_level":1}` + "\n" +
			`{"product_id":"8385794","med_list_codg":"XJ01","pack_level":"3"}` + "\n", []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, re := read(t, KindCodeMap, tt.format, tt.in, Options{})
			if re != nil {
				t.Fatalf("errors %v", re)
			}
			var got []int
			for _, m := range rows.CodeMaps {
				got = append(got, m.PackLevel)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("levels %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCodeMapGTIN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8385793", "8385793"},
		{"96385074", "00000096385074"},       // GTIN-8
		{"036000291452", "00036000291452"},   // GTIN-12 (UPC-A)
		{"6901234567892", "06901234567892"},  // GTIN-13
		{"06901234567892", "06901234567892"}, // GTIN-14
		{"16901234567899", "16901234567899"}, // GTIN-14 with indicator digit 1
		{" 6901234567892 ", "06901234567892"},
	}
	for _, tt := range tests {
		rows, re := read(t, KindCodeMap, CSV, "product_id,med_list_codg\n\""+tt.in+"\",XJ01\n", Options{})
		if re != nil {
			t.Errorf("%q: errors %v", tt.in, re)
			continue
		}
		if got := rows.CodeMaps[0]; got.ProductID != tt.want || got.PackLevel != 0 {
			t.Errorf("%q: got %+v, want product %s at an unknown level (no pack_level column)", tt.in, got, tt.want)
		}
	}
	// Different spellings of one GTIN are one key: the last row wins.
	rows, re := read(t, KindCodeMap, CSV, "product_id,med_list_codg\n6901234567892,A\n06901234567892,B\n", Options{})
	if re != nil || len(rows.CodeMaps) != 1 || rows.CodeMaps[0].DrugCode != "B" {
		t.Fatalf("rows %+v errors %v", rows, re)
	}
}

func TestLastRowWins(t *testing.T) {
	in := "admdvs,name\n360100,南昌市\n360102,东湖区(旧)\n360103,西湖区\n360102,东湖区\n"
	rows, re := read(t, KindRegions, CSV, in, Options{})
	if re != nil {
		t.Fatal(re)
	}
	want := []tracewatch.RegionInfo{{Code: "360100", Name: "南昌市"}, {Code: "360102", Name: "东湖区"}, {Code: "360103", Name: "西湖区"}}
	if !reflect.DeepEqual(rows.Regions, want) {
		t.Fatalf("regions = %+v, want %+v", rows.Regions, want)
	}
	// Packages are keyed by the child: a child listed twice ends in its last parent, and
	// one parent keeps all its children.
	in = "parent_code,child_code\n" +
		"83857930000000000100,83857930000000000001\n" +
		"83857930000000000100,83857930000000000002\n" +
		"83857930000000000200,\"8385793 0000000000001\"\n"
	rows, re = read(t, KindPackages, CSV, in, Options{})
	if re != nil {
		t.Fatal(re)
	}
	wantLinks := []tracewatch.PackageLink{
		{Parent: "83857930000000000200", Child: "83857930000000000001"},
		{Parent: "83857930000000000100", Child: "83857930000000000002"},
	}
	if !reflect.DeepEqual(rows.Packages, wantLinks) {
		t.Fatalf("links = %+v, want %+v", rows.Packages, wantLinks)
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("admdvs,name\n")
	for i := 0; i < 30; i++ {
		b.WriteString("bad,x\n")
	}
	_, re := read(t, KindRegions, CSV, b.String(), Options{})
	if re == nil || len(re.Errors) != MaxErrors || MaxErrors != 20 || !re.Truncated {
		t.Fatalf("errors = %+v", re)
	}
	if last := re.Errors[MaxErrors-1]; last.Line != 21 {
		t.Errorf("20th error on line %d, want 21", last.Line)
	}
	if !strings.Contains(re.Error(), "stopped after 20") {
		t.Errorf("message does not say it stopped: %s", re.Error())
	}
	// Exactly 20 problems: all listed, not truncated.
	_, re = read(t, KindRegions, CSV, "admdvs,name\n"+strings.Repeat("bad,x\n", 20)+"360102,ok\n", Options{})
	if re == nil || len(re.Errors) != MaxErrors || re.Truncated || strings.Contains(re.Error(), "stopped") {
		t.Fatalf("errors = %+v", re)
	}
	// Two problems per row: the 21st problem is in the 11th row.
	_, re = read(t, KindRegions, CSV, "admdvs,name\n"+strings.Repeat("bad,\n", 10)+"bad,x\n"+"bad,\n", Options{})
	if re == nil || len(re.Errors) != MaxErrors || !re.Truncated {
		t.Fatalf("errors = %+v", re)
	}
	// Under the cap: not truncated.
	_, re = read(t, KindRegions, JSONL, strings.Repeat(`{"admdvs":"bad","name":"x"}`+"\n", 3), Options{})
	if re == nil || len(re.Errors) != 3 || re.Truncated {
		t.Fatalf("errors = %+v", re)
	}
}

func TestKindsAndFormats(t *testing.T) {
	want := []Kind{"regions", "institutions", "persons", "practitioners", "drugs", "codemap", "packages", "drug_limits"}
	if got := Kinds(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Kinds() = %v", got)
	}
	Kinds()[0] = "changed"
	if Kinds()[0] != "regions" {
		t.Fatal("Kinds returns shared state")
	}
	if got := KindNames(); got != "regions, institutions, persons, practitioners, drugs, codemap, packages, drug_limits" {
		t.Errorf("KindNames() = %q", got)
	}
	for _, k := range want {
		if got := k.Optional(); got != (k == KindDrugLimits) {
			t.Errorf("%s.Optional() = %v", k, got)
		}
	}
	for _, k := range want {
		if got, err := ParseKind(" " + strings.ToUpper(string(k)) + " "); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("hospitals"); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("ParseKind(hospitals) err = %v", err)
	}
	formats := []struct {
		name string
		want Format
		ok   bool
	}{
		{"regions.csv", CSV, true}, {"/data/DRUGS.CSV", CSV, true}, {"x.csv.gz", CSV, true},
		{"x.jsonl", JSONL, true}, {"x.ndjson", JSONL, true}, {`C:\data\x.ndjson.gz`, JSONL, true}, {"x.jsonl.GZ", JSONL, true},
		{"x.json", 0, false}, {"x.txt", 0, false}, {"csv", 0, false}, {"x.gz", 0, false}, {"x.csv.zip", 0, false},
	}
	for _, tt := range formats {
		got, err := FormatOf(tt.name)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("FormatOf(%q) = %v, %v", tt.name, got, err)
		}
		if err != nil && tracewatch.KindOf(err) != tracewatch.KindInvalid {
			t.Errorf("FormatOf(%q) error kind %v", tt.name, tracewatch.KindOf(err))
		}
	}
	if _, err := Read("hospitals", CSV, strings.NewReader(""), Options{}); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("Read with an unknown kind: %v", err)
	}
	if _, err := Read(KindRegions, Format(0), strings.NewReader(""), Options{}); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("Read with format 0: %v", err)
	}
	var nilRows *Rows
	if nilRows.Len() != 0 {
		t.Error("nil Rows has rows")
	}
}

// failingReader fails after its data.
type failingReader struct{ data string }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderError(t *testing.T) {
	for _, f := range []Format{CSV, JSONL} {
		for _, data := range []string{"admdvs,name\n", "a", ""} {
			_, err := Read(KindRegions, f, &failingReader{data: data}, Options{})
			var re *RowErrors
			if err == nil || errors.As(err, &re) || tracewatch.KindOf(err) != tracewatch.KindInternal || !strings.Contains(err.Error(), "disk on fire") {
				t.Errorf("%v after %q: err = %v", f, data, err)
			}
		}
	}
}

func TestLongJSONLine(t *testing.T) {
	in := `{"admdvs":"360102","name":"` + strings.Repeat("a", maxLine) + `"}` + "\n"
	_, re := read(t, KindRegions, JSONL, `{"admdvs":"360101","name":"a"}`+"\n"+in, Options{})
	if re == nil || len(re.Errors) != 1 || re.Errors[0].Line != 2 || !strings.Contains(re.Errors[0].Msg, "longer than") {
		t.Fatalf("errors = %+v", re)
	}
}

func TestShow(t *testing.T) {
	tests := []struct{ in, want string }{
		{"drugstore", `"drugstore"`},
		{"360102199001011233", `"3601**********1233"`},         // ID-shaped, even with a wrong check digit
		{"id 36010219900101123x!", `"id 3601**********123x!"`}, // lower-case x
		{"３６０１０２９００１０１１２３", `"３６０１*******１１２３"`},               // full-width, 15
		{"83857930000879766660", `"83857930000879766660"`},     // a trace code is not masked
		{"1234567", `"1234567"`},
		{strings.Repeat("长", 70), `"` + strings.Repeat("长", 60) + `…"`},
	}
	for _, tt := range tests {
		if got := show(tt.in); got != tt.want {
			t.Errorf("show(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestDocExamples loads every CSV and JSONL example of docs/data-formats.md with the kind
// of its section, so the documented examples stay valid.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/data-formats.md")
	if err != nil {
		t.Fatal(err)
	}
	var kind Kind
	seen := make(map[Kind]int)
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "## ") {
			kind = ""
			if k, err := ParseKind(strings.Fields(l)[1]); err == nil {
				kind = k
			}
			continue
		}
		var f Format
		switch l {
		case "```csv":
			f = CSV
		case "```json":
			f = JSONL
		default:
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		if kind == "" {
			continue
		}
		text := strings.Join(lines[start:i], "\n") + "\n"
		rows, err := Read(kind, f, strings.NewReader(text), Options{HashKey: testKey})
		if err != nil {
			t.Errorf("docs line %d (%s, %v): %v", start, kind, f, err)
			continue
		}
		if rows.Len() != i-start-map[Format]int{CSV: 1, JSONL: 0}[f] {
			t.Errorf("docs line %d (%s, %v): %d rows from %d lines", start, kind, f, rows.Len(), i-start)
		}
		seen[kind]++
	}
	for _, k := range Kinds() {
		if seen[k] != 2 {
			t.Errorf("%s: %d examples in the doc, want a CSV and a JSONL one", k, seen[k])
		}
	}
}
