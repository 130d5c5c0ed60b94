package rules

import (
	"context"
	"fmt"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// ImpossibleTravel is C9, 冒名就医 / 不可能行程: one person settling outpatient or
// pharmacy purchases at institutions in different cities (the first four digits of the
// institutions' regions) or provinces (the first two) closer in time than the journey
// between them takes. Within a city a person goes from the hospital to the pharmacy
// across the street in minutes, so only other cities count. Two settlements in other
// cities of the province less than OtherCity apart, or in other provinces less than
// OtherProvince apart, cannot both be the person's own visit: a lent or stolen insurance
// card or electronic voucher (医保电子凭证) is used by someone else (冒名就医), or an
// institution settles in the person's name without the person (虚假结算).
//
// One clue per person with every conflicting pair of settlements as evidence: 高度可疑
// when a pair lies in two provinces, else 可疑; the amount is the fund payment of the
// later settlement of each pair (the one that cannot be the person's), else its sale
// amount. A settlement at an institution the reference data does not know, or whose
// region it does not give, is never judged (unknown is not suspicious). Inpatient
// settlements (2304) are left out: a discharge is settled by the family as often as by
// the patient.
type ImpossibleTravel struct {
	OtherCity     time.Duration
	OtherProvince time.Duration
}

// NewImpossibleTravel returns C9 with its defaults.
func NewImpossibleTravel() *ImpossibleTravel { return withDefaults(&ImpossibleTravel{}) }

// Spec implements Rule.
func (r *ImpossibleTravel) Spec() Spec {
	return Spec{Name: "claims.impossible_travel", Version: 1, Short: "C9", Title: "冒名就医（不可能行程）", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "同一参保人相邻结算的时间间隔", Severity: tracewatch.SeverityHighlySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条（参保人员应当持本人医疗保障凭证就医、购药）、第四十一条（个人以骗取医疗保障基金为目的，将本人的医疗保障凭证交由他人冒名使用）",
		Params: []Param{
			DurationParam("other_city", &r.OtherCity, time.Hour, time.Minute, 48*time.Hour,
				"least time between settlements in two cities of one province (neighbouring city centres are over an hour apart door to door)"),
			DurationParam("other_province", &r.OtherProvince, 3*time.Hour, time.Minute, 72*time.Hour,
				"least time between settlements in two provinces (南昌–长沙: about 2 h by high-speed rail, over 3 h door to door)"),
		},
	}
}

// travelPair is two settlements of a person too close in time for the distance.
type travelPair struct {
	a, b          facts.PersonSettlement
	otherProvince bool
}

// Eval implements Rule.
func (r *ImpossibleTravel) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	within := max(r.OtherCity, r.OtherProvince)
	var person string
	var sets []facts.PersonSettlement
	flush := func() {
		if len(sets) > 1 {
			r.person(env, sets, emit)
		}
		sets = sets[:0]
	}
	err := env.Src.TravelSettlements(ctx, facts.TravelQuery{Window: env.Window, Within: within}, func(p facts.PersonSettlement) error {
		if p.Person != person {
			flush()
			person = p.Person
		}
		sets = append(sets, p)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// regionOf returns the region of an institution of the reference data, "" when unknown.
func (env *Env) regionOf(code string) tracewatch.Region {
	in, ok := env.Institutions[code]
	if !ok || len(in.Region) != 6 {
		return ""
	}
	return in.Region
}

// person judges one person's settlements (in time order): every pair at institutions of
// known regions in different cities closer than the distance allows.
func (r *ImpossibleTravel) person(env *Env, sets []facts.PersonSettlement, emit func(tracewatch.Clue)) {
	within := max(r.OtherCity, r.OtherProvince)
	var pairs []travelPair
	for i := range sets {
		ra := env.regionOf(sets[i].Institution)
		if ra == "" {
			continue
		}
		for j := i + 1; j < len(sets) && sets[j].Time.Sub(sets[i].Time) < within; j++ {
			rb := env.regionOf(sets[j].Institution)
			if rb == "" || ra.City() == rb.City() {
				continue
			}
			gap := sets[j].Time.Sub(sets[i].Time)
			other := ra.Province() != rb.Province()
			if other && gap < r.OtherProvince || !other && gap < r.OtherCity {
				pairs = append(pairs, travelPair{a: sets[i], b: sets[j], otherProvince: other})
			}
		}
	}
	if len(pairs) == 0 {
		return
	}
	psn := pairs[0].a.Person
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, psn),
		Rule:        "other_city", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: psn, Persons: []string{psn},
	}
	lead := pairs[0] // the first pair of the most distant class names the clue's institution
	for _, p := range pairs {
		if p.otherProvince {
			c.Rule, c.Severity = "other_province", tracewatch.SeverityHighlySuspicious
			lead = p
			break
		}
	}
	c.Institution = lead.b.Institution
	var fund, sale tracewatch.Fen
	counted := map[string]bool{}
	seen := map[string]bool{}
	var lines []string
	for _, p := range pairs {
		for _, s := range []facts.PersonSettlement{p.a, p.b} {
			c.Settlements = append(c.Settlements, s.Settlement)
			if k := s.Institution + "\x00" + s.Settlement; !seen[k] {
				seen[k] = true
				c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: s.Time, What: "settlement", Institution: s.Institution, Ref: s.Ref,
					Note: fmt.Sprintf("%s 在 %s（%s）医保结算，结算号 %s", when(s.Time), env.instName(s.Institution), env.regionText(s.Institution), s.Settlement)})
			}
		}
		if k := p.b.Institution + "\x00" + p.b.Settlement; !counted[k] {
			counted[k] = true
			fund, sale = fund+p.b.FundPaid, sale+p.b.SaleAmount
		}
		class, need := "跨市", r.OtherCity
		if p.otherProvince {
			class, need = "跨省", r.OtherProvince
		}
		if len(lines) < 4 {
			lines = append(lines, fmt.Sprintf("于 %s 在 %s（%s）结算后，仅隔 %s 又在 %s（%s）结算（%s，路程至少需 %s）",
				when(p.a.Time), env.instName(p.a.Institution), env.regionText(p.a.Institution), gapText(p.b.Time.Sub(p.a.Time)),
				env.instName(p.b.Institution), env.regionText(p.b.Institution), class, gapText(need)))
		}
	}
	setAmount(&c, fund, sale)
	more := ""
	if len(pairs) > len(lines) {
		more = fmt.Sprintf("等 %d 组", len(pairs))
	}
	c.Explanation = fmt.Sprintf("参保人 %s %s%s：两地之间的路程不可能在这么短的时间内完成，至少一笔结算并非本人到场，疑为他人冒用医保凭证（冒名就医）或机构虚假结算，请核查。涉及%s。",
		psn, strings.Join(lines, "；"), more, amountText(&c))
	emit(c)
}

// regionText names an institution's city (and province), or its region code.
func (env *Env) regionText(code string) string {
	r := env.regionOf(code)
	if r == "" {
		return "地区不详"
	}
	city, ok := env.Regions[r.City()]
	if !ok {
		return string(r)
	}
	if prov, ok := env.Regions[r.Province()]; ok {
		return prov.Name + city.Name
	}
	return city.Name
}

// gapText writes a duration in hours and minutes (Chinese).
func gapText(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%d 分钟", m)
	case m == 0:
		return fmt.Sprintf("%d 小时", h)
	}
	return fmt.Sprintf("%d 小时 %d 分钟", h, m)
}
