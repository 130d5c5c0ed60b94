package synth

import (
	"fmt"
	"slices"
	"strings"

	"tracewatch"
)

// Planted cases. The planter decides which cases the province carries, schedules the
// acts that make them (extra baskets, a purchase, a discharge) as events of the
// simulation, alters a few honest sales as they happen (substitution, scanner noise,
// the pack later resold) and writes one label per case. It draws from a stream of its
// own, on the simulation's goroutine.
//
// Two ways of planting:
//
//   - candidate-driven (resales, drug substitution, scanner noise): the scenario's cases fall
//     due at times spread uniformly over the window; the first honest sale that suits the
//     case at or after its due time becomes it;
//   - scheduled (everything else): the institution, day and time are drawn up front and
//     the act runs as an event of that day; stock is taken off the shelves when it runs.
//
// Planted sale lines come out of the day's quota of sale lines, so the number of sale
// lines written stays the number asked for.

// Scan modes of a sale line's codes.
const (
	scanTrue      uint8 = iota // the packs' codes
	scanCommodity              // first code: the pack's GTIN-13 commodity barcode
	scanTypo                   // first code: a digit dropped (arg < 0) or doubled (arg > 0)
	scanLostGS                 // first code: a GS1 element string whose GS after the lot was lost
	scanGoods                  // every code: the goods' GTIN-13 (non-drug goods settled as drugs)
)

// Roles of institutions in planted (and honest) agreement and scanning scenarios.
const (
	roleNone            uint8 = iota
	roleStopScanning          // stops scanning from a day on
	roleSuspended             // suspended from a day on, settles insured sales all the same
	roleSuspendedHonest       // suspended for a while, sells self-pay only meanwhile (or suspended before the window)
)

// fakeSerialBase is where the serials of fabricated codes start: honest serials start
// below 400,000,000 and never come near it.
const fakeSerialBase = 900_000_000

// plannedEvent is a planted act scheduled for a day.
type plannedEvent struct {
	t     int64
	inst  int
	lines int                        // sale lines it plans to write (taken from the day's quota)
	do    func(day int, t int64) int // the act; returns the sale lines written
}

// quota holds the due times of a candidate-driven scenario's cases.
type quota struct {
	due  []int64
	next int
}

func (q *quota) ready(t int64) bool { return q.next < len(q.due) && q.due[q.next] <= t }
func (q *quota) take()              { q.next++ }

type planter struct {
	s *sim
	w *world
	o *resolved
	r *rng
	n [nScenarios]int // cases wanted
	q [nScenarios]quota

	role      []uint8
	from, to  []int    // per institution: days [from, to) of its role
	agreement []string // per institution: the agreements column of institutions.csv
	suspLabel []*plantLabel

	planned [][]*plannedEvent // per day
	labels  []*plantLabel
	seq     uint64
	fake    uint64         // fabricated serials used
	held    [][]*carton    // per institution: expired-case packs kept apart from the shelf
	used    map[box]bool   // packs whose codes a label names
	billTo  []*drug        // drugs substitutions bill as
	lines   int            // sale lines written by planted acts
	stays   *inpatientPlan // inpatient stays
	trips   *travelPlan    // honest travel, impossible_travel, upload_outage (plant_travel.go)
	actT    int64          // while a planted act runs: its time + 1 (personNear's travel check)
	price   *pricePlan     // prices and key drugs (plant_price.go)
}

// rateCount turns a rate per 100,000 sale lines into a number of cases: at least one
// when the rate is above 0.
func rateCount(lines, per100k int) int {
	if per100k <= 0 {
		return 0
	}
	return max(1, int((int64(lines)*int64(per100k)+50_000)/100_000))
}

// newPlanter decides the number of cases and the institutions' roles (which the
// reference data must show: institutions.csv is written before the simulation runs).
func newPlanter(w *world) *planter {
	o := &w.o
	p := &planter{w: w, o: o, r: newRNG(o.Seed, streamPlant), used: map[box]bool{}}
	p.trips = newTravelPlan(w)
	n := len(w.insts)
	p.role, p.from, p.to = make([]uint8, n), make([]int, n), make([]int, n)
	p.agreement, p.suspLabel = make([]string, n), make([]*plantLabel, n)
	p.held = make([][]*carton, n)
	p.planned = make([][]*plannedEvent, o.Days)
	pm := &o.params
	for sc, x := range p.rates() {
		if strings.HasSuffix(Scenarios[sc].Param, "_permille") {
			if x > 0 {
				p.n[sc] = max(1, n*x/1000)
			}
			continue
		}
		p.n[sc] = rateCount(o.saleLines, x)
	}
	for i, in := range w.insts {
		p.agreement[i] = "normal:" + in.since
	}

	// Institutions with a role: never hospitals; pharmacies only while enough stay
	// without one for the scenarios that need a pharmacy.
	days := o.Days
	pharmacies := 0
	for _, in := range w.insts {
		if in.typ == typePharmacy && w.regions[in.county].home {
			pharmacies++
		}
	}
	cands := make([]int, 0, n)
	for i, in := range w.insts {
		if in.typ != typeHospital && w.regions[in.county].home {
			cands = append(cands, i)
		}
	}
	p.shuffle(cands)
	date := func(day int) string { return string(appendDate(nil, o.startDay+int32(day))) }
	assign := func(role uint8, want int, ok func(in *institution) bool) []int {
		var got []int
		for _, i := range cands {
			in := w.insts[i]
			if len(got) >= want || p.role[i] != roleNone || !ok(in) {
				continue
			}
			if in.typ == typePharmacy && w.regions[in.county].home {
				if pharmacies <= 3 {
					continue
				}
				pharmacies--
			}
			p.role[i] = role
			got = append(got, i)
		}
		return got
	}
	insured := func(in *institution) bool { return in.typ == typePharmacy || in.typ == typeClinic }
	if days >= 4 {
		for _, i := range assign(roleStopScanning, p.n[scStopScanning], insured) {
			p.from[i], p.to[i] = p.dayIn(days/2, days*3/4), days
		}
		for _, i := range assign(roleSuspended, p.n[scSuspended], insured) {
			p.from[i], p.to[i] = p.dayIn(days*2/3, days-4), days
			p.agreement[i] += ";suspended:" + date(p.from[i])
		}
	}
	honest := 0
	if pm.SuspendedHonestPermille > 0 {
		honest = max(1, n*pm.SuspendedHonestPermille/1000)
	}
	for k, i := range assign(roleSuspendedHonest, honest, func(in *institution) bool { return true }) {
		if k%2 == 0 && days >= 8 {
			// Suspended for one to three weeks inside the window: self-pay sales only.
			p.from[i] = p.dayIn(days/4, days/2)
			p.to[i] = min(days, p.from[i]+p.r.between(7, 21))
			p.agreement[i] += ";suspended:" + date(p.from[i]) + ":" + date(p.to[i])
			continue
		}
		// Suspended for one to three months before the window.
		a := -p.r.between(120, 400)
		p.from[i], p.to[i] = a, a+p.r.between(30, 90)
		p.agreement[i] += ";suspended:" + date(p.from[i]) + ":" + date(p.to[i])
	}
	if days < 4 {
		p.n[scStopScanning], p.n[scSuspended] = 0, 0
	}
	return p
}

// rates returns the rate of every scenario, by scenario.
func (p *planter) rates() [nScenarios]int {
	pm := &p.o.params
	return [nScenarios]int{
		scResaleSameCity: pm.ResaleSameCityPer100k, scResaleOtherCity: pm.ResaleOtherCityPer100k,
		scResaleOtherProvince: pm.ResaleOtherProvincePer100k, scPhotoReuse: pm.PhotoReusePer100k,
		scSubstitutionDrug: pm.SubstitutionDrugPer100k, scSubstitutionNonDrug: pm.SubstitutionNonDrugPer100k,
		scEmptySwipe: pm.EmptySwipePer100k, scExpiredSale: pm.ExpiredSalePer100k, scParentChild: pm.ParentChildPer100k,
		scStopScanning: pm.StopScanningPermille, scScanWrongBarcode: pm.ScanWrongBarcodePer100k,
		scScanTypo: pm.ScanTypoPer100k, scScanLostGS: pm.ScanLostGSPer100k, scMalformed: pm.MalformedPer100k,
		scGender: pm.GenderRestrictedPer100k, scAge: pm.AgeRestrictedPer100k, scOverSupply: pm.OverSupplyPer100k,
		scHighFrequency: pm.HighFrequencyPer100k, scAfterDeath: pm.AfterDeathPer100k, scSuspended: pm.SuspendedPermille,
		scSplitStay: pm.SplitStayPer100k, scGang: pm.GangPer100k,
		scResaleRing: pm.ResaleRingPer100k,
		scBedHolding: pm.BedHoldingPer100k, scPhantomStay: pm.PhantomStayPer100k,
		scImpossibleTravel: pm.ImpossibleTravelPer100k, scUploadOutage: pm.UploadOutagePer100k,
		scKeyDrug: pm.KeyDrugRisePer100k, scOverPrice: pm.OverPricePer100k,
	}
}

func (p *planter) shuffle(a []int) {
	for i := len(a) - 1; i > 0; i-- {
		j := p.r.intn(i + 1)
		a[i], a[j] = a[j], a[i]
	}
}

// dayIn draws a day in [lo, hi], both clamped to the window.
func (p *planter) dayIn(lo, hi int) int {
	last := p.o.Days - 1
	lo, hi = min(max(lo, 0), last), min(max(hi, 0), last)
	if hi < lo {
		hi = lo
	}
	return p.r.between(lo, hi)
}

// timeAt draws the time of a basket at institution inst on day (as basketTime does).
func (p *planter) timeAt(day, inst int) int64 {
	in := p.w.insts[inst]
	hc := p.s.hourCum[in.typ]
	if in.open24h {
		hc = p.s.hourCum[4]
	}
	t := int64(p.r.pick(hc))*3600 + int64(p.r.intn(3600))
	t = min(max(t, 600), 86400-1800)
	return int64(day)*86400 + t
}

// plan schedules an act.
func (p *planter) plan(day int, t int64, inst, lines int, do func(day int, t int64) int) {
	p.planned[day] = append(p.planned[day], &plannedEvent{t: t, inst: inst, lines: lines, do: do})
}

// newLabel starts a label of scenario sc for an act at time t by institution in (nil:
// none).
func (p *planter) newLabel(sc int, t int64, in *institution) *plantLabel {
	p.seq++
	l := &plantLabel{sc: sc, t: t, seq: p.seq}
	if in != nil {
		l.Institution = in.code
	}
	p.labels = append(p.labels, l)
	return l
}

func (p *planter) date(day int) string {
	return string(appendDate(nil, p.o.startDay+int32(day)))
}

func (p *planter) boxKey(bx box) string {
	return string(p.s.rd.code.appendBoxKey(nil, bx.c.d, bx.serial()))
}

func (p *planter) psn(q *person) string { return p.w.psnNo(q) }

// free reports whether in may host a planted act (no role of its own).
func (p *planter) free(in *institution) bool { return p.role[in.idx] == roleNone }

// scanOff reports whether in has stopped scanning on day.
func (p *planter) scanOff(in *institution, day int) bool {
	return p.role[in.idx] == roleStopScanning && day >= p.from[in.idx]
}

// noInsurance reports whether in respects a suspension on day (self-pay only).
func (p *planter) noInsurance(in *institution, day int) bool {
	return p.role[in.idx] == roleSuspendedHonest && day >= p.from[in.idx] && day < p.to[in.idx]
}

// settled records an insured settlement of in (suspended institutions' cases).
func (p *planter) settled(day int, in *institution, setl string) {
	if l := p.suspLabel[in.idx]; l != nil && day >= p.from[in.idx] {
		l.Settlements = append(l.Settlements, setl)
		l.got++
	}
}

// pickInst draws an institution without a role that ok accepts; -1 when none.
func (p *planter) pickInst(ok func(in *institution) bool) int {
	var c []int
	for _, in := range p.w.insts {
		if p.free(in) && ok(in) {
			c = append(c, in.idx)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return c[p.r.intn(len(c))]
}

// pickSlot draws a slot of in that ok accepts; -1 when none.
func (p *planter) pickSlot(in *institution, ok func(sl *slot) bool) int {
	var c []int
	for i, sl := range in.slots {
		if ok(sl) {
			c = append(c, i)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return c[p.r.intn(len(c))]
}

// slotOf returns the slot of d at in, or -1.
func slotOf(in *institution, d *drug) int {
	for i, sl := range in.slots {
		if sl.d == d {
			return i
		}
	}
	return -1
}

// plain reports whether d is a coded, reimbursable drug without gender or age limits
// sold anywhere (the kind of drug a planted case bills without raising claims rules).
func plain(d *drug) bool {
	return d.coded && d.reimb && !d.hospOnly && d.gender == 0 && d.minAge == 0 && d.maxAge == 0
}

// personNear draws a person living near in (its county, city or province), alive from
// day a through day b, that ok accepts.
func (p *planter) personNear(in *institution, a, b int32, ok func(q *person) bool) (person, bool) {
	return p.personNearWith(p.r, in, a, b, ok)
}

// personNearWith is personNear drawing from r.
func (p *planter) personNearWith(r *rng, in *institution, a, b int32, ok func(q *person) bool) (person, bool) {
	w := p.w
	rg := w.regions[in.county]
	city := w.regions[rg.city]
	for range 400 {
		var lo, hi int
		switch u := r.intn(100); {
		case !rg.home:
			lo, hi = w.homeP, w.persons
		case u < 60:
			lo, hi = rg.pStart, rg.pEnd
		case u < 90:
			lo, hi = city.pStart, city.pEnd
		default:
			lo, hi = 0, w.homeP
		}
		if hi <= lo {
			continue
		}
		q := w.person(lo + r.intn(hi-lo))
		if p.actT > 0 && p.trips.clash(w, q.idx, in.idx, p.actT-1) {
			continue // drawn while an act runs: someone who can be here now
		}
		if q.alive(a) && q.alive(b) && (ok == nil || ok(&q)) {
			return q, true
		}
	}
	return person{}, false
}

// billAs picks the drug a substitution bills instead of d: coded, reimbursable, of
// another generic name, without gender or age limits, pricier (up to six times).
func (p *planter) billAs(d *drug) *drug {
	generic := func(x *drug) string {
		if len(x.code) >= 10 {
			return x.code[1:10]
		}
		return x.code
	}
	var c []*drug
	for _, x := range p.billable() {
		if x.price*10 >= d.price*15 && x.price <= max(d.price, 500)*6 && generic(x) != generic(d) && x.name != d.name {
			c = append(c, x)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[p.r.intn(len(c))]
}

// billable returns the drugs a planted case may bill: the plain ones.
func (p *planter) billable() []*drug {
	if p.billTo == nil {
		for _, x := range p.w.cat.drugs {
			if plain(x) {
				p.billTo = append(p.billTo, x)
			}
		}
	}
	return p.billTo
}

// billNonDrug picks the drug non-drug goods g are billed as: a drug without limits
// that who may buy, priced within a third to three times the goods, else the closest.
func (p *planter) billNonDrug(g *drug, who *person, dn int32) *drug {
	var c []*drug
	var best *drug
	for _, x := range p.billable() {
		if !allowed(x, who, dn) {
			continue
		}
		if x.price*3 >= g.price && x.price <= g.price*3 {
			c = append(c, x)
		}
		if best == nil || abs64(x.price-g.price) < abs64(best.price-g.price) {
			best = x
		}
	}
	if len(c) > 0 {
		return c[p.r.intn(len(c))]
	}
	return best
}

func abs64(x int64) int64 { return max(x, -x) }

// ---- the simulation's side: planted baskets ----

// plantStart begins a planted basket.
func (s *sim) plantStart() { s.items, s.boxes = s.items[:0], s.boxes[:0] }

// plantTake adds a line of up to want whole packs of slot si taken off in's shelf; false
// when the shelf has none.
func (s *sim) plantTake(day int, t int64, in *institution, si, want int) bool {
	dn := s.o.startDay + int32(day)
	sl := in.slots[si]
	d := sl.d
	it := item{slot: si, sl: sl, d: d, b0: len(s.boxes)}
	var first *carton
	for len(s.boxes)-it.b0 < want {
		b, ok := sl.take(dn, first, func(c *carton, bs []box) { s.expired(t, in, c, bs, 0) })
		if !ok {
			break
		}
		first = b.c
		s.boxes = append(s.boxes, b)
	}
	it.nb = len(s.boxes) - it.b0
	if it.nb == 0 {
		return false
	}
	it.qty = int32(it.nb)
	it.unit = d.price
	it.amount = int64(it.qty) * d.price
	it.scanned = d.coded && !s.fr.scanOff(in, day)
	s.items = append(s.items, it)
	s.reorder(day, in, si)
	return true
}

// plantCodes adds a line that bills the codes of boxes (packs not on the seller's
// shelf: sold before, someone else's, fabricated or kept apart) as drug bill (nil: the
// packs' own drug).
func (s *sim) plantCodes(boxes []box, bill *drug) {
	it := item{slot: -1, d: boxes[0].c.d, bill: bill, b0: len(s.boxes), nb: len(boxes), qty: int32(len(boxes)), scanned: true}
	s.boxes = append(s.boxes, boxes...)
	it.unit = it.billed().price
	it.amount = int64(it.qty) * it.unit
	s.items = append(s.items, it)
}

// plantSettle settles the planted basket as an insured sale of p at in (2204, 2207, one
// 3505 per line); it is never cancelled.
func (s *sim) plantSettle(day int, t int64, in *institution, p *person) (setl, receipt string) {
	medType := "11"
	if in.typ == typePharmacy {
		medType = "41"
	}
	s.mdtrtSeq++
	mdtrt := s.newID(day, in, '1', s.mdtrtSeq)
	ph := s.staff(in)
	receipt = s.receipt(day, in)
	s.numberFees(day, in)
	setl = s.newSettlement(day, in)
	s.feeLines(t, in, p, mdtrt, ph)
	s.settlement(t+2+int64(s.r.intn(4)), in, p, mdtrt, setl, medType)
	for i := range s.items {
		s.sale(t+8+int64(i), in, p, true, &s.items[i], i+1, receipt, mdtrt, setl, ph)
	}
	s.fr.lines += len(s.items)
	s.fr.keySpent(day, in) // planted acts are uploaded even in an outage
	s.fr.trips.seen(p.idx, in.idx, t)
	return setl, receipt
}

// plantOnePack sells who one whole pack of a reimbursable drug off in's shelf (one who
// may take, not for inpatients only) and settles it with the insurance; false when no
// shelf has such a pack.
func (p *planter) plantOnePack(day int, t int64, in *institution, who *person) (setl string, ok bool) {
	s := p.s
	dn := p.o.startDay + int32(day)
	si := p.pickSlot(in, func(sl *slot) bool { return sl.d.reimb && sl.whole > 0 && allowed(sl.d, who, dn) && !sl.d.hospOnly })
	if si < 0 {
		return "", false
	}
	s.plantStart()
	if !s.plantTake(day, t, in, si, 1) {
		return "", false
	}
	setl, _ = s.plantSettle(day, t, in, who)
	return setl, true
}

// fakeCarton makes the lot of n fabricated packs of d at in: serials no carton holds.
func (s *sim) fakeCarton(in *institution, d *drug, dn int32, n int) *carton {
	manu, expiry := s.lotFor(d, dn, false)
	c := s.lotCarton(in, d, manu, expiry)
	c.n = int32(n)
	c.first = fakeSerialBase + s.fr.fake
	s.fr.fake += uint64(n)
	return c
}

// ---- candidate-driven scenarios: honest baskets as they are settled ----

// onBasket looks at an honest basket about to be rendered (never one that will be
// cancelled or returned) and makes it a case where one is due: scanner noise on a line,
// a line billed as another drug, a pack resold later elsewhere.
func (p *planter) onBasket(day int, t int64, in *institution, who *person, insured bool, setl, receipt string) {
	p.priceBasket(day, in, insured, setl)
	if !p.free(in) || p.offline(in.idx, day) {
		return
	}
	s := p.s
	dn := p.o.startDay + int32(day)
	find := func(ok func(it *item) bool) int {
		for i := range s.items {
			it := &s.items[i]
			if it.scanned && !it.dup && it.scan == scanTrue && it.bill == nil && !it.carton && !p.usedAny(s.boxes[it.b0:it.b0+it.nb]) && ok(it) {
				return i
			}
		}
		return -1
	}
	for _, sc := range []int{scScanWrongBarcode, scScanTypo, scScanLostGS} {
		if !p.q[sc].ready(t) {
			continue
		}
		i := find(func(it *item) bool {
			switch sc {
			case scScanTypo:
				return !it.d.imported
			case scScanLostGS:
				return it.d.imported
			}
			return it.d.gtin13 != ""
		})
		if i < 0 {
			continue
		}
		p.q[sc].take()
		it := &s.items[i]
		l := p.newLabel(sc, t, in)
		l.Receipts = []string{receipt}
		if insured {
			l.Settlements = []string{setl}
		}
		key := p.boxKey(s.boxes[it.b0])
		switch sc {
		case scScanWrongBarcode:
			it.scan = scanCommodity
			l.Note = "the pack's commodity barcode (GTIN-13 " + it.d.gtin13 + ") was scanned instead of its trace code " + key
		case scScanTypo:
			it.scan = scanTypo
			it.arg = 1 + p.r.intn(18)
			what := "doubled"
			if p.r.intn(2) == 0 {
				it.arg, what = -it.arg, "dropped"
			}
			l.Note = fmt.Sprintf("trace code %s keyed in with digit %d %s", key, max(it.arg, -it.arg)+1, what)
		case scScanLostGS:
			it.scan = scanLostGS
			l.Note = "GS1 code of " + key + " sent without the GS separator after the lot (10): the lot swallows the serial"
		}
		p.lines++
		break
	}
	if !insured {
		return
	}
	if p.q[scSubstitutionDrug].ready(t) {
		if i := find(func(it *item) bool { return it.d.coded && !it.split && it.qty == 1 }); i >= 0 {
			it := &s.items[i]
			if b := p.billAs(it.d); b != nil {
				p.q[scSubstitutionDrug].take()
				it.bill = b
				it.unit = b.price
				it.amount = int64(it.qty) * b.price
				bx := s.boxes[it.b0]
				p.used[bx] = true
				l := p.newLabel(scSubstitutionDrug, t, in)
				l.Codes = []string{p.boxKey(bx)}
				l.Settlements = []string{setl}
				l.Note = fmt.Sprintf("a pack of %s (%s, %s) sold but billed as %s (%s, %s)",
					it.d.name, it.d.code, yuan(it.d.price), b.name, b.code, yuan(b.price))
				p.lines++
			}
		}
	}
	for _, sc := range []int{scResaleSameCity, scResaleOtherCity, scResaleOtherProvince} {
		if !p.q[sc].ready(t) {
			continue
		}
		i := find(func(it *item) bool {
			return it.d.coded && !it.split && it.d.reimb && s.boxes[it.b0].c.expiry > dn+22
		})
		if i >= 0 && p.scheduleResale(sc, day, in, who, s.boxes[s.items[i].b0]) {
			p.q[sc].take()
			break
		}
	}
}

func yuan(fen int64) string { return string(appendYuan(nil, fen)) + " 元" }

func (p *planter) usedAny(boxes []box) bool {
	for _, b := range boxes {
		if p.used[b] {
			return true
		}
	}
	return false
}

// scheduleResale plans the resale of pack bx, sold at a to p1 on day, 1–20 days later at
// an institution of the class sc asks for.
func (p *planter) scheduleResale(sc, day int, a *institution, p1 *person, bx box) bool {
	last := p.o.Days - 2
	if day+1 > last {
		return false
	}
	dd := min(day+p.r.between(1, 20), last)
	w := p.w
	ra := w.regions[a.county]
	class := func(in *institution) bool {
		rb := w.regions[in.county]
		switch sc {
		case scResaleSameCity:
			return in != a && rb.city == ra.city
		case scResaleOtherCity:
			return rb.home == ra.home && rb.city != ra.city
		}
		return rb.home != ra.home
	}
	// Prefer a reseller below 95 % inbound scanning, where the resale is not also a
	// per-code no-source case.
	b := p.pickInst(func(in *institution) bool { return class(in) && in.collect < 950 })
	if b < 0 {
		b = p.pickInst(class)
	}
	if b < 0 {
		return false
	}
	p.used[bx] = true
	d := bx.c.d
	p1idx := p1.idx
	sold := p.date(day)
	p.plan(dd, p.timeAt(dd, b), b, 1, func(day int, t int64) int {
		s := p.s
		in := w.insts[b]
		dn := p.o.startDay + int32(day)
		who, ok := p.personNear(in, dn, dn, func(q *person) bool { return q.idx != p1idx && allowed(d, q, dn) })
		if !ok {
			return 0
		}
		s.plantStart()
		s.plantCodes([]box{bx}, nil)
		setl, _ := s.plantSettle(day, t, in, &who)
		l := p.newLabel(sc, t, in)
		l.Codes = []string{p.boxKey(bx)}
		l.Persons = []string{p.psn(&who)}
		l.Settlements = []string{setl}
		l.Note = fmt.Sprintf("pack of %s sold and settled at %s on %s; sold again at %s (%s) on %s to another insured person",
			d.name, a.code, sold, in.code, w.regions[in.county].name, p.date(day))
		return 1
	})
	return true
}

// scheduleNonDrug plans a substitution_nondrug case: a pharmacy sells 1–2 lines of
// non-drug goods off its shelf and settles them with the insurance, each billed as a
// drug and "scanned" by the goods' commodity barcode.
func (p *planter) scheduleNonDrug() {
	x := p.pickInst(func(in *institution) bool { return in.typ == typePharmacy && len(in.nonDrug) > 0 })
	if x < 0 {
		return
	}
	in := p.w.insts[x]
	day := p.dayIn(0, p.o.Days-2)
	lines := 1 + p.r.intn(2)
	p.plan(day, p.timeAt(day, x), x, lines, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		who, ok := p.personNear(in, dn, dn, nil)
		if !ok {
			return 0
		}
		s.plantStart()
		var names []string
		for range lines {
			si := in.nonDrug[p.r.intn(len(in.nonDrug))]
			if s.inBasket(si) || !s.plantTake(day, t, in, si, 1) {
				continue
			}
			it := &s.items[len(s.items)-1]
			b := p.billNonDrug(it.d, &who, dn)
			it.bill, it.scan, it.scanned = b, scanGoods, true
			it.unit = b.price
			it.amount = int64(it.qty) * b.price
			names = append(names, it.d.name+" → "+b.name)
		}
		if len(s.items) == 0 {
			return 0
		}
		setl, _ := s.plantSettle(day, t, in, &who)
		l := p.newLabel(scSubstitutionNonDrug, t, in)
		l.Settlements = []string{setl}
		l.Note = "non-drug goods settled with the insurance as drugs, their commodity barcodes scanned as trace codes: " + strings.Join(names, "; ")
		return len(s.items)
	})
}

// ---- scheduled scenarios ----

// attach schedules the planted acts once the simulation exists.
func (p *planter) attach(s *sim) {
	p.s = s
	o := p.o
	days := o.Days
	span := int64(days) * 86400
	due := func(sc int, hi int64) {
		for range p.n[sc] {
			p.q[sc].due = append(p.q[sc].due, int64(p.r.intn(int(max(hi, 1)))))
		}
		slices.Sort(p.q[sc].due)
	}
	for _, sc := range []int{scResaleSameCity, scResaleOtherCity, scResaleOtherProvince} {
		due(sc, int64(max(days-3, 1))*86400)
	}
	for _, sc := range []int{scSubstitutionDrug, scScanWrongBarcode, scScanTypo} {
		due(sc, span-86400/2)
	}
	// Scanned imports are rarer: due in the first half, so that one comes after each due
	// time.
	due(scScanLostGS, span/2)
	for range p.n[scPhotoReuse] {
		p.schedulePhoto()
	}
	for range p.n[scEmptySwipe] {
		p.scheduleEmptySwipe()
	}
	for range p.n[scSubstitutionNonDrug] {
		p.scheduleNonDrug()
	}
	for range p.n[scParentChild] {
		p.scheduleParentChild()
	}
	for k := range p.n[scMalformed] {
		p.scheduleMalformed(k % 3)
	}
	for range p.n[scGender] {
		p.scheduleRestricted(scGender)
	}
	for range p.n[scAge] {
		p.scheduleRestricted(scAge)
	}
	for range p.n[scOverSupply] {
		p.scheduleOverSupply()
	}
	for range p.n[scHighFrequency] {
		p.scheduleHighFrequency()
	}
	for range p.n[scAfterDeath] {
		p.scheduleAfterDeath()
	}
	for range p.n[scGang] {
		p.scheduleGang()
	}
	for i, in := range p.w.insts {
		switch p.role[i] {
		case roleStopScanning:
			l := p.newLabel(scStopScanning, int64(p.from[i])*86400, in)
			l.Note = fmt.Sprintf("%s scanned every insured sale line until %s; from then on its sale lines (3505, 2207) carry no trace code",
				in.code, p.date(p.from[i]))
		case roleSuspended:
			l := p.newLabel(scSuspended, int64(p.from[i])*86400, in)
			l.need = 1
			l.Note = fmt.Sprintf("agreement suspended from %s (institutions.csv); the settlements listed were made afterwards", p.date(p.from[i]))
			p.suspLabel[i] = l
		}
	}
	p.scheduleInpatient()
	p.scheduleResaleRings()
	for range p.n[scImpossibleTravel] {
		p.scheduleTravel()
	}
	p.scheduleTrips()
	p.scheduleOutages() // last: it keeps clear of the acts planned so far
	p.schedulePrice()
}

// openingStock puts the packs of the expired-sale cases in stock before the window: the
// last pack of an old lot, kept apart from the shelf, listed by the first stocktake.
func (p *planter) openingStock() {
	s := p.s
	for range p.n[scExpiredSale] {
		if p.o.Days < 3 {
			return
		}
		x := p.pickInst(func(in *institution) bool { return in.typ != typeVillage && hasSlot(in, plain) })
		if x < 0 {
			return
		}
		in := p.w.insts[x]
		si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) })
		d := in.slots[si].d
		day := p.dayIn(p.o.Days/3, p.o.Days-2)
		if day < 2 {
			day = min(2, p.o.Days-1)
		}
		expiry := p.o.startDay + int32(day) - int32(p.r.between(1, min(20, day-1)))
		manu := addMonths(expiry+1, -d.shelf)
		c := s.newCartons(in, d, 1, manu, expiry)[0]
		c.next = c.n - 1
		p.held[x] = append(p.held[x], c)
		bx := box{c, c.n - 1}
		p.used[bx] = true
		p.plan(day, p.timeAt(day, x), x, 1, func(day int, t int64) int {
			dn := p.o.startDay + int32(day)
			who, ok := p.personNear(in, dn, dn, func(q *person) bool { return allowed(d, q, dn) })
			if !ok {
				return 0
			}
			c.next = c.n
			s.plantStart()
			s.plantCodes([]box{bx}, nil)
			setl, _ := s.plantSettle(day, t, in, &who)
			l := p.newLabel(scExpiredSale, t, in)
			l.Codes = []string{p.boxKey(bx)}
			l.Settlements = []string{setl}
			l.Note = fmt.Sprintf("pack of %s, lot %s, expired on %s (expy_end), received before the window and sold on %s",
				d.name, c.lot, c.expS, p.date(day))
			return 1
		})
	}
}

func hasSlot(in *institution, ok func(d *drug) bool) bool {
	for _, sl := range in.slots {
		if ok(sl.d) {
			return true
		}
	}
	return false
}

// schedulePhoto plans a photo_reuse case: a pharmacy buys a few boxes with every code
// scanned, then reuses the codes on insured sales of the following weeks.
func (p *planter) schedulePhoto() {
	x := p.pickInst(func(in *institution) bool { return in.typ == typePharmacy && hasSlot(in, plain) })
	if x < 0 || p.o.Days < 4 {
		return
	}
	day := p.dayIn(0, p.o.Days*2/3-1)
	if day > p.o.Days-3 {
		return
	}
	t := int64(day)*86400 + 8*3600 + int64(p.r.intn(4*3600))
	p.plan(day, t, x, 0, func(day int, t int64) int { p.photoPurchase(day, t, x); return 0 })
}

func (p *planter) photoPurchase(day int, t int64, x int) {
	s := p.s
	in := p.w.insts[x]
	si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) })
	sl := in.slots[si]
	d := sl.d
	dn := p.o.startDay + int32(day)
	u := int64(p.r.intn(1000))
	n := 5 + int(58*u*u/1000*u/1000*u/1000/1000) // 5–62, mostly below 20
	k := (n + d.carton - 1) / d.carton
	manu, expiry := s.lotFor(d, dn, false)
	cs := s.newCartons(in, d, k, manu, expiry)
	cs[0].next = int32(k*d.carton - n) // the distributor sells loose boxes
	var listed []scan
	var boxes []box
	for _, c := range cs {
		for i := c.next; i < c.n; i++ {
			listed = append(listed, scan{c: c, i: i})
			boxes = append(boxes, box{c, i})
			p.used[box{c, i}] = true
		}
		sl.add(c)
	}
	s.purchaseListed(t, in, d, cs, listed)

	// Every code is used on 2–5 extra insured sales, 2–5 codes a sale, over the
	// following five weeks; about a third of the sales bill a pricier drug.
	var uses []box
	for _, b := range boxes {
		for range p.r.between(2, 5) {
			uses = append(uses, b)
		}
	}
	for i := len(uses) - 1; i > 0; i-- {
		j := p.r.intn(i + 1)
		uses[i], uses[j] = uses[j], uses[i]
	}
	alt := p.billAs(d)
	l := p.newLabel(scPhotoReuse, 0, in)
	for _, b := range boxes {
		l.Codes = append(l.Codes, p.boxKey(b))
	}
	l.need = 1
	first := int64(-1)
	last := min(day+35, p.o.Days-2)
	var group []box
	billed, sales := 0, 0
	flush := func() {
		if len(group) == 0 {
			return
		}
		g := group
		group = nil
		var bill *drug
		if alt != nil && p.r.intn(3) == 0 {
			bill = alt
			billed++
		}
		sales++
		dd := p.r.between(day+1, last)
		tt := p.timeAt(dd, x)
		if first < 0 || tt < first {
			first = tt
		}
		p.plan(dd, tt, x, 1, func(day int, t int64) int {
			dn := p.o.startDay + int32(day)
			// Not a patient who takes the drug every month: 2–5 more packs would make
			// the photo's buyer look over-supplied (C3) besides.
			who, ok := p.personNear(in, dn, dn, func(q *person) bool {
				return allowed(d, q, dn) && (bill == nil || allowed(bill, q, dn)) && d.chronic&q.chronic == 0
			})
			if !ok {
				return 0
			}
			s.plantStart()
			s.plantCodes(g, bill)
			s.plantSettle(day, t, in, &who)
			l.got++
			return 1
		})
	}
	size := p.r.between(2, 5)
	for _, b := range uses {
		if len(group) >= size || slices.Contains(group, b) {
			flush()
			size = p.r.between(2, 5)
		}
		group = append(group, b)
	}
	flush()
	l.t = first
	l.Note = fmt.Sprintf("%d boxes of %s bought on %s with every code scanned; the codes reused %d times on %d extra insured sales until %s",
		n, d.name, p.date(day), len(uses), sales, p.date(last))
	if billed > 0 {
		l.sev = tracewatch.SeverityViolation
		l.Note += fmt.Sprintf(", %d of them billed as %s (%s)", billed, alt.name, alt.code)
	}
}

// scheduleEmptySwipe plans an empty_swipe case: at an institution that scans all its
// inbound codes, an insured sale of codes nobody ever shipped.
func (p *planter) scheduleEmptySwipe() {
	ok := func(in *institution) bool {
		return in.collect >= 1000 && in.typ != typeHospital && p.w.regions[in.county].home && hasSlot(in, plain)
	}
	x := p.pickInst(ok)
	if x < 0 {
		// Make one institution a full scanner before anything is simulated.
		x = p.pickInst(func(in *institution) bool {
			return in.typ != typeHospital && p.w.regions[in.county].home && hasSlot(in, plain)
		})
		if x < 0 {
			return
		}
		p.w.insts[x].collect = 1000
	}
	in := p.w.insts[x]
	day := p.dayIn(0, p.o.Days-2)
	lines := 1 + p.r.intn(2)
	p.plan(day, p.timeAt(day, x), x, lines, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		var ds []*drug
		for range lines {
			si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) && !slices.Contains(ds, sl.d) })
			if si >= 0 {
				ds = append(ds, in.slots[si].d)
			}
		}
		who, ok := p.personNear(in, dn, dn, nil)
		if !ok || len(ds) == 0 {
			return 0
		}
		s.plantStart()
		l := p.newLabel(scEmptySwipe, t, in)
		var names []string
		for _, d := range ds {
			c := s.fakeCarton(in, d, dn, 1+p.r.intn(2))
			var bs []box
			for i := range c.n {
				bs = append(bs, box{c, i})
				l.Codes = append(l.Codes, p.boxKey(box{c, i}))
			}
			s.plantCodes(bs, nil)
			names = append(names, d.name)
		}
		setl, _ := s.plantSettle(day, t, in, &who)
		l.Settlements = []string{setl}
		l.Note = fmt.Sprintf("insured sale of %s with codes never shipped to anyone (serials no carton holds), at an institution that scans all its inbound codes",
			strings.Join(names, ", "))
		return len(ds)
	})
}

// scheduleParentChild plans a parent_child_sold case: a carton delivered one morning
// is sold whole by its carton code the next day, then one of its packs is sold again
// by its own code.
func (p *planter) scheduleParentChild() {
	if p.o.Days < 5 {
		return
	}
	x := p.pickInst(func(in *institution) bool {
		return in.typ != typeVillage && hasSlot(in, func(d *drug) bool { return plain(d) && d.carton <= 30 })
	})
	if x < 0 {
		return
	}
	in := p.w.insts[x]
	day := p.dayIn(0, min(p.o.Days*2/3, p.o.Days-4))
	t := int64(day)*86400 + 8*3600 + int64(p.r.intn(4*3600))
	p.plan(day, t, x, 0, func(day int, t int64) int {
		s := p.s
		si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) && sl.d.carton <= 30 })
		sl := in.slots[si]
		d := sl.d
		dn := p.o.startDay + int32(day)
		manu, expiry := s.lotFor(d, dn, false)
		c := s.newCartons(in, d, 1, manu, expiry)[0]
		s.purchase(t, in, sl, []*carton{c}) // scanned at the institution's rate; kept apart, sold whole
		for i := range c.n {
			p.used[box{c, i}] = true
		}
		p.parentChildSale(day+1, x, c)
		return 0
	})
}

// parentChildSale plans the sale of carton c by its carton code on day, and the sale of
// one of its packs a few days later.
func (p *planter) parentChildSale(day, x int, c *carton) {
	w := p.w
	in := w.insts[x]
	d := c.d
	child := box{c, int32(p.r.intn(int(c.n)))}
	seller := x
	if p.r.intn(10) < 3 {
		city := w.regions[in.county].city
		if y := p.pickInst(func(o *institution) bool {
			return o != in && o.typ != typeVillage && w.regions[o.county].city == city
		}); y >= 0 {
			seller = y
		}
	}
	sin := w.insts[seller]
	dd := min(day+p.r.between(1, 10), p.o.Days-2)
	t := p.timeAt(day, x)
	l := p.newLabel(scParentChild, t, sin)
	l.Codes = []string{string(p.s.rd.code.appendCartonKey(nil, d, c.serial)), p.boxKey(child)}
	l.need = 2
	l.Day = p.date(dd)
	l.Note = fmt.Sprintf("carton of %d packs of %s sold whole by its carton code at %s on %s; one of its packs sold again by its own code at %s on %s",
		c.n, d.name, in.code, p.date(day), sin.code, p.date(dd))
	p.plan(day, t, x, 1, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		who, ok := p.personNear(in, dn, dn, func(q *person) bool { return allowed(d, q, dn) })
		if !ok {
			return 0
		}
		s.plantStart()
		s.items = append(s.items, item{slot: -1, d: d, nb: 1, qty: c.n, unit: d.price, amount: int64(c.n) * d.price,
			scanned: true, carton: true})
		s.boxes = append(s.boxes, box{c, 0})
		setl, _ := s.plantSettle(day, t, in, &who)
		l.Settlements = append(l.Settlements, setl) // a whole carton is over-supply too (C3)
		l.got++
		return 1
	})
	p.plan(dd, p.timeAt(dd, seller), seller, 1, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		who, ok := p.personNear(sin, dn, dn, func(q *person) bool { return allowed(d, q, dn) })
		if !ok {
			return 0
		}
		s.plantStart()
		s.plantCodes([]box{child}, nil)
		setl, _ := s.plantSettle(day, t, sin, &who)
		l.Settlements = append(l.Settlements, setl)
		l.got++
		return 1
	})
}

// scheduleMalformed plans a malformed_message case: an extra message that ingest must
// quarantine (kind 0: a 3505 row without rtal_docno, 1: sel_retn_cnt "abc", 2: a line
// cut short, not JSON).
func (p *planter) scheduleMalformed(kind int) {
	x := p.pickInst(func(in *institution) bool { return len(in.slots) > 0 })
	if x < 0 {
		return
	}
	in := p.w.insts[x]
	day := p.dayIn(0, p.o.Days-1)
	t := p.timeAt(day, x)
	l := p.newLabel(scMalformed, t, in)
	p.plan(day, t, x, 0, func(day int, t int64) int {
		p.s.malformed(day, t, in, kind, l)
		return 0
	})
}

// scheduleRestricted plans a gender_restricted or age_restricted case: a drug limited
// to one gender (or an age range) settled for a person outside the limit.
func (p *planter) scheduleRestricted(sc int) {
	limited := func(d *drug) bool {
		if !d.coded || !d.reimb {
			return false
		}
		if sc == scGender {
			return d.gender != 0 && d.minAge == 0 && d.maxAge == 0
		}
		return d.gender == 0 && (d.maxAge > 0 || d.minAge >= 8)
	}
	x := p.pickInst(func(in *institution) bool { return hasSlot(in, limited) })
	if x < 0 {
		return
	}
	in := p.w.insts[x]
	day := p.dayIn(0, p.o.Days-2)
	p.plan(day, p.timeAt(day, x), x, 1, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		si := p.pickSlot(in, func(sl *slot) bool { return limited(sl.d) && sl.whole > 0 })
		if si < 0 {
			return 0
		}
		d := in.slots[si].d
		who, ok := p.personNear(in, dn, dn, func(q *person) bool {
			age := ageAt(q.birth, dn)
			if sc == scGender {
				return q.gender != d.gender && age >= 18
			}
			if d.maxAge > 0 {
				return age >= 18
			}
			return age >= 2 && age < d.minAge
		})
		if !ok {
			return 0
		}
		s.plantStart()
		if !s.plantTake(day, t, in, si, 1) {
			return 0
		}
		setl, _ := s.plantSettle(day, t, in, &who)
		l := p.newLabel(sc, t, in)
		l.Persons = []string{p.psn(&who)}
		l.Settlements = []string{setl}
		if sc == scGender {
			g := map[uint8]string{1: "men", 2: "women"}
			l.Note = fmt.Sprintf("%s (%s, for %s only) settled for a %s", d.name, d.code, g[d.gender], map[uint8]string{1: "man", 2: "woman"}[who.gender])
		} else {
			l.Note = fmt.Sprintf("%s (%s, %s) settled for a person aged %d", d.name, d.code, restriction(d), ageAt(who.birth, dn))
		}
		return 1
	})
}

// homePerson draws a person of the home province alive through the window, aged lo to
// hi on its first day.
func (p *planter) homePerson(lo, hi int) (person, bool) {
	w := p.w
	a, b := p.o.startDay, p.o.startDay+int32(p.o.Days)
	for range 400 {
		q := w.person(p.r.intn(max(w.homeP, 1)))
		if age := ageAt(q.birth, a); q.alive(a) && q.alive(b) && age >= lo && age <= hi {
			return q, true
		}
	}
	return person{}, false
}

// scheduleOverSupply plans an over_supply case: a person buys 30 days of the same
// chronic drug (at its daily dose, at least a month in whole packs) at 2–4 institutions
// within a few days: two purchases alone hold more than 45 days' supply, beyond the
// knowledge base's 30 days by more than half.
func (p *planter) scheduleOverSupply() {
	w := p.w
	if p.o.Days < 8 {
		return
	}
	who, ok := p.homePerson(40, 85)
	if !ok {
		return
	}
	city := w.regions[who.region].city
	stockers := func(d *drug, sameCity bool) []int {
		var out []int
		for _, in := range w.insts {
			if p.free(in) && in.typ != typeVillage && (!sameCity || w.regions[in.county].city == city) && slotOf(in, d) >= 0 {
				out = append(out, in.idx)
			}
		}
		return out
	}
	var ds []*drug
	for _, d := range w.cat.drugs {
		// Not a drug the person takes already: a case that the shelves leave with one
		// purchase is then a month's supply, which the person holds honestly.
		if d.chronic != 0 && plain(d) && d.chronic&who.chronic == 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return
	}
	var d *drug
	var at []int
	for _, sameCity := range []bool{true, false} {
		off := p.r.intn(len(ds))
		for k := range ds {
			if c := stockers(ds[(off+k)%len(ds)], sameCity); len(c) >= 2 {
				d, at = ds[(off+k)%len(ds)], c
				break
			}
		}
		if d != nil {
			break
		}
	}
	if d == nil {
		return
	}
	for i := len(at) - 1; i > 0; i-- {
		j := p.r.intn(i + 1)
		at[i], at[j] = at[j], at[i]
	}
	k := min(len(at), p.r.between(2, 4))
	spare := slices.Concat(at[k:], stockers(d, false)) // where to try when a shelf is empty
	day := p.dayIn(0, p.o.Days-8)
	want := d.monthPacks(true)
	l := p.newLabel(scOverSupply, 0, nil)
	l.Persons = []string{p.psn(&who)}
	l.need = 2
	l.Day = p.date(day)
	l.t = int64(day) * 86400
	var bought []string // institutions where the person bought
	for _, x := range at[:k] {
		p.plan(day, p.timeAt(day, x), x, 1, func(day int, t int64) int {
			s := p.s
			// Where the shelf is empty, the person tries another stocker of the drug.
			for _, y := range append([]int{x}, spare...) {
				in := w.insts[y]
				if slices.Contains(bought, in.code) {
					continue
				}
				// A month's supply, from a second batch when the first runs out (a
				// line lists one batch); where the shelf has less, the packs go back
				// and the person tries elsewhere.
				s.plantStart()
				si := slotOf(in, d)
				for got := 0; got < want && len(s.items) < 2 && s.plantTake(day, t, in, si, want-got); {
					got = len(s.boxes)
				}
				if len(s.boxes) < want {
					for _, b := range s.boxes {
						in.slots[si].putBack(b)
					}
					continue
				}
				setl, _ := s.plantSettle(day, t, in, &who)
				l.Settlements = append(l.Settlements, setl)
				l.got++
				if int64(want*d.pack)*int64(tracewatch.QtyScale) > int64(monthDays*3/2)*int64(d.dose) {
					// This purchase alone holds more than 45 days: the case stands even
					// if the shelves leave the next purchase out (it is in the data).
					l.got = max(l.got, l.need)
				}
				bought = append(bought, in.code)
				l.Note = fmt.Sprintf("%d days of %s (%d packs of %d, %s a day) bought at each of %s within a few days",
					d.supplyDays(int64(want*d.pack)), d.name, want, d.pack, d.dose, strings.Join(bought, ", "))
				return len(s.items)
			}
			return 0
		})
		day = min(day+p.r.intn(3), p.o.Days-2)
	}
}

// scheduleHighFrequency plans a high_frequency case: 8–11 insured purchases within 7
// days at 1–3 institutions near the person.
func (p *planter) scheduleHighFrequency() {
	w := p.w
	if p.o.Days < 8 {
		return
	}
	who, ok := p.homePerson(20, 80)
	if !ok {
		return
	}
	rg := w.regions[who.region]
	var near []int
	for _, sameCity := range []bool{true, false} {
		for _, in := range w.insts {
			if p.free(in) && (!sameCity || w.regions[in.county].city == rg.city) && in.typ != typeHospital &&
				w.regions[in.county].home {
				near = append(near, in.idx)
			}
		}
		if len(near) > 0 {
			break
		}
	}
	if len(near) == 0 {
		return
	}
	var insts []int
	for range p.r.between(1, 3) {
		insts = append(insts, near[p.r.intn(len(near))])
	}
	k := p.r.between(9, 12) // one may fail (an empty shelf): eight must stand
	day0 := p.dayIn(0, p.o.Days-8)
	l := p.newLabel(scHighFrequency, int64(day0)*86400, nil)
	l.Persons = []string{p.psn(&who)}
	l.need = 8
	for range k {
		x := insts[p.r.intn(len(insts))]
		in := w.insts[x]
		day := day0 + p.r.intn(7)
		p.plan(day, p.timeAt(day, x), x, 1, func(day int, t int64) int {
			setl, ok := p.plantOnePack(day, t, in, &who)
			if !ok {
				return 0
			}
			l.Settlements = append(l.Settlements, setl)
			l.got++
			return 1
		})
	}
	l.Note = fmt.Sprintf("%d insured purchases within 7 days from %s", k, p.date(day0))
}

// scheduleAfterDeath plans an after_death case: 1–3 insured purchases in the name of a
// person after the death date persons.csv gives.
func (p *planter) scheduleAfterDeath() {
	w := p.w
	last := p.o.startDay + int32(p.o.Days) - 3
	var who person
	found := false
	for range 20000 {
		q := w.person(p.r.intn(w.persons))
		if q.death != 0 && q.death <= last {
			who, found = q, true
			break
		}
	}
	if !found {
		return
	}
	home := p.s.homeOf(&who)
	rg := w.regions[who.region]
	if home < 0 || !p.free(w.insts[home]) {
		home = p.pickInst(func(in *institution) bool {
			return w.regions[in.county].city == rg.city && in.typ != typeHospital
		})
	}
	if home < 0 {
		home = p.pickInst(func(in *institution) bool { return in.typ != typeHospital && w.regions[in.county].home == rg.home })
	}
	if home < 0 {
		return
	}
	in := w.insts[home]
	lo := max(0, int(who.death-p.o.startDay)+1)
	l := p.newLabel(scAfterDeath, 0, in)
	l.Persons = []string{p.psn(&who)}
	l.need = 1
	l.t = -1
	n := p.r.between(1, 3)
	for range n {
		day := p.dayIn(lo, p.o.Days-2)
		t := p.timeAt(day, home)
		if l.t < 0 || t < l.t {
			l.t = t
		}
		p.plan(day, t, home, 1, func(day int, t int64) int {
			s := p.s
			si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) && sl.whole > 0 })
			if si < 0 {
				return 0
			}
			s.plantStart()
			if !s.plantTake(day, t, in, si, 1) {
				return 0
			}
			setl, _ := s.plantSettle(day, t, in, &who)
			l.Settlements = append(l.Settlements, setl)
			l.got++
			return 1
		})
	}
	l.Note = fmt.Sprintf("the person died on %s (persons.csv death_date); %d insured purchases in their name afterwards",
		string(appendDate(nil, who.death)), n)
}

// scheduleGang plans a gang case: 4–8 persons (one case in four: 10–50) who, 5 or 6 times, buy the same 1–4 drugs
// within an hour of each other at the same one or two pharmacies.
func (p *planter) scheduleGang() {
	w := p.w
	if p.o.Days < 10 {
		return
	}
	x := p.pickInst(func(in *institution) bool { return in.typ == typePharmacy && hasSlot(in, plain) })
	if x < 0 {
		return
	}
	main := w.insts[x]
	insts := []int{x}
	city := w.regions[main.county].city
	if p.r.intn(2) == 0 {
		if y := p.pickInst(func(in *institution) bool {
			return in != main && in.typ == typePharmacy && w.regions[in.county].city == city
		}); y >= 0 {
			insts = append(insts, y)
		}
	}
	var ds []*drug
	for len(ds) < 2 {
		ds = ds[:0]
		for _, sl := range main.slots {
			if d := sl.d; plain(d) && !d.split && (len(insts) == 1 || slotOf(w.insts[insts[1]], d) >= 0) {
				ds = append(ds, d)
			}
		}
		if len(ds) < 2 {
			if len(insts) == 1 {
				return
			}
			insts = insts[:1] // the two share too few drugs: the first alone
		}
	}
	for i := len(ds) - 1; i > 0; i-- {
		j := p.r.intn(i + 1)
		ds[i], ds[j] = ds[j], ds[i]
	}
	ds = ds[:min(len(ds), 2+p.r.intn(3)*p.r.intn(3)/2)]
	g := 4 + p.r.intn(5)*p.r.intn(5)/4 // 4–8, mostly 4–5
	if p.r.intn(4) == 0 {
		// A large ring (10–50 cards), buying one or two drugs each time, so that the
		// shelves can serve it: C10 must find it as one group, not as fragments.
		g = 10 + p.r.intn(41)
		ds = ds[:min(len(ds), 1+p.r.intn(2))]
	}
	a, b := p.o.startDay, p.o.startDay+int32(p.o.Days)
	var members []person
	for range g {
		q, ok := p.personNear(main, a, b, func(q *person) bool {
			age := ageAt(q.birth, a)
			if age < 20 || age > 75 {
				return false
			}
			for _, m := range members {
				if m.idx == q.idx {
					return false
				}
			}
			return true
		})
		if ok {
			members = append(members, q)
		}
	}
	if len(members) < 4 {
		return
	}
	occasions := 5 + p.r.intn(2)
	var days []int
	for len(days) < occasions {
		d := p.dayIn(0, p.o.Days-3)
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	l := p.newLabel(scGang, 0, main)
	for _, m := range members {
		l.Persons = append(l.Persons, p.psn(&m))
	}
	// The case stands when what was bought makes a gang by the scenario's definition,
	// whatever the shelves left out: at least three members, each linked to another by
	// buying one of the same drugs on at least three of the days (a case is kept as soon
	// as that holds, so a partly served gang is labelled, not left in the data unnamed).
	bought := make([][]uint8, occasions) // per occasion, per member: bit i for ds[i] bought
	for k := range bought {
		bought[k] = make([]uint8, len(members))
	}
	l.need = 1
	var names []string
	for _, d := range ds {
		names = append(names, d.name)
	}
	for k, day := range days {
		x := insts[p.r.intn(len(insts))]
		in := w.insts[x]
		base := p.timeAt(day, x)
		base = min(base, int64(day)*86400+86400-600-3600-60)
		if k == 0 {
			l.t = base
		}
		for mi, m := range members {
			tm := base + int64(p.r.intn(3600))
			p.trips.reserve(m.idx, x, tm)
			p.plan(day, tm, x, len(ds), func(day int, t int64) int {
				s := p.s
				s.plantStart()
				var got uint8
				for di, d := range ds {
					if si := slotOf(in, d); si >= 0 && s.plantTake(day, t, in, si, 1) {
						got |= 1 << di
					}
				}
				if len(s.items) == 0 {
					return 0
				}
				s.plantSettle(day, t, in, &m)
				bought[k][mi] = got
				if l.got == 0 && gangStands(bought) {
					l.got = 1
				}
				return len(s.items)
			})
		}
	}
	var where []string
	for _, x := range insts {
		where = append(where, w.insts[x].code)
	}
	l.Note = fmt.Sprintf("%d persons buying %s together, within an hour, on %d days at %s",
		len(members), strings.Join(names, ", "), occasions, strings.Join(where, " and "))
}

// gangStands reports whether the purchases of a gang case, bought[occasion][member]
// (bits of the drugs each member bought that day), make a gang as C10's defaults define
// it: at least three members connected by pairs who bought one of the same drugs on at
// least three occasions.
func gangStands(bought [][]uint8) bool {
	n := 0
	if len(bought) > 0 {
		n = len(bought[0])
	}
	linked := func(i, j int) bool {
		days := 0
		for _, occ := range bought {
			if occ[i]&occ[j] != 0 {
				days++
			}
		}
		return days >= 3
	}
	seen := make([]bool, n)
	for start := range n {
		if seen[start] {
			continue
		}
		size, stack := 0, []int{start}
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for j := range n {
				if !seen[j] && linked(i, j) {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		if size >= 3 {
			return true
		}
	}
	return false
}
