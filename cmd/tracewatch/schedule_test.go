package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
	"tracewatch/internal/token"
)

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		at     string
		window time.Duration
		want   *schedule
		field  string
	}{
		{"", 24 * time.Hour, nil, ""},
		{"02:00", 24 * time.Hour, &schedule{hour: 2, days: 1}, ""},
		{"23:59", 72 * time.Hour, &schedule{hour: 23, minute: 59, days: 3}, ""},
		{"2:00", 24 * time.Hour, nil, "screen-at"},
		{"24:00", 24 * time.Hour, nil, "screen-at"},
		{"02:60", 24 * time.Hour, nil, "screen-at"},
		{"0200", 24 * time.Hour, nil, "screen-at"},
		{"-1:00", 24 * time.Hour, nil, "screen-at"},
		{"02:00", 36 * time.Hour, nil, "screen-window"},
		{"02:00", 0, nil, "screen-window"},
	} {
		got, err := parseSchedule(tc.at, tc.window, 0)
		var te *tracewatch.Error
		if tc.field != "" {
			if !errors.As(err, &te) || te.Field != tc.field || tracewatch.KindOf(err) != tracewatch.KindInvalid {
				t.Errorf("%q %v: %v, want an invalid %s", tc.at, tc.window, err, tc.field)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %v: %+v %v, want %+v", tc.at, tc.window, got, err, tc.want)
		}
	}
}

// TestScheduleLoop drives the schedule with a clock of its own: every run at 02:00
// Beijing time screens the day before; a run that overruns the next instant makes the
// following one the next instant after it, never two at once; a cancelled context stops
// the loop.
func TestScheduleLoop(t *testing.T) {
	sched, err := parseSchedule("02:00", 24*time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2025, 3, 1, 10, 0, 0, 0, tracewatch.Beijing) // started at 10:00
	var waited []time.Time
	var got []server.ScreenRequest
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := func(ctx context.Context, t time.Time) bool {
		waited = append(waited, t)
		if ctx.Err() != nil {
			return false
		}
		clock = t
		return true
	}
	run := func(ctx context.Context, t time.Time) {
		got = append(got, sched.request(t))
		if len(got) == 2 {
			clock = clock.Add(30 * time.Hour) // the second run takes 30 hours
		}
		if len(got) == 4 {
			cancel()
		}
	}
	sched.loop(ctx, func() time.Time { return clock }, wait, run)
	at := func(d int) time.Time { return time.Date(2025, 3, d, 2, 0, 0, 0, tracewatch.Beijing) }
	if want := []time.Time{at(2), at(3), at(5), at(6)}; !reflect.DeepEqual(waited, want) {
		t.Errorf("waited for %v, want %v", waited, want)
	}
	want := []server.ScreenRequest{
		{From: "2025-03-01", To: "2025-03-01", At: "2025-03-02T02:00:00+08:00", By: "schedule"},
		{From: "2025-03-02", To: "2025-03-02", At: "2025-03-03T02:00:00+08:00", By: "schedule"},
		{From: "2025-03-04", To: "2025-03-04", At: "2025-03-05T02:00:00+08:00", By: "schedule"},
		{From: "2025-03-05", To: "2025-03-05", At: "2025-03-06T02:00:00+08:00", By: "schedule"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n got %+v\nwant %+v", got, want)
	}

	// Three days, started exactly at the time of day: the first run is the next day's;
	// a start in UTC is the same instant.
	sched, _ = parseSchedule("00:30", 72*time.Hour, 0)
	start := time.Date(2025, 3, 9, 16, 30, 0, 0, time.UTC) // 2025-03-10 00:30 Beijing
	if n := sched.next(start); !n.Equal(time.Date(2025, 3, 11, 0, 30, 0, 0, tracewatch.Beijing)) {
		t.Errorf("next after %v: %v", start, n)
	}
	if r := sched.request(sched.next(start)); r.From != "2025-03-08" || r.To != "2025-03-10" {
		t.Errorf("three days: %+v", r)
	}
	// The test delay: the first run that long after the start.
	sched, _ = parseSchedule("02:00", 24*time.Hour, 1500*time.Millisecond)
	if f := sched.firstRun(start); !f.Equal(start.Add(time.Second)) {
		t.Errorf("first run with a delay: %v", f)
	}
}

// serviceProvince generates a small province and loads it with the commands into a new
// store in data; it returns the province directory.
func serviceProvince(t *testing.T, dir, data string, genArgs ...string) string {
	t.Helper()
	prov := filepath.Join(dir, "province")
	args := append([]string{"gen", "--seed", "3", "--out", prov, "--scale", "tiny", "--days", "10"}, genArgs...)
	if code, _, errOut := runCLI(t, "", args...); code != exitOK {
		t.Fatalf("gen: %d %s", code, errOut)
	}
	if data == "" {
		return prov
	}
	for _, k := range refload.Kinds() {
		if code, _, errOut := runCLI(t, "", "load", "--data-dir", data, string(k), filepath.Join(prov, "reference", string(k)+".csv")); code != exitOK {
			t.Fatalf("load %s: %d %s", k, code, errOut)
		}
	}
	files, _ := filepath.Glob(filepath.Join(prov, "messages", "*.jsonl"))
	if code, _, errOut := runCLI(t, "", append([]string{"ingest", "--data-dir", data}, files...)...); code != exitOK {
		t.Fatalf("ingest: %d %s", code, errOut)
	}
	return prov
}

// heldWriter is a progress writer that holds the screening at its first line until
// released.
type heldWriter struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (w *heldWriter) Write(b []byte) (int, error) {
	w.once.Do(func() {
		close(w.started)
		<-w.release
	})
	return len(b), nil
}

// syncLog is a log sink for goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestScreenerOneAtATime: serve's screenings run one at a time over the store serve
// holds: while one runs, POST /api/v1/screen answers 409 and the rest of the server
// answers; a scheduled one waits for it; then a screening through the endpoint answers
// the summary tracewatch screen --json prints. Start and end are logged with counts.
func TestScreenerOneAtATime(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	serviceProvince(t, dir, data)
	ctx := context.Background()
	st, err := duckdb.Open(ctx, data, duckdb.Options{Threads: 2, Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs syncLog
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	rf, err := openRuleFile(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	sc := newScreener(st, rf.Base, logger)
	in, err := ingest.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	master, err := server.LoadOrCreateMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.Create(data, "ops", token.RoleAdmin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Ingester: in, MasterKey: master, Logger: logger, Tokens: token.Open(data, nil), Screen: sc.serve})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	post := func(body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/screen", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// A scheduled screening of the ten days, held at its first progress line.
	held := &heldWriter{started: make(chan struct{}), release: make(chan struct{})}
	req := server.ScreenRequest{From: "2025-07-01", To: "2025-07-10", At: "2025-07-11T02:00:00+08:00", By: "schedule"}
	first := make(chan screenSummary, 1)
	go func() {
		sum, err := sc.screen(ctx, req, held, true)
		if err != nil {
			t.Error(err)
		}
		first <- sum
	}()
	<-held.started
	status, b := post(`{"from":"2025-07-01","to":"2025-07-10"}`)
	var e struct{ Error, Message string }
	if status != http.StatusConflict || json.Unmarshal(b, &e) != nil || e.Error != "conflict" ||
		!strings.HasPrefix(e.Message, "a screening is already running (asked by schedule, since ") {
		t.Errorf("a second screening: %d %s", status, b)
	}
	if _, err := sc.screen(ctx, req, io.Discard, false); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a second screening in the process: %v", err)
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz while screening: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A scheduled screening waits for the one under way.
	second := make(chan screenSummary, 1)
	go func() {
		sum, _ := sc.screen(ctx, req, io.Discard, true)
		second <- sum
	}()
	select {
	case <-second:
		t.Fatal("a waiting screening ran alongside the one under way")
	case <-time.After(200 * time.Millisecond):
	}
	close(held.release)
	sum1 := <-first
	sum2 := <-second
	if sum1.Clues == 0 || sum1.New != sum1.Clues || sum2.Clues != sum1.Clues || sum2.New != 0 {
		t.Errorf("first %d clues (%d new), second %d (%d new): want some, all new, then the same none new", sum1.Clues, sum1.New, sum2.Clues, sum2.New)
	}

	// Through the endpoint, once the others are done: the same summary, nothing new.
	status, b = post(`{"from":"2025-07-01","to":"2025-07-10","at":"2025-07-11T02:00:00+08:00"}`)
	var sum3 screenSummary
	if status != 200 || json.Unmarshal(b, &sum3) != nil {
		t.Fatalf("screen: %d %s", status, b)
	}
	zero := func(s screenSummary) screenSummary {
		s.Detectors = append([]detectorSummary(nil), s.Detectors...)
		for i := range s.Detectors {
			s.Detectors[i].Seconds = 0
		}
		s.New = 0
		return s
	}
	if !reflect.DeepEqual(zero(sum3), zero(sum1)) || sum3.New != 0 || sum3.Window["from"] != "2025-07-01" || sum3.Window["to"] != "2025-07-10" {
		t.Errorf("endpoint summary:\n%+v\nscheduled:\n%+v", sum3, sum1)
	}
	// Its JSON is what tracewatch screen --json prints (keys and all), indentation aside.
	var printed bytes.Buffer
	writeScreen(&printed, io.Discard, sum3, true)
	var a, p any
	json.Unmarshal(b, &a)
	json.Unmarshal(printed.Bytes(), &p)
	if !reflect.DeepEqual(a, p) {
		t.Errorf("the endpoint's JSON differs from screen --json:\n%s\n%s", b, printed.Bytes())
	}
	// A bad request is refused before it waits or runs.
	if status, b := post(`{"detectors":["T99"]}`); status != 400 || !strings.Contains(string(b), "T99") {
		t.Errorf("unknown detector: %d %s", status, b)
	}
	log := logs.String()
	def, _ := rules.Select(nil) // the rules a screen runs by default
	for _, want := range []string{`"msg":"screening started","by":"schedule","from":"2025-07-01","to":"2025-07-10"`,
		`"msg":"screening finished","by":"schedule","detectors":` + strconv.Itoa(len(def)), `"msg":"screening started","by":"ops"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, `"msg":"screening finished"`); n != 3 {
		t.Errorf("%d screenings finished, want 3", n)
	}
	if !strings.Contains(log, `"clues":`+itoa(sum1.Clues)+`,"new":`+itoa(sum1.New)) {
		t.Errorf("the log has no counts:\n%s", log)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
