package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
)

// bulk is a JSONL body: a purchase of codeA and codeB at P, a sale of codeA at P, a sale
// of codeB at Q, and a line that is no envelope.
func bulk() []byte {
	var b bytes.Buffer
	for _, m := range [][]byte{
		purchase("B-3503-1", instP, codeA, codeB),
		sale("B-3505-1", instP, codeA, nil),
		sale("B-3505-2", instQ, codeB, map[string]any{"setl_id": "SETLQ1", "rtal_docno": "RQ1"}),
		[]byte("this is not an envelope"),
	} {
		b.Write(m)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// message is the message of an apiError answer ("" when b is none).
func message(b []byte) string {
	var e apiError
	json.Unmarshal(b, &e)
	return e.Message
}

// TestIngestEndpoint: a bulk body is ingested as tracewatch ingest ingests a file, gzip
// or not; a second time changes nothing; the sources name the file.
func TestIngestEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	var s ingest.FileStats
	status, b := h.do("POST", "/api/v1/ingest?name=day1.jsonl", bulk(), nil)
	if status != http.StatusOK || json.Unmarshal(b, &s) != nil {
		t.Fatalf("ingest: %d %s", status, b)
	}
	if s.Lines != 4 || s.Messages != 3 || s.Accepted != 3 || s.Replayed != 0 || s.Unreadable != 1 || s.Events != 3 || s.ByInfno["3505"].Accepted != 2 {
		t.Errorf("first ingest: %+v", s)
	}
	before := h.stats()
	if before.Tables["messages"] != 4 || before.Tables["sale_lines"] != 2 { // the unreadable line is a message of its own
		t.Errorf("stored: %v", before.Tables)
	}
	var q struct {
		Rows []quarantineJSON `json:"rows"`
	}
	if h.get("/api/v1/quarantine", &q); len(q.Rows) != 1 || q.Rows[0].Source != "file:day1.jsonl:4" {
		t.Errorf("quarantine: %+v", q.Rows)
	}
	// Again, gzip by Content-Encoding, then by its magic bytes alone: nothing new.
	for _, hd := range []http.Header{{"Content-Encoding": {"gzip"}}, {}} {
		hd.Set("Authorization", "Bearer "+h.admin)
		status, b = h.do("POST", "/api/v1/ingest?name=day1.jsonl.gz", gzipped(t, bulk()), hd)
		if status != http.StatusOK || json.Unmarshal(b, &s) != nil || s.Lines != 4 || s.Accepted != 0 || s.Replayed != 3 || s.Events != 0 {
			t.Errorf("again (%v): %d %s", hd, status, b)
		}
	}
	h.unchanged(before, "ingesting the same file again")
	var v view
	if h.get("/api/v1/codes/"+codeA, &v); v.kinds() != "purchase,sale" || v.Timeline[1].MsgID != "B-3505-1" {
		t.Errorf("trace of %s: %s", codeA, v.kinds())
	}
	// The metrics count the bulk messages too.
	_, m := h.do("GET", "/metrics", nil, nil)
	if !strings.Contains(string(m), `tracewatch_ingest_messages_total{infno="3505",result="accepted"} 2`) ||
		!strings.Contains(string(m), `tracewatch_ingest_messages_total{infno="3505",result="replayed"} 4`) {
		t.Errorf("metrics:\n%s", m)
	}

	for _, tc := range []struct {
		path string
		body []byte
		hd   http.Header
		want string
	}{
		{"/api/v1/ingest?batch_lines=0", bulk(), nil, "batch_lines: want a number of lines from 1 to 1000000"},
		{"/api/v1/ingest?name=a%0Ab", bulk(), nil, "name: holds control characters"},
		{"/api/v1/ingest?bogus=1", bulk(), nil, "bogus: unknown parameter"},
		{"/api/v1/ingest", bulk(), http.Header{"Content-Encoding": {"br"}}, "Content-Encoding: want gzip or none"},
		{"/api/v1/ingest", bulk(), http.Header{"Content-Encoding": {"gzip"}}, "the gzip body does not open: not valid gzip"},
		{"/api/v1/ingest", gzipped(t, bulk())[:40], nil, "cut off"},
	} {
		if tc.hd != nil {
			tc.hd.Set("Authorization", "Bearer "+h.admin)
		}
		status, b := h.do("POST", tc.path, tc.body, tc.hd)
		var e apiError
		if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error != "invalid" || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s %v: %d %s, want 400 %q", tc.path, tc.hd, status, b, tc.want)
		}
	}
	h.unchanged(before, "refused bodies")
}

// TestIngestStreamWhileServing: with Accept: application/x-ndjson, each committed batch is
// reported while the body is still coming, and is durable when it is; meanwhile the
// server answers the NHSA endpoint, the API and /healthz.
func TestIngestStreamWhileServing(t *testing.T) {
	h := checkHarness(t, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/ingest?name=stream.jsonl&batch_lines=1", pr)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Accept", "application/x-ndjson")
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := h.ts.Client().Do(req)
		answered <- answer{resp, err}
	}()
	lines := bytes.SplitAfter(bulk(), []byte("\n"))
	if _, err := pw.Write(append(lines[0], lines[1]...)); err != nil { // the purchase and P's sale of codeA
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("no answer while the body is still open")
	}
	if a.err != nil || a.resp.StatusCode != 200 || a.resp.Header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		t.Fatalf("stream: %v %+v", a.err, a.resp)
	}
	defer a.resp.Body.Close()
	sc := bufio.NewScanner(a.resp.Body)
	next := func() map[string]json.RawMessage {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("the stream ended: %v", sc.Err())
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || len(m) != 1 {
			t.Fatalf("not one JSON object of one key: %q", sc.Bytes())
		}
		return m
	}
	// Batches of one line: two progress lines for the two lines sent.
	var p ingest.FileStats
	for want := 1; want <= 2; want++ {
		m := next()
		if json.Unmarshal(m["progress"], &p) != nil || p.Lines != want {
			t.Fatalf("progress %d: %s", want, m)
		}
	}
	// Reported, hence durable and in the check index: the sale of codeA is seen.
	if _, r := h.check(instQ, checkBody(instQ, "RQ9", drugX, codeA)); len(r.Result) == 0 || r.Result[0].RuleID != "trace.duplicate@1" {
		t.Errorf("check of a box the bulk ingest sold: %+v", r)
	}
	// The body is still open: the rest of the server answers.
	if status, _, raw := h.submit(instP, "3505", sale("P-live-1", instP, codeB, map[string]any{"setl_id": "SETLLIVE", "rtal_docno": "RLIVE"})); status != 200 || !strings.Contains(string(raw), `"infcode":"0"`) {
		t.Errorf("NHSA during the ingest: %d %s", status, raw)
	}
	if status, b := h.do("GET", "/healthz", nil, nil); status != 200 {
		t.Errorf("healthz during the ingest: %d %s", status, b)
	}
	var v view
	if status := h.get("/api/v1/codes/"+codeB, &v); status != 200 || v.kinds() != "purchase,sale" {
		t.Errorf("trace during the ingest: %d %s", status, v.kinds())
	}
	// The rest of the body: Q's sale of codeB (sold at P meanwhile) and the bad line.
	pw.Write(append(lines[2], lines[3]...))
	pw.Close()
	for range 2 {
		if m := next(); m["progress"] == nil {
			t.Fatalf("want progress: %s", m)
		}
	}
	m := next()
	var s ingest.FileStats
	if json.Unmarshal(m["result"], &s) != nil || s.Lines != 4 || s.Accepted != 3 || s.Unreadable != 1 {
		t.Errorf("result: %s", m)
	}
	if sc.Scan() {
		t.Errorf("a line after the result: %q", sc.Bytes())
	}
}

// TestIngestStreamError: an error after the stream began is its last line; the batches
// reported before it are stored.
func TestIngestStreamError(t *testing.T) {
	h := newHarness(t, nil)
	z := gzipped(t, bulk())
	hd := bearer(h.admin)
	hd.Set("Accept", "application/x-ndjson")
	hd.Set("Content-Encoding", "gzip")
	status, b := h.do("POST", "/api/v1/ingest?batch_lines=1", z[:len(z)-4], hd) // the gzip trailer cut short
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if status != 200 || len(lines) != 5 || !strings.HasPrefix(lines[3], `{"progress":{"lines":4,`) ||
		lines[4] != `{"error":{"error":"invalid","message":"the body is cut off"}}` {
		t.Fatalf("cut gzip: %d\n%s", status, b)
	}
	if st := h.stats(); st.Tables["messages"] != 4 {
		t.Errorf("the reported batches are not all stored: %v", st.Tables)
	}

	// A body whose line is too long: the batches before it are kept, the error ends the stream.
	lim := &lineLimiter{r: strings.NewReader("ab\ncdef\n"), max: 3}
	got, err := io.ReadAll(lim)
	if tracewatch.KindOf(err) != tracewatch.KindInvalid || !strings.Contains(err.Error(), "line 2 is longer than 3 bytes") || string(got) != "" {
		t.Errorf("line limit: %q %v", got, err)
	}
	lim = &lineLimiter{r: strings.NewReader("abc\ncde\n"), max: 3}
	if got, err := io.ReadAll(lim); err != nil || string(got) != "abc\ncde\n" {
		t.Errorf("lines at the limit: %q %v", got, err)
	}
}

// TestServiceAuth: the three endpoints want an admin token, before any body is read.
func TestServiceAuth(t *testing.T) {
	h := newHarness(t, nil)
	before := h.stats()
	for _, path := range []string{"/api/v1/ingest", "/api/v1/reference/institutions?format=csv", "/api/v1/screen"} {
		status, b := h.do("POST", path, bulk(), http.Header{})
		var e apiError
		if status != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e.Error != "unauthorized" {
			t.Errorf("%s without a token: %d %s", path, status, b)
		}
		status, b = h.do("POST", path, bulk(), bearer(h.viewer))
		if status != http.StatusForbidden || !strings.Contains(string(b), "this needs the admin role") {
			t.Errorf("%s with a viewer token: %d %s", path, status, b)
		}
		if status, _ := h.do("GET", path, nil, nil); status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, status)
		}
	}
	h.unchanged(before, "refused service requests")
}

const institutionsCSV = "fixmedins_code,fixmedins_name,fixmedins_type,admdvs,agreement_status,agreement_from\n" +
	instQ + ",二号大药房,pharmacy,360102,suspended,2025-02-01\n" +
	"P36010200003,三号大药房,药店,360102,,\n"

// TestReferenceEndpoint: a reference file is loaded as tracewatch load loads it, all or
// nothing; the check index is reloaded with it.
func TestReferenceEndpoint(t *testing.T) {
	h := checkHarness(t, nil)
	// Q's agreement is normal: its check is clean.
	if _, r := h.check(instQ, checkBody(instQ, "R1", drugX)); len(r.Result) != 0 {
		t.Fatalf("before the load: %+v", r.Result)
	}
	post := func(path, contentType string, body []byte) (int, []byte) {
		hd := bearer(h.admin)
		if contentType != "" {
			hd.Set("Content-Type", contentType)
		}
		return h.do("POST", path, body, hd)
	}
	status, b := post("/api/v1/reference/institutions", "text/csv", []byte(institutionsCSV))
	if status != 200 || string(b) != `{"kind":"institutions","rows":2}`+"\n" {
		t.Fatalf("load: %d %s", status, b)
	}
	if in, err := h.st.Institution(context.Background(), "P36010200003"); err != nil || in.Name != "三号大药房" || in.Type != tracewatch.InstitutionPharmacy {
		t.Fatalf("loaded institution: %+v %v", in, err)
	}
	// The index reloads in the background: Q's agreement is suspended from 2025-02-01.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, r := h.check(instQ, checkBody(instQ, "R1", drugX))
		if len(r.Result) == 1 && r.Result[0].RuleID == "claims.suspended@1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the check does not see the loaded agreement: %+v", r.Result)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// JSONL by Content-Type; a bad row refuses the whole file, naming the rows.
	before := h.stats()
	bad := `{"fixmedins_code":"P36010200004","fixmedins_name":"四号","fixmedins_type":"pharmacy","admdvs":"360102"}` + "\n" +
		`{"fixmedins_code":"P36010200005","fixmedins_name":"五号","fixmedins_type":"drugstore","admdvs":"36010"}` + "\n"
	status, b = post("/api/v1/reference/institutions", "application/x-ndjson", []byte(bad))
	var re rowErrorsAnswer
	if status != 400 || json.Unmarshal(b, &re) != nil || re.Error != "invalid" || re.Kind != "institutions" || len(re.RowErrors) != 2 ||
		re.RowErrors[0].Line != 2 || re.RowErrors[0].Column != "fixmedins_type" || !strings.HasPrefix(re.Message, "nothing loaded: institutions line 2, column fixmedins_type") {
		t.Errorf("bad rows: %d %s", status, b)
	}
	h.unchanged(before, "a file with bad rows")

	for _, tc := range []struct {
		path, contentType string
		status            int
		want              string
	}{
		{"/api/v1/reference/institutions", "application/json", 400, "Content-Type: say the format of the body"},
		{"/api/v1/reference/institutions?format=xml", "text/csv", 400, "format: want csv or jsonl"},
		{"/api/v1/reference/hospitals?format=csv", "", 404, `kind: unknown kind "hospitals": want one of regions, institutions`},
	} {
		status, b := post(tc.path, tc.contentType, []byte(institutionsCSV))
		if status != tc.status || !strings.Contains(message(b), tc.want) {
			t.Errorf("%s (%s): %d %s, want %d %q", tc.path, tc.contentType, status, b, tc.status, tc.want)
		}
	}
	h.unchanged(before, "refused reference requests")
}

// personsStore is a store that keeps the persons it is given.
type personsStore struct {
	tracewatch.Store
	persons []tracewatch.Person
}

func (s *personsStore) UpsertPersons(ctx context.Context, rows []tracewatch.Person) error {
	s.persons = append(s.persons, rows...)
	return s.Store.UpsertPersons(ctx, rows)
}

// TestReferencePersons: ID numbers are hashed with the data directory's key, as load
// hashes them, and never stored.
func TestReferencePersons(t *testing.T) {
	hashKey := bytes.Repeat([]byte{7}, 32)
	var ps *personsStore
	h := newHarness(t, func(cfg *Config) {
		ps = &personsStore{Store: cfg.Store}
		cfg.Store, cfg.HashKey = ps, hashKey
	})
	persons := "psn_no,certno,psn_name,gend,brdy,admdvs\n36000012345678," + certno + "," + psnName + ",2,1949-12-31,360102\n"
	want, err := refload.Read(refload.KindPersons, refload.CSV, strings.NewReader(persons), refload.Options{HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	hd := bearer(h.admin)
	status, b := h.do("POST", "/api/v1/reference/persons?format=csv", gzipped(t, []byte(persons)), hd)
	if status != 200 || string(b) != `{"kind":"persons","rows":1}`+"\n" {
		t.Fatalf("persons: %d %s", status, b)
	}
	if len(ps.persons) != 1 || ps.persons[0].CertnoHash == "" || ps.persons[0].CertnoHash != want.Persons[0].CertnoHash || strings.Contains(fmt.Sprint(ps.persons), certno) {
		t.Errorf("stored %+v, want the hash %q", ps.persons, want.Persons[0].CertnoHash)
	}
	// Without a key, a certno column is refused, as load refuses it.
	h2 := newHarness(t, nil)
	if status, b := h2.do("POST", "/api/v1/reference/persons?format=csv", []byte(persons), nil); status != 400 || !strings.Contains(string(b), "no hash key was given") {
		t.Errorf("no key: %d %s", status, b)
	}
}

// TestReferenceCodeMapReloadsIngester: a code mapping loaded through the server
// identifies the codes of the next message.
func TestReferenceCodeMapReloadsIngester(t *testing.T) {
	h := newHarness(t, nil)
	hd := bearer(h.admin)
	hd.Set("Content-Type", "text/csv")
	if status, b := h.do("POST", "/api/v1/reference/codemap", []byte("product_id,med_list_codg,pack_level\n"+codeA[:7]+","+drugX+",1\n"), hd); status != 200 {
		t.Fatalf("codemap: %d %s", status, b)
	}
	if status, _, raw := h.submit(instP, "3503", purchase("P-map-1", instP, codeA)); status != 200 || !strings.Contains(string(raw), `"infcode":"0"`) {
		t.Fatalf("purchase: %d %s", status, raw)
	}
	var v struct {
		Drug struct {
			Code string `json:"code"`
		} `json:"drug"`
		ProductID string `json:"product_id"`
	}
	if h.get("/api/v1/codes/"+codeA, &v); v.ProductID != codeA[:7] {
		t.Errorf("trace: %+v", v)
	}
}

// screenStub is a ScreenFunc standing for serve's (tested in cmd/tracewatch): it records
// the request, writes two progress lines and answers err or a summary.
type screenStub struct {
	mu   sync.Mutex
	reqs []ScreenRequest
	err  error
	wait time.Duration // how long it works
}

func (s *screenStub) screen(ctx context.Context, req ScreenRequest, progress io.Writer) (any, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	fmt.Fprint(progress, "[1/2] T1 重复销售 …")
	select {
	case <-time.After(s.wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fmt.Fprint(progress, " 1 clues (1 new) in 0.0s\n[2/2] T2 串换 … 0 clues (0 new) in 0.0s\n")
	if s.err != nil {
		return nil, s.err
	}
	return map[string]any{"clues": 1, "new": 1, "failed": 0}, nil
}

// TestScreenEndpoint: the body is read strictly and handed over; the answer is the
// summary, or a stream of progress lines and the result; kinds map to statuses.
func TestScreenEndpoint(t *testing.T) {
	stub := &screenStub{}
	h := newHarness(t, func(cfg *Config) { cfg.Screen = stub.screen })
	status, b := h.do("POST", "/api/v1/screen", []byte(`{"from":"2025-03-01","to":"2025-03-01","at":"2025-03-02T02:00:00+08:00","detectors":["T1"],"params":["trace.duplicate.x=1"]}`), nil)
	if status != 200 || string(b) != `{"clues":1,"failed":0,"new":1}`+"\n" {
		t.Fatalf("screen: %d %s", status, b)
	}
	want := ScreenRequest{From: "2025-03-01", To: "2025-03-01", At: "2025-03-02T02:00:00+08:00", Detectors: []string{"T1"}, Params: []string{"trace.duplicate.x=1"}, By: "admin"}
	if got := stub.reqs[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("request %+v, want %+v", got, want)
	}
	// No body: the defaults.
	if status, _ := h.do("POST", "/api/v1/screen", nil, nil); status != 200 || fmt.Sprint(stub.reqs[1]) != fmt.Sprint(ScreenRequest{By: "admin"}) {
		t.Errorf("no body: %d %+v", status, stub.reqs[1])
	}
	hd := bearer(h.admin)
	hd.Set("Accept", "application/x-ndjson")
	status, b = h.do("POST", "/api/v1/screen", []byte(`{}`), hd)
	wantLines := `{"progress":"[1/2] T1 重复销售 … 1 clues (1 new) in 0.0s"}` + "\n" + `{"progress":"[2/2] T2 串换 … 0 clues (0 new) in 0.0s"}` + "\n" +
		`{"result":{"clues":1,"failed":0,"new":1}}` + "\n"
	if status != 200 || string(b) != wantLines {
		t.Errorf("stream: %d\n%s\nwant\n%s", status, b, wantLines)
	}
	for _, tc := range []struct {
		body, want string
	}{
		{`{"from":"2025-03-01","window":"x"}`, `body: unknown field "window": want from, to, region, at, detectors, params`},
		{`{"from":20250301}`, "body.from: want a string"},
		{`{"from":"2025-03-01"} {}`, "one JSON object, nothing after it"},
		{`[`, "body: malformed JSON"},
	} {
		status, b := h.do("POST", "/api/v1/screen", []byte(tc.body), nil)
		if status != 400 || !strings.Contains(message(b), tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.body, status, b, tc.want)
		}
	}
	if len(stub.reqs) != 3 {
		t.Errorf("refused bodies reached the screening: %d calls", len(stub.reqs))
	}
	stub.err = tracewatch.Errorf("serve.screen", tracewatch.KindConflict, "a screening is already running (asked by admin, since …)")
	if status, b := h.do("POST", "/api/v1/screen", nil, nil); status != 409 || !strings.Contains(string(b), `"message":"a screening is already running`) {
		t.Errorf("conflict: %d %s", status, b)
	}
	// After the stream began, an error is its last line.
	stub.err = errors.New("the store is closed")
	status, b = h.do("POST", "/api/v1/screen", nil, hd)
	if status != 200 || !strings.HasSuffix(string(b), `{"error":{"error":"internal","message":"`+internalMessage+`"}}`+"\n") {
		t.Errorf("error in a stream: %d %s", status, b)
	}
	if !strings.Contains(h.logs.String(), "the store is closed") {
		t.Errorf("the internal error is not logged:\n%s", h.logs.String())
	}

	// A server without a screening.
	h2 := newHarness(t, nil)
	if status, b := h2.do("POST", "/api/v1/screen", nil, nil); status != 404 || !strings.Contains(string(b), "this server does not screen") {
		t.Errorf("no Screen: %d %s", status, b)
	}
}

// TestLongRequests: behind serve's whole-request timeouts (here 1 s), a bulk body that
// takes longer and a screening that works longer are answered, not cut off.
func TestLongRequests(t *testing.T) {
	stub := &screenStub{wait: 1500 * time.Millisecond}
	h := newHarness(t, func(cfg *Config) { cfg.Screen = stub.screen })
	ts := httptest.NewUnstartedServer(h.srv.Handler())
	ts.Config.ReadTimeout = time.Second
	ts.Config.WriteTimeout = time.Second
	ts.Start()
	t.Cleanup(ts.Close)

	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/screen", nil)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("a screening longer than the timeouts: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"clues":1`) {
		t.Errorf("screen: %d %s", resp.StatusCode, b)
	}

	// A body in three parts, 600 ms apart.
	pr, pw := io.Pipe()
	go func() {
		for _, part := range bytes.SplitAfter(bulk(), []byte("\n"))[:3] {
			pw.Write(part)
			time.Sleep(600 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ = http.NewRequest("POST", ts.URL+"/api/v1/ingest", pr)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err = ts.Client().Do(req)
	if err != nil {
		t.Fatalf("a body slower than the timeouts: %v", err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var s ingest.FileStats
	if resp.StatusCode != 200 || json.Unmarshal(b, &s) != nil || s.Accepted != 3 {
		t.Errorf("slow ingest: %d %s", resp.StatusCode, b)
	}
}
