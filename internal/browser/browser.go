// Package browser drives a headless Chromium (Debian's chromium, or Chrome) through the
// DevTools protocol: the monthly report's PDF, the screenshot command and the browser
// tests. It records every console error, uncaught exception and failed request of the
// pages it opens, so that a caller can refuse a page that did not load cleanly.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ErrNoBrowser says no Chromium was found.
var ErrNoBrowser = errors.New("no Chromium found: install it (apt-get install -y chromium) or set TRACEWATCH_CHROMIUM to its path")

// Path is the Chromium to run when set (main sets it from $TRACEWATCH_CHROMIUM).
var Path string

// Find returns the path of a Chromium: Path, else the first of chromium,
// chromium-browser, google-chrome on the PATH.
func Find() (string, error) {
	if Path != "" {
		return Path, nil
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Browser is one headless Chromium process.
type Browser struct {
	ctx    context.Context
	cancel func()
}

// Start launches a headless Chromium with a window of width × height.
func Start(ctx context.Context, width, height int) (*Browser, error) {
	exe, err := Find()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(width, height),
		chromedp.NoSandbox, // root in containers and CI; the pages are our own
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("force-device-scale-factor", "1"),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Run(bctx); err != nil {
		bcancel()
		acancel()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	return &Browser{ctx: bctx, cancel: func() { bcancel(); acancel() }}, nil
}

// Close ends the browser.
func (b *Browser) Close() { b.cancel() }

// Tab is one page of the browser, with what went wrong on it.
type Tab struct {
	Ctx    context.Context
	cancel func()
	mu     sync.Mutex
	errs   []string
	allow  []allowance
}

type allowance struct {
	url    string
	status int
}

// Allow says an answer of status to a URL holding urlPart is expected (a test that signs
// in with a wrong password expects its 401), not an error of the page.
func (t *Tab) Allow(urlPart string, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.allow = append(t.allow, allowance{urlPart, status})
}

// NewTab opens a tab that records console errors, exceptions and failed requests.
func (b *Browser) NewTab() (*Tab, error) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	t := &Tab{Ctx: ctx, cancel: cancel}
	urls := map[network.RequestID]string{}
	chromedp.ListenTarget(ctx, func(ev any) {
		t.mu.Lock()
		defer t.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range e.Args {
					if len(a.Value) > 0 {
						parts = append(parts, string(a.Value))
					} else {
						parts = append(parts, a.Description)
					}
				}
				t.errs = append(t.errs, "console."+string(e.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			t.errs = append(t.errs, "exception: "+msg)
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 && !t.allowed(e.Response.URL, int(e.Response.Status)) {
				t.errs = append(t.errs, fmt.Sprintf("HTTP %d %s", e.Response.Status, e.Response.URL))
			}
		case *network.EventLoadingFailed:
			if !e.Canceled {
				t.errs = append(t.errs, "request failed: "+urls[e.RequestID]+": "+e.ErrorText)
			}
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), runtime.Enable()); err != nil {
		cancel()
		return nil, err
	}
	return t, nil
}

func (t *Tab) allowed(url string, status int) bool {
	for _, a := range t.allow {
		if strings.Contains(url, a.url) && status == a.status {
			return true
		}
	}
	return false
}

// Close closes the tab.
func (t *Tab) Close() { t.cancel() }

// Errors returns what went wrong on the tab's pages so far and forgets it.
func (t *Tab) Errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.errs
	t.errs = nil
	return out
}

// Run runs actions on the tab within timeout.
func (t *Tab) Run(timeout time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(t.Ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// Login signs in through the form at base/ (fields name and password) and waits for the
// page it leads to.
func (t *Tab) Login(base, name, password string) error {
	return t.Run(30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#login-form input[name=name]`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-form input[name=name]`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#login-form input[name=password]`, password, chromedp.ByQuery),
		chromedp.Submit(`#login-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`header.top`, chromedp.ByQuery),
	)
}

// Ready waits until the page's script has finished (body[data-ready]) or failed.
func Ready() chromedp.Action {
	return chromedp.WaitVisible(`body[data-ready]`, chromedp.ByQuery)
}

// Screenshot captures the whole page as PNG.
func (t *Tab) Screenshot() ([]byte, error) {
	var png []byte
	err := t.Run(30*time.Second, chromedp.FullScreenshot(&png, 100))
	return png, err
}

// PDF prints the current page as an A4 PDF with its backgrounds.
func (t *Tab) PDF() ([]byte, error) {
	var pdf []byte
	err := t.Run(60*time.Second, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		pdf, _, err = page.PrintToPDF().WithPrintBackground(true).WithPaperWidth(8.27).WithPaperHeight(11.69).
			WithMarginTop(0.4).WithMarginBottom(0.4).WithMarginLeft(0.4).WithMarginRight(0.4).WithPreferCSSPageSize(true).Do(ctx)
		return err
	}))
	return pdf, err
}
