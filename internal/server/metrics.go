package server

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// metrics are the service's counters, written in the Prometheus text format on
// GET /metrics. Hand-rolled: a few histograms and counters need no client library.
type metrics struct {
	mu       sync.Mutex
	latency  map[string]*histogram // by route pattern
	requests map[[2]string]int64   // route, status class
	ingested map[[2]string]int64   // infno, result (accepted, replayed, refused)
	checks   int64
	findings int64
	started  time.Time
}

var latencyBuckets = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []int64 // per bucket, cumulative at write time
	sum    float64
	n      int64
}

func newMetrics() *metrics {
	return &metrics{latency: map[string]*histogram{}, requests: map[[2]string]int64{}, ingested: map[[2]string]int64{}, started: time.Now()}
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]int64, len(latencyBuckets))}
		m.latency[route] = h
	}
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += sec
	h.n++
	m.requests[[2]string{route, fmt.Sprintf("%dxx", status/100)}]++
}

func (m *metrics) ingest(infno, result string) {
	m.ingestN(infno, result, 1)
}

// ingestN counts n messages of one interface with one result (a bulk ingest's).
func (m *metrics) ingestN(infno, result string, n int) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	m.ingested[[2]string{infno, result}] += int64(n)
	m.mu.Unlock()
}

func (m *metrics) checked(findings int) {
	m.mu.Lock()
	m.checks++
	m.findings += int64(findings)
	m.mu.Unlock()
}

// write writes every metric; extra adds gauges computed at scrape time.
func (m *metrics) write(w io.Writer, gauges map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP tracewatch_http_request_duration_seconds Request latency by route.")
	fmt.Fprintln(w, "# TYPE tracewatch_http_request_duration_seconds histogram")
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		h := m.latency[r]
		var cum int64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "tracewatch_http_request_duration_seconds_bucket{route=%q,le=\"%g\"} %d\n", r, b, cum)
		}
		fmt.Fprintf(w, "tracewatch_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", r, h.n)
		fmt.Fprintf(w, "tracewatch_http_request_duration_seconds_sum{route=%q} %g\n", r, h.sum)
		fmt.Fprintf(w, "tracewatch_http_request_duration_seconds_count{route=%q} %d\n", r, h.n)
	}
	fmt.Fprintln(w, "# HELP tracewatch_http_requests_total Requests by route and status class.")
	fmt.Fprintln(w, "# TYPE tracewatch_http_requests_total counter")
	for _, k := range sortedKeys(m.requests) {
		fmt.Fprintf(w, "tracewatch_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP tracewatch_ingest_messages_total NHSA messages by infno and result.")
	fmt.Fprintln(w, "# TYPE tracewatch_ingest_messages_total counter")
	for _, k := range sortedKeys(m.ingested) {
		fmt.Fprintf(w, "tracewatch_ingest_messages_total{infno=%q,result=%q} %d\n", k[0], k[1], m.ingested[k])
	}
	fmt.Fprintln(w, "# HELP tracewatch_checks_total Real-time checks answered.")
	fmt.Fprintln(w, "# TYPE tracewatch_checks_total counter")
	fmt.Fprintf(w, "tracewatch_checks_total %d\n", m.checks)
	fmt.Fprintln(w, "# HELP tracewatch_check_findings_total Findings (violations, warnings, notices) in check answers.")
	fmt.Fprintln(w, "# TYPE tracewatch_check_findings_total counter")
	fmt.Fprintf(w, "tracewatch_check_findings_total %d\n", m.findings)
	names := make([]string, 0, len(gauges))
	for n := range gauges {
		names = append(names, n)
	}
	sort.Strings(names)
	last := ""
	for _, n := range names {
		if base, _, _ := strings.Cut(n, "{"); base != last {
			fmt.Fprintf(w, "# TYPE %s gauge\n", base)
			last = base
		}
		fmt.Fprintf(w, "%s %g\n", n, gauges[n])
	}
	fmt.Fprintf(w, "# TYPE tracewatch_uptime_seconds gauge\ntracewatch_uptime_seconds %g\n", time.Since(m.started).Seconds())
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
}

func sortedKeys(m map[[2]string]int64) [][2]string {
	ks := make([][2]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i][0] != ks[j][0] {
			return ks[i][0] < ks[j][0]
		}
		return ks[i][1] < ks[j][1]
	})
	return ks
}

// journaled is a store that acknowledges from a journal (duckdb.Options.Journal).
type journaled interface {
	JournalStatus() (lag int64, err error)
}

// handleMetrics answers GET /metrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	g := map[string]float64{}
	if s.index != nil {
		held, recv := s.index.Size()
		g["tracewatch_index_codes{set=\"held\"}"] = float64(held)
		g["tracewatch_index_codes{set=\"received\"}"] = float64(recv)
		ready := 0.0
		if s.index.Ready() {
			ready = 1
		}
		g["tracewatch_index_ready"] = ready
	}
	if js, ok := s.st.(journaled); ok {
		lag, err := js.JournalStatus()
		g["tracewatch_journal_lag_records"] = float64(lag)
		failing := 0.0
		if err != nil {
			failing = 1
		}
		g["tracewatch_journal_apply_failing"] = failing
	}
	if n, err := s.st.DeadLetters(r.Context()); err == nil {
		g["tracewatch_dead_letters_total"] = float64(n) // records set aside: see quarantine list
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g["go_memstats_heap_inuse_bytes"] = float64(ms.HeapInuse)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, g)
}

// handleReady answers GET /readyz: 200 once the store answers and the check index is
// loaded, 503 before.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if js, ok := s.st.(journaled); ok {
		// Acknowledged messages that cannot reach the store hold every read back.
		if _, err := js.JournalStatus(); err != nil {
			s.log.ErrorContext(r.Context(), "journal apply failing", "err", err.Error())
			http.Error(w, "journal: applying acknowledged messages to the store fails (see the log)", http.StatusServiceUnavailable)
			return
		}
	}
	if _, err := s.st.Stats(r.Context()); err != nil {
		http.Error(w, "store: "+publicMessage(err), http.StatusServiceUnavailable)
		return
	}
	if s.index != nil && !s.index.Ready() {
		http.Error(w, "loading the check index", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
	if n, err := s.st.DeadLetters(r.Context()); err == nil && n > 0 {
		fmt.Fprintf(w, "dead letters: %d (messages that could not be stored, listed in the quarantine)\n", n)
	}
}

// limiters hold one token bucket per institution.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	by    map[string]*rate.Limiter
}

// allow reports whether the institution may make one more request now.
func (s *Server) allow(institution string) bool {
	if s.limits == nil {
		return true
	}
	l := s.limits
	l.mu.Lock()
	lim := l.by[institution]
	if lim == nil {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.by[institution] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}
