package synth

import (
	"fmt"
	"slices"
	"strings"
)

// The resale_ring scenario (C12 医保药品倒卖 / 电子凭证套现): a few persons buy resellable
// drugs with the insurance again and again at several pharmacies of one city, and one or
// two 回流药 shops of that city sell the boxes again, days later, to other insured
// persons. Each box sold again is also T1's duplicate: labelled resale_ring_box for
// trace.duplicate (codes, the resale's person and settlement), while the ring's label
// names the buyers and the settlements of their purchases (no codes: a code belongs to
// one label).
//
// The ring's decisions draw from a stream of their own, so that adding the scenario
// does not shift the draws of the others.

// streamResaleRing is the ring planting's PCG stream (explicit, outside rng.go's block).
const streamResaleRing uint64 = 0x7a1c_0401

// ringMinPrice is the least price (fen) of a drug the ring prefers to buy: 回流药 are the
// drugs worth reselling.
const ringMinPrice = 3000

// scheduleResaleRings plans the resale_ring cases.
func (p *planter) scheduleResaleRings() {
	n := p.n[scResaleRing]
	if n == 0 || p.o.Days < 20 {
		return
	}
	r := newRNG(p.o.Seed, streamResaleRing)
	saved := p.r
	p.r = r
	defer func() { p.r = saved }()
	taken := map[int]bool{} // shops already a ring's 回流 shop: rings do not share one
	for range n {
		p.scheduleResaleRing(r, taken)
	}
}

// withRing runs f with the planter drawing from the ring's stream r.
func (p *planter) withRing(r *rng, f func()) {
	saved := p.r
	p.r = r
	f()
	p.r = saved
}

// ringDrug reports whether d suits a ring's purchase: plain (coded, reimbursable, no
// limits) and sold by the pack.
func ringDrug(d *drug) bool { return plain(d) && !d.split }

// scheduleResaleRing plans one ring: 2–3 members who each buy 2–4 boxes, one a visit, at
// 1–3 pharmacies of a city (in a province too small for that, at another institution of
// the province); each box is sold again 2–12 days later by the ring's main
// 回流 shop (every member's first box) or a second one of the city.
func (p *planter) scheduleResaleRing(r *rng, taken map[int]bool) {
	w := p.w
	// The main shop: a pharmacy of a home city with another pharmacy to buy at, below
	// 95 % inbound scanning where it can (so that its resales are not also per-code
	// no-source cases).
	peers := func(in *institution) bool {
		if in.typ != typePharmacy || !w.regions[in.county].home || taken[in.idx] {
			return false
		}
		city := w.regions[in.county].city
		for _, o := range w.insts {
			if o != in && o.typ == typePharmacy && p.free(o) && w.regions[o.county].city == city && hasSlot(o, ringDrug) {
				return true
			}
		}
		return false
	}
	main := p.pickInst(func(in *institution) bool { return in.collect < 950 && peers(in) })
	if main < 0 {
		main = p.pickInst(peers)
	}
	if main < 0 { // a small province: a pharmacy alone in its city, the ring buys elsewhere
		main = p.pickInst(func(in *institution) bool {
			return in.typ == typePharmacy && w.regions[in.county].home && !taken[in.idx]
		})
	}
	if main < 0 {
		return
	}
	city := w.regions[w.insts[main].county].city
	inCity := func(in *institution) bool {
		return in.typ == typePharmacy && in.idx != main && w.regions[in.county].city == city && hasSlot(in, ringDrug)
	}
	var shops []int
	for range 2 + r.intn(2) {
		if x := p.pickInst(inCity); x >= 0 && !slices.Contains(shops, x) {
			shops = append(shops, x)
		}
	}
	if len(shops) == 0 {
		x := p.pickInst(func(in *institution) bool {
			return in.typ != typeHospital && in.idx != main && w.regions[in.county].home && hasSlot(in, ringDrug)
		})
		if x < 0 {
			return
		}
		shops = append(shops, x)
	}
	resellers := []int{main}
	if r.intn(2) == 0 {
		if y := p.pickInst(func(in *institution) bool { return inCity(in) && !taken[in.idx] && !slices.Contains(shops, in.idx) }); y >= 0 {
			resellers = append(resellers, y)
		}
	}
	for _, x := range resellers {
		taken[x] = true
	}
	a, b := p.o.startDay, p.o.startDay+int32(p.o.Days)
	var members []person
	for range 2 + r.intn(2) {
		q, ok := p.personNear(w.insts[shops[0]], a, b, func(q *person) bool {
			age := ageAt(q.birth, a)
			return age >= 20 && age <= 75 && !slices.ContainsFunc(members, func(m person) bool { return m.idx == q.idx })
		})
		if ok {
			members = append(members, q)
		}
	}
	if len(members) < 2 {
		return
	}
	l := p.newLabel(scResaleRing, 0, w.insts[main])
	l.need = 1
	first := int64(-1)
	for _, m := range members {
		l.Persons = append(l.Persons, p.psn(&m))
	}
	resold := make([]int, len(members))  // per member: boxes sold again
	atMain := make([]bool, len(members)) // per member: one of them by the main shop
	var names []string
	for mi, m := range members {
		k := 2 + r.intn(3)
		var days []int
		for len(days) < k {
			if d := p.dayIn(0, p.o.Days-8); !slices.Contains(days, d) {
				days = append(days, d)
			}
		}
		slices.Sort(days)
		for j, day := range days {
			x := shops[r.intn(len(shops))]
			in := w.insts[x]
			t := p.timeAt(day, x)
			if first < 0 || t < first {
				first = t
			}
			reseller := main
			if j > 0 {
				reseller = resellers[r.intn(len(resellers))]
			}
			p.trips.reserve(m.idx, x, t)
			p.plan(day, t, x, 1, func(day int, t int64) int {
				s := p.s
				dn := p.o.startDay + int32(day)
				// The pricier drugs first, in an order of the ring's drawing; the first
				// whose shelf has a pack.
				var dear, cheap []int
				for i, sl := range in.slots {
					if ringDrug(sl.d) && allowed(sl.d, &m, dn) {
						if sl.d.price >= ringMinPrice {
							dear = append(dear, i)
						} else {
							cheap = append(cheap, i)
						}
					}
				}
				for _, c := range [][]int{dear, cheap} {
					for i := len(c) - 1; i > 0; i-- {
						j := r.intn(i + 1)
						c[i], c[j] = c[j], c[i]
					}
				}
				s.plantStart()
				took := false
				for _, si := range append(dear, cheap...) {
					if s.plantTake(day, t, in, si, 1) {
						took = true
						break
					}
				}
				if !took {
					return 0
				}
				bx := s.boxes[s.items[0].b0]
				p.used[bx] = true
				setl, _ := s.plantSettle(day, t, in, &m)
				l.Settlements = append(l.Settlements, setl)
				d := bx.c.d
				if !slices.Contains(names, d.name) {
					names = append(names, d.name)
				}
				p.withRing(r, func() { p.scheduleRingResale(r, l, day, reseller, in, &m, bx, setl, mi, resold, atMain) })
				return 1
			})
		}
	}
	l.t = first
	var where []string
	for _, x := range shops {
		where = append(where, w.insts[x].code)
	}
	var back []string
	for _, x := range resellers {
		back = append(back, w.insts[x].code)
	}
	l.Note = fmt.Sprintf("%d persons buy resellable drugs with the insurance, 2–4 boxes each, at %s; the boxes are sold again 2–12 days later at %s",
		len(members), strings.Join(where, ", "), strings.Join(back, " and "))
}

// scheduleRingResale plans the resale of box bx, bought at a by member mi of ring l on
// day, at the reseller x: a box label for T1, and the ring stands once its members'
// boxes sold again make a ring by C12's defaults.
func (p *planter) scheduleRingResale(r *rng, l *plantLabel, day, x int, a *institution, m *person, bx box, bought string, mi int, resold []int, atMain []bool) {
	last := p.o.Days - 2
	dd := min(day+r.between(2, 12), last)
	if dd <= day || bx.c.expiry <= p.o.startDay+int32(dd) {
		return
	}
	w := p.w
	d := bx.c.d
	buyer := m.idx
	main := l.Institution == w.insts[x].code
	sold := p.date(day)
	p.plan(dd, p.timeAt(dd, x), x, 1, func(day int, t int64) int {
		s := p.s
		in := w.insts[x]
		dn := p.o.startDay + int32(day)
		var who person
		var ok bool
		p.withRing(r, func() {
			who, ok = p.personNear(in, dn, dn, func(q *person) bool { return q.idx != buyer && allowed(d, q, dn) })
		})
		if !ok {
			return 0
		}
		s.plantStart()
		s.plantCodes([]box{bx}, nil)
		setl, _ := s.plantSettle(day, t, in, &who)
		bl := p.newLabel(scResaleRingBox, t, in)
		bl.Codes = []string{p.boxKey(bx)}
		bl.Persons = []string{p.psn(&who)}
		bl.Settlements = []string{setl}
		bl.Note = fmt.Sprintf("pack of %s bought with the insurance at %s on %s by a resale ring's member (settlement %s); sold again at %s on %s",
			d.name, a.code, sold, bought, in.code, p.date(day))
		resold[mi]++
		atMain[mi] = atMain[mi] || main
		if l.got == 0 && ringStands(resold, atMain) {
			l.got = 1
		}
		return 1
	})
}

// ringStands reports whether a ring's resold boxes make a ring as C12's defaults define
// it: the members with at least 2 boxes sold again, linked through the main shop, count
// at least 3 boxes.
func ringStands(resold []int, atMain []bool) bool {
	n := 0
	for i, k := range resold {
		if k >= 2 && atMain[i] {
			n += k
		}
	}
	return n >= 3
}
