package rules

import (
	"context"
	"fmt"
	"strings"

	"tracewatch"
	"tracewatch/internal/facts"
)

// PhantomStay is C13, 虚假住院: an inpatient stay with too little care for its length and
// fee — its fee lines fall on at most MaxCareShare of its calendar days (a stay of
// MinDays days or more), or they add up to less than the stay's settled fees by
// MinUnexplainedShare and MinUnexplainedYuan or more — 高度可疑, one clue per stay, amount
// the stay's fund payment. The person's settlements at other institutions while
// admitted, when there are any, are added as evidence (C6 does not raise them again for
// a stay C13 owns).
//
// Unknown is not suspicious: a stay without any fee line (a province that uploads the
// 2304 but no 2301) raises nothing, and its days are judged only when every line is dated
// and its hospital dates its fee lines by day (datedInstitutions); the fee clause needs
// fee lines and a stated medfee_sumamt.
type PhantomStay struct {
	MinDays             int
	MaxCareShare        float64
	MinUnexplainedShare float64
	MinUnexplainedYuan  int
	DatedShare          float64
}

// NewPhantomStay returns C13 with its defaults.
func NewPhantomStay() *PhantomStay { return withDefaults(&PhantomStay{}) }

// Spec implements Rule.
func (p *PhantomStay) Spec() Spec {
	return Spec{Name: "claims.phantom_stay", Version: 1, Short: "C13", Title: "虚假住院", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneInpatient},
		Period: "当次住院", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第四十条（虚构医药服务、伪造医疗文书、虚假住院骗取医保基金）",
		Params: []Param{
			IntParam("min_days", &p.MinDays, 4, 2, 365, "天", "calendar days (admission and discharge day included) a stay must last to be judged on its days of care"),
			FloatParam("max_care_share", &p.MaxCareShare, 0.3, 0, 1, "比例", "at or below this share of calendar days with fee lines a stay has too little care for its length"),
			FloatParam("min_unexplained_share", &p.MinUnexplainedShare, 0.5, 0, 1, "比例", "share of the stay's settled fees (medfee_sumamt) its fee lines do not add up to that flags it"),
			IntParam("min_unexplained_yuan", &p.MinUnexplainedYuan, 500, 0, 100000000, "元", "and the unexplained fees at least this much"),
			FloatParam("dated_share", &p.DatedShare, 0.5, 0, 1, "比例", "share of a hospital's stays of 3+ days with fee lines on two days or more for its stays to be judged on days"),
		},
	}
}

// Eval implements Rule.
func (p *PhantomStay) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	stays, err := readStays(ctx, env)
	if err != nil {
		return err
	}
	dated := datedInstitutions(stays, p.DatedShare)
	for i := range stays {
		st := &stays[i]
		if !judgeable(env, st) || st.Lines == 0 {
			continue
		}
		c := newCareDays(st)
		thin := c.known && dated[st.Institution] && c.calendar() >= p.MinDays && c.share() <= p.MaxCareShare
		u := unexplained(st)
		gap := st.Amount - st.LineAmount
		fee := u >= p.MinUnexplainedShare && gap >= tracewatch.Fen(p.MinUnexplainedYuan)*100
		if !thin && !fee {
			continue
		}
		p.emit(env, st, c, thin, fee, emit)
	}
	return ctx.Err()
}

func (p *PhantomStay) emit(env *Env, st *facts.StayCare, c careDays, thin, fee bool, emit func(tracewatch.Clue)) {
	rule := "thin_care"
	switch {
	case thin && fee:
		rule = "thin_care_unexplained"
	case fee:
		rule = "unexplained_fees"
	}
	ev := []tracewatch.Evidence{stayEvidence(env, st)}
	var why []string
	cared := 0
	for d := c.first; d <= c.last; d++ {
		if c.cared[d] {
			cared++
		}
	}
	if thin {
		var on []int
		for d := c.first; d <= c.last; d++ {
			if c.cared[d] {
				on = append(on, d)
			}
		}
		perDay := st.LineAmount / tracewatch.Fen(c.calendar())
		ev = append(ev, tracewatch.Evidence{Time: st.Admitted, What: "care_days", Institution: st.Institution,
			Note: fmt.Sprintf("住院 %d 天，仅 %d 天（%s）有费用明细，日均明细费用 %s 元", c.calendar(), cared, dayRanges(on), perDay)})
		why = append(why, fmt.Sprintf("住院 %d 天仅 %d 天有诊疗收费记录（%.0f%%，不超过 %.0f%%）", c.calendar(), cared, 100*c.share(), 100*p.MaxCareShare))
	}
	if fee {
		ev = append(ev, tracewatch.Evidence{Time: st.Discharged, What: "unexplained_fees", Institution: st.Institution, Ref: st.Ref,
			Note: fmt.Sprintf("结算医疗费用 %s 元，费用明细仅 %s 元，%s 元（%.0f%%）无明细", st.Amount, st.LineAmount, st.Amount-st.LineAmount, 100*unexplained(st))})
		why = append(why, fmt.Sprintf("结算医疗费用 %s 元中 %s 元（%.0f%%）无费用明细支撑", st.Amount, st.Amount-st.LineAmount, 100*unexplained(st)))
	}
	setls := []string{st.Settlement}
	away := elsewhere(st)
	for _, x := range away {
		ev = append(ev, settlementEvidence(env, x))
		setls = append(setls, x.Settlement)
	}
	if len(away) > 0 {
		why = append(why, fmt.Sprintf("且住院期间在其他机构结算 %d 次", len(away)))
	}
	cl := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, st.Person, st.Institution, st.Settlement),
		Rule:        rule, Severity: tracewatch.SeverityHighlySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: st.Person, Institution: st.Institution, Persons: []string{st.Person},
		Settlements: setls, AmountFen: st.FundPaid, AmountBasis: tracewatch.AmountFund,
		Evidence: ev,
	}
	cl.Explanation = fmt.Sprintf("参保人 %s 于 %s 至 %s 在 %s 住院（结算号 %s，基金支付 %s 元），%s，诊疗服务与住院天数、费用明显不符，疑为虚假住院，请核查住院病历、医嘱执行与费用清单。",
		st.Person, when(st.Admitted), when(st.Discharged), env.instName(st.Institution), st.Settlement, st.FundPaid, strings.Join(why, "；"))
	emit(cl)
}
