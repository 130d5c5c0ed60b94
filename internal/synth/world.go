package synth

import (
	"fmt"
	"strconv"
	"strings"
)

// Institution types, in the order of Params' per-type arrays.
const (
	typeHospital uint8 = iota
	typeClinic
	typeVillage
	typePharmacy
)

var typeNames = [...]string{"hospital", "clinic", "village_clinic", "pharmacy"}

// region is one entry of regionTable with its place in the world.
type region struct {
	regionDef
	idx    int
	city   int  // index of its city; itself for a city; -1 for a province
	county bool // a district or county (where persons and institutions live)
	home   bool // in the simulated province
	short  string

	pStart, pEnd int   // persons living here: [pStart, pEnd) (cities: their counties' span)
	insts        []int // institutions in this county
	chronicHomes []int // institutions here where chronic patients buy (not village clinics)
	hospitals    []int // hospitals of a city, whose doctors write the prescriptions pharmacies fill
}

// institution is a designated institution (定点医药机构) and its state in the simulation.
type institution struct {
	idx        int
	code       string
	name       string
	typ        uint8
	county     int
	level      string
	chain      int // index into chainNames, -1 for none
	collect    int // ‰ of inbound codes scanned
	volume     uint64
	supplier   int // index into distributors
	open24h    bool
	since      string // agreement start date
	herbal     bool   // sells 中药饮片
	doctors    []int  // practitioner indices
	pharmacist []int
	others     []int

	slots   []*slot
	cum     []uint64 // cumulative popularity of slots
	chronic [2][]int // slots per chronic disease (bit 0 hypertension, bit 1 diabetes)
	nonDrug []int    // slots of non-drug goods (cosmetics, food, consumables)
	daily   uint64   // expected sale lines per day ×1000 (for stock levels)

	envHead, envTail string // constant parts of its message envelopes

	// counters for the identifiers it issues
	msgSeq, receipt, visit, fee, chrg, batch int
}

// practitioner is a doctor, pharmacist, nurse or pharmacy principal.
type practitioner struct {
	id, name, kind string
	inst           int
	cert           string // 执业资格证号 (pharmacists)
	env            string // its part of a message envelope, as operator (opter)
	jsonPrsc       string // as prescriber of a sale row
	jsonPhar       string // as pharmacist of a sale row (and its operator)
}

// world is the static part of the province: regions, institutions, practitioners,
// the catalog and the size of the population. Persons are not stored: person(i)
// derives each from the seed and its number.
type world struct {
	o        resolved
	p        *Params
	cat      *catalog
	regions  []*region
	counties []int // region indices of the counties, in table order
	insts    []*institution
	pracs    []*practitioner
	persons  int
	homeP    int // persons [0, homeP) live in the home province, the rest in the neighbour
	chains   int // chains in use
}

func buildWorld(o resolved, cat *catalog) (*world, error) {
	p := &o.params
	w := &world{o: o, p: p, cat: cat}
	r := newRNG(o.Seed, streamWorld)

	// Regions.
	byCode := map[string]int{}
	for i, def := range regionTable {
		rg := &region{regionDef: def, idx: i, city: -1, home: strings.HasPrefix(def.code, homeProvince)}
		switch {
		case def.code[2:] == "0000":
		case def.code[4:] == "00":
			rg.city = i
		default:
			rg.city = byCode[def.parent]
			rg.county = true
			w.counties = append(w.counties, i)
		}
		rg.short = def.name
		for _, suf := range []string{"区", "县", "市"} {
			if s := strings.TrimSuffix(def.name, suf); s != def.name && len([]rune(s)) >= 2 {
				rg.short = s
				break
			}
		}
		byCode[def.code] = i
		w.regions = append(w.regions, rg)
	}

	// Persons: spread over the counties by population (largest remainder).
	lines := o.saleLines
	w.persons = max(400, lines/p.SaleLinesPerPerson)
	neighbourP := w.persons * p.NeighbourPermille / 1000
	w.homeP = w.persons - neighbourP
	var home, away []int
	for _, c := range w.counties {
		if w.regions[c].home {
			home = append(home, c)
		} else {
			away = append(away, c)
		}
	}
	next := 0
	for _, group := range []struct {
		counties []int
		n        int
	}{{home, w.homeP}, {away, neighbourP}} {
		shares := apportion(group.n, group.counties, func(c int) int { return w.regions[c].pop })
		for i, c := range group.counties {
			w.regions[c].pStart, w.regions[c].pEnd = next, next+shares[i]
			next += shares[i]
		}
	}
	for _, rg := range w.regions { // a city spans its counties
		if rg.city == rg.idx {
			rg.pStart, rg.pEnd = -1, -1
			for _, c := range w.counties {
				if w.regions[c].city == rg.idx {
					if rg.pStart < 0 {
						rg.pStart = w.regions[c].pStart
					}
					rg.pEnd = w.regions[c].pEnd
				}
			}
		}
	}

	// Institutions: how many of each type, then where.
	n := max(10, lines/p.SaleLinesPerInstitution)
	nAway := max(1, n*p.NeighbourPermille/1000)
	nHome := n - nAway
	nHosp := max(2, nHome*p.HospitalPermille/1000)
	nClinic := max(2, nHome*p.ClinicPermille/1000)
	nVillage := max(2, nHome*p.VillagePermille/1000)
	nPharm := max(3, nHome-nHosp-nClinic-nVillage)
	w.chains = max(2, min(len(chainNames), nPharm/15))
	var plan []uint8
	for _, x := range []struct {
		t uint8
		n int
	}{{typeHospital, nHosp}, {typeClinic, nClinic}, {typeVillage, nVillage}, {typePharmacy, nPharm}} {
		for range x.n {
			plan = append(plan, x.t)
		}
	}
	homeCum := cumulative(weights(home, func(c int) uint64 { return uint64(w.regions[c].pop) }))
	awayCum := cumulative(weights(away, func(c int) uint64 { return uint64(w.regions[c].pop) }))
	names := map[string]bool{}
	perCounty := map[int]int{}
	for i := range n {
		var typ uint8
		var county int
		if i < len(plan) {
			typ = plan[i]
			county = home[r.pick(homeCum)]
		} else { // the neighbour province: a hospital first, then pharmacies
			typ = typePharmacy
			if i == len(plan) && nAway > 1 {
				typ = typeHospital
			}
			county = away[r.pick(awayCum)]
		}
		perCounty[county]++
		in := &institution{idx: i, typ: typ, county: county, chain: -1}
		prefix := "H"
		if typ == typePharmacy {
			prefix = "P"
		}
		in.code = fmt.Sprintf("%s%s%05d", prefix, w.regions[county].code, perCounty[county])
		w.nameInstitution(r, in, names)
		in.collect = p.CollectMaxPermille
		if !r.permille(p.CollectFullPermille) {
			in.collect = r.between(p.CollectMinPermille, p.CollectMaxPermille)
		}
		switch typ {
		case typeHospital:
			in.volume = uint64(6000 + r.intn(8000))
			in.herbal = r.permille(700)
		case typeClinic:
			in.volume = uint64(600 + r.intn(900))
		case typeVillage:
			in.volume = uint64(150 + r.intn(250))
		case typePharmacy:
			in.volume = uint64(900 + r.intn(1800))
			in.open24h = r.permille(p.Open24hPermille)
			in.herbal = r.permille(300)
		}
		city := w.regions[county].city
		in.supplier = city % (len(distributors) - 1)
		if !w.regions[county].home {
			in.supplier = len(distributors) - 1
		}
		if in.chain >= 0 {
			in.supplier = in.chain % (len(distributors) - 1)
		}
		in.since = fmt.Sprintf("%d-%02d-01", 2010+r.intn(14), 1+r.intn(12))
		w.insts = append(w.insts, in)
		w.regions[county].insts = append(w.regions[county].insts, i)
		if typ != typeVillage {
			w.regions[county].chronicHomes = append(w.regions[county].chronicHomes, i)
		}
		if typ == typeHospital {
			w.regions[city].hospitals = append(w.regions[city].hospitals, i)
		}
	}

	// Practitioners.
	seq := map[string]int{}
	add := func(in *institution, kind string, letter string) int {
		rc := w.regions[in.county].code
		seq[letter+rc]++
		pr := &practitioner{
			id:   fmt.Sprintf("%s%s%06d", letter, rc, seq[letter+rc]),
			kind: kind,
			inst: in.idx,
		}
		pr.name = personName(r, uint8(1+r.intn(2)))
		if kind == "pharmacist" {
			pr.cert = fmt.Sprintf("ZY%s%06d", rc, seq[letter+rc])
		}
		w.pracs = append(w.pracs, pr)
		return len(w.pracs) - 1
	}
	for _, in := range w.insts {
		var nd, np, nn, nf int
		switch in.typ {
		case typeHospital:
			nd, np, nn = 6+r.intn(5), 2+r.intn(2), 2+r.intn(3)
		case typeClinic:
			nd, np, nn = 1+r.intn(2), 1, 1
		case typeVillage:
			nd = 1
		case typePharmacy:
			np, nf = 1+r.intn(3), 1
		}
		for range nd {
			in.doctors = append(in.doctors, add(in, "doctor", "D"))
		}
		for range np {
			in.pharmacist = append(in.pharmacist, add(in, "pharmacist", "Y"))
		}
		for range nn {
			in.others = append(in.others, add(in, "nurse", "N"))
		}
		for range nf {
			in.others = append(in.others, add(in, "principal", "F"))
		}
		if len(in.pharmacist) == 0 { // a village doctor dispenses too
			in.pharmacist = in.doctors
		}
	}
	for _, in := range w.insts {
		in.envHead = `","mdtrtarea_admvs":"` + w.regions[in.county].code
		in.envTail = `","fixmedins_code":"` + in.code + `","input":`
	}
	for _, p := range w.pracs {
		p.env = `","opter":"` + p.id + `","opter_name":"` + p.name + `","inf_time":"`
		p.jsonPrsc = `"prsc_dr_name":"` + p.name + `",`
		p.jsonPhar = `"phar_name":"` + p.name + `","sel_retn_opter_name":"` + p.name + `",`
		if p.cert != "" {
			p.jsonPhar += `"phar_prac_cert_no":"` + p.cert + `",`
		}
	}
	w.assort(r)
	return w, nil
}

// apportion splits n over items in proportion to weight (largest remainder, ties by
// position), so the shares add up to n exactly.
func apportion(n int, items []int, weight func(int) int) []int {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	out := make([]int, len(items))
	if total == 0 || n == 0 {
		return out
	}
	rem := make([]int, len(items))
	given := 0
	for i, it := range items {
		out[i] = n * weight(it) / total
		rem[i] = n * weight(it) % total
		given += out[i]
	}
	for given < n {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
		given++
	}
	return out
}

func weights(items []int, w func(int) uint64) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = w(it)
	}
	return out
}

// nameInstitution gives in a plausible, unique, synthetic name (and a hospital level or
// a chain).
func (w *world) nameInstitution(r *rng, in *institution, seen map[string]bool) {
	rg := w.regions[in.county]
	city := w.regions[rg.city]
	urban := rg.code[4] == '0' && rg.code[5] < '2' // 01–19: city districts
	var name string
	for try := 0; ; try++ {
		switch in.typ {
		case typeHospital:
			patterns := []string{"%s人民医院", "%s中医院", "%s妇幼保健院", "%s第二人民医院", "%s仁济医院", "%s康复医院"}
			k := try
			base := rg.name
			if urban && try == 0 && !seen[city.short+"市第一人民医院"] {
				name, in.level = city.short+"市第一人民医院", "三级甲等"
				break
			}
			if k < len(patterns) {
				name = fmt.Sprintf(patterns[k], base)
			} else {
				name = fmt.Sprintf("%s第%d医院", base, k)
			}
			switch {
			case k == 0 && urban:
				in.level = "三级乙等"
			case k <= 2:
				in.level = "二级甲等"
			default:
				in.level = "二级乙等"
			}
		case typeClinic:
			town := townNames[r.intn(len(townNames))]
			switch r.intn(4) {
			case 0:
				name = rg.name + town + "社区卫生服务中心"
			case 1:
				name = rg.name + town + "镇卫生院"
			case 2:
				name = rg.short + surnames[r.intn(30)] + "氏诊所"
			default:
				name = rg.short + pharmacyWords[r.intn(len(pharmacyWords))] + "门诊部"
			}
			in.level = "一级"
		case typeVillage:
			name = rg.name + townNames[r.intn(len(townNames))] + "镇" + villageNames[r.intn(len(villageNames))] + "村卫生室"
		case typePharmacy:
			if in.chain < 0 && rg.home && r.permille(w.p.ChainPermille) {
				in.chain = r.intn(w.chains)
			}
			if in.chain >= 0 {
				name = fmt.Sprintf("%s(%s%d店)", chainNames[in.chain], rg.short, 1+r.intn(30))
			} else {
				suffix := []string{"大药房", "药店", "药房"}[r.intn(3)]
				name = rg.short + pharmacyWords[r.intn(len(pharmacyWords))] + suffix
			}
		}
		if try > 8 {
			name += strconv.Itoa(try)
		}
		if !seen[name] {
			seen[name] = true
			in.name = name
			return
		}
	}
}

// personName returns a synthetic Chinese name.
func personName(r *rng, gender uint8) string {
	// Surnames: the first ones are the most frequent.
	s := surnames[r.intn(r.intn(len(surnames))+1)]
	pool := givenMale
	if gender == 2 {
		pool = givenFemale
	}
	g := string(pool[r.intn(len(pool))])
	if r.permille(700) {
		g += string(pool[r.intn(len(pool))])
	}
	return s + g
}

// assort chooses every institution's assortment (the products it stocks) and sets
// the popularity and stock levels of each.
func (w *world) assort(r *rng) {
	total := uint64(0)
	for _, in := range w.insts {
		total += in.volume
	}
	days := uint64(w.o.Days)
	for _, in := range w.insts {
		// Expected sale lines per day (×1000).
		in.daily = uint64(w.o.saleLines) * 1000 * in.volume / total / days
		var pool []*drug
		for _, d := range w.cat.drugs {
			switch {
			case d.hospOnly && in.typ != typeHospital && in.typ != typeClinic:
			case d.kind == kindHerbal && !in.herbal:
			case d.kind == kindOther && in.typ != typePharmacy:
			case d.kind == kindConsumable && in.typ == typeVillage:
			default:
				pool = append(pool, d)
			}
		}
		maxSize := map[uint8]int{typeHospital: 260, typeClinic: 100, typeVillage: 50, typePharmacy: 160}[in.typ]
		minSize := map[uint8]int{typeHospital: 40, typeClinic: 15, typeVillage: 8, typePharmacy: 20}[in.typ]
		size := int(in.daily * 6 / 1000)
		size = min(max(size, minSize), maxSize, len(pool))
		cum := cumulative(weights(indices(len(pool)), func(i int) uint64 { return pool[i].weight }))
		chosen := make([]bool, len(pool))
		var picked []int
		for tries := 0; len(picked) < size && tries < size*40; tries++ {
			i := r.pick(cum)
			if !chosen[i] {
				chosen[i] = true
				picked = append(picked, i)
			}
		}
		// Chronic patients must find their drugs where they buy them.
		if in.typ != typeVillage {
			for _, c := range chronicCodes {
				has := false
				for _, i := range picked {
					has = has || pool[i].chronic&c.bit != 0
				}
				best := -1
				for i, d := range pool {
					if !has && d.chronic&c.bit != 0 && !chosen[i] && (best < 0 || d.weight > pool[best].weight) {
						best = i
					}
				}
				if best >= 0 {
					chosen[best] = true
					picked = append(picked, best)
				}
			}
		}
		// Keep catalog order, so the assortment does not depend on the order of the draws.
		sortInts(picked)
		var sum uint64
		for _, i := range picked {
			sum += pool[i].weight
		}
		for _, i := range picked {
			d := pool[i]
			sl := &slot{d: d, weight: d.weight}
			// Expected whole packs per day ×1000, then the reorder point (3 days) and the
			// order size (10 days, whole cartons).
			perDay := in.daily * d.weight / sum * 12 / 10
			if d.split {
				perDay /= 2
			}
			sl.perDay = perDay
			sl.reorder = int32(max(2, (3*perDay+999)/1000))
			need := (10*perDay + 999) / 1000
			sl.orderCartons = int32(max(1, (need+uint64(d.carton)-1)/uint64(d.carton)))
			for _, c := range chronicCodes {
				if d.chronic&c.bit != 0 {
					b := 0
					if c.bit == chronicDiabetes {
						b = 1
					}
					in.chronic[b] = append(in.chronic[b], len(in.slots))
				}
			}
			if d.kind >= kindConsumable {
				in.nonDrug = append(in.nonDrug, len(in.slots))
			}
			in.slots = append(in.slots, sl)
		}
		in.cum = cumulative(weights(indices(len(in.slots)), func(i int) uint64 { return in.slots[i].weight }))
	}
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// person is one insured person, derived from the seed and its number.
type person struct {
	idx     int
	region  int // county
	gender  uint8
	birth   int32 // day number
	death   int32 // day number of death, 0 when alive throughout
	insu    string
	chronic uint8
	dom     int    // day of month of the chronic patient's monthly purchase (1–28)
	pref    uint64 // stable preferences (home institution, drug)
}

// Age bands (years, lower bound inclusive) and their share in ‰; roughly the 2020
// census of 江西.
var ageBands = []struct{ lo, hi, permille int }{
	{0, 15, 170}, {15, 30, 150}, {30, 45, 200}, {45, 60, 240}, {60, 75, 170}, {75, 85, 55}, {85, 100, 15},
}

// person derives person i. Its region is fixed by the block i falls in; everything
// else comes from a PCG stream of its own.
func (w *world) person(i int) person {
	var r rng
	r.reseed(mix(w.o.Seed^uint64(streamPerson)), mix(uint64(i)^w.o.Seed))
	p := person{idx: i, pref: r.u64()}
	p.region = w.countyOf(i)
	p.gender = 2
	if r.permille(510) {
		p.gender = 1
	}
	u := r.intn(1000)
	age := 0
	for _, b := range ageBands {
		if u < b.permille {
			age = b.lo + r.intn(b.hi-b.lo)
			break
		}
		u -= b.permille
	}
	start := w.o.startDay
	p.birth = start - int32(age*365+age/4) - int32(1+r.intn(364))
	p.insu = "390"
	switch {
	case age >= 18 && age < 60 && r.permille(450), age >= 60 && r.permille(300):
		p.insu = "310"
	}
	var htn, dm int
	switch {
	case age >= 60:
		htn, dm = 350, 120
	case age >= 45:
		htn, dm = 180, 70
	case age >= 30:
		htn, dm = 40, 15
	}
	if r.permille(htn * w.p.ChronicPercent / 100) {
		p.chronic |= chronicHypertension
	}
	if r.permille(dm * w.p.ChronicPercent / 100) {
		p.chronic |= chronicDiabetes
	}
	p.dom = 1 + r.intn(28)
	death := 1
	switch {
	case age >= 75:
		death = 60
	case age >= 60:
		death = 15
	}
	if r.permille(death * w.p.DeathPercent / 100) {
		// Uniform from a year before the window to a month after it.
		span := 365 + w.o.Days + 30
		p.death = start - 365 + int32(r.intn(span))
		if p.death <= p.birth {
			p.death = 0
		}
	}
	return p
}

// countyOf returns the county of person i.
func (w *world) countyOf(i int) int {
	lo, hi := 0, len(w.counties)
	for lo < hi {
		m := (lo + hi) / 2
		if w.regions[w.counties[m]].pEnd <= i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(w.counties) {
		lo--
	}
	return w.counties[lo]
}

// psnNo is the personal number (人员编号) of person i.
func (w *world) psnNo(p *person) string {
	return w.regions[p.region].code[:2] + "0000" + fmt.Sprintf("%014d", p.idx+1)
}

// appendPsnNo appends the personal number of person p.
func (w *world) appendPsnNo(b []byte, p *person) []byte {
	b = append(b, w.regions[p.region].code[:2]...)
	b = append(b, "0000"...)
	return appendPadded(b, uint64(p.idx+1), 14)
}

// alive reports whether p is alive on day (and born).
func (p *person) alive(day int32) bool {
	return day > p.birth && (p.death == 0 || day < p.death)
}
