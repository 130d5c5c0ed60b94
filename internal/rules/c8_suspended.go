package rules

import (
	"context"
	"fmt"
	"time"

	"tracewatch"
)

// Suspended is C8: insured settlements (2207/2304, 3505 with mdtrt_setl_type 1 and a
// setl_id) at an institution whose agreement (医保协议) is suspended (中止) or terminated
// (解除) at the settlement time. 明确违规, one clue per institution listing every such
// settlement.
type Suspended struct{}

// NewSuspended returns C8.
func NewSuspended() *Suspended { return withDefaults(&Suspended{}) }

// Spec implements Rule.
func (*Suspended) Spec() Spec {
	return Spec{Name: "claims.suspended", Version: 1, Short: "C8", Title: "协议中止期间结算", Type: TypeManagement,
		Stages: []Stage{StageDuring, StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "筛查窗口内的结算与协议状态", Severity: tracewatch.SeverityViolation,
		Basis: "《医疗机构医疗保障定点管理暂行办法》《零售药店医疗保障定点管理暂行办法》（中止、解除协议期间不得医保结算）",
	}
}

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

// Eval implements Rule.
func (s *Suspended) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
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
			fp := tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, l.Institution)
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

// CheckRequest implements RequestChecker: the institution's agreement is suspended or
// terminated at the time of the sale (明确违规: it may not settle with the fund).
func (*Suspended) CheckRequest(env *Env, req *CheckRequest, emit func(Violation)) {
	inst, ok := env.Institutions[req.Institution]
	if !ok {
		return
	}
	st := inst.AgreementAt(req.Time)
	if st == tracewatch.AgreementNormal {
		return
	}
	name := map[tracewatch.AgreementStatus]string{tracewatch.AgreementSuspended: "中止", tracewatch.AgreementTerminated: "解除"}[st]
	emit(Violation{RuleName: "协议状态异常", Rule: string(st), Severity: tracewatch.SeverityViolation, Behavior: "5",
		Content:  fmt.Sprintf("%s 的医保协议处于%s状态，不得医保结算", env.instName(req.Institution), name),
		Evidence: fmt.Sprintf("协议状态 %s（%s）", st, req.Time.In(cst).Format("2006-01-02"))})
}
