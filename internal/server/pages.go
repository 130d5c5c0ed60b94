package server

import (
	"bytes"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"tracewatch"
	"tracewatch/internal/server/web"
)

// The web workplace (docs/web.md): pages rendered from the embedded templates, each
// filled in by its script from the JSON API, so that the page and the API show the same
// figures under the same scope, masking and audit.

// navItem is one entry of the top navigation.
type navItem struct {
	Href, Label string
	Active      bool
	roles       []tracewatch.Role // nil: every staff role
}

// pageNav is the navigation, in order. Institution users see only their clues.
var pageNav = []navItem{
	{Href: "/", Label: "首页"},
	{Href: "/clues", Label: "线索", roles: append(slices.Clone(staff), tracewatch.RoleInstitution)},
	{Href: "/trace", Label: "追溯码查询"},
	{Href: "/institutions", Label: "机构画像"},
	{Href: "/rules", Label: "规则"},
	{Href: "/reports", Label: "月报"},
}

// pageData is what every template sees.
type pageData struct {
	Title   string
	Page    string // the page's name: body data-page, its script's TW.pages key
	User    tracewatch.User
	RoleZh  string
	CSRF    string
	Version string
	Nav     []navItem
	Charts  bool     // load ECharts
	Scripts []string // the page's scripts under /static/js/
	Data    any      // the page's own data
}

// pageSpec says how a page renders.
type pageSpec struct {
	template string // templates/<template>.html
	title    string
	nav      string // the Href of its navigation entry
	charts   bool
	scripts  []string
}

// templates parses each page's template with the layout, once.
type templates struct {
	once sync.Once
	set  map[string]*template.Template
	err  error
}

var pageTemplates templates

var templateFuncs = template.FuncMap{
	"yuan": func(f tracewatch.Fen) string { return f.String() },
}

func (t *templates) get(name string) (*template.Template, error) {
	t.once.Do(func() {
		t.set = map[string]*template.Template{}
		fsys := web.Templates()
		names, err := fs.Glob(fsys, "*.html")
		if err != nil {
			t.err = err
			return
		}
		for _, n := range names {
			if n == "layout.html" {
				continue
			}
			tpl, err := template.New(n).Funcs(templateFuncs).ParseFS(fsys, "layout.html", n)
			if err != nil {
				t.err = err
				return
			}
			t.set[strings.TrimSuffix(n, ".html")] = tpl
		}
	})
	if t.err != nil {
		return nil, t.err
	}
	tpl, ok := t.set[name]
	if !ok {
		return nil, tracewatch.Errorf("server.Page", tracewatch.KindInternal, "no template %q", name)
	}
	return tpl, nil
}

// Version is the binary's version, for the static files' cache keys (main sets it).
var Version = "dev"

// securePage sets the headers of every HTML page: nothing from elsewhere, no framing.
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, spec pageSpec, p principal, data any) {
	tpl, err := pageTemplates.get(spec.template)
	if err != nil {
		s.apiFail(w, r, tracewatch.E("server.Page", tracewatch.KindInternal, err))
		return
	}
	pd := pageData{Title: spec.title, Page: spec.template, User: p.User, RoleZh: p.Role.Chinese(), Version: Version,
		Charts: spec.charts, Scripts: spec.scripts, Data: data}
	if p.session != nil {
		pd.CSRF = p.session.csrf
	}
	if p.Name != "" {
		for _, n := range pageNav {
			if n.roles == nil && p.Role == tracewatch.RoleInstitution {
				continue
			}
			if n.roles != nil && !slices.Contains(n.roles, p.Role) {
				continue
			}
			n.Active = n.Href == spec.nav
			pd.Nav = append(pd.Nav, n)
		}
	}
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "layout", pd); err != nil {
		s.apiFail(w, r, tracewatch.E("server.Page", tracewatch.KindInternal, err))
		return
	}
	securePage(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageHandler serves a page to a signed-in user of one of roles (staff when none is
// given): a visitor without a session is sent to the sign-in form, a user of another
// role gets a page saying so.
type pageHandler func(w http.ResponseWriter, r *http.Request, p principal)

func (s *Server) page(h pageHandler, roles ...tracewatch.Role) http.HandlerFunc {
	if len(roles) == 0 {
		roles = staff
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err != nil {
			next := r.URL.Path
			if r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		recordOf(r).operator = p.Name
		if !slices.Contains(roles, p.Role) {
			s.render(w, r, http.StatusForbidden, pageSpec{template: "error", title: "无权访问"}, p,
				map[string]string{"Title": "无权访问", "Message": p.Name + "（" + p.Role.Chinese() + "）无权查看此页面。"})
			return
		}
		h(w, r.WithContext(contextWithPrincipal(r, p)), p)
	}
}

// handleHome answers GET /: the dashboard for a signed-in user, the sign-in form for a
// visitor (an institution user goes to its clues).
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	p, err := s.principal(r)
	if err != nil {
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
			next = ""
		}
		msg := ""
		if r.URL.Query().Get("error") != "" {
			msg = "用户名或密码不正确，或登录过于频繁。"
		}
		s.render(w, r, http.StatusOK, pageSpec{template: "login", title: "登录", scripts: []string{"login.js"}}, principal{},
			map[string]string{"Next": next, "Error": msg})
		return
	}
	if p.Role == tracewatch.RoleInstitution {
		http.Redirect(w, r, "/clues", http.StatusSeeOther)
		return
	}
	s.page(s.dashboardPage)(w, r)
}

// handleStatic serves the embedded static files.
func handleStatic() http.Handler {
	files := http.FileServerFS(web.Static())
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" || path.Base(r.URL.Path) == "." {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
}

// handleLoginPage answers the sign-in form posted by a browser without scripts (Accept:
// text/html): the same sign-in as POST /api/v1/login, answered with a redirect to the
// page asked for, or back to the form saying it failed.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	rec := &headerRecorder{header: http.Header{}}
	next := ""
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
		if err := r.ParseForm(); err == nil {
			next = r.PostForm.Get("next")
		}
	}
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/"
	}
	s.handleLogin(rec, r)
	if rec.status == http.StatusOK {
		for _, c := range rec.header.Values("Set-Cookie") {
			w.Header().Add("Set-Cookie", c)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/?error=1&next="+url.QueryEscape(next), http.StatusSeeOther)
}

// headerRecorder keeps a handler's status and headers and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
