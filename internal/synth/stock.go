package synth

// The stock of one product at one institution: cartons received (oldest first), packs
// that came back (returns, cancelled settlements), and the pack opened for split sales.
// Every pack sold comes from here, so a sale always sells a pack the institution
// received, never more than its content, and never on or after its expiry date.

// carton is one carton (大码) of sales packs with consecutive serials.
type carton struct {
	d      *drug
	serial uint64 // the carton's own serial
	first  uint64 // serial of its first pack
	n      int32  // packs in it
	next   int32  // packs before next are gone (sold, opened or before the window)
	manu   int32  // day numbers: production date and expiry date (有效期至)
	expiry int32
	bchno  string // the institution's batch number (fixmedins_bchno)
	lot    string // manu_lotnum
	manuS  string // yyyy-mm-dd
	expS   string
	yymmdd string // expiry as GS1 (17) YYMMDD
	json   string // its members of a sale row: batch, lot, dates
}

// usable reports whether packs of c may be sold on day: strictly before the expiry date.
func (c *carton) usable(day int32) bool { return day < c.expiry }

// box is one sales pack (小码): pack i of carton c.
type box struct {
	c *carton
	i int32
}

func (b box) serial() uint64 { return b.c.first + uint64(b.i) }

// slot is one product in an institution's assortment.
type slot struct {
	d            *drug
	weight       uint64
	perDay       uint64 // expected packs sold per day ×1000
	reorder      int32  // order when fewer whole packs than this are left
	orderCartons int32  // cartons per order
	onOrder      bool

	queue    []*carton
	returned []box
	open     box   // the pack being sold split
	openLeft int32 // minimum units left in it (0: none open)
	whole    int32 // whole packs on hand
}

// add puts a received carton on the shelf.
func (s *slot) add(c *carton) {
	s.queue = append(s.queue, c)
	s.whole += c.n - c.next
}

// putBack returns a whole pack to the shelf (a sale return or a cancelled settlement).
func (s *slot) putBack(b box) {
	s.returned = append(s.returned, b)
	s.whole++
}

// take removes a whole pack usable on day. When same is not nil, only a pack of that
// carton is taken (one sale line lists one batch). Packs found expired are handed to
// expired, which reports their destruction, before the search goes on.
func (s *slot) take(day int32, same *carton, expired func(c *carton, boxes []box)) (box, bool) {
	for len(s.returned) > 0 {
		b := s.returned[0]
		if same != nil && b.c != same {
			return box{}, false
		}
		s.returned = s.returned[1:]
		s.whole--
		if b.c.usable(day) {
			return b, true
		}
		expired(b.c, []box{b})
	}
	for len(s.queue) > 0 {
		c := s.queue[0]
		if c.next >= c.n {
			s.popCarton()
			continue
		}
		if same != nil && c != same {
			return box{}, false
		}
		if !c.usable(day) {
			left := make([]box, 0, c.n-c.next)
			for i := c.next; i < c.n; i++ {
				left = append(left, box{c, i})
			}
			s.whole -= c.n - c.next
			c.next = c.n
			s.popCarton()
			expired(c, left)
			continue
		}
		b := box{c, c.next}
		c.next++
		s.whole--
		if c.next >= c.n {
			s.popCarton()
		}
		return b, true
	}
	return box{}, false
}

// takeFullCarton removes an unopened carton usable after day after from the shelf (the
// last one found); nil when there is none.
func (s *slot) takeFullCarton(after int32) *carton {
	for i := len(s.queue) - 1; i >= 0; i-- {
		if c := s.queue[i]; c.next == 0 && c.expiry > after {
			return s.remove(i)
		}
	}
	return nil
}

// takeCarton removes carton c from the shelf if it is still unopened there.
func (s *slot) takeCarton(c *carton) bool {
	for i, x := range s.queue {
		if x == c && c.next == 0 {
			s.remove(i)
			return true
		}
	}
	return false
}

func (s *slot) remove(i int) *carton {
	c := s.queue[i]
	copy(s.queue[i:], s.queue[i+1:])
	s.queue[len(s.queue)-1] = nil
	s.queue = s.queue[:len(s.queue)-1]
	s.whole -= c.n
	return c
}

func (s *slot) popCarton() {
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0]
	}
}
