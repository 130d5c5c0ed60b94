package synth

import (
	"fmt"

	"tracewatch"
)

// Inpatient stays (住院) at hospitals, settled at discharge: a 2301 with the stay's fee
// lines, then a 2304 with med_type 21 and, beyond the fields tracewatch decodes, the
// admission and discharge times and the main discharge diagnosis (adm_date, dscg_date,
// dscg_maindiag_code, dscg_maindiag_name). Honest stays include readmissions that are
// no split stay (more than 15 days later, or for another diagnosis); the planted
// split_hospitalisation cases readmit within 15 days for the same diagnosis.

// diagnosis is a main discharge diagnosis (ICD-10) and who it befalls.
type diagnosis struct {
	code, name     string
	gender         uint8 // 0 any, 1 men, 2 women
	minAge, maxAge int
	los            [2]int // length of stay, days
	weight         int
}

var diagnoses = []diagnosis{
	{"J18.9", "肺炎", 0, 0, 99, [2]int{5, 12}, 14},
	{"I10", "原发性高血压", 0, 35, 99, [2]int{4, 10}, 8},
	{"E11.9", "2型糖尿病不伴有并发症", 0, 30, 99, [2]int{5, 12}, 8},
	{"I63.9", "脑梗死", 0, 45, 99, [2]int{8, 16}, 10},
	{"I25.1", "动脉粥样硬化性心脏病", 0, 45, 99, [2]int{5, 10}, 8},
	{"J44.1", "慢性阻塞性肺病伴有急性加重", 0, 50, 99, [2]int{6, 14}, 8},
	{"K80.2", "胆囊结石不伴有胆囊炎", 0, 25, 90, [2]int{4, 8}, 5},
	{"K35.8", "急性阑尾炎", 0, 5, 80, [2]int{3, 7}, 4},
	{"N39.0", "泌尿道感染", 0, 18, 99, [2]int{3, 7}, 4},
	{"S72.0", "股骨颈骨折", 0, 60, 99, [2]int{10, 18}, 4},
	{"O80", "单胎顺产", 2, 20, 42, [2]int{2, 4}, 6},
	{"J20.9", "急性支气管炎", 0, 0, 14, [2]int{3, 7}, 6},
}

var diagnosisCum = func() []uint64 {
	w := make([]uint64, len(diagnoses))
	for i, d := range diagnoses {
		w[i] = uint64(d.weight)
	}
	return cumulative(w)
}()

// serviceItem is a medical service billed on inpatient fee lines. The codes have the
// shape of the national 医疗服务项目 codes; the values are synthetic.
type serviceItem struct {
	code, name string
	price      int64 // fen per unit
	perDay     bool  // billed for every day of the stay
}

var serviceItems = []serviceItem{
	{"001102000010000", "床位费(三人间)", 4000, true},
	{"001201000020000", "二级护理", 1500, true},
	{"003106000010000", "静脉输液", 1200, true},
	{"002501000010000", "血常规检查", 2500, false},
	{"002601000010000", "胸部CT平扫", 23000, false},
	{"002502000030000", "肝功能检查", 6000, false},
}

// stay is one inpatient stay.
type stay struct {
	hosp     int
	person   person
	adm, dis int64 // seconds since the first midnight
	dx       int
	label    *plantLabel // a split_hospitalisation case both stays belong to

	// How its fee lines are billed (plant_inpatient.go): the days (offsets from the
	// admission day, [from, to)) without any line, the discharge day billed or not,
	// every per-day item billed at the admission in one go, fees settled beyond the
	// lines (fen, or extraTenths/10 times the lines' sum when set), no 2301 at all.
	empty       [2]int
	billLast    bool
	oneGo       bool
	extra       int64
	extraTenths int
	noLines     bool
	label2      *plantLabel // a bed_holding or phantom_stay case of the stay
}

// inpatientPlan holds the stays planned, by person (to keep honest stays of one
// person apart).
type inpatientPlan struct {
	byPerson map[int][]*stay
	oneGo    map[int]bool        // hospitals that bill each stay in one go at the admission
	settled  map[int][]settledAt // insured settlements of the persons with stays
}

// inpLine is one fee line of a stay.
type inpLine struct {
	code, item, name string
	cnt              int64 // units
	price            int64 // 1/10000 yuan per unit
	amount           int64 // fen
	fee              int
	boxes            []box // whole packs scanned (drug_trac_info)
	at               int64 // fee_ocur_time (0: the admission)
}

func (d *diagnosis) fits(q *person, day int32) bool {
	age := ageAt(q.birth, day)
	return (d.gender == 0 || d.gender == q.gender) && age >= d.minAge && age <= d.maxAge
}

// scheduleInpatient plans the honest stays, their readmissions and the split cases.
func (p *planter) scheduleInpatient() {
	w := p.w
	days := p.o.Days
	var hosps []int
	var hw []uint64
	for _, in := range w.insts {
		if in.typ == typeHospital && len(in.doctors) > 0 {
			hosps = append(hosps, in.idx)
			hw = append(hw, in.volume)
		}
	}
	if len(hosps) == 0 {
		return
	}
	hcum := cumulative(hw)
	plan := &inpatientPlan{byPerson: map[int][]*stay{}, oneGo: p.stayStyles(hosps), settled: map[int][]settledAt{}}
	p.stays = plan
	labelled := p.labelledPersons()
	r := newRNG(p.o.Seed, streamInpatient)
	losOf := func(dx int) int { return r.between(diagnoses[dx].los[0], diagnoses[dx].los[1]) }
	times := func(st *stay, admDay, disDay int) {
		st.adm = int64(admDay)*86400 + 8*3600 + int64(r.intn(12*3600))
		st.dis = int64(disDay)*86400 + 9*3600 + int64(r.intn(3*3600))
	}
	// free reports whether q has no stay within 30 days of [a, b] (days).
	free := func(q int, a, b int) bool {
		if len(labelled) > 0 && labelled[p.psn(ptr(w.person(q)))] {
			return false // a planted case's person: a stay could hold its purchases
		}
		for _, o := range plan.byPerson[q] {
			if int(o.adm/86400) <= b+30 && int(o.dis/86400) >= a-30 {
				return false
			}
		}
		return true
	}
	add := func(st *stay) {
		plan.byPerson[st.person.idx] = append(plan.byPerson[st.person.idx], st)
		day := int(st.dis / 86400)
		p.plan(day, st.dis, st.hosp, 0, func(day int, t int64) int {
			p.s.discharge(day, t, st)
			return 0
		})
	}
	// patient draws the patient of a stay at hospital h with diagnosis dx.
	patient := func(h, dx, a, b int) (person, bool) {
		da, db := p.o.startDay+int32(a), p.o.startDay+int32(b)
		return p.personNear(w.insts[h], da, db, func(q *person) bool {
			return diagnoses[dx].fits(q, da) && free(q.idx, a, b)
		})
	}

	for range rateCount(p.o.saleLines, p.o.params.InpatientPer100k) {
		h := hosps[r.pick(hcum)]
		dx := r.pick(diagnosisCum)
		los := losOf(dx)
		if los > days-1 {
			continue
		}
		dd := los + r.intn(days-los)
		q, ok := patient(h, dx, dd-los, dd)
		if !ok {
			continue
		}
		st := &stay{hosp: h, person: q, dx: dx}
		times(st, dd-los, dd)
		add(st)
		if !r.permille(p.o.params.ReadmitPermille) {
			continue
		}
		// An honest readmission: the same diagnosis more than 15 days later, or another
		// diagnosis within 15 days.
		dx2, gap := dx, r.between(16, 60)
		if r.intn(2) == 0 {
			gap = r.between(3, 15)
			for range 20 {
				if dx2 = r.pick(diagnosisCum); dx2 != dx && diagnoses[dx2].fits(&q, p.o.startDay+int32(dd)) {
					break
				}
			}
			if dx2 == dx {
				continue
			}
		}
		los2 := losOf(dx2)
		a2 := dd + gap
		if a2+los2 > days-1 || !q.alive(p.o.startDay+int32(a2+los2)) {
			continue
		}
		h2 := h
		if r.intn(10) < 3 {
			h2 = hosps[r.intn(len(hosps))]
		}
		clash := false
		for _, o := range plan.byPerson[q.idx] {
			if o != st && int(o.adm/86400) <= a2+los2+30 && int(o.dis/86400) >= a2-30 {
				clash = true // another stay of the person near the readmission
			}
		}
		if clash {
			continue
		}
		st2 := &stay{hosp: h2, person: q, dx: dx2}
		times(st2, a2, a2+los2)
		add(st2)
	}

	// Planted: discharged and readmitted within 15 days with the same main diagnosis.
	for range p.n[scSplitStay] {
		var h, dx, los1, los2, gap, d1 int
		var q person
		found := false
		for try := 0; try < 20 && !found; try++ {
			h = hosps[r.pick(hcum)]
			dx = r.pick(diagnosisCum)
			if diagnoses[dx].code == "O80" {
				continue
			}
			los1, los2, gap = losOf(dx), max(2, losOf(dx)/2), r.between(1, 14)
			hi := days - 1 - gap - los2
			if hi < los1 {
				continue
			}
			d1 = los1 + r.intn(hi-los1+1)
			q, found = patient(h, dx, d1-los1, d1+gap+los2)
		}
		if !found {
			continue
		}
		a2, d2 := d1+gap, d1+gap+los2
		h2 := h
		if r.intn(10) < 3 {
			h2 = hosps[r.intn(len(hosps))]
		}
		st1 := &stay{hosp: h, person: q, dx: dx}
		times(st1, d1-los1, d1)
		st2 := &stay{hosp: h2, person: q, dx: dx}
		times(st2, a2, d2)
		l := p.newLabel(scSplitStay, st2.adm, w.insts[h2])
		l.Persons = []string{p.psn(&q)}
		l.need = 2
		l.Note = fmt.Sprintf("discharged from %s on %s (%s %s), readmitted to %s %d days later with the same main diagnosis",
			w.insts[h].code, p.date(d1), diagnoses[dx].code, diagnoses[dx].name, w.insts[h2].code, gap)
		st1.label, st2.label = l, l
		add(st1)
		add(st2)
	}

	// Bed holding and phantom stays (plant_inpatient.go).
	p.stayLookalikes(plan)
	p.scheduleStayCases(hosps, plan, func(r *rng, h, dx, a, b int) (person, bool) {
		da, db := p.o.startDay+int32(a), p.o.startDay+int32(b)
		return p.personNearWith(r, w.insts[h], da, db, func(q *person) bool {
			return diagnoses[dx].fits(q, da) && free(q.idx, a, b)
		})
	}, times, add)
}

func ptr[T any](v T) *T { return &v }

// discharge settles a stay: its fee lines (2301) and the settlement (2304). Most drug
// lines are split doses (inpatient 拆零, exempt from scanning) that carry no code; now
// and then a whole pack taken off the hospital's shelf carries its code.
func (s *sim) discharge(day int, t int64, st *stay) {
	in := s.w.insts[st.hosp]
	if st.label == nil && st.label2 == nil && s.fr.settledAway(st) {
		return // the person settled elsewhere meanwhile (a planted case's purchase): no honest stay
	}
	if l := st.label2; l != nil && l.sc == scBedHolding && l.sev == 0 && st.empty[1] > 0 && s.fr.settledAway(st) {
		// Days without care, and a planted case of another scenario bought in the
		// person's name elsewhere meanwhile: both signs.
		l.sev = tracewatch.SeverityHighlySuspicious
		l.Note += "; the person also settled elsewhere meanwhile (another planted case)"
	}
	r := s.fr.r
	dn := s.o.startDay + int32(day)
	los := int64(max(1, (st.dis-st.adm+86399)/86400))
	var lines []inpLine
	daily := !st.oneGo && !s.fr.stays.oneGo[st.hosp]
	if daily {
		lines = st.dailyLines(lines)
	}
	for _, it := range serviceItems {
		switch {
		case it.perDay:
			if !daily {
				lines = append(lines, inpLine{code: it.code, item: it.code, name: it.name, cnt: los, price: it.price * 100, amount: los * it.price})
			}
		case r.intn(2) == 0:
			lines = append(lines, inpLine{code: it.code, item: it.code, name: it.name, cnt: 1, price: it.price * 100, amount: it.price})
		}
	}
	for range r.between(1, 3) {
		sl := in.slots[r.intn(len(in.slots))]
		d := sl.d
		if d.kind >= kindConsumable || !allowed(d, &st.person, dn) {
			continue
		}
		units := int64(r.between(6, 30))
		unit := (d.price*100 + int64(d.pack)/2) / int64(d.pack)
		lines = append(lines, inpLine{code: d.code, item: d.itemID, name: d.name, cnt: units, price: unit, amount: (units*unit + 50) / 100})
	}
	if r.intn(5) == 0 {
		for range 4 {
			si := r.intn(len(in.slots))
			sl := in.slots[si]
			if !plain(sl.d) || !allowed(sl.d, &st.person, dn) {
				continue
			}
			b, ok := sl.take(dn, nil, func(c *carton, bs []box) { s.expired(t, in, c, bs, 0) })
			if !ok {
				continue
			}
			s.reorder(day, in, si)
			d := sl.d
			lines = append(lines, inpLine{code: d.code, item: d.itemID, name: d.name, cnt: 1, price: d.price * 100, amount: d.price,
				boxes: []box{b}})
			break
		}
	}
	for i := range lines {
		in.fee++
		lines[i].fee = in.fee
	}
	s.mdtrtSeq++
	mdtrt := s.newID(day, in, '1', s.mdtrtSeq)
	setl := s.newSettlement(day, in)
	for _, l := range []*plantLabel{st.label, st.label2} {
		if l != nil {
			l.Settlements = append(l.Settlements, setl)
			l.got++
		}
	}
	dr := s.w.pracs[in.doctors[r.intn(len(in.doctors))]]
	op := s.staff(in)
	pp := st.person
	dx := &diagnoses[st.dx]
	adm := st.adm
	extra, noLines := st.extra, st.noLines
	if st.extraTenths > 0 {
		var sum int64
		for _, ln := range lines {
			sum += ln.amount
		}
		extra = sum*int64(st.extraTenths)/10 - sum
		if st.label2 != nil {
			st.label2.Note += fmt.Sprintf(" settled with %.2f yuan beyond its fee lines (%.1f times them)", float64(extra)/100, float64(st.extraTenths)/10)
		}
	}
	s.emit(func(rd *renderer) { rd.inpatient(t, in, &pp, lines, mdtrt, setl, adm, dx, dr, op, extra, noLines) })
}

// dailyLines appends the per-day items (bed, nursing, infusion) of a stay billed day by
// day: one line of each per day, at 08:00 (the admission day: half an hour after the
// admission, none when admitted at 21:00 or later; the discharge day only when billLast),
// none on the days of st.empty.
func (st *stay) dailyLines(lines []inpLine) []inpLine {
	first, last := st.adm/86400, st.dis/86400
	for d := first; d <= last; d++ {
		at := d*86400 + 8*3600
		switch off := int(d - first); {
		case off >= st.empty[0] && off < st.empty[1]:
			continue
		case d == first:
			if st.adm%86400 >= 21*3600 {
				continue
			}
			at = st.adm + 1800
		case d == last:
			if !st.billLast {
				continue
			}
			at = min(at, st.dis-600)
		}
		for _, it := range serviceItems {
			if it.perDay {
				lines = append(lines, inpLine{code: it.code, item: it.code, name: it.name, cnt: 1, price: it.price * 100, amount: it.price, at: at})
			}
		}
	}
	return lines
}
