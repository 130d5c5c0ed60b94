package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/monitor"
	"tracewatch/internal/report"
)

// The monthly report (月报, docs/web.md): GET /reports is the page, GET
// /api/v1/reports/monthly its figures, .xlsx and .pdf its files. The PDF is printed from
// the same page as the CLI prints, the standalone file, by a headless Chromium.

// reportSource reads a report's facts: the month's per-day facts from the dashboard's
// cache, the rest from the store.
type reportSource struct {
	tracewatch.Store
	s *Server
}

func (r reportSource) Institutions(ctx context.Context) ([]tracewatch.Institution, error) {
	return r.s.facts.Institutions(ctx)
}

func (r reportSource) Regions(ctx context.Context) ([]tracewatch.RegionInfo, error) {
	return r.s.facts.Regions(ctx)
}

func (r reportSource) CollectionDays(ctx context.Context, w tracewatch.Window) ([]facts.CollectionDay, error) {
	pf, err := r.s.periodFacts(ctx, w.From, w.To)
	if err != nil {
		return nil, err
	}
	return pf.collection, nil
}

func (r reportSource) LastEvent(ctx context.Context) (time.Time, error) {
	return r.s.facts.LastEvent(ctx)
}

func (r reportSource) UploadDays(ctx context.Context, w tracewatch.Window) ([]facts.UploadDay, error) {
	pf, err := r.s.periodFacts(ctx, w.From, w.To)
	if err != nil {
		return nil, err
	}
	return pf.uploads, nil
}

// monthlyReport reads region and month of a request (region: the caller's by default,
// else one it covers) and computes their report.
func (s *Server) monthlyReport(r *http.Request, op string) (report.Report, error) {
	q, err := query(r, "region", "month")
	if err != nil {
		return report.Report{}, err
	}
	region, err := regionParam(op, userOf(r), q.Get("region"))
	if err != nil {
		return report.Report{}, err
	}
	month := q.Get("month")
	if month == "" {
		return report.Report{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a month as YYYY-MM").WithField("month")
	}
	return report.Monthly(r.Context(), reportSource{s.st, s}, region, month, s.monitor, s.wf, s.now())
}

// handleReportMonthly answers GET /api/v1/reports/monthly?region=&month=: the report's
// figures as JSON.
func (s *Server) handleReportMonthly(w http.ResponseWriter, r *http.Request) {
	rep, err := s.monthlyReport(r, "server.ReportMonthly")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// handleReportXLSX answers GET /api/v1/reports/monthly.xlsx?region=&month=: the report
// as a workbook, the export audited.
func (s *Server) handleReportXLSX(w http.ResponseWriter, r *http.Request) {
	rep, err := s.monthlyReport(r, "server.ReportXLSX")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := report.XLSX(rep, &buf); err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.sendReport(w, r, rep, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", buf.Bytes())
}

// handleReportHTML answers GET /api/v1/reports/monthly.html?region=&month=: the report as
// one self-contained page (styles, scripts, charts and figures inlined) to download, the
// export audited.
func (s *Server) handleReportHTML(w http.ResponseWriter, r *http.Request) {
	rep, page, err := s.monthlyPage(r, "server.ReportHTML")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.sendReport(w, r, rep, "html", "text/html; charset=utf-8", page)
}

// monthlyPage computes a request's report and its self-contained page.
func (s *Server) monthlyPage(r *http.Request, op string) (report.Report, []byte, error) {
	rep, err := s.monthlyReport(r, op)
	if err != nil {
		return rep, nil, err
	}
	page, err := report.HTML(rep)
	return rep, page, err
}

// printSlot lets one report print at a time: each print is a Chromium.
var printSlot = make(chan struct{}, 1)

// handleReportPDF answers GET /api/v1/reports/monthly.pdf?region=&month=: the report
// printed to an A4 PDF, the export audited; 503 naming what to install when the server
// has no Chromium.
func (s *Server) handleReportPDF(w http.ResponseWriter, r *http.Request) {
	rep, page, err := s.monthlyPage(r, "server.ReportPDF")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	select {
	case printSlot <- struct{}{}:
		defer func() { <-printSlot }()
	case <-r.Context().Done():
		return
	}
	pdf, err := report.PDF(r.Context(), page)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.sendReport(w, r, rep, "pdf", "application/pdf", pdf)
}

// sendReport audits a report's file and sends it as an attachment.
func (s *Server) sendReport(w http.ResponseWriter, r *http.Request, rep report.Report, format, contentType string, b []byte) {
	sum := sha256.Sum256(b)
	object := "report:monthly:" + string(rep.Region) + ":" + rep.Month
	if err := s.audit(r, userOf(r).Name, "export", object, map[string]any{"format": format, "bytes": len(b), "sha256": hex.EncodeToString(sum[:])}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	name := "monthly-report-" + rep.Month + "." + format
	if rep.Region != "" {
		name = "monthly-report-" + string(rep.Region) + "-" + rep.Month + "." + format
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// reportPage is 月报: the form (region and month: the user's and the latest month with
// data by default, or those of the query) and, once asked, the report drawn by report.js
// from GET /api/v1/reports/monthly.
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	d := report.PageData{Region: string(p.Region), Month: s.now().In(tracewatch.Beijing).Format("2006-01")}
	if p.Region == "" {
		d.Regions = append(d.Regions, report.RegionOption{Code: "", Name: "全部地区"})
	}
	if s.facts != nil {
		if last, err := s.facts.LastEvent(ctx); err == nil && !last.IsZero() && last.Before(s.now()) {
			d.Month = last.In(tracewatch.Beijing).Format("2006-01")
		}
		if regions, err := s.facts.Regions(ctx); err == nil {
			sort.Slice(regions, func(i, j int) bool { return regions[i].Code < regions[j].Code })
			for _, rg := range regions {
				if p.User.Covers(rg.Code) {
					d.Regions = append(d.Regions, report.RegionOption{Code: string(rg.Code), Name: rg.Name})
				}
			}
		}
	}
	if !hasRegion(d.Regions, string(p.Region)) { // no reference data for it
		d.Regions = append([]report.RegionOption{{Code: string(p.Region), Name: string(p.Region)}}, d.Regions...)
	}
	q := r.URL.Query()
	if v := q.Get("region"); hasRegion(d.Regions, v) {
		d.Region = v
	}
	if v := q.Get("month"); v != "" {
		if _, _, err := monitor.Month(v); err == nil {
			d.Month = v
		}
	}
	s.render(w, r, http.StatusOK, pageSpec{template: "report", title: "月报", nav: "/reports", charts: true, scripts: []string{"report.js"}}, p, d)
}

func hasRegion(opts []report.RegionOption, code string) bool {
	for _, o := range opts {
		if o.Code == code {
			return true
		}
	}
	return false
}
