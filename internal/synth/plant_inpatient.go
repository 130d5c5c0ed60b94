package synth

import (
	"fmt"
	"slices"
	"strings"

	"tracewatch"
)

// Bed holding (挂床住院, C6) and phantom stays (虚假住院, C13), and their honest
// look-alikes.
//
// Hospitals bill inpatient stays day by day (a bed, nursing and infusion line on each
// day, at 08:00) except the few that bill a stay in one go at the admission (cnt = days);
// the days of their stays say nothing. Honest stays: admitted late in the evening (no
// line that day), the discharge day billed or not, now and then one or two days without
// lines (a day's leave), a stay settled (2304) with no 2301 at all, the person buying at
// a pharmacy on the admission day before the admission or on the discharge day after
// it, the person settling at the hospital's own outpatient clinic during the stay. No
// honest person buys anywhere else while admitted (sim.basket).
//
// Planted bed_holding: a stay billed day by day with three to five days in the middle
// without any line (可疑), or one with an insured purchase at a pharmacy in another part
// of town on a day in the middle (可疑), or both (高度可疑). Planted phantom_stay: a stay
// of 7–15 days at a hospital that bills day by day, billed on the admission day only
// (every day's bed and nursing in one go), or billed day by day but settled at two to
// three times its fee lines (高度可疑). The two never share a stay: C13 owns the stays
// with too little care, C6 leaves them alone.

// The RNG streams of this file (explicit values, beside the iota block of rng.go).
const (
	streamStayStyle uint64 = 0x7a1c_0101 // which hospitals bill in one go
	streamStayLook  uint64 = 0x7a1c_0102 // honest look-alikes
	streamStayPlant uint64 = 0x7a1c_0103 // planted cases
)

// Shares (‰) of the honest look-alikes.
const (
	oneGoHospitalPermille = 200 // hospitals that bill a stay in one go (at least one of two or more)
	lateAdmitPermille     = 100 // stays admitted at 21:00 or later
	billLastPermille      = 500 // stays with lines on the discharge day
	leavePermille         = 60  // stays with one or two days without lines
	noDetailPermille      = 20  // stays settled without any 2301
	nearBuyPermille       = 60  // stays whose person buys at a pharmacy just before the admission or after the discharge
	ownClinicPermille     = 30  // stays whose person settles at the hospital's outpatient clinic meanwhile
)

// inStay reports whether person idx is admitted at t (seconds since the first midnight).
func (p *planter) inStay(idx int, t int64) bool {
	if p == nil || p.stays == nil {
		return false
	}
	for _, st := range p.stays.byPerson[idx] {
		if t >= st.adm && t <= st.dis {
			return true
		}
	}
	return false
}

// settledAt is an insured settlement of a person with a stay: when and where.
type settledAt struct {
	t    int64
	inst int
}

// noteSettlement records an insured settlement (2207) of person idx at institution inst
// at t, when the person has a stay.
func (p *planter) noteSettlement(idx, inst int, t int64) {
	if p == nil || p.stays == nil || len(p.stays.byPerson[idx]) == 0 {
		return
	}
	p.stays.settled[idx] = append(p.stays.settled[idx], settledAt{t, inst})
}

// settledAway reports whether the person of st settled at another institution while
// admitted (a planted case of another scenario bought in the person's name).
func (p *planter) settledAway(st *stay) bool {
	for _, x := range p.stays.settled[st.person.idx] {
		if x.inst != st.hosp && x.t > st.adm-600 && x.t < st.dis+600 {
			return true
		}
	}
	return false
}

// labelledPersons returns the persons the labels made so far name (no honest stay
// takes them: their planted purchases could fall in it).
func (p *planter) labelledPersons() map[string]bool {
	out := map[string]bool{}
	for _, l := range p.labels {
		for _, ps := range l.Persons {
			out[ps] = true
		}
	}
	return out
}

// stayStyles draws the hospitals that bill in one go; of two hospitals or more, at least
// one does (the look-alike is in every province that has room for it).
func (p *planter) stayStyles(hosps []int) map[int]bool {
	r := newRNG(p.o.Seed, streamStayStyle)
	out := map[int]bool{}
	low, lowU := -1, 1000
	for _, h := range hosps {
		u := r.intn(1000)
		if u < oneGoHospitalPermille {
			out[h] = true
		}
		if u < lowU {
			low, lowU = h, u
		}
	}
	if len(out) == 0 && len(hosps) >= 2 {
		out[low] = true
	}
	return out
}

// stayLookalikes shapes the honest stays planned so far (all but the labelled ones).
func (p *planter) stayLookalikes(plan *inpatientPlan) {
	r := newRNG(p.o.Seed, streamStayLook)
	w := p.w
	var persons []int
	for q := range plan.byPerson {
		persons = append(persons, q)
	}
	slices.Sort(persons)
	for _, q := range persons {
		for _, st := range plan.byPerson[q] {
			st.billLast = r.permille(billLastPermille)
			if st.label != nil {
				continue
			}
			first, last := int(st.adm/86400), int(st.dis/86400)
			if r.permille(lateAdmitPermille) {
				st.adm = int64(first)*86400 + 21*3600 + int64(r.intn(2*3600))
			}
			if last-first >= 4 && r.permille(leavePermille) {
				a := r.between(2, last-first-2)
				st.empty = [2]int{a, a + r.between(1, 2)}
			}
			if r.permille(noDetailPermille) {
				st.noLines = true
			}
			hosp := w.insts[st.hosp]
			switch u := r.intn(1000); {
			case u < nearBuyPermille:
				// At a pharmacy near the person: before the admission (same day) or after
				// the discharge.
				x := p.nearPharmacy(r, &st.person)
				if x < 0 {
					continue
				}
				t := st.dis + int64(r.between(1800, 3*3600))
				if st.adm%86400 >= 11*3600 && r.intn(2) == 0 {
					t = st.adm - int64(r.between(1800, 2*3600))
				}
				p.stayPurchase(x, st.person, t, nil, 0)
			case u < nearBuyPermille+ownClinicPermille:
				if last-first < 2 || !hasSlot(hosp, plain) {
					continue
				}
				t := int64(r.between(first+1, last-1))*86400 + int64(r.between(9*3600, 16*3600))
				p.stayPurchase(st.hosp, st.person, t, nil, 0)
			}
		}
	}
}

// nearPharmacy draws a pharmacy of the person's county (else city) free of any planted
// role, with a plain drug in stock; -1 when there is none.
func (p *planter) nearPharmacy(r *rng, q *person) int {
	w := p.w
	rg := w.regions[q.region]
	for _, sameCounty := range []bool{true, false} {
		var c []int
		for _, in := range w.insts {
			if in.typ == typePharmacy && p.free(in) && hasSlot(in, plain) &&
				(in.county == q.region || !sameCounty && w.regions[in.county].city == rg.city) {
				c = append(c, in.idx)
			}
		}
		if len(c) > 0 {
			return c[r.intn(len(c))]
		}
	}
	return -1
}

// stayPurchase plans an insured purchase of one plain drug by q at institution x at t;
// l (when not nil) gets its settlement, and the severity sev when the purchase is made.
func (p *planter) stayPurchase(x int, q person, t int64, l *plantLabel, sev tracewatch.Severity) {
	in := p.w.insts[x]
	day := int(t / 86400)
	if day < 0 || day >= p.o.Days {
		return
	}
	p.plan(day, t, x, 1, func(day int, t int64) int {
		s := p.s
		dn := p.o.startDay + int32(day)
		si := p.pickSlot(in, func(sl *slot) bool { return plain(sl.d) && sl.whole > 0 && allowed(sl.d, &q, dn) })
		if si < 0 {
			return 0
		}
		s.plantStart()
		if !s.plantTake(day, t, in, si, 1) {
			return 0
		}
		setl, _ := s.plantSettle(day, t, in, &q)
		if l == nil {
			s.fr.lines -= len(s.items) // an honest purchase: no planted line
		}
		if l != nil {
			l.Settlements = append(l.Settlements, setl)
			l.got++
			if sev != 0 {
				l.sev = sev
			}
		}
		return 1
	})
}

// scheduleStayCases plans the bed_holding and phantom_stay cases. pick draws a patient
// of hospital h for days [a, b] with diagnosis dx (false: none); times sets a stay's
// admission and discharge; add plans its discharge.
func (p *planter) scheduleStayCases(hosps []int, plan *inpatientPlan, pick func(r *rng, h, dx, a, b int) (person, bool),
	times func(st *stay, admDay, disDay int), add func(st *stay)) {
	r := newRNG(p.o.Seed, streamStayPlant)
	w := p.w
	days := p.o.Days
	var daily []int
	for _, h := range hosps {
		if !plan.oneGo[h] && p.free(w.insts[h]) {
			daily = append(daily, h)
		}
	}
	if len(daily) == 0 || days < 20 {
		return
	}
	// draw plans a stay of los days (its discharge day at most days-2).
	draw := func(los int) (*stay, bool) {
		for range 20 {
			h := daily[r.intn(len(daily))]
			dx := r.pick(diagnosisCum)
			if diagnoses[dx].code == "O80" {
				continue
			}
			d := los + r.intn(days-1-los)
			q, ok := pick(r, h, dx, d-los, d)
			if !ok {
				continue
			}
			st := &stay{hosp: h, person: q, dx: dx, billLast: true}
			times(st, d-los, d)
			st.adm = int64(d-los)*86400 + 8*3600 + int64(r.intn(6*3600)) // admitted by 14:00
			return st, true
		}
		return nil, false
	}
	for k := range p.n[scBedHolding] {
		los := r.between(9, 14)
		st, ok := draw(los)
		if !ok {
			continue
		}
		variant := k % 3 // 0 days without care, 1 a purchase elsewhere, 2 both
		l := p.newLabel(scBedHolding, st.adm, w.insts[st.hosp])
		l.Persons = []string{p.psn(&st.person)}
		l.need = 1
		first := int(st.adm / 86400)
		var notes []string
		if variant != 1 {
			n := r.between(3, 5)
			a := r.between(2, los-1-n)
			st.empty = [2]int{a, a + n}
			notes = append(notes, fmt.Sprintf("no fee line on %d days from %s", n, p.date(first+a)))
		}
		if variant != 0 {
			x := p.nearPharmacy(r, &st.person)
			if x < 0 {
				l.need = 99 // never stands; the stay is planned anyway and stays honest
				if variant == 1 {
					add(st)
					continue
				}
				l.need = 1
			} else {
				lo, hi := 1, los-1
				if st.empty[1] > 0 {
					lo, hi = st.empty[0], st.empty[1]-1 // bought while away
				}
				d := first + r.between(lo, hi)
				t := int64(d)*86400 + int64(r.between(9*3600, 18*3600))
				var sev tracewatch.Severity
				if variant == 1 {
					l.need = 2
				} else {
					sev = tracewatch.SeverityHighlySuspicious // both signs
				}
				p.stayPurchase(x, st.person, t, l, sev)
				notes = append(notes, fmt.Sprintf("an insured purchase at %s on %s while admitted", w.insts[x].code, p.date(d)))
			}
		}
		l.Note = fmt.Sprintf("stay at %s from %s to %s: %s", w.insts[st.hosp].code, p.date(first), p.date(int(st.dis/86400)), strings.Join(notes, "; "))
		st.label2 = l
		add(st)
	}
	for k := range p.n[scPhantomStay] {
		los := r.between(7, 14)
		st, ok := draw(los)
		if !ok {
			continue
		}
		l := p.newLabel(scPhantomStay, st.adm, w.insts[st.hosp])
		l.Persons = []string{p.psn(&st.person)}
		l.need = 1
		first, last := int(st.adm/86400), int(st.dis/86400)
		if k%2 == 0 {
			st.oneGo = true
			l.Note = fmt.Sprintf("stay at %s from %s to %s (%d days) billed on the admission day only", w.insts[st.hosp].code, p.date(first), p.date(last), last-first+1)
		} else {
			// Settled at 2–3 times its fee lines: the fees beyond them are worked out
			// when the stay is billed (settle), from the lines it has.
			st.extraTenths = r.between(20, 30)
			l.Note = fmt.Sprintf("stay at %s from %s to %s", w.insts[st.hosp].code, p.date(first), p.date(last))
		}
		st.label2 = l
		add(st)
	}
}
