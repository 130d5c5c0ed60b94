package rules

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"tracewatch/internal/facts"

	"tracewatch"
)

// ResaleRing is C12, 医保药品倒卖 / 电子凭证套现 (DESIGN §6): persons whose insured
// purchases come back onto the market. It walks the sale-side history of every code sold
// at two or more institutions (facts.Reader.ResoldHistories) as T1 does: when a box is
// sold at institution B while another institution A still holds it (sold, not returned
// nor cancelled), the box has reappeared, and the insured buyer of A's sale bought it for
// resale. The reappearance is the hard evidence: a person needs MinBuyerCodes such boxes
// (boxes bought with the insurance and never used: far beyond need), and a ring, the
// connected group of such buyers and the institutions that resold their boxes, needs
// MinCodes boxes and MinPersons buyers. One clue per ring, 高度可疑, named by its smallest
// buyer so that it keeps its fingerprint as it grows. A single resold box (T1's case), a
// double scan or a return then a resale at one counter, and a patient who buys much but
// whose boxes never reappear give no clue. The days of supply the resold boxes would have
// lasted are stated where the knowledge base knows the daily dose; an unknown dose
// changes nothing.
type ResaleRing struct {
	MinCodes      int
	MinBuyerCodes int
	MinPersons    int
}

// NewResaleRing returns C12 with its defaults.
func NewResaleRing() *ResaleRing { return withDefaults(&ResaleRing{}) }

// Spec implements Rule.
func (r *ResaleRing) Spec() Spec {
	return Spec{Name: "claims.resale_ring", Version: 1, Short: "C12", Title: "医保药品倒卖", Type: TypeMedical,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "码的全部销售历史（窗口内再次销售的码）", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十九条、第四十一条（利用享受医疗保障待遇的机会转卖药品，将本人医疗保障凭证交由他人冒名使用）、第四十条（定点医药机构协助他人冒名或者虚假购药）；药品追溯码一盒一码，已售药品的追溯码不应在另一机构再次销售",
		Params: []Param{
			IntParam("min_codes", &r.MinCodes, 3, 2, 100000, "盒", "boxes (trace codes) bought by the ring's buyers and sold again elsewhere that a ring must count"),
			IntParam("min_buyer_codes", &r.MinBuyerCodes, 2, 1, 100000, "盒", "boxes a person must have bought with the insurance that were sold again elsewhere to be a ring buyer"),
			IntParam("min_persons", &r.MinPersons, 1, 1, 10000, "人", "buyers a ring must count"),
		},
	}
}

// reappearance is one box bought with the insurance at one institution and sold again
// at another while the first still held it.
type reappearance struct {
	key          string
	drug         string
	content      int64
	bought, sold *sale
}

// Eval implements Rule.
func (r *ResaleRing) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	byBuyer := map[string][]reappearance{}
	err := env.Src.ResoldHistories(ctx, env.Window, func(h *facts.CodeHistory) error {
		for _, ra := range reappearances(env, h) {
			byBuyer[ra.bought.person] = append(byBuyer[ra.bought.person], ra)
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}

	// Buyers far beyond need: MinBuyerCodes boxes of theirs sold again elsewhere.
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		root := find(p)
		parent[x] = root
		return root
	}
	union := func(a, b string) {
		a, b = find(a), find(b)
		if a != b {
			if b < a {
				a, b = b, a
			}
			parent[b] = a
		}
	}
	buyers := slices.Sorted(maps.Keys(byBuyer))
	var kept []string
	for _, p := range buyers {
		codes := map[string]bool{}
		for _, ra := range byBuyer[p] {
			codes[ra.key] = true
		}
		if len(codes) < r.MinBuyerCodes {
			continue
		}
		kept = append(kept, p)
		for _, ra := range byBuyer[p] {
			union("p:"+p, "i:"+ra.sold.Institution)
		}
	}
	rings := map[string][]string{} // root → buyers
	for _, p := range kept {
		root := find("p:" + p)
		rings[root] = append(rings[root], p)
	}
	roots := slices.Sorted(maps.Keys(rings))
	for _, root := range roots {
		members := rings[root]
		var ras []reappearance
		for _, p := range members {
			ras = append(ras, byBuyer[p]...)
		}
		codes := map[string]bool{}
		for _, ra := range ras {
			codes[ra.key] = true
		}
		if len(codes) < r.MinCodes || len(members) < r.MinPersons {
			continue
		}
		emit(r.clue(env, members, ras, codes))
	}
	return nil
}

// reappearances walks one code's history as T1 does (sale +q; return, cancel −q) and
// returns each sale at an institution other than the one holding the box, with the
// insured sale that put the box there, when the resale falls in the window.
func reappearances(env *Env, h *facts.CodeHistory) []reappearance {
	sales := historySales(env, h)
	content := h.PackContent
	capacity := tracewatch.Qty(max(content, 1)) * tracewatch.QtyScale
	hold := map[string]tracewatch.Qty{}
	last := map[string]*sale{} // per institution: its latest sale of the box
	var order []string
	var out []reappearance
	seen := map[string]bool{} // buyers already linked by this code
	for _, s := range sales {
		q := tracewatch.Qty(s.Whole)*capacity + s.Split
		if content <= 0 && s.Split != 0 {
			q = 0
			if s.Split > 0 {
				q = 1
			}
		}
		if q < 0 {
			if hold[s.Institution] += q; hold[s.Institution] < 0 {
				hold[s.Institution] = 0
			}
			continue
		}
		var holder string
		for _, in := range order {
			if in != s.Institution && hold[in] > 0 {
				holder = in
				break
			}
		}
		if holder != "" && env.Window.Contains(s.Time) {
			// Only an insured purchase by a known person makes a buyer: a self-pay sale
			// names no one the fund paid.
			if b := last[holder]; b != nil && b.person != "" && b.setl != "" && b.Sale.Kind != tracewatch.SaleCancel && !seen[b.person] {
				seen[b.person] = true
				drug := b.billed
				if drug == "" {
					drug = b.mapped
				}
				out = append(out, reappearance{key: h.Key, drug: drug, content: content, bought: b, sold: s})
			}
		}
		if hold[s.Institution] == 0 {
			order = append(order, s.Institution)
		}
		hold[s.Institution] += q
		last[s.Institution] = s
	}
	return out
}

// clue builds the clue of one ring.
func (r *ResaleRing) clue(env *Env, members []string, ras []reappearance, codes map[string]bool) tracewatch.Clue {
	sort.Slice(ras, func(a, b int) bool {
		if !ras[a].sold.Time.Equal(ras[b].sold.Time) {
			return ras[a].sold.Time.Before(ras[b].sold.Time)
		}
		if ras[a].key != ras[b].key {
			return ras[a].key < ras[b].key
		}
		return ras[a].bought.person < ras[b].bought.person
	})
	resellers, buyPlaces := map[string]int{}, map[string]int{}
	setls := map[string]bool{}
	fundBy, saleBy := map[string]tracewatch.Fen{}, map[string]tracewatch.Fen{} // per bought line
	first, lastT := ras[0].bought.Time, ras[0].sold.Time
	type drugCount struct {
		boxes int
		units int64
	}
	perBuyer := map[string]map[string]*drugCount{}
	for _, ra := range ras {
		b := ra.bought
		resellers[ra.sold.Institution]++
		buyPlaces[b.Institution]++
		setls[b.setl] = true
		lk := b.setl + "|" + ra.key
		if len(b.lines) > 0 {
			lk = ref(&b.lines[0].Event)
		}
		fundBy[lk], saleBy[lk] = max(fundBy[lk], b.fund), max(saleBy[lk], b.amount)
		if b.Time.Before(first) {
			first = b.Time
		}
		if ra.sold.Time.After(lastT) {
			lastT = ra.sold.Time
		}
		m := perBuyer[b.person]
		if m == nil {
			m = map[string]*drugCount{}
			perBuyer[b.person] = m
		}
		dc := m[ra.drug]
		if dc == nil {
			dc = &drugCount{}
			m[ra.drug] = dc
		}
		dc.boxes++
		if ra.content > 0 && b.Whole > 0 {
			dc.units += ra.content * b.Whole
		}
	}
	var fund, amount tracewatch.Fen
	for k := range fundBy {
		fund += fundBy[k]
		amount += saleBy[k]
	}
	resold := byCount(resellers)
	places := byCount(buyPlaces)
	c := tracewatch.Clue{
		// The ring is named by its smallest buyer: stable while it grows.
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, members[0]),
		Rule:        "resale_ring", Severity: tracewatch.SeverityHighlySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: members[0], Institution: resold[0],
		Persons:     members,
		Codes:       slices.Sorted(maps.Keys(codes)),
		Settlements: slices.Sorted(maps.Keys(setls)),
	}
	setAmount(&c, fund, amount)

	names := func(insts []string) string {
		out := make([]string, len(insts))
		for i, in := range insts {
			out[i] = env.instName(in)
		}
		return strings.Join(out, "、")
	}
	var who []string
	for _, p := range members {
		var parts []string
		for _, d := range slices.Sorted(maps.Keys(perBuyer[p])) {
			dc := perBuyer[p][d]
			part := fmt.Sprintf("%s %d 盒", env.drugName(d), dc.boxes)
			if l, ok := env.Limits[d]; ok && l.DailyDose > 0 && dc.units > 0 {
				days := dc.units * int64(tracewatch.QtyScale) / int64(l.DailyDose)
				part += fmt.Sprintf("（按知识库日用量约 %d 天）", days)
			}
			parts = append(parts, part)
		}
		who = append(who, fmt.Sprintf("%s：%s", p, strings.Join(parts, "、")))
	}
	buyersText := "参保人 " + members[0] + " "
	if len(members) > 1 {
		buyersText += fmt.Sprintf("等 %d 人", len(members))
	}
	c.Explanation = fmt.Sprintf("%s于 %s 至 %s 期间在 %s 以医保购买的 %d 盒药品，其追溯码随后又在 %s 再次销售（原购药机构未退货、未撤销结算）：所购药品未被使用而回流销售，疑为倒卖医保药品（回流药）或以医保电子凭证套现。再次销售的药品：%s。涉及购药%s。请核查购药人与回流机构的关系及药品来源。",
		buyersText, day(first), day(lastT), names(places), len(codes), names(resold), strings.Join(who, "；"), amountText(&c))
	for _, ra := range ras {
		b, s := ra.bought, ra.sold
		note := fmt.Sprintf("追溯码 %s（%s）：%s 在 %s 由参保人 %s 医保购买（结算号 %s），%s 又在 %s%s", ra.key, env.drugName(ra.drug),
			when(b.Time), env.instName(b.Institution), b.person, b.setl, when(s.Time), env.instName(s.Institution), placeOf(env, s.Institution))
		switch {
		case s.person != "" && s.setl != "":
			note += fmt.Sprintf(" 销售给参保人 %s 并结算（结算号 %s）", s.person, s.setl)
		case s.person != "":
			note += " 销售给参保人 " + s.person
		default:
			note += " " + saleWord(s)
		}
		ev := tracewatch.Evidence{Time: s.Time, What: "resold", Institution: s.Institution, Note: note}
		if len(s.lines) > 0 {
			ev.Ref = ref(&s.lines[0].Event)
		}
		c.Evidence = append(c.Evidence, ev)
	}
	return c
}
