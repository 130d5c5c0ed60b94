package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/store/duckdb"
	"tracewatch/internal/token"
)

// The fixtures: two pharmacies of Nanchang and two boxes of one drug.
const (
	instP = "P36010200001"
	instQ = "P36010200002"
	codeA = "83857930000879766660"
	codeB = "83857930000879766677"
	drugX = "XA11DAW036A001010104127"

	certno  = "11010519491231002X"
	psnName = "赵六"
)

var cst = time.FixedZone("CST", 8*3600)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type cred struct{ paasid, secret string }

// harness is a server on a real DuckDB store in a temporary directory, with a key for
// each of the two pharmacies.
type harness struct {
	t      testing.TB
	st     tracewatch.Store
	srv    *Server
	ts     *httptest.Server
	clock  *clock
	master []byte
	keys   map[string]cred
	logs   *syncBuffer
	nonces atomic.Int64 // signed requests so far; submits run concurrently
	// Operator tokens: admin is sent on /api/v1 requests made with no headers.
	admin, viewer string
	tokenDir      string
}

// newHarness starts a server; configure may change the config (and wrap the store).
func newHarness(t testing.TB, configure func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, t.TempDir(), duckdb.Options{Threads: 1, Journal: true}) // as serve opens it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: instP, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: instQ, Name: "二号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
	})
	if err != nil {
		t.Fatal(err)
	}
	master, err := LoadOrCreateMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, clock: &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, cst)}, master: master,
		keys: map[string]cred{}, logs: &syncBuffer{}}
	for _, inst := range []string{instP, instQ} {
		id, secret, err := CreateKey(ctx, st, master, inst, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		h.keys[inst] = cred{id, secret}
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	h.tokenDir = t.TempDir()
	if h.admin, err = token.Create(h.tokenDir, "admin", token.RoleAdmin, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if h.viewer, err = token.Create(h.tokenDir, "viewer", token.RoleViewer, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Facts: st, Ingester: in, MasterKey: master, Now: h.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil)), Tokens: token.Open(h.tokenDir, nil)}
	if configure != nil {
		configure(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.ts.Close)
	return h
}

// headers signs a request as inst, at the harness clock, with a fresh nonce.
func (h *harness) headers(inst string) http.Header {
	n := h.nonces.Add(1)
	c := h.keys[inst]
	ts := strconv.FormatInt(h.clock.Now().Unix(), 10)
	nonce := "n" + strconv.FormatInt(n, 10) + "-" + strconv.FormatInt(h.clock.Now().UnixNano(), 36)
	hd := http.Header{}
	hd.Set(HeaderPaasID, c.paasid)
	hd.Set(HeaderTimestamp, ts)
	hd.Set(HeaderNonce, nonce)
	hd.Set(HeaderSignature, Sign(ts, c.secret, nonce))
	return hd
}

// do sends a request and returns the status and body. A request to /api/v1 without
// headers (nil) carries the admin token; pass an empty header for none.
func (h *harness) do(method, path string, body []byte, hd http.Header) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if hd == nil && strings.HasPrefix(path, "/api/v1/") {
		hd = bearer(h.admin)
	}
	for k, v := range hd {
		req.Header[k] = v
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// bearer is the header of an operator token.
func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// submit posts a message signed as inst to /fsi/api/{infno}.
func (h *harness) submit(inst, infno string, body []byte) (int, nhsa.Response, []byte) {
	h.t.Helper()
	status, b := h.do("POST", "/fsi/api/"+infno, body, h.headers(inst))
	return status, envelopeOf(h.t, b), b
}

// get fetches a JSON document.
func (h *harness) get(path string, v any) int {
	h.t.Helper()
	status, b := h.do("GET", path, nil, nil)
	if err := json.Unmarshal(b, v); err != nil {
		h.t.Fatalf("GET %s: status %d, not JSON: %v\n%s", path, status, err, b)
	}
	return status
}

func (h *harness) stats() tracewatch.Stats {
	h.t.Helper()
	s, err := h.st.Stats(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// unchanged fails the test when the store's counts moved since before.
func (h *harness) unchanged(before tracewatch.Stats, what string) {
	h.t.Helper()
	if after := h.stats(); !reflect.DeepEqual(before, after) {
		h.t.Errorf("%s changed the store:\nbefore %v\nafter  %v", what, before, after)
	}
}

func envelopeOf(t testing.TB, b []byte) nhsa.Response {
	t.Helper()
	var r nhsa.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("not an NHSA envelope: %v\n%s", err, b)
	}
	return r
}

// envelope builds a national request envelope around input.
func envelope(infno, msgid, inst, input string) []byte {
	return []byte(`{"infno":"` + infno + `","msgid":"` + msgid + `","mdtrtarea_admvs":"360102","insuplc_admdvs":"360102",` +
		`"recer_sys_code":"FSI_LOCAL","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0",` +
		`"opter_type":"1","opter":"OP001","opter_name":"收银员","inf_time":"2025-03-01 09:30:00",` +
		`"fixmedins_code":"` + inst + `","fixmedins_name":"一号大药房","sign_no":"","enc_type":"","input":` + input + `}`)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func traceInfo(codes ...string) []map[string]string {
	out := make([]map[string]string, len(codes))
	for i, c := range codes {
		out[i] = map[string]string{"drug_trac_codg": c}
	}
	return out
}

// purchaseRow is a realistic 3503 row (采购) of n boxes with their codes.
func purchaseRow(codes ...string) map[string]any {
	return map[string]any{"med_list_codg": drugX, "fixmedins_hilist_id": "YP0001", "fixmedins_hilist_name": "维生素B1片",
		"fixmedins_bchno": "B20250228001", "spler_name": "江西医药有限公司", "manu_lotnum": "L2401", "prodentp_name": "某某制药有限公司",
		"aprvno": "国药准字H36020001", "manu_date": "2024-01-05", "expy_end": "2026-01-04", "purc_retn_cnt": len(codes),
		"finl_trns_pric": "8.50", "rx_flag": "0", "purc_retn_stoin_time": "2025-02-28 15:00:00", "purc_retn_opter_name": "孙八",
		"drugtracinfo": traceInfo(codes...)}
}

// saleRow is a realistic 3505 row (销售) of one whole box settled by the fund; change
// replaces fields (nil drops one).
func saleRow(code string, change map[string]any) map[string]any {
	r := map[string]any{"med_list_codg": drugX, "fixmedins_hilist_id": "YP0001", "fixmedins_hilist_name": "维生素B1片",
		"fixmedins_bchno": "B20250301001", "prsc_dr_name": "李医生", "phar_name": "王药师", "phar_prac_cert_no": "YS123",
		"hi_feesetl_type": "1", "setl_id": "SETL20250301001", "mdtrt_sn": "MD20250301001", "psn_no": "36000012345678",
		"psn_cert_type": "01", "certno": certno, "psn_name": psnName, "manu_lotnum": "L2401", "manu_date": "2024-01-05",
		"expy_end": "2026-01-04", "rx_flag": "0", "trdn_flag": "0", "finl_trns_pric": "12.30", "rtal_docno": "R20250301001",
		"sel_retn_cnt": 1, "sel_retn_time": "2025-03-01 09:29:58", "sel_retn_opter_name": "钱七", "mdtrt_setl_type": "1",
		"drugtracinfo": traceInfo(code)}
	for k, v := range change {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	return r
}

func purchase(msgid, inst string, codes ...string) []byte {
	return envelope("3503", msgid, inst, mustJSON(map[string]any{"purcinfo": purchaseRow(codes...)}))
}

func sale(msgid, inst, code string, change map[string]any) []byte {
	return envelope("3505", msgid, inst, mustJSON(map[string]any{"selinfo": saleRow(code, change)}))
}

// view is the part of lookup.View the tests read.
type view struct {
	Key         string  `json:"key"`
	Kind        string  `json:"kind"`
	SoldNet     float64 `json:"sold_net"`
	Sales       int     `json:"sales"`
	FirstSeller string  `json:"first_seller"`
	Timeline    []struct {
		Kind        string `json:"kind"`
		Infno       string `json:"infno"`
		MsgID       string `json:"msgid"`
		Institution string `json:"institution"`
		Certno      string `json:"certno_masked"`
		Person      string `json:"person"`
	} `json:"timeline"`
}

func (v view) kinds() string {
	var ks []string
	for _, e := range v.Timeline {
		ks = append(ks, e.Kind)
	}
	return strings.Join(ks, ",")
}
