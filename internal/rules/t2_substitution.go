package rules

import (
	"context"
	"fmt"

	"tracewatch"
)

// Substitution is T2, 串换: the product of the scanned code (through the code mapping)
// is not the drug billed. Another generic name → 高度可疑; the same first 14 characters
// of the national code (same drug, same form) but another spec or maker → 可疑; the
// same generic in another dosage form → 可疑; a non-drug or non-reimbursable product
// billed as a reimbursable drug → 高度可疑; a mismatch the facts cannot grade → 提示
// (unknown_drug, see substitution). An unknown product is T4's.
type Substitution struct{}

// NewSubstitution returns T2.
func NewSubstitution() *Substitution { return withDefaults(&Substitution{}) }

// Spec implements Rule.
func (*Substitution) Spec() Spec {
	return Spec{Name: "trace.substitution", Version: 1, Short: "T2", Title: "串换", Type: TypeManagement,
		Stages: []Stage{StageDuring, StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "筛查窗口内的销售行", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第三十八条（串换药品、医用耗材）；三码合一（追溯码—医保编码—商品条码）",
	}
}

// substitution grades a code of drug mapped billed as drug billed. A grade is given
// only where the facts prove it: the catalog's names and kinds, or the structure of two
// national codes (医保药品代码: the first 10 characters name the category and the generic
// name, the first 14 add the dosage form). When neither drug's catalog row nor the codes'
// structure tells them apart, the mismatch is a 提示 about the reference data
// (unknown_drug), never 可疑: a product mapped to an outdated or local code is common.
func substitution(env *Env, mapped, billed string) (rule string, sev tracewatch.Severity, ok bool) {
	if mapped == "" || billed == "" || mapped == billed {
		return "", 0, false
	}
	dm, okm := env.Drugs[mapped]
	db, okb := env.Drugs[billed]
	if okm && okb && (dm.Kind == "consumable" || dm.Kind == "other" || !dm.Reimbursable) && db.Reimbursable {
		return "non_drug", tracewatch.SeverityHighlySuspicious, true
	}
	national := nationalDrugCode(mapped) && nationalDrugCode(billed)
	if national {
		switch {
		case mapped[:14] == billed[:14]:
			return "spec", tracewatch.SeveritySuspicious, true
		case mapped[:10] == billed[:10]:
			return "form", tracewatch.SeveritySuspicious, true
		}
	}
	switch {
	case okm && okb && dm.Name == db.Name:
		return "spec", tracewatch.SeveritySuspicious, true
	case okm && okb, national:
		return "generic", tracewatch.SeverityHighlySuspicious, true
	}
	return "unknown_drug", tracewatch.SeverityNotice, true
}

// nationalDrugCode reports whether c has the shape of a national 医保药品代码 (a letter
// X or Z, then at least 13 letters and digits), whose prefixes name the generic name and
// the dosage form.
func nationalDrugCode(c string) bool {
	if len(c) < 14 || (c[0] != 'X' && c[0] != 'Z') {
		return false
	}
	for i := 1; i < len(c); i++ {
		if b := c[i]; !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z') {
			return false
		}
	}
	return true
}

var substitutionRuleText = map[string]string{
	"non_drug": "非药品或非医保目录内产品按医保药品结算",
	"spec":     "同一药品不同规格或厂家",
	"form":     "同一通用名不同剂型",
	"generic":  "通用名不同",
	// unknown_drug: a 提示 about the data, see substitution.
	"unknown_drug": "两者至少一个不在药品目录中，且编码不足以判断是否同一药品，请核对目录与三码合一对照",
}

// Eval implements Rule.
func (s *Substitution) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	byKey := map[string]*tracewatch.Clue{}
	amounts := map[string]*lineAmount{}
	var order []string
	err := env.Src.MismatchedLines(ctx, env.Window, func(l *tracewatch.TimelineEntry) error {
		rule, sev, ok := substitution(env, l.Code.DrugCode, l.DrugCode)
		if !ok {
			return nil
		}
		code := codeOf(&l.Code)
		saleID := tracewatch.SaleOf(&l.Event).String()
		fp := tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectCode, code, saleID)
		c := byKey[fp]
		if c == nil {
			c = &tracewatch.Clue{Fingerprint: fp, Rule: rule, Severity: sev, Subject: tracewatch.SubjectCode, SubjectID: code,
				Institution: l.Institution}
			if l.Code.Key != "" {
				c.Codes = []string{l.Code.Key}
			}
			what := "追溯码 " + code
			if l.Code.Key == "" {
				what = "商品条码 " + code
			}
			c.Explanation = fmt.Sprintf("%s 对应的产品是 %s，%s 于 %s 却按 %s 销售结算（%s）。", what, env.drugName(l.Code.DrugCode),
				env.instName(l.Institution), when(l.Time), env.drugName(l.DrugCode), substitutionRuleText[rule])
			byKey[fp] = c
			amounts[fp] = &lineAmount{}
			order = append(order, fp)
		}
		c.Settlements = append(c.Settlements, l.Settlement)
		c.Receipts = append(c.Receipts, l.Receipt)
		c.Persons = append(c.Persons, l.Person)
		amounts[fp].add(env, l)
		c.Evidence = append(c.Evidence, env.lineEvidence(l))
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, fp := range order {
		setAmount(byKey[fp], amounts[fp].fund, amounts[fp].sale)
		emit(*byKey[fp])
	}
	return nil
}

// CheckScan implements ScanChecker: the drug the scan maps to (through the code's
// product id, or a commodity barcode scanned instead) is not the drug billed.
func (*Substitution) CheckScan(env *Env, s *Scan, emit func(Violation)) {
	if s.Item.DrugCode == "" {
		return
	}
	m, ok := s.Mapping, s.Mapped
	if s.ParseErr != nil {
		m, ok = s.Goods, s.IsGoods
	}
	if !ok {
		return
	}
	rule, sev, ok := substitution(env, m.DrugCode, s.Item.DrugCode)
	if !ok {
		return
	}
	emit(Violation{Line: s.Line, Code: s.Raw, Key: s.Code.Key, Rule: rule, Severity: sev, Behavior: "2",
		Content:  fmt.Sprintf("扫描的追溯码对应 %s，与结算的 %s 不符（%s）", env.drugName(m.DrugCode), env.drugName(s.Item.DrugCode), substitutionRuleText[rule]),
		Evidence: fmt.Sprintf("追溯码产品 %s，结算项目 %s", m.DrugCode, s.Item.DrugCode)})
}
