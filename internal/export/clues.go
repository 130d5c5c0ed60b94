// Package export writes what inspectors open: XLSX workbooks of clues (the CLI's
// `clues export` and the web inbox's export of its current filter share it).
package export

import (
	"context"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"tracewatch"
)

// Headers are the clue workbook's columns (a public contract: issue 5; the last three,
// issue 13, make a dispatch list).
var Headers = []string{"线索编号", "模型", "严重程度", "统筹区", "机构编码", "机构名称", "涉及金额(元)", "追溯码", "说明", "首次发现时间",
	"状态", "下发地区", "办理时限"}

// ClueSource is what a clue export reads.
type ClueSource interface {
	Clues(ctx context.Context, f tracewatch.ClueFilter) ([]tracewatch.Clue, error)
}

// Clues writes the clues matching f, in id order, to an XLSX workbook on w, one row per
// clue; names maps institution codes to names, present (when not nil) rewrites each clue
// before it is written (the server masks personal data with it). It returns the clues
// written and their ids.
func Clues(ctx context.Context, w io.Writer, src ClueSource, f tracewatch.ClueFilter, names map[string]string,
	present func(tracewatch.Clue) tracewatch.Clue) (int, []int64, error) {
	x := excelize.NewFile()
	defer x.Close()
	const sheet = "疑点线索"
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return 0, nil, err
	}
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return 0, nil, err
	}
	sw.SetColWidth(1, 1, 10)
	sw.SetColWidth(2, 2, 22)
	sw.SetColWidth(5, 6, 16)
	sw.SetColWidth(8, 8, 24)
	sw.SetColWidth(9, 9, 80)
	sw.SetColWidth(10, 10, 20)
	header := make([]any, len(Headers))
	for i, h := range Headers {
		header[i] = h
	}
	if err := sw.SetRow("A1", header); err != nil {
		return 0, nil, err
	}
	money, err := x.NewStyle(&excelize.Style{NumFmt: 2}) // 0.00
	if err != nil {
		return 0, nil, err
	}
	var ids []int64
	f.Limit, f.Order, f.Offset = 5000, tracewatch.OrderID, 0
	for {
		clues, err := src.Clues(ctx, f)
		if err != nil {
			return len(ids), ids, err
		}
		for _, c := range clues {
			f.AfterID = c.ID
			if present != nil {
				c = present(c)
			}
			ids = append(ids, c.ID)
			cell, _ := excelize.CoordinatesToCellName(1, len(ids)+1)
			row := []any{
				c.ID, c.Detector, c.Severity.Chinese(), string(c.Region), c.Institution, names[c.Institution],
				excelize.Cell{StyleID: money, Value: float64(c.AmountFen) / 100}, strings.Join(c.Codes, ", "), c.Explanation,
				c.FirstSeen.In(tracewatch.Beijing).Format("2006-01-02 15:04:05"),
				c.State.Chinese(), string(c.Flow.DispatchRegion), Deadline(c),
			}
			if err := sw.SetRow(cell, row); err != nil {
				return len(ids), ids, err
			}
		}
		if len(clues) < f.Limit {
			break
		}
	}
	if err := sw.Flush(); err != nil {
		return len(ids), ids, err
	}
	return len(ids), ids, x.Write(w)
}

// Deadline is when a clue's current step is due, Beijing time ("" for none: a clue never
// moved has its 初审 deadline from the workflow configuration, not in the store).
func Deadline(c tracewatch.Clue) string {
	if c.Flow.Deadline.IsZero() || c.State.Terminal() {
		return ""
	}
	return c.Flow.Deadline.In(tracewatch.Beijing).Format("2006-01-02 15:04")
}
