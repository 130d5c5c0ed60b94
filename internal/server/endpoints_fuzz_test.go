package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzRoutes are the signed endpoints whose bodies the server decodes itself (the
// real-time check, 3101/3102, 3103) or hands to the NHSA decoder (a 35xx, a 2207).
var fuzzRoutes = []string{"/api/v1/check", "/fsi/api/3101", "/fsi/api/3102", "/fsi/api/3103", "/fsi/api/3505", "/fsi/api/3505A", "/fsi/api/2207"}

// FuzzEndpoints sends arbitrary bodies, correctly signed, to every decoder the server
// exposes: whatever arrives, the answer is a JSON document of bounded size with a status
// that says "refused" or "done" (never a 5xx, never a panic), and the server goes on.
func FuzzEndpoints(f *testing.F) {
	h := newHarness(f, nil)
	seeds := []string{
		`{"fixmedins_code":"` + instP + `","psn_no":"PSN1","rtal_docno":"R1","lines":[{"med_list_codg":"` + drugX + `","quantity":"1","trdn_flag":"0","codes":["` + codeA + `"]}]}`,
		`{"infno":"3101","msgid":"F1","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 09:00:00","input":{"data":{"task_id":"T1","trig_scen":"10","patient_dtos":[{"patn_id":"P1","fsi_encounter_dtos":[{"mdtrt_id":"R1","medins_id":"` + instP + `","fsi_order_dtos":[{"rx_id":"1","hilist_code":"` + drugX + `","cnt":1,"drug_trac_info":[{"drug_trac_codg":"` + codeA + `","trdn_flag":"0"}]}]}]}]}}}`,
		`{"infno":"3102","msgid":"F2","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 09:00:00","input":{"data":{"patient_dtos":[]}}}`,
		`{"infno":"3103","msgid":"F3","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 09:00:00","input":{"data":{"warn_type":"1","warns":[{"warn_rslt_id":"0123456789abcdef01234567","dspo_way":"1","dspo_way_rea":"ok"}]}}}`,
		`{"infno":"3505","msgid":"F4","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 09:30:00","input":{"selinfo":{"med_list_codg":"` + drugX + `","fixmedins_hilist_id":"Y","fixmedins_hilist_name":"x","rtal_docno":"R1","sel_retn_cnt":1,"sel_retn_time":"2025-03-01 09:29:00","drugtracinfo":[{"drug_trac_codg":"` + codeA + `"}]}}}`,
		`{"infno":"3505A","msgid":"F5","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 09:30:00","input":{"selinfo":[{"rtal_docno":""},{"sel_retn_cnt":-5}]}}`,
		`{"infno":"2207","msgid":"F6","fixmedins_code":"` + instP + `","inf_time":"2025-03-01 10:06:00","input":{"data":{"setl_id":"S1","mdtrt_id":"M1","psn_no":"P1","medfee_sumamt":"25.00","fund_pay_sumamt":"999999999999.99"}}}`,
		"\xff\xfe x", `{"lines":[{"codes":[` + `"A","A","A"` + `]}]}`, `null`, `[]`, `{"infno":"3101","input":{"data":{"patient_dtos":[{"fsi_encounter_dtos":[{"fsi_order_dtos":[{"cnt":"-5"}]}]}]}}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	handler := h.srv.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header = h.headers(instP)
		req.Header.Set("content-type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST %s: status %d for %q: %s", path, rec.Code, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s: the answer is not JSON: %q", path, rec.Body.Bytes())
		}
		// No amplification: the answer stays within a small multiple of what was sent.
		if n := rec.Body.Len(); n > 64*len(body)+8192 {
			t.Fatalf("POST %s: %d bytes answered to %d sent", path, n, len(body))
		}
	})
}
