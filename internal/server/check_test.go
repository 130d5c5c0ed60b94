package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

// drugY is another generic than drugX (T2 fixtures); codeY is a box of it.
const (
	drugY = "XC08CAA001A001010116352"
	codeY = "87801380000000012345"
)

// checkHarness is a harness whose store knows the drugs and the code mapping, with a
// loaded check index.
func checkHarness(t *testing.T, configure func(*Config)) *harness {
	t.Helper()
	return newHarness(t, func(cfg *Config) {
		ctx := context.Background()
		st := cfg.Store
		if err := st.UpsertDrugs(ctx, []tracewatch.Drug{
			{Code: drugX, Name: "维生素B1片", PackContent: 100, Price: 850, Reimbursable: true, Kind: "western"},
			{Code: drugY, Name: "苯磺酸氨氯地平片", PackContent: 7, Price: 610, Reimbursable: true, Kind: "western"},
		}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{
			{ProductID: codeA[:7], DrugCode: drugX, PackLevel: 1},
			{ProductID: codeY[:7], DrugCode: drugY, PackLevel: 1},
		}); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Ingester.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		idx := rules.NewIndex()
		if err := idx.Load(ctx, st.(*duckdb.Store)); err != nil {
			t.Fatal(err)
		}
		cfg.Index = idx
		if configure != nil {
			configure(cfg)
		}
	})
}

type checkResult struct {
	Infcode string `json:"infcode"`
	ErrMsg  string `json:"err_msg"`
	Result  []struct {
		JrID     string `json:"jr_id"`
		RuleID   string `json:"rule_id"`
		RuleName string `json:"rule_name"`
		VolaCont string `json:"vola_cont"`
		SevDeg   string `json:"sev_deg"`
		Severity string `json:"severity"`
		VolaEvid string `json:"vola_evid"`
		Line     int    `json:"line"`
		Code     string `json:"code"`
		Rescan   bool   `json:"rescan"`
	} `json:"result"`
}

func (h *harness) check(inst string, body map[string]any) (int, checkResult) {
	h.t.Helper()
	status, b := h.do("POST", "/api/v1/check", []byte(mustJSON(body)), h.headers(inst))
	var r checkResult
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatalf("check answer not JSON: %v\n%s", err, b)
	}
	return status, r
}

func checkBody(inst, receipt, drug string, codes ...string) map[string]any {
	return map[string]any{"fixmedins_code": inst, "psn_no": "36000099999999", "rtal_docno": receipt,
		"lines": []map[string]any{{"med_list_codg": drug, "quantity": "1", "trdn_flag": "0", "codes": codes}}}
}

// TestCheckDuplicateAndSubstitution: acceptance items 2 and 3 of the real-time check.
func TestCheckDuplicateAndSubstitution(t *testing.T) {
	h := checkHarness(t, nil)
	// Before any sale: clean (the store knows nothing against codeA).
	if status, r := h.check(instQ, checkBody(instQ, "RQ1", drugX, codeA)); status != 200 || r.Infcode != "0" || len(r.Result) != 0 {
		t.Fatalf("clean check: %d %+v", status, r)
	}
	// A sells codeA (3505, durable); the next check sees it at once.
	if status, env, b := h.submit(instP, "3505", sale("P1-1", instP, codeA, nil)); status != 200 || env.Infcode != "0" {
		t.Fatalf("sale: %d %s", status, b)
	}
	status, r := h.check(instQ, checkBody(instQ, "RQ2", drugX, codeA))
	if status != 200 || len(r.Result) != 1 || r.Result[0].RuleID != "trace.duplicate@1" || r.Result[0].SevDeg != "2" ||
		!strings.Contains(r.Result[0].VolaCont, instP) || !strings.Contains(r.Result[0].VolaCont, "2025-03-01 09:29") {
		t.Fatalf("check at B after A's sale: %d %+v", status, r)
	}
	// At A, for the same receipt: nothing, or a double-scan notice — never a violation.
	_, r = h.check(instP, checkBody(instP, "R20250301001", drugX, codeA))
	for _, v := range r.Result {
		if v.Severity != "notice" {
			t.Errorf("check at A for the same receipt: %+v", v)
		}
	}
	// T2: codeY is a box of drugY billed as drugX (another generic).
	_, r = h.check(instP, checkBody(instP, "R9", drugX, codeY))
	if len(r.Result) != 1 || r.Result[0].RuleID != "trace.substitution@1" || r.Result[0].Severity != "highly_suspicious" {
		t.Fatalf("substitution: %+v", r)
	}
	// A check consumes nothing: the same check twice gives the same answer, and the
	// store holds no sale of codeY.
	_, r2 := h.check(instP, checkBody(instP, "R9", drugX, codeY))
	if mustJSON(r2) != mustJSON(r) {
		t.Errorf("second identical check differs:\n%+v\n%+v", r, r2)
	}
	// T4: a commodity barcode and an unknown product are rescans, not fraud.
	_, r = h.check(instP, checkBody(instP, "R10", drugX, "6901234567892", "89999990000000000001"))
	if len(r.Result) != 2 || !r.Result[0].Rescan || !r.Result[1].Rescan || r.Result[0].Severity != "notice" {
		t.Fatalf("rescans: %+v", r)
	}
}

// TestCheckRefusals: a bad body names the field; another institution's check is
// forbidden; unsigned requests are refused.
func TestCheckRefusals(t *testing.T) {
	h := checkHarness(t, nil)
	for _, tc := range []struct {
		body   map[string]any
		status int
		field  string
	}{
		{map[string]any{"fixmedins_code": instP}, 400, "lines"},
		{map[string]any{"fixmedins_code": instP, "lines": []map[string]any{{"codes": []string{codeA}}}}, 400, "med_list_codg"},
		{map[string]any{"fixmedins_code": instP, "lines": []map[string]any{{"med_list_codg": drugX, "quantity": "x"}}}, 400, "quantity"},
		{map[string]any{"fixmedins_code": instQ, "lines": []map[string]any{{"med_list_codg": drugX}}}, 403, "fixmedins_code"},
	} {
		status, r := h.check(instP, tc.body)
		if status != tc.status || r.Infcode != "-1" || !strings.Contains(r.ErrMsg, tc.field) {
			t.Errorf("%v: %d %+v", tc.body, status, r)
		}
	}
	status, _ := h.do("POST", "/api/v1/check", []byte(mustJSON(checkBody(instP, "R", drugX, codeA))), nil)
	if status != 401 {
		t.Errorf("unsigned check: %d", status)
	}
}

// TestSupervise3101: the national smart-supervision shape end to end, and 3103.
func TestSupervise3101(t *testing.T) {
	h := checkHarness(t, nil)
	h.submit(instP, "3505", sale("P1-1", instP, codeA, nil))
	input := mustJSON(map[string]any{"data": map[string]any{"syscode": "HIS", "task_id": "T1", "trig_scen": "10", "rule_ids": []string{},
		"patient_dtos": []map[string]any{{"patn_id": "36000099999999", "patn_name": "钱七", "gend": "1", "brdy": "1970-01-01",
			"fsi_encounter_dtos": []map[string]any{{"mdtrt_id": "MD1", "medins_id": instQ, "med_mdtrt_type": "3", "med_type": "41",
				"fsi_order_dtos": []map[string]any{
					{"rx_id": "RX1", "hilist_code": drugX, "cnt": 1, "drug_trac_info": []map[string]any{{"drug_trac_codg": codeA, "trdn_flag": "0"}}},
					{"rx_id": "RX2", "hilist_code": drugX, "cnt": 1, "drug_trac_codg": codeY},
				}}}}}}})
	var jr string // a finding's jr_id, for 3103
	for _, infno := range []string{"3101", "3102"} {
		status, env, b := h.submit(instQ, infno, envelope(infno, fmt.Sprint("Q-", infno), instQ, input))
		if status != 200 || env.Infcode != "0" {
			t.Fatalf("%s: %d %s", infno, status, b)
		}
		var out struct {
			Output struct {
				Result []map[string]any `json:"result"`
			} `json:"output"`
		}
		json.Unmarshal(b, &out)
		rules := map[string]string{}
		for _, v := range out.Output.Result {
			rules[v["rx_id"].(string)] = v["rule_id"].(string)
			jr, _ = v["jr_id"].(string)
			for _, k := range []string{"jr_id", "rule_name", "vola_cont", "sev_deg", "vola_amt", "vola_evid", "vola_bhvr_type", "patn_id", "mdtrt_id", "task_id"} {
				if _, ok := v[k]; !ok {
					t.Errorf("%s: result lacks %s: %v", infno, k, v)
				}
			}
		}
		if rules["RX1"] != "trace.duplicate@1" || rules["RX2"] != "trace.substitution@1" {
			t.Errorf("%s: rules by order = %v\n%s", infno, rules, b)
		}
	}
	// 3103: continue with a reason; recorded durably.
	fb := mustJSON(map[string]any{"data": map[string]any{"warn_type": "2", "warns": []map[string]any{
		{"warn_rslt_id": jr, "dspo_way": "1", "dspo_way_rea": "患者自带药品，已核对"}}}})
	status, env, first := h.submit(instQ, "3103", envelope("3103", "Q-3103", instQ, fb))
	if status != 200 || env.Infcode != "0" {
		t.Fatalf("3103: %d %s", status, first)
	}
	got, err := h.st.CheckFeedback(context.Background(), jr)
	if err != nil || len(got) != 1 || got[0].Way != "1" || got[0].Institution != instQ {
		t.Errorf("feedback stored: %+v %v", got, err)
	}
	// The same msgid again, even with another decision: the first answer, byte for byte,
	// and nothing recorded.
	h.clock.Add(time.Minute)
	fb2 := strings.Replace(fb, `"dspo_way":"1"`, `"dspo_way":"2"`, 1)
	if status, _, again := h.submit(instQ, "3103", envelope("3103", "Q-3103", instQ, fb2)); status != 200 || string(again) != string(first) {
		t.Errorf("3103 replay: %d\n got %s\nwant %s", status, again, first)
	}
	if got, _ := h.st.CheckFeedback(context.Background(), jr); len(got) != 1 || got[0].Way != "1" {
		t.Errorf("feedback after the replay: %+v", got)
	}
	bad := mustJSON(map[string]any{"data": map[string]any{"warns": []map[string]any{{"warn_rslt_id": jr, "dspo_way": "1"}}}})
	if _, env, _ := h.submit(instQ, "3103", envelope("3103", "Q-3103b", instQ, bad)); env.Infcode != "-1" || !strings.Contains(env.ErrMsg, "dspo_way_rea") {
		t.Errorf("3103 without a reason: %+v", env)
	}
}

// TestServiceEndpoints: /healthz, /readyz, /metrics with the check latency histogram,
// and the per-institution rate limit.
func TestServiceEndpoints(t *testing.T) {
	h := checkHarness(t, func(cfg *Config) { cfg.RateLimit, cfg.RateBurst = 1, 3 })
	if status, _ := h.do("GET", "/healthz", nil, nil); status != 200 {
		t.Errorf("healthz %d", status)
	}
	if status, b := h.do("GET", "/readyz", nil, nil); status != 200 {
		t.Errorf("readyz %d %s", status, b)
	}
	limited := 0
	for i := 0; i < 6; i++ {
		status, r := h.check(instP, checkBody(instP, "R1", drugX, codeA))
		if status == 429 {
			limited++
			if r.Infcode != "-1" || !strings.Contains(r.ErrMsg, "rate limit") {
				t.Errorf("429 body: %+v", r)
			}
		}
	}
	if limited == 0 {
		t.Error("6 checks at once with a burst of 3: none limited")
	}
	_, b := h.do("GET", "/metrics", nil, nil)
	for _, want := range []string{`tracewatch_http_request_duration_seconds_bucket{route="POST /api/v1/check",le="0.005"}`,
		"tracewatch_checks_total 3", `tracewatch_index_codes{set="held"}`, "tracewatch_index_ready 1", "tracewatch_journal_lag_records", "tracewatch_journal_apply_failing 0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
}

// TestConcurrentSalesOfOneBox: two pharmacies sell the same box at the same moment;
// whatever the interleaving, both sales are stored, exactly one of them is the
// duplicate (T1), and a later check anywhere sees the box as sold.
func TestConcurrentSalesOfOneBox(t *testing.T) {
	for round := 0; round < 5; round++ {
		h := checkHarness(t, nil)
		var wg sync.WaitGroup
		for _, inst := range []string{instP, instQ} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.submit(inst, "3505", sale(inst+"-race", inst, codeA, map[string]any{"setl_id": "S-" + inst, "rtal_docno": "R-" + inst}))
			}()
		}
		wg.Wait()
		ctx := context.Background()
		l, err := h.st.Ledger(ctx, codeA)
		if err != nil || l.Sales != 2 {
			t.Fatalf("round %d: ledger %+v %v", round, l, err)
		}
		denv, err := rules.NewEnv(ctx, h.st.(*duckdb.Store), tracewatch.Window{}, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := rules.Run(ctx, denv, []rules.Rule{rules.NewDuplicate()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res[0].Clues) != 1 || res[0].Clues[0].Severity != tracewatch.SeverityHighlySuspicious {
			t.Fatalf("round %d: T1 clues %+v", round, res[0].Clues)
		}
		// The index agrees: a third pharmacy's check sees the box sold.
		_, r := h.check(instP, checkBody(instP, "R-other", drugX, codeA))
		if len(r.Result) == 0 {
			t.Errorf("round %d: check after two sales is clean", round)
		}
	}
}

// TestCheckRules: each rule at the counter, a hit and its near miss.
func TestCheckRules(t *testing.T) {
	ctx := context.Background()
	h := checkHarness(t, func(cfg *Config) {
		// instQ's agreement is suspended from 2025-03-01; instP's is normal.
		st := cfg.Store
		err := st.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: instQ, Name: "二号大药房", Type: tracewatch.InstitutionPharmacy,
			Region: "360102", Agreements: []tracewatch.Agreement{
				{Status: tracewatch.AgreementNormal, From: time.Date(2020, 1, 1, 0, 0, 0, 0, cst)},
				{Status: tracewatch.AgreementSuspended, From: time.Date(2025, 3, 1, 0, 0, 0, 0, cst)}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Index.Load(ctx, st.(*duckdb.Store)); err != nil {
			t.Fatal(err)
		}
	})
	rules := func(r checkResult) string {
		var out []string
		for _, v := range r.Result {
			out = append(out, v.RuleID+"/"+v.Severity)
		}
		return strings.Join(out, ",")
	}
	// Suspended agreement: a violation at Q, nothing at P (near miss), nothing at Q
	// before the suspension.
	if _, r := h.check(instQ, checkBody(instQ, "R1", drugX)); rules(r) != "claims.suspended@1/violation" {
		t.Errorf("suspended: %s", rules(r))
	}
	if _, r := h.check(instP, checkBody(instP, "R1", drugX)); rules(r) != "" {
		t.Errorf("normal agreement: %s", rules(r))
	}
	before := checkBody(instQ, "R1", drugX)
	before["time"] = "2025-02-28 18:00:00"
	if _, r := h.check(instQ, before); rules(r) != "" {
		t.Errorf("before the suspension: %s", rules(r))
	}

	// T3: P scans all its inbound codes (coverage 100 %); codeB was never received
	// there → 可疑; codeA was (near miss).
	h.submit(instP, "3503", purchase("P1-3503", instP, codeA))
	h.srv.index.Load(ctx, h.st.(*duckdb.Store)) // coverage is computed when the index loads
	if _, r := h.check(instP, checkBody(instP, "R2", drugX, codeB)); rules(r) != "trace.nosource@1/suspicious" {
		t.Errorf("never received: %s", rules(r))
	}
	if _, r := h.check(instP, checkBody(instP, "R2", drugX, codeA)); rules(r) != "" {
		t.Errorf("received: %s", rules(r))
	}

	// T4 expired: a GS1 code whose AI 17 date has passed → 高度可疑; a date to come → nothing.
	expired := "(01)06901234567892(17)250131(21)SN1"
	valid := "(01)06901234567892(17)270131(21)SN2"
	_, r := h.check(instP, checkBody(instP, "R3", drugX, expired, valid))
	var got []string
	for _, v := range r.Result {
		if v.RuleID == "trace.anomaly@1" && v.Severity == "highly_suspicious" {
			got = append(got, v.Code)
		}
	}
	if len(got) != 1 || got[0] != expired {
		t.Errorf("expired: %+v", r.Result)
	}

	// T1 near miss: a box sold, returned (3506), sold again elsewhere is clean there.
	h.submit(instP, "3505", sale("P1-3505", instP, codeA, map[string]any{"mdtrt_setl_type": "2", "setl_id": nil}))
	ret := envelope("3506", "P1-3506", instP, mustJSON(map[string]any{"selinfo": saleRow(codeA, map[string]any{
		"mdtrt_setl_type": "2", "setl_id": nil, "sel_retn_time": "2025-03-01 11:00:00", "medins_prod_sel_no": "R20250301001"})}))
	if status, env, b := h.submit(instP, "3506", ret); status != 200 || env.Infcode != "0" {
		t.Fatalf("return: %d %s", status, b)
	}
	for _, v := range func() checkResult { _, r := h.check(instQ, checkBody(instQ, "RQ", drugX, codeA)); return r }().Result {
		if v.RuleID == "trace.duplicate@1" {
			t.Errorf("returned box flagged as sold: %+v", v)
		}
	}
}

// TestCheckCaps: a check beyond its caps is refused whole (413) naming the node; bad
// values are refused naming the field; JSON errors name the field, never a Go type.
func TestCheckCaps(t *testing.T) {
	h := checkHarness(t, nil)
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("8385793%013d", i)
		}
		return out
	}
	lines := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"med_list_codg": drugX}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		msg    string
	}{
		{"1001 codes", checkBody(instP, "R1", drugX, many(1001)...), 413, "lines[0].codes: more than 1000 codes"},
		{"501 lines", map[string]any{"fixmedins_code": instP, "lines": lines(501)}, 413, "lines: 501 lines, the limit is 500"},
		{"a long code", checkBody(instP, "R1", drugX, strings.Repeat("1", 257)), 400, "lines[0].codes[0]: longer than 256 bytes"},
		{"a huge quantity", map[string]any{"fixmedins_code": instP, "lines": []map[string]any{{"med_list_codg": drugX, "quantity": "1000001"}}}, 400, "lines[0].quantity"},
		{"a negative quantity", map[string]any{"fixmedins_code": instP, "lines": []map[string]any{{"med_list_codg": drugX, "quantity": -5}}}, 400, "lines[0].quantity"},
		{"a long psn_no", map[string]any{"fixmedins_code": instP, "psn_no": strings.Repeat("1", 31), "lines": lines(1)}, 400, "psn_no: longer than 30"},
		{"a NUL in rtal_docno", map[string]any{"fixmedins_code": instP, "rtal_docno": "R\x001", "lines": lines(1)}, 400, "rtal_docno: holds control characters"},
		{"lines not an array", map[string]any{"fixmedins_code": instP, "lines": "x"}, 400, "body.lines: want an array, got string"},
	} {
		status, r := h.check(instP, tc.body)
		if status != tc.status || r.Infcode != "-1" || !strings.Contains(r.ErrMsg, tc.msg) {
			t.Errorf("%s: %d %+v, want %d %q", tc.name, status, r, tc.status, tc.msg)
		}
	}
	// At the caps: accepted.
	if status, r := h.check(instP, checkBody(instP, "R1", drugX, many(1000)...)); status != 200 || r.Infcode != "0" {
		t.Errorf("1000 codes: %d %s", status, r.ErrMsg)
	}
	if status, r := h.check(instP, map[string]any{"fixmedins_code": instP, "lines": lines(500)}); status != 200 || r.Infcode != "0" {
		t.Errorf("500 lines: %d %s", status, r.ErrMsg)
	}
}

// TestSuperviseRefusals: 3101/3102 orders, codes and values beyond the national formats
// are refused naming the field; 3103 takes only the jr_ids tracewatch gives.
func TestSuperviseRefusals(t *testing.T) {
	h := checkHarness(t, nil)
	input := func(order map[string]any, change map[string]any, orders int) string {
		os := make([]map[string]any, orders)
		for i := range os {
			os[i] = order
		}
		enc := map[string]any{"mdtrt_id": "MD1", "fsi_order_dtos": os}
		p := map[string]any{"patn_id": "36000099999999", "fsi_encounter_dtos": []map[string]any{enc}}
		for k, v := range change {
			if strings.HasPrefix(k, "enc.") {
				enc[k[4:]] = v
			} else {
				p[k] = v
			}
		}
		return mustJSON(map[string]any{"data": map[string]any{"task_id": "T1", "patient_dtos": []map[string]any{p}}})
	}
	order := func(change map[string]any) map[string]any {
		o := map[string]any{"rx_id": "RX1", "hilist_code": drugX, "cnt": 1, "drug_trac_codg": codeA}
		for k, v := range change {
			o[k] = v
		}
		return o
	}
	const path = "data.patient_dtos[0].fsi_encounter_dtos[0]"
	for i, tc := range []struct {
		name   string
		input  string
		status int
		msg    string
	}{
		{"cnt -5", input(order(map[string]any{"cnt": -5}), nil, 1), 200, path + ".fsi_order_dtos[0].cnt: want a positive decimal"},
		{"cnt 0", input(order(map[string]any{"cnt": "0"}), nil, 1), 200, path + ".fsi_order_dtos[0].cnt"},
		{"cnt huge", input(order(map[string]any{"cnt": 99999999}), nil, 1), 200, path + ".fsi_order_dtos[0].cnt"},
		{"trdn_flag 7", input(order(map[string]any{"trdn_flag": "7"}), nil, 1), 200, path + ".fsi_order_dtos[0].trdn_flag: want 0 or 1"},
		{"bad setl_date", input(order(nil), map[string]any{"enc.setl_date": "2025-13-45"}, 1), 200, path + ".setl_date: want yyyy-MM-dd HH:mm:ss"},
		{"long patn_id", input(order(nil), map[string]any{"patn_id": strings.Repeat("9", 31)}, 1), 200, "data.patient_dtos[0].patn_id: longer than 30"},
		{"long mdtrt_id", input(order(nil), map[string]any{"enc.mdtrt_id": strings.Repeat("M", 1000)}, 1), 200, path + ".mdtrt_id: longer than 30"},
		{"501 orders", input(order(nil), nil, 501), 413, path + ".fsi_order_dtos[500]: more than 500 orders"},
		{"1001 codes", input(order(map[string]any{"drug_trac_codg": strings.Repeat(codeA+",", 1000) + codeA}), nil, 1), 413, "more than 1000 trace codes"},
		{"patients not an array", mustJSON(map[string]any{"data": map[string]any{"patient_dtos": "x"}}), 200, "input.data.patient_dtos: want an array, got string"},
	} {
		status, env, b := h.submit(instP, "3101", envelope("3101", fmt.Sprint("P-3101-", i), instP, tc.input))
		if status != tc.status || env.Infcode != "-1" || !strings.Contains(env.ErrMsg, tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, status, b, tc.status, tc.msg)
		}
		if strings.Contains(env.ErrMsg, "struct") || strings.Contains(env.ErrMsg, "Go ") || strings.Contains(env.ErrMsg, "server.") {
			t.Errorf("%s: the error names Go internals: %s", tc.name, env.ErrMsg)
		}
	}
	if status, env, b := h.submit(instP, "3101", envelope("3101", "P-3101-ok", instP, input(order(nil), map[string]any{"enc.setl_date": "2025-03-01 09:00:00"}, 500))); status != 200 || env.Infcode != "0" {
		t.Errorf("500 orders: %d %s", status, b)
	}
	warn := func(w map[string]any) string {
		return mustJSON(map[string]any{"data": map[string]any{"warn_type": "2", "warns": []map[string]any{w}}})
	}
	jr := strings.Repeat("a", 24)
	for i, tc := range []struct {
		name, input, msg string
	}{
		{"not a jr_id", warn(map[string]any{"warn_rslt_id": "'; drop", "dspo_way": "2"}), "data.warns[0].warn_rslt_id: want the jr_id of a finding"},
		{"upper-case jr_id", warn(map[string]any{"warn_rslt_id": strings.ToUpper(jr), "dspo_way": "2"}), "warn_rslt_id"},
		{"dspo_way 3", warn(map[string]any{"warn_rslt_id": jr, "dspo_way": "3"}), "data.warns[0].dspo_way"},
		{"long reason", warn(map[string]any{"warn_rslt_id": jr, "dspo_way": "1", "dspo_way_rea": strings.Repeat("因", 501)}), "dspo_way_rea: longer than 500"},
		{"warn_type 9", mustJSON(map[string]any{"data": map[string]any{"warn_type": "9", "warns": []map[string]any{{"warn_rslt_id": jr, "dspo_way": "2"}}}}), "data.warn_type"},
		{"twice", mustJSON(map[string]any{"data": map[string]any{"warns": []map[string]any{{"warn_rslt_id": jr, "dspo_way": "2"}, {"warn_rslt_id": jr, "dspo_way": "2"}}}}), "data.warns[1].warn_rslt_id: given twice"},
	} {
		if _, env, b := h.submit(instP, "3103", envelope("3103", fmt.Sprint("P-3103-", i), instP, tc.input)); env.Infcode != "-1" || !strings.Contains(env.ErrMsg, tc.msg) {
			t.Errorf("%s: %s, want %q", tc.name, b, tc.msg)
		}
	}
	if got, _ := h.st.CheckFeedback(context.Background(), jr); len(got) != 0 {
		t.Errorf("refused 3103s recorded %+v", got)
	}
}
