package rules

import (
	"context"
	"fmt"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Collection is T6, 采集率监测: per institution and day, the share of reimbursed drug
// sale lines carrying a valid trace code (中药饮片 and 颗粒 exempt). A sudden drop — the
// rate over the following Days days at most DropRatio of the rate over the Baseline days
// before, which was at least MinBaseline — is a clue (可疑): scanning stops when fraud
// starts. An institution whose rate over the whole window is below LowRate gets a 提示.
type Collection struct {
	Days        int
	Baseline    int
	MinLines    int64
	MinBaseline float64
	DropRatio   float64
	LowRate     float64
}

// NewCollection returns T6 with its defaults.
func NewCollection() *Collection { return withDefaults(&Collection{}) }

// Spec implements Rule.
func (c *Collection) Spec() Spec {
	return Spec{Name: "trace.collection", Version: 1, Short: "T6", Title: "追溯码采集率", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "按日，基线期与观察期", Severity: tracewatch.SeveritySuspicious,
		Basis: "国家医保局药品追溯码采集应用要求（2025年7月1日起定点医药机构销售药品须扫码上传，一盒一码）；定点医药机构追溯码采集率考核",
		Params: []Param{
			IntParam("days", &c.Days, 7, 1, 366, "天", "days after a candidate drop over which the rate is measured"),
			IntParam("baseline", &c.Baseline, 14, 1, 366, "天", "days before it that set the institution's usual rate"),
			Int64Param("min_lines", &c.MinLines, 10, 0, 1_000_000_000, "行", "reimbursed lines needed in each of the two periods"),
			FloatParam("min_baseline", &c.MinBaseline, 0.8, 0, 1, "比例", "usual rate from which a drop is looked for"),
			FloatParam("drop_ratio", &c.DropRatio, 0.5, 0, 1, "比例", "a drop: the rate after is at most this share of the usual rate"),
			FloatParam("low_rate", &c.LowRate, 0.5, 0, 1, "比例", "window rate below which an institution gets a 提示"),
		},
	}
}

// Eval implements Rule.
func (c *Collection) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	days, err := env.Src.CollectionDays(ctx, env.Window)
	if err != nil {
		return err
	}
	for i := 0; i < len(days); {
		j := i
		for j < len(days) && days[j].Institution == days[i].Institution {
			j++
		}
		c.institution(env, days[i:j], emit)
		i = j
	}
	return nil
}

func rate(lines, coded int64) float64 {
	if lines == 0 {
		return 0
	}
	return float64(coded) / float64(lines)
}

// institution examines one institution's days (in day order).
func (c *Collection) institution(env *Env, days []facts.CollectionDay, emit func(tracewatch.Clue)) {
	in := days[0].Institution
	var lines, coded int64
	for _, d := range days {
		lines, coded = lines+d.Lines, coded+d.Coded
	}
	sum := func(from, to int) (l, k int64) { // days with index in [from, to)
		for _, d := range days[max(0, from):min(len(days), to)] {
			l, k = l+d.Lines, k+d.Coded
		}
		return
	}
	for i := range days {
		d := days[i]
		// Days strictly before i within Baseline calendar days, and from i within Days.
		b0 := i
		for b0 > 0 && days[i].Day.Sub(days[b0-1].Day).Hours() <= float64(24*c.Baseline) {
			b0--
		}
		a1 := i
		for a1 < len(days) && days[a1].Day.Sub(days[i].Day).Hours() < float64(24*c.Days) {
			a1++
		}
		bl, bk := sum(b0, i)
		al, ak := sum(i, a1)
		if bl < c.MinLines || al < c.MinLines {
			continue
		}
		before, after := rate(bl, bk), rate(al, ak)
		limit := before * c.DropRatio
		if before < c.MinBaseline || after > limit || rate(d.Lines, d.Coded) > limit {
			continue
		}
		cl := tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, in, "drop"),
			Rule:        "drop", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectInstitution, SubjectID: in, Institution: in,
			Explanation: fmt.Sprintf("%s 自 %s 起医保药品销售的追溯码采集率骤降：此前 %d 天为 %.1f%%（%d/%d 行），此后 %d 天为 %.1f%%（%d/%d 行）。扫码中断常与违规销售同时出现，建议核查。",
				env.instName(in), day(d.Day), c.Baseline, before*100, bk, bl, c.Days, after*100, ak, al),
		}
		var fund, sale tracewatch.Fen
		for _, e := range days[i:a1] {
			fund, sale = fund+e.UncodedFund, sale+e.UncodedSale
		}
		setAmount(&cl, fund, sale) // what was paid for the lines sold without a code since the drop
		if cl.AmountFen > 0 {
			cl.Explanation += "此后未带追溯码的销售：" + amountText(&cl) + "。"
		}
		for _, e := range days[b0:a1] {
			cl.Evidence = append(cl.Evidence, tracewatch.Evidence{Time: e.Day, What: "collection_rate", Institution: in,
				Note: fmt.Sprintf("%s 医保药品销售 %d 行，带有效追溯码 %d 行（%.1f%%）", day(e.Day), e.Lines, e.Coded, rate(e.Lines, e.Coded)*100)})
		}
		emit(cl)
		return
	}
	if lines >= c.MinLines*3 && rate(lines, coded) < c.LowRate {
		emit(tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, in, "low_rate"),
			Rule:        "low_rate", Severity: tracewatch.SeverityNotice,
			Subject: tracewatch.SubjectInstitution, SubjectID: in, Institution: in,
			Evidence: []tracewatch.Evidence{{Time: days[0].Day, What: "collection_rate", Institution: in,
				Note: fmt.Sprintf("%s 至 %s 医保药品销售 %d 行，带有效追溯码 %d 行", day(days[0].Day), day(days[len(days)-1].Day), lines, coded)}},
			Explanation: fmt.Sprintf("%s 本期医保药品销售的追溯码采集率仅 %.1f%%（%d/%d 行），低于 %.0f%%，请督促其按规定扫码。",
				env.instName(in), rate(lines, coded)*100, coded, lines, c.LowRate*100),
		})
	}
}
