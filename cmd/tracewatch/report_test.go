package main

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"tracewatch"
	"tracewatch/internal/browser"
	"tracewatch/internal/report"
)

// TestReportMonthlyCLI makes the 月报 of a tiny demo province: the workbook's sheets hold
// the figures the JSON report gives; a clue dismissed now shows in this month's report;
// bad flags are refused naming the flag; without Chromium the workbook is still written
// and the error says how to install it; with Chromium the PDF is printed from a page
// without errors whose charts make it larger than the same page printed without them.
func TestReportMonthlyCLI(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "", "demo", "--dir", dir, "--scale", "tiny", "--seed", "7"); code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	data := filepath.Join(dir, "data")
	args := []string{"report", "monthly", "--data-dir", data, "--region", "360000", "--month", "2025-08"}
	code, out, errOut := runCLI(t, "", append(args, "--json")...)
	var rep report.Report
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("--json: %d %s %s", code, out, errOut)
	}
	if rep.Rates.Lines == 0 || rep.Rates.Collection == nil || len(rep.Days) != 31 || len(rep.Areas) == 0 {
		t.Fatalf("August of the demo has no figures: %.500s", out)
	}
	// The demo screens at each month's end: August's report has August's findings.
	if rep.Found.Clues == 0 || len(rep.Found.ByModel) == 0 {
		t.Errorf("August of the demo found no clue: %+v", rep.Found)
	}

	// Bad flags, named; nothing written.
	xlsx := filepath.Join(dir, "r.xlsx")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--region", "360000", "--month", "2025-13"}, "--month: want YYYY-MM"},
		{[]string{"--region", "360000", "--month", "August"}, "--month: want YYYY-MM"},
		{[]string{"--region", "360000"}, "--month: required"},
		{[]string{"--month", "2025-08"}, "--region: required"},
		{[]string{"--region", "36", "--month", "2025-08"}, "--region: want 6 digits"},
		{[]string{"--region", "360000", "--month", "2099-01"}, "--month: 2099-01 has not begun"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"report", "monthly", "--data-dir", data, "--xlsx", xlsx}, c.args...)...)
		if code != exitFail || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if _, err := os.Stat(xlsx); err == nil {
		t.Error("a refused command wrote the workbook")
	}

	// Without Chromium: the workbook, and an error naming the install.
	pdf := filepath.Join(dir, "r.pdf")
	t.Run("no chromium", func(t *testing.T) {
		t.Setenv("TRACEWATCH_CHROMIUM", "")
		t.Setenv("PATH", t.TempDir())
		code, _, errOut := runCLI(t, "", append(args, "--pdf", pdf, "--xlsx", xlsx)...)
		if code != exitFail || !strings.Contains(errOut, "--pdf") || !strings.Contains(errOut, "apt-get install -y chromium") {
			t.Errorf("--pdf without Chromium: exit %d %q", code, errOut)
		}
		if _, err := os.Stat(xlsx); err != nil {
			t.Errorf("the workbook was not written: %v", err)
		}
		if _, err := os.Stat(pdf); err == nil {
			t.Error("a PDF was written")
		}
	})
	os.Remove(xlsx)

	html := filepath.Join(dir, "r.html")
	_, chromium := browser.Find()
	outArgs := append(args, "--xlsx", xlsx, "--html", html)
	if chromium == nil {
		outArgs = append(outArgs, "--pdf", pdf)
	}
	if code, out, errOut := runCLI(t, "", outArgs...); code != exitOK || out != "" {
		t.Fatalf("report files: exit %d %q %q", code, out, errOut)
	}
	checkReportXLSX(t, xlsx, rep)

	// The export is audited with the workbook's SHA-256.
	sum, err := fileSHA256(xlsx)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "audit", "list", "--data-dir", data, "--action", "export", "--json")
	entries := decodeLines(t, out)
	last := entries[len(entries)-1]
	if code != exitOK || last["object"] != "report:monthly:360000:2025-08" || last["detail"].(map[string]any)["xlsx_sha256"] != sum {
		t.Errorf("audit: %d %v", code, last)
	}

	// A clue dismissed now is in this month's report, not in August's.
	if code, out, errOut := runCLI(t, "a long enough password\n", "user", "create", "--data-dir", data, "--name", "r1", "--role", "reviewer",
		"--region", "360000", "--password-stdin"); code != exitOK {
		t.Fatalf("user create: %s %s", out, errOut)
	}
	if code, out, errOut := runCLI(t, "", "clue", "transition", "--data-dir", data, "1", "dismissed", "--as", "r1", "--note", "数据问题"); code != exitOK {
		t.Fatalf("dismiss: %s %s", out, errOut)
	}
	month := time.Now().In(tracewatch.Beijing).Format("2006-01")
	code, out, errOut = runCLI(t, "", "report", "monthly", "--data-dir", data, "--region", "360000", "--month", month, "--json")
	var now report.Report
	if code != exitOK || json.Unmarshal([]byte(out), &now) != nil {
		t.Fatalf("this month: %d %s", code, errOut)
	}
	if now.Closed.Dismissed != 1 || len(now.Closed.Items) != 1 || now.Closed.Items[0].ID != 1 || now.Closed.Items[0].State != tracewatch.ClueDismissed {
		t.Errorf("this month's closings: %+v", now.Closed)
	}
	code, out, _ = runCLI(t, "", append(args, "--json")...)
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.Closed.Dismissed != 0 {
		t.Errorf("August's closings: %+v", rep.Closed)
	}
	code, out, _ = runCLI(t, "", "report", "monthly", "--data-dir", data, "--region", "360000", "--month", month)
	if code != exitOK || !strings.Contains(out, "排除 1 条") {
		t.Errorf("summary: %d %q", code, out)
	}

	if chromium != nil {
		t.Skip("no Chromium: the PDF is not checked (" + chromium.Error() + ")")
	}
	checkReportPDF(t, pdf, html)
}

// checkReportXLSX reads the workbook back and compares it with the JSON report.
func checkReportXLSX(t *testing.T, path string, rep report.Report) {
	t.Helper()
	x, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.GetSheetList(); !reflect.DeepEqual(got, report.Sheets) {
		t.Errorf("sheets %q, want %q", got, report.Sheets)
	}
	raw := excelize.Options{RawCellValue: true}
	rows := func(sheet string) [][]string {
		t.Helper()
		r, err := x.GetRows(sheet, raw)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("not a number: %q", s)
		}
		return v
	}
	overview := map[string]string{}
	for _, r := range rows("概览") {
		if len(r) > 1 {
			overview[r[0]] = r[1]
		}
	}
	// A cell keeps a number to Excel's 15 significant digits.
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-13*math.Max(1, math.Abs(b)) }
	if got := num(overview["追溯码采集率"]); !near(got, *rep.Rates.Collection) {
		t.Errorf("概览 采集率 %v, want %v", got, *rep.Rates.Collection)
	}
	if got := num(overview["医保药品销售行"]); got != float64(rep.Rates.Lines) {
		t.Errorf("概览 销售行 %v, want %d", got, rep.Rates.Lines)
	}
	if got := num(overview["接入率"]); !near(got, *rep.Rates.Access) {
		t.Errorf("概览 接入率 %v, want %v", got, *rep.Rates.Access)
	}
	for i, r := range rows("概览") {
		if r[0] == "追溯码采集率" {
			if shown, _ := x.GetCellValue("概览", fmt.Sprintf("B%d", i+1)); shown != fmt.Sprintf("%.2f%%", *rep.Rates.Collection*100) {
				t.Errorf("概览 采集率 shows %q", shown)
			}
		}
	}
	days := rows("采集率（按日）")
	var lines, coded float64
	for _, r := range days[1:] {
		lines += num(r[1])
		coded += num(r[2])
	}
	if len(days) != 32 || days[0][0] != "日期" || days[1][0] != "2025-08-01" || lines != float64(rep.Rates.Lines) || coded != float64(rep.Rates.Coded) {
		t.Errorf("采集率（按日）: %d rows, %v lines, %v coded; want 31 days, %d, %d", len(days)-1, lines, coded, rep.Rates.Lines, rep.Rates.Coded)
	}
	areas := rows("采集率（按地区）")
	lines = 0
	for _, r := range areas[1:] {
		lines += num(r[2])
	}
	if len(areas)-1 != len(rep.Areas) || lines != float64(rep.Rates.Lines) || areas[1][1] != rep.Areas[0].Name {
		t.Errorf("采集率（按地区）: %d rows, %v lines; want %d, %d", len(areas)-1, lines, len(rep.Areas), rep.Rates.Lines)
	}
	for _, sheet := range []string{"线索（按模型）", "办结线索", "重点机构", "记分"} {
		if r := rows(sheet); len(r) == 0 || len(r[0]) < 3 {
			t.Errorf("%s: no header", sheet)
		}
	}
}

// checkReportPDF: the PDF printed, the page it comes from loads without an error and
// draws its charts as SVG, and the charts are in the PDF: it is larger than the same page
// printed without ECharts.
func checkReportPDF(t *testing.T, pdfPath, htmlPath string) {
	t.Helper()
	pdf, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %.20q", pdf)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := browser.Start(t.Context(), 794, 1123)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, err := b.NewTab()
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	var charts int
	var title string
	if err := tab.Run(60*time.Second, chromedp.Navigate("file://"+htmlPath), browser.Ready(),
		chromedp.Evaluate(`document.querySelectorAll('.r-chart svg').length`, &charts),
		chromedp.Text(`#r-title`, &title, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("the report page logged errors: %q", errs)
	}
	if charts < 2 || !strings.Contains(title, "2025年8月") {
		t.Errorf("the page drew %d SVG charts, title %q", charts, title)
	}
	// The same page without ECharts: the charts' boxes stay empty.
	s := string(page)
	i := strings.Index(s, "<script>")
	j := strings.Index(s[i:], "</script>")
	if i < 0 || j < 0 || !strings.Contains(s[i:i+j], "echarts") {
		t.Fatal("the first inlined script is not ECharts")
	}
	bare, err := report.PDF(t.Context(), []byte(s[:i]+"<script>"+s[i+j:]))
	if err != nil {
		t.Fatal(err)
	}
	// The charts are vector paths: count the line segments drawn (PDF operator "l") in
	// the pages' content streams. The day chart alone draws two lines of 30 segments.
	withCharts, without := pdfLines(t, pdf), pdfLines(t, bare)
	t.Logf("PDF with charts: %d bytes, %d line segments; without: %d bytes, %d", len(pdf), withCharts, len(bare), without)
	if len(pdf) <= len(bare) || withCharts < without+60 {
		t.Errorf("the charts are not in the PDF: %d bytes and %d line segments, against %d and %d without them", len(pdf), withCharts, len(bare), without)
	}
}

// pdfLines counts the line segments (operator "l") of a PDF's Flate-compressed streams.
func pdfLines(t *testing.T, pdf []byte) int {
	t.Helper()
	n := 0
	for rest := pdf; ; {
		i := bytes.Index(rest, []byte("stream\n"))
		if i < 0 {
			return n
		}
		rest = rest[i+len("stream\n"):]
		j := bytes.Index(rest, []byte("endstream"))
		if j < 0 {
			return n
		}
		if r, err := zlib.NewReader(bytes.NewReader(rest[:j])); err == nil {
			b, _ := io.ReadAll(r)
			n += bytes.Count(b, []byte(" l\n"))
		}
		rest = rest[j:]
	}
}

// TestReportMonthlyServer: with --server the report comes from a running serve (which
// holds the store): the same figures as a local run, the workbook and the self-contained
// page written from the server's endpoints and audited there; --data-dir is refused with
// --server, and a bad month is named.
func TestReportMonthlyServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "", "demo", "--dir", dir, "--scale", "tiny", "--seed", "7"); code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	data := filepath.Join(dir, "data")
	args := []string{"report", "monthly", "--region", "360000", "--month", "2025-08"}
	var local report.Report
	json.Unmarshal([]byte(mustCLI(t, append(args, "--data-dir", data, "--json")...)), &local)
	var viewer struct{ Token string }
	json.Unmarshal([]byte(mustCLI(t, "token", "create", "--json", "--data-dir", data, "--name", "leader")), &viewer)
	srv := serveLogged(t, bin, "--data-dir", data)
	t.Setenv(tokenEnv, viewer.Token)

	var remote report.Report
	if err := json.Unmarshal([]byte(mustCLI(t, append(args, "--server", srv.base, "--json")...)), &remote); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(local.Rates, remote.Rates) || !reflect.DeepEqual(local.Found, remote.Found) || len(remote.Days) != 31 {
		t.Errorf("--server: rates %+v found %+v, local %+v %+v", remote.Rates, remote.Found, local.Rates, local.Found)
	}
	xlsx, html := filepath.Join(dir, "s.xlsx"), filepath.Join(dir, "s.html")
	if code, _, errOut := runCLI(t, "", append(args, "--server", srv.base, "--xlsx", xlsx, "--html", html)...); code != exitOK {
		t.Fatalf("--server --xlsx --html: %s", errOut)
	}
	checkReportXLSX(t, xlsx, remote)
	if b, _ := os.ReadFile(html); !bytes.Contains(b, []byte("<html")) || !bytes.Contains(b, []byte("2025-08")) {
		t.Errorf("--server --html wrote %.200q", b)
	}
	// The server audited both files as the token's user.
	srv.stop(t)
	_, out, _ := runCLI(t, "", "audit", "list", "--data-dir", data, "--action", "export", "--json")
	formats := map[string]bool{}
	for _, e := range decodeLines(t, out) {
		if e["object"] == "report:monthly:360000:2025-08" && e["actor"] == "leader" {
			formats[e["detail"].(map[string]any)["format"].(string)] = true
		}
	}
	if !formats["xlsx"] || !formats["html"] {
		t.Errorf("the server's audit log has the exports %v, want xlsx and html\n%s", formats, out)
	}

	// Refusals, named.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", "http://127.0.0.1:1", "--data-dir", data}, "--data-dir: not with --server"},
		{[]string{"--token", "x"}, "--token: only with --server"},
	} {
		code, _, errOut := runCLI(t, "", append(args, c.args...)...)
		if code == exitOK || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d %q, want %q", c.args, code, errOut, c.want)
		}
	}
}
