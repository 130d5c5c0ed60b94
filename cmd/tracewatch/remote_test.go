package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/refload"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
)

// served is a `tracewatch serve` run by a test, its log collected.
type served struct {
	cmd  *exec.Cmd
	base string
	logs *syncLog
	read chan struct{} // closed once its stderr is read to the end
}

// serveLogged starts the binary's server with args and waits until it listens.
func serveLogged(t *testing.T, bin string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, logs: &syncLog{}, read: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		defer close(s.read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
			s.logs.Write([]byte(sc.Text() + "\n"))
		}
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not say it was listening:\n%s", s.logs.String())
	}
	return s
}

// logLine waits for a log line holding want and returns it.
func (s *served) logLine(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s within %v:\n%s", want, within, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and wants a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.read:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if err := s.cmd.Wait(); err != nil || !strings.Contains(s.logs.String(), "stopped") {
		t.Fatalf("serve exited with %v\n%s", err, s.logs.String())
	}
}

// get fetches path with a token and returns the status and body.
func (s *served) get(t *testing.T, path, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mustCLI runs a command in-process and wants status 0; it returns stdout.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "", args...)
	if code != exitOK {
		t.Fatalf("%v: status %d\n%s\n%s", args, code, out, errOut)
	}
	return out
}

// untimed drops the durations and rates a command prints.
var untimed = regexp.MustCompile(` in [0-9.]+[µmn]?s \([0-9]+ lines/s\)`)

// zeroSeconds drops the detectors' durations from a screen --json output.
func zeroSeconds(t *testing.T, out string) screenSummary {
	t.Helper()
	var s screenSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("screen --json: %v\n%s", err, out)
	}
	for i := range s.Detectors {
		s.Detectors[i].Seconds = 0
	}
	return s
}

const liveInst = "P36098100001" // a pharmacy of the generated province

// TestServeOneService drives the real binary as one running service: the reference
// data, the bulk messages and the screening go through `--server` to a running serve,
// which answers the NHSA endpoint and the API meanwhile; each command prints what it
// prints locally on a store of its own; a second ingest stores nothing twice; a missing
// or weak token, and a server that is not there, are said plainly.
func TestServeOneService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	prov := serviceProvince(t, dir, "")
	local, data := filepath.Join(dir, "local"), filepath.Join(dir, "served")
	files, _ := filepath.Glob(filepath.Join(prov, "messages", "*.jsonl"))
	refFile := func(k refload.Kind) string { return filepath.Join(prov, "reference", string(k)+".csv") }
	const at = "2025-07-11T02:00:00+08:00"

	// The server's store before it runs: the institutions, a pharmacy's key, tokens.
	mustCLI(t, "load", "--data-dir", data, "institutions", refFile(refload.KindInstitutions))
	var key struct{ PaasID, Secret string }
	json.Unmarshal([]byte(mustCLI(t, "institution", "key", "create", "--json", "--data-dir", data, liveInst)), &key)
	var admin, viewer struct{ Token string }
	json.Unmarshal([]byte(mustCLI(t, "token", "create", "--json", "--data-dir", data, "--name", "ops", "--role", "admin")), &admin)
	json.Unmarshal([]byte(mustCLI(t, "token", "create", "--json", "--data-dir", data, "--name", "eve")), &viewer)
	if key.Secret == "" || admin.Token == "" || viewer.Token == "" {
		t.Fatal("no key or token")
	}
	srv := serveLogged(t, bin, "--data-dir", data)
	t.Setenv(tokenEnv, admin.Token)

	// load: the same lines, here and through the server.
	for _, k := range refload.Kinds() {
		want := mustCLI(t, "load", "--data-dir", local, string(k), refFile(k))
		if got := mustCLI(t, "load", "--server", srv.base, string(k), refFile(k)); got != want {
			t.Errorf("load --server %s: %q, want %q", k, got, want)
		}
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("fixmedins_code,fixmedins_name,fixmedins_type,admdvs\nP1,甲,drugstore,36010\n"), 0o644)
	code, out, wantErr := runCLI(t, "", "load", "--data-dir", local, "institutions", bad)
	if code2, out2, gotErr := runCLI(t, "", "load", "--server", srv.base, "institutions", bad); code2 != code || code != exitFail || out2 != out || gotErr != wantErr {
		t.Errorf("load --server of bad rows: %d %q %q\nwant %d %q %q", code2, out2, gotErr, code, out, wantErr)
	}

	// ingest --json: the same summary, then text, again: nothing stored twice.
	want := mustCLI(t, append([]string{"ingest", "--data-dir", local, "--json"}, files...)...)
	if got := mustCLI(t, append([]string{"ingest", "--server", srv.base, "--json"}, files...)...); got != want {
		t.Errorf("ingest --server --json:\n%s\nwant\n%s", got, want)
	}
	want = mustCLI(t, append([]string{"ingest", "--data-dir", local}, files...)...)
	got := mustCLI(t, append([]string{"ingest", "--server", srv.base}, files...)...)
	if untimed.ReplaceAllString(got, "") != untimed.ReplaceAllString(want, "") || !strings.Contains(got, ": accepted 0, already stored ") {
		t.Errorf("ingest --server again:\n%s\nwant\n%s", got, want)
	}
	var stats struct {
		Tables map[string]int64 `json:"tables"`
	}
	status, b := srv.get(t, "/api/v1/stats", admin.Token)
	json.Unmarshal(b, &stats)
	localStats := mustCLI(t, "stats", "--data-dir", local, "--json")
	var ls struct {
		Tables map[string]int64 `json:"tables"`
	}
	json.Unmarshal([]byte(localStats), &ls)
	if status != 200 || stats.Tables["messages"] == 0 || !reflect.DeepEqual(stats.Tables, ls.Tables) {
		t.Errorf("served store %d %v, local %v", status, stats.Tables, ls.Tables)
	}

	// screen: the same summary (durations aside), progress on stderr as here.
	want = mustCLI(t, "screen", "--data-dir", local, "--json", "--at", at)
	code, got, errOut := runCLI(t, "", "screen", "--server", srv.base, "--json", "--at", at)
	if code != exitOK || !reflect.DeepEqual(zeroSeconds(t, got), zeroSeconds(t, want)) || zeroSeconds(t, got).New == 0 {
		t.Errorf("screen --server --json: %d\n%s\nwant\n%s\n%s", code, got, want, errOut)
	}
	if n := defaultRules(t); !strings.HasPrefix(errOut, fmt.Sprintf("[1/%d] trace.duplicate@1 重复销售 … ", n)) || strings.Count(errOut, "\n") != n {
		t.Errorf("screen --server progress:\n%s", errOut)
	}
	want = mustCLI(t, "screen", "--data-dir", local, "--detector", "T1,C10", "--from", "2025-07-02")
	if got := mustCLI(t, "screen", "--server", srv.base, "--detector", "T1,C10", "--from", "2025-07-02"); got != want {
		t.Errorf("screen --server text:\n%s\nwant\n%s", got, want)
	}
	// POST /api/v1/screen answers the summary screen --json prints.
	req, _ := http.NewRequest("POST", srv.base+"/api/v1/screen", strings.NewReader(`{"at":"`+at+`"}`))
	req.Header.Set("Authorization", "Bearer "+admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	second := mustCLI(t, "screen", "--data-dir", local, "--json", "--at", at)
	if resp.StatusCode != 200 || !reflect.DeepEqual(zeroSeconds(t, string(b)), zeroSeconds(t, second)) {
		t.Errorf("POST /api/v1/screen: %d %s\nwant %s", resp.StatusCode, b, second)
	}

	// Refusals, said plainly; nothing changes.
	for _, tc := range []struct {
		token string
		args  []string
		want  string
	}{
		{"", []string{"ingest", "--server", srv.base, files[0]}, "the server wants an operator token: give --token TOKEN or set TRACEWATCH_TOKEN"},
		{"twt_bogus", []string{"load", "--server", srv.base, "drugs", refFile(refload.KindDrugs)}, "the server refused the token (Authorization: unknown or revoked token)"},
		{viewer.Token, []string{"screen", "--server", srv.base}, "the server refused: eve is a viewer (领导查看): this needs the admin role"},
		{admin.Token, []string{"screen", "--server", "http://127.0.0.1:1"}, "cannot reach the server at http://127.0.0.1:1"},
		{admin.Token, []string{"ingest", "--server", srv.base + "/healthz", files[0]}, "answered 404 Not Found with text/plain, not JSON"},
	} {
		t.Setenv(tokenEnv, tc.token)
		code, out, errOut := runCLI(t, "", tc.args...)
		if code != exitFail || out != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "committed batches") {
			t.Errorf("%v with token %q: %d %q %q, want %q", tc.args, tc.token, code, out, errOut, tc.want)
		}
	}
	t.Setenv(tokenEnv, "")
	for _, args := range [][]string{
		{"ingest", "--server", srv.base, "--data-dir", data, files[0]},
		{"screen", "--server", srv.base, "--rules", bad},
		{"load", "--token", admin.Token, "drugs", refFile(refload.KindDrugs)},
	} {
		if code, _, errOut := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: %d %s, want a usage error", args, code, errOut)
		}
	}
	status, b = srv.get(t, "/api/v1/stats", admin.Token)
	var after struct {
		Tables map[string]int64 `json:"tables"`
	}
	if json.Unmarshal(b, &after); !reflect.DeepEqual(after.Tables, stats.Tables) {
		t.Errorf("refusals changed the store: %v, was %v", after.Tables, stats.Tables)
	}

	// A bulk ingest through the binary, its file a pipe: while its body is still
	// coming, the server answers /healthz, a signed sale and the API.
	fifo := filepath.Join(dir, "live.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	if _, err := writeSales(&lines, 600, 5); err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitAfterN(lines.Bytes(), []byte("\n"), 301) // 300 lines, then the rest
	cli := exec.Command(bin, "ingest", "--server", srv.base, "--token", admin.Token, "--progress", "--batch-lines", "100", fifo)
	var cliOut bytes.Buffer
	cli.Stdout = &cliOut
	cliErr, err := cli.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Process.Kill(); cli.Wait() })
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // once the command opens it
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Join(parts[:300], nil))
	progress := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(cliErr)
		for sc.Scan() {
			progress <- sc.Text()
		}
		close(progress)
	}()
	select {
	case l := <-progress:
		if !strings.HasPrefix(l, "progress: "+fifo+": 100 lines committed") {
			t.Fatalf("first progress line %q", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no progress line from ingest --server")
	}
	if status, _ := srv.get(t, "/healthz", ""); status != 200 {
		t.Errorf("healthz during the ingest: %d", status)
	}
	env := signedSale(t, srv.base, key.PaasID, key.Secret)
	if env["infcode"] != "0" {
		t.Errorf("a signed sale during the ingest: %v", env)
	}
	if status, b := srv.get(t, "/api/v1/stats", viewer.Token); status != 200 {
		t.Errorf("stats during the ingest: %d %s", status, b)
	}
	w.Write(parts[300])
	w.Close()
	for l := range progress {
		if !strings.HasPrefix(l, "progress: ") {
			t.Errorf("stderr of ingest --server: %q", l)
		}
	}
	if err := cli.Wait(); err != nil {
		t.Fatalf("ingest --server of a pipe: %v\n%s", err, cliOut.String())
	}
	if s := cliOut.String(); !strings.HasPrefix(s, fifo+": 600 lines in ") || !strings.Contains(s, "messages 600: accepted 600, already stored 0") {
		t.Errorf("ingest --server summary:\n%s", s)
	}
	log := srv.logs.String()
	if !strings.Contains(log, `"msg":"bulk ingest","name":"live.jsonl","lines":600`) || strings.Contains(log, key.Secret) || strings.Contains(log, admin.Token) {
		t.Errorf("server log:\n%s", log)
	}
	srv.stop(t)
}

// signedSale posts a 3505 of liveInst, signed, and returns the answer.
func signedSale(t *testing.T, base, paasid, secret string) map[string]any {
	t.Helper()
	body := strings.ReplaceAll(serveEnvelope("3505", "LIVE-3505-1", `{"selinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"YP0001",
		"fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B2","prsc_dr_name":"李医生","phar_name":"王药师",
		"phar_prac_cert_no":"YS123","hi_feesetl_type":"1","setl_id":"SETL-LIVE","mdtrt_sn":"MD1","psn_no":"36000012345678",
		"psn_cert_type":"01","certno":"11010519491231002X","psn_name":"赵六","manu_lotnum":"L2401","manu_date":"2024-01-05",
		"expy_end":"2026-01-04","rx_flag":"0","trdn_flag":"0","finl_trns_pric":"12.30","rtal_docno":"R-LIVE","sel_retn_cnt":1,
		"sel_retn_time":"2025-03-01 09:29:58","sel_retn_opter_name":"钱七","mdtrt_setl_type":"1",
		"drugtracinfo":[{"drug_trac_codg":"83857930000879766660"}]}}`), serveInst, liveInst)
	req, _ := http.NewRequest("POST", base+"/fsi/api/3505", strings.NewReader(body))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := "live-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	req.Header.Set(server.HeaderPaasID, paasid)
	req.Header.Set(server.HeaderTimestamp, ts)
	req.Header.Set(server.HeaderNonce, nonce)
	req.Header.Set(server.HeaderSignature, server.Sign(ts, secret, nonce))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &env); err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed sale: %d %s", resp.StatusCode, b)
	}
	return env
}

// TestServeScheduledScreen: serve --screen-at screens on its own, with the rule base of
// --rules, the days before the day of the run (here the test's hook makes the first run
// a second after the start); the summary is what tracewatch screen of those days gives.
func TestServeScheduledScreen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	today := time.Now().In(tracewatch.Beijing)
	serviceProvince(t, dir, data, "--start", today.AddDate(0, 0, -4).Format("2006-01-02"), "--days", "4")
	rulesFile := filepath.Join(dir, "province.rules")
	os.WriteFile(rulesFile, []byte("[trace.duplicate@1]\nenabled = false\n"), 0o644)
	var admin struct{ Token string }
	json.Unmarshal([]byte(mustCLI(t, "token", "create", "--json", "--data-dir", data, "--name", "ops", "--role", "admin")), &admin)

	srv := serveLogged(t, bin, "--data-dir", data, "--rules", rulesFile, "--screen-at", "02:00", "--screen-window", "96h", "--screen-test-delay", "1s")
	srv.logLine(t, `"msg":"screening scheduled","every_day_at":"02:00"`, time.Second)
	var started, finished struct {
		By, From, To, At   string
		Detectors          int
		Clues, New, Failed int
	}
	json.Unmarshal([]byte(srv.logLine(t, `"msg":"screening finished"`, 60*time.Second)), &finished)
	json.Unmarshal([]byte(srv.logLine(t, `"msg":"screening started"`, 0)), &started)
	at, err := time.Parse(time.RFC3339, started.At)
	if err != nil {
		t.Fatalf("started: %+v (%v)", started, err)
	}
	day := at.In(tracewatch.Beijing)
	if started.By != "schedule" || started.From != day.AddDate(0, 0, -4).Format("2006-01-02") || started.To != day.AddDate(0, 0, -1).Format("2006-01-02") ||
		started.Detectors != defaultRules(t)-1 { // the rule base disables T1
		t.Errorf("started %+v", started)
	}
	if finished.By != "schedule" || finished.Clues == 0 || finished.New != finished.Clues || finished.Failed != 0 {
		t.Errorf("finished %+v", finished)
	}
	status, b := srv.get(t, "/api/v1/clues?limit=1000", admin.Token)
	var clues struct {
		Clues []struct {
			Detector string `json:"detector"`
		} `json:"clues"`
	}
	if json.Unmarshal(b, &clues); status != 200 || len(clues.Clues) != finished.Clues {
		t.Errorf("clues: %d, %d of them, want %d", status, len(clues.Clues), finished.Clues)
	}
	for _, c := range clues.Clues {
		if strings.HasPrefix(c.Detector, "trace.duplicate") {
			t.Errorf("a clue of a rule the rule base disables: %s", c.Detector)
		}
	}
	srv.stop(t)
	// The same screen by hand finds the same clues, none new.
	out := mustCLI(t, "screen", "--data-dir", data, "--rules", rulesFile, "--from", started.From, "--to", started.To, "--at", started.At, "--json")
	if s := zeroSeconds(t, out); s.Clues != finished.Clues || s.New != 0 || len(s.Detectors) != defaultRules(t)-1 {
		t.Errorf("screen by hand: %d clues (%d new), %d detectors; the schedule's: %+v", s.Clues, s.New, len(s.Detectors), finished)
	}
}

// defaultRules counts the rules a screen runs by default (every registered rule but the
// optional ones).
func defaultRules(t *testing.T) int {
	t.Helper()
	def, err := rules.Select(nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(def)
}
