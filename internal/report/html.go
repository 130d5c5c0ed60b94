package report

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"tracewatch"
	"tracewatch/internal/browser"
	"tracewatch/internal/server/web"
)

// PageData is what the report's template (web/templates/report.html) reads as .Data: on
// the served page the form's choices, in the standalone file only Standalone.
type PageData struct {
	Standalone bool
	Region     string         // the region chosen ("" for all)
	Month      string         // YYYY-MM
	Regions    []RegionOption // the regions the user may choose
}

// RegionOption is one region of the form.
type RegionOption struct {
	Code string
	Name string
}

// standalone is the layout of the self-contained page: the styles, the report and the
// scripts inlined, nothing loaded from anywhere.
//
//go:embed standalone.html
var standalone string

// standalonePage is what the standalone layout and the report's template see.
type standalonePage struct {
	Title   string
	Page    string
	Version string
	Data    PageData
	CSS     template.CSS
	JSON    template.JS
	Scripts []template.JS
}

var (
	standaloneOnce sync.Once
	standaloneTpl  *template.Template
	standaloneErr  error
)

// HTML renders the report as one self-contained page: the web workplace's report
// template and script, app.js, ECharts and the styles inlined with the report's JSON. It
// opens from a file without a server; its charts are SVG (body[data-print]), ready to
// print on A4.
func HTML(r Report) ([]byte, error) {
	const op = "report.HTML"
	standaloneOnce.Do(func() {
		t := template.New("standalone")
		if _, err := t.Parse(standalone); err != nil {
			standaloneErr = err
			return
		}
		standaloneTpl, standaloneErr = t.ParseFS(web.Templates(), "report.html")
	})
	if standaloneErr != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, standaloneErr)
	}
	static := web.Static()
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(static, name)
		// A script inlined must not close its element early.
		return strings.ReplaceAll(string(b), "</script", `<\/script`), err
	}
	p := standalonePage{Title: "月报 " + r.Month + " " + r.RegionName, Page: "report", Data: PageData{Standalone: true, Region: string(r.Region), Month: r.Month}}
	var css strings.Builder
	for _, name := range []string{"app.css", "report.css"} {
		s, err := read(name)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		css.WriteString(s)
		css.WriteString("\n")
	}
	p.CSS = template.CSS(css.String())
	for _, name := range []string{"vendor/echarts.min.js", "js/app.js", "js/report.js"} {
		s, err := read(name)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		p.Scripts = append(p.Scripts, template.JS(s))
	}
	// json.Marshal escapes <, > and &: the data cannot end its element.
	b, err := json.Marshal(r)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	p.JSON = template.JS(b)
	var buf bytes.Buffer
	if err := standaloneTpl.ExecuteTemplate(&buf, "standalone", p); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return buf.Bytes(), nil
}

// printTimeout bounds loading and printing the page.
const printTimeout = 90 * time.Second

// PDF prints a page HTML rendered (A4) with a headless Chromium. Without one it fails
// with browser.ErrNoBrowser; a page that logged an error (a script that failed) is
// refused rather than printed half drawn.
func PDF(ctx context.Context, page []byte) ([]byte, error) {
	const op = "report.PDF"
	if _, err := browser.Find(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err) // errors.Is(err, browser.ErrNoBrowser)
	}
	dir, err := os.MkdirTemp("", "tracewatch-report-")
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page, 0o600); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	// A window as wide as an A4 page at 96 dpi: the page lays out as it prints.
	b, err := browser.Start(ctx, 794, 1123)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer b.Close()
	tab, err := b.NewTab()
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer tab.Close()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	if err := tab.Run(printTimeout, chromedp.Navigate(u.String()), browser.Ready()); err != nil {
		return nil, tracewatch.Errorf(op, tracewatch.KindInternal, "loading the report page: %v", err)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		return nil, tracewatch.Errorf(op, tracewatch.KindInternal, "the report page failed: %s", strings.Join(errs, "; "))
	}
	pdf, err := tab.PDF()
	if err != nil {
		return nil, tracewatch.Errorf(op, tracewatch.KindInternal, "printing the report: %v", err)
	}
	return pdf, nil
}
