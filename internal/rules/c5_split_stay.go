package rules

import (
	"context"
	"fmt"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// SplitStay is C5, 分解住院: a person discharged and admitted again within MaxDays days
// for the same disease (the same ICD-10 category, the code's first three characters),
// in the same hospital or another — one stay cut in two to bill two admissions (or to
// dodge the per-stay limits): 高度可疑, one clue per readmission, amount the second
// stay's fund payment. The stays come from the inpatient settlements (2304) with their
// admission, discharge and main diagnosis; a cancelled settlement (2305) is no stay.
type SplitStay struct {
	MaxDays int
}

// NewSplitStay returns C5 with its defaults (15 days: the national rule).
func NewSplitStay() *SplitStay { return withDefaults(&SplitStay{}) }

// Spec implements Rule.
func (s *SplitStay) Spec() Spec {
	return Spec{Name: "claims.split_stay", Version: 1, Short: "C5", Title: "分解住院", Type: TypePolicy,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneInpatient},
		Period: "出院至再入院间隔", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第三十八条（分解住院）；15日内同病种再入院",
		Params: []Param{
			IntParam("max_days", &s.MaxDays, 15, 1, 365, "天", "days from a discharge within which a readmission for the same disease is flagged"),
		},
	}
}

// Eval implements Rule: each stay admitted in the window is judged against the latest
// earlier stay of the person in the same diagnosis category (the ICD-10 code's first
// three characters) discharged at most MaxDays before; a stay without a diagnosis
// category is not judged.
func (s *SplitStay) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	gap := time.Duration(s.MaxDays) * 24 * time.Hour
	w := env.Window
	if !w.From.IsZero() {
		w.From = w.From.Add(-gap - 366*24*time.Hour) // an earlier stay may have lasted long
	}
	var person string
	var earlier []facts.Stay
	err := env.Src.Stays(ctx, facts.StayQuery{Window: w}, func(b facts.Stay) error {
		if b.Person != person {
			person, earlier = b.Person, earlier[:0]
		}
		cat := diagCategory(b.Diagnosis)
		if cat != "" && env.Window.Contains(b.Admitted) {
			var a *facts.Stay
			for i := range earlier {
				x := &earlier[i]
				if diagCategory(x.Diagnosis) == cat && x.Settlement != b.Settlement && !b.Admitted.Before(x.Discharged) &&
					b.Admitted.Sub(x.Discharged) <= gap && b.Admitted.After(x.Admitted) && (a == nil || x.Admitted.After(a.Admitted)) {
					a = x
				}
			}
			if a != nil {
				s.emitPair(env, *a, b, emit)
			}
		}
		earlier = append(earlier, b)
		return ctx.Err()
	})
	return err
}

// diagCategory is the ICD-10 category of a diagnosis code (its first three characters,
// upper case); "" when it has fewer.
func diagCategory(code string) string {
	if len(code) < 3 {
		return ""
	}
	return strings.ToUpper(code[:3])
}

// emitPair writes the clue of a readmission b after stay a.
func (s *SplitStay) emitPair(env *Env, a, b facts.Stay, emit func(tracewatch.Clue)) {
	days := b.Admitted.Sub(a.Discharged).Hours() / 24
	where := "同一医院"
	if a.Institution != b.Institution {
		where = "另一医院 " + env.instName(b.Institution)
	}
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, b.Person, b.Institution, b.Settlement),
		Rule:        "split_stay", Severity: tracewatch.SeverityHighlySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: b.Person, Institution: b.Institution, Persons: []string{b.Person},
		Settlements: []string{a.Settlement, b.Settlement},
		AmountFen:   b.FundPaid, AmountBasis: tracewatch.AmountFund, // the 2304 settlement states it
		Evidence: []tracewatch.Evidence{
			{Time: a.Discharged, What: "stay", Institution: a.Institution, Ref: a.Ref,
				Note: fmt.Sprintf("%s 至 %s 在 %s 住院，出院主诊断 %s，结算号 %s", when(a.Admitted), when(a.Discharged), env.instName(a.Institution), a.Diagnosis, a.Settlement)},
			{Time: b.Admitted, What: "stay", Institution: b.Institution, Ref: b.Ref,
				Note: fmt.Sprintf("%s 至 %s 在 %s 住院，出院主诊断 %s，结算号 %s", when(b.Admitted), when(b.Discharged), env.instName(b.Institution), b.Diagnosis, b.Settlement)},
		},
	}
	c.Explanation = fmt.Sprintf("参保人 %s 于 %s 从 %s 出院（主诊断 %s）后，仅 %.1f 天即于 %s 在%s以同一疾病（%s）再次入院，间隔不超过 %d 天，疑为分解住院，请核查两次住院的病历与费用。",
		b.Person, when(a.Discharged), env.instName(a.Institution), a.Diagnosis, days, when(b.Admitted), where, b.Diagnosis, s.MaxDays)
	emit(c)
}
