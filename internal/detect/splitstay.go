package detect

import (
	"context"
	"fmt"
	"strconv"
	"time"

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
func NewSplitStay() *SplitStay { return &SplitStay{MaxDays: 15} }

func (*SplitStay) ID() string    { return "claims.split_stay@1" }
func (*SplitStay) Title() string { return "分解住院" }
func (*SplitStay) Params() []Param {
	return []Param{{"max_days", "15", "days from a discharge within which a readmission for the same disease is flagged"}}
}

func (s *SplitStay) Set(name, value string) error {
	if name != "max_days" {
		return unknownParam(s, name)
	}
	v, err := strconv.Atoi(value)
	if err != nil || v < 1 || v > 365 {
		return badParam(s, name, value)
	}
	s.MaxDays = v
	return nil
}

// Run implements Detector.
func (s *SplitStay) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	gap := time.Duration(s.MaxDays) * 24 * time.Hour
	seen := map[string]bool{} // a readmission is judged once, against its nearest earlier stay
	return env.Src.Readmissions(ctx, env.Window, gap, func(a, b tracewatch.Stay) error {
		key := b.Institution + "\x00" + b.Settlement
		if seen[key] {
			return nil
		}
		seen[key] = true
		days := b.Admitted.Sub(a.Discharged).Hours() / 24
		where := "同一医院"
		if a.Institution != b.Institution {
			where = "另一医院 " + env.instName(b.Institution)
		}
		c := tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(s.ID(), tracewatch.SubjectPerson, b.Person, b.Institution, b.Settlement),
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
		return ctx.Err()
	})
}
