package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tracewatch"
	"tracewatch/internal/server"
	"tracewatch/internal/token"
)

func init() {
	benchCommands["soak"] = runBenchSoak
}

// soakKinds are the request kinds a soak mixes: signed 3505 sales, real-time checks and
// operator reads (with a viewer token).
var soakKinds = []string{"3505", "check", "api"}

// soakWindow is what one reporting window saw.
type soakWindow struct {
	At      string             `json:"at"` // offset from the start, e.g. "30s"
	OK      map[string]int     `json:"ok"`
	Failed  map[string]int     `json:"failed"`
	P99MS   map[string]float64 `json:"p99_ms"`
	RSSMB   float64            `json:"rss_mb"` // the server's resident set at the window's end
	Restart bool               `json:"restart,omitempty"`
}

// soakSummary is the outcome of a soak (`--json` prints it).
type soakSummary struct {
	Duration     string             `json:"duration"`
	Restarts     int                `json:"restarts"`
	Acknowledged int                `json:"acknowledged"` // 3505 messages answered infcode 0
	Stored       int                `json:"stored"`       // of those, found in the store afterwards
	Lost         int                `json:"lost"`         // acknowledged and not stored: must be 0
	Retried      int                `json:"retried"`      // sends repeated after a failure (same msgid)
	Refused      int                `json:"refused"`      // answered infcode -1 (none expected)
	P99MS        map[string]float64 `json:"p99_ms"`
	MaxRSSMB     float64            `json:"max_rss_mb"`
	Windows      []soakWindow       `json:"windows"`
}

// runBenchSoak runs `tracewatch serve` as a child process for --duration under a steady
// mix of signed 3505 sales, real-time checks and operator reads, kills it with SIGKILL
// every --kill-every and restarts it, then checks that every acknowledged sale is in the
// store. It reports, per window, what succeeded, the p99 latency by kind and the
// server's RSS.
func runBenchSoak(e env) int {
	fs := flag.NewFlagSet("bench soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Minute, "how long to run")
	rateFlag := fs.Float64("rate", 200, "requests per second, all kinds together (70 % 3505, 20 % checks, 10 % operator reads)")
	killEvery := fs.Duration("kill-every", 2*time.Minute, "kill the server with SIGKILL and restart it this often (0: never)")
	window := fs.Duration("window", 30*time.Second, "reporting window")
	clients := fs.Int("clients", 32, "concurrent clients")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if *duration <= 0 || *rateFlag <= 0 || *clients <= 0 || *window <= 0 {
		fmt.Fprintln(e.stderr, "bench soak: --duration, --rate, --clients and --window must be positive")
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(e.stderr, "bench soak", err)
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "tracewatch-bench-soak-")
		if err != nil {
			return fail(e.stderr, "bench soak", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	data := filepath.Join(work, "data")
	ctx := context.Background()

	// The store: institutions, their keys, a viewer token.
	creds, tok, err := soakSetup(ctx, data)
	if err != nil {
		return fail(e.stderr, "bench soak", err)
	}
	// The sales to post: enough for the whole run, each with a run tag in its msgid.
	n3505 := int(*rateFlag*duration.Seconds()*0.7) + 100
	var buf bytes.Buffer
	if _, err := writeSales(&buf, n3505, uint64(time.Now().UnixNano())); err != nil {
		return fail(e.stderr, "bench soak", err)
	}
	tagged := bytes.ReplaceAll(buf.Bytes(), []byte(`"msgid":"`), []byte(`"msgid":"K`+strconv.FormatInt(time.Now().Unix()%1e6, 36)))
	msgs := bytes.Split(bytes.TrimSuffix(tagged, []byte("\n")), []byte("\n"))

	srv := &soakServer{exe: exe, data: data, stderr: e.stderr}
	if err := srv.start(); err != nil {
		return fail(e.stderr, "bench soak", err)
	}
	defer srv.kill()

	r := &soakRun{srv: srv, msgs: msgs, creds: creds, token: tok, acked: map[tracewatch.MessageKey]bool{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}}
	r.resetWindow()
	fmt.Fprintf(e.stderr, "soak: %s at %.0f requests/s, SIGKILL every %s, %d clients; server pid %d\n", *duration, *rateFlag, *killEvery, *clients, srv.pid())

	jobs := make(chan int, *clients*4)
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 0x50a4))
			for i := range jobs {
				r.do(i, rng)
			}
		}(c)
	}

	start := time.Now()
	summary := soakSummary{Duration: duration.String(), P99MS: map[string]float64{}}
	all := map[string][]time.Duration{}
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rateFlag))
	defer tick.Stop()
	nextWindow := start.Add(*window)
	nextKill := start.Add(*killEvery)
	restarted := false
	for i := 0; time.Since(start) < *duration; {
		now := <-tick.C
		select {
		case jobs <- i:
			i++
		default: // every client busy: this tick's request is skipped, the rate drops
		}
		if *killEvery > 0 && now.After(nextKill) && time.Until(start.Add(*duration)) > *killEvery/4 {
			if err := srv.restart(); err != nil {
				close(jobs)
				wg.Wait()
				return fail(e.stderr, "bench soak", err)
			}
			summary.Restarts++
			restarted = true
			nextKill = time.Now().Add(*killEvery)
		}
		if now.After(nextWindow) {
			w := r.takeWindow(time.Since(start), srv.rss(), restarted, all)
			restarted = false
			summary.Windows = append(summary.Windows, w)
			summary.MaxRSSMB = max(summary.MaxRSSMB, w.RSSMB)
			fmt.Fprintf(e.stderr, "soak %6s  3505 %5d ok %4d failed p99 %7.1f ms | check %5d ok p99 %6.1f ms | api %4d ok p99 %6.1f ms | RSS %6.0f MB%s\n",
				w.At, w.OK["3505"], w.Failed["3505"], w.P99MS["3505"], w.OK["check"], w.P99MS["check"], w.OK["api"], w.P99MS["api"], w.RSSMB,
				map[bool]string{true: "  (restarted)"}[w.Restart])
			nextWindow = nextWindow.Add(*window)
		}
	}
	close(jobs)
	wg.Wait()
	// Sales that failed (the server was down) are sent again, with their msgids, until
	// answered: a replay of one already stored gets its first answer.
	for pass := 0; pass < 5 && r.retryLen() > 0; pass++ {
		for _, i := range r.takeRetries() {
			r.send3505(i)
		}
	}
	w := r.takeWindow(time.Since(start), srv.rss(), restarted, all)
	summary.Windows = append(summary.Windows, w)
	summary.MaxRSSMB = max(summary.MaxRSSMB, w.RSSMB)
	for _, k := range soakKinds {
		summary.P99MS[k] = p99ms(all[k])
	}
	if err := srv.stop(); err != nil {
		fmt.Fprintf(e.stderr, "bench soak: stopping the server: %v\n", err)
	}

	// Every acknowledged sale must be in the store.
	st, err := openStore(ctx, data)
	if err != nil {
		return fail(e.stderr, "bench soak", err)
	}
	defer st.Close()
	summary.Acknowledged, summary.Retried, summary.Refused = len(r.acked), int(r.retried.Load()), int(r.refused.Load())
	var lost []string
	for k := range r.acked {
		if _, err := st.Message(ctx, k.Institution, k.MsgID); err != nil {
			if tracewatch.KindOf(err) != tracewatch.KindNotFound {
				return fail(e.stderr, "bench soak", err)
			}
			lost = append(lost, k.MsgID)
			continue
		}
		summary.Stored++
	}
	summary.Lost = len(lost)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(summary)
	} else {
		fmt.Fprintf(e.stdout, "soak %s: %d restarts (SIGKILL); 3505 acknowledged %d, stored %d, lost %d; %d sends retried after a failure; %d refused\n",
			summary.Duration, summary.Restarts, summary.Acknowledged, summary.Stored, summary.Lost, summary.Retried, summary.Refused)
		fmt.Fprintf(e.stdout, "p99 over the run: 3505 %.1f ms, check %.1f ms, operator reads %.1f ms; server RSS at most %.0f MB\n",
			summary.P99MS["3505"], summary.P99MS["check"], summary.P99MS["api"], summary.MaxRSSMB)
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		fmt.Fprintf(e.stderr, "bench soak: %d acknowledged messages are not in the store, e.g. %s\n", len(lost), strings.Join(lost[:min(5, len(lost))], ", "))
		return exitFail
	}
	if summary.Acknowledged == 0 {
		fmt.Fprintln(e.stderr, "bench soak: no message was acknowledged")
		return exitFail
	}
	return exitOK
}

type soakCred struct{ inst, paasid, secret string }

// soakSetup prepares the store in data: the bench institutions with a key each, and a
// viewer token for the operator reads.
func soakSetup(ctx context.Context, data string) (map[string]soakCred, string, error) {
	st, err := createStore(ctx, data, io.Discard)
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	if err := st.UpsertInstitutions(ctx, benchInstitutions()); err != nil {
		return nil, "", err
	}
	master, err := server.LoadOrCreateMasterKey(data)
	if err != nil {
		return nil, "", err
	}
	creds := map[string]soakCred{}
	for _, in := range benchInstitutions() {
		p, s, err := server.CreateKey(ctx, st, master, in.Code, time.Now())
		if err != nil {
			return nil, "", err
		}
		creds[in.Code] = soakCred{in.Code, p, s}
	}
	tok, err := token.Create(data, "soak-"+strconv.FormatInt(time.Now().UnixNano(), 36), token.RoleViewer, time.Now())
	if err != nil {
		return nil, "", err
	}
	return creds, tok, st.Close()
}

// soakServer is the `tracewatch serve` child process.
type soakServer struct {
	exe, data string
	stderr    io.Writer

	mu   sync.Mutex
	cmd  *exec.Cmd
	base atomic.Value // string: http://addr
}

func (s *soakServer) start() error {
	cmd := exec.Command(s.exe, "serve", "--data-dir", s.data, "--listen", "127.0.0.1:0")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		said := false
		for sc.Scan() { // the access log goes on here: read it to the end
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok && !said {
				said = true
				addr <- a
			}
		}
		if !said {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			cmd.Wait()
			return fmt.Errorf("serve exited before listening")
		}
		s.base.Store("http://" + a)
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("serve did not say it was listening within 5 minutes")
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	return nil
}

func (s *soakServer) url(path string) string {
	b, _ := s.base.Load().(string)
	return b + path
}

func (s *soakServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// restart kills the server with SIGKILL, waits for it to die and starts it again.
func (s *soakServer) restart() error {
	s.kill()
	t0 := time.Now()
	if err := s.start(); err != nil {
		return err
	}
	fmt.Fprintf(s.stderr, "soak: SIGKILL, restarted in %s (pid %d)\n", time.Since(t0).Round(time.Millisecond), s.pid())
	return nil
}

func (s *soakServer) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// stop ends the server with SIGTERM (a clean stop) and waits for it.
func (s *soakServer) stop() error {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("serve did not stop within 2 minutes of SIGTERM; killed")
	}
}

// rss returns the server's resident set in MB (0 when unknown).
func (s *soakServer) rss() float64 {
	pid := s.pid()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// soakRun is the traffic side of a soak.
type soakRun struct {
	srv    *soakServer
	msgs   [][]byte
	creds  map[string]soakCred
	token  string
	client *http.Client

	next3505 atomic.Int64
	retried  atomic.Int64
	refused  atomic.Int64

	mu      sync.Mutex
	acked   map[tracewatch.MessageKey]bool
	retry   []int
	sold    []string // codes of acknowledged sales, for the checks and trace reads
	lat     map[string][]time.Duration
	ok, bad map[string]int
}

func (r *soakRun) resetWindow() {
	r.lat = map[string][]time.Duration{}
	r.ok, r.bad = map[string]int{}, map[string]int{}
}

func (r *soakRun) record(kind string, d time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.ok[kind]++
		r.lat[kind] = append(r.lat[kind], d)
	} else {
		r.bad[kind]++
	}
}

func (r *soakRun) takeWindow(at time.Duration, rss float64, restarted bool, all map[string][]time.Duration) soakWindow {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := soakWindow{At: at.Round(time.Second).String(), OK: r.ok, Failed: r.bad, P99MS: map[string]float64{}, RSSMB: rss, Restart: restarted}
	for _, k := range soakKinds {
		w.P99MS[k] = p99ms(r.lat[k])
		all[k] = append(all[k], r.lat[k]...)
	}
	r.resetWindow()
	return w
}

func (r *soakRun) retryLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retry)
}

func (r *soakRun) takeRetries() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.retry
	r.retry = nil
	return out
}

// do sends request number i: 7 in 10 are sales, 2 checks, 1 an operator read.
func (r *soakRun) do(i int, rng *rand.Rand) {
	switch i % 10 {
	case 0, 2, 3, 5, 6, 8, 9:
		// A failed sale is sent again (same msgid) before a new one.
		r.mu.Lock()
		var idx int
		if len(r.retry) > 0 {
			idx, r.retry = r.retry[0], r.retry[1:]
			r.retried.Add(1)
		} else {
			idx = -1
		}
		r.mu.Unlock()
		if idx < 0 {
			n := r.next3505.Add(1) - 1
			if n >= int64(len(r.msgs)) {
				return
			}
			idx = int(n)
		}
		r.send3505(idx)
	case 1, 7:
		r.check(i, rng)
	default:
		r.read(rng)
	}
}

func (r *soakRun) signed(path string, inst string, body []byte) (*http.Request, error) {
	cr := r.creds[inst]
	nb := make([]byte, 16)
	fillRandom(nb)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := hex.EncodeToString(nb)
	req, err := http.NewRequest("POST", r.srv.url(path), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set(server.HeaderPaasID, cr.paasid)
	req.Header.Set(server.HeaderTimestamp, ts)
	req.Header.Set(server.HeaderNonce, nonce)
	req.Header.Set(server.HeaderSignature, server.Sign(ts, cr.secret, nonce))
	return req, nil
}

func (r *soakRun) send3505(idx int) {
	m := r.msgs[idx]
	var env struct {
		MsgID string `json:"msgid"`
		Inst  string `json:"fixmedins_code"`
		Input struct {
			Selinfo struct {
				Codes []struct {
					Code string `json:"drug_trac_codg"`
				} `json:"drugtracinfo"`
			} `json:"selinfo"`
		} `json:"input"`
	}
	if err := json.Unmarshal(m, &env); err != nil {
		r.record("3505", 0, false)
		return
	}
	req, err := r.signed("/fsi/api/3505", env.Inst, m)
	if err != nil {
		r.record("3505", 0, false)
		return
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		r.record("3505", 0, false)
		r.mu.Lock()
		r.retry = append(r.retry, idx)
		r.mu.Unlock()
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	switch {
	case resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"infcode":"0"`)):
		r.record("3505", d, true)
		r.mu.Lock()
		r.acked[tracewatch.MessageKey{Institution: env.Inst, MsgID: env.MsgID}] = true
		for _, c := range env.Input.Selinfo.Codes {
			if len(r.sold) < 100_000 {
				r.sold = append(r.sold, c.Code)
			}
		}
		r.mu.Unlock()
	case resp.StatusCode == http.StatusOK:
		r.record("3505", d, false)
		r.refused.Add(1)
	default: // 503 while the store starts, a 5xx: try again later
		r.record("3505", d, false)
		r.mu.Lock()
		r.retry = append(r.retry, idx)
		r.mu.Unlock()
	}
}

// check asks the real-time check about a sold code (or one never sold).
func (r *soakRun) check(i int, rng *rand.Rand) {
	insts := benchInstitutions()
	inst := insts[rng.IntN(len(insts))].Code
	code := fmt.Sprintf("8%019d", uint64(2e18)+uint64(i))
	r.mu.Lock()
	if len(r.sold) > 0 && rng.IntN(2) == 0 {
		code = r.sold[rng.IntN(len(r.sold))]
	}
	r.mu.Unlock()
	body := fmt.Sprintf(`{"fixmedins_code":%q,"psn_no":"PSN%d","rtal_docno":"C%d","lines":[{"med_list_codg":"XA11DAW036A001010104127","quantity":"1","trdn_flag":"0","codes":[%q]}]}`,
		inst, i, i, code)
	req, err := r.signed("/api/v1/check", inst, []byte(body))
	if err != nil {
		r.record("check", 0, false)
		return
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		r.record("check", 0, false)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.record("check", time.Since(t0), resp.StatusCode == http.StatusOK)
}

// read is an operator's read with the viewer token: statistics, a code's trace, or a
// page of the quarantine.
func (r *soakRun) read(rng *rand.Rand) {
	path := "/api/v1/stats"
	switch rng.IntN(3) {
	case 1:
		r.mu.Lock()
		if len(r.sold) > 0 {
			path = "/api/v1/codes/" + r.sold[rng.IntN(len(r.sold))]
		}
		r.mu.Unlock()
	case 2:
		path = "/api/v1/quarantine?limit=10"
	}
	req, err := http.NewRequest("GET", r.srv.url(path), nil)
	if err != nil {
		r.record("api", 0, false)
		return
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		r.record("api", 0, false)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.record("api", time.Since(t0), resp.StatusCode == http.StatusOK)
}

// p99ms is the 99th percentile of ds in milliseconds (0 for none).
func p99ms(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(0.99*float64(len(s))))].Microseconds()) / 1000
}
