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
	"syscall"
	"time"

	"tracewatch/internal/detect"
	"tracewatch/internal/ingest"
	"tracewatch/internal/server"
)

// defaultListen keeps the server on the loopback interface: the operator API has no
// authentication yet (docs/api.md).
const defaultListen = "127.0.0.1:8080"

// shutdownGrace is how long in-flight requests get to finish after SIGINT or SIGTERM.
const shutdownGrace = 30 * time.Second

func init() {
	register("serve", "run the HTTP server (NHSA endpoint, operator API): serve [--data-dir D] [--listen ADDR]", runServe)
}

func runServe(e env) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	listen := fs.String("listen", defaultListen, "address to listen on; the /api/v1 endpoints have no authentication yet: keep them off public interfaces")
	rateLimit := fs.Float64("rate-limit", 0, "requests per second each institution may make on the signed endpoints (0: no limit); beyond it: 429 with an NHSA envelope")
	journal := journalFlag(fs)
	rateBurst := fs.Int("rate-burst", 0, "burst allowed above --rate-limit (default: one second's worth)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch serve [--data-dir D] [--listen ADDR]")
		fmt.Fprintln(e.stderr, "Serves POST /fsi/api/{infno} (signed NHSA messages) and the operator API /api/v1 (docs/api.md).")
		fmt.Fprintln(e.stderr, "Stops on SIGINT or SIGTERM after the requests in flight.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	master, err := server.LoadOrCreateMasterKey(*dir)
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
	index := detect.NewIndex()
	go func() {
		start := time.Now()
		if err := index.Load(ctx, st); err != nil {
			logger.Error("loading the check index", "err", err.Error())
			return
		}
		held, recv := index.Size()
		logger.Info("check index loaded", "held_codes", held, "received_codes", recv, "seconds", time.Since(start).Seconds())
	}()
	srv, err := server.New(server.Config{Store: st, Ingester: in, MasterKey: master, Logger: logger, Index: index,
		RateLimit: *rateLimit, RateBurst: *rateBurst})
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(e.stderr, "serve", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second, // a commit under load, then the answer
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(e.stderr, "listening on %s\n", ln.Addr())

	select {
	case err := <-served: // Serve failed on its own
		return fail(e.stderr, "serve", err)
	case <-ctx.Done():
	}
	stop() // a second signal kills at once
	fmt.Fprintln(e.stderr, "shutting down: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		fail(e.stderr, "serve: shutdown", err)
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(e.stderr, "serve", err)
	}
	if err := st.Close(); err != nil {
		return fail(e.stderr, "serve: closing the store", err)
	}
	fmt.Fprintln(e.stderr, "stopped")
	return exitOK
}
