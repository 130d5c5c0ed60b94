package rules

import (
	"context"
	"fmt"
	"sort"
	"tracewatch/internal/facts"

	"tracewatch"
)

// NoSource is T3, 无进货来源 / 进销存不符.
//
// (a) A code sold at an institution that had not received it (nor its parent package)
// before the sale means something only where the institution scans its inbound codes:
// per-code clues (高度可疑) only where its inbound coverage over the window is at least
// MinCoverage, and only beyond the packs it received without scanning (a pack among the
// unscanned ones of a purchase of the same drug is not suspicious); below MinCoverage the
// institution gets one 提示 about its coverage instead.
// (b) A code sold after its seller reported it returned to the supplier, transferred
// out, lost or destroyed: 高度可疑.
type NoSource struct {
	MinCoverage float64
}

// NewNoSource returns T3 with its defaults.
func NewNoSource() *NoSource { return withDefaults(&NoSource{}) }

// Spec implements Rule.
func (n *NoSource) Spec() Spec {
	return Spec{Name: "trace.nosource", Version: 1, Short: "T3", Title: "无进货来源", Type: TypeManagement,
		Stages: []Stage{StageDuring, StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "窗口内的销售行，进货取全部历史", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条（进销存台账）、第四十条（虚构医药服务）；国家医保局药品追溯码采集应用要求（2025年7月1日起定点医药机构销售药品须扫码上传，一盒一码）",
		Params: []Param{
			FloatParam("min_coverage", &n.MinCoverage, 0.95, 0, 1, "比例", "inbound code coverage (scanned packs / packs received) from which per-code clues are raised"),
		},
	}
}

// lowEvidence is how many sales an institution's coverage 提示 shows as its evidence.
const lowEvidence = 20

type coverage struct {
	packs, scanned int64
}

func (c coverage) rate() float64 {
	if c.packs <= 0 {
		return 0
	}
	r := float64(c.scanned) / float64(c.packs)
	if r > 1 {
		r = 1
	}
	return r
}

// inboundCoverage sums an institution's inbound coverage (purchases, inbound changes and
// its first stocktake; scanned packs / packs received, a parent package counting the
// packs it contains) and, per institution and drug, the packs received without a known
// code. T3 and the real-time check share it.
func inboundCoverage(covs []facts.InboundCoverage) (map[string]*coverage, map[[2]string]int64) {
	inst := map[string]*coverage{}
	unscanned := map[[2]string]int64{} // institution, drug → packs received without a code
	for _, c := range covs {
		packs := int64(c.Packs / tracewatch.QtyScale)
		opening := int64(c.OpeningPacks / tracewatch.QtyScale)
		v := inst[c.Institution]
		if v == nil {
			v = &coverage{}
			inst[c.Institution] = v
		}
		v.packs += packs + opening
		v.scanned += c.Scanned + c.OpeningScanned
		// Packs received without a code, and packs of parent packages whose contents the
		// links do not list: a sale without a source may be any of them.
		if u := max(0, packs-c.Scanned) + max(0, opening-c.OpeningScanned) + max(0, c.Unlinked); u > 0 {
			unscanned[[2]string{c.Institution, c.DrugCode}] += u
		}
	}
	return inst, unscanned
}

// Eval implements Rule.
func (n *NoSource) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	covs, err := env.Src.InboundCoverage(ctx, env.Window)
	if err != nil {
		return err
	}
	inst, unscanned := inboundCoverage(covs)
	// The institutions whose lines are judged one by one; the others' lines are only
	// counted, for their one 提示 about coverage, with a few lines as its evidence.
	judged := map[string]bool{}
	for in, cov := range inst {
		if cov.rate() >= n.MinCoverage {
			judged[in] = true
		}
	}

	type low struct {
		sales    int
		evidence []tracewatch.Evidence
	}
	lows := map[string]*low{}
	clues := map[string]*tracewatch.Clue{}
	amounts := map[string]*lineAmount{}
	var order []string
	explained := map[[2]string]bool{} // institution, code → covered by an unscanned pack
	q := facts.UnsourcedQuery{Window: env.Window, Itemize: judged, Samples: lowEvidence}
	err = env.Src.UnsourcedLines(ctx, q, func(l *tracewatch.TimelineEntry, sibling bool) error {
		rate := inst[l.Institution].rate()
		key := [2]string{l.Institution, l.Code.Key}
		if explained[key] {
			return nil
		}
		if sibling {
			// Another pack of its carton came in here: this one came with it, unscanned.
			explained[key] = true
			return nil
		}
		fp := tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, l.Code.Key, l.Institution)
		if c := clues[fp]; c != nil {
			c.Evidence = append(c.Evidence, env.lineEvidence(l))
			c.Settlements = append(c.Settlements, l.Settlement)
			c.Receipts = append(c.Receipts, l.Receipt)
			c.Persons = append(c.Persons, l.Person)
			amounts[fp].add(env, l)
			return nil
		}
		drug := l.Code.DrugCode
		if drug == "" {
			drug = l.DrugCode
		}
		if u := unscanned[[2]string{l.Institution, drug}]; u > 0 {
			unscanned[[2]string{l.Institution, drug}] = u - 1
			explained[key] = true
			return nil
		}
		c := &tracewatch.Clue{Fingerprint: fp, Rule: "no_source", Severity: tracewatch.SeverityHighlySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: l.Code.Key, Institution: l.Institution, Codes: []string{l.Code.Key},
			Settlements: []string{l.Settlement}, Receipts: []string{l.Receipt}, Persons: []string{l.Person},
			Evidence: []tracewatch.Evidence{env.lineEvidence(l)}}
		amounts[fp] = &lineAmount{}
		amounts[fp].add(env, l)
		c.Explanation = fmt.Sprintf("追溯码 %s（%s）于 %s 在 %s 销售，但该机构此前没有这盒药的采购、调入或盘存记录（机构进货扫码率 %.1f%%，该药品无未扫码的进货可对应），疑为无真实进货的销售（空刷或回流药）。",
			l.Code.Key, env.drugName(drug), when(l.Time), env.instName(l.Institution), rate*100)
		clues[fp] = c
		order = append(order, fp)
		return ctx.Err()
	}, func(t facts.UnsourcedTally) error {
		lw := &low{sales: t.Sales}
		for _, l := range t.Samples {
			lw.evidence = append(lw.evidence, env.lineEvidence(l))
		}
		lows[t.Institution] = lw
		return ctx.Err()
	})
	if err != nil {
		return err
	}

	err = env.Src.RemovedLines(ctx, env.Window, func(l *tracewatch.TimelineEntry) error {
		fp := tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, l.Code.Key, l.Institution, "removed")
		if c := clues[fp]; c != nil {
			c.Evidence = append(c.Evidence, env.lineEvidence(l))
			amounts[fp].add(env, l)
			return nil
		}
		c := &tracewatch.Clue{Fingerprint: fp, Rule: "removed", Severity: tracewatch.SeverityHighlySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: l.Code.Key, Institution: l.Institution, Codes: []string{l.Code.Key},
			Settlements: []string{l.Settlement}, Receipts: []string{l.Receipt}, Persons: []string{l.Person},
			Evidence: []tracewatch.Evidence{env.lineEvidence(l)}}
		amounts[fp] = &lineAmount{}
		amounts[fp].add(env, l)
		c.Explanation = fmt.Sprintf("追溯码 %s 已由 %s 报告退货、调出、报损或销毁，%s 却又在该机构销售。", l.Code.Key, env.instName(l.Institution), when(l.Time))
		clues[fp] = c
		order = append(order, fp)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range order {
		c := clues[fp]
		a := amounts[fp]
		setAmount(c, a.fund, a.sale)
		emit(*c)
	}

	names := make([]string, 0, len(lows))
	for in := range lows {
		names = append(names, in)
	}
	sort.Strings(names)
	for _, in := range names {
		lw := lows[in]
		cov := inst[in]
		c := tracewatch.Clue{Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, in, "coverage"),
			Rule: "coverage", Severity: tracewatch.SeverityNotice, Subject: tracewatch.SubjectInstitution, SubjectID: in,
			Institution: in, Evidence: lw.evidence}
		if cov == nil || cov.packs == 0 {
			c.Explanation = fmt.Sprintf("%s 在本期没有上传带追溯码的进货数据，却有 %d 笔销售的追溯码无进货记录；请督促其采集进货追溯码。", env.instName(in), lw.sales)
		} else {
			c.Explanation = fmt.Sprintf("%s 本期进货追溯码采集率 %.1f%%（%d/%d 盒），低于 %.0f%%；%d 笔销售的追溯码无进货记录，无法逐码核对来源，请督促其完整采集进货追溯码。",
				env.instName(in), cov.rate()*100, cov.scanned, cov.packs, n.MinCoverage*100, lw.sales)
		}
		emit(c)
	}
	return nil
}

// CheckScan implements ScanChecker: the institution never received the code (nor its
// parent package), where its inbound code coverage is at least MinCoverage — the same
// parameter screening uses.
func (n *NoSource) CheckScan(env *Env, s *Scan, emit func(Violation)) {
	if s.ParseErr != nil || !s.KnownInstitution || s.Coverage < 0 || s.Coverage < n.MinCoverage || s.Received {
		return
	}
	emit(Violation{Line: s.Line, Code: s.Raw, Key: s.Code.Key, Rule: "no_source", Severity: tracewatch.SeveritySuspicious, Behavior: "3",
		Content:  fmt.Sprintf("追溯码 %s 没有本机构的采购、调入或盘存记录", s.Code.Key),
		Evidence: fmt.Sprintf("本机构进货追溯码采集率 %.1f%%", s.Coverage*100)})
}
