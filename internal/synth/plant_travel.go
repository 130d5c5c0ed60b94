package synth

import (
	"fmt"
	"slices"
	"strings"

	"tracewatch"
)

// Travel and uploads: the planted cases of C9 (impossible_travel) and T6A
// (upload_outage), and the honest flows they must not confuse with fraud.
//
//   - Honest persons travel at honest speed: a basket never goes to a person whose last
//     settlement (or planned chronic purchase that day, or planted purchase ahead) is in
//     another city less than honestCityGap away, or in another province less than
//     honestProvinceGap (the customer is then drawn again among the institution's
//     county, from a stream of its own, so that the simulation's draws stay as they
//     were). Every planted purchase counts as a settlement made.
//   - Honest trips (TravelTripPer100k, kept with --no-fraud): a person buys at home, then
//     at a hospital of 南昌 (the capital) or of the neighbouring province 5 to 8 hours
//     later or the next day: the look-alikes of an impossible trip.
//   - impossible_travel: a person settles at home and, minutes later, at an institution
//     in another city (可疑) or province (高度可疑).
//   - upload_outage: the institutions of a county (its hospitals aside) upload nothing
//     for 3–5 days (a broken interface); their sales go on, their deliveries wait until
//     the outage ends, their returns and cancels do not happen meanwhile (so that no pack
//     comes back to a shelf unrecorded).

// The generator's streams for this file (explicit values, outside rng.go's iota block).
const (
	streamTravel  uint64 = 0x7a1c_0301 // redraws of honest customers
	streamTrips   uint64 = 0x7a1c_0302 // honest trips
	streamOutages uint64 = 0x7a1c_0303 // where and when the outages fall
)

// Honest travel: the least gaps between two purchases of a person in two cities or two
// provinces (above C9's defaults, 1 h and 3 h, with a margin).
const (
	honestCityGap     = 2 * 3600
	honestProvinceGap = 4 * 3600
)

// travelPlan is the state of this file's flows.
type travelPlan struct {
	r, tripR *rng
	lastT    []int64 // per person: time of its latest purchase (0: none yet), +1 so that 0 stays free
	lastInst []int32
	expect   map[int][2]int64 // today's planned chronic purchases: person → {time + 1, institution}
	resv     map[int][]resv   // planted purchases planned for a person ahead (reserve)
	expDay   int
	offline  [][]bool       // per institution, per day: uploads suppressed
	byCode   map[string]int // institution index by code (offlineCode)
}

func newTravelPlan(w *world) *travelPlan {
	return &travelPlan{r: newRNG(w.o.Seed, streamTravel), tripR: newRNG(w.o.Seed, streamTrips),
		lastT: make([]int64, w.persons), lastInst: make([]int32, w.persons), expect: map[int][2]int64{}, expDay: -1,
		resv: map[int][]resv{}}
}

// resv is a purchase planned for a person: where and when.
type resv struct {
	t    int64
	inst int32
}

// reserve records that person q is to buy at inst at time t (a planted act whose buyer
// is known when it is scheduled): honest baskets keep clear of it, as of a settlement
// already made.
func (tp *travelPlan) reserve(q, inst int, t int64) {
	if q >= 0 {
		tp.resv[q] = append(tp.resv[q], resv{t: t, inst: int32(inst)})
	}
}

// tooClose reports whether purchases at a (time ta) and b (time tb) are closer than an
// honest person travels.
func (w *world) tooClose(a int, ta int64, b int, tb int64) bool {
	ra, rb := w.regions[w.insts[a].county], w.regions[w.insts[b].county]
	if ra.city == rb.city {
		return false
	}
	gap := abs64(ta - tb)
	if ra.code[:2] != rb.code[:2] {
		return gap < honestProvinceGap
	}
	return gap < honestCityGap
}

// clash reports whether person q cannot honestly buy at inst at time t.
func (tp *travelPlan) clash(w *world, q int, inst int, t int64) bool {
	if lt := tp.lastT[q]; lt > 0 && w.tooClose(int(tp.lastInst[q]), lt-1, inst, t) {
		return true
	}
	if e, ok := tp.expect[q]; ok && w.tooClose(int(e[1]), e[0]-1, inst, t) {
		return true
	}
	for _, r := range tp.resv[q] {
		if w.tooClose(int(r.inst), r.t, inst, t) {
			return true
		}
	}
	return false
}

// seen records a purchase of person q at inst at time t.
func (tp *travelPlan) seen(q, inst int, t int64) {
	if q >= 0 && q < len(tp.lastT) {
		tp.lastT[q], tp.lastInst[q] = t+1, int32(inst)
	}
}

// expectChronic records the planned chronic purchase of person q today.
func (tp *travelPlan) expectChronic(day, q, inst int, t int64) {
	if day != tp.expDay {
		clear(tp.expect)
		tp.expDay = day
	}
	tp.expect[q] = [2]int64{t + 1, int64(inst)}
}

// honestCustomer returns p when it may buy at in at time t, else another person of in's
// county (or city) who may; false when none is found.
func (s *sim) honestCustomer(p person, in *institution, t int64, dn int32) (person, bool) {
	tp := s.fr.trips
	if !tp.clash(s.w, p.idx, in.idx, t) {
		return p, true
	}
	rg := s.w.regions[in.county]
	lo, hi := rg.pStart, rg.pEnd
	if hi <= lo {
		c := s.w.regions[rg.city]
		lo, hi = c.pStart, c.pEnd
	}
	if hi <= lo {
		return person{}, false
	}
	for range 20 {
		q := s.w.person(lo + tp.r.intn(hi-lo))
		if q.alive(dn) && !tp.clash(s.w, q.idx, in.idx, t) {
			return q, true
		}
	}
	return person{}, false
}

// offline reports whether inst's uploads are suppressed on day.
func (p *planter) offline(inst, day int) bool {
	o := p.trips.offline
	return o != nil && o[inst] != nil && day >= 0 && day < len(o[inst]) && o[inst][day]
}

// offlineCode is offline by institution code (the late uploads' withdrawals).
func (p *planter) offlineCode(code string, day int) bool {
	if p.trips.offline == nil {
		return false
	}
	i, ok := p.trips.byCode[code]
	return ok && p.offline(i, day)
}

// resumeDay returns the first day from day on when inst uploads again.
func (p *planter) resumeDay(inst, day int) int {
	for day < p.o.Days && p.offline(inst, day) {
		day++
	}
	return day
}

// ---- impossible_travel ----

// scheduleTravel plans an impossible_travel case: a person buys at an institution of its
// home city, then 5–45 minutes later at one of another city of the province, or 20–150
// minutes later at one of the neighbouring province (高度可疑).
func (p *planter) scheduleTravel() {
	w := p.w
	otherProvince := p.r.intn(3) == 0
	var who person
	var home, away []int
	for try := 0; ; try++ {
		if try == 20 {
			return
		}
		var ok bool
		if who, ok = p.homePerson(20, 80); !ok {
			return
		}
		rg := w.regions[who.region]
		home, away = home[:0], away[:0]
		for _, in := range w.insts {
			r := w.regions[in.county]
			if !p.free(in) || in.typ == typeVillage {
				continue
			}
			switch {
			case r.city == rg.city && in.typ != typeHospital:
				home = append(home, in.idx)
			case otherProvince && !r.home, !otherProvince && r.home && r.city != rg.city:
				away = append(away, in.idx)
			}
		}
		if len(home) > 0 && len(away) > 0 {
			break
		}
	}
	a, b := home[p.r.intn(len(home))], away[p.r.intn(len(away))]
	gap := int64(p.r.between(5, 45)) * 60
	if otherProvince {
		gap = int64(p.r.between(20, 150)) * 60
	}
	day := p.dayIn(0, p.o.Days-1)
	ta := int64(day)*86400 + int64(p.r.between(8*3600, 15*3600))
	tb := ta + gap + int64(p.r.intn(60))
	l := p.newLabel(scImpossibleTravel, ta, w.insts[b])
	l.Persons = []string{p.psn(&who)}
	l.need = 2
	if otherProvince {
		l.sev = tracewatch.SeverityHighlySuspicious
	}
	for _, x := range []struct {
		inst int
		t    int64
	}{{a, ta}, {b, tb}} {
		in := w.insts[x.inst]
		p.trips.reserve(who.idx, x.inst, x.t)
		p.plan(day, x.t, x.inst, 1, func(day int, t int64) int {
			setl, ok := p.plantOnePack(day, t, in, &who)
			if !ok {
				return 0
			}
			l.Settlements = append(l.Settlements, setl)
			l.got++
			return 1
		})
	}
	class := "another city"
	if otherProvince {
		class = "another province"
	}
	l.Note = fmt.Sprintf("insured purchases at %s and, %d minutes later, at %s in %s", w.insts[a].code, gap/60, w.insts[b].code, class)
}

// ---- honest trips ----

// scheduleTrips plans the honest trips: a person buys at an institution of its county,
// then at a hospital of 南昌 (or, one trip in four, of the neighbouring province) 5 to 8
// hours later or the next day. No label: C9 must let them be.
func (p *planter) scheduleTrips() {
	w := p.w
	tr := p.trips.tripR
	n := rateCount(p.o.saleLines, p.o.params.TravelTripPer100k)
	if p.o.params.TravelTripPer100k <= 0 || p.o.Days < 2 {
		return
	}
	var capital, neighbour []int
	for _, in := range w.insts {
		r := w.regions[in.county]
		switch {
		case !p.free(in) || in.typ != typeHospital && r.home:
		case r.home && strings.HasPrefix(r.code, homeProvince+"01"):
			capital = append(capital, in.idx)
		case !r.home:
			neighbour = append(neighbour, in.idx)
		}
	}
	for range n {
		q := w.person(tr.intn(max(w.homeP, 1)))
		dests := capital
		if len(neighbour) > 0 && (tr.intn(4) == 0 || len(dests) == 0) {
			dests = neighbour
		}
		rg := w.regions[q.region]
		var home []int
		for _, x := range rg.insts {
			if p.free(w.insts[x]) && w.insts[x].typ != typeVillage {
				home = append(home, x)
			}
		}
		if len(dests) == 0 || len(home) == 0 {
			continue
		}
		a, b := home[tr.intn(len(home))], dests[tr.intn(len(dests))]
		if w.regions[w.insts[a].county].city == w.regions[w.insts[b].county].city {
			continue
		}
		day := tr.intn(p.o.Days - 1)
		ta := int64(day)*86400 + int64(8*3600+tr.intn(4*3600))
		tb := ta + int64(5*3600+tr.intn(3*3600))
		if tr.intn(2) == 0 {
			tb = ta + 86400 + int64(tr.intn(4*3600)) - 2*3600
		}
		for _, x := range []struct {
			inst int
			t    int64
		}{{a, ta}, {b, tb}} {
			in := w.insts[x.inst]
			d := int(x.t / 86400)
			p.trips.reserve(q.idx, x.inst, x.t)
			p.plan(d, x.t, x.inst, 1, func(day int, t int64) int {
				dn := p.o.startDay + int32(day)
				if !q.alive(dn) {
					return 0
				}
				if _, ok := p.plantOnePack(day, t, in, &q); !ok {
					return 0
				}
				return 1
			})
		}
	}
}

// ---- upload_outage ----

// scheduleOutages plans the upload_outage cases: a county with at least two institutions
// other than hospitals (none with a role of its own) stops uploading for 3–5 days, at
// least min baseline days after the window opens, ending two days before it closes (the
// last day of the data is not judged), never over a month's first day (its stocktake),
// never over a planted act at those institutions, and at least four weeks after the
// county's previous outage (so that its usual rate stays its own).
func (p *planter) scheduleOutages() {
	w := p.w
	n := p.n[scUploadOutage]
	if n == 0 || p.o.Days < 20 {
		return
	}
	r := newRNG(p.o.Seed, streamOutages)
	type county struct {
		idx   int
		insts []int
	}
	var cs []county
	for _, c := range w.counties {
		var ins []int
		ok, regular := true, 0
		for _, x := range w.regions[c].insts {
			in := w.insts[x]
			if !p.free(in) {
				ok = false
			}
			if in.typ != typeHospital {
				ins = append(ins, x)
			}
			if in.typ == typePharmacy || in.typ == typeClinic {
				regular++ // village clinics shut now and then: no regular uploaders
			}
		}
		if ok && regular >= 2 {
			cs = append(cs, county{c, ins})
		}
	}
	if len(cs) == 0 {
		return
	}
	p.trips.offline = make([][]bool, len(w.insts))
	p.trips.byCode = map[string]int{} // built here, read by the renderer's goroutine
	for _, in := range w.insts {
		p.trips.byCode[in.code] = in.idx
	}
	starts := map[int][]int{} // county → starts of its outages
	busy := func(insts []int, from, to int) bool {
		for d := from; d < to; d++ {
			if _, _, dom := civilFromDays(p.o.startDay + int32(d)); dom == 1 {
				return true
			}
			for _, pe := range p.planned[d] {
				if slices.Contains(insts, pe.inst) {
					return true
				}
			}
		}
		return false
	}
	for k := 0; k < n; k++ {
		placed := false
		for try := 0; try < 200 && !placed; try++ {
			c := cs[(k+try)%len(cs)]
			if try >= len(cs) {
				c = cs[r.intn(len(cs))]
			}
			length := r.between(3, 5)
			start := r.between(10, p.o.Days-2-length)
			if slices.ContainsFunc(starts[c.idx], func(s int) bool { return abs64(int64(start-s)) < 28 }) {
				continue
			}
			if busy(c.insts, start, start+length) {
				continue
			}
			starts[c.idx] = append(starts[c.idx], start)
			placed = true
			rg := w.regions[c.idx]
			l := p.newLabel(scUploadOutage, int64(start)*86400, nil)
			l.Region = rg.code
			codes := make([]string, 0, len(c.insts))
			for _, x := range c.insts {
				if p.trips.offline[x] == nil {
					p.trips.offline[x] = make([]bool, p.o.Days)
				}
				for d := start; d < start+length; d++ {
					p.trips.offline[x][d] = true
				}
				codes = append(codes, w.insts[x].code)
			}
			l.Note = fmt.Sprintf("%s (%s): %s upload nothing from %s for %d days", rg.code, rg.name, strings.Join(codes, ", "), p.date(start), length)
		}
	}
}
