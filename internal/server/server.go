// Package server is tracewatch's HTTP face: the NHSA-compatible endpoint pharmacies and
// hospitals post their messages to (POST /fsi/api/{infno}, signed in the national gateway
// style), and the operator JSON API (trace lookup, quarantine, statistics). docs/api.md
// describes every endpoint.
//
// Every answer that carries an NHSA envelope produced by the business layer is HTTP 200,
// including a refused message (infcode "-1"), as the national platform answers; a request
// refused before it reaches the business layer (authentication, size, an unreadable
// envelope, another institution's code) gets a 4xx status with an envelope naming the
// problem and stores nothing. An answer is written only once its message is durable.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/facts"
	"tracewatch/internal/ingest"
	"tracewatch/internal/monitor"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/rules"
	"tracewatch/internal/token"
	"tracewatch/internal/workflow"
)

// DefaultMaxBody is the default limit of a request body.
const DefaultMaxBody = 8 << 20

// Config is what a Server needs.
type Config struct {
	Store     tracewatch.Store
	Ingester  *ingest.Ingester
	MasterKey []byte           // seals the institution secrets (LoadOrCreateMasterKey)
	Now       func() time.Time // the clock (time.Now when nil)
	Logger    *slog.Logger     // the access and error log (discarded when nil)
	MaxBody   int64            // request body limit (DefaultMaxBody when 0)
	MaxNonces int              // nonce cache bound (DefaultMaxNonces when 0)
	// Index answers the real-time check (3101/3102, /api/v1/check); accepted sales update
	// it. Nil: checks answer 503.
	Index *rules.Index
	// RateLimit is the requests per second an institution may make on the signed
	// endpoints, with bursts of RateBurst; 0 means no limit.
	RateLimit float64
	RateBurst int
	// Tokens are the accounts: users and tokens (token.Open on the data directory). Nil:
	// every operator endpoint answers 401.
	Tokens *token.Set
	// Audit is the audit log of sign-ins, workflow steps, attachments and reads of
	// personal data (nil: none is kept; tests only).
	Audit *audit.Log
	// Workflow is the province's workflow configuration (zero: the defaults).
	Workflow workflow.Config
	// DataDir is where attachments are kept (DataDir/attachments); "" refuses uploads.
	DataDir string
	// ServiceListener says /readyz and /metrics are also served without a token by
	// ServiceHandler on a separate listener (serve --metrics-listen): on Handler they
	// then need an operator token. /healthz stays open on both.
	ServiceListener bool
	// Screen runs a screening for POST /api/v1/screen (serve wires it to the screen
	// command's function). Nil: the endpoint answers 404.
	Screen ScreenFunc
	// HashKey is the data directory's ID-number hash key (DATA/keys/certno-hash.key),
	// with which POST /api/v1/reference/persons hashes certno as `tracewatch load` does.
	HashKey []byte
	// Facts are the fact reads of the dashboard and reports (the store, when it has
	// them). Nil: the dashboard answers 503.
	Facts facts.Reader
	// Monitor is the province's monitoring configuration: drop alerts and grades (zero:
	// the defaults).
	Monitor monitor.Config
	// Rules is the rule base file serve screens and checks with: GET /api/v1/rules lists
	// it and an admin's POST /api/v1/rules/{name} edits it (the counter takes the edit at
	// once, through Index; serve's screenings read the file's base each time). Nil: the
	// embedded default is listed and edits answer 404.
	Rules *rules.File
}

// Server serves the NHSA endpoint and the operator API.
type Server struct {
	st      tracewatch.Store
	in      *ingest.Ingester
	auth    *Authenticator
	now     func() time.Time
	log     *slog.Logger
	maxBody int64
	handler http.Handler
	index   *rules.Index
	metrics *metrics
	limits  *limiters
	tokens  *token.Set
	service http.Handler

	auditLog *audit.Log
	wf       workflow.Config
	dataDir  string
	sessions *sessions
	flowMu   sync.Mutex // one workflow change at a time: decide, then record
	screen   ScreenFunc
	hashKey  []byte
	facts    facts.Reader
	monitor  monitor.Config
	titles   map[string]string // rule id → its short name and title
	dash     factsCache
	geo      geoCache // the deployer's region maps (geo.go)
	reidx    reindexer
	public   publicLimits // the public lookups (GET /q) by client address
	rules    *rules.File
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	const op = "server.New"
	if cfg.Store == nil || cfg.Ingester == nil {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "a store and an ingester are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	auth, err := NewAuthenticator(cfg.Store, cfg.MasterKey, cfg.Now, cfg.MaxNonces)
	if err != nil {
		return nil, err
	}
	s := &Server{st: cfg.Store, in: cfg.Ingester, auth: auth, now: cfg.Now, log: cfg.Logger, maxBody: cfg.MaxBody,
		index: cfg.Index, metrics: newMetrics(), tokens: cfg.Tokens,
		auditLog: cfg.Audit, wf: cfg.Workflow, dataDir: cfg.DataDir, sessions: newSessions(),
		screen: cfg.Screen, hashKey: cfg.HashKey, facts: cfg.Facts, monitor: cfg.Monitor, titles: ruleTitles(), rules: cfg.Rules}
	if cfg.RateLimit > 0 {
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = int(cfg.RateLimit) + 1
		}
		s.limits = &limiters{rate: rate.Limit(cfg.RateLimit), burst: burst, by: map[string]*rate.Limiter{}}
	}
	// Operator endpoints need a user (a token or a session): staff read the store, an
	// admin resubmits, every role works the clues it may see (docs/api.md).
	viewer := func(h http.HandlerFunc) http.HandlerFunc { return s.authed(h, staff...) }
	admin := func(h http.HandlerFunc) http.HandlerFunc { return s.authed(h, tracewatch.RoleAdmin) }
	user := func(h http.HandlerFunc) http.HandlerFunc { return s.authed(h) }
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, routed(pattern, h)) }
	route("POST /fsi/api/{infno}", s.handleNHSA)
	route("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		if accept := r.Header.Get("Accept"); strings.Contains(accept, "text/html") && !strings.Contains(accept, "application/json") {
			s.handleLoginPage(w, r) // a browser's form post without scripts
			return
		}
		s.handleLogin(w, r)
	})
	route("POST /api/v1/logout", user(s.handleLogout))
	route("GET /api/v1/me", user(s.handleMe))
	route("GET /api/v1/codes", viewer(s.handleCode))
	route("GET /api/v1/codes/{code...}", viewer(s.handleCode))
	route("GET /api/v1/quarantine", viewer(s.handleQuarantine))
	route("POST /api/v1/quarantine/{id}/resubmit", admin(s.handleResubmit))
	route("GET /api/v1/stats", viewer(s.handleStats))
	route("GET /api/v1/clues", user(s.handleClues))
	route("GET /api/v1/clues.xlsx", user(s.handleCluesExport))
	route("GET /api/v1/clues/{id}", user(s.handleClue))
	route("POST /api/v1/clues/{id}/transitions", user(s.handleTransition))
	route("POST /api/v1/clues/{id}/attachments", user(s.handleAttach))
	route("GET /api/v1/clues/{id}/attachments/{aid}", user(s.handleAttachment))
	route("POST /api/v1/cases", s.authed(s.handleCreateCase, tracewatch.RoleAdmin, tracewatch.RoleReviewer))
	route("GET /api/v1/cases/{id}", user(s.handleCase))
	route("POST /api/v1/cases/{id}/transitions", user(s.handleCaseTransition))
	route("GET /api/v1/digest", user(s.handleDigest))
	route("GET /api/v1/points", viewer(s.handlePoints))
	route("GET /api/v1/practitioners/{id}/points", viewer(s.handlePractitionerPoints))
	// One running service (service.go): bulk ingest, reference loads and screening.
	route("POST /api/v1/ingest", admin(s.handleIngest))
	route("POST /api/v1/reference/{kind}", admin(s.handleReference))
	route("POST /api/v1/screen", admin(s.handleScreen))
	route("GET /api/v1/dashboard", viewer(s.needFacts(s.handleDashboard)))
	route("GET /api/v1/geo/{region}", viewer(s.handleGeo))
	route("GET /api/v1/reports/monthly", viewer(s.needFacts(s.handleReportMonthly)))
	route("GET /api/v1/reports/monthly.xlsx", viewer(s.needFacts(s.handleReportXLSX)))
	route("GET /api/v1/reports/monthly.pdf", viewer(s.needFacts(s.handleReportPDF)))
	route("GET /api/v1/reports/monthly.html", viewer(s.needFacts(s.handleReportHTML)))
	route("GET /api/v1/institutions", viewer(s.needFacts(s.handleInstitutions)))
	route("GET /api/v1/institutions/{code}", viewer(s.needFacts(s.handleInstitution)))
	route("GET /api/v1/rules", viewer(s.handleRules))
	route("POST /api/v1/rules/{name}", admin(s.handleSetRule))
	// The public check of a box (no sign-in, limited per client address).
	route("GET /api/v1/public/codes", s.handlePublicCode)
	route("GET /q", s.handlePublicPage)
	route("/api/v1/", user(s.handleNoRoute))
	// The web workplace (pages.go, docs/web.md).
	clueRoles := append(slices.Clone(staff), tracewatch.RoleInstitution)
	route("GET /clues", s.page(s.inboxPage, clueRoles...))
	route("GET /clues/{id}", s.page(s.cluePage, clueRoles...))
	route("GET /reports", s.page(s.reportPage))
	route("GET /trace", s.page(s.tracePage))
	route("GET /institutions", s.page(s.institutionsPage))
	route("GET /institutions/{code}", s.page(s.institutionPage))
	route("GET /rules", s.page(s.rulesPage))
	route("GET /{$}", s.handleHome) // the sign-in form or 首页
	mux.Handle("GET /static/", routed("GET /static/", handleStatic().ServeHTTP))
	route("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("POST /api/v1/check", routed("POST /api/v1/check", s.handleCheck))
	mux.HandleFunc("GET /healthz", routed("GET /healthz", s.handleHealth))
	ready, metrics := http.HandlerFunc(s.handleReady), http.HandlerFunc(s.handleMetrics)
	if cfg.ServiceListener {
		ready, metrics = viewer(ready), viewer(metrics)
	}
	mux.HandleFunc("GET /readyz", routed("GET /readyz", ready))
	mux.HandleFunc("GET /metrics", routed("GET /metrics", metrics))
	smux := http.NewServeMux()
	smux.HandleFunc("GET /healthz", routed("GET /healthz", s.handleHealth))
	smux.HandleFunc("GET /readyz", routed("GET /readyz", s.handleReady))
	smux.HandleFunc("GET /metrics", routed("GET /metrics", s.handleMetrics))
	s.service = s.accessLog(smux)
	s.handler = s.accessLog(mux)
	return s, nil
}

// routed records the route pattern of a request for the metrics.
func routed(pattern string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rec := recordOf(r); rec.route == "" {
			rec.route = pattern
		}
		h(w, r)
	}
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ServiceHandler serves /healthz, /readyz and /metrics without a token, for a separate
// listener that only probes and the metrics scraper reach (serve --metrics-listen).
func (s *Server) ServiceHandler() http.Handler { return s.service }

// handleNHSA receives one signed NHSA message.
func (s *Server) handleNHSA(w http.ResponseWriter, r *http.Request) {
	const op = "server.NHSA"
	ctx := r.Context()
	received := s.now()
	rec := recordOf(r)
	rec.paasid = short(strings.TrimSpace(r.Header.Get(HeaderPaasID)))
	id, err := s.auth.Verify(ctx, r.Header)
	if err != nil {
		s.refuse(w, r, nhsa.Request{}, received, err)
		return
	}
	rec.institution = id.Institution
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.refuse(w, r, nhsa.Request{}, received, err)
		return
	}
	req, err := decodeEnvelope(body, r.PathValue("infno"))
	rec.msgid = req.MsgID
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	if req.FixmedinsCode != id.Institution {
		s.refuse(w, r, req, received, forbidden(op, "this credential may only submit for its own fixmedins_code"))
		return
	}
	if !s.allow(id.Institution) {
		rec.reason = "rate limit"
		writeJSON(w, http.StatusTooManyRequests, nhsa.Fail(req, "请求过于频繁：超过本机构的速率限制，请稍后重试 (rate limit)", received, s.now()))
		return
	}
	switch req.Infno {
	case "3101", "3102":
		rec.route = "POST /fsi/api/" + req.Infno
		s.handleSupervise(w, r, req, received, id.Institution)
		return
	case "3103":
		rec.route = "POST /fsi/api/3103"
		s.handleFeedback(w, r, req, received, id.Institution)
		return
	}
	// A replayed msgid gets its first answer and changes nothing.
	if m, err := s.st.Message(ctx, req.FixmedinsCode, req.MsgID); err == nil {
		s.replay(w, r, req, received, m)
		return
	} else if tracewatch.KindOf(err) != tracewatch.KindNotFound {
		s.refuse(w, r, req, received, err)
		return
	}
	answer, replayed, err := s.ingest(ctx, req, body, "http", received)
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	if replayed { // a concurrent duplicate won: check whose it is
		m, err := s.st.Message(ctx, req.FixmedinsCode, req.MsgID)
		if err != nil {
			s.refuse(w, r, req, received, err)
			return
		}
		s.replay(w, r, req, received, m)
		return
	}
	writeRaw(w, http.StatusOK, answer)
}

// replay answers a stored message's first answer. Messages are keyed by (institution,
// msgid), so m is the caller's own.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, req nhsa.Request, received time.Time, m tracewatch.MessageRecord) {
	recordOf(r).replayed = true
	writeRaw(w, http.StatusOK, m.Response)
}

// ingest prepares and commits one message and returns the answer to give: its own, or
// the stored first answer when the store reports the msgid as replayed. It returns after
// the commit, so the answer is durable.
func (s *Server) ingest(ctx context.Context, req nhsa.Request, body []byte, source string, received time.Time) (answer []byte, replayed bool, err error) {
	// The caller going away must not leave the outcome of a commit half-known.
	ctx = context.WithoutCancel(ctx)
	p, err := s.in.Prepare(ctx, req, body, source, received, s.now())
	if err != nil {
		return nil, false, err
	}
	res, err := s.st.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{p.Message}, Events: p.Events, Quarantine: p.Quarantine})
	if err != nil {
		s.metrics.ingest(req.Infno, "failed")
		return nil, false, err
	}
	if b, ok := res.Replayed[p.Message.Key()]; ok {
		s.metrics.ingest(req.Infno, "replayed")
		return b, true, nil
	}
	// Durable: the next check sees the sale.
	if s.index != nil {
		s.index.Apply(p.Events)
	}
	if p.Refused {
		s.metrics.ingest(req.Infno, "refused")
	} else {
		s.metrics.ingest(req.Infno, "accepted")
	}
	return p.Message.Response, false, nil
}

// readBody reads the request body up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		// The cause (a timeout, a reset, an address) is not the client's business.
		return nil, tracewatch.Errorf("server.readBody", tracewatch.KindInvalid, "could not read the request body: it came too slowly or was cut off")
	}
	return b, nil
}

// decodeEnvelope reads a request envelope and checks what every submission needs: a
// supported infno (equal to pathInfno when that is given), a msgid and a fixmedins_code.
// msgid and fixmedins_code come back trimmed, as the decoder trims them in the events.
// The request is returned even with an error, for the refusal's inf_refmsgid.
func decodeEnvelope(body []byte, pathInfno string) (nhsa.Request, error) {
	const op = "server.decodeEnvelope"
	req, err := nhsa.DecodeRequest(body)
	if err != nil {
		return req, err
	}
	req.MsgID, req.FixmedinsCode = strings.TrimSpace(req.MsgID), strings.TrimSpace(req.FixmedinsCode)
	invalid := func(field, format string, args ...any) error {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, format, args...).WithField(field)
	}
	switch {
	case pathInfno != "" && req.Infno != pathInfno:
		return req, invalid("infno", "%q in the body does not match %q in the path", short(req.Infno), short(pathInfno))
	case !nhsa.Supported(req.Infno) && req.Infno != "3101" && req.Infno != "3102" && req.Infno != "3103":
		return req, invalid("infno", "unsupported interface %q", short(req.Infno))
	case req.MsgID == "":
		return req, invalid("msgid", "required")
	case req.FixmedinsCode == "":
		return req, invalid("fixmedins_code", "required")
	}
	return req, nil
}

// short cuts an echoed input value to a sane length.
func short(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

// refuse answers err as an NHSA envelope (infcode "-1") with the status statusOf gives.
// Internal failures are logged here and reported without their cause.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, req nhsa.Request, received time.Time, err error) {
	status := statusOf(err)
	msg := publicMessage(err)
	rec := recordOf(r)
	rec.reason = msg
	if status >= 500 && !errors.Is(err, errBusy) {
		rec.reason = ""
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "msgid", req.MsgID, "err", err.Error())
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, status, nhsa.Fail(req, msg, received, s.now()))
}
