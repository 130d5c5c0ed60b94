package rules

import (
	"context"
	"fmt"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Gender is C1, 限性别: an insured sale line (3505 with mdtrt_setl_type 1, or a 2204 fee
// line) of a drug limited to one gender (drugs gender_limit) for a person of the other
// (persons gend 1 or 2; 9 or an unknown person gives no clue). 明确违规, one clue per
// person × settlement.
type Gender struct{}

// NewGender returns C1.
func NewGender() *Gender { return withDefaults(&Gender{}) }

// Spec implements Rule.
func (*Gender) Spec() Spec {
	return Spec{Name: "claims.gender", Version: 1, Short: "C1", Title: "限性别用药", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "筛查窗口内的医保结算行", Severity: tracewatch.SeverityViolation,
		Basis: "《国家基本医疗保险、工伤保险和生育保险药品目录》限定支付范围（限性别）；知识库 drug_limits.gend",
	}
}

// Eval implements Rule.
func (g *Gender) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(env.RuleID)
	first := map[string]*tracewatch.TimelineEntry{}
	gender := map[string]string{}
	drugs := env.limitedDrugs(func(l tracewatch.DrugLimit) bool { return l.Gender == "1" || l.Gender == "2" })
	q := facts.LineQuery{Window: env.Window, Drugs: drugs, KnownPerson: true}
	err := env.Src.InsuredLines(ctx, q, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		d, ok := env.Limits[l.DrugCode]
		if !ok || (d.Gender != "1" && d.Gender != "2") || (p.Gender != "1" && p.Gender != "2") || p.Gender == d.Gender {
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
		limit := genderText(env.Limits[l.DrugCode].Gender)
		c.Explanation = fmt.Sprintf("参保人 %s 性别为%s，%s 于 %s 以其名义医保结算了限%s性使用的药品 %s（%s）：用药与性别不符。",
			l.Person, genderText(gender[fp]), env.instName(l.Institution), when(l.Time), limit, names, settlementText(l))
	}
	pc.emit(emit)
	return nil
}

// --- C2 ---
