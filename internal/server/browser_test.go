package server

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracewatch"
	"tracewatch/internal/browser"
)

// startBrowser starts a headless Chromium for a test: skipped where there is none, but
// a failure in CI, which installs it (.ci/run).
func startBrowser(t *testing.T, w, h int) *browser.Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	if _, err := browser.Find(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the browser tests: %v", err)
		}
		t.Skipf("no browser: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b, err := browser.Start(ctx, w, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// clean fails the test with what went wrong on the tab's pages.
func clean(t *testing.T, tab *browser.Tab, what string) {
	t.Helper()
	for _, e := range tab.Errors() {
		t.Errorf("%s: %s", what, e)
	}
}

// TestBrowserWorkplace drives the web workplace in a real Chromium: the sign-in form, every
// page for a staff user and for an institution user, and a clue worked from new to closed
// by the roles it needs, at 1366×768. Any console error or failed request fails it.
func TestBrowserWorkplace(t *testing.T) {
	f := newFlowHarness(t)
	b := startBrowser(t, 1366, 768)
	tab, err := b.NewTab()
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	base := f.ts.URL
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := tab.Run(30*time.Second, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// A visitor gets the sign-in form with fields name and password.
	run("sign-in form", chromedp.Navigate(base+"/clues"), chromedp.WaitVisible(`#login-form input[name=name]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-form input[name=password][type=password]`, chromedp.ByQuery))
	clean(t, tab, "sign-in form")
	// The public lookup needs no sign-in.
	var verdict string
	run("/q", chromedp.Navigate(base+"/q?code="+codeA), chromedp.Text(`main`, &verdict, chromedp.ByQuery))
	if !strings.Contains(verdict, "未销售") && !strings.Contains(verdict, "已销售") && !strings.Contains(verdict, "未") {
		t.Errorf("/q without a session: %q", verdict)
	}
	clean(t, tab, "/q")
	// The tab's guard works: a missing file and a script error are reported.
	run("a missing file", chromedp.Navigate(base+"/static/js/missing.js"))
	run("a script error", chromedp.Evaluate(`setTimeout(() => { throw new Error("boom") }, 0); console.error("logged")`, nil), chromedp.Sleep(200*time.Millisecond))
	if errs := strings.Join(tab.Errors(), "\n"); !strings.Contains(errs, "HTTP 404") || !strings.Contains(errs, "boom") || !strings.Contains(errs, "logged") {
		t.Errorf("the tab's guard missed errors: %q", errs)
	}
	login := func(name string) {
		t.Helper()
		if err := tab.Login(base, name, password); err != nil {
			t.Fatalf("sign in as %s: %v", name, err)
		}
	}
	logout := func() {
		t.Helper()
		run("sign out", chromedp.Click(`#logout`, chromedp.ByQuery), chromedp.WaitVisible(`#login-form`, chromedp.ByQuery))
	}
	id := f.ids["c"]
	clueURL := base + "/clues/" + strconv.FormatInt(id, 10)

	// The deployer's map of Nanchang's counties: the dashboard draws it.
	writeMap(t, f.dataDir, "360100", "360102", "360103")

	// Every page for a reviewer.
	login("r1")
	for _, p := range []string{"/", "/clues", "/clues/" + strconv.FormatInt(id, 10), "/trace", "/trace?code=" + codeA, "/institutions",
		"/institutions/" + instP, "/rules", "/reports", "/q?code=" + codeA} {
		run(p, chromedp.Navigate(base+p), browser.Ready())
		clean(t, tab, p)
	}
	var series string
	run("the region map", chromedp.Navigate(base+"/"), browser.Ready(),
		chromedp.Evaluate(`echarts.getInstanceByDom(document.getElementById('chart-areas')).getOption().series.map(s => s.type + ':' + (s.map || '')).join(',')`, &series))
	if series != "map:tw-360100" {
		t.Errorf("the dashboard of 360100 with a map file draws %q, want the map", series)
	}
	var rows int
	run("inbox rows", chromedp.Navigate(base+"/clues?state=new"), browser.Ready(),
		chromedp.Evaluate(`document.querySelectorAll('#clue-table tbody a[href^="/clues/"]').length`, &rows))
	if rows != 4 { // a, c, d, e in 360100; b is in 360300
		t.Errorf("r1's inbox of new clues shows %d clues, want 4", rows)
	}
	var total string
	run("inbox total", chromedp.Text(`#clue-total`, &total, chromedp.ByQuery))
	if !strings.Contains(total, "4") {
		t.Errorf("inbox total: %q", total)
	}
	clean(t, tab, "inbox")

	// The clue from new to closed, each step by a role that may take it.
	step := func(user string, to tracewatch.ClueState, fill ...chromedp.Action) {
		t.Helper()
		login(user)
		form := `#clue-actions form[data-to="` + string(to) + `"]`
		actions := []chromedp.Action{chromedp.Navigate(clueURL), browser.Ready(), chromedp.WaitVisible(form, chromedp.ByQuery),
			chromedp.SendKeys(form+` textarea[name=note]`, user+" 的意见", chromedp.ByQuery)}
		actions = append(actions, fill...)
		actions = append(actions, chromedp.Click(form+` button[type=submit]`, chromedp.ByQuery))
		run(user+" → "+string(to), actions...)
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := f.st.Clue(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State == to {
				break
			}
			if time.Now().After(deadline) {
				var msg string
				tab.Run(5*time.Second, chromedp.Text(`#action-msg`, &msg, chromedp.ByQuery))
				t.Fatalf("%s → %s: the clue stayed %s (%s)", user, to, c.State, msg)
			}
			time.Sleep(100 * time.Millisecond)
		}
		run("reloaded", browser.Ready())
		clean(t, tab, user+" → "+string(to))
		logout()
	}
	logout()
	step("r1", tracewatch.ClueTriaged)
	step("r2", tracewatch.ClueReviewed)
	step("d1", tracewatch.ClueDispatched, chromedp.SetValue(`#clue-actions form[data-to="dispatched"] input[name=region]`, "360102", chromedp.ByQuery),
		chromedp.SetValue(`#clue-actions form[data-to="dispatched"] input[name=deadline]`, "2025-04-30", chromedp.ByQuery))
	step("i1", tracewatch.ClueInvestigating)
	step("i1", tracewatch.ClueAnswered)
	step("r1", tracewatch.ClueClosed, chromedp.SetValue(`#clue-actions form[data-to="closed"] input[name=recovered]`, "123.45", chromedp.ByQuery),
		chromedp.SetValue(`#clue-actions form[data-to="closed"] textarea[name=points]`, "D0001:2:minor", chromedp.ByQuery))
	c, err := f.st.Clue(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flow.Outcome == nil || c.Flow.Outcome.RecoveredFen != 12345 || len(c.Flow.Outcome.Points) != 1 || c.Flow.DispatchRegion != "360102" {
		t.Errorf("closed in the browser: %+v", c.Flow)
	}
	steps, err := f.st.ClueSteps(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, s := range steps {
		actors = append(actors, s.Actor+":"+string(s.To))
	}
	if got := strings.Join(actors, " "); got != "r1:triaged r2:reviewed d1:dispatched i1:investigating i1:answered r1:closed" {
		t.Errorf("steps: %s", got)
	}

	// An institution user sees its own clues and no staff page.
	login("pharm")
	var nav string
	run("institution inbox", chromedp.Navigate(base+"/"), browser.Ready(), chromedp.Text(`header.top nav`, &nav, chromedp.ByQuery))
	if strings.Contains(nav, "首页") || !strings.Contains(nav, "线索") {
		t.Errorf("institution nav: %q", nav)
	}
	clean(t, tab, "institution inbox")
}
