package synth

import (
	"fmt"
	"slices"
	"strings"
)

// Prices and key drugs (issue 15): the knowledge base's price ceiling (挂网价) and
// key-drug category of each drug (drug_limits.csv price_ceiling, key_drug), the planted
// cases of C14 claims.over_price (over_price: an institution charging a drug above its
// ceiling from a day on) and C11 claims.key_drug (key_drug_rise: an institution whose
// key-drug sales jump in a month), and their honest look-alikes: drugs whose ceiling
// sits up to 4 % under the retail price (every sale of them is within the rule's 5 %
// tolerance), 拆零 sales priced per minimum unit, a seasonal rise of every clinic's
// key-drug sales in the same month, pharmacies whose key-drug sales grow by 60 %, and
// the small institutions whose few key-drug sales swing by multiples.
//
// Every draw here comes from streams of its own, so the rest of the province is drawn
// as before; the extra baskets take their lines out of the day's quota like every
// planted act.

// The random streams of this file (explicit values, outside rng.go's iota block).
const (
	streamPriceKB   uint64 = 0x7a1c_0201 // ceilings of the knowledge base
	streamOverPrice uint64 = 0x7a1c_0202 // over_price cases
	streamKeyDrug   uint64 = 0x7a1c_0203 // key_drug_rise cases and the honest rises
)

// drugPrice is a drug's knowledge-base price row.
type drugPrice struct {
	ceiling int64  // fen per pack; 0: none
	key     string // drug_limits.key_drug; "": not a key drug
}

// resaleNames are the generic names the knowledge base lists as 易倒卖 (often resold:
// chronic-disease drugs bought on insurance and sold on).
var resaleNames = []string{"甘精胰岛素注射液", "硫酸氢氯吡格雷片", "阿托伐他汀钙片", "瑞舒伐他汀钙片", "阿卡波糖片",
	"达格列净片", "磷酸西格列汀片", "恩替卡韦分散片", "琥珀酸美托洛尔缓释片", "复方丹参滴丸"}

// highValueFen is the pack price from which a drug is 高值.
const highValueFen = 5000

// priceKB returns the knowledge base's price row of every drug (by index): coded,
// reimbursable drugs have a ceiling, 85 % of them at or up to 8 % above the retail price,
// 10 % 1–4 % under it (the honest look-alikes: every sale of them is above the ceiling
// within the tolerance), 5 % none (unknown); key drugs are the resale names, the drugs
// of 50 元 a pack or more (高值) and the imported originals (集采替代).
func priceKB(seed uint64, cat *catalog) []drugPrice {
	r := newRNG(seed, streamPriceKB)
	out := make([]drugPrice, len(cat.drugs))
	for i, d := range cat.drugs {
		if !d.coded || !d.reimb {
			continue
		}
		switch u := r.intn(100); {
		case u < 5:
		case u < 15:
			out[i].ceiling = d.price * 100 / int64(100+r.between(1, 4))
		default:
			out[i].ceiling = d.price * int64(100+r.intn(9)) / 100
		}
		switch {
		case slices.Contains(resaleNames, d.name):
			out[i].key = "resale"
		case d.price >= highValueFen:
			out[i].key = "high_value"
		case d.imported:
			out[i].key = "vbp_alternative"
		}
	}
	return out
}

// overCase is one over_price case: institution inst charges drug d at ceiling × (100 +
// markup) % from day from on.
type overCase struct {
	inst, d, from, markup int
	ceiling               int64
	label                 *plantLabel
	setls                 map[string]bool
}

// pricePlan is the planter's state for this file.
type pricePlan struct {
	kb       []drugPrice
	over     map[[2]int]*overCase // (institution, drug) → case
	keySpend []int64              // per institution: insured key-drug sales before the target month, fen
	target   int                  // first day of the month of the key-drug rises; -1: none
}

// priceItem prices a line of an honest basket: an over_price case's drug at its
// institution is charged above the ceiling from the case's day on.
func (p *planter) priceItem(day int, in *institution, it *item) {
	pp := p.price
	if pp == nil {
		return
	}
	c := pp.over[[2]int{in.idx, it.d.idx}]
	if c == nil || day < c.from {
		return
	}
	pack := c.ceiling * int64(100+c.markup) / 100 // fen a pack
	if it.split {
		it.unit = (pack*100 + int64(it.d.pack)/2) / int64(it.d.pack)
		it.amount = (int64(it.qty)*it.unit + 50) / 100
		return
	}
	it.unit = pack
	it.amount = int64(it.qty) * pack
}

// priceBasket looks at an honest basket about to be rendered: it adds the key-drug sales
// of an insured one to its institution's history (unless its uploads are down that day:
// C11 never sees those) and names the settlement of a line an over_price case charged.
func (p *planter) priceBasket(day int, in *institution, insured bool, setl string) {
	pp := p.price
	if pp == nil || !insured {
		return
	}
	if !p.offline(in.idx, day) {
		p.keySpent(day, in)
	}
	for i := range p.s.items {
		it := &p.s.items[i]
		if c := pp.over[[2]int{in.idx, it.d.idx}]; c != nil && day >= c.from && setl != "" && !c.setls[setl] {
			c.setls[setl] = true
			c.label.Settlements = append(c.label.Settlements, setl)
			c.label.got = 1
		}
	}
}

// keySpent adds the key-drug lines of the basket about to be rendered (honest, or
// another scenario's planted one: a ring's purchases of resellable drugs, a gang's
// insulin, …) to in's key-drug sales before the target month: the history C11 judges a
// key_drug_rise case against is all of them, so the case's rise is planned on top of it.
func (p *planter) keySpent(day int, in *institution) {
	pp := p.price
	if pp == nil || (pp.target >= 0 && day >= pp.target) {
		return
	}
	for i := range p.s.items {
		it := &p.s.items[i]
		if pp.kb[it.billed().idx].key != "" {
			pp.keySpend[in.idx] += it.amount
		}
	}
}

// schedulePrice plants the over_price and key_drug_rise cases and schedules the honest
// rises.
func (p *planter) schedulePrice() {
	w := p.w
	pp := &pricePlan{kb: priceKB(p.o.Seed, w.cat), over: map[[2]int]*overCase{}, keySpend: make([]int64, len(w.insts)), target: -1}
	p.price = pp
	p.scheduleOverPrice()
	// The month of the key-drug rises: the last month of the window that starts with at
	// least two months of data before it and has ten days of data or more.
	starts := 0
	for day := range p.o.Days {
		if _, _, dom := civilFromDays(p.o.startDay + int32(day)); dom == 1 || day == 0 {
			if starts >= 2 && p.o.Days-day >= 10 {
				pp.target = day
			}
			starts++
		}
	}
	if pp.target < 0 {
		return
	}
	p.scheduleKeyDrug()
}

// scheduleOverPrice draws the over_price cases: a busy institution (not a hospital) and
// one of its most sold coded, reimbursable drugs with a ceiling at or above the retail
// price, charged 15–40 % above the ceiling from a day in the first third of the window
// on. Each institution and drug is one case.
func (p *planter) scheduleOverPrice() {
	pp, w := p.price, p.w
	n := p.n[scOverPrice]
	if n == 0 || p.o.Days < 3 {
		return
	}
	r := newRNG(p.o.Seed, streamOverPrice)
	var cands []int
	for i, in := range w.insts {
		if in.typ != typeHospital && w.regions[in.county].home {
			cands = append(cands, i)
		}
	}
	for k := len(cands) - 1; k > 0; k-- {
		j := r.intn(k + 1)
		cands[k], cands[j] = cands[j], cands[k]
	}
	for k := 0; k < n && len(cands) > 0; k++ {
		x := cands[k%len(cands)]
		in := w.insts[x]
		// The institution's most popular drugs with a ceiling it sells whole or split.
		var slots []*slot
		for _, sl := range in.slots {
			d := sl.d
			if plain(d) && pp.kb[d.idx].ceiling >= d.price && pp.over[[2]int{x, d.idx}] == nil {
				slots = append(slots, sl)
			}
		}
		if len(slots) == 0 {
			continue
		}
		slices.SortStableFunc(slots, func(a, b *slot) int { return cmpInt64(int64(b.perDay), int64(a.perDay)) })
		sl := slots[r.intn(min(len(slots), 3))]
		d := sl.d
		from := r.between(0, max(0, p.o.Days/3-1))
		c := &overCase{inst: x, d: d.idx, from: from, markup: r.between(15, 40), ceiling: pp.kb[d.idx].ceiling, setls: map[string]bool{}}
		c.label = p.newLabel(scOverPrice, int64(from)*86400, in)
		c.label.need = 1
		c.label.Note = fmt.Sprintf("%s charges %s (%s) at %s a pack from %s on: %d %% above the knowledge base's ceiling of %s",
			in.code, d.name, d.code, yuan(c.ceiling*int64(100+c.markup)/100), p.date(from), c.markup, yuan(c.ceiling))
		pp.over[[2]int{x, d.idx}] = c
	}
}

// keySlots returns in's slots of plain key drugs without a daily dose (extra purchases
// of a chronic patient's drug would make honest persons hold more than C3 allows).
func (p *planter) keySlots(in *institution) []int {
	var out []int
	for i, sl := range in.slots {
		if d := sl.d; plain(d) && d.dose == 0 && p.price.kb[d.idx].key != "" {
			out = append(out, i)
		}
	}
	return out
}

// keyCityMin is the least number of institutions of a type in a city that C11 (with its
// default min_peers, 5) judges against each other, with a margin; keySeasonMin the
// clinics of a city needed for its season.
const (
	keyCityMin   = 8
	keySeasonMin = 8
)

// scheduleKeyDrug draws the key_drug_rise cases (institutions of a type with enough
// peers, at most a quarter of a type in a city) and the honest rises, all in the target
// month. Each is scheduled by an act on the eve of the month, which reads the
// institution's key-drug sales so far (its baseline B a day) and plans the month's extra
// baskets: B × the season's rise at the clinics of the season's city; B × 60 % at the
// growing pharmacies; 4 × (B + 40 元) a day more at a planted institution.
func (p *planter) scheduleKeyDrug() {
	pp, w, pm := p.price, p.w, &p.o.params
	r := newRNG(p.o.Seed, streamKeyDrug)
	byType := map[uint8][]int{}
	for i, in := range w.insts {
		// Institutions with a role in another scenario (suspended, stopping scanning) keep
		// their sales as that scenario plants them.
		if in.typ != typeHospital && w.regions[in.county].home && p.free(in) && len(p.keySlots(in)) > 0 {
			byType[in.typ] = append(byType[in.typ], i)
		}
	}
	// The season: the clinics of one city (the one with the most, if it has enough for
	// C11 to judge them against each other) all sell more key drugs that month.
	seasonCity := -1
	clinics := map[int]int{} // city → clinics
	for _, x := range byType[typeClinic] {
		clinics[w.regions[w.insts[x].county].city]++
	}
	for c, k := range clinics {
		if k >= keySeasonMin && (seasonCity < 0 || k > clinics[seasonCity] || k == clinics[seasonCity] && c < seasonCity) {
			seasonCity = c
		}
	}
	inSeason := func(in *institution) bool {
		return in.typ == typeClinic && seasonCity >= 0 && w.regions[in.county].city == seasonCity && pm.KeyDrugSeasonPercent > 0
	}
	// The cases: C11 judges an institution against its type in its city (else in the
	// province), so no more than a quarter of a city's institutions of a type rise, and
	// no more than a quarter of those of the cities too small to judge alone (a larger
	// share widens the peers' spread the case is measured by); never in the season's
	// city (its clinics' rise is shared).
	planted := map[int]bool{}
	n := p.n[scKeyDrug]
	var all []int
	for _, typ := range []uint8{typePharmacy, typeClinic, typeVillage} {
		c := byType[typ]
		for k := len(c) - 1; k > 0; k-- {
			j := r.intn(k + 1)
			c[k], c[j] = c[j], c[k]
		}
		all = append(all, c...)
		if len(c) < 7 {
			continue // too few peers to be judged
		}
		byCity := map[int]int{}
		for _, x := range c {
			byCity[w.regions[w.insts[x].county].city]++
		}
		small := 0 // institutions of the cities too small to judge alone
		for _, k := range byCity {
			if k < keyCityMin {
				small += k
			}
		}
		got := map[int]int{}
		smallGot := 0
		for _, x := range c {
			in := w.insts[x]
			city := w.regions[in.county].city
			switch {
			case len(planted) >= n || inSeason(in):
			case byCity[city] >= keyCityMin && got[city] < byCity[city]/4:
				planted[x] = true
				got[city]++
			case byCity[city] < keyCityMin && smallGot < small/4:
				planted[x] = true
				smallGot++
			}
		}
	}
	// A province too small for peers (tiny: no type has enough): the cases all the same,
	// which C11 with its default min_peers leaves unjudged.
	if len(planted) == 0 {
		for _, x := range all {
			if len(planted) < n && len(planted) < max(1, len(all)/3) && !inSeason(w.insts[x]) {
				planted[x] = true
			}
		}
	}
	growing := map[int]bool{}
	for _, x := range byType[typePharmacy] {
		if !planted[x] && r.permille(pm.KeyDrugGrowthPermille) {
			growing[x] = true
		}
	}
	T := pp.target
	left := p.o.Days - T // days of the month in the data
	_, month, _ := civilFromDays(p.o.startDay + int32(T))
	for d := T; d < p.o.Days; d++ {
		if _, m, _ := civilFromDays(p.o.startDay + int32(d)); m != month {
			left = d - T
			break
		}
	}
	var insts []int
	for i := range w.insts {
		if byType[w.insts[i].typ] != nil && slices.Contains(byType[w.insts[i].typ], i) {
			insts = append(insts, i)
		}
	}
	for _, x := range insts {
		in := w.insts[x]
		season := 0
		if inSeason(in) {
			season = pm.KeyDrugSeasonPercent
		}
		grow := 0
		if growing[x] {
			grow = 60
		}
		if season == 0 && grow == 0 && !planted[x] {
			continue
		}
		var l *plantLabel
		if planted[x] {
			l = p.newLabel(scKeyDrug, int64(T)*86400, in)
			l.need = 1
		}
		seed := r.u64()
		p.plan(T-1, int64(T)*86400-600, x, 0, func(int, int64) int {
			base := float64(pp.keySpend[x]) / float64(T) // fen a day
			extra := base * float64(season+grow) / 100
			if l != nil {
				extra += 4 * (base*(1+float64(season)/100) + 4000)
				l.Note = fmt.Sprintf("%s sells key drugs (易倒卖、高值、集采替代) for about %s a day more than its %s a day before in the month from %s",
					in.code, yuan(int64(extra)), yuan(int64(base)), p.date(T))
			}
			p.keyBaskets(newRNG(seed, streamKeyDrug), x, T, left, int64(extra*float64(left)*1.1), l)
			return 0
		})
	}
}

// keyBaskets plans insured baskets of in's key drugs over days [from, from+days) worth
// about total fen (at most as many lines as in sells in those days), each of one to
// three lines of one or two packs, bought by persons living near; l (nil: an honest
// rise) is the case's label.
func (p *planter) keyBaskets(r *rng, x, from, days int, total int64, l *plantLabel) {
	in := p.w.insts[x]
	slots := p.keySlots(in)
	if len(slots) == 0 || days <= 0 || total <= 0 {
		return
	}
	// Not in the last two days (planted lines beyond a day's quota come out of the next
	// days'), and no more lines than the institution sells in those days anyway (three
	// times as many for a case: a small shop's rise must fit).
	days = min(days, p.o.Days-2-from)
	if days <= 0 {
		return
	}
	maxLines := int(in.daily * uint64(days) / 1000)
	if l != nil {
		maxLines *= 3 // a reseller's counter may triple its lines: room for the whole rise
	}
	a, b := p.o.startDay+int32(from), p.o.startDay+int32(from+days)
	for planned, nLines := int64(0), 0; planned < total && nLines < maxLines; {
		day := from + r.intn(days)
		t := int64(day)*86400 + 8*3600 + int64(r.intn(12*3600))
		var lines []int
		var packs []int
		for range 1 + r.intn(3) {
			si := slots[r.intn(len(slots))]
			if slices.Contains(lines, si) {
				continue
			}
			k := 1 + r.intn(2)
			lines, packs = append(lines, si), append(packs, k)
			planned += int64(k) * in.slots[si].d.price
		}
		q, ok := p.keyPerson(r, in, a, b)
		if !ok {
			return
		}
		p.trips.reserve(q.idx, x, t)
		nLines += len(lines)
		p.plan(day, t, x, len(lines), func(day int, t int64) int {
			s := p.s
			s.plantStart()
			for i, si := range lines {
				s.plantTake(day, t, in, si, packs[i])
			}
			if len(s.items) == 0 {
				return 0
			}
			s.plantSettle(day, t, in, &q)
			if l != nil {
				l.got = 1 // the label names the institution: C11's clue is the institution's month
			} else {
				p.lines -= len(s.items) // an honest basket: not a planted line
			}
			return len(s.items)
		})
	}
}

// keyPerson draws a person living in in's county (else its city) alive through [a, b],
// from r (personNear's draw, on this file's stream).
func (p *planter) keyPerson(r *rng, in *institution, a, b int32) (person, bool) {
	w := p.w
	rg := w.regions[in.county]
	city := w.regions[rg.city]
	for range 400 {
		lo, hi := rg.pStart, rg.pEnd
		if r.intn(100) >= 70 {
			lo, hi = city.pStart, city.pEnd
		}
		if hi <= lo {
			continue
		}
		q := w.person(lo + r.intn(hi-lo))
		if q.alive(a) && q.alive(b) {
			return q, true
		}
	}
	return person{}, false
}

// priceLimits writes the price columns of a drug's drug_limits.csv row: the ceiling in
// yuan and the key-drug category, "" where none.
func priceLimits(kb []drugPrice, d *drug) (ceiling, key string) {
	row := kb[d.idx]
	if row.ceiling > 0 {
		ceiling = strings.TrimSuffix(yuan(row.ceiling), " 元")
	}
	return ceiling, row.key
}
