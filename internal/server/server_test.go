package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
)

// TestPurchaseSaleTrace is the life of a box over HTTP: bought with another, sold once
// (settled by the fund), looked up, and the sale replayed.
func TestPurchaseSaleTrace(t *testing.T) {
	h := newHarness(t, nil)
	status, resp, _ := h.submit(instP, "3503", purchase("P1-3503-0001", instP, codeA, codeB))
	if status != http.StatusOK || resp.Infcode != "0" || resp.InfRefmsgid != "P1-3503-0001" {
		t.Fatalf("3503: status %d, %+v", status, resp)
	}
	status, resp, first := h.submit(instP, "3505", sale("P1-3505-0001", instP, codeA, nil))
	if status != http.StatusOK || resp.Infcode != "0" || resp.ErrMsg != "" {
		t.Fatalf("3505: status %d, %+v", status, resp)
	}
	if resp.RefmsgTime != "20250301100000000" {
		t.Errorf("refmsg_time %q, want the server clock in CST", resp.RefmsgTime)
	}

	var a view
	if status := h.get("/api/v1/codes/"+codeA, &a); status != http.StatusOK {
		t.Fatalf("GET code A: status %d", status)
	}
	if a.Key != codeA || a.kinds() != "purchase,sale" || a.SoldNet != 1 || a.Sales != 1 || a.FirstSeller != instP {
		t.Errorf("code A: %+v", a)
	}
	if a.Timeline[1].MsgID != "P1-3505-0001" || a.Timeline[1].Certno != "1101**********002X" {
		t.Errorf("sale entry: %+v", a.Timeline[1])
	}
	var b view // the other box was bought, never sold: the near miss
	if status := h.get("/api/v1/codes?code="+codeB, &b); status != http.StatusOK || b.kinds() != "purchase" || b.SoldNet != 0 {
		t.Errorf("code B: status %d, %+v", status, b)
	}

	// The same sale again (a client retry): the first answer, byte for byte, and nothing
	// changes.
	before := h.stats()
	_, timelineBefore := h.do("GET", "/api/v1/codes/"+codeA, nil, nil)
	h.clock.Add(2 * time.Minute)
	status, _, again := h.submit(instP, "3505", sale("P1-3505-0001", instP, codeA, nil))
	if status != http.StatusOK || !bytes.Equal(again, first) {
		t.Errorf("replay: status %d\n got %s\nwant %s", status, again, first)
	}
	h.unchanged(before, "a replayed msgid")
	if _, timelineAfter := h.do("GET", "/api/v1/codes/"+codeA, nil, nil); !bytes.Equal(timelineBefore, timelineAfter) {
		t.Errorf("timeline changed by a replay:\nbefore %s\nafter  %s", timelineBefore, timelineAfter)
	}
	if !strings.Contains(h.logs.String(), `"replayed":true`) {
		t.Errorf("the access log does not mark the replay:\n%s", h.logs)
	}
}

// TestRefusedRowIsQuarantined: a sale without its receipt number is refused the national
// way (HTTP 200, infcode -1), stores no sale, and waits in the quarantine.
func TestRefusedRowIsQuarantined(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3503", purchase("P1-3503-0001", instP, codeA))
	before := h.stats()
	body := sale("P1-3505-0009", instP, codeA, map[string]any{"rtal_docno": nil})
	status, resp, _ := h.submit(instP, "3505", body)
	if status != http.StatusOK || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, "rtal_docno") {
		t.Fatalf("status %d, %+v", status, resp)
	}
	after := h.stats()
	if after.Tables["events"] != before.Tables["events"] || after.Tables["sale_lines"] != 0 || after.Quarantined != before.Quarantined+1 {
		t.Errorf("stats before %v, after %v: want no event and one quarantined row", before, after)
	}
	var a view
	h.get("/api/v1/codes/"+codeA, &a)
	if a.kinds() != "purchase" || a.SoldNet != 0 {
		t.Errorf("code A after a refused sale: %+v", a)
	}
	var q quarantineList
	if status := h.get("/api/v1/quarantine?institution="+instP+"&infno=3505", &q); status != http.StatusOK || len(q.Rows) != 1 {
		t.Fatalf("quarantine: status %d, %+v", status, q)
	}
	r := q.Rows[0]
	if r.MsgID != "P1-3505-0009" || r.Infno != "3505" || r.Institution != instP || r.Source != "http" || r.Row != 1 ||
		!strings.Contains(r.Field, "rtal_docno") || r.Reason == "" || r.Resubmitted || r.Payload != string(body) ||
		r.Received != "2025-03-01 10:00:00" || q.NextAfter != r.ID {
		t.Errorf("quarantine row: %+v, next_after %d", r, q.NextAfter)
	}
	var none quarantineList // another institution's filter finds nothing
	if h.get("/api/v1/quarantine?institution="+instQ, &none); len(none.Rows) != 0 || none.Rows == nil {
		t.Errorf("quarantine of %s: %+v (want an empty array)", instQ, none)
	}
}

type quarantineList struct {
	Rows      []quarantineJSON `json:"rows"`
	NextAfter int64            `json:"next_after"`
}

// TestAuthRefusals: every way a request can fail authentication or authorization is
// refused, names its problem and stores nothing; the near misses are accepted.
func TestAuthRefusals(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	revoked, revokedSecret, err := CreateKey(ctx, h.st, h.master, instP, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeKey(ctx, h.st, revoked); err != nil {
		t.Fatal(err)
	}
	h.submit(instP, "3503", purchase("P1-3503-0001", instP, codeA))
	reused := h.headers(instP)

	resign := func(hd http.Header, secret string) {
		hd.Set(HeaderSignature, Sign(hd.Get(HeaderTimestamp), secret, hd.Get(HeaderNonce)))
	}
	at := func(d time.Duration) func(http.Header) {
		return func(hd http.Header) {
			hd.Set(HeaderTimestamp, strconv.FormatInt(h.clock.Now().Add(d).Unix(), 10))
			resign(hd, h.keys[instP].secret)
		}
	}
	tests := []struct {
		name   string
		body   []byte
		change func(http.Header)
		status int
		msg    string
	}{
		{"missing signature", nil, func(hd http.Header) { hd.Del(HeaderSignature) }, 401, "missing header x-tif-signature"},
		{"no headers", nil, func(hd http.Header) {
			for k := range hd {
				delete(hd, k)
			}
		}, 401, "missing header x-tif-paasid, x-tif-timestamp, x-tif-nonce, x-tif-signature"},
		{"wrong signature", nil, func(hd http.Header) { resign(hd, h.keys[instQ].secret) }, 401, "x-tif-signature: signature does not match"},
		{"signature not hex", nil, func(hd http.Header) { hd.Set(HeaderSignature, "zz") }, 401, "x-tif-signature"},
		{"stale timestamp", nil, at(-ClockSkew - time.Second), 401, "x-tif-timestamp: more than 5 minutes old"},
		{"future timestamp", nil, at(ClockSkew + time.Second), 401, "x-tif-timestamp: more than 5 minutes in the future"},
		{"milliseconds", nil, func(hd http.Header) {
			hd.Set(HeaderTimestamp, strconv.FormatInt(h.clock.Now().UnixMilli(), 10))
			resign(hd, h.keys[instP].secret)
		}, 401, "x-tif-timestamp: want unix time in seconds"},
		{"reused nonce", nil, func(hd http.Header) {
			for k, v := range reused {
				hd[k] = v
			}
		}, 401, "x-tif-nonce: already used"},
		{"unknown paasid", nil, func(hd http.Header) { hd.Set(HeaderPaasID, "tw0000000000000000") }, 401, "x-tif-paasid: unknown or revoked paasid"},
		{"revoked paasid", nil, func(hd http.Header) {
			hd.Set(HeaderPaasID, revoked)
			resign(hd, revokedSecret)
		}, 401, "x-tif-paasid: unknown or revoked paasid"},
		{"another institution's sale", sale("Q1-3505-0001", instP, codeA, nil), func(hd http.Header) {
			for k, v := range h.headers(instQ) {
				hd[k] = v
			}
		}, 403, "may only submit for its own fixmedins_code"},
	}
	// The reused nonce's first use.
	if status, resp, _ := h.submitWith(reused, "3505", sale("P1-3505-0001", instP, codeA, nil)); status != 200 || resp.Infcode != "0" {
		t.Fatalf("first use of the nonce: status %d, %+v", status, resp)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = sale("P1-3505-0002", instP, codeB, map[string]any{"setl_id": "SETL2", "rtal_docno": "R2"})
			}
			hd := h.headers(instP)
			tc.change(hd)
			before := h.stats()
			status, resp, _ := h.submitWith(hd, "3505", body)
			if status != tc.status || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, tc.msg) {
				t.Errorf("status %d (want %d), %+v; want err_msg containing %q", status, tc.status, resp, tc.msg)
			}
			h.unchanged(before, tc.name)
		})
	}

	// Near misses: a timestamp 4m59s old or ahead is within the window.
	for i, d := range []time.Duration{-ClockSkew + time.Second, ClockSkew - time.Second} {
		hd := h.headers(instP)
		at(d)(hd)
		msgid := fmt.Sprintf("P1-3505-10%d", i)
		status, resp, _ := h.submitWith(hd, "3505", sale(msgid, instP, codeB, map[string]any{"setl_id": msgid, "rtal_docno": msgid}))
		if status != 200 || resp.Infcode != "0" {
			t.Errorf("timestamp %v from now: status %d, %+v", d, status, resp)
		}
	}
	// Near miss: another institution's msgid is no squatting: msgids are per institution.
	if status, resp, _ := h.submit(instQ, "3505", sale("P1-3503-0001", instQ, codeA, map[string]any{"setl_id": "SQ", "rtal_docno": "RQ"})); status != 200 || resp.Infcode != "0" {
		t.Errorf("Q with P's msgid: status %d, %+v", status, resp)
	}
	if log := h.logs.String(); !strings.Contains(log, `"refused":"x-tif-nonce: already used`) || strings.Contains(log, h.keys[instP].secret) {
		t.Errorf("the access log should give refusal reasons and never a secret:\n%s", log)
	}
}

// submitWith posts with the given headers.
func (h *harness) submitWith(hd http.Header, infno string, body []byte) (int, nhsa.Response, []byte) {
	h.t.Helper()
	status, b := h.do("POST", "/fsi/api/"+infno, body, hd)
	return status, envelopeOf(h.t, b), b
}

// TestEnvelopeRefusals: a signed request whose envelope cannot be taken is refused with
// 4xx, names the problem and stores nothing.
func TestEnvelopeRefusals(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		path   string
		body   []byte
		status int
		msg    string
	}{
		{"infno of the path and body differ", "3503", sale("P1-1", instP, codeA, nil), 400, `infno: "3505" in the body does not match "3503" in the path`},
		{"unsupported infno", "9001", envelope("9001", "P1-2", instP, `{}`), 400, `infno: unsupported interface "9001"`},
		{"malformed JSON", "3505", []byte(`{"infno":"3505",`), 400, "malformed JSON"},
		{"not an object", "3505", []byte(`[1]`), 400, "want a JSON object"},
		{"no msgid", "3505", sale("", instP, codeA, nil), 400, "msgid: required"},
		{"no fixmedins_code", "3505", sale("P1-3", "", codeA, nil), 400, "fixmedins_code: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.stats()
			status, resp, _ := h.submit(instP, tc.path, tc.body)
			if status != tc.status || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, tc.msg) {
				t.Errorf("status %d (want %d), %+v; want err_msg containing %q", status, tc.status, resp, tc.msg)
			}
			h.unchanged(before, tc.name)
		})
	}
	if status, _ := h.do("GET", "/fsi/api/3505", nil, nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /fsi/api/3505: status %d", status)
	}
}

// TestBodyLimit: a body at the limit is taken, one byte more is refused with 413.
func TestBodyLimit(t *testing.T) {
	msg := sale("P1-3505-0001", instP, codeA, nil)
	h := newHarness(t, func(c *Config) { c.MaxBody = int64(len(msg)) + 2 })
	status, resp, _ := h.submit(instP, "3505", append(msg, "  "...))
	if status != 200 || resp.Infcode != "0" {
		t.Fatalf("a body at the limit: status %d, %+v", status, resp)
	}
	before := h.stats()
	status, resp, _ = h.submit(instP, "3505", append(sale("P1-3505-0002", instP, codeB, nil), "   "...))
	if status != http.StatusRequestEntityTooLarge || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, "too large") {
		t.Errorf("a body over the limit: status %d, %+v", status, resp)
	}
	h.unchanged(before, "an oversize body")
}

// TestResubmit: an operator corrects a refused message and resubmits it; the sale is
// stored and every quarantine row of the refused message is marked resubmitted.
func TestResubmit(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3503", purchase("P1-3503-0001", instP, codeA, codeB))
	// Two problems in one row: two quarantine rows for one refused message.
	bad := sale("P1-3505-0009", instP, codeA, map[string]any{"rtal_docno": nil, "fixmedins_bchno": nil})
	if _, resp, _ := h.submit(instP, "3505", bad); resp.Infcode != "-1" {
		t.Fatalf("bad sale accepted: %+v", resp)
	}
	var q quarantineList
	h.get("/api/v1/quarantine?infno=3505", &q)
	if len(q.Rows) != 2 {
		t.Fatalf("want two quarantine rows, got %+v", q.Rows)
	}
	second := q.Rows[1].ID
	path := fmt.Sprintf("/api/v1/quarantine/%d/resubmit", second)

	refusals := []struct {
		name   string
		path   string
		body   []byte
		status int
		msg    string
	}{
		{"the refused msgid again", path, sale("P1-3505-0009", instP, codeA, nil), 409, "msgid: is the refused message's"},
		{"a stored msgid", path, sale("P1-3503-0001", instP, codeA, nil), 409, "msgid: is already stored"},
		{"another institution", path, sale("P1-3505-0010", instQ, codeA, nil), 400, "fixmedins_code: differs"},
		{"no such row", "/api/v1/quarantine/999/resubmit", sale("P1-3505-0011", instP, codeA, nil), 404, "quarantine row 999 not found"},
		{"not a row id", "/api/v1/quarantine/x/resubmit", sale("P1-3505-0011", instP, codeA, nil), 400, "id: want a quarantine row id"},
		{"not JSON", path, []byte("selinfo"), 400, "want a JSON object"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := h.stats()
			status, b := h.do("POST", tc.path, tc.body, nil)
			resp := envelopeOf(t, b)
			if status != tc.status || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, tc.msg) {
				t.Errorf("status %d (want %d), %+v; want err_msg containing %q", status, tc.status, resp, tc.msg)
			}
			h.unchanged(before, tc.name)
		})
	}

	fixed := sale("P1-3505-0010", instP, codeA, nil)
	status, b := h.do("POST", path, fixed, nil)
	if resp := envelopeOf(t, b); status != 200 || resp.Infcode != "0" || resp.InfRefmsgid != "P1-3505-0010" {
		t.Fatalf("resubmission: status %d, %s", status, b)
	}
	var after quarantineList
	h.get("/api/v1/quarantine?infno=3505", &after)
	for _, r := range after.Rows {
		if !r.Resubmitted {
			t.Errorf("row %d (%s) not marked resubmitted", r.ID, r.Field)
		}
	}
	if st := h.stats(); st.Quarantined != 0 || st.Tables["sale_lines"] != 1 {
		t.Errorf("stats after the resubmission: %+v", st)
	}
	var a view
	h.get("/api/v1/codes/"+codeA, &a)
	if a.kinds() != "purchase,sale" || a.SoldNet != 1 || a.Timeline[1].MsgID != "P1-3505-0010" {
		t.Errorf("code A after the resubmission: %+v", a)
	}
	m, err := h.st.Message(context.Background(), instP, "P1-3505-0010")
	if err != nil || m.Source != fmt.Sprintf("resubmit:%d", second) || m.Institution != instP {
		t.Errorf("stored message: %+v, %v", m, err)
	}
	// The same resubmission again (a retry): the stored answer, and nothing changes.
	before := h.stats()
	if status, again := h.do("POST", path, fixed, nil); status != 200 || !bytes.Equal(again, b) {
		t.Errorf("retried resubmission: status %d\n got %s\nwant %s", status, again, b)
	}
	h.unchanged(before, "a retried resubmission")
	// Once is enough.
	status, b = h.do("POST", path, sale("P1-3505-0012", instP, codeA, nil), nil)
	if resp := envelopeOf(t, b); status != 409 || !strings.Contains(resp.ErrMsg, "already resubmitted") {
		t.Errorf("second resubmission: status %d, %s", status, b)
	}
}

// TestResubmitBatchRow: for a batch (…A) interface the good rows were kept, so a
// resubmission corrects one row: the other refused row stays in the quarantine.
func TestResubmitBatchRow(t *testing.T) {
	h := newHarness(t, nil)
	rows := []map[string]any{
		saleRow(codeA, map[string]any{"rtal_docno": nil}),
		saleRow(codeB, map[string]any{"setl_id": "S2", "rtal_docno": "R2"}),
		saleRow("83857930000879766684", map[string]any{"setl_id": "S3", "rtal_docno": nil}),
	}
	status, resp, _ := h.submit(instP, "3505A", envelope("3505A", "P1-A-1", instP, mustJSON(map[string]any{"selinfoDetail": rows})))
	if status != 200 || resp.Infcode != "0" {
		t.Fatalf("3505A: status %d, %+v", status, resp)
	}
	var q quarantineList
	h.get("/api/v1/quarantine", &q)
	if len(q.Rows) != 2 || q.Rows[0].Row != 1 || q.Rows[1].Row != 3 {
		t.Fatalf("quarantine: %+v", q.Rows)
	}
	fixed := envelope("3505A", "P1-A-2", instP, mustJSON(map[string]any{"selinfoDetail": []any{saleRow(codeA, nil)}}))
	status, b := h.do("POST", fmt.Sprintf("/api/v1/quarantine/%d/resubmit", q.Rows[0].ID), fixed, nil)
	if resp := envelopeOf(t, b); status != 200 || resp.Infcode != "0" {
		t.Fatalf("resubmission: status %d, %s", status, b)
	}
	h.get("/api/v1/quarantine", &q)
	if !q.Rows[0].Resubmitted || q.Rows[1].Resubmitted {
		t.Errorf("want row 1 resubmitted and row 3 still waiting: %+v", q.Rows)
	}
}

// TestResubmitStillBad: a resubmission that is refused again is stored (its new msgid
// carries the problem into the quarantine) and the old row is done.
func TestResubmitStillBad(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3505", sale("P1-1", instP, codeA, map[string]any{"rtal_docno": nil}))
	status, b := h.do("POST", "/api/v1/quarantine/1/resubmit", sale("P1-2", instP, codeA, map[string]any{"med_list_codg": nil}), nil)
	if resp := envelopeOf(t, b); status != 200 || resp.Infcode != "-1" || !strings.Contains(resp.ErrMsg, "med_list_codg") {
		t.Fatalf("status %d, %s", status, b)
	}
	var q quarantineList
	h.get("/api/v1/quarantine", &q)
	if len(q.Rows) != 2 || !q.Rows[0].Resubmitted || q.Rows[1].MsgID != "P1-2" || q.Rows[1].Resubmitted {
		t.Errorf("quarantine: %+v", q.Rows)
	}
}

// TestQuarantinePaging walks the quarantine in pages.
func TestQuarantinePaging(t *testing.T) {
	h := newHarness(t, nil)
	for i := 1; i <= 3; i++ {
		h.submit(instP, "3505", sale(fmt.Sprint("P1-", i), instP, codeA, map[string]any{"rtal_docno": nil}))
	}
	var q quarantineList
	if h.get("/api/v1/quarantine?limit=2", &q); len(q.Rows) != 2 || q.NextAfter != q.Rows[1].ID {
		t.Fatalf("page 1: %+v", q)
	}
	after := q.NextAfter
	if h.get(fmt.Sprint("/api/v1/quarantine?limit=2&after=", after), &q); len(q.Rows) != 1 || q.Rows[0].MsgID != "P1-3" {
		t.Fatalf("page 2: %+v", q)
	}
	after = q.NextAfter
	if h.get(fmt.Sprint("/api/v1/quarantine?after=", after), &q); len(q.Rows) != 0 || q.NextAfter != after {
		t.Errorf("past the end: %+v", q)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "after=-1", "after=1.5"} {
		var e apiError
		if status := h.get("/api/v1/quarantine?"+bad, &e); status != 400 || e.Error != "invalid" || e.Message == "" {
			t.Errorf("%s: status %d, %+v", bad, status, e)
		}
	}
}

// TestCodeLookup: the forms a code may take in the path or the query, and inputs that
// are not trace codes.
func TestCodeLookup(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		path   string
		status int
		key    string // or the error code
	}{
		{"/api/v1/codes/" + codeA, 200, codeA},
		{"/api/v1/codes/(01)06904879000120(21)AB/C1", 200, "(01)06904879000120(21)AB/C1"},
		{"/api/v1/codes/" + url.PathEscape("(01)06904879000120(21)AB/C1"), 200, "(01)06904879000120(21)AB/C1"},
		{"/api/v1/codes?code=" + url.QueryEscape("https://id.example.com/01/06904879000120/21/ABC123?17=250100"), 200, "(01)06904879000120(21)ABC123"},
		{"/api/v1/codes/" + url.PathEscape("https://id.example.com/01/06904879000120/21/ABC123"), 200, "(01)06904879000120(21)ABC123"},
		{"/api/v1/codes?code=" + url.QueryEscape("]d2010690487900012021ABC123\x1d17250100"), 200, "(01)06904879000120(21)ABC123"},
		{"/api/v1/codes/6901234567892", 400, "not_trace_code"},
		{"/api/v1/codes/" + url.PathEscape("(01)06904879000126(21)X"), 400, "bad_check_digit"},
		{"/api/v1/codes", 400, "empty"},
	}
	for _, tc := range tests {
		status, b := h.do("GET", tc.path, nil, nil)
		var got struct {
			Key      string `json:"key"`
			Error    string `json:"error"`
			Message  string `json:"message"`
			Timeline []any  `json:"timeline"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%s: %v: %s", tc.path, err, b)
			continue
		}
		if status != tc.status || (status == 200 && (got.Key != tc.key || got.Timeline == nil)) || (status != 200 && (got.Error != tc.key || got.Message == "")) {
			t.Errorf("%s: status %d, %s; want %d %s", tc.path, status, b, tc.status, tc.key)
		}
	}
}

// TestConcurrentDuplicates: the same message sent several times at once is stored once
// and every sender gets the same answer.
func TestConcurrentDuplicates(t *testing.T) {
	h := newHarness(t, nil)
	body := purchase("P1-3503-0001", instP, codeA, codeB)
	const n = 4
	hds := make([]http.Header, n)
	for i := range hds {
		hds[i] = h.headers(instP)
	}
	answers := make([][]byte, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", h.ts.URL+"/fsi/api/3503", bytes.NewReader(body))
			req.Header = hds[i]
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			answers[i] = buf.Bytes()
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != 200 || !bytes.Equal(answers[i], answers[0]) {
			t.Errorf("sender %d: status %d, %s (first: %s)", i, statuses[i], answers[i], answers[0])
		}
	}
	if st := h.stats(); st.Tables["messages"] != 1 || st.Tables["events"] != 1 || st.Tables["event_codes"] != 2 {
		t.Errorf("stored: %v", st.Tables)
	}
}

// failingStore fails every commit.
type failingStore struct{ tracewatch.Store }

func (failingStore) Commit(context.Context, *tracewatch.Batch) (tracewatch.CommitResult, error) {
	return tracewatch.CommitResult{}, tracewatch.Errorf("test.Commit", tracewatch.KindInternal, "disk on fire")
}

// TestInternalFailure: a store failure is a 5xx envelope that says nothing of the cause;
// the log has it.
func TestInternalFailure(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Store = failingStore{c.Store} })
	status, resp, _ := h.submit(instP, "3505", sale("P1-1", instP, codeA, nil))
	if status != 500 || resp.Infcode != "-1" || resp.ErrMsg != internalMessage || resp.InfRefmsgid != "P1-1" {
		t.Errorf("status %d, %+v", status, resp)
	}
	if log := h.logs.String(); !strings.Contains(log, "disk on fire") || !strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("the failure is not logged:\n%s", log)
	}
}

// TestAccessLog: one structured line per request, with the institution, and no body,
// person data or secret.
func TestAccessLog(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3505", sale("P1-1", instP, codeA, nil))
	h.do("GET", "/healthz", nil, nil)
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines:\n%s", h.logs)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"method": "POST", "path": "/fsi/api/3505", "status": float64(200), "institution": instP, "msgid": "P1-1"} {
		if first[k] != v {
			t.Errorf("log %s = %v, want %v", k, first[k], v)
		}
	}
	if d, ok := first["duration_ms"].(float64); !ok || d <= 0 || first["paasid"] != h.keys[instP].paasid {
		t.Errorf("no duration or paasid: %s", lines[0])
	}
	for _, secret := range []string{certno, psnName, "36000012345678", h.keys[instP].secret, "selinfo", "李医生"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, h.logs)
		}
	}
}

func TestStatsAndHealth(t *testing.T) {
	h := newHarness(t, nil)
	h.submit(instP, "3503", purchase("P1-1", instP, codeA))
	var st tracewatch.Stats
	if status := h.get("/api/v1/stats", &st); status != 200 || st.Tables["messages"] != 1 || st.Tables["institutions"] != 2 || st.LedgerCodes != 1 {
		t.Errorf("stats: status %d, %+v", status, st)
	}
	if status, b := h.do("GET", "/healthz", nil, nil); status != 200 || string(b) != "ok\n" {
		t.Errorf("healthz: %d %q", status, b)
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	h := newHarness(t, nil)
	for name, cfg := range map[string]Config{
		"no store":      {Ingester: h.srv.in, MasterKey: h.master},
		"no ingester":   {Store: h.st, MasterKey: h.master},
		"short key":     {Store: h.st, Ingester: h.srv.in, MasterKey: h.master[:16]},
		"no master key": {Store: h.st, Ingester: h.srv.in},
	} {
		if _, err := New(cfg); tracewatch.KindOf(err) != tracewatch.KindInvalid {
			t.Errorf("%s: %v, want an invalid error", name, err)
		}
	}
	var e *tracewatch.Error
	if _, err := New(Config{}); !errors.As(err, &e) {
		t.Errorf("New(Config{}): %v", err)
	}
}

// flakyMarks fails the first MarkResubmitted.
type flakyMarks struct {
	tracewatch.Store
	mu     sync.Mutex
	failed bool
}

func (f *flakyMarks) InstitutionKeys(ctx context.Context, institution string) ([]tracewatch.InstitutionKey, error) {
	return f.Store.(KeyLister).InstitutionKeys(ctx, institution)
}

func (f *flakyMarks) MarkResubmitted(ctx context.Context, ids []int64) error {
	f.mu.Lock()
	first := !f.failed
	f.failed = true
	f.mu.Unlock()
	if first {
		return tracewatch.Errorf("test.MarkResubmitted", tracewatch.KindInternal, "lost the connection")
	}
	return f.Store.MarkResubmitted(ctx, ids)
}

// TestResubmitRetry: when marking the quarantine fails after the resubmitted message
// was stored, the operator's retry of the same request finishes the job without storing
// the message twice.
func TestResubmitRetry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Store = &flakyMarks{Store: c.Store} })
	h.submit(instP, "3505", sale("P1-1", instP, codeA, map[string]any{"rtal_docno": nil}))
	fixed := sale("P1-2", instP, codeA, nil)
	status, b := h.do("POST", "/api/v1/quarantine/1/resubmit", fixed, nil)
	if resp := envelopeOf(t, b); status != 500 || resp.ErrMsg != internalMessage {
		t.Fatalf("first try: status %d, %s", status, b)
	}
	if st := h.stats(); st.Quarantined != 1 || st.Tables["sale_lines"] != 1 {
		t.Fatalf("after the failed marking: %+v", st)
	}
	status, b = h.do("POST", "/api/v1/quarantine/1/resubmit", fixed, nil)
	if resp := envelopeOf(t, b); status != 200 || resp.Infcode != "0" || resp.InfRefmsgid != "P1-2" {
		t.Fatalf("retry: status %d, %s", status, b)
	}
	if st := h.stats(); st.Quarantined != 0 || st.Tables["sale_lines"] != 1 || st.Tables["messages"] != 2 {
		t.Errorf("after the retry: %+v", st)
	}
}

// TestClues: listing with filters and paging, one clue with its evidence, bad queries.
func TestClues(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	at := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)
	var clues []tracewatch.Clue
	for i, sev := range []tracewatch.Severity{tracewatch.SeverityHighlySuspicious, tracewatch.SeverityNotice, tracewatch.SeveritySuspicious} {
		clues = append(clues, tracewatch.Clue{
			Fingerprint: fmt.Sprint("fp", i), Detector: "trace.duplicate@1", Rule: "other_city", Severity: sev,
			Subject: tracewatch.SubjectCode, SubjectID: fmt.Sprint("K", i), Region: "360102", Institution: instP,
			AmountFen: 1234, Codes: []string{fmt.Sprint("K", i)}, Explanation: "追溯码 …",
			Evidence: []tracewatch.Evidence{{Time: at, What: "sale", Institution: instP, Ref: "m#1", Note: "销售"}},
		})
	}
	if _, err := h.st.PutClues(ctx, clues, at); err != nil {
		t.Fatal(err)
	}
	type list struct {
		Clues     []map[string]any `json:"clues"`
		NextAfter int64            `json:"next_after"`
	}
	var l list
	if h.get("/api/v1/clues?severity=suspicious", &l); len(l.Clues) != 2 || l.Clues[0]["severity"] != "highly_suspicious" || l.Clues[0]["severity_zh"] != "高度可疑" {
		t.Fatalf("severity filter: %+v", l)
	}
	if h.get("/api/v1/clues?limit=1", &l); len(l.Clues) != 1 || l.NextAfter != 1 {
		t.Fatalf("page 1: %+v", l)
	}
	if h.get("/api/v1/clues?limit=5&after=1&region=360100&code=K2", &l); len(l.Clues) != 1 || l.Clues[0]["subject_id"] != "K2" {
		t.Fatalf("page 2 with filters: %+v", l)
	}
	if h.get("/api/v1/clues?region=430000", &l); len(l.Clues) != 0 || l.Clues == nil {
		t.Fatalf("other region: %+v", l)
	}
	var one map[string]any
	if status := h.get("/api/v1/clues/1", &one); status != 200 || one["amount_yuan"] != "12.34" || len(one["evidence"].([]any)) != 1 {
		t.Fatalf("clue 1: %d %+v", status, one)
	}
	var e apiError
	if status := h.get("/api/v1/clues/99", &e); status != 404 {
		t.Errorf("missing clue: %d %+v", status, e)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "after=-1", "severity=bad", "region=36"} {
		if status := h.get("/api/v1/clues?"+bad, &e); status != 400 || e.Error != "invalid" {
			t.Errorf("%s: status %d, %+v", bad, status, e)
		}
	}
}
