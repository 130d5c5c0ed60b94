package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"tracewatch"
	"tracewatch/internal/browser"
)

func init() {
	register("screenshot", "screenshots of every page of a running serve: screenshot --server URL --user NAME --out DIR", runScreenshot)
}

// shotPage is one page the screenshot command visits.
type shotPage struct {
	name, path string
}

// runScreenshot signs in to a running serve with a headless Chromium, opens every page
// of the web workplace at each window size, saves a PNG of each, and fails when a page
// logged an error or a request of it failed.
func runScreenshot(e env) int {
	fs := flag.NewFlagSet("screenshot", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8080", "the serve to visit")
	user := fs.String("user", "", "sign in as this user (the password from --password-stdin or $TRACEWATCH_PASSWORD)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	out := fs.String("out", "screenshots", "write the PNG files under this directory (one folder per window size)")
	sizes := fs.String("sizes", "1366x768,1920x1080", "window sizes, comma-separated WIDTHxHEIGHT")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	const op = "screenshot"
	if *user == "" {
		return fail(e.stderr, op, tracewatch.Errorf(op, tracewatch.KindInvalid, "--user NAME is required").WithField("user"))
	}
	pw := os.Getenv("TRACEWATCH_PASSWORD")
	if *stdin {
		var err error
		if pw, err = readPassword(e.stdin); err != nil {
			return fail(e.stderr, op, err)
		}
	}
	if pw == "" {
		return fail(e.stderr, op, tracewatch.Errorf(op, tracewatch.KindInvalid, "give the password on standard input (--password-stdin) or in TRACEWATCH_PASSWORD").WithField("password-stdin"))
	}
	base := strings.TrimRight(*server, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(e.stderr, op, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a URL such as http://127.0.0.1:8080").WithField("server"))
	}
	var dims [][2]int
	for _, s := range strings.Split(*sizes, ",") {
		w, h, ok := strings.Cut(strings.TrimSpace(s), "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil || wi < 320 || hi < 240 || wi > 7680 || hi > 4320 {
			return fail(e.stderr, op, tracewatch.Errorf(op, tracewatch.KindInvalid, "want sizes such as 1366x768,1920x1080, not %q", s).WithField("sizes"))
		}
		dims = append(dims, [2]int{wi, hi})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var problems []string
	for _, d := range dims {
		n, p, err := screenshotAt(ctx, base, *user, pw, filepath.Join(*out, fmt.Sprintf("%dx%d", d[0], d[1])), d[0], d[1], e)
		if err != nil {
			return fail(e.stderr, op, err)
		}
		fmt.Fprintf(e.stdout, "%dx%d: %d pages written to %s\n", d[0], d[1], n, filepath.Join(*out, fmt.Sprintf("%dx%d", d[0], d[1])))
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.stderr, "screenshot: "+p)
		}
		return exitFail
	}
	return exitOK
}

// screenshotAt visits every page at one window size.
func screenshotAt(ctx context.Context, base, user, pw, dir string, w, h int, e env) (int, []string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	b, err := browser.Start(ctx, w, h)
	if err != nil {
		return 0, nil, err
	}
	defer b.Close()
	tab, err := b.NewTab()
	if err != nil {
		return 0, nil, err
	}
	defer tab.Close()
	// The sign-in form first (a visitor's view), then the pages as the user.
	pages := []shotPage{{"login", "/"}}
	var problems []string
	n := 0
	shoot := func(p shotPage) {
		start := time.Now()
		var readyMs float64
		err := tab.Run(60*time.Second, chromedp.Navigate(base+p.path), browser.Ready(),
			chromedp.Evaluate(`TW.readyMs || 0`, &readyMs))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", p.name, p.path, err))
			return
		}
		tab.Run(5*time.Second, chromedp.Sleep(300*time.Millisecond)) // charts settle
		png, err := tab.Screenshot()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p.name, err))
			return
		}
		n++
		file := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", n, p.name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			problems = append(problems, err.Error())
			return
		}
		for _, msg := range tab.Errors() {
			problems = append(problems, fmt.Sprintf("%s (%s): %s", p.name, p.path, msg))
		}
		fmt.Fprintf(e.stdout, "  %-14s %-40s ready in %4.0f ms (%s)\n", p.name, p.path, readyMs, time.Since(start).Round(time.Millisecond))
	}
	shoot(pages[0])
	if err := tab.Login(base, user, pw); err != nil {
		return n, problems, fmt.Errorf("signing in as %s at %s: %w (is the password right?)", user, base, err)
	}
	tab.Errors()
	// A clue to open: the most severe one the user sees.
	var first struct {
		Clues []struct {
			ID          int64    `json:"id"`
			Institution string   `json:"institution"`
			Codes       []string `json:"codes"`
		} `json:"clues"`
	}
	err = tab.Run(30*time.Second, chromedp.Evaluate(`fetch('/api/v1/clues?limit=20&order=severity').then(r => r.json())`, &first,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil {
		return n, problems, fmt.Errorf("listing clues: %w", err)
	}
	pages = []shotPage{{"dashboard", "/"}, {"clues", "/clues"}}
	code, inst := "", ""
	for _, c := range first.Clues {
		if inst == "" && c.Institution != "" {
			inst = c.Institution
		}
		if code == "" && len(c.Codes) > 0 {
			code = c.Codes[0]
		}
	}
	if len(first.Clues) > 0 {
		pages = append(pages, shotPage{"clue", "/clues/" + strconv.FormatInt(first.Clues[0].ID, 10)})
	}
	traceAt := len(pages)
	pages = append(pages, shotPage{"trace", "/trace" + queryCode(code)}, shotPage{"institutions", "/institutions"})
	if inst != "" {
		pages = append(pages, shotPage{"institution", "/institutions/" + url.PathEscape(inst)})
	}
	// The monthly report of the latest month with data, and a duplicate's code for the lookups.
	var dash struct {
		Region string `json:"region"`
		To     string `json:"to"`
	}
	var dup struct {
		Clues []struct {
			Codes []string `json:"codes"`
		} `json:"clues"`
	}
	awaited := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	if err := tab.Run(60*time.Second, chromedp.Evaluate(`fetch('/api/v1/dashboard').then(r => r.json())`, &dash, awaited),
		chromedp.Evaluate(`fetch('/api/v1/clues?detector=trace.duplicate&limit=1').then(r => r.json())`, &dup, awaited)); err != nil {
		return n, problems, fmt.Errorf("reading the dashboard: %w", err)
	}
	if len(dup.Clues) > 0 && len(dup.Clues[0].Codes) > 0 {
		code = dup.Clues[0].Codes[0]
		pages[traceAt] = shotPage{"trace", "/trace" + queryCode(code)}
	}
	report := "/reports"
	if len(dash.To) >= 7 {
		report += "?region=" + dash.Region + "&month=" + dash.To[:7]
	}
	pages = append(pages, shotPage{"rules", "/rules"}, shotPage{"reports", report}, shotPage{"public-q", "/q" + queryCode(code)})
	for _, p := range pages {
		shoot(p)
	}
	return n, problems, nil
}

func queryCode(code string) string {
	if code == "" {
		return ""
	}
	return "?code=" + url.QueryEscape(code)
}
