package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/token"
)

// operatorEndpoints is every operator endpoint (and two paths that are none), with a
// body where one is needed.
var operatorEndpoints = []struct{ method, path string }{
	{"GET", "/api/v1/codes/" + codeA},
	{"GET", "/api/v1/codes?code=" + codeA},
	{"GET", "/api/v1/quarantine"},
	{"POST", "/api/v1/quarantine/1/resubmit"},
	{"GET", "/api/v1/stats"},
	{"GET", "/api/v1/clues"},
	{"GET", "/api/v1/clues/1"},
	{"GET", "/api/v1/nothing"},
	{"DELETE", "/api/v1/stats"},
}

// workflowEndpoints are the endpoints of users and the clue workflow (workflow_test.go
// tests what each role may do with them).
var workflowEndpoints = []struct{ method, path string }{
	{"POST", "/api/v1/logout"},
	{"GET", "/api/v1/me"},
	{"POST", "/api/v1/clues/1/transitions"},
	{"POST", "/api/v1/clues/1/attachments"},
	{"GET", "/api/v1/clues/1/attachments/1"},
	{"POST", "/api/v1/cases"},
	{"GET", "/api/v1/cases/1"},
	{"POST", "/api/v1/cases/1/transitions"},
	{"GET", "/api/v1/digest"},
	{"GET", "/api/v1/points"},
	{"GET", "/api/v1/practitioners/D001/points"},
}

// TestOperatorTokens: without a valid token every operator endpoint answers 401 with
// WWW-Authenticate and a JSON error, whatever the route; a viewer may read but not
// resubmit (403); a token revoked while the server runs is refused within the refresh
// interval.
func TestOperatorTokens(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3505", sale("P1-1", instP, codeA, map[string]any{"rtal_docno": nil}))
	revoked, err := token.Create(h.tokenDir, "gone", token.RoleAdmin, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.Revoke(h.tokenDir, "gone", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []struct{ name, value string }{
		{"none", ""},
		{"basic", "Basic YWRtaW46YWRtaW4="},
		{"empty bearer", "Bearer "},
		{"unknown", "Bearer twt_0000000000000000000000000000000"},
		{"revoked", "Bearer " + revoked},
		{"token without scheme", h.admin},
		{"a signature is no token", "Bearer " + h.keys[instP].secret},
	} {
		for _, ep := range append(operatorEndpoints, workflowEndpoints...) {
			t.Run(auth.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				hd := http.Header{}
				if auth.value != "" {
					hd.Set("Authorization", auth.value)
				}
				before := h.stats()
				req, _ := http.NewRequest(ep.method, h.ts.URL+ep.path, strings.NewReader(string(sale("P1-2", instP, codeA, nil))))
				req.Header = hd
				resp, err := h.ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var e apiError
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 401 || e.Error != "unauthorized" || e.Message == "" ||
					!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("status %d, %+v, %v, WWW-Authenticate %q", resp.StatusCode, e, err, resp.Header.Get("WWW-Authenticate"))
				}
				h.unchanged(before, "a refused operator request")
			})
		}
	}
	// A viewer reads, and may not resubmit.
	for _, ep := range operatorEndpoints {
		status, b := h.do(ep.method, ep.path, []byte(sale("P1-2", instP, codeA, nil)), bearer(h.viewer))
		switch {
		case strings.HasSuffix(ep.path, "/resubmit"):
			if status != 403 || !strings.Contains(string(b), "needs the admin role") {
				t.Errorf("viewer resubmit: %d %s", status, b)
			}
		case ep.path == "/api/v1/nothing" || ep.method == "DELETE":
			if status != 404 {
				t.Errorf("viewer %s %s: %d %s", ep.method, ep.path, status, b)
			}
		case ep.path == "/api/v1/clues/1":
			if status != 404 { // no clue yet: past authentication
				t.Errorf("viewer %s: %d %s", ep.path, status, b)
			}
		default:
			if status != 200 {
				t.Errorf("viewer %s %s: %d %s", ep.method, ep.path, status, b)
			}
		}
	}
	// Revoked while the server runs: refused within the refresh interval.
	if status, _ := h.do("GET", "/api/v1/stats", nil, bearer(h.viewer)); status != 200 {
		t.Fatalf("viewer before revocation: %d", status)
	}
	if _, err := token.Revoke(h.tokenDir, "viewer", time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(token.RefreshInterval + 100*time.Millisecond)
	if status, _ := h.do("GET", "/api/v1/stats", nil, bearer(h.viewer)); status != 401 {
		t.Errorf("revoked viewer: %d", status)
	}
	// The signed check does not take a bearer token, and a token does not sign.
	if status, _ := h.do("POST", "/api/v1/check", []byte(mustJSON(checkBody(instP, "R", drugX, codeA))), bearer(h.admin)); status != 401 {
		t.Errorf("check with a bearer token: %d", status)
	}
	if log := h.logs.String(); strings.Contains(log, h.admin) || strings.Contains(log, revoked) || !strings.Contains(log, `"operator":"viewer"`) {
		t.Errorf("the log names the operator and never holds a token:\n%s", log)
	}
}

// personal is the person data of the fixtures that a viewer must never see whole.
var personal = []string{certno, psnName, "36000012345678", "110105194912310011", "王药师", "李医生", "钱七"}

// walkStrings calls f with every string of a JSON document, and of every JSON document
// held in one of its strings (a quarantine payload).
func walkStrings(t *testing.T, b []byte, f func(string)) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				f(k)
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string:
			f(x)
			if s := strings.TrimSpace(x); strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
				var inner any
				if json.Unmarshal([]byte(s), &inner) == nil {
					walk(inner)
				}
			}
		case float64:
			f(fmt.Sprint(int64(x)))
		}
	}
	walk(v)
}

// TestViewerSeesNoPersonalData: every answer a viewer can get, decoded (payloads too),
// holds no full ID number, name or person number of the test data; an admin's holds
// them; a payload that is not JSON is withheld from a viewer.
func TestViewerSeesNoPersonalData(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.submit(instP, "3503", purchase("P1-3503", instP, codeA, codeB))
	h.submit(instP, "3505", sale("P1-3505", instP, codeA, nil))
	// Refused: a whole message in the quarantine, with every personal field, one of
	// them numeric and one ID number in a free-text field.
	h.submit(instP, "3505", sale("P1-bad", instP, codeB, map[string]any{"rtal_docno": nil, "psn_no": 36000012345678,
		"memo": "持卡人身份证 110105194912310011 代购"}))
	// An unreadable line of a bulk file (no institution, not JSON) with an ID number.
	raw := []byte(`{"infno":"3505","input":{"selinfo":{"certno":"` + certno + `","psn_name":"` + psnName + `"` + "\xff")
	h.quarantine(tracewatch.QuarantineRow{MsgID: "file:x:1", Source: "file:x:1", Reason: "malformed JSON", Payload: raw, Received: h.clock.Now()})
	at := h.clock.Now()
	if _, err := h.st.PutClues(ctx, []tracewatch.Clue{{
		Fingerprint: "fp1", Detector: "claims.gender@1", Rule: "gender", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: "36000012345678", Region: "360102", Institution: instP, AmountFen: 100,
		Persons: []string{"36000012345678"}, Explanation: "参保人 36000012345678 性别为女，身份证 " + certno + "。",
		Evidence: []tracewatch.Evidence{{Time: at, What: "sale", Institution: instP, Ref: "P1-3505#1", Note: "36000012345678 与 36000012345678 同购"}},
	}}, at); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/api/v1/codes/" + codeA, "/api/v1/codes?code=" + codeA, "/api/v1/quarantine", "/api/v1/quarantine?institution=" + instP,
		"/api/v1/clues", "/api/v1/clues/1", "/api/v1/stats"}
	for _, p := range paths {
		status, b := h.do("GET", p, nil, bearer(h.viewer))
		if status != 200 {
			t.Fatalf("viewer %s: %d %s", p, status, b)
		}
		walkStrings(t, b, func(s string) {
			for _, pd := range personal {
				if strings.Contains(s, pd) {
					t.Errorf("viewer %s: %q holds %q", p, s, pd)
				}
			}
		})
		for _, pd := range personal {
			if strings.Contains(string(b), pd) {
				t.Errorf("viewer %s: the answer holds %q:\n%s", p, pd, b)
			}
		}
	}
	// What the viewer gets instead.
	var q quarantineList
	if status, b := h.do("GET", "/api/v1/quarantine", nil, bearer(h.viewer)); status == 200 {
		json.Unmarshal(b, &q)
	}
	var masked, withheld int
	for _, r := range q.Rows {
		switch {
		case r.PayloadWithheld && r.Payload == "" && !r.PayloadMasked:
			withheld++
		case r.PayloadMasked && strings.Contains(r.Payload, `"certno":"1101**********002X"`) && strings.Contains(r.Payload, `"psn_name":"赵*"`) &&
			strings.Contains(r.Payload, `"psn_no":"36**********78"`) && strings.Contains(r.Payload, "1101**********0011"):
			masked++
		default:
			t.Errorf("viewer row: %+v", r)
		}
	}
	if masked == 0 || withheld != 1 {
		t.Errorf("masked %d, withheld %d rows: %+v", masked, withheld, q.Rows)
	}
	var v view
	if status, b := h.do("GET", "/api/v1/codes/"+codeA, nil, bearer(h.viewer)); status == 200 {
		json.Unmarshal(b, &v)
	}
	if len(v.Timeline) != 2 || v.Timeline[1].Person != "36**********78" || v.Timeline[1].Certno != "1101**********002X" {
		t.Errorf("viewer timeline: %+v", v.Timeline)
	}
	var c map[string]any
	if _, b := h.do("GET", "/api/v1/clues/1", nil, bearer(h.viewer)); json.Unmarshal(b, &c) != nil ||
		c["subject_id"] != "36**********78" || !strings.Contains(c["explanation"].(string), "参保人 36**********78") {
		t.Errorf("viewer clue: %v", c)
	}
	// The admin sees what is stored.
	for p, want := range map[string]string{"/api/v1/quarantine": certno, "/api/v1/clues/1": "36000012345678", "/api/v1/codes/" + codeA: "36000012345678"} {
		if _, b := h.do("GET", p, nil, bearer(h.admin)); !strings.Contains(string(b), want) {
			t.Errorf("admin %s lacks %s:\n%s", p, want, b)
		}
	}
}

// quarantine stores refused rows as ingestion would: each with its message.
func (h *harness) quarantine(rows ...tracewatch.QuarantineRow) {
	h.t.Helper()
	b := &tracewatch.Batch{Quarantine: rows}
	for _, q := range rows {
		b.Messages = append(b.Messages, tracewatch.MessageRecord{MsgID: q.MsgID, Infno: q.Infno, Institution: q.Institution,
			Source: q.Source, Received: q.Received, Rejected: 1, Response: []byte(`{"infcode":"-1"}`)})
	}
	if _, err := h.st.Commit(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
}

// TestResubmitGuards: a resubmission is held to the checks of a signed message.
func TestResubmitGuards(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.submit(instP, "3505", sale("P1-1", instP, codeA, map[string]any{"rtal_docno": nil}))
	h.submit(instQ, "3505", sale("Q1-1", instQ, codeA, map[string]any{"rtal_docno": nil}))
	// An unreadable line: no institution. And a row of an institution not in the store.
	h.quarantine(tracewatch.QuarantineRow{MsgID: "file:x:1", Source: "file:x:1", Reason: "malformed JSON", Payload: []byte("not json"), Received: h.clock.Now()},
		tracewatch.QuarantineRow{MsgID: "Z1-1", Infno: "3505", Institution: "P99999999999", Source: "http", Reason: "required", Field: "selinfo.rtal_docno",
			Payload: sale("Z1-1", "P99999999999", codeA, nil), Received: h.clock.Now()})
	var q quarantineList
	h.get("/api/v1/quarantine", &q)
	if len(q.Rows) != 4 {
		t.Fatalf("quarantine: %+v", q.Rows)
	}
	ids := map[string]int64{}
	for _, r := range q.Rows {
		ids[r.MsgID] = r.ID
	}
	// instQ's only key is revoked.
	if _, err := RevokeKey(ctx, h.st, h.keys[instQ].paasid); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		row    int64
		body   []byte
		status int
		msg    string
	}{
		{"no institution", ids["file:x:1"], sale("P1-9", instP, codeA, nil), 409, "names no institution"},
		{"no institution, any code", ids["file:x:1"], sale("Q1-9", instQ, codeA, nil), 409, "names no institution"},
		{"revoked key", ids["Q1-1"], sale("Q1-2", instQ, codeA, nil), 403, "holds no valid key"},
		{"institution not in the store", ids["Z1-1"], sale("Z1-2", "P99999999999", codeA, nil), 403, "not in the store"},
		{"another institution", ids["P1-1"], sale("P1-2", instQ, codeA, nil), 400, "fixmedins_code: differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.stats()
			status, b := h.do("POST", fmt.Sprintf("/api/v1/quarantine/%d/resubmit", tc.row), tc.body, nil)
			if resp := envelopeOf(t, b); status != tc.status || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, tc.msg) {
				t.Errorf("status %d (want %d), %s; want %q", status, tc.status, b, tc.msg)
			}
			h.unchanged(before, tc.name)
		})
	}
	// The near miss: P's own row, P holding a valid key.
	status, b := h.do("POST", fmt.Sprintf("/api/v1/quarantine/%d/resubmit", ids["P1-1"]), sale("P1-2", instP, codeA, nil), nil)
	if resp := envelopeOf(t, b); status != 200 || resp.Infcode != "0" {
		t.Errorf("P's resubmission: %d %s", status, b)
	}
}

// TestStrictQuery: a filter value is matched exactly or refused naming the parameter; a
// ';' never widens a filter.
func TestStrictQuery(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3505", sale("P1-1", instP, codeA, map[string]any{"rtal_docno": nil}))
	h.submit(instQ, "3505", sale("Q1-1", instQ, codeA, map[string]any{"rtal_docno": nil}))
	for _, tc := range []struct{ query, param string }{
		{"/api/v1/quarantine?institution=" + instP + ";x", "institution"},
		{"/api/v1/quarantine?institution=" + instP + "%3Bx", "institution"},
		{"/api/v1/quarantine?institution=" + instP + "&institution=" + instQ, "institution"},
		{"/api/v1/quarantine?institution=P3601020000", "institution"},
		{"/api/v1/quarantine?institution=" + url.QueryEscape("P36010200001' OR 1=1"), "institution"},
		{"/api/v1/quarantine?institutoin=" + instP, "institutoin"},
		{"/api/v1/quarantine?infno=35O5", "infno"},
		{"/api/v1/quarantine?limit=1001", "limit"},
		{"/api/v1/clues?institution=a;b", "institution"},
		{"/api/v1/clues?detector=" + url.QueryEscape("trace.duplicate;drop"), "detector"},
		{"/api/v1/clues?detector=" + url.QueryEscape("../x"), "detector"},
		{"/api/v1/clues?code=" + url.QueryEscape("a\x00b"), "code"},
		{"/api/v1/clues?code=" + strings.Repeat("1", 300), "code"},
		{"/api/v1/stats?x=1", "x"},
		{"/api/v1/codes/" + codeA + "?code=1", "code"},
		{"/api/v1/codes?code=" + strings.Repeat("1", 300), "code"},
	} {
		var e apiError
		if status := h.get(tc.query, &e); status != 400 || e.Error != "invalid" || !strings.HasPrefix(e.Message, tc.param+":") {
			t.Errorf("%s: %d %+v, want 400 naming %s", tc.query, status, e, tc.param)
		}
	}
	var q quarantineList
	if status := h.get("/api/v1/quarantine?institution="+instP, &q); status != 200 || len(q.Rows) != 1 || q.Rows[0].Institution != instP {
		t.Errorf("the exact filter: %d %+v", status, q.Rows)
	}
}

// TestServiceListener: with a separate service listener, /readyz and /metrics on the
// main handler need a token, the service handler answers them without one, and
// /healthz is open on both.
func TestServiceListener(t *testing.T) {
	h := checkHarness(t, func(c *Config) { c.ServiceListener = true })
	for _, p := range []string{"/readyz", "/metrics"} {
		if status, _ := h.do("GET", p, nil, http.Header{}); status != 401 {
			t.Errorf("%s without a token: %d", p, status)
		}
		if status, _ := h.do("GET", p, nil, bearer(h.viewer)); status != 200 {
			t.Errorf("%s with a token: %d", p, status)
		}
	}
	svc := httptestServer(t, h.srv.ServiceHandler())
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(svc + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("service %s: %d", p, resp.StatusCode)
		}
	}
	if resp, err := http.Get(svc + "/api/v1/stats"); err != nil || resp.StatusCode != 404 {
		t.Errorf("the service listener serves the API: %v %v", resp.StatusCode, err)
	}
	if status, _ := h.do("GET", "/healthz", nil, http.Header{}); status != 200 {
		t.Errorf("main /healthz: %d", status)
	}
}

// TestLimitListener: with n connections open, the next waits until one closes; Close
// ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2)
	accepted := make(chan net.Conn, 3)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String()) // the kernel completes the handshake
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection accepted while two are open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	third := <-accepted // a slot is free
	first.Close()       // closing twice frees one slot only
	ln.Close()
	if err := <-acceptErr; err == nil {
		t.Error("Accept after Close")
	}
	second.Close()
	third.Close()
}

// httptestServer serves h for the test and returns its base URL.
func httptestServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
