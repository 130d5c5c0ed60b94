package rules

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"tracewatch"
)

// StockBalance is T3 (c), 进销存不符: per institution, drug and stocktake period (a month
// when the institution takes stock monthly), the units sold must not exceed what it had:
// the count at the opening stocktake plus what came in, less what went back or out and
// what was lost. A shortfall of at least MinExcessPacks packs is 可疑: the sales had no
// stock behind them (空刷, or boxes that came from nowhere), or the 进销存 reports are
// incomplete, which the institution must explain either way. Quantities, not codes: it
// holds where the institution scans no codes at all. Periods before the institution's
// first stocktake are not judged (nothing to start from).
type StockBalance struct {
	MinExcessPacks float64
}

// NewStockBalance returns T3 (c) with its defaults.
func NewStockBalance() *StockBalance { return withDefaults(&StockBalance{}) }

// Spec implements Rule.
func (s *StockBalance) Spec() Spec {
	return Spec{Name: "trace.stock", Version: 1, Short: "T3C", Title: "进销存不符", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "相邻两次盘存之间", Severity: tracewatch.SeveritySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条（药品进销存管理）",
		Params: []Param{
			FloatParam("min_excess_packs", &s.MinExcessPacks, 1, 0.01, 1e6, "盒", "packs sold beyond the stock available in a period from which a clue is raised (opened packs are counted in fractions)"),
		},
	}
}

// Eval implements Rule.
func (s *StockBalance) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	periods, err := env.Src.StockPeriods(ctx, env.Window)
	if err != nil {
		return err
	}
	for _, p := range periods {
		if p.PackContent <= 0 || p.Sold <= 0 {
			continue
		}
		avail := p.Opening + p.Received - p.Returned - p.Lost
		excess := p.Sold - max(avail, 0)
		unit := float64(p.PackContent) * float64(tracewatch.QtyScale) // one pack, in scaled units
		if float64(excess) < s.MinExcessPacks*unit {
			continue
		}
		packs := func(q tracewatch.Qty) string { return trimPacks(float64(q) / unit) }
		period := day(p.From) + " 盘存起"
		if !p.To.IsZero() {
			period = day(p.From) + " 至 " + day(p.To) + " 两次盘存之间"
		}
		share := min(1, float64(excess)/float64(p.Sold)) // of the period's sales, those in excess
		fund, sold := tracewatch.Fen(float64(p.SoldFund)*share), tracewatch.Fen(float64(p.SoldAmount)*share)
		c := tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, p.Institution, p.DrugCode, day(p.From)),
			Rule:        "stock_balance", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectInstitution, SubjectID: p.Institution, Institution: p.Institution,
			Explanation: fmt.Sprintf("%s 的 %s（%s）：期初盘存 %s 盒，期间购进或调入 %s 盒，退货或调出 %s 盒，报损或销毁 %s 盒，最多可售 %s 盒，实际销售 %s 盒（%d 行），超出 %s 盒，进销存不符；超出部分的销售没有库存来源，疑为空刷或销售来路不明的药品，请机构说明。",
				env.instName(p.Institution), env.drugName(p.DrugCode), period, packs(p.Opening), packs(p.Received), packs(p.Returned), packs(p.Lost),
				packs(max(avail, 0)), packs(p.Sold), p.SaleLines, packs(excess)),
		}
		setAmount(&c, fund, sold)
		note := func(what string, q tracewatch.Qty) tracewatch.Evidence {
			return tracewatch.Evidence{Time: p.From, What: what, Institution: p.Institution, Note: fmt.Sprintf("%s：%s 盒", env.drugName(p.DrugCode), packs(q))}
		}
		c.Evidence = []tracewatch.Evidence{note("opening_stock", p.Opening), note("received", p.Received), note("returned", p.Returned),
			note("lost", p.Lost), note("sold", p.Sold)}
		if p.FirstSale != "" {
			c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: p.From, What: "first_sale", Institution: p.Institution, Ref: p.FirstSale,
				Note: "本期该药品的第一笔销售"})
		}
		emit(c)
	}
	return nil
}

// trimPacks prints a pack count with at most two decimals and no trailing zeros.
func trimPacks(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
