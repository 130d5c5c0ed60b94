package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"tracewatch/internal/audit"
	"tracewatch/internal/ingest"
	"tracewatch/internal/monitor"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
	"tracewatch/internal/token"
	"tracewatch/internal/workflow"
)

// defaultListen keeps the server on the loopback interface: put a TLS-terminating proxy
// in front to reach it from elsewhere (docs/api.md).
const defaultListen = "127.0.0.1:8080"

// Server limits (docs/api.md#connections-and-timeouts).
const (
	defaultShutdownGrace = 30 * time.Second // in-flight requests' time to finish after SIGINT or SIGTERM
	defaultMaxConns      = 1024             // open connections on --listen
	serviceMaxConns      = 64               // open connections on --metrics-listen
	handlerDrain         = 5 * time.Second  // after a forced close, for handlers finishing a commit
)

func init() {
	register("serve", "run the HTTP server (NHSA endpoint, operator API, bulk ingest, reference loads, screening): serve [--data-dir D] [--listen ADDR] [--metrics-listen ADDR] [--max-conns N] [--rules FILE] [--screen-at HH:MM]", runServe)
}

func runServe(e env) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	listen := fs.String("listen", defaultListen, "address to listen on (NHSA endpoint, real-time check, operator API with bearer tokens)")
	metricsListen := fs.String("metrics-listen", "", "a second address serving only /healthz, /readyz and /metrics, without a token (for probes and the scraper; keep it private); /readyz and /metrics on --listen then need a token")
	maxConns := fs.Int("max-conns", defaultMaxConns, "connections --listen holds open at once; beyond, new ones wait in the kernel's backlog (0: no limit)")
	grace := fs.Duration("shutdown-grace", defaultShutdownGrace, "after SIGINT or SIGTERM, how long the requests in flight may take before their connections are closed")
	rateLimit := fs.Float64("rate-limit", 0, "requests per second each institution may make on the signed endpoints (0: no limit); beyond it: 429 with an NHSA envelope")
	journal := journalFlag(fs)
	rateBurst := fs.Int("rate-burst", 0, "burst allowed above --rate-limit (default: one second's worth)")
	rulesFile := rulesFlag(fs)
	wfFile := fs.String("workflow", "", "the workflow configuration: quorum, deadlines, points thresholds (default DATA_DIR/workflow.json when it exists; docs/workflow.md)")
	monFile := fs.String("monitor", "", "the monitoring configuration: drop alerts and health grades (default DATA_DIR/monitor.json when it exists; docs/web.md)")
	screenAt := fs.String("screen-at", "", "screen every day at this time, HH:MM Beijing time (02:00), the whole days before the day of the run (--screen-window) with the rule base of --rules; default: no scheduled screening")
	screenWindow := fs.Duration("screen-window", 24*time.Hour, "the window of a scheduled screening, whole days before the day of the run (24h: the previous day)")
	screenTestDelay := fs.Duration("screen-test-delay", 0, "for tests: make the first scheduled screening this long after the start instead of at --screen-at")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch serve [--data-dir D] [--listen ADDR] [--metrics-listen ADDR] [--max-conns N] [--rules FILE] [--screen-at HH:MM [--screen-window 24h]] [--workflow FILE]")
		fmt.Fprintln(e.stderr, "Serves POST /fsi/api/{infno} (signed NHSA messages) and the operator API /api/v1 (users sign in or send their tokens: tracewatch user create, user token; docs/api.md).")
		fmt.Fprintln(e.stderr, "Stops on SIGINT or SIGTERM after the requests in flight (at most --shutdown-grace).")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() > 0 || *maxConns < 0 || *grace < 0 {
		fs.Usage()
		return exitUsage
	}
	sched, err := parseSchedule(*screenAt, *screenWindow, *screenTestDelay)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	ruleFile, err := openRuleFile(*dir, *rulesFile)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	ruleBase, err := ruleFile.Base()
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	master, err := server.LoadOrCreateMasterKey(*dir)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	users, err := token.Users(*dir)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	tokens, err := token.List(*dir)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	if *wfFile == "" {
		*wfFile = workflowPath(*dir)
	}
	wf, err := workflow.Load(*wfFile)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	if *monFile == "" {
		*monFile = filepath.Join(*dir, monitor.FileName)
	}
	mon, err := monitor.Load(*monFile)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	auditLog, err := audit.Open(auditDir(*dir))
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	hashKey, err := loadOrCreateKey(*dir, "certno-hash.key") // what load hashes ID numbers with
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	st, err := openServeStore(ctx, *dir, *journal)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	defer st.Close() // after the server has stopped (deferred calls run last-in first-out)
	in, err := ingest.New(ctx, st)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	// The real-time check's index loads in the background; /readyz says when it is done.
	index := rules.NewIndex()
	index.SetRules(ruleBase.All()) // the counter runs T1–T4 and C8 with the rule base's settings
	go func() {
		start := time.Now()
		if err := index.Load(ctx, st); err != nil {
			logger.Error("loading the check index", "err", err.Error())
			return
		}
		held, recv := index.Size()
		logger.Info("check index loaded", "held_codes", held, "received_codes", recv, "seconds", time.Since(start).Seconds())
	}()
	screens := newScreener(st, ruleFile.Base, logger) // each screening reads the file's base as it stands
	srv, err := server.New(server.Config{Store: st, Ingester: in, MasterKey: master, Logger: logger, Index: index,
		RateLimit: *rateLimit, RateBurst: *rateBurst, Tokens: token.Open(*dir, nil), ServiceListener: *metricsListen != "",
		Audit: auditLog, Workflow: wf, DataDir: *dir, Screen: screens.serve, HashKey: hashKey,
		Facts: st, Monitor: mon, Rules: ruleFile})
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	// Handlers see a context that a forced close cancels; inflight lets the store wait
	// for the handlers that are finishing a commit.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	var inflight sync.WaitGroup
	counted := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			h.ServeHTTP(w, r)
		})
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           counted(h),
			ReadHeaderTimeout: 10 * time.Second, // a connection that sends no request is closed after 10 s
			ReadTimeout:       60 * time.Second, // the whole request, body included: bounds a slow body
			WriteTimeout:      90 * time.Second, // a commit under load, then the answer
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return base },
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	servers := []*http.Server{newServer(srv.Handler())}
	listeners := []net.Listener{server.LimitListener(ln, *maxConns)}
	if *metricsListen != "" {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			ln.Close()
			return fail(e.stderr, "serve", err)
		}
		servers = append(servers, newServer(srv.ServiceHandler()))
		listeners = append(listeners, server.LimitListener(mln, serviceMaxConns))
	}
	served := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { served <- hs.Serve(listeners[i]) }()
	}
	fmt.Fprintf(e.stderr, "listening on %s\n", ln.Addr())
	if len(listeners) > 1 {
		fmt.Fprintf(e.stderr, "service endpoints (/healthz, /readyz, /metrics) on %s\n", listeners[1].Addr())
	}
	go func() { // the dashboard's default period, read once so that the first 首页 is quick
		if err := srv.WarmDashboard(base); err != nil && base.Err() == nil {
			logger.Warn("reading the dashboard's figures", "err", err.Error())
		}
	}()
	scheduled := sched.start(ctx, screens)
	if !slices.ContainsFunc(tokens, func(t token.Entry) bool { return !t.Revoked }) && !slices.ContainsFunc(users, func(u token.UserRecord) bool { return !u.Disabled }) {
		fmt.Fprintln(e.stderr, "no user or token yet: the /api/v1 operator endpoints answer 401 until one is made (tracewatch user create --name NAME --role admin --region CODE)")
	}

	var serveErr error
	pending := len(servers)
	select {
	case serveErr = <-served: // Serve failed on its own
		pending--
	case <-ctx.Done():
	}
	stop() // a second signal kills at once
	fmt.Fprintln(e.stderr, "shutting down: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, hs := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Shutdown(sctx); err != nil {
				// The grace is over: close what is still open (slow or stuck clients).
				hs.Close()
			}
		}()
	}
	wg.Wait()
	if sctx.Err() != nil {
		fmt.Fprintf(e.stderr, "shutdown: grace of %v over, closed the connections still open\n", *grace)
	}
	cancelBase()
	drained := make(chan struct{})
	go func() { inflight.Wait(); <-scheduled; close(drained) }()
	select {
	case <-drained:
	case <-time.After(handlerDrain):
		fmt.Fprintln(e.stderr, "shutdown: handlers still running; closing the store under them")
	}
	for ; pending > 0; pending-- {
		if err := <-served; serveErr == nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fail(e.stderr, "serve", serveErr)
	}
	if err := st.Close(); err != nil {
		return fail(e.stderr, "serve: closing the store", err)
	}
	fmt.Fprintln(e.stderr, "stopped")
	return exitOK
}
