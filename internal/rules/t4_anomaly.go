package rules

import (
	"context"
	"fmt"
	"sort"
	"tracewatch/internal/tracecode"

	"tracewatch"
)

// Anomaly is T4, 码异常. An unparseable code, a commodity barcode instead of a trace
// code, or an unknown product is a technical error at one scan: 提示 (rescan, compare
// with the pack). A pack sold after its expiry date or before its manufacture date:
// 高度可疑. An institution whose share of unreadable codes stands far above its peers'
// (at least RateFactor times the median and at least MinRate, over at least MinScans
// scans): 可疑, since a pharmacy that fabricates codes shows up as many bad codes. Codes
// of an unknown product do not count there: a code mapping that lacks a product is a gap
// in the reference data, which the per-scan 提示 already reports.
type Anomaly struct {
	RateFactor float64
	MinRate    float64
	MinScans   int64
}

// NewAnomaly returns T4 with its defaults.
func NewAnomaly() *Anomaly { return withDefaults(&Anomaly{}) }

// Spec implements Rule.
func (a *Anomaly) Spec() Spec {
	return Spec{Name: "trace.anomaly", Version: 1, Short: "T4", Title: "追溯码异常", Type: TypeManagement,
		Stages: []Stage{StageDuring, StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "筛查窗口", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "国家医保局药品追溯码采集应用要求（2025年7月1日起定点医药机构销售药品须扫码上传，一盒一码）；追溯码编码规则（药品标识码、有效期）",
		Params: []Param{
			FloatParam("rate_factor", &a.RateFactor, 5, 0, 1000, "倍", "an institution's unusable-code rate must be this many times its peers' median"),
			FloatParam("min_rate", &a.MinRate, 0.05, 0, 1, "比例", "… and at least this share of its sale scans"),
			Int64Param("min_scans", &a.MinScans, 50, 0, 1_000_000_000, "次", "institutions with fewer sale scans in the window are not rated"),
		},
	}
}

var anomalyText = map[string]string{
	"malformed":          "追溯码格式无法识别",
	"commodity_barcode":  "扫描的是商品条码而非追溯码",
	"unknown_product":    "追溯码的药品标识码不在三码合一对照中",
	"expired":            "销售时药品已过有效期",
	"before_manufacture": "销售时间早于生产日期",
}

// Eval implements Rule.
func (a *Anomaly) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	clues := map[string]*tracewatch.Clue{}
	amounts := map[string]*lineAmount{}
	var order []string
	err := env.Src.AnomalousLines(ctx, env.Window, func(l *tracewatch.TimelineEntry) error {
		var rule string
		sev := tracewatch.SeverityNotice
		switch {
		case l.Code.Key == "" && l.Code.Error == "not_trace_code":
			rule = "commodity_barcode"
		case l.Code.Key == "":
			rule = "malformed"
		case !l.Expires.IsZero() && !l.Time.Before(l.Expires.AddDate(0, 0, 1)):
			rule, sev = "expired", tracewatch.SeverityHighlySuspicious
		case !l.Made.IsZero() && l.Made.After(l.Time):
			rule, sev = "before_manufacture", tracewatch.SeverityHighlySuspicious
		case l.Code.DrugCode == "":
			rule = "unknown_product"
		default:
			return nil
		}
		code := codeOf(&l.Code)
		var fp string
		if sev == tracewatch.SeverityNotice {
			// One notice per scan: the same code on a receipt and its settlement once.
			fp = tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, code, rule, l.Institution, tracewatch.SaleOf(&l.Event).String())
		} else {
			fp = tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, code, rule)
		}
		c := clues[fp]
		if c == nil {
			c = &tracewatch.Clue{Fingerprint: fp, Rule: rule, Severity: sev, Subject: tracewatch.SubjectCode, SubjectID: code,
				Institution: l.Institution}
			if l.Code.Key != "" {
				c.Codes = []string{l.Code.Key}
			}
			switch rule {
			case "expired":
				c.Explanation = fmt.Sprintf("追溯码 %s（%s）于 %s 在 %s 销售，该批药品有效期至 %s，销售时已过期。", code, env.drugName(l.DrugCode),
					when(l.Time), env.instName(l.Institution), day(l.Expires))
			case "before_manufacture":
				c.Explanation = fmt.Sprintf("追溯码 %s（%s）于 %s 在 %s 销售，早于该批药品的生产日期 %s。", code, env.drugName(l.DrugCode),
					when(l.Time), env.instName(l.Institution), day(l.Made))
			default:
				c.Explanation = fmt.Sprintf("%s 于 %s 销售 %s 时上传的追溯码 %q：%s。多为扫码操作问题，请重新扫描并与药盒核对。", env.instName(l.Institution),
					when(l.Time), env.drugName(l.DrugCode), l.Code.Raw, anomalyText[rule])
			}
			clues[fp] = c
			order = append(order, fp)
		}
		c.Settlements = append(c.Settlements, l.Settlement)
		c.Receipts = append(c.Receipts, l.Receipt)
		c.Persons = append(c.Persons, l.Person)
		c.MsgIDs = append(c.MsgIDs, l.MsgID)
		c.Evidence = append(c.Evidence, env.lineEvidence(l))
		// The amount of the sale: its lines (a 3505 and the 2207 carrying the same code)
		// each once, the one that knows it. A 提示 carries it too: what the scan that
		// cannot be checked was paid for.
		if amounts[fp] == nil {
			amounts[fp] = &lineAmount{}
		}
		amounts[fp].add(env, l)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range order {
		c := clues[fp]
		if a := amounts[fp]; a != nil {
			setAmount(c, a.fund, a.sale)
		}
		emit(*c)
	}

	// Institutions far above their peers.
	qs, err := env.Src.CodeQuality(ctx, env.Window)
	if err != nil {
		return err
	}
	var rates []float64
	for _, q := range qs {
		if q.Scans >= a.MinScans {
			rates = append(rates, float64(q.Bad)/float64(q.Scans))
		}
	}
	if len(rates) == 0 {
		return nil
	}
	sort.Float64s(rates)
	median := rates[len(rates)/2]
	for _, q := range qs {
		if q.Scans < a.MinScans {
			continue
		}
		r := float64(q.Bad) / float64(q.Scans)
		if r < a.MinRate || r < a.RateFactor*median {
			continue
		}
		emit(tracewatch.Clue{
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, q.Institution, "bad_code_rate"),
			Rule:        "bad_code_rate", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectInstitution, SubjectID: q.Institution, Institution: q.Institution,
			Evidence: []tracewatch.Evidence{{Time: env.At, What: "bad_code_rate", Institution: q.Institution,
				Note: fmt.Sprintf("销售扫码 %d 次，其中无法识别 %d 次（%.1f%%）；同类机构中位数 %.2f%%", q.Scans, q.Bad, r*100, median*100)}},
			Explanation: fmt.Sprintf("%s 销售时上传的追溯码中 %.1f%% 无法识别，远高于其他机构（中位数 %.2f%%），可能存在伪造追溯码。",
				env.instName(q.Institution), r*100, median*100),
		})
	}
	return nil
}

// CheckScan implements ScanChecker: at the counter, an unreadable scan, a commodity
// barcode or a product missing from the code mapping is a 提示 (scan again); a pack past
// its expiry date is 高度可疑.
func (a *Anomaly) CheckScan(env *Env, s *Scan, emit func(Violation)) {
	v := Violation{Line: s.Line, Code: s.Raw, Key: s.Code.Key, Behavior: "4", Severity: tracewatch.SeverityNotice}
	switch {
	case s.ParseErr != nil:
		v.Rule = "malformed"
		if tracecode.CodeOf(s.ParseErr) == tracecode.ErrNotTraceCode {
			v.Rule = "commodity_barcode"
		}
		v.Content = "请重新扫描药盒上的追溯码并与实物核对：" + anomalyText[v.Rule]
		v.Evidence = s.ParseErr.Error()
		emit(v)
		return
	case !s.Mapped:
		v.Rule = "unknown_product"
		v.Content = "请重新扫描药盒上的追溯码并与实物核对：" + anomalyText["unknown_product"]
		v.Evidence = "药品标识码 " + s.Code.ProductID
		emit(v)
	}
	if !s.Code.Expiry.IsZero() && !s.Req.Time.Before(s.Code.Expiry.In(cst).AddDate(0, 0, 1)) {
		emit(Violation{Line: s.Line, Code: s.Raw, Key: s.Code.Key, Rule: "expired", Severity: tracewatch.SeverityHighlySuspicious, Behavior: "4",
			Content:  "该盒药品已过有效期，不得销售",
			Evidence: "追溯码有效期至 " + s.Code.Expiry.String()})
	}
}
