package rules

import (
	"context"
	"fmt"
	"strings"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Package is T5, 级联冲突: a parent package code and one of its children both sold on
// their own (the carton's sale already sold the pack): 高度可疑. And a code scanned in the
// window whose package links claim it at two levels: linked under two different parent
// packages, or under a parent whose level is known not to be above its own: 可疑 (a
// re-used or fabricated package link, or a code printed at the wrong level). A level is
// known only from a row that states it (the codemap row of the product id, pack_level) or
// proves it (a packages row where a code of one product id contains a code of the other);
// a level nothing states or proves is unknown and contradicts nothing. The clue names the
// rows that made each level known.
type Package struct{}

// NewPackage returns T5.
func NewPackage() *Package { return withDefaults(&Package{}) }

// Spec implements Rule.
func (*Package) Spec() Spec {
	return Spec{Name: "trace.package", Version: 1, Short: "T5", Title: "级联冲突", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "码的全部销售历史与级联关系", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "国家医保局药品追溯码采集应用要求（2025年7月1日起定点医药机构销售药品须扫码上传，一盒一码）；包装级联关系（大码—中码—小码）",
	}
}

// levelText names a stated package level.
func levelText(l int) string {
	if l <= 0 {
		return "未知级"
	}
	return fmt.Sprintf("第 %d 级", l)
}

// Eval implements Rule.
func (p *Package) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	if err := p.pairs(ctx, env, emit); err != nil {
		return err
	}
	return env.Src.LevelConflicts(ctx, env.Window, func(lc facts.LevelConflict) error {
		c := tracewatch.Clue{
			Severity: tracewatch.SeveritySuspicious, Subject: tracewatch.SubjectCode, SubjectID: lc.Code,
			Institution: lc.Institution, Codes: append([]string{lc.Code}, lc.Parents...),
		}
		link := func(i int, prefix string) tracewatch.Evidence {
			return tracewatch.Evidence{Time: lc.First, What: "package_link", Institution: lc.Institution,
				Note: fmt.Sprintf("%s%s（%s包装）→ %s（%s包装）", prefix, lc.Parents[i], levelText(lc.ParentLevels[i]), lc.Code, levelText(lc.Level))}
		}
		switch {
		case len(lc.Parents) > 1:
			c.Rule = "two_parents"
			var parts []string
			for i, pa := range lc.Parents {
				parts = append(parts, fmt.Sprintf("%s（%s包装）", pa, levelText(lc.ParentLevels[i])))
				c.Evidence = append(c.Evidence, link(i, ""))
			}
			c.Explanation = fmt.Sprintf("追溯码 %s（%s包装）同时被关联在 %d 个上级包装码之下：%s。一盒药只能装在一个包装里，级联关系冲突，可能是重复赋码、重复使用或伪造的关联，请核查。",
				lc.Code, levelText(lc.Level), len(lc.Parents), strings.Join(parts, "、"))
		case len(lc.Parents) == 1 && lc.Contradicts(0):
			c.Rule = "level_conflict"
			c.Evidence = append(c.Evidence, link(0, "级联表 packages 行："))
			pa := lc.Parents[0]
			var why []string
			if lc.StatedConflict(0) {
				why = append(why, fmt.Sprintf("三码合一对照表（codemap）中药品标识码 %s 一行声明其为%s包装，药品标识码 %s 一行声明其为%s包装，上级包装的级别却不高于下级",
					lc.ParentProducts[0], levelText(lc.ParentLevels[0]), lc.Product, levelText(lc.Level)))
				c.Evidence = append(c.Evidence,
					tracewatch.Evidence{Time: lc.First, What: "codemap", Note: fmt.Sprintf("三码合一对照表 codemap 行：药品标识码 %s，%s包装（上级包装码 %s 的级别）", lc.ParentProducts[0], levelText(lc.ParentLevels[0]), pa)},
					tracewatch.Evidence{Time: lc.First, What: "codemap", Note: fmt.Sprintf("三码合一对照表 codemap 行：药品标识码 %s，%s包装（追溯码 %s 的级别）", lc.Product, levelText(lc.Level), lc.Code)})
			}
			if x := lc.Contrary[0]; x.Links > 0 {
				why = append(why, fmt.Sprintf("级联表中 %s → %s 等 %d 行表明药品标识码 %s 的包装装有药品标识码 %s 的包装（前者级别更高），而按本行方向关联的只有 %d 行",
					x.Link.Parent, x.Link.Child, x.Links, x.Parent, x.Child, lc.Agreeing[0]))
				c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: lc.First, What: "package_link",
					Note: fmt.Sprintf("级联表 packages 行：%s → %s（共 %d 行证明药品标识码 %s 在 %s 之上）", x.Link.Parent, x.Link.Child, x.Links, x.Parent, x.Child)})
			}
			c.Explanation = fmt.Sprintf("追溯码 %s 被级联表关联为 %s 的下级，但%s：同一追溯码被声明为两个包装级别，可能是赋码错误或伪造的关联，请核查。",
				lc.Code, pa, strings.Join(why, "；"))
		default:
			return ctx.Err() // no level known to contradict
		}
		c.Fingerprint = tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, lc.Code, c.Rule)
		if lc.Institution != "" {
			c.Explanation += fmt.Sprintf("本期该码首次于 %s 在 %s 扫码。", when(lc.First), env.instName(lc.Institution))
		}
		emit(c)
		return ctx.Err()
	})
}

// pairs finds a parent and its child both sold.
func (p *Package) pairs(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	return env.Src.PackageConflicts(ctx, env.Window, func(pr facts.PackagePair, lines []tracewatch.TimelineEntry) error {
		c := tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, pr.Child, pr.Parent),
			Rule:        "parent_and_child", Severity: tracewatch.SeverityHighlySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: pr.Child, Codes: []string{pr.Parent, pr.Child},
		}
		var parentSale, childSale *tracewatch.TimelineEntry
		var amount lineAmount // the child's sale, over its lines
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
			amount.add(env, t)
		}
		if parentSale == nil || childSale == nil {
			return nil
		}
		c.Institution = childSale.Institution
		setAmount(&c, amount.fund, amount.sale)
		c.Explanation = fmt.Sprintf("包装码 %s 已于 %s 在 %s 整件销售，其内的小包装追溯码 %s 又于 %s 在 %s 单独销售，同一盒药被销售两次。",
			pr.Parent, when(parentSale.Time), env.instName(parentSale.Institution), pr.Child, when(childSale.Time), env.instName(childSale.Institution))
		emit(c)
		return ctx.Err()
	})
}
