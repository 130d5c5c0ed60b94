package detect

import (
	"context"
	"fmt"
	"strings"

	"tracewatch"
)

// Baseline is B0, the naive rule regulators run today: any code scanned at sale two
// times or more (可疑). It is not run by a screen unless named; the evaluation runs it
// beside T1 for comparison.
type Baseline struct{}

// NewBaseline returns B0.
func NewBaseline() *Baseline { return &Baseline{} }

func (*Baseline) ID() string                 { return "baseline.repeat@1" }
func (*Baseline) Title() string              { return "重复扫码（基线）" }
func (*Baseline) Params() []Param            { return nil }
func (b *Baseline) Set(name, _ string) error { return unknownParam(b, name) }

// Run implements Detector.
func (b *Baseline) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	return env.Src.Repeats(ctx, env.Window, func(r tracewatch.Repeat) error {
		inst := r.Last
		names := make([]string, len(r.Institutions))
		for i, in := range r.Institutions {
			names[i] = env.instName(in)
		}
		emit(tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(b.ID(), tracewatch.SubjectCode, r.Key),
			Rule:        "scanned_repeatedly", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: r.Key, Institution: inst, Codes: []string{r.Key},
			Explanation: fmt.Sprintf("追溯码 %s 在销售环节被扫描 %d 次（%s）。", r.Key, r.Scans, strings.Join(names, "、")),
		})
		return ctx.Err()
	})
}
