package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// accessRecord is what a handler adds to its access-log line. It holds no bodies, no
// person data and no secrets: the paasid a request claims (an identifier, not a
// secret), the verified institution, the msgid, and the public reason of a refusal.
type accessRecord struct {
	paasid      string
	institution string
	msgid       string
	reason      string
	replayed    bool
	route       string // the route pattern, for the metrics
	operator    string // the name of the operator token
}

type recordKey struct{}

// recordOf returns the request's access record (a throwaway one outside accessLog).
func recordOf(r *http.Request) *accessRecord {
	if rec, ok := r.Context().Value(recordKey{}).(*accessRecord); ok {
		return rec
	}
	return &accessRecord{}
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request: method, path (never the query),
// status, duration, and what the handler recorded.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &accessRecord{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
			slog.String("remote", r.RemoteAddr),
		}
		if rec.paasid != "" {
			attrs = append(attrs, slog.String("paasid", rec.paasid))
		}
		if rec.institution != "" {
			attrs = append(attrs, slog.String("institution", rec.institution))
		}
		if rec.operator != "" {
			attrs = append(attrs, slog.String("operator", rec.operator))
		}
		if rec.msgid != "" {
			attrs = append(attrs, slog.String("msgid", rec.msgid))
		}
		if rec.replayed {
			attrs = append(attrs, slog.Bool("replayed", true))
		}
		if rec.reason != "" {
			attrs = append(attrs, slog.String("refused", rec.reason))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http", attrs...)
		route := rec.route
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, sw.status, time.Since(start))
	})
}

// writeJSON writes v as JSON (HTML characters unescaped: GS1 codes and Chinese text
// stay readable).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing to do
}

// writeRaw writes stored JSON bytes verbatim.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
