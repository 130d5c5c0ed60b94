package nhsa_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
)

const (
	testMsgID = "P44010600123202503010930050001"
	testInst  = "P44010600123"
	certno    = "11010519491231002X"
	certMask  = "1101**********002X"
	psnName   = "赵六"
)

// envelope wraps input into a request envelope as a pharmacy client sends it.
func envelope(infno, input string) []byte {
	return []byte(`{"infno":"` + infno + `","msgid":"` + testMsgID + `","mdtrtarea_admvs":"440106","insuplc_admdvs":"",` +
		`"recer_sys_code":"IMS","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0","opter_type":1,` +
		`"opter":"0001","opter_name":"张三","inf_time":"2025-03-01 09:30:05","fixmedins_code":"` + testInst + `",` +
		`"fixmedins_name":"某某大药房","sign_no":"","enc_type":"","input":` + input + `}`)
}

// decode runs a body through DecodeRequest and Decode.
func decode(t *testing.T, body []byte) ([]tracewatch.Event, []nhsa.RowError, error) {
	t.Helper()
	req, err := nhsa.DecodeRequest(body)
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	return nhsa.Decode(req)
}

func cst(s string) time.Time {
	for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, nhsa.CST); err == nil {
			return t
		}
	}
	panic("bad test time " + s)
}

func codes(raws ...string) []tracewatch.EventCode {
	var out []tracewatch.EventCode
	for _, r := range raws {
		out = append(out, tracewatch.EventCode{Raw: r})
	}
	return out
}

func qty(s string) tracewatch.Qty {
	q, err := tracewatch.ParseQty(s)
	if err != nil {
		panic(err)
	}
	return q
}

// complete fills the fields every event of the test message carries.
// settings are the care settings the interfaces state (the 35xx name none).
var settings = map[string]tracewatch.Setting{
	"2204": tracewatch.SettingOutpatient, "2207": tracewatch.SettingOutpatient, "2208": tracewatch.SettingOutpatient,
	"2301": tracewatch.SettingInpatient, "2304": tracewatch.SettingInpatient, "2305": tracewatch.SettingInpatient,
}

func complete(infno string, evs ...tracewatch.Event) []tracewatch.Event {
	for i := range evs {
		evs[i].MsgID, evs[i].Infno, evs[i].Institution = testMsgID, infno, testInst
		evs[i].Setting = settings[infno]
		if evs[i].Line == 0 {
			evs[i].Line = i + 1
		}
		if evs[i].Time.IsZero() { // events without a time of their own take inf_time
			evs[i].Time = cst("2025-03-01 09:30:05")
		}
		evs[i].Sent = cst("2025-03-01 09:30:05") // the envelope's inf_time
	}
	return evs
}

func diffEvents(t *testing.T, got, want []tracewatch.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// sale3505 is a realistic single-row 3505 input: two codes in drugtracinfo, two in the
// legacy flat field (one of them repeated), certno and names present.
const sale3505 = `{"selinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"YP0001",
"fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B20250301001","prsc_dr_cert_type":"01","prsc_dr_certno":"",
"prsc_dr_name":"李医生","phar_cert_type":"01","phar_certno":"","phar_name":"王药师","phar_prac_cert_no":"YS123",
"hi_feesetl_type":"1","setl_id":"SETL20250301001","mdtrt_sn":"MD20250301001","psn_no":"44000012345678",
"psn_cert_type":"01","certno":"` + certno + `","psn_name":"` + psnName + `","manu_lotnum":"L2401","manu_date":"2024-01-05",
"expy_end":"2026-01-04","rx_flag":"0","trdn_flag":"0","finl_trns_pric":"12.345000","rxno":"","rx_circ_flag":"0",
"rtal_docno":"R20250301001","stoout_no":"","bchno":"","drug_trac_codg":"83857930000879766660, 83857930000879766661;",
"drug_prod_barc":"6901234567892","shelf_posi":"A-01","sel_retn_cnt":"2","sel_retn_time":"2025-03-01 09:29:58",
"sel_retn_opter_name":"钱七","memo":"","mdtrt_setl_type":"1",
"drugtracinfo":[{"drug_trac_codg":"83857930000879766660"},{"drug_trac_codg":"83857930000879766662"}]}}`

func TestDecodeSale3505(t *testing.T) {
	evs, rowErrs, err := decode(t, envelope("3505", sale3505))
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("Decode: err %v, row errors %v", err, rowErrs)
	}
	want := complete("3505", tracewatch.Event{
		Kind: tracewatch.EventSale, DrugCode: "XA11DAW036A001010104127", ItemID: "YP0001", ItemName: "维生素B1片",
		BatchNo: "B20250301001", LotNo: "L2401", Made: cst("2024-01-05"), Expires: cst("2026-01-04"),
		Qty: 2 * tracewatch.QtyScale, UnitPrice: 1235, Time: cst("2025-03-01 09:29:58"), Receipt: "R20250301001",
		Settlement: "SETL20250301001", Visit: "MD20250301001", Person: "44000012345678", CertnoMasked: certMask,
		SettleType: "1", Prescriber: "李医生", Pharmacist: "王药师",
		Codes: codes("83857930000879766660", "83857930000879766662", "83857930000879766661"),
	})
	diffEvents(t, evs, want)
	if loc := evs[0].Time.Location(); loc != nhsa.CST {
		t.Errorf("Time in %v, want CST", loc)
	}
}

func TestDecodeBatch3505A(t *testing.T) {
	row := func(n int, docno string) string {
		return fmt.Sprintf(`{"med_list_codg":"X%d","fixmedins_bchno":"B%d",%s"trdn_flag":"1","sel_retn_cnt":%d,`+
			`"sel_retn_time":"2025-03-01 10:0%d:00","certno":"%s","psn_name":"%s","drugtracinfo":[{"drug_trac_codg":"C%d"}]}`,
			n, n, docno, n, n, certno, psnName, n)
	}
	input := `{"selinfoDetail":[` + row(1, `"rtal_docno":"R1",`) + `,` + row(2, ``) + `,` + row(3, `"rtal_docno":"R3",`) + `]}`
	evs, rowErrs, err := decode(t, envelope("3505A", input))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(n int) tracewatch.Event {
		return tracewatch.Event{Line: n, Kind: tracewatch.EventSale, DrugCode: fmt.Sprint("X", n), BatchNo: fmt.Sprint("B", n),
			Receipt: fmt.Sprint("R", n), SplitPack: true, Qty: tracewatch.Qty(n) * tracewatch.QtyScale,
			Time: cst(fmt.Sprintf("2025-03-01 10:0%d:00", n)), CertnoMasked: certMask, Codes: codes(fmt.Sprint("C", n))}
	}
	diffEvents(t, evs, complete("3505A", mk(1), mk(3)))
	wantErrs := []nhsa.RowError{{Row: 2, Field: "selinfoDetail[2].rtal_docno", Msg: "required"}}
	if !reflect.DeepEqual(rowErrs, wantErrs) {
		t.Errorf("row errors %v, want %v", rowErrs, wantErrs)
	}
	if got, want := rowErrs[0].Error(), "row 2: selinfoDetail[2].rtal_docno: required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// minimal holds a minimal valid input of every supported infno and the events it yields
// (MsgID, Infno, Institution and Line are filled by complete).
var minimal = []struct {
	infno string
	input string
	want  []tracewatch.Event
}{
	{"3501", `{"invinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","invdate":"2025-03-01","inv_cnt":"10"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventStocktake, DrugCode: "X1", BatchNo: "B1", Time: cst("2025-03-01"), Qty: qty("10")}}},
	{"3501A", `{"invinfo":[{"med_list_codg":"X1","fixmedins_bchno":"B1","invdate":"2025-03-01","inv_cnt":0,
		"manu_lotnum":"L1","manu_date":"2024-01-01","expy_end":"2026-12-31","drugtracinfo":[{"drug_trac_codg":"C1"}]}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventStocktake, DrugCode: "X1", BatchNo: "B1", Time: cst("2025-03-01"),
			LotNo: "L1", Made: cst("2024-01-01"), Expires: cst("2026-12-31"), Codes: codes("C1")}}},
	{"3502", `{"invinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","inv_chg_type":"104","cnt":"1.5",
		"inv_chg_time":"2025-03-01 10:00:00","pric":"3.5","trdn_flag":"1"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventStockChange, ChangeType: "104", DrugCode: "X1", BatchNo: "B1",
			Qty: qty("1.5"), Time: cst("2025-03-01 10:00:00"), UnitPrice: 350, SplitPack: true}}},
	{"3502A", `{"invinfoDetail":[{"med_list_codg":"X1","fixmedins_bchno":"B1","inv_chg_type":101,"cnt":2,
		"inv_chg_time":"2025-03-01","drugtracinfo":[{"drug_trac_codg":"C1"},{"drug_trac_codg":"C2"}]}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventStockChange, ChangeType: "101", DrugCode: "X1", BatchNo: "B1",
			Qty: qty("2"), Time: cst("2025-03-01"), Codes: codes("C1", "C2")}}},
	{"3503", `{"purcinfo":{"med_list_codg":"X1","fixmedins_hilist_id":"H1","fixmedins_hilist_name":"N1","fixmedins_bchno":"B1",
		"spler_name":"S1","purc_retn_cnt":"100","purc_retn_stoin_time":"2025-03-01 10:00:00","finl_trns_pric":"1.5",
		"manu_lotnum":"L1","manu_date":"2024-01-01","expy_end":"2026-12-31","aprvno":"国药准字H1","prod_geay_flag":"0"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventPurchase, DrugCode: "X1", ItemID: "H1", ItemName: "N1", BatchNo: "B1",
			Supplier: "S1", Qty: qty("100"), Time: cst("2025-03-01 10:00:00"), UnitPrice: 150, LotNo: "L1",
			Made: cst("2024-01-01"), Expires: cst("2026-12-31")}}},
	{"3503A", `{"purcinfoDetail":[{"med_list_codg":"X1","fixmedins_bchno":"B1","purc_retn_cnt":1,
		"purc_retn_stoin_time":"2025-03-01T10:00:00","drugtracinfo":[{"drug_trac_codg":"C1"}]}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventPurchase, DrugCode: "X1", BatchNo: "B1", Qty: qty("1"),
			Time: cst("2025-03-01 10:00:00"), Codes: codes("C1")}}},
	{"3504", `{"purcinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","purc_retn_cnt":"5","medins_prod_purc_no":"PN1",
		"purc_retn_stoin_time":"2025-03-01 10:00:00","spler_name":"S1"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventPurchaseReturn, DrugCode: "X1", BatchNo: "B1", Qty: qty("5"),
			Supplier: "S1", Time: cst("2025-03-01 10:00:00")}}},
	{"3504A", `{"purcinfoDetail":{"med_list_codg":"X1","fixmedins_bchno":"B1","purc_retn_cnt":"5",
		"purc_retn_stoin_time":"2025-03-01 10:00:00"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventPurchaseReturn, DrugCode: "X1", BatchNo: "B1", Qty: qty("5"),
			Time: cst("2025-03-01 10:00:00")}}},
	{"3505", `{"selinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","rtal_docno":"R1","trdn_flag":"0",
		"sel_retn_cnt":"1","sel_retn_time":"2025-03-01 10:00:00"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSale, DrugCode: "X1", BatchNo: "B1", Receipt: "R1", Qty: qty("1"),
			Time: cst("2025-03-01 10:00:00")}}},
	{"3505A", `{"selinfoDetail":[{"med_list_codg":"X1","fixmedins_bchno":"B1","rtal_docno":"R1","trdn_flag":"1",
		"sel_retn_cnt":"0.5","sel_retn_time":"2025-03-01 10:00:00","mdtrt_setl_type":"2","drug_trac_codg":"C1"}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSale, DrugCode: "X1", BatchNo: "B1", Receipt: "R1", Qty: qty("0.5"),
			SplitPack: true, SettleType: "2", Time: cst("2025-03-01 10:00:00"), Codes: codes("C1")}}},
	{"3506", `{"selinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","trdn_flag":"0","medins_prod_sel_no":"SN1",
		"sel_retn_cnt":"1","sel_retn_time":"2025-03-01 10:00:00","setl_id":"S1","drugtracinfo":[{"drug_trac_codg":"C1"}]}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSaleReturn, DrugCode: "X1", BatchNo: "B1", Qty: qty("1"),
			Settlement: "S1", Time: cst("2025-03-01 10:00:00"), Codes: codes("C1")}}},
	{"3506A", `{"selinfoDetail":[{"med_list_codg":"X1","fixmedins_bchno":"B1","trdn_flag":"0",
		"sel_retn_cnt":"1","sel_retn_time":"2025-03-01 10:00:00"}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSaleReturn, DrugCode: "X1", BatchNo: "B1", Qty: qty("1"),
			Time: cst("2025-03-01 10:00:00")}}},
	{"3507", `{"data":{"fixmedins_bchno":"B1","inv_data_type":"4"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventDeletion, BatchNo: "B1", DataType: "4"}}},
	{"2204", `{"feedetail":[{"feedetl_sn":"F1","mdtrt_id":"M1","psn_no":"P1","chrg_bchno":"CB1","med_list_codg":"X1",
		"medins_list_codg":"H1","det_item_fee_sumamt":"25.00","cnt":"2","pric":"12.5","fee_ocur_time":"2025-03-01 10:00:00",
		"drugtracinfo":[{"drug_trac_codg":"C1"}]}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventFeeLine, FeeLine: "F1", Visit: "M1", Person: "P1", DrugCode: "X1",
			ItemID: "H1", Amount: 2500, Qty: qty("2"), UnitPrice: 1250, Time: cst("2025-03-01 10:00:00"), Codes: codes("C1")}}},
	{"2301", `{"feedetail":{"feedetl_sn":"F1","med_list_codg":"X1","cnt":1,"det_item_fee_sumamt":7.5}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventFeeLine, FeeLine: "F1", DrugCode: "X1", Amount: 750, Qty: qty("1")}}},
	{"2207", `{"data":{"setl_id":"S1","mdtrt_id":"M1","psn_no":"P1","setl_time":"2025-03-01 10:05:00",
		"medfee_sumamt":"25.00","fund_pay_sumamt":"20.00","certno":"` + certno + `","insutype":"310","med_type":"11"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSettlement, Settlement: "S1", Visit: "M1", Person: "P1",
			Time: cst("2025-03-01 10:05:00"), Amount: 2500, FundPaid: 2000, CertnoMasked: certMask}}},
	{"2304", `{"data":{"setl_id":"S1","mdtrt_id":"M1","psn_no":"P1","medfee_sumamt":100},
		"drug_trac_info":[{"feedetl_sn":"F1","drug_trac_codg":"C1","trdn_flag":"1","min_prcunt_type":"1"}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSettlement, Settlement: "S1", Visit: "M1", Person: "P1",
			Amount: 10000, FeeLine: "F1", SplitPack: true, Codes: codes("C1")}}},
	{"2208", `{"data":{"setl_id":"S1","mdtrt_id":"M1","psn_no":"P1"}}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSettlementCancel, Settlement: "S1", Visit: "M1", Person: "P1"}}},
	{"2305", `{"data":[{"setl_id":"S1","mdtrt_id":"M1"}]}`,
		[]tracewatch.Event{{Kind: tracewatch.EventSettlementCancel, Settlement: "S1", Visit: "M1"}}},
}

func TestDecodeEveryInfno(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range minimal {
		t.Run(tc.infno, func(t *testing.T) {
			seen[tc.infno] = true
			evs, rowErrs, err := decode(t, envelope(tc.infno, tc.input))
			if err != nil || len(rowErrs) > 0 {
				t.Fatalf("err %v, row errors %v", err, rowErrs)
			}
			diffEvents(t, evs, complete(tc.infno, append([]tracewatch.Event(nil), tc.want...)...))
		})
	}
	for _, infno := range []string{"3501", "3502", "3503", "3504", "3505", "3506", "3507", "3501A", "3502A", "3503A",
		"3504A", "3505A", "3506A", "2204", "2301", "2207", "2304", "2208", "2305"} {
		if !nhsa.Supported(infno) {
			t.Errorf("Supported(%q) = false", infno)
		}
		if !seen[infno] {
			t.Errorf("no minimal case for %s", infno)
		}
	}
	for _, infno := range []string{"", "3507A", "3505a", " 3505", "3508", "9001", "2206", "2601", "3101"} {
		if nhsa.Supported(infno) {
			t.Errorf("Supported(%q) = true", infno)
		}
	}
}

func TestDecodeSettlement(t *testing.T) {
	const header = `"setl_id":"S1","mdtrt_id":"M1","psn_no":"P1","setl_time":"2025-03-01 10:05:00",` +
		`"medfee_sumamt":"30.00","fund_pay_sumamt":"21.50"`
	const elems = `[{"feedetl_sn":"F1","drug_trac_codg":"A","trdn_flag":"0","min_prcunt_type":"1"},` +
		`{"feedetl_sn":"F2","drug_trac_codg":"B","trdn_flag":"1","min_prcunt_type":"2"},` +
		`{"feedetl_sn":"F1","drug_trac_codg":"C","trdn_flag":"0"},` +
		`{"feedetl_sn":"F1","drug_trac_codg":"A","trdn_flag":"0"}]`
	head := tracewatch.Event{Kind: tracewatch.EventSettlement, Settlement: "S1", Visit: "M1", Person: "P1",
		Time: cst("2025-03-01 10:05:00")}
	two := func() []tracewatch.Event {
		a, b := head, head
		a.FeeLine, a.Codes, a.Amount, a.FundPaid = "F1", codes("A", "C"), 3000, 2150
		b.FeeLine, b.Codes, b.SplitPack = "F2", codes("B"), true
		return []tracewatch.Event{a, b}
	}
	tests := []struct {
		name, infno, input string
		want               []tracewatch.Event
		errs               []nhsa.RowError
	}{
		{"under input", "2207", `{"data":{` + header + `},"drug_trac_info":` + elems + `}`, two(), nil},
		{"under input.data", "2207", `{"data":{` + header + `,"drug_trac_info":` + elems + `}}`, two(), nil},
		{"inpatient, data as one-element array", "2304", `{"data":[{` + header + `,"drug_trac_info":` + elems + `}]}`, two(), nil},
		{"split across both places", "2207",
			`{"data":{` + header + `,"drug_trac_info":[{"feedetl_sn":"F2","drug_trac_codg":"B","trdn_flag":"1"}]},` +
				`"drug_trac_info":[{"feedetl_sn":"F1","drug_trac_codg":"A"},{"feedetl_sn":"F1","drug_trac_codg":"C"}]}`,
			two(), nil},
		{"no trace info", "2207", `{"data":{` + header + `}}`,
			[]tracewatch.Event{func() tracewatch.Event { e := head; e.Amount, e.FundPaid = 3000, 2150; return e }()}, nil},
		{"bad element left out", "2207",
			`{"data":{` + header + `},"drug_trac_info":[{"feedetl_sn":"F1","drug_trac_codg":"A"},{"drug_trac_codg":"X"},` +
				`{"feedetl_sn":"F2","drug_trac_codg":"B","trdn_flag":"1"},{"feedetl_sn":"F1","drug_trac_codg":"C","trdn_flag":"Y"}]}`,
			func() []tracewatch.Event {
				evs := two()
				evs[0].Codes = codes("A")
				return evs
			}(),
			[]nhsa.RowError{{Row: 2, Field: "drug_trac_info[2].feedetl_sn", Msg: "required"},
				{Row: 4, Field: "drug_trac_info[4].trdn_flag", Msg: `want "0" or "1"`}}},
		{"setl_id missing", "2207", `{"data":{"mdtrt_id":"M1","certno":"` + certno + `"},"drug_trac_info":` + elems + `}`,
			nil, []nhsa.RowError{{Row: 1, Field: "data.setl_id", Msg: "required"}}},
		{"bad amount", "2304", `{"data":{` + header + `,"psn_name":"` + psnName + `","fund_pay_sumamt":"1.234"}}`,
			nil, []nhsa.RowError{{Row: 1, Field: "data.fund_pay_sumamt", Msg: "want an amount in yuan >= 0 with at most 2 decimals"}}},
		{"trace info not a list", "2207", `{"data":{` + header + `},"drug_trac_info":"A,B"}`,
			nil, []nhsa.RowError{{Row: 1, Field: "drug_trac_info", Msg: "want an object or an array of objects"}}},
		{"cancel without setl_id", "2208", `{"data":{"mdtrt_id":"M1"}}`,
			nil, []nhsa.RowError{{Row: 1, Field: "data.setl_id", Msg: "required"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, rowErrs, err := decode(t, envelope(tc.infno, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				tc.want[i].Line = 0
			}
			diffEvents(t, evs, complete(tc.infno, tc.want...))
			if !reflect.DeepEqual(rowErrs, tc.errs) {
				t.Errorf("row errors\n got %v\nwant %v", rowErrs, tc.errs)
			}
		})
	}
}

// selRow is a valid 3505 row; tests replace or drop single fields.
func selRow(change map[string]any) string {
	r := map[string]any{"med_list_codg": "X1", "fixmedins_bchno": "B1", "rtal_docno": "R1", "trdn_flag": "0",
		"sel_retn_cnt": "1", "sel_retn_time": "2025-03-01 10:00:00", "certno": certno, "psn_name": psnName,
		"prsc_dr_certno": certno}
	for k, v := range change {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestDecodeValues(t *testing.T) {
	type obj = map[string]any
	tests := []struct {
		name   string
		change obj
		check  func(tracewatch.Event) bool // for the accepted cases
		field  string                      // for the refused cases: the field named …
		msg    string                      // … and the message
	}{
		// Numbers as strings and as JSON numbers.
		{"qty string", obj{"sel_retn_cnt": "2"}, func(e tracewatch.Event) bool { return e.Qty == qty("2") }, "", ""},
		{"qty number", obj{"sel_retn_cnt": 2}, func(e tracewatch.Event) bool { return e.Qty == qty("2") }, "", ""},
		{"qty decimal number", obj{"sel_retn_cnt": 2.5}, func(e tracewatch.Event) bool { return e.Qty == qty("2.5") }, "", ""},
		{"qty trailing zeros", obj{"sel_retn_cnt": "2.5000"}, func(e tracewatch.Event) bool { return e.Qty == qty("2.5") }, "", ""},
		{"qty 4 decimals", obj{"sel_retn_cnt": "0.0001"}, func(e tracewatch.Event) bool { return e.Qty == 1 }, "", ""},
		{"price rounds half up", obj{"finl_trns_pric": "12.345"}, func(e tracewatch.Event) bool { return e.UnitPrice == 1235 }, "", ""},
		{"price rounds down", obj{"finl_trns_pric": 12.344999}, func(e tracewatch.Event) bool { return e.UnitPrice == 1234 }, "", ""},
		{"price whole number", obj{"finl_trns_pric": 3}, func(e tracewatch.Event) bool { return e.UnitPrice == 300 }, "", ""},
		{"price half a fen", obj{"finl_trns_pric": "0.005"}, func(e tracewatch.Event) bool { return e.UnitPrice == 1 }, "", ""},
		{"trace code as number", obj{"drugtracinfo": []any{obj{"drug_trac_codg": json.Number("83857930000879766660")}}},
			func(e tracewatch.Event) bool { return reflect.DeepEqual(e.Codes, codes("83857930000879766660")) }, "", ""},
		{"flat codes, full-width separators and blanks", obj{"drug_trac_codg": " A，B；；A ,"},
			func(e tracewatch.Event) bool { return reflect.DeepEqual(e.Codes, codes("A", "B")) }, "", ""},
		{"empty drugtracinfo", obj{"drugtracinfo": []any{}}, func(e tracewatch.Event) bool { return e.Codes == nil }, "", ""},
		{"drugtracinfo as one object", obj{"drugtracinfo": obj{"drug_trac_codg": "C1"}},
			func(e tracewatch.Event) bool { return reflect.DeepEqual(e.Codes, codes("C1")) }, "", ""},
		{"datetime with T", obj{"sel_retn_time": "2025-03-01T10:00:00"},
			func(e tracewatch.Event) bool { return e.Time.Equal(cst("2025-03-01 10:00:00")) }, "", ""},
		{"date where a datetime is expected", obj{"sel_retn_time": "2025-03-01"},
			func(e tracewatch.Event) bool { return e.Time.Equal(cst("2025-03-01")) }, "", ""},
		{"datetime where a date is expected", obj{"manu_date": "2024-01-05 00:00:00"},
			func(e tracewatch.Event) bool { return e.Made.Equal(cst("2024-01-05")) }, "", ""},
		{"empty string is absent", obj{"manu_date": "", "finl_trns_pric": "", "mdtrt_setl_type": ""},
			func(e tracewatch.Event) bool { return e.Made.IsZero() && e.UnitPrice == 0 && e.SettleType == "" }, "", ""},
		{"null is absent", obj{"expy_end": json.RawMessage("null")},
			func(e tracewatch.Event) bool { return e.Expires.IsZero() }, "", ""},
		{"text trimmed", obj{"rtal_docno": "  R1 "}, func(e tracewatch.Event) bool { return e.Receipt == "R1" }, "", ""},
		{"setl_type 1 with setl_id", obj{"mdtrt_setl_type": 1, "setl_id": "S1"},
			func(e tracewatch.Event) bool { return e.SettleType == "1" && e.Settlement == "S1" }, "", ""},
		{"trdn_flag as number", obj{"trdn_flag": 1}, func(e tracewatch.Event) bool { return e.SplitPack }, "", ""},

		// Refused values.
		{"bad date", obj{"manu_date": "2024/01/05"}, nil, "selinfo.manu_date", "want a date yyyy-MM-dd"},
		{"impossible date", obj{"expy_end": "2025-02-30"}, nil, "selinfo.expy_end", "want a date yyyy-MM-dd"},
		{"bad datetime", obj{"sel_retn_time": "20250301100000"}, nil, "selinfo.sel_retn_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"hour 24", obj{"sel_retn_time": "2025-03-01 24:00:00"}, nil, "selinfo.sel_retn_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"trdn_flag 2", obj{"trdn_flag": "2"}, nil, "selinfo.trdn_flag", `want "0" or "1"`},
		{"trdn_flag missing", obj{"trdn_flag": nil}, nil, "selinfo.trdn_flag", "required"},
		{"negative qty", obj{"sel_retn_cnt": "-1"}, nil, "selinfo.sel_retn_cnt", "want a quantity > 0"},
		{"negative qty number", obj{"sel_retn_cnt": -2}, nil, "selinfo.sel_retn_cnt", "want a quantity > 0"},
		{"zero qty", obj{"sel_retn_cnt": 0}, nil, "selinfo.sel_retn_cnt", "want a quantity > 0"},
		{"5 decimals", obj{"sel_retn_cnt": "1.00001"}, nil, "selinfo.sel_retn_cnt", "want a decimal number with at most 4 decimals"},
		{"qty not a number", obj{"sel_retn_cnt": "two"}, nil, "selinfo.sel_retn_cnt", "want a decimal number with at most 4 decimals"},
		{"qty exponent", obj{"sel_retn_cnt": json.Number("1e3")}, nil, "selinfo.sel_retn_cnt", "want a decimal number with at most 4 decimals"},
		{"qty missing", obj{"sel_retn_cnt": nil}, nil, "selinfo.sel_retn_cnt", "required"},
		{"qty as object", obj{"sel_retn_cnt": obj{"v": 1}}, nil, "selinfo.sel_retn_cnt", "want a string"},
		{"qty as bool", obj{"sel_retn_cnt": true}, nil, "selinfo.sel_retn_cnt", "want a string"},
		{"price 7 decimals", obj{"finl_trns_pric": "1.1234567"}, nil, "selinfo.finl_trns_pric", "want a price in yuan >= 0 with at most 6 decimals"},
		{"negative price", obj{"finl_trns_pric": "-1"}, nil, "selinfo.finl_trns_pric", "want a price in yuan >= 0 with at most 6 decimals"},
		{"settle type 3", obj{"mdtrt_setl_type": "3"}, nil, "selinfo.mdtrt_setl_type", `want "1" (insurance) or "2" (self-pay)`},
		{"insurance sale without setl_id", obj{"mdtrt_setl_type": "1"}, nil, "selinfo.setl_id", `required when mdtrt_setl_type is "1"`},
		{"no med_list_codg", obj{"med_list_codg": ""}, nil, "selinfo.med_list_codg", "required"},
		{"blank fixmedins_bchno", obj{"fixmedins_bchno": "  "}, nil, "selinfo.fixmedins_bchno", "required"},
		{"no rtal_docno", obj{"rtal_docno": nil}, nil, "selinfo.rtal_docno", "required"},
		{"trace element without code", obj{"drugtracinfo": []any{obj{"drug_trac_codg": "C1"}, obj{"drug_trac_codg": ""}}},
			nil, "selinfo.drugtracinfo[2].drug_trac_codg", "required"},
		{"trace element not an object", obj{"drugtracinfo": []any{"C1"}}, nil, "selinfo.drugtracinfo[1]", "want an object"},
		{"drugtracinfo a string", obj{"drugtracinfo": "C1"}, nil, "selinfo.drugtracinfo", "want an object or an array of objects"},
		{"certno an object", obj{"certno": obj{"no": certno}}, nil, "selinfo.certno", "want a string"},
		{"psn_name an array", obj{"psn_name": []any{psnName}}, nil, "selinfo.psn_name", "want a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, rowErrs, err := decode(t, envelope("3505", `{"selinfo":`+selRow(tc.change)+`}`))
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				if len(rowErrs) > 0 || len(evs) != 1 {
					t.Fatalf("refused: %v", rowErrs)
				}
				if !tc.check(evs[0]) {
					t.Errorf("event %+v", evs[0])
				}
				return
			}
			if len(evs) != 0 {
				t.Errorf("a bad row yielded an event: %+v", evs)
			}
			want := []nhsa.RowError{{Row: 1, Field: tc.field, Msg: tc.msg}}
			if !reflect.DeepEqual(rowErrs, want) {
				t.Errorf("row errors\n got %v\nwant %v", rowErrs, want)
			}
		})
	}
}

// The other interfaces' own rules.
func TestDecodeRules(t *testing.T) {
	tests := []struct {
		name, infno, input string
		ok                 bool
		field, msg         string
	}{
		{"stocktake zero", "3501", `{"invinfo":{"med_list_codg":"X","fixmedins_bchno":"B","invdate":"2025-03-01","inv_cnt":"0"}}`, true, "", ""},
		{"stocktake negative", "3501", `{"invinfo":{"med_list_codg":"X","fixmedins_bchno":"B","invdate":"2025-03-01","inv_cnt":"-1"}}`,
			false, "invinfo.inv_cnt", "want a quantity >= 0"},
		{"stocktake no invdate", "3501A", `{"invinfo":[{"med_list_codg":"X","fixmedins_bchno":"B","inv_cnt":"1"}]}`,
			false, "invinfo[1].invdate", "required"},
		{"change type 109", "3502", `{"invinfo":{"med_list_codg":"X","fixmedins_bchno":"B","inv_chg_type":"109","cnt":1,"inv_chg_time":"2025-03-01 10:00:00"}}`,
			false, "invinfo.inv_chg_type", "want a stock change type 101..108"},
		{"change type missing", "3502A", `{"invinfoDetail":[{"med_list_codg":"X","fixmedins_bchno":"B","cnt":1,"inv_chg_time":"2025-03-01 10:00:00"}]}`,
			false, "invinfoDetail[1].inv_chg_type", "required"},
		{"change zero cnt", "3502", `{"invinfo":{"med_list_codg":"X","fixmedins_bchno":"B","inv_chg_type":"105","cnt":"0","inv_chg_time":"2025-03-01 10:00:00"}}`,
			false, "invinfo.cnt", "want a quantity > 0"},
		{"purchase no time", "3503", `{"purcinfo":{"med_list_codg":"X","fixmedins_bchno":"B","purc_retn_cnt":1}}`,
			false, "purcinfo.purc_retn_stoin_time", "required"},
		{"purchase return no batch", "3504A", `{"purcinfoDetail":[{"med_list_codg":"X","purc_retn_cnt":1,"purc_retn_stoin_time":"2025-03-01"}]}`,
			false, "purcinfoDetail[1].fixmedins_bchno", "required"},
		{"sale return needs no receipt", "3506", `{"selinfo":{"med_list_codg":"X","fixmedins_bchno":"B","trdn_flag":"0","sel_retn_cnt":1,"sel_retn_time":"2025-03-01"}}`, true, "", ""},
		{"sale return bad trdn_flag", "3506A", `{"selinfoDetail":[{"med_list_codg":"X","fixmedins_bchno":"B","trdn_flag":"是","sel_retn_cnt":1,"sel_retn_time":"2025-03-01"}]}`,
			false, "selinfoDetail[1].trdn_flag", `want "0" or "1"`},
		{"deletion type 5", "3507", `{"data":{"fixmedins_bchno":"B","inv_data_type":"5"}}`, false, "data.inv_data_type", "want a data type 1..4"},
		{"deletion type as number", "3507", `{"data":[{"fixmedins_bchno":"B","inv_data_type":3}]}`, true, "", ""},
		{"deletion no batch", "3507", `{"data":[{"inv_data_type":1}]}`, false, "data[1].fixmedins_bchno", "required"},
		{"fee line no feedetl_sn", "2204", `{"feedetail":[{"med_list_codg":"X","cnt":1}]}`, false, "feedetail[1].feedetl_sn", "required"},
		{"fee line no cnt", "2301", `{"feedetail":[{"feedetl_sn":"F","med_list_codg":"X"}]}`, false, "feedetail[1].cnt", "required"},
		{"fee line bad amount", "2204", `{"feedetail":[{"feedetl_sn":"F","med_list_codg":"X","cnt":1,"det_item_fee_sumamt":"1.005"}]}`,
			false, "feedetail[1].det_item_fee_sumamt", "want an amount in yuan >= 0 with at most 2 decimals"},
		{"fee line amount trailing zeros", "2204", `{"feedetail":[{"feedetl_sn":"F","med_list_codg":"X","cnt":1,"det_item_fee_sumamt":"1.5000"}]}`, true, "", ""},
		{"fee line bad time", "2204", `{"feedetail":[{"feedetl_sn":"F","med_list_codg":"X","cnt":1,"fee_ocur_time":"yesterday"}]}`,
			false, "feedetail[1].fee_ocur_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"row not an object", "3505A", `{"selinfoDetail":["R1"]}`, false, "selinfoDetail[1]", "want an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, rowErrs, err := decode(t, envelope(tc.infno, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				if len(evs) != 1 || len(rowErrs) != 0 {
					t.Fatalf("events %+v, row errors %v", evs, rowErrs)
				}
				return
			}
			want := []nhsa.RowError{{Row: 1, Field: tc.field, Msg: tc.msg}}
			if len(evs) != 0 || !reflect.DeepEqual(rowErrs, want) {
				t.Errorf("events %+v\nrow errors %v\nwant %v", evs, rowErrs, want)
			}
		})
	}
}

// Both node names are read for the 35xx interfaces, and rows keep their numbers.
func TestDecodeBothNodes(t *testing.T) {
	row := `{"med_list_codg":"X","fixmedins_bchno":"B","trdn_flag":"0","sel_retn_cnt":1,"sel_retn_time":"2025-03-01"}`
	evs, rowErrs, err := decode(t, envelope("3506A", `{"selinfoDetail":[`+row+`,{}],"selinfo":`+row+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Line != 1 || evs[1].Line != 3 {
		t.Errorf("events %+v, want lines 1 and 3", evs)
	}
	for _, e := range rowErrs {
		if e.Row != 2 || !strings.HasPrefix(e.Field, "selinfoDetail[2].") {
			t.Errorf("row error %v, want row 2", e)
		}
	}
	if len(rowErrs) != 5 { // med_list_codg, fixmedins_bchno, trdn_flag, sel_retn_cnt, sel_retn_time
		t.Errorf("row errors %v, want 5", rowErrs)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	const sel = `{"selinfo":` + `{"med_list_codg":"X"}` + `}`
	tests := []struct {
		name  string
		req   nhsa.Request
		field string
	}{
		{"unsupported infno", nhsa.Request{Infno: "9001", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(sel)}, "infno"},
		{"3507A", nhsa.Request{Infno: "3507A", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"data":{}}`)}, "infno"},
		{"missing msgid", nhsa.Request{Infno: "3505", FixmedinsCode: testInst, Input: json.RawMessage(sel)}, "msgid"},
		{"blank msgid", nhsa.Request{Infno: "3505", MsgID: " ", FixmedinsCode: testInst, Input: json.RawMessage(sel)}, "msgid"},
		{"missing fixmedins_code", nhsa.Request{Infno: "3505", MsgID: "M", Input: json.RawMessage(sel)}, "fixmedins_code"},
		{"missing input", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst}, "input"},
		{"null input", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`null`)}, "input"},
		{"input an array", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`[` + sel + `]`)}, "input"},
		{"input a number", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`3`)}, "input"},
		{"input malformed", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"selinfo":`)}, "input"},
		{"input a string, not JSON", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`"selinfo"`)}, "input"},
		{"missing node", nhsa.Request{Infno: "3505A", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"data":{}}`)}, "selinfoDetail"},
		{"null node", nhsa.Request{Infno: "3505", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"selinfo":null}`)}, "selinfo"},
		{"empty node", nhsa.Request{Infno: "3501A", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"invinfo":[]}`)}, "invinfo"},
		{"node a string", nhsa.Request{Infno: "2204", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"feedetail":"F1"}`)}, "feedetail"},
		{"settlement without data", nhsa.Request{Infno: "2207", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"drug_trac_info":[]}`)}, "data"},
		{"two settlements", nhsa.Request{Infno: "2304", MsgID: "M", FixmedinsCode: testInst, Input: json.RawMessage(`{"data":[{},{}]}`)}, "data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, rowErrs, err := nhsa.Decode(tc.req)
			if err == nil {
				t.Fatalf("no error; events %+v, row errors %v", evs, rowErrs)
			}
			var e *tracewatch.Error
			if !errors.As(err, &e) || tracewatch.KindOf(err) != tracewatch.KindInvalid || e.Field != tc.field {
				t.Errorf("error %#v (%v), want KindInvalid naming %q", err, err, tc.field)
			}
			if evs != nil || rowErrs != nil {
				t.Errorf("events %v and row errors %v along with a message error", evs, rowErrs)
			}
		})
	}
}

// The input may arrive as a JSON string holding the object.
func TestDecodeInputAsString(t *testing.T) {
	in, _ := json.Marshal(minimal[0].input)
	evs, rowErrs, err := decode(t, envelope(minimal[0].infno, string(in)))
	if err != nil || len(rowErrs) > 0 || len(evs) != 1 || evs[0].Kind != tracewatch.EventStocktake {
		t.Fatalf("events %+v, row errors %v, err %v", evs, rowErrs, err)
	}
}

// No error text ever carries an ID number or a name, and events carry the ID number
// only masked.
func TestNoPersonalDataInErrors(t *testing.T) {
	type obj = map[string]any
	var rows []string
	for _, change := range []obj{
		{"certno": json.Number("110105194912310021")}, // a number: read, then masked
		{"certno": []any{certno}},
		{"psn_name": obj{"n": psnName}},
		{"sel_retn_time": certno},
		{"trdn_flag": certno},
		{"sel_retn_cnt": certno},
		{"finl_trns_pric": psnName},
		{"mdtrt_setl_type": psnName},
		{"manu_date": psnName},
		{"drug_trac_codg": obj{"c": certno}},
		{"drugtracinfo": []any{obj{"drug_trac_codg": []any{certno}}}},
		{"phar_certno": obj{}, "prsc_dr_name": []any{psnName}},
		{"rtal_docno": nil, "med_list_codg": certno},
	} {
		rows = append(rows, selRow(change))
	}
	body := envelope("3505A", `{"selinfoDetail":[`+strings.Join(rows, ",")+`]}`)
	evs, rowErrs, err := decode(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Line != 1 || evs[0].CertnoMasked != "1101**********0021" {
		t.Errorf("events %+v: want row 1 only, certno masked", evs)
	}
	bad := map[int]bool{}
	for _, e := range rowErrs {
		bad[e.Row] = true
	}
	if len(bad) != len(rows)-1 || bad[1] {
		t.Errorf("rows %v refused, want rows 2..%d: %v", bad, len(rows), rowErrs)
	}
	var texts []string
	for _, e := range rowErrs {
		texts = append(texts, e.Error())
	}
	out, _ := json.Marshal(nhsa.BatchOutput("3505A", len(evs), rowErrs))
	texts = append(texts, string(out))
	// Message-level and envelope errors.
	_, _, err = nhsa.Decode(nhsa.Request{Infno: certno, MsgID: "M", FixmedinsCode: "P"})
	texts = append(texts, err.Error())
	_, err = nhsa.DecodeRequest([]byte(`{"infno":"3505","msgid":["` + certno + `"]}`))
	texts = append(texts, err.Error())
	_, err = nhsa.DecodeRequest([]byte(`{"certno":"` + certno + `" "psn_name":"` + psnName + `"}`))
	texts = append(texts, err.Error())
	for _, s := range texts {
		for _, p := range []string{certno, "110105194912310021", psnName, "1101051949"} {
			if strings.Contains(s, p) {
				t.Errorf("error text %q contains personal data", s)
			}
		}
	}
}

func TestDecodeRequest(t *testing.T) {
	req, err := nhsa.DecodeRequest(append([]byte("\xef\xbb\xbf "), envelope("3505", `{"selinfo":{}}`)...))
	if err != nil {
		t.Fatal(err)
	}
	want := nhsa.Request{Infno: "3505", MsgID: testMsgID, MdtrtareaAdmvs: "440106", RecerSysCode: "IMS", Infver: "V1.0",
		OpterType: "1", Opter: "0001", OpterName: "张三", InfTime: "2025-03-01 09:30:05", FixmedinsCode: testInst,
		FixmedinsName: "某某大药房", Input: json.RawMessage(`{"selinfo":{}}`)}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got  %+v\nwant %+v", req, want)
	}

	req, err = nhsa.DecodeRequest([]byte(`{"infno":3505,"msgid":" M1 ","opter_type":2.0,"sign_no":null,"extra":{"x":[1]},"input":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (nhsa.Request{Infno: "3505", MsgID: "M1", OpterType: "2.0"}); !reflect.DeepEqual(req, want) {
		t.Errorf("got  %+v\nwant %+v", req, want)
	}

	// json.Unmarshal goes through the same decoder.
	var wrapped struct{ Req nhsa.Request }
	if err := json.Unmarshal([]byte(`{"Req":{"infno":"2207","opter_type":1}}`), &wrapped); err != nil || wrapped.Req.OpterType != "1" {
		t.Errorf("json.Unmarshal: %+v, %v", wrapped, err)
	}

	for _, tc := range []struct {
		name, body, field string
	}{
		{"empty", "", ""},
		{"blank", " \n", ""},
		{"array", `[{"infno":"3505"}]`, ""},
		{"string", `"3505"`, ""},
		{"truncated", `{"infno":"3505"`, ""},
		{"trailing data", `{"infno":"3505"} {}`, ""},
		{"two objects", `{}{}`, ""},
		{"infno an object", `{"infno":{"v":"3505"}}`, "infno"},
		{"msgid a bool", `{"msgid":true}`, "msgid"},
		{"opter_type an array", `{"opter_type":[1]}`, "opter_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nhsa.DecodeRequest([]byte(tc.body))
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid || e.Field != tc.field {
				t.Errorf("error %#v, want KindInvalid naming %q", err, tc.field)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	req := nhsa.Request{Infno: "3505A", MsgID: testMsgID, Cainfo: "sig"}
	received := time.Date(2025, 3, 1, 1, 30, 5, 123456789, time.UTC) // 09:30:05.123 in China
	now := time.Date(2025, 3, 1, 9, 30, 6, 7_000_000, nhsa.CST)
	marshal := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	errs := []nhsa.RowError{{Row: 2, Field: "selinfoDetail[2].rtal_docno", Msg: "required"},
		{Row: 2, Field: "selinfoDetail[2].trdn_flag", Msg: `want "0" or "1"`},
		{Row: 5, Field: "selinfoDetail[5]", Msg: "want an object"}}
	tests := []struct {
		name string
		got  any
		want string
	}{
		{"ok", nhsa.OK(req, map[string]any{"n": 1}, received, now),
			`{"infcode":"0","inf_refmsgid":"` + testMsgID + `","refmsg_time":"20250301093005123","respond_time":"20250301093006007",` +
				`"err_msg":"","warn_msg":"","cainfo":"","signtype":"","output":{"n":1}}`},
		{"ok without output", nhsa.OK(req, nil, received, now),
			`{"infcode":"0","inf_refmsgid":"` + testMsgID + `","refmsg_time":"20250301093005123","respond_time":"20250301093006007",` +
				`"err_msg":"","warn_msg":"","cainfo":"","signtype":"","output":null}`},
		{"fail", nhsa.Fail(req, "infno: unsupported interface", received, now),
			`{"infcode":"-1","inf_refmsgid":"` + testMsgID + `","refmsg_time":"20250301093005123","respond_time":"20250301093006007",` +
				`"err_msg":"infno: unsupported interface","warn_msg":"","cainfo":"","signtype":"","output":null}`},
		{"fail, zero times", nhsa.Fail(nhsa.Request{}, "bad body", time.Time{}, time.Time{}),
			`{"infcode":"-1","inf_refmsgid":"","refmsg_time":"","respond_time":"","err_msg":"bad body","warn_msg":"","cainfo":"","signtype":"","output":null}`},
		{"batch with errors", nhsa.BatchOutput("3505A", 3, errs),
			`{"result":{"msgRslt":"accepted 3 rows, rejected 2 rows; first error: row 2: selinfoDetail[2].rtal_docno: required","retRslt":"0"},` +
				`"selinfoErrDetail":[{"err_msg":"required","field":"selinfoDetail[2].rtal_docno","row":2},` +
				`{"err_msg":"want \"0\" or \"1\"","field":"selinfoDetail[2].trdn_flag","row":2},` +
				`{"err_msg":"want an object","field":"selinfoDetail[5]","row":5}]}`},
		{"batch clean", nhsa.BatchOutput("3504A", 4, nil),
			`{"purcinfoErrDetail":[],"result":{"msgRslt":"accepted 4 rows","retRslt":"1"}}`},
		{"batch stocktake", nhsa.BatchOutput("3501A", 1, nil),
			`{"invinfoErrDetail":[],"result":{"msgRslt":"accepted 1 row","retRslt":"1"}}`},
		{"batch stock change", nhsa.BatchOutput("3502A", 0, errs[2:]),
			`{"invinfoErrDetail":[{"err_msg":"want an object","field":"selinfoDetail[5]","row":5}],` +
				`"result":{"msgRslt":"accepted 0 rows, rejected 1 row; first error: row 5: selinfoDetail[5]: want an object","retRslt":"0"}}`},
		{"ok with batch output", nhsa.OK(req, nhsa.BatchOutput("3506A", 1, nil), received, now),
			`{"infcode":"0","inf_refmsgid":"` + testMsgID + `","refmsg_time":"20250301093005123","respond_time":"20250301093006007",` +
				`"err_msg":"","warn_msg":"","cainfo":"","signtype":"","output":{"result":{"msgRslt":"accepted 1 row","retRslt":"1"},"selinfoErrDetail":[]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := marshal(tc.got); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestDecodeSent: every event carries the envelope's inf_time as Sent (what orders 3507
// withdrawals); an envelope without inf_time gives a zero Sent, and a row time of its own
// is not taken for it.
func TestDecodeSent(t *testing.T) {
	input := `{"data":{"fixmedins_bchno":"B20250301001","inv_data_type":"4"}}`
	evs, _, err := decode(t, envelope("3507", input))
	if err != nil || len(evs) != 1 || !evs[0].Sent.Equal(cst("2025-03-01 09:30:05")) || evs[0].DataType != "4" || evs[0].BatchNo != "B20250301001" {
		t.Fatalf("3507: %+v, %v", evs, err)
	}
	body := []byte(strings.Replace(string(envelope("3505", sale3505)), `"inf_time":"2025-03-01 09:30:05",`, "", 1))
	evs, _, err = decode(t, body)
	if err != nil || len(evs) != 1 || !evs[0].Sent.IsZero() || evs[0].Time.IsZero() {
		t.Fatalf("3505 without inf_time: %+v, %v", evs, err)
	}
}
