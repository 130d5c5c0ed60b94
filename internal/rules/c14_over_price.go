package rules

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// OverPrice is C14, 超标准收费: insured sale lines of a drug priced above the knowledge
// base's price ceiling (drug_limits.price_ceiling, 挂网价, fen per sales pack) by more
// than Tolerance. Prices are compared like with like: a whole-pack line's price per pack
// with the ceiling, a 拆零 line's price per minimum unit with the ceiling ÷ pack_content
// (a 3505 row says whether it is 拆零; a fee line's price tells, as in C3: nearer the
// pack price than the unit price, it is per pack). A price read from a 3505 row is
// rounded to the fen, so half a fen per unit is allowed for rounding; a fee line's
// amount gives its price to the fen of the whole line.
//
// One clue per institution, drug and month (Asia/Shanghai) with the lines above the
// ceiling as evidence: what an inspector checks against the institution's price list.
// The amount is what was charged above the ceiling (price − ceiling) × quantity: the
// fund's share of it (in proportion to the line's fund payment) where the settlement is
// known, else the whole excess (sale basis).
//
// Unknown is not suspicious: a drug without a ceiling, a 拆零 line of a drug whose pack
// content is unknown, a fee line whose pack or unit pricing cannot be told (no catalog
// price), and a line without a price are not judged.
type OverPrice struct {
	Tolerance float64
}

// NewOverPrice returns C14 with its defaults.
func NewOverPrice() *OverPrice { return withDefaults(&OverPrice{}) }

// Spec implements Rule.
func (o *OverPrice) Spec() Spec {
	return Spec{Name: "claims.over_price", Version: 1, Short: "C14", Title: "超标准收费", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "窗口内的医保销售与费用明细，按机构、药品、自然月归并", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条、第三十八条（超标准收取费用）；药品挂网价格与医保支付标准（药品集中采购平台挂网价）；知识库 drug_limits.price_ceiling",
		Params: []Param{
			FloatParam("tolerance", &o.Tolerance, 0.05, 0, 1, "比例", "a unit price up to the ceiling × (1 + tolerance) is not judged (rounding, a price change not yet in the knowledge base)"),
		},
	}
}

// pricedLine is a line judged against the ceiling.
type pricedLine struct {
	line    *tracewatch.TimelineEntry
	perUnit bool    // priced per minimum unit (拆零)
	price   float64 // fen per pack, or per minimum unit when perUnit
	ceiling float64 // fen, on the same basis
	excess  float64 // fen charged above the ceiling on the line
	fund    float64 // the fund's share of excess
}

// Eval implements Rule.
func (o *OverPrice) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	drugs := env.limitedDrugs(func(l tracewatch.DrugLimit) bool { return l.PriceCeiling > 0 })
	// Of each line, only its group and, when over the ceiling, the line: the lines of a
	// province do not stay in memory.
	type judged struct {
		inst, drug string
		at         time.Time
		ok         bool
		over       *pricedLine
	}
	lines, err := saleLinesOf(ctx, env, env.Window, drugs, nil, true, func(l *tracewatch.TimelineEntry) judged {
		pl, ok := o.judge(env, l)
		j := judged{inst: l.Institution, drug: l.DrugCode, at: l.Time, ok: ok}
		if ok && pl.excess > 0 {
			kept := *l // the reader hands over the same entry for the next line
			pl.line = &kept
			j.over = &pl
		}
		return j
	})
	if err != nil {
		return err
	}
	type key struct{ inst, drug, month string }
	type group struct {
		over  []pricedLine
		lines int // judged lines of the institution, drug and month
	}
	groups := map[key]*group{}
	for _, l := range lines {
		if !l.ok {
			continue
		}
		k := key{l.inst, l.drug, l.at.In(cst).Format("2006-01")}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		g.lines++
		if l.over != nil {
			g.over = append(g.over, *l.over)
		}
	}
	keys := make([]key, 0, len(groups))
	for k, g := range groups {
		if len(g.over) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.inst != b.inst {
			return a.inst < b.inst
		}
		if a.drug != b.drug {
			return a.drug < b.drug
		}
		return a.month < b.month
	})
	for _, k := range keys {
		g := groups[k]
		o.emit(env, k.inst, k.drug, k.month, g.over, g.lines, emit)
	}
	return nil
}

// judge prices a line on the ceiling's basis; ok is false when the line cannot be judged.
// excess is 0 when the line is within the tolerance.
func (o *OverPrice) judge(env *Env, l *tracewatch.TimelineEntry) (pricedLine, bool) {
	lim := env.Limits[l.DrugCode]
	d, known := env.Drugs[l.DrugCode]
	units := float64(l.Qty) / float64(tracewatch.QtyScale)
	pl := pricedLine{line: l}
	var slack float64 // fen per priced unit allowed for rounding
	switch l.Kind {
	case tracewatch.EventSale:
		if l.UnitPrice <= 0 {
			return pl, false
		}
		pl.price, slack = float64(l.UnitPrice), 0.5
		// A 拆零 row priced per pack (its price nearer the pack price): quantity in units,
		// price per pack.
		pl.perUnit = l.SplitPack && !(known && packPriced(l.UnitPrice, d))
	case tracewatch.EventFeeLine:
		switch {
		case l.Amount > 0:
			pl.price, slack = float64(l.Amount)/units, 1/units
		case l.UnitPrice > 0:
			pl.price, slack = float64(l.UnitPrice), 0.5
		default:
			return pl, false
		}
		if !known {
			return pl, false
		}
		if d.PackContent > 1 {
			if d.Price <= 0 {
				return pl, false
			}
			pl.perUnit = !packPriced(tracewatch.Fen(math.Round(pl.price)), d)
		}
	default:
		return pl, false
	}
	pl.ceiling = float64(lim.PriceCeiling)
	packsPerUnit := 1.0 // packs the quantity counts per priced unit
	if pl.perUnit {
		if !known || d.PackContent <= 0 {
			return pl, false
		}
		pl.ceiling /= float64(d.PackContent)
	} else if l.SplitPack && known && d.PackContent > 0 {
		packsPerUnit = 1 / float64(d.PackContent) // 拆零 quantity, per-pack price
	}
	if pl.price <= pl.ceiling*(1+o.Tolerance)+slack {
		return pl, true
	}
	pl.excess = math.Floor((pl.price - pl.ceiling) * units * packsPerUnit)
	if amt := float64(env.saleAmount(&l.Event)); l.FundPaid > 0 && amt > 0 {
		pl.fund = math.Floor(pl.excess * math.Min(float64(l.FundPaid)/amt, 1))
	}
	return pl, true
}

// priceText writes a price in fen as yuan, with up to four decimals for a unit price.
func priceText(fen float64) string {
	s := fmt.Sprintf("%.4f", fen/100)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return s
}

func (o *OverPrice) emit(env *Env, inst, drug, month string, over []pricedLine, judged int, emit func(tracewatch.Clue)) {
	lim := env.Limits[drug]
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, inst, drug, month),
		Rule:        "over_price", Severity: tracewatch.SeverityHighlySuspicious,
		Subject: tracewatch.SubjectInstitution, SubjectID: inst, Institution: inst,
	}
	var excess, fund float64
	maxShare := 0.0
	for _, p := range over {
		l := p.line
		excess += p.excess
		fund += p.fund
		maxShare = math.Max(maxShare, p.price/p.ceiling-1)
		if l.Settlement != "" {
			c.Settlements = append(c.Settlements, l.Settlement)
		}
		if l.Receipt != "" {
			c.Receipts = append(c.Receipts, l.Receipt)
		}
		c.MsgIDs = append(c.MsgIDs, l.MsgID)
		ev := env.claimEvidence(l)
		basis := "每盒"
		if p.perUnit {
			basis = "每最小单位"
		}
		ev.Note += fmt.Sprintf("，单价 %s 元（%s），挂网价折合 %s 元，高出 %.1f%%，超收 %s 元",
			priceText(p.price), basis, priceText(p.ceiling), (p.price/p.ceiling-1)*100, yuan(tracewatch.Fen(p.excess)))
		c.Evidence = append(c.Evidence, ev)
	}
	var amount string
	if fund > 0 {
		c.AmountFen, c.AmountBasis = tracewatch.Fen(fund), tracewatch.AmountFund
		amount = fmt.Sprintf("超收金额 %s 元，其中基金按比例支付约 %s 元（涉及金额按基金支付部分计）", yuan(tracewatch.Fen(excess)), yuan(c.AmountFen))
	} else {
		c.AmountFen, c.AmountBasis = tracewatch.Fen(excess), tracewatch.AmountSale
		amount = fmt.Sprintf("超收金额 %s 元（未见基金支付明细，按超出挂网价部分 × 数量计）", yuan(c.AmountFen))
	}
	if c.AmountFen == 0 {
		c.AmountBasis = ""
	}
	basis := ""
	if lim.Basis != "" {
		basis = "（" + lim.Basis + "）"
	}
	d := env.Drugs[drug]
	pack := ""
	if d.PackContent > 1 {
		pack = fmt.Sprintf("，拆零每最小单位 %s 元", priceText(float64(lim.PriceCeiling)/float64(d.PackContent)))
	}
	c.Explanation = fmt.Sprintf("%s %s 月医保销售 %s %d 行，其中 %d 行单价高于知识库挂网价 %s 元/盒%s%s，超出容差 %s%%（最高高出 %.1f%%）：超标准收费。%s。",
		env.instName(inst), month, env.drugName(drug), judged, len(over), yuan(lim.PriceCeiling), pack, basis,
		trimPercent(o.Tolerance*100), maxShare*100, amount)
	emit(c)
}

// trimPercent writes a percentage with at most one decimal.
func trimPercent(p float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", p), ".0")
}
