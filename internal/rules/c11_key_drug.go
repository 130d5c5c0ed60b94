package rules

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// KeyDrug is C11, 重点药品监测: an institution's insured spending on the knowledge base's
// key drugs (drug_limits.key_drug: 易倒卖、高值、集采替代) in a month, against its own
// history and against its peers. Spending is the sale amount of the insured lines (a
// fee line's amount, a 3505 row's price × quantity; a sale both report counts once), per
// day of the month up to the window's end, so a month cut short compares fairly.
//
// A month is flagged (可疑: a monitoring signal for review, not a finding) when all of
// these hold:
//
//   - own history: at least MinHistory of the HistoryMonths months before it in which the
//     institution uploaded sale lines; the month's daily spending is at least Ratio × the
//     median of those months and Z robust deviations (1.4826 × MAD, at least a tenth of
//     the median) above it;
//   - peers: the institutions of the same type in the same city (else in the same
//     province) that have such a history, at least MinPeers of them; the institution's
//     rise (log of this month over its median, both plus a small floor) stands Z robust
//     deviations above theirs: a rise the peers share (a flu season, a new listing) is
//     not flagged;
//   - money: the spending above the baseline over the month is at least MinAmount yuan:
//     a village clinic going from one box to three is not worth a review.
//
// Unknown is not suspicious: an institution without enough history (new, or silent for
// months) or without enough peers gives no clue. The amount is the spending above the
// baseline: the fund's share of it (in proportion to the month's fund payment) where
// the settlements are known, else the sale amount.
type KeyDrug struct {
	HistoryMonths int
	MinHistory    int
	MinPeers      int
	Ratio         float64
	Z             float64
	MinAmount     int64
}

// NewKeyDrug returns C11 with its defaults.
func NewKeyDrug() *KeyDrug { return withDefaults(&KeyDrug{}) }

// Spec implements Rule.
func (k *KeyDrug) Spec() Spec {
	return Spec{Name: "claims.key_drug", Version: 1, Short: "C11", Title: "重点药品监测", Type: TypeMedical,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "窗口所涉自然月，对照此前各月（回溯期）与同类型同地区机构", Severity: tracewatch.SeveritySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第二十三条（医保基金使用监测）；国家医保局重点药品监测（易倒卖、高值、集采替代药品）；知识库 drug_limits.key_drug",
		Params: []Param{
			IntParam("history_months", &k.HistoryMonths, 6, 1, 36, "月", "months before the month judged that give its own baseline"),
			IntParam("min_history", &k.MinHistory, 2, 1, 36, "月", "months with uploads among them needed to judge a month (fewer: no clue)"),
			IntParam("min_peers", &k.MinPeers, 5, 2, 10000, "家", "peers of the same type (in the city, else the province) with a history needed to judge a month (fewer: no clue)"),
			FloatParam("ratio", &k.Ratio, 2.5, 1, 100, "倍", "the month's daily key-drug spending must be at least ratio × its own median"),
			FloatParam("z", &k.Z, 3.5, 1, 100, "", "robust deviations (1.4826 × MAD) the month must stand above its own history, and its rise above the peers' rises"),
			Int64Param("min_amount", &k.MinAmount, 1000, 0, 100_000_000, "元", "spending above the baseline over the month below which nothing is flagged"),
		},
	}
}

// monthSpend is one institution's key-drug spending in one month.
type monthSpend struct {
	amount, fund tracewatch.Fen
	lines        []tracewatch.TimelineEntry
	drugs        map[string]tracewatch.Fen
}

// keyMonth is a month's bounds and the days of it the data covers.
type keyMonth struct {
	label    string // 2006-01
	from, to time.Time
	days     float64
}

// keyJudged is an institution's month with enough history.
type keyJudged struct {
	inst       string
	rate, base float64 // fen per day
	scale      float64
	hist       []float64
	histMonths []keyMonth // the months of hist
	growth     float64
}

// Eval implements Rule.
func (k *KeyDrug) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	drugs := env.limitedDrugs(func(l tracewatch.DrugLimit) bool { return l.KeyDrug != "" })
	if len(drugs) == 0 {
		return nil
	}
	end := env.Window.To
	if end.IsZero() {
		last, err := env.Src.LastEvent(ctx)
		if err != nil || last.IsZero() {
			return err
		}
		y, m, d := last.In(cst).Date()
		end = time.Date(y, m, d+1, 0, 0, 0, 0, cst)
	}
	monthStart := func(t time.Time) time.Time {
		y, m, _ := t.In(cst).Date()
		return time.Date(y, m, 1, 0, 0, 0, 0, cst)
	}
	var from time.Time // where the read starts: HistoryMonths before the first month judged
	if !env.Window.From.IsZero() {
		from = monthStart(env.Window.From).AddDate(0, -k.HistoryMonths, 0)
	}
	spend := map[string]map[string]*monthSpend{} // institution → month → spending
	first := end
	err := keyLines(ctx, env, tracewatch.Window{From: from, To: end}, drugs, func(l *tracewatch.TimelineEntry) {
		amt := env.saleAmount(&l.Event)
		if amt <= 0 {
			return
		}
		m := l.Time.In(cst).Format("2006-01")
		if spend[l.Institution] == nil {
			spend[l.Institution] = map[string]*monthSpend{}
		}
		s := spend[l.Institution][m]
		if s == nil {
			s = &monthSpend{drugs: map[string]tracewatch.Fen{}}
			spend[l.Institution][m] = s
		}
		s.amount += amt
		s.fund += min(l.FundPaid, amt)
		s.drugs[l.DrugCode] += amt
		s.lines = append(s.lines, *l)
		if l.Time.Before(first) {
			first = l.Time
		}
	})
	if err != nil {
		return err
	}
	if from.IsZero() {
		from = monthStart(first)
	}
	// The months from the first read to the end, with the institutions that uploaded in each.
	var months []keyMonth
	active := map[string]map[string]bool{} // month → institution → uploaded sale lines
	for m := monthStart(from); m.Before(end); m = m.AddDate(0, 1, 0) {
		km := keyMonth{label: m.Format("2006-01"), from: m, to: m.AddDate(0, 1, 0)}
		if km.to.After(end) {
			km.to = end
		}
		km.days = math.Round(km.to.Sub(km.from).Hours() / 24)
		counts, err := env.Src.SaleLineCounts(ctx, tracewatch.Window{From: km.from, To: km.to})
		if err != nil {
			return err
		}
		active[km.label] = map[string]bool{}
		for in, n := range counts {
			if n > 0 {
				active[km.label][in] = true
			}
		}
		months = append(months, km)
	}
	rate := func(in string, m keyMonth) float64 {
		if s := spend[in][m.label]; s != nil && m.days > 0 {
			return float64(s.amount) / m.days
		}
		return 0
	}
	floor := float64(k.MinAmount) * 100 / 30 // fen a day: what makes a rise worth a look
	for mi, m := range months {
		if !env.Window.From.IsZero() && !m.to.After(env.Window.From) {
			continue // a history month only
		}
		// Every active institution's baseline for month m.
		var judged []*keyJudged
		byInst := map[string]*keyJudged{}
		insts := make([]string, 0, len(active[m.label]))
		for in := range active[m.label] {
			insts = append(insts, in)
		}
		sort.Strings(insts)
		for _, in := range insts {
			var hist []float64
			var hm []keyMonth
			for h := max(0, mi-k.HistoryMonths); h < mi; h++ {
				if active[months[h].label][in] {
					hist = append(hist, rate(in, months[h]))
					hm = append(hm, months[h])
				}
			}
			if len(hist) < k.MinHistory {
				continue
			}
			base := median(hist)
			dev := make([]float64, len(hist))
			for i, h := range hist {
				dev[i] = math.Abs(h - base)
			}
			x := rate(in, m)
			j := &keyJudged{inst: in, rate: x, base: base, hist: hist, histMonths: hm,
				scale:  math.Max(math.Max(1.4826*median(dev), 0.1*base), 1),
				growth: math.Log((x + floor) / (base + floor))}
			judged = append(judged, j)
			byInst[in] = j
		}
		for _, j := range judged {
			if j.rate < k.Ratio*j.base || (j.rate-j.base)/j.scale < k.Z || (j.rate-j.base)*m.days < float64(k.MinAmount)*100 {
				continue
			}
			peers, where := k.peers(env, j.inst, judged)
			if len(peers) < k.MinPeers {
				continue
			}
			gs := make([]float64, len(peers))
			for i, p := range peers {
				gs[i] = p.growth
			}
			pm := median(gs)
			dev := make([]float64, len(gs))
			for i, g := range gs {
				dev[i] = math.Abs(g - pm)
			}
			ps := math.Max(1.4826*median(dev), 0.1)
			pz := (j.growth - pm) / ps
			if pz < k.Z {
				continue
			}
			k.emit(env, j, m, spend[j.inst], peers, where, pm, pz, emit)
		}
	}
	return nil
}

// peers returns the judged institutions of in's type in its city, else in its province
// (when the city has fewer than MinPeers), and names where.
func (k *KeyDrug) peers(env *Env, in string, judged []*keyJudged) ([]*keyJudged, string) {
	me, ok := env.Institutions[in]
	if !ok || me.Type == "" || me.Region == "" {
		return nil, ""
	}
	pick := func(same func(tracewatch.Region) bool) []*keyJudged {
		var out []*keyJudged
		for _, j := range judged {
			p, ok := env.Institutions[j.inst]
			if j.inst != in && ok && p.Type == me.Type && p.Region != "" && same(p.Region) {
				out = append(out, j)
			}
		}
		return out
	}
	if ps := pick(func(r tracewatch.Region) bool { return r.City() == me.Region.City() }); len(ps) >= k.MinPeers {
		return ps, env.regionName(me.Region.City())
	}
	return pick(func(r tracewatch.Region) bool { return r.Province() == me.Region.Province() }), env.regionName(me.Region.Province())
}

// regionName names a region, else its code.
func (env *Env) regionName(r tracewatch.Region) string {
	if ri, ok := env.Regions[r]; ok && ri.Name != "" {
		return ri.Name
	}
	return string(r)
}

// keyLines streams the insured lines of the drugs in w, each sale once (as saleLines).
func keyLines(ctx context.Context, env *Env, w tracewatch.Window, drugs []string, fn func(*tracewatch.TimelineEntry)) error {
	lines, err := saleLines(ctx, env, w, drugs, nil)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fn(l)
	}
	return nil
}

// median returns the median of xs (0 when empty); xs is left as it was.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (k *KeyDrug) emit(env *Env, j *keyJudged, m keyMonth, spend map[string]*monthSpend, peers []*keyJudged,
	where string, peerGrowth, peerZ float64, emit func(tracewatch.Clue)) {
	s := spend[m.label]
	in := env.Institutions[j.inst]
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectInstitution, j.inst, m.label),
		Rule:        "key_drug", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectInstitution, SubjectID: j.inst, Institution: j.inst,
	}
	excess := (j.rate - j.base) * m.days
	var fund float64
	if s != nil && s.fund > 0 && s.amount > 0 {
		fund = excess * float64(s.fund) / float64(s.amount)
	}
	setAmount(&c, tracewatch.Fen(fund), tracewatch.Fen(excess))
	// Evidence: each month of the history (those with uploads), then the month's largest
	// lines.
	var histText []string
	for _, h := range j.histMonths {
		var amt tracewatch.Fen
		if x := spend[h.label]; x != nil {
			amt = x.amount
		}
		histText = append(histText, fmt.Sprintf("%s %s 元", h.label, yuan(amt)))
		c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: h.from, What: "history", Institution: j.inst,
			Note: fmt.Sprintf("%s 月重点药品医保金额 %s 元（%g 天，日均 %s 元）", h.label, yuan(amt), h.days, yuan(tracewatch.Fen(math.Round(float64(amt)/h.days))))})
	}
	var top string
	if s != nil {
		lines := append([]tracewatch.TimelineEntry(nil), s.lines...)
		sort.SliceStable(lines, func(a, b int) bool {
			x, y := env.saleAmount(&lines[a].Event), env.saleAmount(&lines[b].Event)
			if x != y {
				return x > y
			}
			return ref(&lines[a].Event) < ref(&lines[b].Event)
		})
		for i := range lines[:min(len(lines), 5)] {
			l := &lines[i]
			if l.Settlement != "" {
				c.Settlements = append(c.Settlements, l.Settlement)
			}
			c.MsgIDs = append(c.MsgIDs, l.MsgID)
			ev := env.claimEvidence(l)
			ev.Note += "，金额 " + yuan(env.saleAmount(&l.Event)) + " 元"
			c.Evidence = append(c.Evidence, ev)
		}
		codes := make([]string, 0, len(s.drugs))
		for d := range s.drugs {
			codes = append(codes, d)
		}
		sort.Slice(codes, func(a, b int) bool {
			if s.drugs[codes[a]] != s.drugs[codes[b]] {
				return s.drugs[codes[a]] > s.drugs[codes[b]]
			}
			return codes[a] < codes[b]
		})
		var parts []string
		for _, d := range codes[:min(len(codes), 3)] {
			parts = append(parts, fmt.Sprintf("%s（%s）%s 元", env.drugName(d), tracewatch.KeyDrugChinese(env.Limits[d].KeyDrug), yuan(s.drugs[d])))
		}
		top = "，主要为 " + strings.Join(parts, "、")
	}
	var amount tracewatch.Fen
	if s != nil {
		amount = s.amount
	}
	c.Explanation = fmt.Sprintf("%s（%s）%s 月重点药品（易倒卖、高值、集采替代）医保金额 %s 元（%g 天，日均 %s 元）%s；"+
		"此前各月：%s，日均基线 %s 元，本月为基线的 %.1f 倍（偏离 %.1f 个稳健标准差）；%s同类型 %d 家机构本月相对各自基线的增幅中位数为 %.0f%%，"+
		"该机构增幅高出同类 %.1f 个稳健标准差：重点药品使用异常增长，需核查处方与进销存。超出基线约 %s 元，%s。",
		env.instName(j.inst), institutionTypeText(in.Type), m.label, yuan(amount), m.days, yuan(tracewatch.Fen(math.Round(j.rate))), top,
		strings.Join(histText, "，"), yuan(tracewatch.Fen(math.Round(j.base))), j.rate/math.Max(j.base, 1), (j.rate-j.base)/j.scale,
		where, len(peers), (math.Exp(peerGrowth)-1)*100, peerZ, yuan(tracewatch.Fen(excess)), amountText(&c))
	emit(c)
}

// institutionTypeText names an institution type in Chinese.
func institutionTypeText(t tracewatch.InstitutionType) string {
	switch t {
	case "hospital":
		return "医院"
	case "clinic":
		return "诊所"
	case "village_clinic":
		return "村卫生室"
	case "pharmacy":
		return "零售药店"
	}
	return string(t)
}
