package report

import (
	"io"

	"github.com/xuri/excelize/v2"

	"tracewatch"
)

// Sheets are the workbook's sheets, in order (a public contract: docs/web.md).
var Sheets = []string{"概览", "采集率（按地区）", "采集率（按日）", "线索（按模型）", "办结线索", "重点机构", "记分"}

// workbook writes rows with the report's styles: money in yuan with two decimals, rates
// as percentages.
type workbook struct {
	x                *excelize.File
	head, money, pct int
}

func (w *workbook) yuan(f tracewatch.Fen) excelize.Cell {
	return excelize.Cell{StyleID: w.money, Value: float64(f) / 100}
}

// rate is a share as a percentage; an unknown rate (no denominator) is left empty.
func (w *workbook) rate(v *float64) any {
	if v == nil {
		return ""
	}
	return excelize.Cell{StyleID: w.pct, Value: *v}
}

func (w *workbook) sheet(name string, widths []float64, header []string, rows [][]any) error {
	if _, err := w.x.NewSheet(name); err != nil {
		return err
	}
	for i, width := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := w.x.SetColWidth(name, col, col, width); err != nil {
			return err
		}
	}
	set := func(col, row int, v any) error {
		ref, err := excelize.CoordinatesToCellName(col, row)
		if err != nil {
			return err
		}
		c, styled := v.(excelize.Cell)
		if styled {
			v = c.Value
		}
		if err := w.x.SetCellValue(name, ref, v); err != nil {
			return err
		}
		if styled {
			return w.x.SetCellStyle(name, ref, ref, c.StyleID)
		}
		return nil
	}
	for i, h := range header {
		if err := set(i+1, 1, excelize.Cell{StyleID: w.head, Value: h}); err != nil {
			return err
		}
	}
	for i, row := range rows {
		for j, v := range row {
			if err := set(j+1, i+2, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// XLSX writes the report as a workbook of the sheets Sheets names, with Chinese headers.
func XLSX(r Report, out io.Writer) error {
	const op = "report.XLSX"
	x := excelize.NewFile()
	defer x.Close()
	w := &workbook{x: x}
	var err error
	styles := []struct {
		dst *int
		s   *excelize.Style
	}{
		{&w.head, &excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DCE6F1"}}}},
		{&w.money, &excelize.Style{NumFmt: 4}}, // #,##0.00
		{&w.pct, &excelize.Style{NumFmt: 10}},  // 0.00%
	}
	for _, s := range styles {
		if *s.dst, err = x.NewStyle(s.s); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
	}
	region := r.RegionName
	if r.Region != "" {
		region += "（" + string(r.Region) + "）"
	}
	c := r.Closed
	overview := [][]any{
		{"统筹区", region, ""},
		{"月份", r.Month, ""},
		{"统计期间", r.From + " 至 " + r.To, "采集率、接入率的统计日期"},
		{"逾期统计时点", r.AsOf.In(tracewatch.Beijing).Format("2006-01-02 15:04"), "月末，或生成时间（本月未结束时）"},
		{"生成时间", r.Generated.In(tracewatch.Beijing).Format("2006-01-02 15:04:05"), ""},
		{"追溯码采集率", w.rate(r.Rates.Collection), "带有效追溯码的医保药品销售行 ÷ 医保药品销售行"},
		{"医保药品销售行", r.Rates.Lines, ""},
		{"带追溯码销售行", r.Rates.Coded, ""},
		{"接入率", w.rate(r.Rates.Access), "有上传的定点机构 ÷ 定点机构"},
		{"定点机构", r.Rates.Designated, ""},
		{"有上传的定点机构", r.Rates.Uploading, ""},
		{"本月发现线索", r.Found.Clues, "首次发现时间在本月"},
		{"本月发现线索涉及金额（元）", w.yuan(r.Found.AmountFen), ""},
	}
	for _, s := range r.Found.BySeverity {
		overview = append(overview, []any{"　其中" + s.Label, s.Clues, ""})
	}
	overview = append(overview,
		[]any{"本月办结线索", c.Clues, "本月进入办结状态"},
		[]any{"本月排除线索", c.Dismissed, "本月进入排除状态"},
		[]any{"办结线索涉及金额（元）", w.yuan(c.AmountFen), ""},
		[]any{"追回金额（元）", w.yuan(c.RecoveredFen), ""},
		[]any{"违约金（元）", w.yuan(c.PenaltyFen), ""},
		[]any{"罚款（元）", w.yuan(c.FineFen), ""},
		[]any{"逾期未办线索", r.Overdue.Clues, "截至逾期统计时点仍在办理且当前环节已超时限"},
		[]any{"逾期未办线索涉及金额（元）", w.yuan(r.Overdue.AmountFen), ""},
		[]any{"记分次数", r.Points.Awards, "本月作出的医保医师、药师记分"},
		[]any{"记分人数", r.Points.Practitioners, ""},
		[]any{"记分分值合计", r.Points.Points, ""},
	)
	var areas [][]any
	for _, a := range r.Areas {
		areas = append(areas, []any{a.Code, a.Name, a.Rates.Lines, a.Rates.Coded, w.rate(a.Rates.Collection), a.Rates.Designated,
			a.Rates.Uploading, w.rate(a.Rates.Access), a.Found, w.yuan(a.FoundAmountFen), a.Overdue})
	}
	var days [][]any
	for _, d := range r.Days {
		days = append(days, []any{d.Day, d.Lines, d.Coded, w.rate(d.Collection), d.Designated, d.Uploading, w.rate(d.Access)})
	}
	var models [][]any
	for _, m := range r.Found.ByModel {
		models = append(models, []any{m.Key, m.Label, m.Clues, w.yuan(m.AmountFen)})
	}
	var closed [][]any
	for _, it := range c.Items {
		result := it.ResultZh
		if it.State == tracewatch.ClueDismissed {
			result = "排除"
		}
		closed = append(closed, []any{it.ID, it.Model, it.SeverityZh, string(it.Region), it.Institution, it.InstitutionName, w.yuan(it.AmountFen),
			it.ClosedAt.In(tracewatch.Beijing).Format("2006-01-02 15:04"), it.StateZh, result, w.yuan(it.RecoveredFen), w.yuan(it.PenaltyFen),
			w.yuan(it.FineFen), it.ActionZh, it.ReferralsZh})
	}
	var top [][]any
	for i, t := range r.TopInstitutions {
		top = append(top, []any{i + 1, t.Code, t.Name, string(t.Region), t.RegionName, t.Clues, t.Serious, w.yuan(t.AmountFen)})
	}
	var points [][]any
	for _, p := range r.Points.ByInstitution {
		points = append(points, []any{p.Code, p.Name, string(p.Region), p.Practitioners, p.Awards, p.Points})
	}
	sheets := []struct {
		widths []float64
		header []string
		rows   [][]any
	}{
		{[]float64{30, 30, 50}, []string{"项目", "数值", "口径"}, overview},
		{[]float64{12, 22, 12, 12, 10, 10, 12, 10, 12, 16, 10}, []string{"地区编码", "地区名称", "医保药品销售行", "带追溯码销售行", "采集率", "定点机构", "有上传的机构", "接入率",
			"本月发现线索", "涉及金额(元)", "逾期未办线索"}, areas},
		{[]float64{12, 14, 14, 10, 10, 12, 10}, []string{"日期", "医保药品销售行", "带追溯码销售行", "采集率", "定点机构", "当日上传机构", "接入率"}, days},
		{[]float64{26, 30, 10, 16}, []string{"模型", "模型名称", "线索数", "涉及金额(元)"}, models},
		{[]float64{10, 26, 10, 10, 16, 24, 14, 18, 8, 10, 14, 12, 12, 10, 10}, []string{"线索编号", "模型", "严重程度", "统筹区", "机构编码", "机构名称", "涉及金额(元)",
			"办结时间", "状态", "核查结论", "追回金额(元)", "违约金(元)", "罚款(元)", "协议处理", "移送"}, closed},
		{[]float64{6, 16, 26, 10, 14, 10, 18, 16}, []string{"排名", "机构编码", "机构名称", "统筹区", "统筹区名称", "线索数", "其中高度可疑及以上", "涉及金额(元)"}, top},
		{[]float64{16, 26, 10, 10, 10, 10}, []string{"机构编码", "机构名称", "统筹区", "记分人数", "记分次数", "分值合计"}, points},
	}
	for i, s := range sheets {
		if err := w.sheet(Sheets[i], s.widths, s.header, s.rows); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
	}
	if err := x.DeleteSheet("Sheet1"); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	x.SetActiveSheet(0)
	if _, err := x.WriteTo(out); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}
