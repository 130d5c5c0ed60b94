package synth

import (
	"math/bits"
	"slices"
)

// Event kinds of the simulation. Events are handled in time order; each one queues
// its messages for the renderer, all timed at or after the event.
const (
	evStocktake uint8 = iota // 3501 at the start of the window and of every month
	evDelivery               // a distributor's delivery: 3503
	evBasket                 // a customer at the counter: 2204/2207 and 3505
	evReturn                 // a self-pay customer brings a pack back: 3506
	evCancel                 // an insured basket's settlement is cancelled later the same day: 2208
	evPlanted                // a planted act (plant.go)
)

type event struct {
	t       int64 // seconds since the first midnight
	seq     uint64
	kind    uint8
	inst    int32
	ref     int32 // person (chronic baskets, else -1), order, return or cancel index
	lines   int32 // sale lines planned (baskets)
	chronic bool
}

func eventLess(a, b event) int {
	switch {
	case a.t < b.t:
		return -1
	case a.t > b.t:
		return 1
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

// order is a restocking order, delivered the next day by the distributor or, for a
// chain pharmacy, by a sister store (from ≥ 0).
type order struct {
	inst, slot int
	from       int
}

// saleReturn is a self-pay sale line to be returned on a later day.
type saleReturn struct {
	inst    int
	slot    int
	boxes   []box
	unit    int64 // price paid per pack, fen
	person  int   // -1 anonymous
	stoout  string
	scanned bool
}

// laterCancel is an insured basket whose settlement is cancelled hours later; its packs
// go back on the shelf.
type laterCancel struct {
	inst   int
	setl   string
	mdtrt  string
	person int
	items  []cancelItem
}

type cancelItem struct {
	slot  int
	boxes []box
}

// Hour-of-day weights of basket times, per institution type; pharmacies open at night
// use pharmacyNight.
var (
	hourWeights = [4][24]uint64{
		typeHospital: {1, 1, 1, 1, 1, 1, 2, 10, 30, 34, 32, 26, 12, 14, 26, 28, 24, 12, 6, 4, 3, 2, 2, 1},
		typeClinic:   {0, 0, 0, 0, 0, 0, 0, 4, 18, 22, 20, 16, 8, 10, 16, 16, 14, 10, 6, 3, 0, 0, 0, 0},
		typeVillage:  {0, 0, 0, 0, 0, 0, 2, 10, 20, 20, 16, 10, 6, 8, 12, 12, 10, 6, 3, 0, 0, 0, 0, 0},
		typePharmacy: {0, 0, 0, 0, 0, 0, 0, 6, 16, 22, 24, 22, 18, 16, 18, 20, 22, 24, 28, 30, 24, 14, 0, 0},
	}
	pharmacyNight = [24]uint64{3, 2, 1, 1, 1, 2, 4, 8, 16, 22, 24, 22, 18, 16, 18, 20, 22, 24, 28, 30, 24, 16, 10, 6}
	// Day-of-week volume (‰ of a weekday), Sunday first.
	weekdayPermille = [4][7]uint64{
		typeHospital: {550, 1050, 1000, 1000, 1000, 1000, 800},
		typeClinic:   {600, 1050, 1000, 1000, 1000, 1000, 850},
		typeVillage:  {700, 1050, 1000, 1000, 1000, 1000, 900},
		typePharmacy: {900, 1000, 1000, 1000, 1000, 1000, 1000},
	}
	// Items per basket (‰ for 1, 2, 3, 4, 5 lines).
	basketSizes = cumulative([]uint64{550, 250, 120, 50, 30})
)

// sim is the day-by-day simulation.
type sim struct {
	w   *world
	o   *resolved
	p   *Params
	r   *rng
	clk *clock
	tmp []byte

	// rendering: operations queued for the renderer's goroutine
	rd   *renderer
	ops  []op
	opCh chan []op
	done chan struct{}

	quota    []int // sale lines per day
	carry    int
	instCum  [7][]uint64
	hourCum  [5][]uint64 // per type, and [4] for night pharmacies
	byDom    [29][]int32 // chronic patients by day of month of their purchase
	homes    map[int][]int
	allHomes []int

	chainStores [][]int // per chain: its pharmacies

	// supplyUntil keeps, for the baskets of persons who are no chronic patient of the
	// drug, the day number until which a person's last purchase of a drug of known daily
	// dose lasts, hashed by person and drug (supplySlot). Such a person buys the drug
	// again only when that supply is down to a week: an honest person never holds more
	// than a month and a week of a chronic drug. A collision only makes a basket pass
	// over a drug it could have bought.
	supplyUntil []int32

	events  []event
	dyn     []event // later cancels of the current day (few)
	seq     uint64
	orders  [][]order
	returns [][]*saleReturn
	cancels []*laterCancel

	setlSeq, mdtrtSeq uint64

	fr *planter // planted cases

	// Options.InboundCartons: its own stream, so that the rest of the province stays
	// as it is without the option.
	cartonR         *rng
	cartonPurchases int

	// per-basket scratch
	items []item
	boxes []box
}

// item is one sale line of a basket.
type item struct {
	slot    int
	sl      *slot
	d       *drug
	split   bool
	qty     int32 // packs, or minimum units when split
	b0, nb  int   // its packs: boxes[b0 : b0+nb]
	scanned bool  // the codes were scanned
	dup     bool  // the first code was scanned twice
	amount  int64 // fen
	unit    int64 // price per pack in fen, or per unit in 1/10000 yuan when split
	fee     int   // fee line number (feedetl_sn)

	// planted cases
	bill   *drug // billed (3505, 2204) as this drug; nil: d
	scan   uint8 // how the codes were scanned (scanTrue …)
	arg    int   // scanTypo: the digit dropped (< 0) or doubled (> 0)
	carton bool  // a whole carton sold by its carton code: boxes[b0] is its first pack, qty its packs
}

// billed returns the drug the line is billed as.
func (it *item) billed() *drug {
	if it.bill != nil {
		return it.bill
	}
	return it.d
}

func newSim(w *world, out *messages, pkg *fileOut, fr *planter) *sim {
	s := &sim{
		w:   w,
		o:   &w.o,
		p:   w.p,
		r:   newRNG(w.o.Seed, streamSim),
		clk: newClock(w.o.startDay, w.o.Days),

		cartonR: newRNG(w.o.Seed, streamCartons),
	}
	s.rd = &renderer{w: w, code: codec{seed: w.o.Seed}, clk: s.clk, out: out, pkg: pkg,
		msgSeq: make([]int, len(w.insts)), distSeq: make([]int, len(distributors))}
	if w.o.SalesOnly {
		for _, m := range []int{m2204, m2207, m2301, m2304} {
			s.rd.drop[m] = true
		}
	}
	s.orders = make([][]order, w.o.Days+1)
	s.returns = make([][]*saleReturn, w.o.Days+1)
	s.supplyUntil = make([]int32, supplySlots)

	// Institutions by weekday; hours by type.
	for wd := range 7 {
		ws := make([]uint64, len(w.insts))
		for i, in := range w.insts {
			ws[i] = in.volume * weekdayPermille[in.typ][wd]
		}
		s.instCum[wd] = cumulative(ws)
	}
	for t := range 4 {
		s.hourCum[t] = cumulative(hourWeights[t][:])
	}
	s.hourCum[4] = cumulative(pharmacyNight[:])

	// Daily quotas: the sale lines spread over the days by their weekday volume, exactly.
	dayW := make([]uint64, w.o.Days)
	var total uint64
	for d := range dayW {
		wd := weekday(w.o.startDay + int32(d))
		var sum uint64
		for _, in := range w.insts {
			sum += in.volume * weekdayPermille[in.typ][wd] / 1000
		}
		dayW[d] = max(sum, 1)
		total += dayW[d]
	}
	s.quota = make([]int, w.o.Days)
	var cum uint64
	prev := 0
	for d := range dayW {
		cum += dayW[d]
		hi, lo := bits.Mul64(uint64(w.o.saleLines), cum)
		upto, _ := bits.Div64(hi, lo, total)
		s.quota[d] = int(upto) - prev
		prev = int(upto)
	}

	// Where chronic patients buy: an institution of their county, else of their city,
	// else of the province.
	s.homes = map[int][]int{}
	for _, rg := range w.regions {
		if !rg.county {
			continue
		}
		s.homes[rg.idx] = rg.chronicHomes
		s.homes[rg.city] = append(s.homes[rg.city], rg.chronicHomes...)
		if rg.home {
			s.allHomes = append(s.allHomes, rg.chronicHomes...)
		}
	}
	s.chainStores = make([][]int, len(chainNames))
	for _, in := range w.insts {
		if in.chain >= 0 {
			s.chainStores[in.chain] = append(s.chainStores[in.chain], in.idx)
		}
	}
	s.fr = fr
	fr.attach(s)
	s.rd.offline = fr.offline
	return s
}

// collectChronic registers person p when it is a chronic patient.
func (s *sim) collectChronic(p *person) {
	if p.chronic != 0 && (p.death == 0 || p.death > s.o.startDay) {
		s.byDom[p.dom] = append(s.byDom[p.dom], int32(p.idx))
	}
}

func (s *sim) homeOf(p *person) int {
	list := s.homeList(p)
	if len(list) == 0 {
		return -1
	}
	return list[p.pref%uint64(len(list))]
}

// homeList returns the institutions where p may buy its chronic drugs: those of its
// county, else of its city, else of the province.
func (s *sim) homeList(p *person) []int {
	rg := s.w.regions[p.region]
	for _, list := range [][]int{s.homes[rg.idx], s.homes[rg.city], s.allHomes} {
		if len(list) > 0 {
			return list
		}
	}
	return nil
}

// maxEarlyDays is how many days before its day a chronic patient may come for its
// monthly purchase, and how much of a supply a person may have left when buying again.
const maxEarlyDays = 7

// supplySlots is the size of sim.supplyUntil (4 MB): fixed, so that memory does not
// grow with the persons.
const supplySlots = 1 << 20

// supplySlot returns the slot of person and drug in sim.supplyUntil.
func supplySlot(person, drug int) int {
	return int(mix(uint64(person)<<20^uint64(drug)^0x737570706c79) % supplySlots)
}

// monthOf numbers the calendar month of day dn.
func monthOf(dn int32) int {
	y, m, _ := civilFromDays(dn)
	return y*12 + m
}

// earlyDays returns how many days before its day of month (0–7) chronic patient p comes
// in month: ChronicEarlyPermille of the months, 1–7 days, never into the month before.
// A fixed function of the patient and the month, so the simulation draws nothing for it.
func (s *sim) earlyDays(p *person, month int) int {
	h := mix(p.pref ^ mix(uint64(month)^0x6561726c79))
	if int(h%1000) >= s.p.ChronicEarlyPermille {
		return 0
	}
	return min(1+int((h>>10)%maxEarlyDays), p.dom-1)
}

// chronicHome returns where chronic patient p buys in month: its home institution, or,
// for ChronicTwoHomesPermille of the patients, every other month a pharmacy of its home
// list other than its home (the honest look-alike of an over_supply case: the same
// drug bought at two institutions, a month apart). -1 when it has nowhere to buy.
func (s *sim) chronicHome(p *person, month int) int {
	home := s.homeOf(p)
	h := mix(p.pref ^ 0x74776f686f6d6573)
	if home < 0 || int(h%1000) >= s.p.ChronicTwoHomesPermille || month%2 == 0 {
		return home
	}
	list := s.homeList(p)
	off := int((h >> 10) % uint64(len(list)))
	for i := range list {
		if x := list[(off+i)%len(list)]; x != home && s.w.insts[x].typ == typePharmacy {
			return x
		}
	}
	return home
}

func (s *sim) newEvent(ev event) {
	s.seq++
	ev.seq = s.seq
	s.events = append(s.events, ev)
}

// run simulates the window.
func (s *sim) run() {
	s.opCh = make(chan []op, 8)
	s.done = make(chan struct{})
	s.ops = make([]op, 0, opBatch)
	go func() {
		for batch := range s.opCh {
			for _, f := range batch {
				f(s.rd)
			}
		}
		close(s.done)
	}()
	defer func() {
		s.opCh <- s.ops
		close(s.opCh)
		<-s.done
	}()
	s.openingStock()
	s.fr.openingStock()
	for day := range s.o.Days {
		s.plan(day)
		last := s.process(day)
		// Lines that found nothing in stock carry over to the next day; on the last day
		// they are tried again later that day, so the total comes out exact unless the
		// shelves are bare at the very end.
		base := int64(day) * 86400
		for round := 0; day == s.o.Days-1 && s.carry > 0 && round < 8; round++ {
			lo, hi := max(last+1, base+600), base+86400-600
			if lo >= hi {
				break
			}
			q := s.carry
			s.carry = 0
			wd := weekday(s.o.startDay + int32(day))
			for q > 0 {
				inst := s.r.pick(s.instCum[wd])
				k := min(1+s.r.pick(basketSizes), q)
				q -= k
				s.newEvent(event{t: lo + int64(s.r.intn(int(hi-lo))), kind: evBasket, inst: int32(inst), ref: -1, lines: int32(k)})
			}
			slices.SortFunc(s.events, eventLess)
			last = s.process(day)
		}
		s.returns[day] = nil
		s.orders[day] = nil
		s.fr.planned[day] = nil
	}
}

// process handles the planned events of a day and the cancels they schedule, in time
// order, and returns the time of the last one.
func (s *sim) process(day int) int64 {
	last := int64(day) * 86400
	i := 0
	for {
		var ev event
		switch {
		case i < len(s.events) && (len(s.dyn) == 0 || eventLess(s.events[i], s.dyn[0]) < 0):
			ev = s.events[i]
			i++
		case len(s.dyn) > 0:
			ev = s.dyn[0]
			s.dyn = s.dyn[1:]
		default:
			s.events = s.events[:0]
			s.dyn = s.dyn[:0]
			s.cancels = s.cancels[:0]
			return last
		}
		t := ev.t
		s.emit(func(r *renderer) { r.out.flushBefore(t) })
		s.handle(day, ev)
		last = ev.t
	}
}

// plan lays out the events of a day: deliveries, stocktakes, returns, the chronic
// patients' monthly purchases and the other baskets, sorted by time.
func (s *sim) plan(day int) {
	dn := s.o.startDay + int32(day)
	base := int64(day) * 86400
	_, _, dom := civilFromDays(dn)
	for k, o := range s.orders[day] {
		s.newEvent(event{t: base + 8*3600 + int64(s.r.intn(4*3600)), kind: evDelivery, inst: int32(o.inst), ref: int32(k)})
	}
	if day == 0 || dom == 1 {
		// Before opening: within ten minutes of midnight where sales go on at night
		// (hospitals, pharmacies open at night), else before six.
		for i, in := range s.w.insts {
			span := 6 * 3600
			if in.typ == typeHospital || in.open24h {
				span = 540
			}
			s.newEvent(event{t: base + int64(s.r.intn(span)), kind: evStocktake, inst: int32(i)})
		}
	}
	for k, ret := range s.returns[day] {
		s.newEvent(event{t: base + 9*3600 + int64(s.r.intn(11*3600)), kind: evReturn, inst: int32(ret.inst), ref: int32(k)})
	}
	q := s.quota[day] + s.carry
	s.carry = 0
	for k, pe := range s.fr.planned[day] {
		s.newEvent(event{t: pe.t, kind: evPlanted, inst: int32(pe.inst), ref: int32(k)})
		q -= pe.lines
	}
	if q < 0 {
		s.carry, q = q, 0 // planted lines beyond the day's quota come out of the next days'
	}
	if dom <= 28 {
		// The chronic patients whose day is today, and those whose day is up to a week
		// away who come early this month.
		month := monthOf(dn)
	patients:
		for k := 0; k <= maxEarlyDays && dom+k <= 28; k++ {
			for _, pi := range s.byDom[dom+k] {
				p := s.w.person(int(pi))
				if s.earlyDays(&p, month) != k || !p.alive(dn) {
					continue
				}
				lines := int32(bits.OnesCount8(p.chronic))
				if int(lines) > q {
					break patients
				}
				home := s.chronicHome(&p, month)
				if home < 0 {
					continue
				}
				q -= int(lines)
				t := s.basketTime(day, home)
				s.fr.trips.expectChronic(day, int(pi), home, t)
				s.newEvent(event{t: t, kind: evBasket, inst: int32(home), ref: pi, lines: lines, chronic: true})
			}
		}
	}
	wd := weekday(dn)
	for q > 0 {
		inst := s.r.pick(s.instCum[wd])
		k := min(1+s.r.pick(basketSizes), q)
		q -= k
		s.newEvent(event{t: s.basketTime(day, inst), kind: evBasket, inst: int32(inst), ref: -1, lines: int32(k)})
	}
	slices.SortFunc(s.events, eventLess)
}

// basketTime draws the time of a basket at institution inst: an hour by the type's
// rhythm, a second within it; never in the first ten minutes (the stocktakes) nor the
// last ten (the messages of a basket stay within its day).
func (s *sim) basketTime(day, inst int) int64 {
	in := s.w.insts[inst]
	hc := s.hourCum[in.typ]
	if in.open24h {
		hc = s.hourCum[4]
	}
	t := int64(s.r.pick(hc))*3600 + int64(s.r.intn(3600))
	t = min(max(t, 600), 86400-600)
	return int64(day)*86400 + t
}

func (s *sim) handle(day int, ev event) {
	in := s.w.insts[ev.inst]
	switch ev.kind {
	case evStocktake:
		s.stocktake(day, ev.t, in)
	case evDelivery:
		s.deliver(day, ev.t, in, s.orders[day][ev.ref])
	case evReturn:
		s.saleReturn(day, ev.t, in, s.returns[day][ev.ref])
	case evCancel:
		s.cancelLater(day, ev.t, in, s.cancels[ev.ref])
	case evBasket:
		s.basket(day, ev)
	case evPlanted:
		pe := s.fr.planned[day][ev.ref]
		if next := s.fr.resumeDay(pe.inst, day); next != day {
			// The institution's uploads are down (upload_outage): an act planned while the
			// simulation runs (a resale, a reused photo's sale) waits until they are back.
			if next < s.o.Days {
				pe.t += int64(next-day) * 86400
				s.fr.planned[next] = append(s.fr.planned[next], pe)
			}
			s.carry += pe.lines
			return
		}
		s.emit(func(r *renderer) { r.keep = true }) // planted acts are uploaded even during an outage
		s.fr.actT = ev.t + 1
		written := pe.do(day, ev.t)
		s.fr.actT = 0
		s.emit(func(r *renderer) { r.keep = false })
		s.carry += pe.lines - written
	}
}

// ---- supply ----

// lotFor draws the production date of a shipment on day dn: 1–8 months old, or (short
// dated) so old that it expires 20–100 days later.
func (s *sim) lotFor(d *drug, dn int32, shortDated bool) (manu, expiry int32) {
	if shortDated {
		expiry = dn + int32(s.r.between(20, 100))
		manu = addMonths(expiry+1, -d.shelf)
		return manu, expiry
	}
	manu = dn - int32(s.r.between(30, 240))
	return manu, addMonths(manu, d.shelf) - 1
}

// addMonths moves a day number by n months (the day of month is kept; a day past the
// month's end runs into the next month).
func addMonths(day int32, n int) int32 {
	y, m, d := civilFromDays(day)
	m += n
	for m > 12 {
		m -= 12
		y++
	}
	for m < 1 {
		m += 12
		y--
	}
	return daysFromCivil(y, m, d)
}

// lotCarton returns a carton of a new lot of d at institution in: its batch number,
// lot number and dates, no packs yet.
func (s *sim) lotCarton(in *institution, d *drug, manu, expiry int32) *carton {
	in.batch++
	bchno := string(appendPadded([]byte("B"), uint64(in.batch), 8))
	y, m, dd := civilFromDays(manu)
	lot := string(append2(append2(append2(nil, y%100), m), dd)) + string(append2(nil, d.lotTag))
	if d.imported {
		lot = "L" + lot
	}
	ey, em, ed := civilFromDays(expiry)
	manuS, expS := string(appendDate(nil, manu)), string(appendDate(nil, expiry))
	yymmdd := string(append2(append2(append2(nil, ey%100), em), ed))
	json := `"fixmedins_bchno":"` + bchno + `","manu_lotnum":"` + lot + `","manu_date":"` + manuS + `","expy_end":"` + expS + `",`
	return &carton{d: d, manu: manu, expiry: expiry, bchno: bchno, lot: lot, manuS: manuS, expS: expS, yymmdd: yymmdd, json: json}
}

// newCartons makes k cartons of one lot for institution in and records their package
// links.
func (s *sim) newCartons(in *institution, d *drug, k int, manu, expiry int32) []*carton {
	tmpl := s.lotCarton(in, d, manu, expiry)
	out := make([]*carton, k)
	for i := range out {
		c := new(carton)
		*c = *tmpl
		c.n = int32(d.carton)
		if d.coded {
			c.serial = d.nextCarton
			d.nextCarton++
			c.first = d.nextBox
			d.nextBox += uint64(d.carton)
			s.packageLinks(c)
		}
		out[i] = c
	}
	return out
}

// op is a rendering operation; ops run in order on the renderer's goroutine.
type op func(r *renderer)

const opBatch = 512

func (s *sim) emit(f op) {
	s.ops = append(s.ops, f)
	if len(s.ops) == opBatch {
		s.opCh <- s.ops
		s.ops = make([]op, 0, opBatch)
	}
}

// packageLinks records the carton's children in packages.csv.
func (s *sim) packageLinks(c *carton) {
	s.emit(func(r *renderer) { r.packageLinks(c) })
}

// openingStock puts the stock every institution holds when the window opens on its
// shelves: enough for about ten days, the first carton partly sold before the window.
func (s *sim) openingStock() {
	for _, in := range s.w.insts {
		for _, sl := range in.slots {
			d := sl.d
			need := int(sl.reorder) + int((7*sl.perDay+999)/1000)
			k := max(1, (need+d.carton-1)/d.carton)
			var manu, expiry int32
			if s.r.permille(s.p.ShortDatedPermille) {
				manu, expiry = s.lotFor(d, s.o.startDay, true)
			} else {
				manu = s.o.startDay - int32(s.r.between(60, 400))
				expiry = addMonths(manu, d.shelf) - 1
			}
			cs := s.newCartons(in, d, k, manu, expiry)
			cs[0].next = int32(s.r.intn(int(cs[0].n)))
			for _, c := range cs {
				sl.add(c)
			}
		}
	}
}

// order asks the distributor for cartons when the shelf runs low.
func (s *sim) reorder(day int, in *institution, si int) {
	sl := in.slots[si]
	if sl.onOrder || sl.whole >= sl.reorder || day+1 >= s.o.Days {
		return
	}
	sl.onOrder = true
	o := order{inst: in.idx, slot: si, from: -1}
	if in.chain >= 0 && s.r.permille(s.p.TransferPermille) {
		o.from = s.sister(in, sl.d)
	}
	s.orders[day+1] = append(s.orders[day+1], o)
}

// sister picks a store of in's chain with a carton of d to spare, or -1.
func (s *sim) sister(in *institution, d *drug) int {
	var c []int
	for _, x := range s.chainStores[in.chain] {
		o := s.w.insts[x]
		if o == in {
			continue
		}
		if si := slotOf(o, d); si >= 0 && o.slots[si].whole-o.slots[si].reorder >= 4 {
			c = append(c, x)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return c[s.r.intn(len(c))]
}

func (s *sim) deliver(day int, t int64, in *institution, o order) {
	if next := s.fr.resumeDay(in.idx, day); next != day {
		// Uploads are down (upload_outage): the delivery waits until they are back, so
		// that no pack arrives unrecorded.
		if next < s.o.Days {
			s.orders[next] = append(s.orders[next], o)
		}
		return
	}
	sl := in.slots[o.slot]
	sl.onOrder = false
	if o.from >= 0 && s.transfer(day, t, in, o.slot, s.w.insts[o.from]) {
		return
	}
	dn := s.o.startDay + int32(day)
	manu, expiry := s.lotFor(sl.d, dn, s.r.permille(s.p.ShortDatedPermille))
	cs := s.newCartons(in, sl.d, int(sl.orderCartons), manu, expiry)
	for _, c := range cs {
		sl.add(c)
	}
	s.purchase(t, in, sl, cs)
	if day+1 < s.o.Days && s.r.permille(s.p.PurchaseReturnPermille) {
		// A carton goes back to the distributor the next morning (damaged, wrong item),
		// if it is still unopened then.
		c := cs[len(cs)-1]
		back := int64(day+1)*86400 + 8*3600 + int64(s.r.intn(3*3600))
		s.fr.plan(day+1, back, in.idx, 0, func(day int, t int64) int {
			if sl.takeCarton(c) {
				s.purchaseReturn(t, in, c)
				s.reorder(day, in, o.slot)
			}
			return 0
		})
	}
}

// transfer serves a reorder of a chain pharmacy from a sister store: a few whole packs
// move, reported per batch by a 3502 of type 102 (调拨出库) at the sister and one of type
// 101 (调拨入库) at in, each listing the codes at its own collection rate. Chain stores
// share their batch numbers. false when the sister has nothing to spare.
func (s *sim) transfer(day int, t int64, in *institution, si int, from *institution) bool {
	sl := in.slots[si]
	fi := slotOf(from, sl.d)
	if fi < 0 {
		return false
	}
	fsl := from.slots[fi]
	n := min(int(fsl.whole-fsl.reorder)-2, int(max(2*sl.reorder, 4)))
	if n < 2 {
		return false
	}
	dn := s.o.startDay + int32(day)
	var bs []box
	for len(bs) < n {
		b, ok := fsl.take(dn, nil, func(c *carton, gone []box) { s.expired(t, from, c, gone, 0) })
		if !ok {
			break
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return false
	}
	for _, b := range bs {
		sl.putBack(b)
	}
	opF, opI := s.staff(from), s.staff(in)
	for len(bs) > 0 {
		k := 1
		for k < len(bs) && bs[k].c == bs[0].c {
			k++
		}
		group := bs[:k]
		bs = bs[k:]
		out, got := s.listBoxes(from, group), s.listBoxes(in, group)
		c := group[0].c
		s.emit(func(r *renderer) {
			r.transfer(t, from, c, "102", k, out, "调拨至"+in.name, opF)
			r.transfer(t+30, in, c, "101", k, got, "调拨自"+from.name, opI)
		})
	}
	return true
}

// expired reports packs found expired on the shelf as destroyed (3502, 105).
func (s *sim) expired(t int64, in *institution, c *carton, boxes []box, units int32) {
	op := s.staff(in)
	s.emit(func(r *renderer) { r.destroy(t, in, c, boxes, units, op) })
}

// ---- sales ----

// pickPerson draws the customer of a basket at in: mostly someone from its county, else
// its city or province; now and then a person insured in the neighbouring province.
// Customers are alive; older people buy more often.
func (s *sim) pickPerson(in *institution, dn int32) (person, bool) {
	w := s.w
	rg := w.regions[in.county]
	cityR := w.regions[rg.city]
	for range 6 {
		var lo, hi int
		own, other := [2]int{0, w.homeP}, [2]int{w.homeP, w.persons} // the province's persons, the neighbour's
		if !rg.home {
			own, other = other, own
		}
		// Where customers come from (‰ county, then city, the rest the province): a
		// hospital serves its city, the others their neighbourhood.
		county, city := 700, 950
		switch {
		case in.typ == typeHospital:
			county, city = 150, 800
		case !rg.home: // the neighbour province has one city here: all of it
			county = 0
		}
		switch u := s.r.intn(1000); {
		case rg.home && u < s.p.NeighbourBuyerPermille, !rg.home && u < 30:
			lo, hi = other[0], other[1]
		case u < county:
			lo, hi = rg.pStart, rg.pEnd
		case u < city:
			lo, hi = cityR.pStart, cityR.pEnd
		default:
			lo, hi = own[0], own[1]
		}
		if hi <= lo {
			continue
		}
		p := w.person(lo + s.r.intn(hi-lo))
		if !p.alive(dn) {
			continue
		}
		age := ageAt(p.birth, dn)
		accept := 1000
		switch {
		case age < 15:
			accept = 400
		case age < 45:
			accept = 600
		case age < 60:
			accept = 900
		}
		if !s.r.permille(accept) {
			continue
		}
		return p, true
	}
	return person{}, false
}

// allowed reports whether d may be sold to p on day dn (gender and age limits).
func allowed(d *drug, p *person, dn int32) bool {
	if d.gender != 0 && d.gender != p.gender {
		return false
	}
	if d.minAge > 0 || d.maxAge > 0 {
		age := ageAt(p.birth, dn)
		if d.minAge > 0 && age < d.minAge || d.maxAge > 0 && age > d.maxAge {
			return false
		}
	}
	return true
}

// basket handles a customer at the counter.
func (s *sim) basket(day int, ev event) {
	in := s.w.insts[ev.inst]
	dn := s.o.startDay + int32(day)
	var p person
	known := false
	if ev.chronic {
		p, known = s.w.person(int(ev.ref)), true
	} else {
		p, known = s.pickPerson(in, dn)
		for try := 0; known && s.fr.inStay(p.idx, ev.t) && try < 3; try++ {
			p, known = s.pickPerson(in, dn) // someone not in hospital
		}
		if known {
			p, known = s.honestCustomer(p, in, ev.t, dn) // honest persons travel at honest speed
		}
	}
	if known && s.fr.inStay(p.idx, ev.t) {
		if ev.chronic {
			s.carry += int(ev.lines) // in hospital: no monthly purchase (nobody buys with the card meanwhile)
			return
		}
		known = false
	}
	if ev.chronic && s.fr.trips.clash(s.w, p.idx, int(ev.inst), ev.t) {
		s.carry += int(ev.lines) // just bought in another city: no monthly purchase today
		return
	}
	if known {
		s.fr.trips.seen(p.idx, in.idx, ev.t)
	}
	insured := known && (ev.chronic || !s.r.permille(s.p.SelfPayPermille[in.typ]))
	nonDrug := !ev.chronic && in.typ == typePharmacy && s.r.permille(s.p.NonDrugBasketPermille)
	if nonDrug || s.fr.noInsurance(in, day) {
		insured = false
	}
	s.items, s.boxes = s.items[:0], s.boxes[:0]
	for range ev.lines {
		if !s.pickItem(day, ev.t, in, &p, known, insured, nonDrug, ev.chronic) {
			s.carry++
		}
	}
	if len(s.items) == 0 {
		return
	}
	for i := range s.items {
		if s.items[i].sl.whole < s.items[i].sl.reorder {
			s.reorder(day, in, s.items[i].slot)
		}
	}
	if insured {
		s.settle(day, ev.t, in, &p, ev.chronic)
	} else {
		s.selfPay(day, ev.t, in, &p, known)
	}
}

// pickItem chooses a product and takes its packs off the shelf; false when nothing
// suitable is in stock.
func (s *sim) pickItem(day int, t int64, in *institution, p *person, known, insured, nonDrug, chronic bool) bool {
	dn := s.o.startDay + int32(day)
	tries := 8
	var chronicSlots []int
	if chronic {
		for b := range 2 {
			if p.chronic&(1<<b) != 0 && len(in.chronic[b]) > 0 && !s.basketHasChronic(in, b) {
				chronicSlots = in.chronic[b]
				break
			}
		}
		if chronicSlots == nil {
			return false
		}
		tries = len(chronicSlots)
	}
	for try := range tries {
		var si int
		switch {
		case chronic:
			si = chronicSlots[(int(p.pref>>8)+try)%len(chronicSlots)]
		case nonDrug:
			if len(in.nonDrug) == 0 {
				return false
			}
			si = in.nonDrug[s.r.intn(len(in.nonDrug))]
		default:
			si = s.r.pick(in.cum)
		}
		sl := in.slots[si]
		d := sl.d
		if s.inBasket(si) || nonDrug != (d.kind >= kindConsumable) || insured && !d.reimb {
			continue
		}
		if known && !allowed(d, p, dn) {
			continue
		}
		tracked := known && !chronic && d.dose > 0 // a drug of known daily dose, outside a chronic purchase
		if tracked && (d.chronic&p.chronic != 0 || s.supplyUntil[supplySlot(p.idx, d.idx)] > dn+maxEarlyDays) {
			// A chronic patient's drugs come with its monthly purchase (med_type 14);
			// anyone else buys one again when its last purchase has run down to a week.
			continue
		}
		it := item{slot: si, sl: sl, d: d, b0: len(s.boxes)}
		split := d.split && (d.kind == kindHerbal || s.r.permille(s.p.SplitPermille[in.typ]))
		if split {
			if sl.openLeft > 0 && !sl.open.c.usable(dn) {
				s.expired(t, in, sl.open.c, []box{sl.open}, sl.openLeft)
				sl.openLeft = 0
			}
			if sl.openLeft == 0 {
				b, ok := sl.take(dn, nil, func(c *carton, bs []box) { s.expired(t, in, c, bs, 0) })
				if !ok {
					continue
				}
				sl.open, sl.openLeft = b, int32(d.pack)
			}
			want := int32(max(1, d.pack/4+s.r.intn(max(1, d.pack/4))))
			if d.kind == kindHerbal {
				want = int32(10 * s.r.between(1, 6))
			}
			it.split, it.qty = true, min(want, sl.openLeft)
			sl.openLeft -= it.qty
			s.boxes = append(s.boxes, sl.open)
			it.nb = 1
			it.unit = (d.price*100 + int64(d.pack)/2) / int64(d.pack)
			it.amount = (int64(it.qty)*it.unit + 50) / 100
		} else {
			want := 1
			if !chronic {
				switch u := s.r.intn(100); {
				case u >= 97:
					want = 3
				case u >= 82:
					want = 2
				}
				if d.dose > 0 {
					want = min(want, d.monthPacks(false)) // never more than a month of a chronic drug
				}
			} else {
				want = d.monthPacks(false)
			}
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
				continue
			}
			it.qty = int32(it.nb)
			it.unit = d.price
			it.amount = int64(it.qty) * d.price
		}
		it.scanned = d.coded && (insured || s.r.permille(in.collect)) && !s.fr.scanOff(in, day)
		it.dup = it.scanned && s.r.permille(s.p.DoubleScanPermille)
		s.fr.priceItem(day, in, &it)
		s.items = append(s.items, it)
		if tracked {
			units := int64(it.qty)
			if !it.split {
				units *= int64(d.pack)
			}
			until := &s.supplyUntil[supplySlot(p.idx, d.idx)]
			*until = max(*until, dn) + int32(d.supplyDays(units))
		}
		return true
	}
	return false
}

func (s *sim) inBasket(si int) bool {
	for i := range s.items {
		if s.items[i].slot == si {
			return true
		}
	}
	return false
}

func (s *sim) basketHasChronic(in *institution, b int) bool {
	for i := range s.items {
		if s.items[i].sl.d.chronic&(1<<b) != 0 {
			return true
		}
	}
	return false
}

// settle queues an insured basket: fee lines (2204), the settlement with its trace
// codes (2207) and one inventory sale (3505) per line; now and then the settlement is
// cancelled (2208), either re-settled at once or later in the day with the packs going
// back on the shelf.
func (s *sim) settle(day int, t int64, in *institution, p *person, chronic bool) {
	medType := "11"
	switch {
	case chronic:
		medType = "14"
	case in.typ == typePharmacy:
		medType = "41"
	}
	s.mdtrtSeq++
	mdtrt := s.newID(day, in, '1', s.mdtrtSeq)
	ph := s.staff(in)
	receipt := s.receipt(day, in)
	s.numberFees(day, in)
	setl := s.newSettlement(day, in)
	s.fr.settled(day, in, setl)
	cancel := s.r.permille(s.p.CancelPermille)
	if !cancel {
		s.fr.onBasket(day, t, in, p, true, setl, receipt)
	}
	s.feeLines(t, in, p, mdtrt, ph)
	s.settlement(t+2+int64(s.r.intn(4)), in, p, mdtrt, setl, medType)
	st := t + 8
	if cancel {
		hasSplit := false
		for i := range s.items {
			hasSplit = hasSplit || s.items[i].split
		}
		later := t + 3600 + int64(s.r.intn(3*3600))
		if hasSplit || s.r.permille(s.p.ResettlePermille) || later >= int64(day+1)*86400-600 {
			// Cancelled and settled again a few minutes later (a wrong insurance type,
			// a price corrected): the codes appear in two settlements, one void.
			ct := t + 60 + int64(s.r.intn(120))
			s.cancel(ct, in, p.idx, setl, mdtrt)
			t2 := ct + 10 + int64(s.r.intn(20))
			s.numberFees(day, in)
			setl = s.newSettlement(day, in)
			s.fr.settled(day, in, setl)
			s.feeLines(t2, in, p, mdtrt, ph)
			s.settlement(t2+3, in, p, mdtrt, setl, medType)
			st = t2 + 8
		} else {
			lc := &laterCancel{inst: in.idx, setl: setl, mdtrt: mdtrt, person: p.idx}
			for i := range s.items {
				it := &s.items[i]
				lc.items = append(lc.items, cancelItem{slot: it.slot, boxes: slices.Clone(s.boxes[it.b0 : it.b0+it.nb])})
			}
			s.cancels = append(s.cancels, lc)
			s.seq++
			s.dyn = append(s.dyn, event{t: later, seq: s.seq, kind: evCancel, inst: int32(in.idx), ref: int32(len(s.cancels) - 1)})
			slices.SortFunc(s.dyn, eventLess)
		}
	}
	for i := range s.items {
		s.sale(st+int64(i), in, p, true, &s.items[i], i+1, receipt, mdtrt, setl, ph)
	}
}

// selfPay queues a basket paid out of pocket: one 3505 per line, no settlement. Now
// and then a customer brings a pack back on a later day (3506) and it is sold again.
func (s *sim) selfPay(day int, t int64, in *institution, p *person, known bool) {
	ph := s.staff(in)
	receipt := s.receipt(day, in)
	in.visit++
	visit := s.docNo('M', day, in, in.visit)
	var who *person
	if known && s.r.permille(500) {
		who = p
	}
	returned := s.r.permille(s.p.ReturnPermille)
	if !returned {
		s.fr.onBasket(day, t, in, who, false, "", receipt)
	}
	for i := range s.items {
		s.sale(t+int64(i), in, who, false, &s.items[i], i+1, receipt, visit, "", ph)
	}
	if returned {
		for i := range s.items {
			it := &s.items[i]
			if it.split || !it.sl.d.coded {
				continue
			}
			back := day + 1 + s.r.intn(7)
			if back >= s.o.Days {
				break
			}
			ret := &saleReturn{inst: in.idx, slot: it.slot, boxes: slices.Clone(s.boxes[it.b0 : it.b0+it.nb]),
				unit: it.unit, person: -1, stoout: receipt + "-" + itoa(i+1), scanned: it.scanned}
			if who != nil {
				ret.person = who.idx
			}
			s.returns[back] = append(s.returns[back], ret)
			break
		}
	}
}

func (s *sim) saleReturn(day int, t int64, in *institution, ret *saleReturn) {
	if s.fr.offline(in.idx, day) {
		return // uploads are down: no pack comes back to the shelf unrecorded
	}
	sl := in.slots[ret.slot]
	for _, b := range ret.boxes {
		sl.putBack(b)
	}
	s.returnMsg(day, t, in, ret)
}

func (s *sim) cancelLater(day int, t int64, in *institution, lc *laterCancel) {
	if s.fr.offline(in.idx, day) {
		return // uploads are down: the settlement stands, its packs stay sold
	}
	for _, ci := range lc.items {
		sl := in.slots[ci.slot]
		for _, b := range ci.boxes {
			sl.putBack(b)
		}
	}
	s.cancel(t, in, lc.person, lc.setl, lc.mdtrt)
}

// ---- identifiers ----

func itoa(n int) string { return string(appendInt(nil, int64(n))) }

// newID makes a platform identifier (mdtrt_id, setl_id): the institution's province,
// the date, a kind digit and a serial unique in the province.
func (s *sim) newID(day int, in *institution, kind byte, n uint64) string {
	b := append(s.tmp[:0], s.w.regions[in.county].code[:2]...)
	b = append(b, s.clk.compact[day]...)
	b = append(b, kind)
	b = appendPadded(b, n, 9)
	s.tmp = b
	return string(b)
}

func (s *sim) newSettlement(day int, in *institution) string {
	s.setlSeq++
	return s.newID(day, in, '2', s.setlSeq)
}

func (s *sim) receipt(day int, in *institution) string {
	in.receipt++
	return s.docNo('R', day, in, in.receipt)
}

// docNo makes a document number of an institution (receipt R…, return T…, visit M…):
// the letter, the date, the institution's number in the province (5 digits) and its
// own sequence, so that numbers never repeat across institutions.
func (s *sim) docNo(letter byte, day int, in *institution, seq int) string {
	b := append(s.tmp[:0], letter)
	b = append(b, s.clk.compact[day]...)
	b = appendPadded(b, uint64((in.idx+1)%100_000), 5)
	b = appendPadded(b, uint64(seq%1_000_000), 6)
	s.tmp = b
	return string(b)
}

// numberFees gives the basket's lines their fee line numbers.
func (s *sim) numberFees(day int, in *institution) {
	for i := range s.items {
		in.fee++
		s.items[i].fee = in.fee
	}
}

// staff picks the pharmacist (or village doctor) at the counter.
func (s *sim) staff(in *institution) *practitioner {
	return s.w.pracs[in.pharmacist[s.r.intn(len(in.pharmacist))]]
}

// prescriber returns the doctor named on a sale line: one of the institution's doctors,
// for a pharmacy a doctor of a hospital of its city (an outside prescription), and for
// an over-the-counter sale at a pharmacy the pharmacist.
func (s *sim) prescriber(in *institution, d *drug, ph *practitioner) (*practitioner, bool) {
	if len(in.doctors) > 0 {
		return s.w.pracs[in.doctors[s.r.intn(len(in.doctors))]], false
	}
	if d.rx {
		hs := s.w.regions[s.w.regions[in.county].city].hospitals
		if len(hs) > 0 {
			h := s.w.insts[hs[s.r.intn(len(hs))]]
			return s.w.pracs[h.doctors[s.r.intn(len(h.doctors))]], true
		}
	}
	return ph, false
}
