package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/browser"
	"tracewatch/internal/monitor"
	"tracewatch/internal/report"
	"tracewatch/internal/workflow"
)

// tracewatch report monthly: the 月报 of a region and month as a PDF, an XLSX, a
// self-contained HTML page, JSON, or a short summary (docs/web.md, "月报").

func init() {
	register("report", "reports: report monthly --region R --month YYYY-MM [--pdf FILE] [--xlsx FILE] [--html FILE] [--json] [--data-dir D | --server URL]", func(e env) int {
		return subcommand(e, "report", map[string]func(env) int{"monthly": runReportMonthly})
	})
}

func runReportMonthly(e env) int {
	const name = "report monthly"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := dataDirFlag(fs)
	regionS := fs.String("region", "", "the region (6 digits: a province, city or county); required")
	month := fs.String("month", "", "the month, YYYY-MM; required")
	pdfPath := fs.String("pdf", "", "write the report as an A4 PDF (printed by a headless Chromium)")
	xlsxPath := fs.String("xlsx", "", "write the report as an Excel workbook")
	htmlPath := fs.String("html", "", "write the report as one self-contained HTML page")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	rf := addRemoteFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch report monthly --region R --month YYYY-MM [--pdf FILE] [--xlsx FILE] [--html FILE] [--json] [--data-dir D | --server URL [--token T]]")
		fmt.Fprintln(e.stderr, "Without an output flag it prints a short summary. The PDF needs Chromium (apt-get install -y chromium) and a Chinese font (apt-get install -y fonts-noto-cjk).")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	invalid := func(flag, format string, args ...any) int {
		return fail(e.stderr, name, tracewatch.Errorf(name, tracewatch.KindInvalid, "--"+flag+": "+format, args...).WithField(flag))
	}
	if *regionS == "" {
		return invalid("region", "required (6 digits, e.g. 360000)")
	}
	region, err := tracewatch.ParseRegion(*regionS)
	if err != nil {
		return invalid("region", "want 6 digits, not %q", *regionS)
	}
	if *month == "" {
		return invalid("month", "required (YYYY-MM)")
	}
	if _, _, err := monitor.Month(*month); err != nil {
		return invalid("month", "want YYYY-MM, not %q", *month)
	}
	c, err := remoteOf(fs, rf, "data-dir")
	if err != nil {
		return failRemote(e, name, err)
	}
	if c != nil {
		return remoteReport(e, c, region, *month, *pdfPath, *xlsxPath, *htmlPath, *asJSON)
	}
	mon, err := monitor.Load(filepath.Join(*dir, monitor.FileName))
	if err != nil {
		return fail(e.stderr, name, err)
	}
	wf, err := workflow.Load(workflowPath(*dir))
	if err != nil {
		return fail(e.stderr, name, err)
	}
	ctx := context.Background()
	r, err := monthlyReport(ctx, *dir, region, *month, mon, wf)
	if err != nil {
		if tracewatch.KindOf(err) == tracewatch.KindInvalid {
			var te *tracewatch.Error
			if errors.As(err, &te) && te.Field == "month" {
				return invalid("month", "%v", te.Err)
			}
		}
		return fail(e.stderr, name, err)
	}
	// The files first, the XLSX before the PDF: a missing Chromium still leaves the
	// workbook written.
	written := map[string]any{}
	var failed error
	record := func(kind, path string, write func(io.Writer) error) {
		if path == "" || failed != nil {
			return
		}
		if err := writeFile(path, write); err != nil {
			failed = errors.Join(failed, err)
			return
		}
		abs, _ := filepath.Abs(path)
		sum, _ := fileSHA256(path)
		written[kind] = abs
		written[kind+"_sha256"] = sum
		fmt.Fprintf(e.stderr, "%s written to %s\n", strings.ToUpper(kind), path)
	}
	record("xlsx", *xlsxPath, func(w io.Writer) error { return report.XLSX(r, w) })
	var page []byte
	if *htmlPath != "" || *pdfPath != "" {
		if page, err = report.HTML(r); err != nil {
			failed = errors.Join(failed, err)
		}
	}
	record("html", *htmlPath, func(w io.Writer) error { _, err := w.Write(page); return err })
	if *pdfPath != "" && failed == nil {
		pdf, err := report.PDF(ctx, page)
		switch {
		case errors.Is(err, browser.ErrNoBrowser):
			failed = fmt.Errorf("--pdf: %w", err)
		case err != nil:
			failed = err
		default:
			if !chineseFont() {
				fmt.Fprintln(e.stderr, "warning: no Chinese font found (fc-list :lang=zh): the PDF's Chinese text may show as boxes; install one (apt-get install -y fonts-noto-cjk)")
			}
			record("pdf", *pdfPath, func(w io.Writer) error { _, err := w.Write(pdf); return err })
		}
	}
	// A report leaves the system as files: the audit log keeps who, which and their SHA-256.
	if len(written) > 0 {
		written["region"], written["month"] = string(region), *month
		if err := auditCLI(*dir, "export", "report:monthly:"+string(region)+":"+*month, written); err != nil {
			failed = errors.Join(failed, fmt.Errorf("the files were written, but the audit log could not record them: %w", err))
		}
	}
	if failed != nil {
		return fail(e.stderr, name, failed)
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(r)
	case *pdfPath == "" && *xlsxPath == "" && *htmlPath == "":
		writeReportSummary(e.stdout, r)
	}
	return exitOK
}

// remoteReport asks a running serve for the report: the JSON, and the files from the
// server's own endpoints (it prints the PDF and records each export in its audit log, as
// the signed-in caller: any staff user's token).
func remoteReport(e env, c *remote, region tracewatch.Region, month, pdfPath, xlsxPath, htmlPath string, asJSON bool) int {
	const name = "report monthly"
	ctx := context.Background()
	q := url.Values{"region": {string(region)}, "month": {month}}
	b, err := c.call(ctx, http.MethodGet, "/api/v1/reports/monthly", q, nil, nil, false, nil)
	if err != nil {
		var re *remoteError
		if errors.As(err, &re) && re.status == http.StatusBadRequest {
			return fail(e.stderr, name, fmt.Errorf("--month or --region: %w", err))
		}
		return fail(e.stderr, name, err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return fail(e.stderr, name, fmt.Errorf("the server's report: %v", err))
	}
	for _, f := range []struct{ kind, path, endpoint string }{
		{"xlsx", xlsxPath, "/api/v1/reports/monthly.xlsx"},
		{"html", htmlPath, "/api/v1/reports/monthly.html"},
		{"pdf", pdfPath, "/api/v1/reports/monthly.pdf"},
	} {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, func(w io.Writer) error { return c.download(ctx, f.endpoint, q, w) }); err != nil {
			return fail(e.stderr, name, fmt.Errorf("--%s: %w", f.kind, err))
		}
		fmt.Fprintf(e.stderr, "%s written to %s\n", strings.ToUpper(f.kind), f.path)
	}
	switch {
	case asJSON:
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(r)
	case pdfPath == "" && xlsxPath == "" && htmlPath == "":
		writeReportSummary(e.stdout, r)
	}
	return exitOK
}

// monthlyReport computes the report on the store in dir, closing the store before any
// file is written (the PDF takes a while; serve may want the store back).
func monthlyReport(ctx context.Context, dir string, region tracewatch.Region, month string, mon monitor.Config, wf workflow.Config) (report.Report, error) {
	st, err := openStore(ctx, dir)
	if err != nil {
		return report.Report{}, err
	}
	defer st.Close()
	return report.Monthly(ctx, st, region, month, mon, wf, time.Now())
}

// writeFile writes a file whole or not at all: into a temporary file beside it, renamed
// over it once complete.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// chineseFont reports whether fontconfig knows a Chinese font (true when it cannot tell).
func chineseFont() bool {
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	return err != nil || len(bytes.TrimSpace(out)) > 0
}

func writeReportSummary(w io.Writer, r report.Report) {
	pct := func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f%%", *v*100)
	}
	c := r.Closed
	fmt.Fprintf(w, "%s（%s） %s 月报  统计期间 %s 至 %s\n", r.RegionName, r.Region, r.Month, r.From, r.To)
	fmt.Fprintf(w, "追溯码采集率 %s（%d/%d 行）  接入率 %s（%d/%d 家）\n", pct(r.Rates.Collection), r.Rates.Coded, r.Rates.Lines,
		pct(r.Rates.Access), r.Rates.Uploading, r.Rates.Designated)
	fmt.Fprintf(w, "本月发现线索 %d 条，涉及 %s 元\n", r.Found.Clues, r.Found.AmountFen)
	fmt.Fprintf(w, "本月办结 %d 条、排除 %d 条；追回 %s 元，违约金 %s 元，罚款 %s 元\n", c.Clues, c.Dismissed, c.RecoveredFen, c.PenaltyFen, c.FineFen)
	fmt.Fprintf(w, "逾期未办 %d 条（截至 %s），涉及 %s 元\n", r.Overdue.Clues, r.AsOf.In(tracewatch.Beijing).Format("2006-01-02 15:04"), r.Overdue.AmountFen)
	fmt.Fprintf(w, "记分 %d 次，%d 人，合计 %d 分\n", r.Points.Awards, r.Points.Practitioners, r.Points.Points)
	if len(r.TopInstitutions) > 0 {
		fmt.Fprintln(w, "线索最多的机构：")
		for i, t := range r.TopInstitutions {
			fmt.Fprintf(w, "  %2d. %s %s  %d 条  %s 元\n", i+1, t.Code, t.Name, t.Clues, t.AmountFen)
		}
	}
}
