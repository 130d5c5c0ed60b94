package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

const serveInst = "P36010200001"

// loadInstitution puts the test pharmacy into the store of dir (and closes it: DuckDB
// lets one process at a time open the file).
func loadInstitution(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: serveInst, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInstitutionKeyCLI(t *testing.T) {
	dir := t.TempDir()
	if status, _, errOut := runCLI(t, "", "institution", "key", "create", "--data-dir", dir); status != exitUsage || !strings.Contains(errOut, "usage") {
		t.Errorf("no institution: status %d, %q", status, errOut)
	}
	if status, _, _ := runCLI(t, "", "institution", "key"); status != exitUsage {
		t.Errorf("no subcommand: status %d", status)
	}
	status, out, errOut := runCLI(t, "", "institution", "key", "create", "--data-dir", dir, serveInst)
	if status != exitFail || out != "" || !strings.Contains(errOut, "no store there") {
		t.Errorf("no store: status %d, out %q, err %q", status, out, errOut)
	}
	loadInstitution(t, dir)
	status, out, errOut = runCLI(t, "", "institution", "key", "create", "--data-dir", dir, "P99999999999")
	if status != exitFail || out != "" || !strings.Contains(errOut, "P99999999999 is not in the store") {
		t.Errorf("unknown institution: status %d, out %q, err %q", status, out, errOut)
	}
	status, out, errOut = runCLI(t, "", "institution", "key", "create", "--data-dir", dir, serveInst)
	if status != exitOK || !strings.Contains(out, "paasid  tw") || !strings.Contains(out, "keep the secret: it is not shown again") {
		t.Fatalf("text: status %d, out %q, err %q", status, out, errOut)
	}
	paasid := strings.Fields(out)[1]
	if status, out, _ := runCLI(t, "", "institution", "key", "revoke", "--data-dir", dir, paasid); status != exitOK || !strings.Contains(out, "revoked "+paasid+" of "+serveInst) {
		t.Errorf("revoke: status %d, %q", status, out)
	}
	if status, _, errOut := runCLI(t, "", "institution", "key", "revoke", "--data-dir", dir, "tw0000000000000000"); status != exitFail || !strings.Contains(errOut, "no key") {
		t.Errorf("revoke an unknown key: status %d, %q", status, errOut)
	}
}

// TestServeBinary drives the real binary: a key for a loaded pharmacy, the server on a
// free port, a signed purchase and sale, the trace API, and a clean stop on SIGTERM.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tracewatch")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	dir := filepath.Join(tmp, "data")
	loadInstitution(t, dir)

	out, err := exec.Command(bin, "institution", "key", "create", "--json", "--data-dir", dir, serveInst).Output()
	if err != nil {
		t.Fatalf("key create: %v", err)
	}
	var key struct{ PaasID, Secret string }
	if err := json.Unmarshal(out, &key); err != nil || !strings.HasPrefix(string(out), `{"paasid": "tw`) || len(key.Secret) != 32 {
		t.Fatalf("key create --json printed %q (%v)", out, err)
	}

	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // a failed test must not leave the server running
	lines := make(chan string, 1)
	var logs bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- addr
				continue
			}
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	var base string
	select {
	case addr := <-lines:
		base = "http://" + addr
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not say it was listening")
	}

	post := func(infno, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/fsi/api/"+infno, strings.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := infno + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		req.Header.Set("x-tif-paasid", key.PaasID)
		req.Header.Set("x-tif-timestamp", ts)
		req.Header.Set("x-tif-nonce", nonce)
		req.Header.Set("x-tif-signature", server.Sign(ts, key.Secret, nonce))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &env); err != nil || resp.StatusCode != 200 || env["infcode"] != "0" {
			t.Fatalf("POST %s: status %d, %s", infno, resp.StatusCode, b)
		}
		return env
	}
	const code = "83857930000879766660"
	post("3503", serveEnvelope("3503", "P1-3503-1", `{"purcinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"YP0001",
		"fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B1","spler_name":"江西医药有限公司","manu_lotnum":"L2401",
		"prodentp_name":"某某制药有限公司","aprvno":"国药准字H36020001","manu_date":"2024-01-05","expy_end":"2026-01-04",
		"purc_retn_cnt":2,"rx_flag":"0","purc_retn_stoin_time":"2025-02-28 15:00:00","purc_retn_opter_name":"孙八",
		"drugtracinfo":[{"drug_trac_codg":"`+code+`"},{"drug_trac_codg":"83857930000879766677"}]}}`))
	post("3505", serveEnvelope("3505", "P1-3505-1", `{"selinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"YP0001",
		"fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B2","prsc_dr_name":"李医生","phar_name":"王药师",
		"phar_prac_cert_no":"YS123","hi_feesetl_type":"1","setl_id":"SETL1","mdtrt_sn":"MD1","psn_no":"36000012345678",
		"psn_cert_type":"01","certno":"11010519491231002X","psn_name":"赵六","manu_lotnum":"L2401","manu_date":"2024-01-05",
		"expy_end":"2026-01-04","rx_flag":"0","trdn_flag":"0","finl_trns_pric":"12.30","rtal_docno":"R1","sel_retn_cnt":1,
		"sel_retn_time":"2025-03-01 09:29:58","sel_retn_opter_name":"钱七","mdtrt_setl_type":"1",
		"drugtracinfo":[{"drug_trac_codg":"`+code+`"}]}}`))

	out, err = exec.Command(bin, "token", "create", "--name", "ops", "--json", "--data-dir", dir).Output()
	var tok struct{ Token string }
	if err != nil || json.Unmarshal(out, &tok) != nil || !strings.HasPrefix(tok.Token, "twt_") {
		t.Fatalf("token create: %q, %v", out, err)
	}
	if resp, err := http.Get(base + "/api/v1/codes/" + code); err != nil || resp.StatusCode != 401 {
		t.Fatalf("trace without a token: %v, %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/codes/"+code, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		SoldNet  float64 `json:"sold_net"`
		Timeline []struct {
			Kind string `json:"kind"`
		} `json:"timeline"`
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(v.Timeline) != 2 || v.Timeline[0].Kind != "purchase" || v.Timeline[1].Kind != "sale" || v.SoldNet != 1 {
		t.Errorf("trace: status %d, %+v, %v", resp.StatusCode, v, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { <-logDone; waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("serve exited with %v, want status 0\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	log := logs.String()
	if !strings.Contains(log, `"path":"/fsi/api/3505"`) || !strings.Contains(log, `"institution":"`+serveInst+`"`) || !strings.Contains(log, "stopped") {
		t.Errorf("server log:\n%s", log)
	}
	if strings.Contains(log, "赵六") || strings.Contains(log, "11010519491231002X") || strings.Contains(log, key.Secret) {
		t.Errorf("the log holds person data or the secret:\n%s", log)
	}
	// The store was closed cleanly and holds what was answered.
	st, err := duckdb.Open(context.Background(), dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatalf("reopen after stop: %v", err)
	}
	defer st.Close()
	if m, err := st.Message(context.Background(), serveInst, "P1-3505-1"); err != nil || m.Institution != serveInst || m.Source != "http" {
		t.Errorf("stored sale message: %+v, %v", m, err)
	}
}

func serveEnvelope(infno, msgid, input string) string {
	return `{"infno":"` + infno + `","msgid":"` + msgid + `","mdtrtarea_admvs":"360102","insuplc_admdvs":"360102",` +
		`"recer_sys_code":"FSI_LOCAL","infver":"V1.0","opter_type":"1","opter":"OP001","opter_name":"收银员",` +
		`"inf_time":"2025-03-01 09:30:00","fixmedins_code":"` + serveInst + `","fixmedins_name":"一号大药房","input":` + input + `}`
}
