package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
	"tracewatch/internal/rules"
)

// One running service (docs/api.md#one-running-service): the server holds the store
// (DuckDB lets one process open it), so what `tracewatch ingest`, `load` and `screen` do
// is done here for them (their --server flag): POST /api/v1/ingest (a bulk file of
// envelopes, streamed), POST /api/v1/reference/{kind} (a reference file, all or nothing)
// and POST /api/v1/screen (a screening, one at a time). They take an admin token, and
// they do not stop the NHSA endpoint or the other requests from being answered.

// ScreenRequest is what a screening is asked to do: the flags of `tracewatch screen`, as
// the body of POST /api/v1/screen. An empty field takes screen's default.
type ScreenRequest struct {
	From      string   `json:"from,omitempty"`      // first day, YYYY-MM-DD (Beijing time)
	To        string   `json:"to,omitempty"`        // last day, YYYY-MM-DD, inclusive
	Region    string   `json:"region,omitempty"`    // a region code
	At        string   `json:"at,omitempty"`        // evaluation time, RFC 3339 (default: now)
	Detectors []string `json:"detectors,omitempty"` // as --detector (default: every rule the rule base enables)
	Params    []string `json:"params,omitempty"`    // as --param: "rule.param=value"
	// By says who asks, for the log: "schedule", or the operator token's name. It is
	// not read from the body.
	By string `json:"-"`
}

// ScreenFunc runs a screening and returns its summary (the JSON `tracewatch screen
// --json` prints), writing progress lines to progress. A screening already running is
// an error of kind conflict.
type ScreenFunc func(ctx context.Context, req ScreenRequest, progress io.Writer) (any, error)

// Limits of the service endpoints.
const (
	// bulkIdle: a bulk body may take as long as it needs, but must bring bytes at least
	// this often (the server's whole-request ReadTimeout is lifted for it).
	bulkIdle = 60 * time.Second
	// bulkWrite bounds the writing of each line of an answer.
	bulkWrite = 90 * time.Second
	// maxBulkLine bounds one line of a bulk ingest body (8 × the body of one message).
	maxBulkLine = 8 * DefaultMaxBody
	// maxBatchLines bounds ?batch_lines.
	maxBatchLines = 1_000_000
	// maxScreenBody bounds the body of POST /api/v1/screen.
	maxScreenBody = 64 << 10
)

// ndjson is the media type of a streamed answer: one JSON document per line.
const ndjson = "application/x-ndjson"

// handleIngest answers POST /api/v1/ingest?name=FILE&batch_lines=N: a body of JSONL NHSA
// envelopes (gzip too), ingested as `tracewatch ingest` ingests a file, committed in
// batches, each durable before it is reported. The answer is the file's summary
// (ingest.FileStats); with Accept: application/x-ndjson, a line {"progress": stats} per
// committed batch, then {"result": stats} or {"error": {...}}.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	const op = "server.Ingest"
	q, err := query(r, "name", "batch_lines")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	name := q.Get("name")
	if name == "" {
		name = "upload"
	}
	if err := checkText(op, "name", name, 255); err != nil {
		s.apiFail(w, r, err)
		return
	}
	batch := 0 // IngestFile's default
	if v := q.Get("batch_lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBatchLines {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a number of lines from 1 to %d", maxBatchLines).WithField("batch_lines"))
			return
		}
		batch = n
	}
	lr := newLongRequest(w)
	out := lr.stream(r)
	body, err := lr.body(r, maxBulkLine)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	defer body.Close()
	o := ingest.FileOptions{Name: name, BatchLines: batch, Now: s.now}
	if out != nil {
		o.Progress = func(fs ingest.FileStats) { out.line(r, map[string]any{"progress": fs}) }
	}
	start := time.Now()
	stats, err := s.in.IngestFile(r.Context(), indexedCommitter{s}, body, o)
	s.countIngest(stats)
	s.log.InfoContext(r.Context(), "bulk ingest", "name", scrubIDs(name), "lines", stats.Lines, "messages", stats.Messages,
		"accepted", stats.Accepted, "replayed", stats.Replayed, "refused", stats.Refused, "unreadable", stats.Unreadable,
		"dead_lettered", stats.DeadLettered, "seconds", time.Since(start).Seconds(), "complete", err == nil)
	if err == nil {
		err = s.audit(r, userOf(r).Name, "ingest", "file:"+name, map[string]any{"lines": stats.Lines, "messages": stats.Messages,
			"accepted": stats.Accepted, "refused": stats.Refused})
	}
	if err != nil {
		s.longFail(w, r, out, err)
		return
	}
	if out != nil {
		out.line(r, map[string]any{"result": stats})
		return
	}
	lr.beforeAnswer()
	writeJSON(w, http.StatusOK, stats)
}

// countIngest adds a bulk ingest's messages to the metrics.
func (s *Server) countIngest(st ingest.FileStats) {
	for infno, i := range st.ByInfno {
		s.metrics.ingestN(infno, "accepted", i.Accepted)
		s.metrics.ingestN(infno, "replayed", i.Replayed)
		s.metrics.ingestN(infno, "refused", i.Refused)
	}
}

// indexedCommitter commits the batches of a bulk ingest and brings their accepted events
// into the check index, as a message posted to /fsi/api is: after the commit, so the
// next check sees the sales. A commit under way is finished even when the client goes
// away, so that the index never misses a stored batch.
type indexedCommitter struct{ s *Server }

func (c indexedCommitter) Commit(ctx context.Context, b *tracewatch.Batch) (tracewatch.CommitResult, error) {
	res, err := c.s.st.Commit(context.WithoutCancel(ctx), b)
	if err != nil || c.s.index == nil {
		return res, err
	}
	events := b.Events
	if len(res.Replayed) > 0 || len(res.DeadLettered) > 0 {
		dead := make(map[tracewatch.MessageKey]bool, len(res.DeadLettered))
		for _, k := range res.DeadLettered {
			dead[k] = true
		}
		events = make([]tracewatch.Event, 0, len(b.Events))
		for _, e := range b.Events {
			k := tracewatch.MessageKey{Institution: e.Institution, MsgID: e.MsgID}
			if _, replayed := res.Replayed[k]; !replayed && !dead[k] {
				events = append(events, e)
			}
		}
	}
	c.s.index.Apply(events)
	return res, nil
}

// referenceAnswer is the answer of POST /api/v1/reference/{kind}.
type referenceAnswer struct {
	Kind refload.Kind `json:"kind"`
	Rows int          `json:"rows"`
}

// rowErrorsAnswer is the answer to a reference file with bad rows: the problems by line,
// as `tracewatch load` lists them; nothing was loaded.
type rowErrorsAnswer struct {
	apiError
	Kind      refload.Kind       `json:"kind"`
	RowErrors []refload.RowError `json:"row_errors"`
	Truncated bool               `json:"truncated,omitempty"` // more problems than listed: reading stopped
}

// handleReference answers POST /api/v1/reference/{kind}?format=csv|jsonl: a reference
// file (CSV or JSONL, gzip too) read, validated and upserted as `tracewatch load KIND
// FILE` does, all or nothing. ID numbers are hashed with the data directory's key
// (Config.HashKey). Once stored, the code mapping of the ingester is re-read, and the
// check index is reloaded in the background.
func (s *Server) handleReference(w http.ResponseWriter, r *http.Request) {
	const op = "server.Reference"
	kind, err := refload.ParseKind(r.PathValue("kind"))
	if err != nil {
		s.apiFail(w, r, tracewatch.E(op, tracewatch.KindNotFound, errors.Unwrap(err)).WithField("kind"))
		return
	}
	q, err := query(r, "format")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	format, err := referenceFormat(op, q.Get("format"), r.Header.Get("Content-Type"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	lr := newLongRequest(w)
	body, err := lr.body(r, 0)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	defer body.Close()
	rows, err := refload.Read(kind, format, body, refload.Options{HashKey: s.hashKey})
	if err != nil {
		var re *refload.RowErrors
		if errors.As(err, &re) {
			msg := "nothing loaded: " + re.Error()
			recordOf(r).reason = fmt.Sprintf("nothing loaded: %d problems", len(re.Errors))
			lr.beforeAnswer()
			writeJSON(w, http.StatusBadRequest, rowErrorsAnswer{apiError: apiError{Error: tracewatch.KindInvalid.String(), Message: msg},
				Kind: kind, RowErrors: re.Errors, Truncated: re.Truncated})
			return
		}
		s.apiFail(w, r, err)
		return
	}
	// Upserting is one step the caller cannot half-cancel.
	ctx := context.WithoutCancel(r.Context())
	if err := refload.Upsert(ctx, s.st, rows); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if kind == refload.KindCodeMap || kind == refload.KindPackages {
		if err := s.in.Reload(ctx); err != nil { // the next message's codes are identified with the new mapping
			s.apiFail(w, r, err)
			return
		}
	}
	s.reindex()
	s.log.InfoContext(r.Context(), "reference data loaded", "kind", string(kind), "rows", rows.Len())
	if err := s.audit(r, userOf(r).Name, "load", "reference:"+string(kind), map[string]any{"rows": rows.Len()}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	lr.beforeAnswer()
	writeJSON(w, http.StatusOK, referenceAnswer{Kind: kind, Rows: rows.Len()})
}

// referenceFormat picks the format of a reference body: ?format=, else the Content-Type.
func referenceFormat(op, param, contentType string) (refload.Format, error) {
	switch strings.ToLower(param) {
	case "csv":
		return refload.CSV, nil
	case "jsonl", "ndjson":
		return refload.JSONL, nil
	case "":
	default:
		return 0, tracewatch.Errorf(op, tracewatch.KindInvalid, "want csv or jsonl").WithField("format")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/csv":
		return refload.CSV, nil
	case ndjson, "application/jsonl", "application/x-jsonl", "application/ndjson":
		return refload.JSONL, nil
	}
	return 0, tracewatch.Errorf(op, tracewatch.KindInvalid, "say the format of the body: Content-Type text/csv or %s, or ?format=csv|jsonl", ndjson).WithField("Content-Type")
}

// reindexer reloads the check index after reference data changed (the code mapping,
// drugs, institutions and their agreements), one load at a time: the loads asked for
// while one runs make one more after it. Checks go on meanwhile with the index in use.
type reindexer struct {
	mu             sync.Mutex
	running, again bool
}

// reindex reloads the check index in the background.
func (s *Server) reindex() {
	src, ok := s.st.(rules.IndexSource)
	if s.index == nil || !ok {
		return
	}
	s.reidx.mu.Lock()
	if s.reidx.running {
		s.reidx.again = true
		s.reidx.mu.Unlock()
		return
	}
	s.reidx.running = true
	s.reidx.mu.Unlock()
	go func() {
		for {
			start := time.Now()
			if err := s.index.Load(context.Background(), src); err != nil {
				s.log.Error("reloading the check index after a reference load", "err", err.Error())
			} else {
				held, recv := s.index.Size()
				s.log.Info("check index reloaded", "held_codes", held, "received_codes", recv, "seconds", time.Since(start).Seconds())
			}
			s.reidx.mu.Lock()
			if !s.reidx.again {
				s.reidx.running = false
				s.reidx.mu.Unlock()
				return
			}
			s.reidx.again = false
			s.reidx.mu.Unlock()
		}
	}()
}

// handleScreen answers POST /api/v1/screen: a screening (Config.Screen) as `tracewatch
// screen` runs it, the body a ScreenRequest (optional). The answer is its summary; with
// Accept: application/x-ndjson, a line {"progress": "…"} per detector, then {"result":
// summary} or {"error": {...}}. A screening already running answers 409.
func (s *Server) handleScreen(w http.ResponseWriter, r *http.Request) {
	const op = "server.Screen"
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if s.screen == nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindNotFound, "this server does not screen"))
		return
	}
	b, err := readBody(w, r, maxScreenBody)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	var req ScreenRequest
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			msg := jsonProblem("body", err)
			if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				msg = "body: unknown field " + f + ": want from, to, region, at, detectors, params"
			}
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msg))
			return
		}
		if dec.More() {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "one JSON object, nothing after it").WithField("body"))
			return
		}
	}
	req.By = userOf(r).Name
	lr := newLongRequest(w)
	out := lr.stream(r)
	progress := io.Discard
	if out != nil {
		progress = &progressLines{emit: func(line string) { out.line(r, map[string]any{"progress": line}) }}
	}
	sum, err := s.screen(r.Context(), req, progress)
	if err == nil {
		err = s.audit(r, userOf(r).Name, "screen", "screen", map[string]any{"from": req.From, "to": req.To, "region": req.Region})
	}
	if err != nil {
		s.longFail(w, r, out, err)
		return
	}
	if out != nil {
		out.line(r, map[string]any{"result": sum})
		return
	}
	lr.beforeAnswer()
	writeJSON(w, http.StatusOK, sum)
}

// progressLines cuts what is written to it into lines and emits each complete one.
type progressLines struct {
	buf  []byte
	emit func(string)
}

func (p *progressLines) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.emit(string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
}

// longFail answers err: as a status and an apiError before a stream has begun, as its
// last line {"error": {...}} after.
func (s *Server) longFail(w http.ResponseWriter, r *http.Request, out *answerStream, err error) {
	if out == nil || !out.started {
		s.apiFail(w, r, err)
		return
	}
	body := apiError{Error: tracewatch.KindOf(err).String(), Message: publicMessage(err)}
	if statusOf(err) >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
	} else {
		recordOf(r).reason = body.Message
	}
	out.line(r, map[string]any{"error": body})
}

// longRequest lifts the server's whole-request timeouts (serve: ReadTimeout 60 s,
// WriteTimeout 90 s) for a request that may take hours: a bulk body must bring bytes
// every bulkIdle, and each write of the answer must finish within bulkWrite, however
// long the whole takes.
type longRequest struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newLongRequest(w http.ResponseWriter) *longRequest {
	lr := &longRequest{w: w, rc: http.NewResponseController(w)}
	// The whole-request deadlines would cut a body or a screening that takes longer:
	// lift them; each read of the body (idleReader) and each write of the answer sets
	// its own. (An error means the writer has no deadlines: nothing to lift.)
	_ = lr.rc.SetReadDeadline(time.Time{})
	_ = lr.rc.SetWriteDeadline(time.Time{})
	return lr
}

// beforeAnswer bounds the writing of the answer.
func (lr *longRequest) beforeAnswer() {
	_ = lr.rc.SetWriteDeadline(time.Now().Add(bulkWrite))
}

// stream returns the writer of a streamed answer when the client asks for one (Accept:
// application/x-ndjson), nil otherwise. Lines are written while the body is still being
// read (full duplex).
func (lr *longRequest) stream(r *http.Request) *answerStream {
	if !accepts(r, ndjson) {
		return nil
	}
	_ = lr.rc.EnableFullDuplex()
	return &answerStream{lr: lr}
}

// accepts reports whether the request's Accept header names the media type.
func accepts(r *http.Request, mediaType string) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == mediaType {
				return true
			}
		}
	}
	return false
}

// body returns the request body, decompressed when it is gzip (Content-Encoding: gzip,
// or gzip's magic bytes), each read under a fresh idle deadline; maxLine > 0 bounds the
// length of a line.
func (lr *longRequest) body(r *http.Request, maxLine int) (io.ReadCloser, error) {
	const op = "server.body"
	raw := &idleReader{r: r.Body, lr: lr}
	br := bufio.NewReaderSize(raw, 64<<10)
	var src io.Reader = br
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			enc = "gzip"
		}
		if enc != "gzip" {
			break
		}
		fallthrough
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "the gzip body does not open: %s", readProblem(err)).WithField("body")
		}
		src = zr
	default:
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "want gzip or none").WithField("Content-Encoding")
	}
	if maxLine > 0 {
		src = &lineLimiter{r: src, max: maxLine}
	}
	return &bodyReader{r: src, lr: lr, body: r.Body}, nil
}

// readProblem names a body's read error without the connection's details.
func readProblem(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "cut off"
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum):
		return "not valid gzip"
	}
	return "it came too slowly or was cut off"
}

// idleReader sets a fresh read deadline before each read of the connection.
type idleReader struct {
	r  io.Reader
	lr *longRequest
}

func (i *idleReader) Read(p []byte) (int, error) {
	_ = i.lr.rc.SetReadDeadline(time.Now().Add(bulkIdle))
	n, err := i.r.Read(p)
	if err != nil && err != io.EOF {
		// The cause (a timeout, a reset, an address) is not the client's business.
		err = tracewatch.Errorf("server.body", tracewatch.KindInvalid, "could not read the request body: it came too slowly or was cut off")
	}
	return n, err
}

// bodyReader is a long request's body as its handler reads it. At its end the idle
// deadline is lifted (a gzip stream may end before the request body does): the work
// after the body (a last commit) is not bounded by it.
type bodyReader struct {
	r    io.Reader
	lr   *longRequest
	body io.Closer
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil {
		_ = b.lr.rc.SetReadDeadline(time.Time{})
		if err != io.EOF {
			var te *tracewatch.Error
			if !errors.As(err, &te) {
				err = tracewatch.Errorf("server.body", tracewatch.KindInvalid, "the body is %s", readProblem(err))
			}
		}
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.body.Close() }

// lineLimiter refuses a line longer than max bytes (a body without line breaks would
// otherwise be held in memory whole).
type lineLimiter struct {
	r    io.Reader
	max  int
	run  int // bytes since the last line break
	line int // line breaks so far
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
			l.line++
			continue
		}
		l.run++
		if l.run > l.max {
			return 0, tracewatch.Errorf("server.body", tracewatch.KindInvalid, "line %d is longer than %d bytes (the limit of one line)", l.line+1, l.max)
		}
	}
	return n, err
}

// answerStream writes the lines of a streamed (application/x-ndjson) answer, each
// flushed at once. The status is 200, written with the first line.
type answerStream struct {
	lr      *longRequest
	started bool
	gone    bool // a write failed: the client went away
}

// line writes v as one line.
func (a *answerStream) line(r *http.Request, v any) {
	if a.gone {
		return
	}
	w := a.lr.w
	if !a.started {
		w.Header().Set("Content-Type", ndjson+"; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		a.started = true
	}
	_ = a.lr.rc.SetWriteDeadline(time.Now().Add(bulkWrite))
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		a.gone = true
		return
	}
	if err := a.lr.rc.Flush(); err != nil {
		a.gone = true
	}
}
