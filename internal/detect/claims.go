package detect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// The claims detectors of the second wave (DESIGN §6): C1 限性别, C2 限年龄, C7 settlement
// after death and C8 settlement at a suspended institution. They read event lines with
// the person of the reference data; a person missing from it gives no clue.

// --- shared helpers ---

// claimKey names the settlement a line belongs to: its setl_id, else its receipt, else
// the line itself.
func claimKey(l *tracewatch.TimelineEntry) string {
	switch {
	case l.Settlement != "":
		return l.Settlement
	case l.Receipt != "":
		return l.Receipt
	}
	return ref(&l.Event)
}

// claimEvidence describes a line as evidence; fee lines (2204/2301) read as 费用明细.
func (env *Env) claimEvidence(l *tracewatch.TimelineEntry) tracewatch.Evidence {
	ev := env.lineEvidence(l)
	if l.Kind == tracewatch.EventFeeLine {
		ev.Note = strings.Replace(ev.Note, " "+string(tracewatch.EventFeeLine), " 上传费用明细", 1)
	}
	return ev
}

// genderText names a national gender code.
func genderText(g string) string {
	switch g {
	case "1":
		return "男"
	case "2":
		return "女"
	}
	return "性别不详"
}

// dateOf returns the calendar day of a DATE column (stored as midnight UTC).
func dateOf(t time.Time) (int, time.Month, int) {
	return t.UTC().Date()
}

// ageAt returns the age in completed years at t (business time zone) of a person born on
// birth (a date).
func ageAt(birth, t time.Time) int {
	by, bm, bd := dateOf(birth)
	y, m, d := t.In(cst).Date()
	a := y - by
	if m < bm || m == bm && d < bd {
		a--
	}
	return a
}

// personClues gathers the clues of one detector keyed by person × settlement.
type personClues struct {
	id    string
	clues map[string]*tracewatch.Clue
	order []string
	drugs map[string]map[string]tracewatch.Fen // fingerprint → drug → largest fund share
	sales map[string]map[string]tracewatch.Fen // fingerprint → drug → largest sale amount
}

func newPersonClues(id string) *personClues {
	return &personClues{id: id, clues: map[string]*tracewatch.Clue{}, drugs: map[string]map[string]tracewatch.Fen{},
		sales: map[string]map[string]tracewatch.Fen{}}
}

// add returns the clue of the line's person and settlement (new when first seen) after
// adding the line's keys and evidence to it.
func (pc *personClues) add(env *Env, l *tracewatch.TimelineEntry, rule string) (c *tracewatch.Clue, isNew bool) {
	key := claimKey(l)
	fp := tracewatch.ClueFingerprint(pc.id, tracewatch.SubjectPerson, l.Person, key)
	c = pc.clues[fp]
	if c == nil {
		c = &tracewatch.Clue{Fingerprint: fp, Rule: rule, Subject: tracewatch.SubjectPerson, SubjectID: l.Person,
			Institution: l.Institution}
		pc.clues[fp] = c
		pc.drugs[fp] = map[string]tracewatch.Fen{}
		pc.sales[fp] = map[string]tracewatch.Fen{}
		pc.order = append(pc.order, fp)
		isNew = true
	}
	c.Persons = append(c.Persons, l.Person)
	if l.Settlement != "" {
		c.Settlements = append(c.Settlements, l.Settlement)
	}
	if l.Receipt != "" {
		c.Receipts = append(c.Receipts, l.Receipt)
	}
	c.Evidence = append(c.Evidence, env.claimEvidence(l))
	if f, ok := pc.drugs[fp][l.DrugCode]; !ok || l.FundPaid > f {
		pc.drugs[fp][l.DrugCode] = l.FundPaid
	}
	pc.sales[fp][l.DrugCode] = max(pc.sales[fp][l.DrugCode], env.saleAmount(&l.Event))
	return c, isNew
}

// drugList names the drugs of a clue, in catalog-code order, and sums their fund shares
// and their sale amounts (a drug on both its 3505 line and its fee line counts once).
func (pc *personClues) drugList(env *Env, fp string) (names string, fund, sale tracewatch.Fen) {
	var codes []string
	for code, f := range pc.drugs[fp] {
		codes = append(codes, code)
		fund += f
		sale += pc.sales[fp][code]
	}
	sort.Strings(codes)
	list := make([]string, 0, len(codes))
	seen := map[string]bool{}
	for _, code := range codes {
		if n := env.drugName(code); !seen[n] {
			seen[n] = true
			list = append(list, n)
		}
	}
	return strings.Join(list, "、"), fund, sale
}

func (pc *personClues) emit(emit func(tracewatch.Clue)) {
	for _, fp := range pc.order {
		emit(*pc.clues[fp])
	}
}

// settlementText names a clue's settlement for an explanation.
func settlementText(l *tracewatch.TimelineEntry) string {
	switch {
	case l.Settlement != "":
		return "结算号 " + l.Settlement
	case l.Receipt != "":
		return "单据号 " + l.Receipt
	}
	return "报文 " + ref(&l.Event)
}

// --- C1 ---

// Gender is C1, 限性别: an insured sale line (3505 with mdtrt_setl_type 1, or a 2204 fee
// line) of a drug limited to one gender (drugs gender_limit) for a person of the other
// (persons gend 1 or 2; 9 or an unknown person gives no clue). 明确违规, one clue per
// person × settlement.
type Gender struct{}

// NewGender returns C1.
func NewGender() *Gender { return &Gender{} }

func (*Gender) ID() string                 { return "claims.gender@1" }
func (*Gender) Title() string              { return "限性别用药" }
func (*Gender) Params() []Param            { return nil }
func (g *Gender) Set(name, _ string) error { return unknownParam(g, name) }

// Run implements Detector.
func (g *Gender) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(g.ID())
	first := map[string]*tracewatch.TimelineEntry{}
	gender := map[string]string{}
	err := env.Src.RestrictedLines(ctx, env.Window, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		d, ok := env.Drugs[l.DrugCode]
		if !ok || (d.GenderLimit != "1" && d.GenderLimit != "2") || (p.Gender != "1" && p.Gender != "2") || p.Gender == d.GenderLimit {
			return ctx.Err()
		}
		c, isNew := pc.add(env, l, "gender")
		c.Severity = tracewatch.SeverityViolation
		if isNew {
			cp := *l
			first[c.Fingerprint], gender[c.Fingerprint] = &cp, p.Gender
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range pc.order {
		c, l := pc.clues[fp], first[fp]
		names, fund, sale := pc.drugList(env, fp)
		setAmount(c, fund, sale)
		limit := genderText(env.Drugs[l.DrugCode].GenderLimit)
		c.Explanation = fmt.Sprintf("参保人 %s 性别为%s，%s 于 %s 以其名义医保结算了限%s性使用的药品 %s（%s）：用药与性别不符。",
			l.Person, genderText(gender[fp]), env.instName(l.Institution), when(l.Time), limit, names, settlementText(l))
	}
	pc.emit(emit)
	return nil
}

// --- C2 ---

// Age is C2, 限年龄: an insured sale line of a drug with an age limit (drugs min_age,
// max_age; 小儿 products ≤ 14) for a person whose age in completed years on the day of
// the sale (Asia/Shanghai) is outside it. 可疑 when the person is within a year of the
// limit (one year short of the minimum, or one year past the maximum), else 高度可疑. One
// clue per person × settlement.
type Age struct{}

// NewAge returns C2.
func NewAge() *Age { return &Age{} }

func (*Age) ID() string                 { return "claims.age@1" }
func (*Age) Title() string              { return "限年龄用药" }
func (*Age) Params() []Param            { return nil }
func (a *Age) Set(name, _ string) error { return unknownParam(a, name) }

// ageLimitText describes a drug's age range.
func ageLimitText(d tracewatch.Drug) string {
	switch {
	case d.MinAge > 0 && d.MaxAge > 0:
		return fmt.Sprintf("限 %d 至 %d 岁使用", d.MinAge, d.MaxAge)
	case d.MinAge > 0:
		return fmt.Sprintf("限 %d 岁及以上使用", d.MinAge)
	}
	return fmt.Sprintf("限 %d 岁及以下使用", d.MaxAge)
}

// Run implements Detector.
func (a *Age) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(a.ID())
	texts, ages := map[string][]string{}, map[string]int{}
	first := map[string]*tracewatch.TimelineEntry{}
	err := env.Src.RestrictedLines(ctx, env.Window, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		d, ok := env.Drugs[l.DrugCode]
		if !ok || (d.MinAge <= 0 && d.MaxAge <= 0) || p.Birth.IsZero() || l.Time.IsZero() {
			return ctx.Err()
		}
		age := ageAt(p.Birth, l.Time)
		gap := 0
		switch {
		case d.MinAge > 0 && age < d.MinAge:
			gap = d.MinAge - age
		case d.MaxAge > 0 && age > d.MaxAge:
			gap = age - d.MaxAge
		default:
			return ctx.Err()
		}
		sev := tracewatch.SeverityHighlySuspicious
		if gap <= 1 {
			sev = tracewatch.SeveritySuspicious
		}
		c, isNew := pc.add(env, l, "age")
		if sev > c.Severity {
			c.Severity = sev
		}
		if isNew {
			cp := *l
			first[c.Fingerprint] = &cp
		}
		ages[c.Fingerprint] = age
		t := fmt.Sprintf("%s（%s）", env.drugName(l.DrugCode), ageLimitText(d))
		for _, x := range texts[c.Fingerprint] {
			if x == t {
				return ctx.Err()
			}
		}
		texts[c.Fingerprint] = append(texts[c.Fingerprint], t)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range pc.order {
		c, l := pc.clues[fp], first[fp]
		_, fund, sale := pc.drugList(env, fp)
		setAmount(c, fund, sale)
		drugs, age := texts[fp], ages[fp]
		c.Explanation = fmt.Sprintf("参保人 %s 结算时 %d 岁，%s 于 %s 以其名义医保结算了 %s（%s）：年龄不在药品限定范围内。",
			l.Person, age, env.instName(l.Institution), when(l.Time), strings.Join(drugs, "、"), settlementText(l))
	}
	pc.emit(emit)
	return nil
}

// --- C7 ---

// AfterDeath is C7: a settlement (2207/2304, or a 3505 line with a setl_id) in the name of
// a person on a day after their death date (persons death_date; the day of death itself
// is not flagged: the death may have come after the purchase). 明确违规, one clue per
// person × settlement.
type AfterDeath struct{}

// NewAfterDeath returns C7.
func NewAfterDeath() *AfterDeath { return &AfterDeath{} }

func (*AfterDeath) ID() string                 { return "claims.after_death@1" }
func (*AfterDeath) Title() string              { return "死亡后结算" }
func (*AfterDeath) Params() []Param            { return nil }
func (a *AfterDeath) Set(name, _ string) error { return unknownParam(a, name) }

// Run implements Detector.
func (a *AfterDeath) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(a.ID())
	first := map[string]*tracewatch.TimelineEntry{}
	deaths := map[string]time.Time{}
	fund := map[string]tracewatch.Fen{}
	err := env.Src.DeceasedSettlements(ctx, env.Window, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		if p.Death.IsZero() || l.Time.IsZero() {
			return ctx.Err()
		}
		y, m, d := dateOf(p.Death)
		death := time.Date(y, m, d, 0, 0, 0, 0, cst)
		if l.Time.Before(death.AddDate(0, 0, 1)) {
			return ctx.Err()
		}
		c, isNew := pc.add(env, l, "after_death")
		c.Severity = tracewatch.SeverityViolation
		if isNew {
			cp := *l
			first[c.Fingerprint], deaths[c.Fingerprint] = &cp, death
		}
		if l.FundPaid > fund[c.Fingerprint] {
			fund[c.Fingerprint] = l.FundPaid
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range pc.order {
		c, l, death := pc.clues[fp], first[fp], deaths[fp]
		_, _, sale := pc.drugList(env, fp)
		setAmount(c, fund[fp], sale)
		days := int(l.Time.In(cst).Sub(death).Hours() / 24)
		c.Explanation = fmt.Sprintf("参保人 %s 已于 %s 死亡，%s 于 %s（死亡后第 %d 天）仍以其名义医保结算（%s），%s。",
			l.Person, death.Format("2006-01-02"), env.instName(l.Institution), when(l.Time), days, settlementText(l), amountText(c))
	}
	pc.emit(emit)
	return nil
}

// --- C8 ---

// Suspended is C8: insured settlements (2207/2304, 3505 with mdtrt_setl_type 1 and a
// setl_id) at an institution whose agreement (医保协议) is suspended (中止) or terminated
// (解除) at the settlement time. 明确违规, one clue per institution listing every such
// settlement.
type Suspended struct{}

// NewSuspended returns C8.
func NewSuspended() *Suspended { return &Suspended{} }

func (*Suspended) ID() string                 { return "claims.suspended@1" }
func (*Suspended) Title() string              { return "协议中止期间结算" }
func (*Suspended) Params() []Param            { return nil }
func (s *Suspended) Set(name, _ string) error { return unknownParam(s, name) }

var agreementText = map[tracewatch.AgreementStatus]string{
	tracewatch.AgreementSuspended:  "中止",
	tracewatch.AgreementTerminated: "解除",
}

// agreementSince returns the start of the agreement period in force at t.
func agreementSince(in tracewatch.Institution, t time.Time) time.Time {
	var from time.Time
	for _, a := range in.Agreements {
		if !t.Before(a.From) && (a.To.IsZero() || t.Before(a.To)) {
			from = a.From
		}
	}
	return from
}

// Run implements Detector.
func (s *Suspended) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	type acc struct {
		clue        *tracewatch.Clue
		first, last *tracewatch.TimelineEntry
		status      tracewatch.AgreementStatus
		fund        map[string]tracewatch.Fen
		sale        saleSum
	}
	byInst := map[string]*acc{}
	var order []string
	err := env.Src.AgreementSettlements(ctx, env.Window, func(l *tracewatch.TimelineEntry, _ tracewatch.Person) error {
		in, ok := env.Institutions[l.Institution]
		if !ok || l.Time.IsZero() {
			return ctx.Err()
		}
		st := in.AgreementAt(l.Time)
		if st != tracewatch.AgreementSuspended && st != tracewatch.AgreementTerminated {
			return ctx.Err()
		}
		a := byInst[l.Institution]
		if a == nil {
			fp := tracewatch.ClueFingerprint(s.ID(), tracewatch.SubjectInstitution, l.Institution)
			cp := *l
			a = &acc{clue: &tracewatch.Clue{Fingerprint: fp, Rule: "suspended", Severity: tracewatch.SeverityViolation,
				Subject: tracewatch.SubjectInstitution, SubjectID: l.Institution, Institution: l.Institution},
				first: &cp, status: st, fund: map[string]tracewatch.Fen{}}
			byInst[l.Institution] = a
			order = append(order, l.Institution)
		}
		cp := *l
		a.last = &cp
		a.clue.Settlements = append(a.clue.Settlements, l.Settlement)
		if l.FundPaid > a.fund[l.Settlement] {
			a.fund[l.Settlement] = l.FundPaid
		}
		a.sale.add(env, &l.Event)
		a.clue.Evidence = append(a.clue.Evidence, env.claimEvidence(l))
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, code := range order {
		a := byInst[code]
		c := a.clue
		var fund tracewatch.Fen
		for _, f := range a.fund {
			fund += f
		}
		setAmount(c, fund, a.sale.total)
		since := agreementSince(env.Institutions[code], a.first.Time)
		period := "于 " + when(a.first.Time) + " "
		if len(a.fund) > 1 {
			period = "在 " + when(a.first.Time) + " 至 " + when(a.last.Time) + " 期间"
		}
		c.Explanation = fmt.Sprintf("%s 的医保协议自 %s 起%s，但其%s仍发生医保结算 %d 笔，%s。",
			env.instName(code), since.In(cst).Format("2006-01-02"), agreementText[a.status], period, len(a.fund), amountText(c))
		emit(*c)
	}
	return nil
}
