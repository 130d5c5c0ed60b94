package rules

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Duplicate is T1, 重复销售/重复结算 (DESIGN §6). Per code identity it walks the sale-side
// facts in time order (sale +q; sale return, settlement cancel −q, in minimum units). A
// duplicate is a sale at an institution other than one holding a positive net (a box
// cannot be split between two sellers), or a sale that takes the net beyond the pack's
// content. Same institution and same receipt or person within DoubleScan is a double scan
// (提示); same institution for other receipts or persons 可疑; another institution 高度可疑;
// together with a substitution on the same sale 明确违规.
type Duplicate struct {
	DoubleScan time.Duration
}

// NewDuplicate returns T1 with its defaults.
func NewDuplicate() *Duplicate { return withDefaults(&Duplicate{}) }

// Spec implements Rule.
func (d *Duplicate) Spec() Spec {
	return Spec{Name: "trace.duplicate", Version: 1, Short: "T1", Title: "重复销售", Type: TypeManagement,
		Stages: []Stage{StageDuring, StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "码的全部销售历史（窗口内有销售的码）", Severity: tracewatch.SeverityViolation,
		Basis: "《医疗保障基金使用监督管理条例》第十五条、第三十八条；国家医保局药品追溯码采集应用要求（2025年7月1日起定点医药机构销售药品须扫码上传，一盒一码）",
		Params: []Param{
			DurationParam("double_scan", &d.DoubleScan, 10*time.Minute, 0, 24*time.Hour, "same institution and same receipt or person within this time: a double scan (提示), not fraud"),
		},
	}
}

// sale is one distinct sale-side fact with what its lines say.
type sale struct {
	facts.SaleFact
	receipt, setl, person string
	billed, mapped        string         // the drug billed, the drug the code maps to
	fund, amount          tracewatch.Fen // the fund's payment and the sale amount (max over the sale's lines)
	lines                 []*tracewatch.TimelineEntry
}

// Eval implements Rule.
func (d *Duplicate) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	return env.Src.DuplicateHistories(ctx, env.Window, func(h *facts.CodeHistory) error {
		if c, ok := d.walk(env, h); ok {
			emit(c)
		}
		return ctx.Err()
	})
}

// pairClass names where a second seller is relative to the first.
func pairClass(env *Env, first, second string) (rule, text string) {
	if first == second {
		return "same_institution", "同一机构"
	}
	a, b := env.Institutions[first].Region, env.Institutions[second].Region
	switch {
	case a == "" || b == "":
		return "other_institution", "另一机构"
	case a.City() == b.City():
		return "same_city", "同城另一机构"
	case a.Province() == b.Province():
		return "other_city", "省内另一城市"
	}
	return "other_province", "另一省份"
}

// historySales pairs a code history's sale-side facts with their lines: the receipt,
// settlement, person, drugs and amounts of each distinct sale, in the facts' (time) order.
func historySales(env *Env, h *facts.CodeHistory) []*sale {
	bySale := map[tracewatch.SaleID]*sale{}
	sales := make([]*sale, 0, len(h.Facts))
	for _, f := range h.Facts {
		s := &sale{SaleFact: f}
		bySale[f.Sale] = s
		sales = append(sales, s)
	}
	for i := range h.Lines {
		l := &h.Lines[i]
		s := bySale[tracewatch.SaleOf(&l.Event)]
		if s == nil {
			continue
		}
		s.lines = append(s.lines, l)
		if s.receipt == "" {
			s.receipt = l.Receipt
		}
		if s.setl == "" {
			s.setl = l.Settlement
		}
		if s.person == "" {
			s.person = l.Person
		}
		if s.billed == "" && l.Kind == tracewatch.EventSale {
			s.billed = l.DrugCode
		}
		if s.mapped == "" {
			s.mapped = l.Code.DrugCode
		}
		if l.FundPaid > s.fund {
			s.fund = l.FundPaid
		}
		if a := env.saleAmount(&l.Event); a > s.amount {
			s.amount = a
		}
	}
	for _, s := range sales {
		if s.Sale.Kind == tracewatch.SaleCancel && s.setl == "" {
			s.setl = s.Sale.Ref
		}
	}
	return sales
}

// walk applies T1 to one code's history.
func (d *Duplicate) walk(env *Env, h *facts.CodeHistory) (tracewatch.Clue, bool) {
	sales := historySales(env, h)
	content := h.PackContent
	if content <= 0 {
		content = 1 // unknown drug: count whole packs only
	}
	capacity := tracewatch.Qty(content) * tracewatch.QtyScale
	hold := map[string]tracewatch.Qty{}
	var order []string // institutions in the order they first held the box
	var total tracewatch.Qty
	var prev []*sale // positive sales so far

	c := tracewatch.Clue{Subject: tracewatch.SubjectCode, SubjectID: h.Key, Codes: []string{h.Key}}
	var worst tracewatch.Severity
	var fund, amount tracewatch.Fen
	var first, dup *sale
	var dupText []string
	var rule string
	for _, s := range sales {
		q := tracewatch.Qty(s.Whole)*capacity + s.Split
		if h.PackContent <= 0 && s.Split != 0 {
			q = 0 // split units of an unknown pack cannot be compared
			if s.Split > 0 {
				q = 1
			}
		}
		if q < 0 {
			if hold[s.Institution] += q; hold[s.Institution] < 0 {
				hold[s.Institution] = 0
			}
			total = 0
			for _, v := range hold {
				total += v
			}
			c.Evidence = append(c.Evidence, env.factEvidence(s))
			continue
		}
		var holder string
		for _, in := range order {
			if in != s.Institution && hold[in] > 0 {
				holder = in
				break
			}
		}
		var sev tracewatch.Severity
		var why, cls string
		switch {
		case holder != "":
			cls, why = pairClass(env, holder, s.Institution)
			sev = tracewatch.SeverityHighlySuspicious
			why = fmt.Sprintf("该盒药仍由 %s 持有（已售未退），%s 又在%s %s %s", env.instName(holder), when(s.Time), why, env.instName(s.Institution), saleWord(s))
		case total+q > capacity:
			cls = "over_content"
			sev = tracewatch.SeveritySuspicious
			why = fmt.Sprintf("%s 在 %s 再次%s，累计售出超过一盒的装量（%d 个最小单位）", when(s.Time), env.instName(s.Institution), saleWord(s), content)
			if p := d.doubleScanOf(s, prev); p != nil {
				cls, sev = "double_scan", tracewatch.SeverityNotice
				why = fmt.Sprintf("%s 在 %s 同一%s于 %s 内重复扫码，疑为重复扫描（技术性问题）", when(s.Time), env.instName(s.Institution), sameWhat(s, p), minutes(d.DoubleScan))
			}
		}
		if sev > 0 && env.Window.Contains(s.Time) {
			if sev >= tracewatch.SeveritySuspicious {
				if r, ssev, ok := substitution(env, s.mapped, s.billed); ok && ssev >= tracewatch.SeverityHighlySuspicious {
					sev = tracewatch.SeverityViolation
					why += fmt.Sprintf("，且以 %s 的追溯码结算 %s（串换，%s）", env.drugName(s.mapped), env.drugName(s.billed), substitutionRuleText[r])
				}
			}
			if sev >= worst {
				worst, dup, rule = sev, s, cls
			}
			dupText = append(dupText, why)
			if s.setl != "" {
				c.Settlements = append(c.Settlements, s.setl)
			}
			if s.receipt != "" {
				c.Receipts = append(c.Receipts, s.receipt)
			}
			if s.person != "" {
				c.Persons = append(c.Persons, s.person)
			}
			if sev >= tracewatch.SeveritySuspicious {
				fund, amount = fund+s.fund, amount+s.amount
			}
		}
		if first == nil {
			first = s
		}
		if hold[s.Institution] == 0 {
			order = append(order, s.Institution)
		}
		hold[s.Institution] += q
		total += q
		prev = append(prev, s)
		c.Evidence = append(c.Evidence, env.factEvidence(s))
	}
	if dup == nil {
		return c, false
	}
	c.Severity, c.Rule, c.Institution = worst, rule, dup.Institution
	setAmount(&c, fund, amount)
	c.Fingerprint = tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, h.Key)
	c.Explanation = fmt.Sprintf("追溯码 %s 于 %s 在 %s%s %s后，%s。", h.Key, when(first.Time), env.instName(first.Institution),
		placeOf(env, first.Institution), saleWord(first), strings.Join(dupText, "；"))
	return c, true
}

func placeOf(env *Env, inst string) string {
	if p := env.place(inst); p != "" {
		return "（" + p + "）"
	}
	return ""
}

// minutes writes a duration for an explanation: "10 分钟".
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d 分钟", int(d/time.Minute))
	}
	return fmt.Sprintf("%d 秒", int(d/time.Second))
}

// doubleScanOf returns an earlier sale at the same institution with the same receipt
// or person within the double-scan time, if any.
func (d *Duplicate) doubleScanOf(s *sale, prev []*sale) *sale {
	for i := len(prev) - 1; i >= 0; i-- {
		p := prev[i]
		if p.Institution != s.Institution {
			continue
		}
		gap := s.Time.Sub(p.Time)
		if gap < 0 {
			gap = -gap
		}
		if gap > d.DoubleScan {
			continue
		}
		if (s.receipt != "" && s.receipt == p.receipt) || (s.person != "" && s.person == p.person) {
			return p
		}
	}
	return nil
}

func sameWhat(s, p *sale) string {
	if s.receipt != "" && s.receipt == p.receipt {
		return "单据"
	}
	return "参保人"
}

func saleWord(s *sale) string {
	if s.setl != "" {
		return "结算（结算号 " + s.setl + "）"
	}
	if s.receipt != "" {
		return "销售（单据号 " + s.receipt + "）"
	}
	return "销售"
}

// factEvidence describes one sale-side fact.
func (env *Env) factEvidence(s *sale) tracewatch.Evidence {
	e := tracewatch.Evidence{Time: s.Time, Institution: s.Institution}
	var q string
	switch {
	case s.Whole != 0:
		q = strconv.FormatInt(s.Whole, 10) + " 盒"
	case s.Split == 1: // the store's unknown part: a 2207 split line carries no quantity
		q = "拆零（数量未随结算上报，见费用明细）"
	case s.Split != 0:
		q = "拆零 " + s.Split.String() + " 个最小单位"
	}
	switch {
	case s.Sale.Kind == tracewatch.SaleCancel:
		e.What = string(tracewatch.EventSettlementCancel)
		e.Note = when(s.Time) + " " + env.instName(s.Institution) + " 结算撤销（结算号 " + s.setl + "）" + q
	case s.Sale.Kind == tracewatch.SaleReturn:
		e.What = string(tracewatch.EventSaleReturn)
		e.Note = when(s.Time) + " " + env.instName(s.Institution) + " 销售退货 " + q
	default:
		e.What = string(tracewatch.EventSale)
		e.Note = when(s.Time) + " " + env.instName(s.Institution) + " " + saleWord(s) + " " + q
		if s.billed != "" {
			e.Note += "，" + env.drugName(s.billed)
		}
		if s.person != "" {
			e.Note += "，参保人 " + s.person
		}
	}
	if len(s.lines) > 0 {
		e.Ref = ref(&s.lines[0].Event)
	}
	return e
}

// CheckScan implements ScanChecker: the box is held by a sale elsewhere (高度可疑), by a
// sale of this receipt or person here (a double scan, 提示), or this sale would take more
// than the pack holds (可疑).
func (d *Duplicate) CheckScan(env *Env, s *Scan, emit func(Violation)) {
	if s.ParseErr != nil || !s.Held {
		return
	}
	content := tracewatch.Qty(s.Content) * tracewatch.QtyScale
	q := content
	if s.Item.Split {
		q = s.Item.Qty
	}
	at, key := s.HeldAt, s.Code.Key
	v := Violation{Line: s.Line, Code: s.Raw, Key: key, Behavior: "1"}
	switch {
	case s.Holder != s.Req.Institution:
		cls, where := pairClass(env, s.Holder, s.Req.Institution)
		v.Rule, v.Severity = cls, tracewatch.SeverityHighlySuspicious
		v.Content = fmt.Sprintf("追溯码 %s 对应的药品已于 %s 在 %s 销售（%s），同一盒药不能再次销售", key, when(at), env.instName(s.Holder), where)
		v.Evidence = fmt.Sprintf("已售机构 %s，销售时间 %s", s.Holder, at.In(cst).Format("2006-01-02 15:04:05"))
	case s.SameSale:
		v.Rule, v.Severity = "double_scan", tracewatch.SeverityNotice
		v.Content = fmt.Sprintf("追溯码 %s 已在本单据或本参保人的销售中扫描（%s），如为同一笔销售请勿重复上传", key, when(at))
		v.Evidence = fmt.Sprintf("本机构销售时间 %s", at.In(cst).Format("2006-01-02 15:04:05"))
	case s.HeldUnits+q > content:
		v.Rule, v.Severity = "over_content", tracewatch.SeveritySuspicious
		v.Content = fmt.Sprintf("追溯码 %s 已于 %s 在本机构售出，本次销售将超过一盒的装量（%d 个最小单位）", key, when(at), s.Content)
		v.Evidence = fmt.Sprintf("本机构销售时间 %s", at.In(cst).Format("2006-01-02 15:04:05"))
	default:
		return
	}
	emit(v)
}
