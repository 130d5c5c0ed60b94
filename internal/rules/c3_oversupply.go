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

// OverSupply is C3, 超量开药: a person holding more of a drug than the knowledge base
// allows. Each insured purchase adds its days of supply — quantity × pack content ÷ the
// daily dose (a 拆零 line counts minimum units) — to what the person still holds of the
// drug, which runs down by one day per day: at every purchase the supply still on hand is
// the rolling sum of what was bought less the days since. A purchase after which the
// person holds more than the drug's max_days by more than Tolerance is 可疑 (高度可疑 at
// three times max_days or more): drugs bought for resale, or for someone else, often at
// several institutions in a few days. One clue per person, drug and spell (the run of
// purchases from an empty stock until it runs out), with its settlements as evidence and
// their fund payment as the amount.
//
// Unknown is not suspicious: a drug without max_days or daily_dose in the knowledge base,
// or without a pack content in the catalog, and a line without a person are not judged.
// Supply bought in the LookbackDays before the window counts towards what is on hand in
// it; clues are raised only for purchases in the window. Inpatient fee lines (2301) are
// consumed on the ward and do not count.
type OverSupply struct {
	Tolerance    float64
	LookbackDays int
}

// NewOverSupply returns C3 with its defaults.
func NewOverSupply() *OverSupply { return withDefaults(&OverSupply{}) }

// Spec implements Rule.
func (o *OverSupply) Spec() Spec {
	return Spec{Name: "claims.oversupply", Version: 1, Short: "C3", Title: "超量开药", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "窗口内的医保购药，存量自回溯期起累计", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《处方管理办法》第十九条（处方一般不得超过7日用量，慢性病、老年病可适当延长）；门诊慢特病长处方不超过12周；知识库 drug_limits.max_days、daily_dose",
		Params: []Param{
			FloatParam("tolerance", &o.Tolerance, 0.5, 0, 10, "比例", "a person may hold up to max_days × (1 + tolerance) days of supply (early refills, a lost box)"),
			IntParam("lookback_days", &o.LookbackDays, 90, 0, 730, "天", "days before the window whose purchases count towards the supply on hand in it"),
		},
	}
}

// supplyLine is one purchase counted towards a person's supply.
type supplyLine struct {
	line   *tracewatch.TimelineEntry
	days   float64 // days of supply bought
	onHand float64 // days on hand after it
}

// Eval implements Rule.
func (o *OverSupply) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	drugs := env.limitedDrugs(func(l tracewatch.DrugLimit) bool { return l.MaxDays > 0 && l.DailyDose > 0 })
	w := env.Window
	if !w.From.IsZero() {
		w.From = w.From.AddDate(0, 0, -o.LookbackDays)
	}
	// Per person and drug, the purchases in time order (InsuredLines streams in time order).
	type key struct{ person, drug string }
	byKey := map[key][]supplyLine{}
	var keys []key
	// One purchase, counted once (saleLines); inpatient lines and lines of no person left out.
	all, err := saleLines(ctx, env, w, drugs, func(l *tracewatch.TimelineEntry) bool {
		return l.Person != "" && l.Setting != tracewatch.SettingInpatient
	})
	if err != nil {
		return err
	}
	for _, l := range all {
		days, ok := supplyDays(env, l)
		if !ok {
			continue
		}
		k := key{l.Person, l.DrugCode}
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], supplyLine{line: l, days: days})
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].person != keys[j].person {
			return keys[i].person < keys[j].person
		}
		return keys[i].drug < keys[j].drug
	})
	for _, k := range keys {
		o.person(env, k.person, k.drug, byKey[k], emit)
	}
	return nil
}

// supplyDays is the days of supply a line buys: its minimum units ÷ the daily dose. A
// 3505 row says whether its quantity counts minimum units (拆零); a fee line does not, so
// its price tells: priced nearer the unit price than the pack price, its quantity counts
// units. A fee line whose price is unknown is not judged.
func supplyDays(env *Env, l *tracewatch.TimelineEntry) (float64, bool) {
	lim := env.Limits[l.DrugCode]
	d, ok := env.Drugs[l.DrugCode]
	if lim.DailyDose <= 0 || lim.MaxDays <= 0 || !ok || d.PackContent <= 0 {
		return 0, false
	}
	units := float64(l.Qty) / float64(tracewatch.QtyScale)
	split := l.SplitPack
	if l.Kind == tracewatch.EventFeeLine {
		price := l.UnitPrice
		if price <= 0 && l.Amount > 0 {
			price = tracewatch.Fen(min(float64(l.Amount)/units, math.MaxInt64/2)) // units > 0: Qty > 0
		}
		if price <= 0 || d.Price <= 0 {
			return 0, false
		}
		split = d.PackContent > 1 && !packPriced(price, d)
	}
	if !split {
		units *= float64(d.PackContent)
	}
	return units / (float64(lim.DailyDose) / float64(tracewatch.QtyScale)), true
}

// person walks one person's purchases of one drug and emits a clue per spell in which
// the supply on hand went beyond the limit.
func (o *OverSupply) person(env *Env, psn, drug string, lines []supplyLine, emit func(tracewatch.Clue)) {
	lim := env.Limits[drug]
	limit := float64(lim.MaxDays) * (1 + o.Tolerance)
	var onHand float64
	var last time.Time
	start := 0 // first line of the current spell
	flagged := -1
	peak := 0.0
	flush := func(end int) {
		if flagged >= 0 {
			o.emitSpell(env, psn, drug, lines[start:end], flagged-start, peak, emit)
		}
		flagged, peak = -1, 0
	}
	for i := range lines {
		s := &lines[i]
		if i > 0 {
			onHand -= s.line.Time.Sub(last).Hours() / 24
			if onHand <= 0 {
				flush(i)
				onHand, start = 0, i
			}
		}
		onHand += s.days
		s.onHand = onHand
		last = s.line.Time
		if onHand > limit && env.Window.Contains(s.line.Time) {
			if flagged < 0 {
				flagged = i
			}
			peak = math.Max(peak, onHand)
		}
	}
	flush(len(lines))
}

// emitSpell writes the clue of one spell; first is the index (in spell) of the purchase
// that went beyond the limit.
func (o *OverSupply) emitSpell(env *Env, psn, drug string, spell []supplyLine, first int, peak float64, emit func(tracewatch.Clue)) {
	lim := env.Limits[drug]
	sev := tracewatch.SeveritySuspicious
	if peak >= 3*float64(lim.MaxDays) {
		sev = tracewatch.SeverityHighlySuspicious
	}
	over := spell[first].line
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, psn, drug, day(spell[0].line.Time)),
		Rule:        "oversupply", Severity: sev, Subject: tracewatch.SubjectPerson, SubjectID: psn,
		Institution: over.Institution, Persons: []string{psn},
	}
	var fund tracewatch.Fen
	var sum saleSum
	insts := map[string]bool{}
	var total float64
	for _, s := range spell {
		l := s.line
		total += s.days
		insts[l.Institution] = true
		if l.Settlement != "" {
			c.Settlements = append(c.Settlements, l.Settlement)
		}
		if l.Receipt != "" {
			c.Receipts = append(c.Receipts, l.Receipt)
		}
		c.MsgIDs = append(c.MsgIDs, l.MsgID)
		fund += l.FundPaid
		sum.add(env, &l.Event)
		ev := env.lineEvidence(s.line)
		ev.Note += fmt.Sprintf("，购入 %s 天用量，购药后持有约 %s 天", trimDays(s.days), trimDays(s.onHand))
		c.Evidence = append(c.Evidence, ev)
	}
	setAmount(&c, fund, sum.total)
	var names []string
	for in := range insts {
		names = append(names, env.instName(in))
	}
	sort.Strings(names)
	basis := ""
	if lim.Basis != "" {
		basis = "（" + lim.Basis + "）"
	}
	c.Explanation = fmt.Sprintf("参保人 %s 于 %s 至 %s 在 %d 家机构（%s）医保购买 %s %d 次，合计约 %s 天用量（每日 %s 个最小单位）；"+
		"知识库规定最多持有 %d 天%s，%s 在 %s 购药后持有约 %s 天，超出上限 %s 天（最多时约 %s 天）：超量开药，可能为倒卖或代他人购药。%s。",
		psn, when(spell[0].line.Time), when(spell[len(spell)-1].line.Time), len(insts), strings.Join(names, "、"), env.drugName(drug), len(spell),
		trimDays(total), lim.DailyDose.String(), lim.MaxDays, basis, when(over.Time), env.instName(over.Institution), trimDays(spell[first].onHand),
		trimDays(spell[first].onHand-float64(lim.MaxDays)), trimDays(peak), amountText(&c))
	emit(c)
}

// trimDays writes a number of days with at most one decimal.
func trimDays(d float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", d), ".0")
}
