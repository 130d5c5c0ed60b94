package rules

import (
	"context"
	"fmt"
	"time"

	"tracewatch"
)

// AfterDeath is C7: a settlement (2207/2304, or a 3505 line with a setl_id) in the name of
// a person on a day after their death date (persons death_date; the day of death itself
// is not flagged: the death may have come after the purchase). 明确违规, one clue per
// person × settlement.
type AfterDeath struct{}

// NewAfterDeath returns C7.
func NewAfterDeath() *AfterDeath { return withDefaults(&AfterDeath{}) }

// Spec implements Rule.
func (*AfterDeath) Spec() Spec {
	return Spec{Name: "claims.after_death", Version: 1, Short: "C7", Title: "死亡后结算", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "筛查窗口内的结算", Severity: tracewatch.SeverityViolation,
		Basis: "《医疗保障基金使用监督管理条例》第四十条、第四十一条（冒名就医、虚构医药服务）；参保人死亡信息",
	}
}

// Eval implements Rule.
func (a *AfterDeath) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	pc := newPersonClues(env.RuleID)
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
