package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/browser"
	"tracewatch/internal/facts"
	"tracewatch/internal/report"
	"tracewatch/internal/token"
)

// reportHarness is a server with fact reads and an audit log, two clues first seen on
// 1 March 2025 (one in Nanchang, one in Pingxiang) and users: a viewer of the province,
// a reviewer of Nanchang and a pharmacy, each with a token.
type reportHarness struct {
	*harness
	auditDir string
	tok      map[string]string
}

func newReportHarness(t *testing.T) *reportHarness {
	auditDir := t.TempDir()
	h := newHarness(t, func(c *Config) {
		l, err := audit.Open(auditDir)
		if err != nil {
			t.Fatal(err)
		}
		c.Audit, c.Facts = l, c.Store.(facts.Reader)
	})
	rh := &reportHarness{harness: h, auditDir: auditDir, tok: map[string]string{}}
	for _, u := range []tracewatch.User{
		{Name: "v1", Role: "viewer", Region: "360000"},
		{Name: "r1", Role: "reviewer", Region: "360100"},
		{Name: "pharm", Role: "institution", Region: "360102", Institution: instP},
	} {
		if err := token.CreateUser(h.tokenDir, u, password, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		tok, _, err := token.CreateUserToken(h.tokenDir, u.Name, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		rh.tok[u.Name] = tok
	}
	h.clock.Add(2 * token.RefreshInterval)
	mk := func(fp, inst, region string, sev tracewatch.Severity, fen tracewatch.Fen) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: "trace.duplicate@1", Rule: "same_city", Severity: sev, Subject: tracewatch.SubjectCode,
			SubjectID: fp, Region: tracewatch.Region(region), Institution: inst, AmountFen: fen, Explanation: "追溯码重复销售"}
	}
	if _, err := h.st.PutClues(t.Context(), []tracewatch.Clue{mk("a", instP, "360102", tracewatch.SeverityViolation, 50_000),
		mk("b", "P36030200001", "360302", tracewatch.SeveritySuspicious, 700)}, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return rh
}

// get fetches path as user ("" for no credential) and returns the status, the body and
// the headers.
func (rh *reportHarness) get(user, path string) (int, []byte, http.Header) {
	rh.t.Helper()
	hd := http.Header{}
	if user != "" {
		hd = bearer(rh.tok[user])
	}
	req, _ := http.NewRequest("GET", rh.ts.URL+path, nil)
	req.Header = hd
	resp, err := rh.ts.Client().Do(req)
	if err != nil {
		rh.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), resp.Header
}

// exports lists the audit log's export entries.
func (rh *reportHarness) exports() []audit.Entry {
	rh.t.Helper()
	var out []audit.Entry
	err := audit.List(rh.auditDir, audit.Filter{Action: "export"}, func(e audit.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		rh.t.Fatal(err)
	}
	return out
}

// TestReportAPI: staff get the report of a region they cover (their own by default),
// not another's; the month is required and must be a month that has begun; the workbook
// is the report's and its export is audited with its SHA-256.
func TestReportAPI(t *testing.T) {
	rh := newReportHarness(t)
	const path = "/api/v1/reports/monthly"
	var rep report.Report
	status, body, _ := rh.get("v1", path+"?region=360000&month=2025-03")
	if status != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("the province's report: %d %s", status, body)
	}
	if rep.Region != "360000" || rep.Month != "2025-03" || rep.Found.Clues != 2 || rep.Found.AmountFen != 50_700 ||
		len(rep.TopInstitutions) != 2 || rep.TopInstitutions[0].Code != instP || rep.AreaLevel != "city" {
		t.Errorf("the province's report: %s", body)
	}
	// The reviewer of Nanchang: its city by default, and not the province.
	status, body, _ = rh.get("r1", path+"?month=2025-03")
	if status != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.Region != "360100" || rep.Found.Clues != 1 {
		t.Errorf("the reviewer's default region: %d %s", status, body)
	}
	for _, c := range []struct {
		user, query string
		status      int
		field       string
	}{
		{"r1", "?region=360000&month=2025-03", http.StatusForbidden, ""},
		{"v1", "?region=360000", http.StatusBadRequest, "month"},
		{"v1", "?region=360000&month=2025-13", http.StatusBadRequest, "month"},
		{"v1", "?region=360000&month=2025-04", http.StatusBadRequest, "month"}, // not begun on 1 March
		{"v1", "?region=36&month=2025-03", http.StatusBadRequest, "region"},
		{"v1", "?region=360000&month=2025-03&days=3", http.StatusBadRequest, "days"},
		{"pharm", "?month=2025-03", http.StatusForbidden, ""},
		{"", "?month=2025-03", http.StatusUnauthorized, ""},
	} {
		status, body, _ := rh.get(c.user, path+c.query)
		if status != c.status || !strings.HasPrefix(string(body), `{"error"`) || c.field != "" && !strings.Contains(string(body), c.field) {
			t.Errorf("%s %s: %d %s, want %d naming %q", c.user, c.query, status, body, c.status, c.field)
		}
	}
	if n := len(rh.exports()); n != 0 {
		t.Errorf("reading the report is not an export, but %d were audited", n)
	}

	status, body, hd := rh.get("v1", path+".xlsx?region=360000&month=2025-03")
	if status != http.StatusOK || hd.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" ||
		!strings.Contains(hd.Get("Content-Disposition"), `filename="monthly-report-360000-2025-03.xlsx"`) {
		t.Fatalf("xlsx: %d %v", status, hd)
	}
	x, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.GetSheetList(); !reflect.DeepEqual(got, report.Sheets) {
		t.Errorf("sheets %q", got)
	}
	if v, _ := x.GetCellValue("重点机构", "B2"); v != instP {
		t.Errorf("重点机构 B2 %q", v)
	}
	sum := sha256.Sum256(body)
	ex := rh.exports()
	if len(ex) != 1 || ex[0].Actor != "v1" || ex[0].Object != "report:monthly:360000:2025-03" || ex[0].Detail["format"] != "xlsx" ||
		ex[0].Detail["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("audited exports: %+v", ex)
	}
	// Another region's workbook is refused and not audited.
	if status, _, _ := rh.get("r1", path+".xlsx?region=360000&month=2025-03"); status != http.StatusForbidden || len(rh.exports()) != 1 {
		t.Errorf("r1's province workbook: %d, %d exports", status, len(rh.exports()))
	}
	// The self-contained page, audited too.
	status, body, hd = rh.get("v1", path+".html?region=360000&month=2025-03")
	if status != http.StatusOK || !strings.HasPrefix(hd.Get("Content-Type"), "text/html") || !strings.Contains(hd.Get("Content-Disposition"), "attachment") ||
		!bytes.Contains(body, []byte(`id="report-data"`)) || !bytes.Contains(body, []byte(instP)) {
		t.Errorf("html: %d %v %.200s", status, hd, body)
	}
	if ex := rh.exports(); len(ex) != 2 || ex[1].Detail["format"] != "html" {
		t.Errorf("audited exports after the page: %+v", ex)
	}
}

// TestReportPDFWithoutChromium: a server without Chromium answers 503 naming what to
// install, and audits nothing.
func TestReportPDFWithoutChromium(t *testing.T) {
	rh := newReportHarness(t)
	t.Setenv("TRACEWATCH_CHROMIUM", "")
	t.Setenv("PATH", t.TempDir())
	status, body, _ := rh.get("v1", "/api/v1/reports/monthly.pdf?region=360000&month=2025-03")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "apt-get install -y chromium") {
		t.Errorf("pdf without Chromium: %d %s", status, body)
	}
	if n := len(rh.exports()); n != 0 {
		t.Errorf("%d exports audited", n)
	}
}

// TestReportBrowser signs in as the province's viewer, opens 月报, asks for March through
// the form and finds the report drawn with its charts and its links, without an error on
// the page; then the PDF the server prints. It needs Chromium.
func TestReportBrowser(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		t.Skip(err)
	}
	rh := newReportHarness(t)
	b, err := browser.Start(t.Context(), 1366, 900)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, err := b.NewTab()
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if err := tab.Login(rh.ts.URL, "v1", password); err != nil {
		t.Fatal(err)
	}
	var title, pdfLink, xlsxLink, kpis string
	var charts, hidden int
	err = tab.Run(30*time.Second,
		chromedp.Navigate(rh.ts.URL+"/reports"),
		browser.Ready(),
		chromedp.Evaluate(`document.getElementById('report').hidden ? 1 : 0`, &hidden),
		chromedp.SetValue(`#report-form input[name=month]`, "2025-03", chromedp.ByQuery),
		chromedp.Submit(`#report-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`#report`, chromedp.ByQuery),
		browser.Ready(),
		chromedp.Text(`#r-title`, &title, chromedp.ByQuery),
		chromedp.Text(`#r-kpis`, &kpis, chromedp.ByQuery),
		chromedp.AttributeValue(`#link-pdf`, "href", &pdfLink, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#link-xlsx`, "href", &xlsxLink, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('.r-chart canvas').length`, &charts),
	)
	if err != nil {
		t.Fatal(err)
	}
	if hidden != 1 {
		t.Error("the report shows before it is asked for")
	}
	if !strings.Contains(title, "2025年3月") || !strings.Contains(kpis, "本月发现线索") || !strings.HasSuffix(pdfLink, "monthly.pdf?region=360000&month=2025-03") ||
		!strings.HasSuffix(xlsxLink, "monthly.xlsx?region=360000&month=2025-03") {
		t.Errorf("the report: %q, links %q %q\n%s", title, pdfLink, xlsxLink, kpis)
	}
	if charts < 3 { // models, severity, top institutions (March has no sales)
		t.Errorf("%d charts drawn", charts)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
	status, pdf, hd := rh.get("v1", "/api/v1/reports/monthly.pdf?region=360000&month=2025-03")
	if status != http.StatusOK || !bytes.HasPrefix(pdf, []byte("%PDF")) || hd.Get("Content-Type") != "application/pdf" {
		t.Fatalf("pdf: %d %v %.100s", status, hd, pdf)
	}
	if ex := rh.exports(); len(ex) != 1 || ex[0].Detail["format"] != "pdf" {
		t.Errorf("audited exports: %+v", ex)
	}
}
