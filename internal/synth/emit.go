package synth

import "slices"

// The simulation's side of rendering: each function draws what is left to chance (the
// staff at the counter, the prescriber, which inbound codes get scanned), copies what
// the simulation will change afterwards (the basket), and queues the renderer's work.

func (s *sim) feeLines(t int64, in *institution, p *person, mdtrt string, ph *practitioner) {
	items, pp := slices.Clone(s.items), *p
	s.emit(func(r *renderer) { r.feeLines(t, in, &pp, items, mdtrt, ph) })
}

func (s *sim) settlement(t int64, in *institution, p *person, mdtrt, setl, medType string) {
	items, boxes, pp := slices.Clone(s.items), slices.Clone(s.boxes), *p
	ph := s.staff(in)
	s.fr.noteSettlement(p.idx, in.idx, t)
	s.emit(func(r *renderer) { r.settlement(t, in, &pp, items, boxes, mdtrt, setl, medType, ph) })
}

func (s *sim) cancel(t int64, in *institution, person int, setl, mdtrt string) {
	p := s.w.person(person)
	op := s.staff(in)
	s.emit(func(r *renderer) { r.cancel(t, in, &p, setl, mdtrt, op) })
}

func (s *sim) sale(t int64, in *institution, p *person, insured bool, it *item, line int, receipt, visit, setl string, ph *practitioner) {
	dr, outside := s.prescriber(in, it.d, ph)
	one := *it
	boxes := slices.Clone(s.boxes[it.b0 : it.b0+it.nb])
	one.b0 = 0
	var pp *person
	if p != nil {
		c := *p
		pp = &c
	}
	s.emit(func(r *renderer) {
		r.sale(t, in, pp, insured, &one, boxes, line, receipt, visit, setl, ph, dr, outside)
	})
}

func (s *sim) returnMsg(day int, t int64, in *institution, ret *saleReturn) {
	var pp *person
	if ret.person >= 0 {
		p := s.w.person(ret.person)
		pp = &p
	}
	op := s.staff(in)
	in.visit++
	visit := s.docNo('M', day, in, in.visit)
	in.receipt++
	receipt := s.docNo('T', day, in, in.receipt)
	s.emit(func(r *renderer) { r.returnMsg(t, in, ret, pp, visit, receipt, op) })
}

// purchase queues a 3503 (商品采购) of a delivery. The institution scans its inbound
// codes at its collection rate: per carton, the carton code, or each pack's code with a
// probability that makes the expected share of packs covered equal the rate.
func (s *sim) purchase(t int64, in *institution, sl *slot, cs []*carton) {
	d := sl.d
	op := s.staff(in)
	listed := s.listScans(in, cs)
	if s.o.InboundCartons > 0 && d.coded && s.cartonR.permille(s.o.InboundCartons) {
		// The institution scans the carton codes (大码) instead of the boxes: the
		// packages file links each carton to its packs.
		listed = listed[:0]
		for _, c := range cs {
			listed = append(listed, scan{c: c, carton: true})
		}
		s.cartonPurchases++
	}
	total := packsIn(cs)
	s.emit(func(r *renderer) { r.purchase(t, in, d, cs, total, listed, op) })
}

// listScans draws the inbound (or outbound) codes in lists for whole cartons cs: per
// carton its carton code, or each pack's code with the probability that makes the
// expected share of packs covered equal its collection rate.
func (s *sim) listScans(in *institution, cs []*carton) []scan {
	if !cs[0].d.coded {
		return nil
	}
	var listed []scan
	cartonP := in.collect * s.p.CartonScanPermille / 1000
	boxP := 1000
	if cartonP < 1000 {
		boxP = (in.collect - cartonP) * 1000 / (1000 - cartonP)
	}
	for _, x := range cs {
		if s.r.permille(cartonP) {
			listed = append(listed, scan{c: x, carton: true})
			continue
		}
		for i := range x.n {
			if s.r.permille(boxP) {
				listed = append(listed, scan{c: x, i: i})
			}
		}
	}
	return listed
}

// listBoxes draws which codes of the packs bs an institution lists: each at its
// collection rate.
func (s *sim) listBoxes(in *institution, bs []box) []scan {
	if !bs[0].c.d.coded {
		return nil
	}
	var listed []scan
	for _, b := range bs {
		if s.r.permille(in.collect) {
			listed = append(listed, scan{c: b.c, i: b.i})
		}
	}
	return listed
}

// purchaseReturn queues a 3504 (商品采购退货) of an unopened carton.
func (s *sim) purchaseReturn(t int64, in *institution, c *carton) {
	op := s.staff(in)
	listed := s.listScans(in, []*carton{c})
	s.emit(func(r *renderer) { r.purchaseReturn(t, in, c, listed, op) })
}

// packsIn counts the packs left in cartons (when they are delivered; the renderer runs
// later, after sales may have opened them).
func packsIn(cs []*carton) int {
	n := 0
	for _, c := range cs {
		n += int(c.n - c.next)
	}
	return n
}

// purchaseListed queues a 3503 of cartons with the codes listed given.
func (s *sim) purchaseListed(t int64, in *institution, d *drug, cs []*carton, listed []scan) {
	op := s.staff(in)
	total := packsIn(cs)
	s.emit(func(r *renderer) { r.purchase(t, in, d, cs, total, listed, op) })
}

// malformed queues a 3505 of a made-up self-pay sale that ingest must quarantine (kind
// 0: rtal_docno left out, 1: sel_retn_cnt "abc", 2: the line cut short). It moves no
// stock; l, the case's label, receives the msgid.
func (s *sim) malformed(day int, t int64, in *institution, kind int, l *plantLabel) {
	r := s.fr.r
	dn := s.o.startDay + int32(day)
	si := r.intn(len(in.slots))
	sl := in.slots[si]
	d := sl.d
	var c *carton
	for _, x := range sl.queue {
		if x.next < x.n {
			c = x
			break
		}
	}
	if c == nil {
		c = s.fakeCarton(in, d, dn, 1)
	}
	it := item{slot: si, sl: sl, d: d, nb: 1, qty: 1, unit: d.price, amount: d.price}
	boxes := []box{{c, c.next}}
	ph := s.staff(in)
	dr, outside := s.prescriber(in, d, ph)
	receipt := s.receipt(day, in)
	in.visit++
	visit := s.docNo('M', day, in, in.visit)
	cut := 300 + r.intn(500) // ‰ of the line kept when it is cut short
	s.emit(func(rd *renderer) {
		rd.malformed(t, kind, cut, l, in, &it, boxes, receipt, visit, ph, dr, outside)
	})
}

// stocktake queues the institution's 3501 (商品盘存上传) rows, one message per product
// and batch in stock. The first stocktake, at the opening of the window, lists the
// codes of the packs on the shelf (at the institution's collection rate); the monthly
// ones report quantities only.
func (s *sim) stocktake(day int, t int64, in *institution) {
	type group struct {
		c     *carton
		whole int32
		units int32
		boxes []scan
	}
	op := s.staff(in)
	var gs []group
	at := func(c *carton) *group {
		for i := range gs {
			if gs[i].c.bchno == c.bchno {
				return &gs[i]
			}
		}
		gs = append(gs, group{c: c})
		return &gs[len(gs)-1]
	}
	for _, sl := range in.slots {
		gs = gs[:0]
		for _, c := range sl.queue {
			if c.next >= c.n {
				continue
			}
			g := at(c)
			g.whole += c.n - c.next
			if day == 0 && c.d.coded {
				for i := c.next; i < c.n; i++ {
					if s.r.permille(in.collect) {
						g.boxes = append(g.boxes, scan{c: c, i: i})
					}
				}
			}
		}
		for _, bx := range sl.returned {
			at(bx.c).whole++
		}
		if sl.openLeft > 0 {
			at(sl.open.c).units += sl.openLeft
		}
		d := sl.d
		for _, g := range gs {
			c, listed := g.c, g.boxes
			hundredths := int64(g.whole)*100 + int64(g.units)*100/int64(d.pack)
			s.emit(func(r *renderer) { r.stocktake(t, day, in, d, c, hundredths, listed, op) })
		}
	}
	// Packs kept apart from the shelf (the expired-sale cases): every code listed at the
	// opening, counted afterwards until sold.
	for _, c := range s.fr.held[in.idx] {
		if c.next >= c.n {
			continue
		}
		var listed []scan
		if day == 0 {
			for i := c.next; i < c.n; i++ {
				listed = append(listed, scan{c: c, i: i})
			}
		}
		hundredths := int64(c.n-c.next) * 100
		s.emit(func(r *renderer) { r.stocktake(t, day, in, c.d, c, hundredths, listed, op) })
	}
}
