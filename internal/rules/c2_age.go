package rules

import (
	"context"
	"fmt"
	"strings"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Age is C2, 限年龄: an insured sale line of a drug with an age limit (drugs min_age,
// max_age; 小儿 products ≤ 14) for a person whose age in completed years on the day of
// the sale (Asia/Shanghai) is outside it. 可疑 when the person is within a year of the
// limit (one year short of the minimum, or one year past the maximum), else 高度可疑. One
// clue per person × settlement.
type Age struct{}

// NewAge returns C2.
func NewAge() *Age { return withDefaults(&Age{}) }

// Spec implements Rule.
func (*Age) Spec() Spec {
	return Spec{Name: "claims.age", Version: 1, Short: "C2", Title: "限年龄用药", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "筛查窗口内的医保结算行", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《国家基本医疗保险、工伤保险和生育保险药品目录》限定支付范围（限儿童、限年龄）；知识库 drug_limits.min_age/max_age",
	}
}

// ageLimitText describes a drug's age range.
func ageLimitText(d tracewatch.DrugLimit) string {
	switch {
	case d.MinAge > 0 && d.MaxAge > 0:
		return fmt.Sprintf("限 %d 至 %d 岁使用", d.MinAge, d.MaxAge)
	case d.MinAge > 0:
		return fmt.Sprintf("限 %d 岁及以上使用", d.MinAge)
	}
	return fmt.Sprintf("限 %d 岁及以下使用", d.MaxAge)
}

// Eval implements Rule.
func (a *Age) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(env.RuleID)
	texts, ages := map[string][]string{}, map[string]int{}
	first := map[string]*tracewatch.TimelineEntry{}
	drugs := env.limitedDrugs(func(l tracewatch.DrugLimit) bool { return l.MinAge > 0 || l.MaxAge > 0 })
	q := facts.LineQuery{Window: env.Window, Drugs: drugs, KnownPerson: true}
	err := env.Src.InsuredLines(ctx, q, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		d, ok := env.Limits[l.DrugCode]
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
