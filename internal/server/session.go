package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/token"
)

// Who may use the operator API, and how (docs/api.md "Users, sessions and tokens"):
//
//   - a bearer token (Authorization: Bearer twt_…): a user's token acts as the user, a
//     service token of `tracewatch token create` has its own role over every region;
//   - a session of the workplace, after POST /api/v1/login: an HttpOnly, SameSite=Strict
//     cookie; every request that changes something then also carries the session's CSRF
//     token (header X-CSRF-Token, or a form field csrf).
//
// Without either: 401. A user whose role or region does not allow the request: 403.

// Session and sign-in limits.
const (
	SessionCookie   = "tw_session"
	CSRFHeader      = "X-CSRF-Token"
	sessionIdle     = 2 * time.Hour  // a session unused this long ends
	sessionMax      = 12 * time.Hour // and any session after this long
	maxSessions     = 100_000
	loginRate       = 10.0 / 60 // sign-in attempts per second per client address …
	loginBurst      = 10        // … with this burst
	lockoutFailures = 5         // consecutive failures that lock a user name …
	lockoutFor      = 15 * time.Minute
	maxLoginBody    = 4 << 10
)

type session struct {
	user    string
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions are kept in memory: a restart of serve signs everyone out.
type sessions struct {
	mu       sync.Mutex
	by       map[[32]byte]*session // by SHA-256 of the cookie value
	failures map[string]*lockout   // by user name
	clients  map[string]*rate.Limiter
}

type lockout struct {
	n     int
	until time.Time
}

func newSessions() *sessions {
	return &sessions{by: map[[32]byte]*session{}, failures: map[string]*lockout{}, clients: map[string]*rate.Limiter{}}
}

func (ss *sessions) create(user string, now time.Time) (cookie, csrf string, err error) {
	if cookie, err = token.RandomAlnum(43); err != nil {
		return "", "", err
	}
	if csrf, err = token.RandomAlnum(32); err != nil {
		return "", "", err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.by) >= maxSessions {
		ss.expire(now)
	}
	ss.by[sha256.Sum256([]byte(cookie))] = &session{user: user, csrf: csrf, created: now, seen: now}
	return cookie, csrf, nil
}

// get returns the live session of a cookie value, marking it used.
func (ss *sessions) get(cookie string, now time.Time) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := sha256.Sum256([]byte(cookie))
	s, ok := ss.by[k]
	if !ok {
		return session{}, false
	}
	if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionMax {
		delete(ss.by, k)
		return session{}, false
	}
	s.seen = now
	return *s, true
}

func (ss *sessions) drop(cookie string) {
	ss.mu.Lock()
	delete(ss.by, sha256.Sum256([]byte(cookie)))
	ss.mu.Unlock()
}

func (ss *sessions) expire(now time.Time) {
	for k, s := range ss.by {
		if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionMax {
			delete(ss.by, k)
		}
	}
	for k, l := range ss.failures {
		if l.n < lockoutFailures || now.After(l.until) { // a count of a few failures, or a lock run out
			delete(ss.failures, k)
		}
	}
}

// allowAttempt rate-limits sign-in attempts by client address.
func (ss *sessions) allowAttempt(client string, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	l, ok := ss.clients[client]
	if !ok {
		if len(ss.clients) > 100_000 {
			clear(ss.clients)
		}
		l = rate.NewLimiter(rate.Limit(loginRate), loginBurst)
		ss.clients[client] = l
	}
	return l.AllowN(now, 1)
}

// locked says until when a user name is locked out (zero: it is not).
func (ss *sessions) locked(name string, now time.Time) time.Time {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if l, ok := ss.failures[name]; ok && l.n >= lockoutFailures {
		if now.Before(l.until) {
			return l.until
		}
		delete(ss.failures, name) // the lock ran out: a fresh count
	}
	return time.Time{}
}

// failed counts a failed sign-in; it reports whether the name is now locked.
func (ss *sessions) failed(name string, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	l := ss.failures[name]
	if l == nil {
		if len(ss.failures) > 100_000 {
			ss.expire(now)
		}
		l = &lockout{}
		ss.failures[name] = l
	}
	l.n++
	if l.n >= lockoutFailures {
		l.until = now.Add(lockoutFor)
		return true
	}
	return false
}

func (ss *sessions) succeeded(name string) {
	ss.mu.Lock()
	delete(ss.failures, name)
	ss.mu.Unlock()
}

type userKey struct{}

// principal is the user a request acts as and how it proved it.
type principal struct {
	tracewatch.User
	session *session // nil for a bearer token
	cookie  string
}

// userOf returns the verified user of a request (the zero User outside authed).
func userOf(r *http.Request) tracewatch.User {
	p, _ := r.Context().Value(userKey{}).(principal)
	return p.User
}

// contextWithPrincipal is r's context carrying p (as authed passes it on).
func contextWithPrincipal(r *http.Request, p principal) context.Context {
	return context.WithValue(r.Context(), userKey{}, p)
}

// unmasked reports whether the caller may see personal data as stored.
func unmasked(r *http.Request) bool { return userOf(r).Unmasked() }

var (
	errNoCredential = errors.New("sign in first: POST /api/v1/login, or send Authorization: Bearer <token> (tracewatch user token NAME)")
	errBadAuth      = errors.New("want Authorization: Bearer <token>")
	errCSRF         = errors.New("a request that changes something in a session needs the session's CSRF token in the X-CSRF-Token header (GET /api/v1/me gives it)")
)

// authed lets a request through when it carries a valid token or session of a user whose
// role is one of roles (any role when none is given): 401 (with WWW-Authenticate) without
// one, 403 for another role.
func (s *Server) authed(h http.HandlerFunc, roles ...tracewatch.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		const op = "server.Auth"
		refuse := func(err error) {
			if statusOf(err) == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tracewatch"`)
			}
			s.apiFail(w, r, err)
		}
		p, err := s.principal(r)
		if err != nil {
			refuse(err)
			return
		}
		recordOf(r).operator = p.Name
		if len(roles) > 0 && !slices.Contains(roles, p.Role) {
			refuse(forbidden(op, "%s is a %s (%s): this needs %s", p.Name, p.Role, p.Role.Chinese(), roleNames(roles)))
			return
		}
		if p.session != nil && unsafeMethod(r.Method) && !s.csrfOK(r, p.session.csrf) {
			refuse(tracewatch.E(op, tracewatch.KindForbidden, errCSRF).WithField(CSRFHeader))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, p)))
	}
}

// staff are the roles of the 医保局 (everyone but institutions).
var staff = []tracewatch.Role{tracewatch.RoleAdmin, tracewatch.RoleReviewer, tracewatch.RolePanel, tracewatch.RoleDispatcher,
	tracewatch.RoleInspector, tracewatch.RoleViewer}

func roleNames(rs []tracewatch.Role) string {
	n := make([]string, len(rs))
	for i, r := range rs {
		n[i] = string(r)
	}
	if len(n) == 1 {
		return "the " + n[0] + " role"
	}
	return "one of the roles " + strings.Join(n, ", ")
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// csrfOK checks the CSRF token of a session request: the header, or the field csrf of a
// url-encoded form post (a multipart upload sends the header).
func (s *Server) csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(nil, r.Body, s.maxBody)
			if err := r.ParseForm(); err == nil {
				got = r.PostForm.Get("csrf")
			}
		}
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// principal finds who a request acts as.
func (s *Server) principal(r *http.Request) (principal, error) {
	const op = "server.Auth"
	if s.tokens == nil {
		return principal{}, tracewatch.E(op, tracewatch.KindUnauthorized, errNoCredential)
	}
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, tracewatch.E(op, tracewatch.KindUnauthorized, errBadAuth).WithField("Authorization")
		}
		u, _, err := s.tokens.Principal(strings.TrimSpace(tok))
		if err != nil {
			if tracewatch.KindOf(err) == tracewatch.KindUnauthorized {
				err = tracewatch.E(op, tracewatch.KindUnauthorized, token.ErrUnknown).WithField("Authorization")
			}
			return principal{}, err
		}
		return principal{User: u}, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		sess, ok := s.sessions.get(c.Value, s.now())
		if !ok {
			return principal{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, "the session has ended: sign in again").WithField(SessionCookie)
		}
		u, err := s.tokens.User(sess.user)
		if err != nil {
			s.sessions.drop(c.Value)
			return principal{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, "the session has ended: sign in again").WithField(SessionCookie)
		}
		return principal{User: u, session: &sess, cookie: c.Value}, nil
	}
	return principal{}, tracewatch.E(op, tracewatch.KindUnauthorized, errNoCredential)
}

// remoteOf is the client address of a request, for the audit log.
func remoteOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit appends an entry to the audit log, when the server keeps one. A failure to
// write it fails the request: an action that cannot be audited is not done (callers
// audit before they answer).
func (s *Server) audit(r *http.Request, actor, action, object string, detail map[string]any) error {
	if s.auditLog == nil {
		return nil
	}
	_, err := s.auditLog.Append(audit.Entry{Time: s.now(), Actor: actor, Action: action, Object: object, From: remoteOf(r), Detail: detail})
	if err != nil {
		return tracewatch.E("server.Audit", tracewatch.KindInternal, err)
	}
	return nil
}

// meJSON is the answer of login and GET /api/v1/me.
type meJSON struct {
	tracewatch.User
	RoleZh    string    `json:"role_zh"`
	CSRFToken string    `json:"csrf_token,omitempty"` // for a session: send it as X-CSRF-Token
	Expires   time.Time `json:"expires,omitzero"`     // for a session: when it ends at the latest
}

// handleLogin answers POST /api/v1/login with {"name", "password"} (JSON, or the form
// fields name and password): a session cookie and the CSRF token. Attempts are limited
// per client address (429), and a name is locked for 15 minutes after 5 failures in a
// row (429 with the time it ends); every attempt is audited.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	const op = "server.Login"
	now := s.now()
	if s.tokens == nil {
		s.apiFail(w, r, tracewatch.E(op, tracewatch.KindUnauthorized, token.ErrLogin))
		return
	}
	if !s.sessions.allowAttempt(remoteOf(r), now) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "rate_limited", Message: "too many sign-in attempts from this address: wait a minute"})
		return
	}
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "unreadable form").WithField("body"))
			return
		}
		in.Name, in.Password = r.PostForm.Get("name"), r.PostForm.Get("password")
	} else if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, `want {"name": …, "password": …}`).WithField("body"))
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 64 {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "give the user name").WithField("name"))
		return
	}
	object := "user:" + in.Name
	if until := s.sessions.locked(in.Name, now); !until.IsZero() {
		if err := s.audit(r, in.Name, "login_refused", object, map[string]any{"reason": "locked"}); err != nil {
			s.apiFail(w, r, err)
			return
		}
		w.Header().Set("Retry-After", until.Sub(now).Round(time.Second).String())
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "locked", Message: "too many failed sign-ins for this name: locked until " +
			until.In(tracewatch.Beijing).Format("2006-01-02 15:04:05") + " (Beijing time)"})
		return
	}
	u, err := s.tokens.Login(in.Name, in.Password)
	if err != nil {
		if tracewatch.KindOf(err) != tracewatch.KindUnauthorized {
			s.apiFail(w, r, err)
			return
		}
		locked := s.sessions.failed(in.Name, now)
		if aerr := s.audit(r, in.Name, "login_failed", object, map[string]any{"locked": locked}); aerr != nil {
			s.apiFail(w, r, aerr)
			return
		}
		s.apiFail(w, r, err)
		return
	}
	s.sessions.succeeded(in.Name)
	cookie, csrf, err := s.sessions.create(u.Name, now)
	if err != nil {
		s.apiFail(w, r, tracewatch.E(op, tracewatch.KindInternal, err))
		return
	}
	if err := s.audit(r, u.Name, "login", object, nil); err != nil {
		s.sessions.drop(cookie)
		s.apiFail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"), MaxAge: int(sessionMax / time.Second)})
	writeJSON(w, http.StatusOK, meJSON{User: u, RoleZh: u.Role.Chinese(), CSRFToken: csrf, Expires: now.Add(sessionMax).UTC()})
}

// handleLogout answers POST /api/v1/logout: the session ends.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p, _ := r.Context().Value(userKey{}).(principal)
	if p.session != nil {
		s.sessions.drop(p.cookie)
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	}
	if err := s.audit(r, p.Name, "logout", "user:"+p.Name, nil); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handleMe answers GET /api/v1/me: who the caller is (and its session's CSRF token).
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	p, _ := r.Context().Value(userKey{}).(principal)
	out := meJSON{User: p.User, RoleZh: p.Role.Chinese()}
	if p.session != nil {
		out.CSRFToken, out.Expires = p.session.csrf, p.session.created.Add(sessionMax).UTC()
	}
	writeJSON(w, http.StatusOK, out)
}
