package rules

import (
	"context"
	"fmt"
	"strings"

	"tracewatch"
	"tracewatch/internal/facts"
)

// BedHolding is C6, 挂床住院: an inpatient stay during which the person shows no care
// (days without any fee line: no drug, treatment, nursing or bed charge) or settles
// outpatient or pharmacy purchases at another institution while admitted. Either sign
// alone is 可疑, both together 高度可疑; one clue per stay, amount the stay's fund
// payment.
//
// Days are judged only where they can be: the admission and discharge days may lack
// lines honestly (admitted late at night, discharged in the morning), a stay with an
// undated fee line or none at all says nothing about its days, and neither does a stay at
// a hospital that bills its stays in one go (datedInstitutions). A settlement at the
// stay's own hospital (its outpatient clinic on the day of discharge) is no absence, nor
// one before the admission time or after the discharge time. A stay C13 owns (too little
// care for its length, or fees the lines mostly do not explain: the phantom_* parameters)
// is left to C13.
type BedHolding struct {
	MinEmptyDays     int
	MinElsewhere     int
	DatedShare       float64
	PhantomCare      float64
	PhantomUnexplain float64
}

// NewBedHolding returns C6 with its defaults.
func NewBedHolding() *BedHolding { return withDefaults(&BedHolding{}) }

// Spec implements Rule.
func (b *BedHolding) Spec() Spec {
	return Spec{Name: "claims.bed_holding", Version: 1, Short: "C6", Title: "挂床住院", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneInpatient},
		Period: "当次住院", Severity: tracewatch.SeveritySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条、第三十八条（挂床住院、虚构医药服务）；住院期间无诊疗记录或在他处就医购药",
		Params: []Param{
			IntParam("min_empty_days", &b.MinEmptyDays, 3, 1, 365, "天", "days strictly between admission and discharge without any fee line that flag a stay"),
			IntParam("min_elsewhere", &b.MinElsewhere, 1, 1, 1000, "次", "outpatient or pharmacy settlements at other institutions while admitted that flag a stay"),
			FloatParam("dated_share", &b.DatedShare, 0.5, 0, 1, "比例", "share of a hospital's stays of 3+ days with fee lines on two days or more for its stays to be judged on days"),
			FloatParam("phantom_care_share", &b.PhantomCare, 0.3, 0, 1, "比例", "at or below this share of calendar days with fee lines the stay is C13's (keep equal to C13's max_care_share)"),
			FloatParam("phantom_unexplained_share", &b.PhantomUnexplain, 0.5, 0, 1, "比例", "at or above this share of the stay's fees not in its fee lines the stay is C13's (keep equal to C13's min_unexplained_share)"),
		},
	}
}

// Eval implements Rule.
func (b *BedHolding) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	stays, err := readStays(ctx, env)
	if err != nil {
		return err
	}
	dated := datedInstitutions(stays, b.DatedShare)
	for i := range stays {
		st := &stays[i]
		if !judgeable(env, st) {
			continue
		}
		c := newCareDays(st)
		daysKnown := c.known && dated[st.Institution]
		if st.Lines > 0 && unexplained(st) >= b.PhantomUnexplain || daysKnown && c.share() <= b.PhantomCare {
			continue // C13's 虚假住院
		}
		var empty []int
		if daysKnown {
			if e := c.empty(); len(e) >= b.MinEmptyDays {
				empty = e
			}
		}
		away := elsewhere(st)
		if len(away) < b.MinElsewhere {
			away = nil
		}
		if len(empty) == 0 && len(away) == 0 {
			continue
		}
		b.emit(env, st, c, empty, away, emit)
	}
	return ctx.Err()
}

func (b *BedHolding) emit(env *Env, st *facts.StayCare, c careDays, empty []int, away []facts.StaySettlement, emit func(tracewatch.Clue)) {
	sev, rule := tracewatch.SeveritySuspicious, "empty_days"
	switch {
	case len(empty) > 0 && len(away) > 0:
		sev, rule = tracewatch.SeverityHighlySuspicious, "empty_days_elsewhere"
	case len(away) > 0:
		rule = "elsewhere"
	}
	setls := []string{st.Settlement}
	ev := []tracewatch.Evidence{stayEvidence(env, st)}
	var why []string
	if len(empty) > 0 {
		ev = append(ev, tracewatch.Evidence{Time: dayTime(empty[0]), What: "empty_days", Institution: st.Institution,
			Note: fmt.Sprintf("住院 %d 天中 %d 天（%s）无任何费用明细（无床位、护理、药品、诊疗收费）", c.calendar(), len(empty), dayRanges(empty))})
		why = append(why, fmt.Sprintf("住院期间有 %d 天（%s）无任何床位、护理、药品或诊疗收费记录", len(empty), dayRanges(empty)))
	}
	if len(away) > 0 {
		var where []string
		for _, x := range away {
			ev = append(ev, settlementEvidence(env, x))
			setls = append(setls, x.Settlement)
			where = append(where, when(x.Time)+" "+env.instName(x.Institution))
		}
		why = append(why, fmt.Sprintf("住院期间在其他机构结算 %d 次（%s）", len(away), strings.Join(where, "；")))
	}
	cl := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, st.Person, st.Institution, st.Settlement),
		Rule:        rule, Severity: sev,
		Subject: tracewatch.SubjectPerson, SubjectID: st.Person, Institution: st.Institution, Persons: []string{st.Person},
		Settlements: setls, AmountFen: st.FundPaid, AmountBasis: tracewatch.AmountFund,
		Evidence: ev,
	}
	cl.Explanation = fmt.Sprintf("参保人 %s 于 %s 至 %s 在 %s 住院（结算号 %s），%s，疑为挂床住院（人不在院），请核查住院病历、护理记录与床位使用情况。",
		st.Person, when(st.Admitted), when(st.Discharged), env.instName(st.Institution), st.Settlement, strings.Join(why, "；"))
	emit(cl)
}
