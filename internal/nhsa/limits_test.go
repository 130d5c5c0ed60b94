package nhsa_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
)

// minimalInput returns the input of the minimal case of infno.
func minimalInput(t *testing.T, infno string) string {
	t.Helper()
	for _, tc := range minimal {
		if tc.infno == infno {
			return tc.input
		}
	}
	t.Fatalf("no minimal case for %s", infno)
	return ""
}

// withFields returns input with the fields of set changed in the first row of node
// (an object, or the first element of an array); a nil value deletes the field.
func withFields(t *testing.T, input, node string, set map[string]any) string {
	t.Helper()
	var in map[string]any
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		t.Fatalf("bad test input %s: %v", input, err)
	}
	var row map[string]any
	switch v := in[node].(type) {
	case map[string]any:
		row = v
	case []any:
		row = v[0].(map[string]any)
	default:
		t.Fatalf("no node %s in %s", node, input)
	}
	for k, v := range set {
		if v == nil {
			delete(row, k)
		} else {
			row[k] = v
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pathOf is the national path of the first row of node in input.
func pathOf(input, node string) string {
	var in map[string]json.RawMessage
	json.Unmarshal([]byte(input), &in)
	if strings.HasPrefix(strings.TrimSpace(string(in[node])), "[") {
		return node + "[1]"
	}
	return node
}

// checkRow decodes body and checks that it gives no row error (field "") or a single
// one naming field, with msg unless that is "". A refused row yields no event, but for a
// drug_trac_info element, which is left out of its settlement.
func checkRow(t *testing.T, body []byte, field, msg string) {
	t.Helper()
	evs, rowErrs, err := decode(t, body)
	if err != nil {
		t.Fatalf("message error %v", err)
	}
	if field == "" {
		if len(rowErrs) > 0 || len(evs) == 0 {
			t.Fatalf("refused: %v", rowErrs)
		}
		return
	}
	if len(rowErrs) != 1 || rowErrs[0].Field != field || (msg != "" && rowErrs[0].Msg != msg) {
		t.Fatalf("row errors %v, want one naming %s (%q)", rowErrs, field, msg)
	}
	if len(evs) != 0 && !strings.HasPrefix(field, "drug_trac_info") {
		t.Fatalf("a refused row became events %+v", evs)
	}
}

// TestTextLimits: every text field an interface keeps or checks is accepted at its
// national length (counted in characters, here Chinese ones of 3 bytes) and refused,
// naming it, one character past.
func TestTextLimits(t *testing.T) {
	goods := []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno", "rx_flag", "memo"}
	sold := append([]string{"prsc_dr_name", "phar_name", "setl_id", "mdtrt_sn", "psn_no", "certno", "manu_lotnum",
		"prsc_dr_cert_type", "prsc_dr_certno", "phar_cert_type", "phar_certno", "phar_prac_cert_no", "hi_feesetl_type",
		"psn_cert_type", "psn_name", "rxno", "rx_circ_flag", "stoout_no", "bchno", "drug_prod_barc", "shelf_posi",
		"sel_retn_opter_name"}, goods...)
	purchase := append([]string{"spler_name", "manu_lotnum", "spler_pmtno", "purc_invo_codg", "purc_invo_no",
		"purc_retn_opter_name"}, goods...)
	tests := []struct {
		infno, node string
		fields      []string
		coded       []string // fields with a format of their own: only the length past the bound is tried
	}{
		{"3501", "invinfo", append([]string{"manu_lotnum"}, goods...), nil},
		{"3502", "invinfo", append([]string{"inv_chg_opter_name"}, goods...), []string{"inv_chg_type", "trdn_flag"}},
		{"3503", "purcinfo", append([]string{"dynt_no", "prodentp_name", "aprvno", "prod_geay_flag"}, purchase...), nil},
		{"3504A", "purcinfoDetail", append([]string{"medins_prod_purc_no"}, purchase...), nil},
		{"3505", "selinfo", append([]string{"rtal_docno"}, sold...), []string{"trdn_flag", "mdtrt_setl_type"}},
		{"3506A", "selinfoDetail", append([]string{"rtal_docno", "medins_prod_sel_no"}, sold...), []string{"trdn_flag"}},
		{"3507", "data", []string{"fixmedins_bchno"}, []string{"inv_data_type"}},
		{"2204", "feedetail", []string{"feedetl_sn", "mdtrt_id", "psn_no", "med_list_codg", "medins_list_codg", "chrg_bchno"}, nil},
		{"2207", "data", []string{"setl_id", "mdtrt_id", "psn_no", "certno", "dscg_maindiag_code", "dscg_maindiag_name",
			"mdtrt_cert_no", "mdtrt_cert_type", "med_type", "insutype", "psn_setlway", "chrg_bchno"}, nil},
		{"2208", "data", []string{"setl_id", "mdtrt_id", "psn_no"}, nil},
		{"2304", "drug_trac_info", []string{"feedetl_sn", "min_prcunt_type"}, []string{"trdn_flag"}},
	}
	max := map[string]int{ // the national lengths (../shared/domain/nhsa-interfaces.md)
		"med_list_codg": 50, "fixmedins_hilist_id": 30, "fixmedins_hilist_name": 200, "fixmedins_bchno": 30, "rx_flag": 3,
		"memo": 500, "manu_lotnum": 30, "trdn_flag": 3, "inv_chg_type": 6, "inv_chg_opter_name": 50, "dynt_no": 50,
		"prodentp_name": 200, "aprvno": 100, "prod_geay_flag": 3, "spler_name": 200, "spler_pmtno": 50, "purc_invo_codg": 50,
		"purc_invo_no": 50, "purc_retn_opter_name": 50, "medins_prod_purc_no": 50, "prsc_dr_cert_type": 6,
		"prsc_dr_certno": 50, "prsc_dr_name": 50, "phar_cert_type": 6, "phar_certno": 50, "phar_name": 50,
		"phar_prac_cert_no": 50, "hi_feesetl_type": 6, "setl_id": 30, "mdtrt_sn": 30, "psn_no": 30, "psn_cert_type": 6,
		"certno": 50, "psn_name": 50, "rxno": 40, "rx_circ_flag": 3, "rtal_docno": 40, "stoout_no": 40, "bchno": 30,
		"drug_prod_barc": 30, "shelf_posi": 20, "sel_retn_opter_name": 50, "mdtrt_setl_type": 6, "medins_prod_sel_no": 50,
		"inv_data_type": 30, "feedetl_sn": 30, "mdtrt_id": 30, "chrg_bchno": 30, "medins_list_codg": 50,
		"mdtrt_cert_no": 50, "mdtrt_cert_type": 6, "med_type": 6, "insutype": 6, "psn_setlway": 6,
		"dscg_maindiag_code": 20, "dscg_maindiag_name": 300, "min_prcunt_type": 6,
	}
	for _, tc := range tests {
		input := minimalInput(t, tc.infno)
		row := func(field string) string { return pathOf(input, tc.node) + "." + field }
		for _, f := range append(append([]string(nil), tc.fields...), tc.coded...) {
			n, ok := max[f]
			if !ok {
				t.Fatalf("no national length for %s", f)
			}
			coded := strings.Contains(" "+strings.Join(tc.coded, " ")+" ", " "+f+" ")
			t.Run(tc.infno+"/"+f, func(t *testing.T) {
				if !coded {
					checkRow(t, envelope(tc.infno, withFields(t, input, tc.node, map[string]any{f: strings.Repeat("药", n)})), "", "")
				}
				checkRow(t, envelope(tc.infno, withFields(t, input, tc.node, map[string]any{f: strings.Repeat("药", n+1)})),
					row(f), "want at most "+strconv.Itoa(n)+" characters")
			})
		}
	}
}

// TestControlCharacters: NUL and the other control characters are refused in every
// text field, naming it; free text (memo) may hold line breaks and tabs, and a trace
// code the GS of a GS1 element string.
func TestControlCharacters(t *testing.T) {
	sale := minimalInput(t, "3505")
	tests := []struct {
		name  string
		set   map[string]any
		field string
	}{
		{"NUL in rtal_docno", map[string]any{"rtal_docno": "R\x001"}, "selinfo.rtal_docno"},
		{"NUL alone", map[string]any{"rtal_docno": "\x00"}, "selinfo.rtal_docno"},
		{"NUL in a name", map[string]any{"psn_name": "赵\x00六"}, "selinfo.psn_name"},
		{"line break in a receipt", map[string]any{"rtal_docno": "R\n1"}, "selinfo.rtal_docno"},
		{"tab in a receipt", map[string]any{"rtal_docno": "R\t1"}, "selinfo.rtal_docno"},
		{"DEL", map[string]any{"fixmedins_bchno": "B\x7f1"}, "selinfo.fixmedins_bchno"},
		{"C1 control", map[string]any{"med_list_codg": "X\u00851"}, "selinfo.med_list_codg"},
		{"NUL in a drugtracinfo code", map[string]any{"drugtracinfo": []any{map[string]any{"drug_trac_codg": "8385793000087976\x006660"}}},
			"selinfo.drugtracinfo[1].drug_trac_codg"},
		{"NUL in the flat code field", map[string]any{"drug_trac_codg": "83857930000879766660\x00"}, "selinfo.drug_trac_codg"},
		{"line breaks in memo", map[string]any{"memo": "第一行\r\n第二行\t完"}, ""},
		{"GS in a GS1 code", map[string]any{"drugtracinfo": []any{map[string]any{"drug_trac_codg": "]d20106904567000012172607311024B031\x1d21SN0001"}}}, ""},
		{"NUL in memo", map[string]any{"memo": "a\x00b"}, "selinfo.memo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkRow(t, envelope("3505", withFields(t, sale, "selinfo", tc.set)), tc.field, "")
		})
	}
}

// TestNotUTF8: text in another encoding (a client sending GBK) is refused naming the
// field, never stored with its characters replaced; JSON escapes stay accepted.
func TestNotUTF8(t *testing.T) {
	sale := minimalInput(t, "3505")
	gbk := "\xce\xac\xc9\xfa\xcb\xd8" // 维生素 in GBK
	named := strings.Replace(sale, `"rtal_docno":`, `"fixmedins_hilist_name":"`+gbk+`","rtal_docno":`, 1)
	if named == sale {
		t.Fatal("no rtal_docno in the minimal 3505")
	}
	checkRow(t, envelope("3505", named), "selinfo.fixmedins_hilist_name", "want UTF-8 text (these bytes are not UTF-8: GBK or another encoding?)")
	escaped := strings.Replace(sale, `"rtal_docno":`, `"fixmedins_hilist_name":"\u7ef4\u751f\u7d20","rtal_docno":`, 1)
	checkRow(t, envelope("3505", escaped), "", "")
	code := strings.Replace(sale, `"rtal_docno":`, `"drugtracinfo":[{"drug_trac_codg":"8385793`+gbk+`"}],"rtal_docno":`, 1)
	checkRow(t, envelope("3505", code), "selinfo.drugtracinfo[1].drug_trac_codg", "")
	env := []byte(strings.Replace(string(envelope("3505", sale)), `"opter_name":"张三"`, `"opter_name":"`+gbk+`"`, 1))
	if _, err := nhsa.DecodeRequest(env); err == nil || !strings.Contains(nhsa.Reason(err), "opter_name: want UTF-8 text") {
		t.Errorf("GBK in the envelope: %v", err)
	}
}

// TestValueLimits: money, quantities and times at their bound are accepted, and one
// past refused naming the field.
func TestValueLimits(t *testing.T) {
	tests := []struct {
		name, infno, node string
		set               map[string]any
		field, msg        string
	}{
		// Prices (finl_trns_pric, pric): at most 10^7 yuan.
		{"price at the bound", "3505", "selinfo", map[string]any{"finl_trns_pric": "10000000"}, "", ""},
		{"price past the bound", "3505", "selinfo", map[string]any{"finl_trns_pric": "10000000.01"}, "finl_trns_pric", "want a price in yuan <= 10000000"},
		{"price 999999999999999", "3505", "selinfo", map[string]any{"finl_trns_pric": "999999999999999"}, "finl_trns_pric", "want a price in yuan <= 10000000"},
		{"purchase price past the bound", "3503", "purcinfo", map[string]any{"finl_trns_pric": "10000000.005"}, "finl_trns_pric", "want a price in yuan <= 10000000"},
		{"stock change price past the bound", "3502", "invinfo", map[string]any{"pric": 10000001}, "pric", "want a price in yuan <= 10000000"},
		{"fee price past the bound", "2204", "feedetail", map[string]any{"pric": "10000000.01"}, "pric", "want a price in yuan <= 10000000"},
		{"negative price", "3505", "selinfo", map[string]any{"finl_trns_pric": "-1"}, "finl_trns_pric", ""},
		// Amounts: at most 10^8 yuan.
		{"fee amount at the bound", "2204", "feedetail", map[string]any{"det_item_fee_sumamt": "100000000.00", "pric": "12.5"}, "", ""},
		{"fee amount past the bound", "2204", "feedetail", map[string]any{"det_item_fee_sumamt": "100000000.01"}, "det_item_fee_sumamt", "want an amount in yuan <= 100000000"},
		{"settlement total at the bound", "2207", "data", map[string]any{"medfee_sumamt": "100000000", "fund_pay_sumamt": "100000000"}, "", ""},
		{"settlement total past the bound", "2207", "data", map[string]any{"medfee_sumamt": "100000000.01"}, "medfee_sumamt", "want an amount in yuan <= 100000000"},
		{"fund 999999999999.99", "2207", "data", map[string]any{"medfee_sumamt": nil, "fund_pay_sumamt": "999999999999.99"}, "fund_pay_sumamt", "want an amount in yuan <= 100000000"},
		{"fund above the total", "2207", "data", map[string]any{"medfee_sumamt": "25.00", "fund_pay_sumamt": "25.01"}, "fund_pay_sumamt", "want at most medfee_sumamt"},
		{"fund without a total", "2207", "data", map[string]any{"medfee_sumamt": nil, "fund_pay_sumamt": "25.01"}, "", ""},
		// Quantities: at most 10^6 packs a line, 10^7 at a stocktake; > 0 on a line.
		{"sale quantity at the bound", "3505", "selinfo", map[string]any{"sel_retn_cnt": "1000000"}, "", ""},
		{"sale quantity past the bound", "3505", "selinfo", map[string]any{"sel_retn_cnt": "1000000.0001"}, "sel_retn_cnt", "want a quantity <= 1000000"},
		{"sale quantity 999999999999.9999", "3505", "selinfo", map[string]any{"sel_retn_cnt": "999999999999.9999"}, "sel_retn_cnt", "want a quantity <= 1000000"},
		{"sale quantity 0", "3505", "selinfo", map[string]any{"sel_retn_cnt": "0"}, "sel_retn_cnt", "want a quantity > 0"},
		{"sale quantity -5", "3505", "selinfo", map[string]any{"sel_retn_cnt": "-5"}, "sel_retn_cnt", "want a quantity > 0"},
		{"purchase quantity past the bound", "3503", "purcinfo", map[string]any{"purc_retn_cnt": 1000001}, "purc_retn_cnt", "want a quantity <= 1000000"},
		{"stock change quantity past the bound", "3502", "invinfo", map[string]any{"cnt": "1000000.5"}, "cnt", "want a quantity <= 1000000"},
		{"fee quantity past the bound", "2204", "feedetail", map[string]any{"cnt": "1000001"}, "cnt", "want a quantity <= 1000000"},
		{"stocktake at the bound", "3501", "invinfo", map[string]any{"inv_cnt": "10000000"}, "", ""},
		{"stocktake past the bound", "3501", "invinfo", map[string]any{"inv_cnt": "10000000.01"}, "inv_cnt", "want a quantity <= 10000000"},
		// Times: 2000-01-01 until 2100-01-01, at most a day after inf_time (2025-03-01 09:30:05).
		{"sale at the lower bound", "3505", "selinfo", map[string]any{"sel_retn_time": "2000-01-01 00:00:00"}, "", ""},
		{"sale before 2000", "3505", "selinfo", map[string]any{"sel_retn_time": "1999-12-31 23:59:59"}, "sel_retn_time", "want a time from 2000-01-01 to 2099-12-31"},
		{"sale in year 1", "3505", "selinfo", map[string]any{"sel_retn_time": "0001-01-01 00:00:00"}, "sel_retn_time", "want a time from 2000-01-01 to 2099-12-31"},
		{"sale on 9999-12-31", "3505", "selinfo", map[string]any{"sel_retn_time": "9999-12-31 23:59:59"}, "sel_retn_time", "want a time from 2000-01-01 to 2099-12-31"},
		{"sale a day after inf_time", "3505", "selinfo", map[string]any{"sel_retn_time": "2025-03-02 09:30:05"}, "", ""},
		{"sale past a day after inf_time", "3505", "selinfo", map[string]any{"sel_retn_time": "2025-03-02 09:30:06"}, "sel_retn_time", "want a time at most 1 day after inf_time"},
		{"sale time unreadable", "3505", "selinfo", map[string]any{"sel_retn_time": "2025-02-30 10:00:00"}, "sel_retn_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"made after the sale (a T4 finding, not an error)", "3505", "selinfo", map[string]any{"manu_date": "2025-03-10"}, "", ""},
		{"made on 9999-12-31", "3505", "selinfo", map[string]any{"manu_date": "9999-12-31"}, "manu_date", "want a time from 2000-01-01 to 2099-12-31"},
		{"made before 2000", "3503", "purcinfo", map[string]any{"manu_date": "1999-12-31"}, "manu_date", "want a time from 2000-01-01 to 2099-12-31"},
		{"expiry in the future", "3503", "purcinfo", map[string]any{"expy_end": "2099-12-31"}, "", ""},
		{"expiry 9999-12-31", "3503", "purcinfo", map[string]any{"expy_end": "9999-12-31"}, "expy_end", "want a time from 2000-01-01 to 2099-12-31"},
		{"stocktake date late", "3501", "invinfo", map[string]any{"invdate": "2025-03-03"}, "invdate", "want a time at most 1 day after inf_time"},
		{"purchase late", "3503", "purcinfo", map[string]any{"purc_retn_stoin_time": "2026-03-01 10:00:00"}, "purc_retn_stoin_time", "want a time at most 1 day after inf_time"},
		{"stock change late", "3502", "invinfo", map[string]any{"inv_chg_time": "2025-03-05 10:00:00"}, "inv_chg_time", "want a time at most 1 day after inf_time"},
		{"fee late", "2204", "feedetail", map[string]any{"fee_ocur_time": "2025-03-05 10:00:00"}, "fee_ocur_time", "want a time at most 1 day after inf_time"},
		{"fee time unreadable", "2204", "feedetail", map[string]any{"fee_ocur_time": "yesterday"}, "fee_ocur_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"settled late", "2207", "data", map[string]any{"setl_time": "2025-03-05 10:00:00"}, "setl_time", "want a time at most 1 day after inf_time"},
		{"settlement time unreadable, not replaced", "2207", "data", map[string]any{"setl_time": "20250301"}, "setl_time", "want a datetime yyyy-MM-dd HH:mm:ss"},
		{"admission in year 1", "2304", "data", map[string]any{"adm_date": "0001-01-01 00:00:00"}, "adm_date", "want a time from 2000-01-01 to 2099-12-31"},
		{"discharge late", "2304", "data", map[string]any{"dscg_date": "2025-04-01 00:00:00"}, "dscg_date", "want a time at most 1 day after inf_time"},
		// Trace codes: at most 100 characters each.
		{"code at the bound", "3505", "selinfo", map[string]any{"drugtracinfo": []any{map[string]any{"drug_trac_codg": strings.Repeat("A", 100)}}}, "", ""},
		{"code past the bound", "3505", "selinfo", map[string]any{"drugtracinfo": []any{map[string]any{"drug_trac_codg": strings.Repeat("A", 101)}}}, "drugtracinfo[1].drug_trac_codg", "want at most 100 characters"},
		{"flat code past the bound", "3505", "selinfo", map[string]any{"drug_trac_codg": "83857930000879766660," + strings.Repeat("A", 101)}, "drug_trac_codg", "want trace codes of at most 100 characters"},
		{"flat field past its bound", "3505", "selinfo", map[string]any{"drug_trac_codg": strings.Repeat("8385793000087976666,", 101)}, "drug_trac_codg", "want at most 2000 characters"},
		{"settlement code past the bound", "2304", "drug_trac_info", map[string]any{"drug_trac_codg": strings.Repeat("A", 101)}, "drug_trac_codg", "want trace codes of at most 100 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			input := minimalInput(t, tc.infno)
			field := ""
			if tc.field != "" {
				field = pathOf(input, tc.node) + "." + tc.field
			}
			checkRow(t, envelope(tc.infno, withFields(t, input, tc.node, tc.set)), field, tc.msg)
		})
	}
}

// TestTimesWithoutInfTime: without inf_time only the absolute bounds hold, and an event
// without a time of its own keeps none.
func TestTimesWithoutInfTime(t *testing.T) {
	body := strings.Replace(string(envelope("3505", withFields(t, minimalInput(t, "3505"), "selinfo",
		map[string]any{"sel_retn_time": "2099-12-31 23:59:59"}))), `"inf_time":"2025-03-01 09:30:05",`, "", 1)
	evs, rowErrs, err := decode(t, []byte(body))
	if err != nil || len(rowErrs) > 0 || len(evs) != 1 || !evs[0].Time.Equal(cst("2099-12-31 23:59:59")) {
		t.Fatalf("events %+v, row errors %v, err %v", evs, rowErrs, err)
	}
	body = strings.Replace(string(envelope("2208", minimalInput(t, "2208"))), `"inf_time":"2025-03-01 09:30:05",`, "", 1)
	evs, rowErrs, err = decode(t, []byte(body))
	if err != nil || len(rowErrs) > 0 || len(evs) != 1 || !evs[0].Time.IsZero() {
		t.Fatalf("events %+v, row errors %v, err %v", evs, rowErrs, err)
	}
}

// rowsInput is a 3505A input of n good sale rows in selinfoDetail and m in selinfo.
func rowsInput(n, m int) string {
	row := `{"med_list_codg":"X1","fixmedins_bchno":"B1","rtal_docno":"R1","trdn_flag":"0","sel_retn_cnt":"1","sel_retn_time":"2025-03-01 10:00:00"}`
	rows := func(k int) string { return "[" + strings.TrimSuffix(strings.Repeat(row+",", k), ",") + "]" }
	if m == 0 {
		return `{"selinfoDetail":` + rows(n) + `}`
	}
	return `{"selinfoDetail":` + rows(n) + `,"selinfo":` + rows(m) + `}`
}

// codesRow is a 3505 row with n drugtracinfo elements.
func codesRow(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"drug_trac_codg":"8385793` + strconv.Itoa(1e12+i) + `"}`)
	}
	return `{"selinfo":{"med_list_codg":"X1","fixmedins_bchno":"B1","rtal_docno":"R1","trdn_flag":"0","sel_retn_cnt":"1",` +
		`"sel_retn_time":"2025-03-01 10:00:00","drugtracinfo":[` + b.String() + `]}}`
}

// settlementCodes is a 2207 input with n drug_trac_info elements.
func settlementCodes(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"feedetl_sn":"F1","drug_trac_codg":"8385793` + strconv.Itoa(1e12+i) + `"}`)
	}
	return `{"data":{"setl_id":"S1"},"drug_trac_info":[` + b.String() + `]}`
}

// TestCountLimits: a message of more than MaxRows rows, or a settlement with more than
// MaxCodes elements, is refused whole naming the node; a row with more than MaxCodes
// codes is refused naming drugtracinfo.
func TestCountLimits(t *testing.T) {
	tests := []struct {
		name, infno, input string
		msgField, rowField string // the message error's field, or the row error's
		events             int
	}{
		{"rows at the bound", "3505A", rowsInput(nhsa.MaxRows, 0), "", "", nhsa.MaxRows},
		{"rows past the bound", "3505A", rowsInput(nhsa.MaxRows+1, 0), "selinfoDetail", "", 0},
		{"rows past the bound over two nodes", "3505A", rowsInput(nhsa.MaxRows/2, nhsa.MaxRows/2+1), "selinfo", "", 0},
		{"rows at the bound over two nodes", "3505", rowsInput(nhsa.MaxRows/2, nhsa.MaxRows/2), "", "", nhsa.MaxRows},
		{"codes of a row at the bound", "3505", codesRow(nhsa.MaxCodes), "", "", 1},
		{"codes of a row past the bound", "3505", codesRow(nhsa.MaxCodes + 1), "", "selinfo.drugtracinfo", 0},
		{"settlement codes at the bound", "2207", settlementCodes(nhsa.MaxCodes), "", "", 1},
		{"settlement codes past the bound", "2207", settlementCodes(nhsa.MaxCodes + 1), "drug_trac_info", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, rowErrs, err := decode(t, envelope(tc.infno, tc.input))
			if tc.msgField != "" {
				var e *tracewatch.Error
				if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid || e.Field != tc.msgField || !strings.Contains(e.Error(), "at most") {
					t.Fatalf("error %v, want a KindInvalid naming %s", err, tc.msgField)
				}
				if got := nhsa.Reason(err); !strings.HasPrefix(got, tc.msgField+": too many") {
					t.Errorf("Reason = %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("message error %v", err)
			}
			if tc.rowField != "" {
				if len(rowErrs) != 1 || rowErrs[0].Field != tc.rowField {
					t.Fatalf("row errors %v, want one naming %s", rowErrs, tc.rowField)
				}
			} else if len(rowErrs) > 0 {
				t.Fatalf("row errors %v", rowErrs[:min(len(rowErrs), 3)])
			}
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d", len(evs), tc.events)
			}
		})
	}
}

// TestEnvelopeLimits: DecodeRequest and Decode hold the envelope's fields to their
// limits, naming the field; a refusal never returns a bad msgid (so it is never echoed)
// and keeps a good one.
func TestEnvelopeLimits(t *testing.T) {
	sale := minimalInput(t, "3505")
	body := func(field string, value any) []byte {
		var env map[string]any
		if err := json.Unmarshal(envelope("3505", sale), &env); err != nil {
			t.Fatal(err)
		}
		env[field] = value
		b, _ := json.Marshal(env)
		return b
	}
	tests := []struct {
		name, field string
		value       any
		bad         bool
	}{
		{"msgid at the bound", "msgid", strings.Repeat("M", 64), false},
		{"msgid past the bound", "msgid", strings.Repeat("M", 65), true},
		{"msgid of 1 MB", "msgid", strings.Repeat("M", 1<<20), true},
		{"msgid with NUL", "msgid", "M1\x00", true},
		{"msgid with a space inside", "msgid", "M 1", true},
		{"msgid in Chinese", "msgid", "报文一", true},
		{"msgid trimmed", "msgid", "  M1  ", false},
		{"fixmedins_code of 12", "fixmedins_code", "H36010200005", false},
		{"fixmedins_code of 11", "fixmedins_code", "P3601020000", true},
		{"fixmedins_code of 13", "fixmedins_code", "P360102000011", true},
		{"fixmedins_code a path", "fixmedins_code", "../../etc/pa", true},
		{"fixmedins_code with NUL", "fixmedins_code", "P3601020000\x00", true},
		{"inf_time at the upper bound", "inf_time", "2099-12-31 23:59:59", false},
		{"inf_time past the upper bound", "inf_time", "2100-01-01 00:00:00", true},
		{"inf_time at the lower bound", "inf_time", "2000-01-01 00:00:00", false},
		{"inf_time before 2000", "inf_time", "1999-12-31 23:59:59", true},
		{"inf_time unreadable", "inf_time", "now", true},
		{"opter_name at the bound", "opter_name", strings.Repeat("张", 50), false},
		{"opter_name past the bound", "opter_name", strings.Repeat("张", 51), true},
		{"opter with NUL", "opter", "0\x001", true},
		{"fixmedins_name past the bound", "fixmedins_name", strings.Repeat("药", 201), true},
		{"cainfo with line breaks", "cainfo", "-----BEGIN-----\nabc\n-----END-----", false},
		{"cainfo past the bound", "cainfo", strings.Repeat("a", 4001), true},
		{"infno past the bound", "infno", "350535053505", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := nhsa.DecodeRequest(body(tc.field, tc.value))
			if !tc.bad {
				if err != nil {
					t.Fatalf("DecodeRequest: %v", err)
				}
				if tc.field == "inf_time" {
					return // the sale of the message is then too late or far too early
				}
				if _, rowErrs, err := nhsa.Decode(req); err != nil || len(rowErrs) > 0 {
					t.Fatalf("Decode: %v %v", err, rowErrs)
				}
				return
			}
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid || e.Field != tc.field {
				t.Fatalf("DecodeRequest error %v, want KindInvalid naming %s", err, tc.field)
			}
			if strings.Contains(nhsa.Reason(err), "nhsa.") || !strings.HasPrefix(nhsa.Reason(err), tc.field+": ") {
				t.Errorf("Reason = %q", nhsa.Reason(err))
			}
			wantID := testMsgID
			if tc.field == "msgid" {
				wantID = ""
			}
			if req.MsgID != wantID {
				t.Errorf("returned msgid %.40q, want %q", req.MsgID, wantID)
			}
			// Decode applies the same limits to a request that did not come through DecodeRequest.
			raw := nhsa.Request{Infno: "3505", MsgID: testMsgID, FixmedinsCode: testInst, InfTime: "2025-03-01 09:30:05", Input: json.RawMessage(sale)}
			s, _ := tc.value.(string)
			switch tc.field {
			case "msgid":
				raw.MsgID = s
			case "fixmedins_code":
				raw.FixmedinsCode = s
			case "inf_time":
				raw.InfTime = s
			case "opter_name":
				raw.OpterName = s
			default:
				return
			}
			if _, _, err := nhsa.Decode(raw); !errors.As(err, &e) || e.Field != tc.field {
				t.Errorf("Decode error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// TestReason: what a sender is told names the national field and never the operation.
func TestReason(t *testing.T) {
	_, _, err := nhsa.Decode(nhsa.Request{Infno: "3505", MsgID: "M1", FixmedinsCode: testInst})
	if got := nhsa.Reason(err); got != "input: required" {
		t.Errorf("Reason = %q, want %q", got, "input: required")
	}
	if got := nhsa.Reason(errors.New("plain")); got != "plain" {
		t.Errorf("Reason(plain) = %q", got)
	}
}

func TestParseTime(t *testing.T) {
	limit := cst("2025-03-02 09:30:05")
	tests := []struct {
		in       string
		notAfter time.Time
		ok       bool
	}{
		{"2025-03-01 10:00:00", limit, true},
		{"2025-03-01", time.Time{}, true},
		{"2025-03-01T10:00:00", time.Time{}, true},
		{"2025-03-02 09:30:05", limit, true},
		{"2025-03-02 09:30:06", limit, false},
		{"9999-12-31 23:59:59", time.Time{}, false},
		{"0001-01-01 00:00:00", time.Time{}, false},
		{"2025-13-01 00:00:00", time.Time{}, false},
		{"bad", time.Time{}, false},
		{"2025-03-01 10:00:00\x00", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := nhsa.ParseTime("setl_date", tc.in, tc.notAfter)
		if tc.ok {
			if err != nil || got.IsZero() {
				t.Errorf("ParseTime(%q) = %v, %v", tc.in, got, err)
			}
			continue
		}
		var e *tracewatch.Error
		if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid || e.Field != "setl_date" || !got.IsZero() {
			t.Errorf("ParseTime(%q) = %v, %v; want a KindInvalid naming setl_date", tc.in, got, err)
		}
	}
}
