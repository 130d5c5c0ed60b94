package main

// The hostile-client suite (issue 10): the real binary, driven as an attacker and as a
// careless client would, case by case. After each class of abuse the province must still
// work: /readyz 200, a valid signed 3505 stored, and at the end `screen` completes with
// clues. Each case names the case number it replays.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

const (
	instA = "P36010200001" // 一号大药房
	instB = "P36010200002" // 二号大药房, another city
	instC = "P36010200003" // its only key is revoked
	drugX = "XA11DAW036A001010104127"
	// Person data that must never reach a viewer unmasked.
	hostileCertno = "11010519491231002X"
	hostileName   = "赵六六"
	hostilePsnNo  = "36000012345678"
)

type hostileKey struct{ paasid, secret string }

// hostileServer is one running `tracewatch serve` and what the suite knows of it.
type hostileServer struct {
	t        *testing.T
	bin, dir string
	base     string // main listener
	svc      string // --metrics-listen
	cmd      *exec.Cmd
	logs     *lockedBuffer
	exited   chan error
	keys     map[string]hostileKey
	admin    string
	viewer   string
	seq      atomic.Int64
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	l.b.WriteString(s)
	l.mu.Unlock()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hostileStore prepares a data directory: three institutions and a drug, keys for A and
// B, a key for C that is revoked, and an operator token of each role.
func hostileStore(t *testing.T, bin, dir string) (map[string]hostileKey, string, string) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: instA, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: instB, Name: "二号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360402"},
		{Code: instC, Name: "三号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
	})
	if err == nil {
		err = st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drugX, Name: "维生素B1片", PackContent: 100, Reimbursable: true}})
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]hostileKey{}
	for _, inst := range []string{instA, instB, instC} {
		out, err := exec.Command(bin, "institution", "key", "create", "--json", "--data-dir", dir, inst).Output()
		if err != nil {
			t.Fatalf("key create %s: %v", inst, err)
		}
		var k struct{ PaasID, Secret string }
		if err := json.Unmarshal(out, &k); err != nil {
			t.Fatal(err)
		}
		keys[inst] = hostileKey{k.PaasID, k.Secret}
	}
	token := func(name, role string) string {
		out, err := exec.Command(bin, "token", "create", "--name", name, "--role", role, "--json", "--data-dir", dir).Output()
		if err != nil {
			t.Fatalf("token create: %v", err)
		}
		var v struct{ Token string }
		if err := json.Unmarshal(out, &v); err != nil || v.Token == "" {
			t.Fatalf("token create --json printed %q", out)
		}
		return v.Token
	}
	return keys, token("ops", "admin"), token("desk", "viewer")
}

// startHostile starts serve on dir with both listeners.
func startHostile(t *testing.T, bin, dir string, keys map[string]hostileKey, admin, viewer string, extra ...string) *hostileServer {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostileServer{t: t, bin: bin, dir: dir, cmd: cmd, logs: &lockedBuffer{}, exited: make(chan error, 1), keys: keys, admin: admin, viewer: viewer}
	t.Cleanup(func() { cmd.Process.Kill(); <-h.exited })
	main, svc := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				main <- a
			} else if i := strings.Index(line, "service endpoints (/healthz, /readyz, /metrics) on "); i >= 0 {
				svc <- strings.TrimSpace(line[i+len("service endpoints (/healthz, /readyz, /metrics) on "):])
			}
			h.logs.WriteString(line + "\n")
		}
		h.exited <- cmd.Wait()
	}()
	for h.base == "" || h.svc == "" {
		select {
		case a := <-main:
			h.base = "http://" + a
		case a := <-svc:
			h.svc = "http://" + a
		case <-time.After(90 * time.Second):
			t.Fatalf("serve did not print both addresses\n%s", h.logs.String())
		}
	}
	// Ready once the check index is loaded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, _ := h.get(h.svc+"/readyz", ""); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready\n%s", h.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return h
}

// post sends body to /fsi/api/{infno}, signed as inst.
func (h *hostileServer) post(inst, infno string, body []byte) (int, map[string]any, []byte) {
	h.t.Helper()
	return h.signed(inst, "/fsi/api/"+infno, body)
}

func (h *hostileServer) signed(inst, path string, body []byte) (int, map[string]any, []byte) {
	h.t.Helper()
	k := h.keys[inst]
	req, err := http.NewRequest("POST", h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := fmt.Sprintf("n%d-%d", time.Now().UnixNano(), h.seq.Add(1))
	req.Header.Set("content-type", "application/json")
	req.Header.Set(server.HeaderPaasID, k.paasid)
	req.Header.Set(server.HeaderTimestamp, ts)
	req.Header.Set(server.HeaderNonce, nonce)
	req.Header.Set(server.HeaderSignature, server.Sign(ts, k.secret, nonce))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env map[string]any
	_ = json.Unmarshal(b, &env)
	return resp.StatusCode, env, b
}

// get sends a GET with a bearer token (none when tok is empty) to url (a full URL, or a
// path on the main listener).
func (h *hostileServer) get(url, tok string) (int, []byte) {
	return h.do("GET", url, tok, nil)
}

func (h *hostileServer) do(method, url, tok string, body []byte) (int, []byte) {
	h.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = h.base + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sale3505 is a valid 3505 envelope for inst selling code, with person data in it.
func sale3505(inst, msgid, receipt, code string) []byte {
	return []byte(`{"infno":"3505","msgid":"` + msgid + `","fixmedins_code":"` + inst + `","inf_time":"2025-07-01 09:30:00","opter_type":"1",` +
		`"input":{"selinfo":{"med_list_codg":"` + drugX + `","fixmedins_hilist_id":"YP0001","fixmedins_hilist_name":"维生素B1片",` +
		`"fixmedins_bchno":"B2","prsc_dr_name":"李医生","phar_name":"王药师","phar_prac_cert_no":"YS123","hi_feesetl_type":"1",` +
		`"setl_id":"S` + receipt + `","mdtrt_sn":"MD` + receipt + `","psn_no":"` + hostilePsnNo + `","psn_cert_type":"01","certno":"` + hostileCertno + `",` +
		`"psn_name":"` + hostileName + `","manu_lotnum":"L2401","manu_date":"2024-01-05","expy_end":"2027-01-04","rx_flag":"0","trdn_flag":"0",` +
		`"finl_trns_pric":"12.30","rtal_docno":"` + receipt + `","sel_retn_cnt":1,"sel_retn_time":"2025-07-01 09:29:58",` +
		`"sel_retn_opter_name":"钱七","mdtrt_setl_type":"1","drugtracinfo":[{"drug_trac_codg":"` + code + `"}]}}}`)
}

// withField replaces `"name":value` (value a string or number) in a message.
func withField(msg []byte, name, value string) []byte {
	s := string(msg)
	i := strings.Index(s, `"`+name+`":`)
	if i < 0 {
		panic("no field " + name)
	}
	j := i + len(name) + 3
	k := j
	if s[j] == '"' {
		k = j + 1 + strings.IndexByte(s[j+1:], '"') + 1
	} else {
		for k < len(s) && s[k] != ',' && s[k] != '}' {
			k++
		}
	}
	return []byte(s[:j] + value + s[k:])
}

// healthy asserts what the province must still do after abuse: /readyz 200 and a valid
// signed 3505 stored and visible to the trace lookup.
func (h *hostileServer) healthy(what string) {
	h.t.Helper()
	if st, b := h.get(h.svc+"/readyz", ""); st != 200 {
		h.t.Fatalf("after %s: /readyz %d %s", what, st, b)
	}
	n := h.seq.Add(1)
	code := fmt.Sprintf("8385793%013d", 5_000_000+n)
	msgid := fmt.Sprintf("HEALTHY-%d", n)
	st, env, b := h.post(instA, "3505", sale3505(instA, msgid, fmt.Sprintf("RH%d", n), code))
	if st != 200 || env["infcode"] != "0" {
		h.t.Fatalf("after %s: a valid 3505 got %d %s", what, st, b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, b := h.get("/api/v1/codes/"+code, h.admin)
		if st == 200 && bytes.Contains(b, []byte(`"sale"`)) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after %s: the valid sale is not visible: %d %s", what, st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// refusedNaming asserts an NHSA refusal (infcode -1, any 4xx or 200) whose err_msg names
// field, and that no internal operation name leaks.
func refusedNaming(t *testing.T, what string, status int, env map[string]any, raw []byte, field string) {
	t.Helper()
	msg, _ := env["err_msg"].(string)
	if env["infcode"] != "-1" || (status != 200 && (status < 400 || status >= 500)) {
		t.Errorf("%s: want a refusal, got %d %.300s", what, status, raw)
		return
	}
	if !strings.Contains(msg, field) {
		t.Errorf("%s: err_msg %q does not name %s", what, msg, field)
	}
	for _, internal := range []string{"nhsa.", "server.", "duckdb.", "ingest.", "tracecode."} {
		if strings.Contains(msg, internal) {
			t.Errorf("%s: err_msg names an internal operation: %q", what, msg)
		}
	}
	if len(raw) > 8<<10 {
		t.Errorf("%s: an answer of %d bytes (an echo of the input?)", what, len(raw))
	}
}

func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the real binary")
	}
	bin := testBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	keys, admin, viewer := hostileStore(t, bin, dir)

	// Before the server starts: C's refused message reaches the quarantine from a file
	// (C's key is revoked afterwards), and so does a line nobody can read.
	preload := filepath.Join(t.TempDir(), "pre.jsonl")
	cBad := withField(sale3505(instC, "C-REFUSED-1", "RC1", "83857930000000000001"), "rtal_docno", `""`)
	if err := os.WriteFile(preload, append(append(cBad, '\n'), []byte("\xff\xfe x\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "ingest", "--data-dir", dir, preload).CombinedOutput(); err != nil && !strings.Contains(string(out), "refused") {
		t.Fatalf("ingest of the preload: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "institution", "key", "revoke", "--data-dir", dir, keys[instC].paasid).CombinedOutput(); err != nil {
		t.Fatalf("revoke C's key: %v\n%s", err, out)
	}

	h := startHostile(t, bin, dir, keys, admin, viewer)

	t.Run("1 invalid UTF-8 in a refused message", func(t *testing.T) {
		msg := withField(sale3505(instA, "UTF8-1", "RU1", "83857930000000000011"), "rtal_docno", `""`)
		msg = withField(msg, "fixmedins_hilist_name", "\"\xff\xfe维生素\"")
		st, env, raw := h.post(instA, "3505", msg)
		if env["infcode"] != "-1" {
			t.Errorf("refused 3505 with invalid UTF-8: %d %s", st, raw)
		}
		// Invalid UTF-8 and a NUL in an otherwise valid message: stored or refused, never stuck.
		msg = withField(sale3505(instA, "UTF8-2", "RU2", "83857930000000000012"), "fixmedins_hilist_name", "\"\xc3\x28\xff\"")
		h.post(instA, "3505", msg)
		h.post(instA, "3505", []byte("\xff\xfe{not json"))
		h.healthy("invalid UTF-8")
		st, b := h.get("/api/v1/quarantine?limit=1000", admin)
		if st != 200 || !bytes.Contains(b, []byte(`"UTF8-1"`)) {
			t.Errorf("the refused message is not in the quarantine: %d %.500s", st, b)
		}
		if st, b := h.get(h.svc+"/metrics", ""); st != 200 || !bytes.Contains(b, []byte("tracewatch_journal_apply_failing 0")) {
			t.Errorf("metrics after invalid UTF-8: %d, apply failing?\n%.2000s", st, b)
		}
	})

	t.Run("2 the operator API needs a token and masks for viewers", func(t *testing.T) {
		// Person data to mask: a stored sale and a refused one.
		h.post(instA, "3505", sale3505(instA, "PD-1", "RP1", "83857930000000000021"))
		h.post(instA, "3505", withField(sale3505(instA, "PD-2", "RP2", "83857930000000000022"), "rtal_docno", `""`))
		paths := []string{"/api/v1/stats", "/api/v1/quarantine", "/api/v1/clues", "/api/v1/clues/1",
			"/api/v1/codes/83857930000000000021", "/api/v1/codes?code=83857930000000000021", "/api/v1/nothing-here",
			"/readyz", "/metrics"}
		for _, p := range paths {
			for _, tok := range []string{"", "twt_not-a-token", admin + "x"} {
				if st, b := h.get(p, tok); st != http.StatusUnauthorized {
					t.Errorf("GET %s with token %q: %d %.200s, want 401", p, tok, st, b)
				}
			}
		}
		if st, b := h.do("POST", "/api/v1/quarantine/1/resubmit", "", []byte("{}")); st != http.StatusUnauthorized {
			t.Errorf("resubmit without a token: %d %.200s", st, b)
		}
		// The service listener answers probes without a token.
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			if st, _ := h.get(h.svc+p, ""); st != 200 {
				t.Errorf("service %s: %d", p, st)
			}
		}
		// A viewer sees no full ID number, name or person number.
		for _, p := range []string{"/api/v1/quarantine?limit=1000", "/api/v1/codes/83857930000000000021", "/api/v1/clues?limit=1000", "/api/v1/stats"} {
			st, b := h.get(p, viewer)
			if st != 200 {
				t.Errorf("viewer GET %s: %d %.300s", p, st, b)
			}
			for _, secret := range []string{hostileCertno, hostileName, hostilePsnNo} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("viewer GET %s shows %s: %.500s", p, secret, b)
				}
			}
		}
		// An admin sees them (the quarantined payload as received).
		if _, b := h.get("/api/v1/quarantine?limit=1000", admin); !bytes.Contains(b, []byte(hostileCertno)) {
			t.Errorf("admin does not see the stored payload")
		}
		// A token revoked while serve runs stops working within a few seconds.
		if out, err := exec.Command(bin, "token", "create", "--name", "temp", "--json", "--data-dir", dir).Output(); err != nil {
			t.Errorf("token create while serve runs: %v", err)
		} else {
			var v struct{ Token string }
			json.Unmarshal(out, &v)
			deadline := time.Now().Add(10 * time.Second)
			for { // serve looks at the tokens file at most once a second
				st, _ := h.get("/api/v1/stats", v.Token)
				if st == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a token created while serve runs: %d", st)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if out, err := exec.Command(bin, "token", "revoke", "--data-dir", dir, "temp").CombinedOutput(); err != nil {
				t.Fatalf("token revoke while serve runs: %v %s", err, out)
			}
			deadline = time.Now().Add(10 * time.Second)
			for {
				st, _ := h.get("/api/v1/stats", v.Token)
				if st == http.StatusUnauthorized {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a revoked token still answers %d", st)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		h.healthy("token checks")
	})

	t.Run("3 resubmit is guarded", func(t *testing.T) {
		st, b := h.get("/api/v1/quarantine?limit=1000", admin)
		var q struct {
			Rows []struct {
				ID          int64  `json:"id"`
				MsgID       string `json:"msgid"`
				Institution string `json:"fixmedins_code"`
			} `json:"rows"`
		}
		if err := json.Unmarshal(b, &q); err != nil || st != 200 {
			t.Fatalf("quarantine: %d %v", st, err)
		}
		var cRow, noInst, aRow int64
		for _, r := range q.Rows {
			switch {
			case r.MsgID == "C-REFUSED-1":
				cRow = r.ID
			case r.Institution == "" && noInst == 0:
				noInst = r.ID
			case r.MsgID == "PD-2":
				aRow = r.ID
			}
		}
		if cRow == 0 || noInst == 0 || aRow == 0 {
			t.Fatalf("quarantine rows: C %d, no institution %d, A %d\n%.1000s", cRow, noInst, aRow, b)
		}
		fixed := func(inst, msgid, code string) []byte { return sale3505(inst, msgid, "RS-"+msgid, code) }
		path := func(id int64) string { return fmt.Sprintf("/api/v1/quarantine/%d/resubmit", id) }
		if st, b := h.do("POST", path(aRow), viewer, fixed(instA, "PD-2-FIX", "83857930000000000031")); st != http.StatusForbidden {
			t.Errorf("viewer resubmit: %d %.200s", st, b)
		}
		if st, b := h.do("POST", path(cRow), admin, fixed(instC, "C-FIX", "83857930000000000032")); st != http.StatusForbidden {
			t.Errorf("resubmit for an institution whose key is revoked: %d %.300s", st, b)
		}
		if st, b := h.do("POST", path(noInst), admin, fixed(instB, "NOINST-FIX", "83857930000000000033")); st == 200 {
			t.Errorf("resubmit of a row without an institution stored a message: %.300s", b)
		}
		if st, b := h.do("POST", path(aRow), admin, fixed(instB, "PD-2-OTHER", "83857930000000000034")); st == 200 {
			t.Errorf("resubmit as another institution: %.300s", b)
		}
		if st, b := h.do("POST", path(aRow), admin, fixed(instA, "PD-2-FIX", "83857930000000000031")); st != 200 || !bytes.Contains(b, []byte(`"infcode":"0"`)) {
			t.Errorf("admin resubmit of A's corrected message: %d %.300s", st, b)
		}
		for _, code := range []string{"83857930000000000032", "83857930000000000033", "83857930000000000034"} {
			if _, b := h.get("/api/v1/codes/"+code, admin); bytes.Contains(b, []byte(`"sale"`)) {
				t.Errorf("a refused resubmission stored a sale of %s", code)
			}
		}
		h.healthy("resubmit")
	})

	t.Run("4 extreme values are refused at ingest", func(t *testing.T) {
		base := sale3505(instA, "X", "RX", "83857930000000000041")
		for _, tc := range []struct{ field, value string }{
			{"finl_trns_pric", "999999999999999"},
			{"finl_trns_pric", "-1"},
			{"sel_retn_cnt", "999999999999.9999"},
			{"sel_retn_cnt", "0"},
			{"sel_retn_time", `"9999-12-31 23:59:59"`},
			{"sel_retn_time", `"0001-01-01 00:00:00"`},
			{"expy_end", `"not a date"`},
		} {
			n := h.seq.Add(1)
			msg := withField(withField(base, "msgid", fmt.Sprintf(`"XV-%d"`, n)), tc.field, tc.value)
			st, env, raw := h.post(instA, "3505", msg)
			refusedNaming(t, tc.field+"="+tc.value, st, env, raw, tc.field)
		}
		settle := []byte(`{"infno":"2207","msgid":"XV-2207","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 10:06:00","input":{"data":{"setl_id":"SX1","mdtrt_id":"MX1","psn_no":"P1","setl_time":"2025-07-01 10:05:00","medfee_sumamt":"25.00","fund_pay_sumamt":"999999999999.99"}}}`)
		st, env, raw := h.post(instA, "2207", settle)
		refusedNaming(t, "2207 fund 999999999999.99", st, env, raw, "fund_pay_sumamt")
		h.healthy("extreme values")
	})

	t.Run("5 amplification is capped", func(t *testing.T) {
		// A check with a million codes: refused by size, answered small, quickly.
		var b bytes.Buffer
		b.WriteString(`{"fixmedins_code":"` + instA + `","lines":[{"med_list_codg":"` + drugX + `","quantity":"1","codes":[`)
		for i := 0; i < 1_000_000; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"A"`)
		}
		b.WriteString(`]}]}`)
		st, _, raw := h.signed(instA, "/api/v1/check", b.Bytes())
		if st != http.StatusRequestEntityTooLarge || len(raw) > 4096 {
			t.Errorf("check with 10^6 codes: %d, %d bytes", st, len(raw))
		}
		// Under the body limit, over the code cap.
		b.Reset()
		b.WriteString(`{"fixmedins_code":"` + instA + `","lines":[{"med_list_codg":"` + drugX + `","quantity":"1","codes":[`)
		for i := 0; i < 1001; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"8385793%013d"`, i)
		}
		b.WriteString(`]}]}`)
		if st, _, raw := h.signed(instA, "/api/v1/check", b.Bytes()); st != http.StatusRequestEntityTooLarge {
			t.Errorf("check with 1001 codes: %d %.300s", st, raw)
		}
		// A 3505A of 240 refused rows (about 1 MB): answered, its payload kept once.
		before := dirSize(t, dir)
		var rows []string
		pad := strings.Repeat("备注", 225) // 450 characters: within memo's 500
		for i := 0; i < 240; i++ {
			rows = append(rows, `{"med_list_codg":"`+drugX+`","fixmedins_hilist_id":"YP1","fixmedins_hilist_name":"维生素","rx_flag":"0","trdn_flag":"0",`+
				`"rtal_docno":"","sel_retn_cnt":1,"sel_retn_time":"2025-07-01 09:29:58","memo":"`+pad+`","drugtracinfo":[{"drug_trac_codg":"8385793`+fmt.Sprintf("%013d", 7_000_000+i)+`"}]}`)
		}
		msg := []byte(`{"infno":"3505A","msgid":"AMP-1","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 09:30:00","input":{"selinfo":[` + strings.Join(rows, ",") + `]}}`)
		st, env, raw := h.post(instA, "3505A", msg)
		if st != 200 || env["infcode"] == nil {
			t.Errorf("3505A of 240 bad rows: %d %.300s", st, raw)
		}
		h.healthy("a 240-row refusal")
		if grew := dirSize(t, dir) - before; grew > 40<<20 {
			t.Errorf("the data directory grew by %d MB for one 1 MB message", grew>>20)
		}
		// More rows than a message may carry: refused whole.
		rows = rows[:0]
		for i := 0; i < 1001; i++ {
			rows = append(rows, `{"med_list_codg":"`+drugX+`","rtal_docno":"R`+strconv.Itoa(i)+`","sel_retn_cnt":1,"sel_retn_time":"2025-07-01 09:29:58"}`)
		}
		msg = []byte(`{"infno":"3505A","msgid":"AMP-2","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 09:30:00","input":{"selinfo":[` + strings.Join(rows, ",") + `]}}`)
		st, env, raw = h.post(instA, "3505A", msg)
		refusedNaming(t, "3505A of 1001 rows", st, env, raw, "selinfo")
		// Every list is paged.
		if st, _ := h.get("/api/v1/quarantine?limit=100000", admin); st != http.StatusBadRequest {
			t.Errorf("quarantine limit=100000: %d", st)
		}
		if st, _ := h.get("/api/v1/clues?limit=100000", admin); st != http.StatusBadRequest {
			t.Errorf("clues limit=100000: %d", st)
		}
	})

	t.Run("6 a msgid is the sender's own", func(t *testing.T) {
		st, env, raw := h.post(instA, "3505", sale3505(instA, "SQUAT-1", "RQA", "83857930000000000061"))
		if st != 200 || env["infcode"] != "0" {
			t.Fatalf("A: %d %s", st, raw)
		}
		st, env, raw = h.post(instB, "3505", sale3505(instB, "SQUAT-1", "RQB", "83857930000000000062"))
		if st != 200 || env["infcode"] != "0" {
			t.Fatalf("B with A's msgid: %d %s", st, raw)
		}
		// Each replay answers its own first answer.
		_, _, again := h.post(instB, "3505", sale3505(instB, "SQUAT-1", "RQB", "83857930000000000062"))
		if !bytes.Equal(again, raw) {
			t.Errorf("B's replay: %s, first %s", again, raw)
		}
		if _, b := h.get("/api/v1/codes/83857930000000000062", admin); !bytes.Contains(b, []byte(`"sale"`)) {
			t.Errorf("B's sale is not stored: %.300s", b)
		}
	})

	t.Run("9 lenient fields are refused with the field named", func(t *testing.T) {
		base := sale3505(instA, "LF", "RL", "83857930000000000091")
		huge := strings.Repeat("M", 1<<20)
		st, env, raw := h.post(instA, "3505", withField(base, "msgid", `"`+huge+`"`))
		refusedNaming(t, "1 MB msgid", st, env, raw, "msgid")
		st, env, raw = h.post(instA, "3505", withField(base, "msgid", `"LF-\u0000-1"`))
		refusedNaming(t, "NUL in msgid", st, env, raw, "msgid")
		st, env, raw = h.post(instA, "3505", withField(withField(base, "msgid", `"LF-2"`), "rtal_docno", `"R\u0000L"`))
		refusedNaming(t, "NUL in rtal_docno", st, env, raw, "rtal_docno")
		st, env, raw = h.post(instA, "3505", withField(withField(base, "msgid", `"LF-3"`), "drug_trac_codg", `"../../etc/passwd"`))
		if env["infcode"] == "0" {
			if _, b := h.get("/api/v1/codes?code=..%2F..%2Fetc%2Fpasswd", admin); bytes.Contains(b, []byte(`"enterprise"`)) {
				t.Errorf("../../etc/passwd accepted as an enterprise code: %.300s", b)
			}
		}
		if st, b := h.get("/api/v1/codes?code=..%2F..%2Fetc%2Fpasswd", admin); st != http.StatusBadRequest {
			t.Errorf("trace of ../../etc/passwd: %d %.300s", st, b)
		}
		// The real-time check: a count of -5 or 0, a bad settlement date.
		supervise := func(msgid, cnt, setlDate string) []byte {
			return []byte(`{"infno":"3101","msgid":"` + msgid + `","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 09:00:00","input":{"data":{"task_id":"T1","trig_scen":"10",` +
				`"patient_dtos":[{"patn_id":"PSN1","fsi_encounter_dtos":[{"mdtrt_id":"R1","medins_id":"` + instA + `","setl_date":"` + setlDate + `","fsi_order_dtos":[{"rx_id":"1","hilist_code":"` + drugX + `","cnt":` + cnt + `,` +
				`"drug_trac_info":[{"drug_trac_codg":"83857930000000000092","trdn_flag":"0"}]}]}]}]}}}`)
		}
		for _, cnt := range []string{"-5", "0"} {
			st, env, raw := h.post(instA, "3101", supervise("CK-"+cnt, cnt, "2025-07-01 09:00:00"))
			refusedNaming(t, "3101 cnt "+cnt, st, env, raw, "cnt")
		}
		st, env, raw = h.post(instA, "3101", supervise("CK-DATE", "1", "2025-13-45 09:00:00"))
		refusedNaming(t, "3101 bad setl_date", st, env, raw, "setl_date")
		// 3103 with a jr_id the server never gave.
		fb := []byte(`{"infno":"3103","msgid":"FB-1","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 09:00:00","input":{"data":{"warn_type":"1","warns":[{"warn_rslt_id":"../../x","dspo_way":"1","dspo_way_rea":"ok"}]}}}`)
		st, env, raw = h.post(instA, "3103", fb)
		if env["infcode"] != "-1" {
			t.Errorf("3103 with a made-up jr_id: %d %s", st, raw)
		}
		// A filter value is matched exactly: a ';' cannot widen it.
		if st, b := h.get("/api/v1/quarantine?institution="+instA+";x", admin); st != http.StatusBadRequest {
			t.Errorf("institution=A;x: %d %.300s", st, b)
		}
		if st, b := h.get("/api/v1/clues?institution="+instA+"%27%20OR%201=1--", admin); st != http.StatusBadRequest {
			t.Errorf("institution with SQL: %d %.300s", st, b)
		}
		// An envelope without input: the refusal names the field, no Go operation.
		st, env, raw = h.post(instA, "3505", []byte(`{"infno":"3505","msgid":"LF-NOINPUT","fixmedins_code":"`+instA+`","inf_time":"2025-07-01 09:30:00"}`))
		refusedNaming(t, "3505 without input", st, env, raw, "input")
		h.healthy("lenient fields")
	})

	t.Run("the classes around the cases", func(t *testing.T) {
		base := sale3505(instA, "CL", "RCL", "83857930000000000081")
		n := 0
		variant := func(field, value string) []byte {
			n++
			return withField(withField(base, "msgid", fmt.Sprintf(`"CL-%d"`, n)), field, value)
		}
		for _, tc := range []struct {
			what  string
			body  []byte
			field string // the refusal names it; "" when the message may also be accepted
		}{
			// Encodings.
			{"GBK text", variant("fixmedins_hilist_name", "\"\xce\xac\xc9\xfa\xcb\xd8\""), "fixmedins_hilist_name"},
			{"UTF-16 body", []byte("\xff\xfe{\x00}\x00"), ""},
			{"UTF-8 BOM", append([]byte("\xef\xbb\xbf"), variant("rtal_docno", `"RBOM"`)...), ""},
			{"escaped lone surrogate", variant("fixmedins_hilist_name", `"\ud800x"`), ""},
			{"deep nesting", []byte(`{"infno":"3505","msgid":"CL-DEEP","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 09:30:00","input":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`), "JSON"},
			// Numbers.
			{"quantity 1e308", variant("sel_retn_cnt", "1e308"), "sel_retn_cnt"},
			{"quantity NaN", variant("sel_retn_cnt", `"NaN"`), "sel_retn_cnt"},
			{"quantity 0x10", variant("sel_retn_cnt", `"0x10"`), "sel_retn_cnt"},
			{"quantity -0", variant("sel_retn_cnt", "-0"), "sel_retn_cnt"},
			{"price 1e-9", variant("finl_trns_pric", "1e-9"), ""},
			{"price Infinity", variant("finl_trns_pric", `"Infinity"`), "finl_trns_pric"},
			// Times.
			{"time with zone", variant("sel_retn_time", `"2025-07-01T09:29:58+08:00"`), ""},
			{"time 2025-02-30", variant("sel_retn_time", `"2025-02-30 09:00:00"`), "sel_retn_time"},
			{"time 25:61", variant("sel_retn_time", `"2025-07-01 25:61:00"`), "sel_retn_time"},
			// Identifiers.
			{"msgid with a newline", variant("msgid", `"CL-\n1"`), "msgid"},
			{"msgid of spaces", variant("msgid", `"   "`), "msgid"},
			{"full-width fixmedins_code", withField(base, "fixmedins_code", `"Ｐ36010200001"`), "fixmedins_code"},
			{"code of 10,000 characters", variant("drug_trac_codg", `"`+strings.Repeat("8", 10_000)+`"`), "drug_trac_codg"},
		} {
			st, env, raw := h.post(instA, "3505", tc.body)
			if st >= 500 {
				t.Errorf("%s: %d %.300s", tc.what, st, raw)
				continue
			}
			if tc.field != "" {
				refusedNaming(t, tc.what, st, env, raw, tc.field)
			}
			t.Logf("%s: %d %.200s", tc.what, st, raw)
		}
		// Another institution's code in the body: 403, nothing stored.
		if st, _, raw := h.post(instA, "3505", sale3505(instB, "CL-OTHER", "RCO", "83857930000000000082")); st != http.StatusForbidden {
			t.Errorf("B's fixmedins_code signed as A: %d %.300s", st, raw)
		}
		// The path says one interface, the body another.
		if st, env, raw := h.post(instA, "3506", sale3505(instA, "CL-PATH", "RCP", "83857930000000000083")); st != http.StatusBadRequest || env["infcode"] != "-1" {
			t.Errorf("3505 body on the 3506 path: %d %.300s", st, raw)
		}
		// A body over the 8 MiB limit: 413 before anything is decoded.
		if st, _, raw := h.post(instA, "3505", bytes.Repeat([]byte(" "), 9<<20)); st != http.StatusRequestEntityTooLarge {
			t.Errorf("9 MiB body: %d %.300s", st, raw)
		}
		// Replay: the same msgid with other content answers the first answer, changes nothing.
		_, _, first := h.post(instA, "3505", sale3505(instA, "CL-REPLAY", "RCR", "83857930000000000084"))
		_, _, again := h.post(instA, "3505", sale3505(instA, "CL-REPLAY", "RCR2", "83857930000000000085"))
		if !bytes.Equal(first, again) {
			t.Errorf("replay with other content: %s, first %s", again, first)
		}
		if _, b := h.get("/api/v1/codes/83857930000000000085", admin); bytes.Contains(b, []byte(`"sale"`)) {
			t.Errorf("a replay stored its other content")
		}
		h.healthy("the classes around the cases")
	})

	t.Run("7 connections are capped and probes still answer", func(t *testing.T) {
		// A second server with a small cap: 400 idle connections to its main port must
		// leave the service listener answering, and the port usable once they go.
		dir2 := filepath.Join(t.TempDir(), "data")
		keys2, admin2, viewer2 := hostileStore(t, bin, dir2)
		h2 := startHostile(t, bin, dir2, keys2, admin2, viewer2, "--max-conns", "50")
		addr := strings.TrimPrefix(h2.base, "http://")
		var conns []net.Conn
		for i := 0; i < 400; i++ {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				break // the backlog is full: that is the cap working
			}
			conns = append(conns, c)
		}
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(h2.svc + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("healthz on the service listener during the flood: %v", err)
		} else {
			resp.Body.Close()
		}
		for _, c := range conns {
			c.Close()
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, _, _ := h2.post(instA, "3505", sale3505(instA, "CONN-1", "RC1", "83857930000000000071"))
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the main port does not recover after the flood: %d", st)
			}
			time.Sleep(200 * time.Millisecond)
		}
		h2.healthy("a connection flood")
		// Shutdown with a stuck client: the server still stops, within its grace.
		slow, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		fmt.Fprintf(slow, "POST /fsi/api/3505 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
		time.Sleep(200 * time.Millisecond)
		t0 := time.Now()
		h2.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-h2.exited:
			h2.exited <- err // for the cleanup
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM\n%.3000s", err, h2.logs.String())
			}
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop within 60 s of SIGTERM with a stuck client")
		}
		t.Logf("stopped %s after SIGTERM with a stuck client", time.Since(t0).Round(time.Millisecond))
	})

	// A double sale (A then B) for screen to find.
	h.post(instA, "3505", sale3505(instA, "DUP-A", "RDA", "83857930000000000099"))
	h.post(instB, "3505", sale3505(instB, "DUP-B", "RDB", "83857930000000000099"))
	h.healthy("the whole suite")
	if t.Failed() {
		t.Logf("server log (tail):\n%s", tail(h.logs.String(), 4000))
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-h.exited; err != nil {
		t.Fatalf("serve: %v", err)
	}
	h.exited <- nil

	// The same abuse through bulk ingest, twice.
	file := filepath.Join(t.TempDir(), "hostile.jsonl")
	lines := [][]byte{
		[]byte("\xff\xfe x"),
		withField(sale3505(instA, "F-UTF8", "RF1", "83857930000000000101"), "rtal_docno", "\"\xff\xfe\""),
		withField(sale3505(instA, "F-PRICE", "RF2", "83857930000000000102"), "finl_trns_pric", "999999999999999"),
		withField(sale3505(instA, "F-QTY", "RF3", "83857930000000000103"), "sel_retn_cnt", "999999999999.9999"),
		withField(sale3505(instA, "F-TIME", "RF4", "83857930000000000104"), "sel_retn_time", `"9999-12-31 23:59:59"`),
		withField(sale3505(instA, "F-NUL", "RF5", "83857930000000000105"), "msgid", `"F-\u0000"`),
		withField(sale3505(instA, "F-LONG", "RF6", "83857930000000000106"), "msgid", `"`+strings.Repeat("L", 100_000)+`"`),
		[]byte(`{"infno":"2207","msgid":"F-FUND","fixmedins_code":"` + instA + `","inf_time":"2025-07-01 10:06:00","input":{"data":{"setl_id":"SF1","mdtrt_id":"MF1","psn_no":"P1","setl_time":"2025-07-01 10:05:00","medfee_sumamt":"25.00","fund_pay_sumamt":"999999999999.99"}}}`),
		sale3505(instB, "SQUAT-1", "RQB", "83857930000000000062"), // B's msgid, already stored: a replay
		sale3505(instA, "F-GOOD", "RF9", "83857930000000000109"),
	}
	if err := os.WriteFile(file, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		out, err := exec.Command(bin, "ingest", "--json", "--data-dir", dir, file).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != exitFail {
			t.Fatalf("ingest run %d: %v\n%s", run, err, out)
		}
		if len(out) > 64<<10 {
			t.Errorf("ingest run %d printed %d bytes (an echo of the input?)", run, len(out))
		}
	}
	out, err := exec.Command(bin, "trace", "--json", "--data-dir", dir, "83857930000000000109").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`"sale"`)) {
		t.Errorf("the good line of the hostile file is not stored: %v %.500s", err, out)
	}
	out, err = exec.Command(bin, "quarantine", "list", "--json", "--data-dir", dir, "--limit", "1000").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("F-PRICE")) {
		t.Errorf("quarantine list after the hostile file: %v %.500s", err, out)
	}
	// Screening completes and finds the double sale.
	out, err = exec.Command(bin, "screen", "--json", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("screen: %v\n%s", err, tail(string(out), 3000))
	}
	out, err = exec.Command(bin, "clues", "list", "--json", "--data-dir", dir, "--code", "83857930000000000099").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("trace.duplicate")) {
		t.Errorf("screen found no duplicate for the double sale: %v %.1000s", err, out)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
