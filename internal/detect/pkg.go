package detect

import (
	"context"
	"fmt"

	"tracewatch"
)

// Package is T5, 级联冲突: a parent package code and one of its children both sold on
// their own (the carton's sale already sold the pack): 高度可疑.
type Package struct{}

// NewPackage returns T5.
func NewPackage() *Package { return &Package{} }

func (*Package) ID() string                 { return "trace.package@1" }
func (*Package) Title() string              { return "级联冲突" }
func (*Package) Params() []Param            { return nil }
func (p *Package) Set(name, _ string) error { return unknownParam(p, name) }

// Run implements Detector.
func (p *Package) Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	return env.Src.PackageConflicts(ctx, env.Window, func(pr tracewatch.PackagePair, lines []tracewatch.TimelineEntry) error {
		c := tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(p.ID(), tracewatch.SubjectCode, pr.Child, pr.Parent),
			Rule:        "parent_and_child", Severity: tracewatch.SeverityHighlySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: pr.Child, Codes: []string{pr.Parent, pr.Child},
		}
		var parentSale, childSale *tracewatch.TimelineEntry
		for i := range lines {
			t := &lines[i]
			c.Evidence = append(c.Evidence, env.lineEvidence(t))
			c.Settlements = append(c.Settlements, t.Settlement)
			c.Receipts = append(c.Receipts, t.Receipt)
			c.Persons = append(c.Persons, t.Person)
			if t.Code.Key == pr.Parent {
				if parentSale == nil {
					parentSale = t
				}
				continue
			}
			if childSale == nil {
				childSale = t
			}
			if t.FundPaid > c.AmountFen {
				c.AmountFen = t.FundPaid
			}
		}
		if parentSale == nil || childSale == nil {
			return nil
		}
		c.Institution = childSale.Institution
		c.Explanation = fmt.Sprintf("包装码 %s 已于 %s 在 %s 整件销售，其内的小包装追溯码 %s 又于 %s 在 %s 单独销售，同一盒药被销售两次。",
			pr.Parent, when(parentSale.Time), env.instName(parentSale.Institution), pr.Child, when(childSale.Time), env.instName(childSale.Institution))
		emit(c)
		return ctx.Err()
	})
}
