package rules

import (
	"context"
	"fmt"
	"strings"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Baseline is B0, the naive rule regulators run today: any code scanned at sale two
// times or more (可疑). It is not run by a screen unless named; the evaluation runs it
// beside T1 for comparison.
type Baseline struct{}

// NewBaseline returns B0.
func NewBaseline() *Baseline { return withDefaults(&Baseline{}) }

// Spec implements Rule.
func (*Baseline) Spec() Spec {
	return Spec{Name: "baseline.repeat", Version: 1, Short: "B0", Title: "重复扫码（基线）", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{ScenePharmacy},
		Period: "码的全部 3505 扫码", Severity: tracewatch.SeveritySuspicious,
		Basis:    "对照基线：监管常用的 GROUP BY 追溯码 HAVING count(*) >= 2",
		Optional: true,
	}
}

// Eval implements Rule.
func (b *Baseline) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	return env.Src.Repeats(ctx, env.Window, func(r facts.Repeat) error {
		inst := r.Last
		names := make([]string, len(r.Institutions))
		for i, in := range r.Institutions {
			names[i] = env.instName(in)
		}
		emit(tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, r.Key),
			Rule:        "scanned_repeatedly", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: r.Key, Institution: inst, Codes: []string{r.Key},
			Explanation: fmt.Sprintf("追溯码 %s 在销售环节被扫描 %d 次（%s）。", r.Key, r.Scans, strings.Join(names, "、")),
		})
		return ctx.Err()
	})
}
