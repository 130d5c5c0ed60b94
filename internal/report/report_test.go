package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/monitor"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/store/duckdb"
	"tracewatch/internal/workflow"
)

// The fixtures: a province of two cities; P1 and P2 in 东湖区 of Nanchang, P3 in 珠山区 of
// Jingdezhen; one western drug.
const (
	p1    = "P36010200001"
	p2    = "P36010200002"
	p3    = "P36020300001"
	drugX = "XA11DAW036A001010104127"
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, tracewatch.Beijing)
	if err != nil {
		panic(err)
	}
	return t
}

// sale is a 3505 envelope of one whole box settled by the fund, with its trace code
// (none when code is "").
func sale(msgid, inst, code, at string) []byte {
	row := map[string]any{"med_list_codg": drugX, "fixmedins_hilist_id": "YP0001", "fixmedins_hilist_name": "维生素B1片",
		"fixmedins_bchno": "B" + msgid, "prsc_dr_name": "李医生", "phar_name": "王药师", "phar_prac_cert_no": "YS123",
		"hi_feesetl_type": "1", "setl_id": "S" + msgid, "mdtrt_sn": "M" + msgid, "psn_no": "36000012345678", "psn_cert_type": "01",
		"certno": "11010519491231002X", "psn_name": "赵六", "manu_lotnum": "L2401", "manu_date": "2024-01-05", "expy_end": "2026-12-04",
		"rx_flag": "0", "trdn_flag": "0", "finl_trns_pric": "12.30", "rtal_docno": "R" + msgid, "sel_retn_cnt": 1,
		"sel_retn_time": at, "sel_retn_opter_name": "钱七", "mdtrt_setl_type": "1"}
	if code != "" {
		row["drugtracinfo"] = []map[string]string{{"drug_trac_codg": code}}
	}
	input, _ := json.Marshal(map[string]any{"selinfo": row})
	return []byte(`{"infno":"3505","msgid":"` + msgid + `","mdtrtarea_admvs":"360102","insuplc_admdvs":"360102",` +
		`"recer_sys_code":"FSI_LOCAL","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"","infver":"V1.0",` +
		`"opter_type":"1","opter":"OP001","opter_name":"收银员","inf_time":"` + at + `",` +
		`"fixmedins_code":"` + inst + `","fixmedins_name":"药房","sign_no":"","enc_type":"","input":` + string(input) + `}`)
}

// fixture is a store holding the sales, clues, workflow steps and points of the cases
// below, each with the near miss that must not count.
type fixture struct {
	st  *duckdb.Store
	ids map[string]int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, t.TempDir(), duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertRegions(ctx, []tracewatch.RegionInfo{{Code: "360000", Name: "江西省"}, {Code: "360100", Name: "南昌市", Parent: "360000"},
		{Code: "360102", Name: "东湖区", Parent: "360100"}, {Code: "360200", Name: "景德镇市", Parent: "360000"},
		{Code: "360203", Name: "珠山区", Parent: "360200"}}))
	must(st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: p1, Name: "一号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: p2, Name: "二号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360102"},
		{Code: p3, Name: "三号大药房", Type: tracewatch.InstitutionPharmacy, Region: "360203"},
	}))
	must(st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drugX, Name: "维生素B1片", PackContent: 100, Price: 1230, Reimbursable: true, Kind: "western"}}))
	in, err := ingest.New(ctx, st)
	must(err)
	// August: P1 sells three boxes on two days, one without a code; P3 one box. P2 sells
	// only in July, and P1's sale at 23:59:59 on 31 July is July's.
	for i, s := range []struct{ inst, code, at string }{
		{p1, "83857930000879766660", "2025-08-05 10:00:00"},
		{p1, "", "2025-08-05 11:00:00"},
		{p1, "83857930000879766677", "2025-08-20 09:00:00"},
		{p3, "83857930000879766684", "2025-08-31 23:59:59"},
		{p2, "83857930000879766691", "2025-07-15 09:00:00"},
		{p1, "83857930000879766707", "2025-07-31 23:59:59"},
	} {
		body := sale(fmt.Sprintf("MSG%03d", i), s.inst, s.code, s.at)
		req, err := nhsa.DecodeRequest(body)
		must(err)
		p, err := in.Prepare(ctx, req, body, "test", cst(s.at), cst(s.at))
		must(err)
		if len(p.Quarantine) > 0 {
			t.Fatalf("sale %d quarantined: %+v", i, p.Quarantine[0].Reason)
		}
		_, err = st.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{p.Message}, Events: p.Events})
		must(err)
	}
	f := &fixture{st: st, ids: map[string]int64{}}
	clue := func(fp, det, inst, region string, sev tracewatch.Severity, fen tracewatch.Fen, seen string) {
		t.Helper()
		c := tracewatch.Clue{Fingerprint: fp, Detector: det, Rule: "r", Severity: sev, Subject: tracewatch.SubjectInstitution, SubjectID: inst,
			Region: tracewatch.Region(region), Institution: inst, AmountFen: fen, AmountBasis: tracewatch.AmountFund, Explanation: "测试"}
		_, err := st.PutClues(ctx, []tracewatch.Clue{c}, cst(seen))
		must(err)
	}
	// Found in August: a, b, e (and u, of unknown region); c is found a second before,
	// d after.
	clue("a", "trace.duplicate@1", p1, "360102", tracewatch.SeverityViolation, 10000, "2025-08-10 02:00:00")
	clue("b", "trace.nosource@1", p3, "360203", tracewatch.SeveritySuspicious, 500, "2025-08-10 02:00:00")
	clue("e", "trace.duplicate@1", p2, "360102", tracewatch.SeverityHighlySuspicious, 2000, "2025-08-28 02:00:00")
	clue("u", "trace.duplicate@1", "P99999999999", "", tracewatch.SeveritySuspicious, 700, "2025-08-11 02:00:00")
	clue("c", "trace.duplicate@1", p1, "360102", tracewatch.SeveritySuspicious, 3000, "2025-07-31 23:59:59")
	clue("f", "trace.nosource@1", p3, "360203", tracewatch.SeverityViolation, 4000, "2025-07-25 02:00:00")
	clue("g", "trace.nosource@1", p1, "360102", tracewatch.SeverityNotice, 100, "2025-07-01 02:00:00")
	clue("d", "trace.duplicate@1", p1, "360102", tracewatch.SeverityViolation, 9000, "2025-09-05 02:00:00")
	all, err := st.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	must(err)
	for _, c := range all {
		f.ids[c.Fingerprint] = c.ID
	}
	// Closings: c and f in August with outcomes and points, g dismissed in August; a
	// closed in September (not August's), with points.
	closeClue := func(fp string, to tracewatch.ClueState, at string, o *tracewatch.Outcome) {
		t.Helper()
		when := cst(at)
		if o != nil {
			for i := range o.Points {
				o.Points[i].ClueID, o.Points[i].Time = f.ids[fp], when
			}
		}
		must(st.ApplySteps(ctx, []tracewatch.StepWrite{{Expect: tracewatch.ClueNew,
			Step: tracewatch.ClueStep{ClueID: f.ids[fp], From: tracewatch.ClueNew, To: to, Actor: "r1", Role: tracewatch.RoleReviewer, Time: when, Applied: true, Outcome: o},
			Flow: tracewatch.ClueFlow{Since: when, Outcome: o}}}))
	}
	closeClue("c", tracewatch.ClueClosed, "2025-08-20 10:00:00", &tracewatch.Outcome{Result: tracewatch.OutcomeConfirmed, RecoveredFen: 3000, PenaltyFen: 1000,
		FineFen: 200, AgreementAction: "interview", Referrals: []string{"police"},
		Points: []tracewatch.PointAward{{Practitioner: "D001", Institution: p1, Points: 6, Responsibility: "general"}}})
	closeClue("f", tracewatch.ClueClosed, "2025-08-15 10:00:00", &tracewatch.Outcome{Result: tracewatch.OutcomePartial, RecoveredFen: 500,
		Points: []tracewatch.PointAward{{Practitioner: "D009", Institution: p3, Points: 3, Responsibility: "minor"},
			{Practitioner: "D001", Institution: p3, Points: 1, Responsibility: "minor"}}})
	closeClue("g", tracewatch.ClueDismissed, "2025-08-05 10:00:00", nil)
	closeClue("a", tracewatch.ClueClosed, "2025-09-02 10:00:00", &tracewatch.Outcome{Result: tracewatch.OutcomeConfirmed, RecoveredFen: 10000,
		Points: []tracewatch.PointAward{{Practitioner: "D002", Institution: p1, Points: 9, Responsibility: "important"}}})
	return f
}

func pct(v *float64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%.4f", *v)
}

// TestMonthly computes August's report of the province and of Nanchang and checks every
// figure against the fixture: each near miss (a second before the month, a day after, a
// closing in September, another city) stays out.
func TestMonthly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := cst("2025-10-01 09:00:00")
	r, err := Monthly(ctx, f.st, "360000", "2025-08", monitor.Defaults, workflow.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Rates: four August lines, three coded; P1 and P3 of three institutions uploaded.
	if got := fmt.Sprintf("%d/%d %s %d/%d %s", r.Rates.Coded, r.Rates.Lines, pct(r.Rates.Collection), r.Rates.Uploading, r.Rates.Designated, pct(r.Rates.Access)); got != "3/4 0.7500 2/3 0.6667" {
		t.Errorf("rates: %s", got)
	}
	if r.From != "2025-08-01" || r.To != "2025-08-31" || len(r.Days) != 31 || !r.AsOf.Equal(cst("2025-09-01 00:00:00")) || r.AreaLevel != "city" || r.RegionName != "江西省" {
		t.Errorf("period: %s..%s, %d days, as of %v, %s %s", r.From, r.To, len(r.Days), r.AsOf, r.AreaLevel, r.RegionName)
	}
	day := func(d monitor.Day) string {
		return fmt.Sprintf("%s %d/%d %d/%d", d.Day, d.Coded, d.Lines, d.Uploading, d.Designated)
	}
	if got := []string{day(r.Days[0]), day(r.Days[4]), day(r.Days[19]), day(r.Days[30])}; !reflect.DeepEqual(got, []string{
		"2025-08-01 0/0 0/3", "2025-08-05 1/2 1/3", "2025-08-20 1/1 1/3", "2025-08-31 1/1 1/3"}) {
		t.Errorf("days: %q", got)
	}
	var areas []string
	for _, a := range r.Areas {
		areas = append(areas, fmt.Sprintf("%s %s %d/%d %d/%d found %d %s overdue %d", a.Code, a.Name, a.Rates.Coded, a.Rates.Lines,
			a.Rates.Uploading, a.Rates.Designated, a.Found, a.FoundAmountFen, a.Overdue))
	}
	// b (new since 10 August) is past its 10-day 初审 at the month's end; e (28 August) is
	// not; u, of unknown region, is overdue too.
	if want := []string{" 未知地区 0/0 0/0 found 1 7.00 overdue 1", "360100 南昌市 2/3 1/2 found 2 120.00 overdue 0",
		"360200 景德镇市 1/1 1/1 found 1 5.00 overdue 1"}; !reflect.DeepEqual(areas, want) {
		t.Errorf("areas:\n%s\nwant\n%s", strings.Join(areas, "\n"), strings.Join(want, "\n"))
	}
	if r.Found.Clues != 4 || r.Found.AmountFen != 13200 {
		t.Errorf("found: %d clues, %s", r.Found.Clues, r.Found.AmountFen)
	}
	var models, sevs []string
	for _, m := range r.Found.ByModel {
		models = append(models, fmt.Sprintf("%s %d %s", m.Key, m.Clues, m.AmountFen))
	}
	for _, s := range r.Found.BySeverity {
		sevs = append(sevs, fmt.Sprintf("%s %d", s.Label, s.Clues))
	}
	if want := []string{"trace.duplicate@1 3 127.00", "trace.nosource@1 1 5.00"}; !reflect.DeepEqual(models, want) {
		t.Errorf("by model: %q", models)
	}
	if want := []string{"明确违规 1", "高度可疑 1", "可疑 2"}; !reflect.DeepEqual(sevs, want) {
		t.Errorf("by severity: %q", sevs)
	}
	if m := r.Found.ByModel[0].Label; !strings.Contains(m, "重复") {
		t.Errorf("model title: %q", m)
	}
	var top []string
	for _, i := range r.TopInstitutions {
		top = append(top, fmt.Sprintf("%s %s %s %d/%d %s", i.Code, i.Name, i.RegionName, i.Serious, i.Clues, i.AmountFen))
	}
	if want := []string{p1 + " 一号大药房 东湖区 1/1 100.00", p2 + " 二号大药房 东湖区 1/1 20.00", "P99999999999   0/1 7.00",
		p3 + " 三号大药房 珠山区 0/1 5.00"}; !reflect.DeepEqual(top, want) {
		t.Errorf("top institutions:\n%s", strings.Join(top, "\n"))
	}
	c := r.Closed
	if got := fmt.Sprintf("%d closed %d dismissed, amount %s, recovered %s, penalty %s, fine %s", c.Clues, c.Dismissed, c.AmountFen, c.RecoveredFen, c.PenaltyFen, c.FineFen); got != "2 closed 1 dismissed, amount 70.00, recovered 35.00, penalty 10.00, fine 2.00" {
		t.Errorf("closed: %s", got)
	}
	var items []string
	for _, it := range c.Items {
		items = append(items, fmt.Sprintf("%d %s %s %s %s %s %s", it.ID, it.StateZh, it.ResultZh, it.ClosedAt.In(tracewatch.Beijing).Format("01-02"), it.RecoveredFen, it.ActionZh, it.ReferralsZh))
	}
	if want := []string{fmt.Sprintf("%d 排除  08-05 0.00  ", f.ids["g"]), fmt.Sprintf("%d 办结 部分属实 08-15 5.00  ", f.ids["f"]),
		fmt.Sprintf("%d 办结 违规属实 08-20 30.00 约谈 公安", f.ids["c"])}; !reflect.DeepEqual(items, want) {
		t.Errorf("closed items:\n%s", strings.Join(items, "\n"))
	}
	if want := []Tally{{"confirmed", "违规属实", 1}, {"partial", "部分属实", 1}}; !reflect.DeepEqual(c.ByResult, want) {
		t.Errorf("by result: %+v", c.ByResult)
	}
	if !reflect.DeepEqual(c.ByAction, []Tally{{"interview", "约谈", 1}}) || !reflect.DeepEqual(c.Referrals, []Tally{{"police", "公安", 1}}) {
		t.Errorf("actions %+v, referrals %+v", c.ByAction, c.Referrals)
	}
	if got := fmt.Sprintf("%d %s %+v", r.Overdue.Clues, r.Overdue.AmountFen, r.Overdue.ByState); got != "2 12.00 [{Key:new Label:机审 Clues:2 AmountFen:12.00}]" {
		t.Errorf("overdue: %s", got)
	}
	// Points: August's three awards (a's in September is not), two practitioners.
	p := r.Points
	if p.Awards != 3 || p.Points != 10 || p.Practitioners != 2 {
		t.Errorf("points: %+v", p)
	}
	if want := []PointBand{{"minor", "次要责任", 2, 4}, {"general", "一般责任", 1, 6}, {"important", "重要责任", 0, 0}, {"main", "主要责任", 0, 0}}; !reflect.DeepEqual(p.ByResponsibility, want) {
		t.Errorf("by responsibility: %+v", p.ByResponsibility)
	}
	if want := []InstitutionPoints{{p1, "一号大药房", "360102", 1, 1, 6}, {p3, "三号大药房", "360203", 2, 2, 4}}; !reflect.DeepEqual(p.ByInstitution, want) {
		t.Errorf("points by institution: %+v", p.ByInstitution)
	}

	// Nanchang's report: Jingdezhen's P3 and the clue of unknown region stay out; its areas
	// are counties.
	r, err = Monthly(ctx, f.st, "360100", "2025-08", monitor.Defaults, workflow.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s %d/%d %d/%d found %d closed %d/%d overdue %d points %d/%d areas %d %s", r.AreaLevel, r.Rates.Coded, r.Rates.Lines, r.Rates.Uploading,
		r.Rates.Designated, r.Found.Clues, r.Closed.Clues, r.Closed.Dismissed, r.Overdue.Clues, r.Points.Awards, r.Points.Points, len(r.Areas), r.Closed.RecoveredFen); got != "county 2/3 1/2 found 2 closed 1/1 overdue 0 points 1/6 areas 1 30.00" {
		t.Errorf("Nanchang: %s", got)
	}
}

// TestMonthlyCurrentMonth: in a month not over, the rates stop at today and overdue is
// counted now; a month not begun, or not a month, is refused naming the month.
func TestMonthlyCurrentMonth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := cst("2025-08-21 01:00:00")
	r, err := Monthly(ctx, f.st, "360000", "2025-08", monitor.Defaults, workflow.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	// At 01:00 on 21 August b (seen 02:00 on 10 August) is overdue; u (02:00 on 11 August)
	// is not yet.
	if r.To != "2025-08-21" || len(r.Days) != 21 || !r.AsOf.Equal(now) || r.Overdue.Clues != 1 || r.Rates.Lines != 3 {
		t.Errorf("current month: to %s, %d days, as of %v, overdue %d, lines %d", r.To, len(r.Days), r.AsOf, r.Overdue.Clues, r.Rates.Lines)
	}
	for _, m := range []string{"2025-09", "2025-13", "202508", ""} {
		_, err := Monthly(ctx, f.st, "360000", m, monitor.Defaults, workflow.Config{}, now)
		var te *tracewatch.Error
		if tracewatch.KindOf(err) != tracewatch.KindInvalid || !errors.As(err, &te) || te.Field != "month" {
			t.Errorf("month %q: %v, want invalid naming month", m, err)
		}
	}
}

// lastAt is a source whose latest data is at a given time.
type lastAt struct {
	*duckdb.Store
	last time.Time
}

func (l lastAt) LastEvent(context.Context) (time.Time, error) { return l.last, nil }

// TestMonthlyDataEnds: days after the latest data are not days nobody uploaded: the rates
// stop at the latest data's day. A month with no data keeps its days (graded 无数据).
func TestMonthlyDataEnds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := cst("2025-10-01 09:00:00")
	r, err := Monthly(ctx, lastAt{f.st, cst("2025-08-20 12:00:00")}, "360000", "2025-08", monitor.Defaults, workflow.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.To != "2025-08-20" || len(r.Days) != 20 || r.Rates.Lines != 3 || !r.AsOf.Equal(cst("2025-09-01 00:00:00")) {
		t.Errorf("data to 20 August: to %s, %d days, %d lines, as of %v", r.To, len(r.Days), r.Rates.Lines, r.AsOf)
	}
	r, err = Monthly(ctx, lastAt{f.st, cst("2025-07-31 23:59:59")}, "360000", "2025-08", monitor.Defaults, workflow.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.To != "2025-08-31" || len(r.Days) != 31 {
		t.Errorf("no data in August: to %s, %d days", r.To, len(r.Days))
	}
}

// TestXLSX writes the province's August report and reads the workbook back: its sheets
// in order, the headers, and figures as numbers (yuan with two decimals, rates as shares
// shown as percentages).
func TestXLSX(t *testing.T) {
	f := newFixture(t)
	r, err := Monthly(context.Background(), f.st, "360000", "2025-08", monitor.Defaults, workflow.Config{}, cst("2025-10-01 09:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := XLSX(r, &buf); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.GetSheetList(); !reflect.DeepEqual(got, Sheets) {
		t.Fatalf("sheets %q, want %q", got, Sheets)
	}
	cell := func(sheet, ref string) string {
		t.Helper()
		v, err := x.GetCellValue(sheet, ref)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	raw := func(sheet, ref string) string {
		t.Helper()
		v, err := x.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rows, _ := x.GetRows("概览")
	find := func(label string) int {
		for i, row := range rows {
			if len(row) > 0 && row[0] == label {
				return i + 1
			}
		}
		t.Fatalf("概览 has no row %q", label)
		return 0
	}
	for _, c := range []struct{ label, shown, raw string }{
		{"追溯码采集率", "75.00%", "0.75"},
		{"本月发现线索", "4", "4"},
		{"追回金额（元）", "35.00", "35"},
		{"违约金（元）", "10.00", "10"},
		{"逾期未办线索", "2", "2"},
		{"记分分值合计", "10", "10"},
	} {
		ref := fmt.Sprintf("B%d", find(c.label))
		if got, gotRaw := cell("概览", ref), raw("概览", ref); got != c.shown || gotRaw != c.raw {
			t.Errorf("概览 %s: %q (raw %q), want %q (%q)", c.label, got, gotRaw, c.shown, c.raw)
		}
	}
	if h := cell("办结线索", "K1"); h != "追回金额(元)" {
		t.Errorf("办结线索 K1 %q", h)
	}
	if got := cell("办结线索", "K4") + " " + cell("办结线索", "J4") + " " + cell("办结线索", "F4"); got != "30.00 违规属实 一号大药房" {
		t.Errorf("办结线索 row 4: %q", got)
	}
	if got := cell("采集率（按日）", "A6") + " " + cell("采集率（按日）", "D6"); got != "2025-08-05 50.00%" {
		t.Errorf("采集率（按日） 5 August: %q", got)
	}
	if got := cell("采集率（按日）", "D2"); got != "" {
		t.Errorf("a day without lines has no rate, not %q", got)
	}
	if got := cell("采集率（按地区）", "B3") + " " + cell("采集率（按地区）", "E3") + " " + cell("采集率（按地区）", "H3"); got != "南昌市 66.67% 50.00%" {
		t.Errorf("采集率（按地区） 南昌市: %q", got)
	}
	if got := cell("重点机构", "B2") + " " + cell("重点机构", "H2"); got != p1+" 100.00" {
		t.Errorf("重点机构 first: %q", got)
	}
	if got := cell("记分", "A3") + " " + cell("记分", "D3") + " " + cell("记分", "F3"); got != p3+" 2 4" {
		t.Errorf("记分 second: %q", got)
	}
	if got := cell("线索（按模型）", "C2"); got != "3" {
		t.Errorf("线索（按模型） first count %q", got)
	}
}

// TestHTML renders the standalone page: everything inlined (no src= or href= to load),
// the report's JSON readable back, and no "</script" inside a script.
func TestHTML(t *testing.T) {
	f := newFixture(t)
	r, err := Monthly(context.Background(), f.st, "360000", "2025-08", monitor.Defaults, workflow.Config{}, cst("2025-10-01 09:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	r.RegionName = "江西省</script><script>alert(1)</script>"
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, bad := range []string{"<script src", "<link", `href="/static`, "alert(1)</script>", "report-form"} {
		if strings.Contains(s, bad) {
			t.Errorf("the standalone page holds %q", bad)
		}
	}
	for _, want := range []string{`data-print="1"`, `data-page="report"`, "echarts", "TW.pages.report", `id="chart-days"`} {
		if !strings.Contains(s, want) {
			t.Errorf("the standalone page lacks %q", want)
		}
	}
	start := strings.Index(s, `<script type="application/json" id="report-data">`)
	end := strings.Index(s[start:], "</script>")
	if start < 0 || end < 0 {
		t.Fatal("no report data")
	}
	var back Report
	if err := json.Unmarshal([]byte(s[start+len(`<script type="application/json" id="report-data">`):start+end]), &back); err != nil {
		t.Fatal(err)
	}
	if back.RegionName != r.RegionName || back.Found.Clues != 4 {
		t.Errorf("the inlined report: %q, %d clues", back.RegionName, back.Found.Clues)
	}
}
