package rules

import (
	"encoding/binary"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"tracewatch"
)

// codeTable is the check index's state per packed code id (tracewatch.PackedCodeID):
// who holds the box (its holding) and who received it, in one compact open-addressing
// table without pointers, so that 10^8 codes take a few GB the garbage collector never
// scans (docs/BENCHMARKS.md, P3 memory).
//
// The ids are split into 2^shardBits shards by the top bits of a bijective mix of the id;
// a slot stores only the other 52 bits of the mix (the shard names the rest), so a slot
// is 26 bytes:
//
//	[0:8]   rem (bits 0–51) | units in whole minimum units (52–62) | others (63)
//	[8:13]  holder (bits 0–19) | receiver (20–39): institution index + 1, 0 none
//	[13:17] last sale, seconds since tableEpoch
//	[17:20] receipt, [20:23] person, [23:26] settlement: 24-bit identity hashes (idHash)
//
// A slot is free when it has neither holder nor receiver. Each shard is a Robin Hood
// linear-probing table of any size (not a power of two), grown by about an eighth when
// it passes loadMax, so the whole table stays between loadMin and loadMax full whatever
// the number of codes, and a growth rehashes one shard (about 24,000 codes at 10^8): no
// long pause and no second copy of the table. A shard's slots take the whole size class
// or pages the allocator gives them, so that nothing is lost to rounding. A holding a
// slot cannot carry exactly (units that are not whole minimum units or exceed unitMax,
// a time outside the epoch's range, an institution index beyond instMax) is kept whole
// in its shard's Go map instead, and so is such a receiver; the slot then says so
// (instSpilled). Nothing is shared between shards, so that different shards may be
// written at the same time (tableLoad).
type codeTable struct {
	shards []tableShard // nil until the first insert
}

const (
	shardBits   = 12
	remBits     = 64 - shardBits
	remMask     = 1<<remBits - 1
	slotSize    = 26
	instBits    = 20
	instMask    = 1<<instBits - 1
	instSpilled = instMask     // the holder or receiver is in its shard's spill maps
	instMax     = instMask - 2 // the largest institution index a slot carries (as index + 1)
	unitMax     = 1<<11 - 1    // the most whole minimum units a slot carries
	othersBit   = uint64(1) << 63
	tableEpoch  = 946684800 // 2000-01-01T00:00:00Z: slots carry times up to 2136
	// Load factor band of a shard: grown past loadMax to about loadMin.
	loadMaxNum, loadMaxDen = 15, 16 // 0.9375
	loadMin                = 0.84
	loadFit                = 0.90 // a bulk load's
)

// tableShard is one Robin Hood table of slotSize-byte slots.
type tableShard struct {
	slots     []byte
	n         int // occupied slots
	held      int // codes with a holding
	recv      int // codes with a receiver
	spill     map[tracewatch.CodeID]holding
	recvSpill map[tracewatch.CodeID]int32
}

// counts returns the number of codes with a holding and with a receiver.
func (t *codeTable) counts() (held, recv int) {
	for i := range t.shards {
		held += t.shards[i].held
		recv += t.shards[i].recv
	}
	return held, recv
}

// mix64 is a bijection of uint64 (the SplitMix64 finalizer): the table's hash, whose
// top shardBits pick the shard and whose other bits are stored.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func splitID(id tracewatch.CodeID) (shard uint32, rem uint64) {
	h := mix64(uint64(id))
	return uint32(h >> remBits), h & remMask
}

// idHash is the 24-bit identity hash of a receipt, person or settlement a slot keeps:
// FNV-1a folded to 24 bits, odd for a non-empty string, 0 for "".
func idHash(s string) uint32 {
	if s == "" {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return (h>>24^h)&0xffffff | 1
}

// field reads the n-byte little-endian field of b that ends at end (end ≥ 8).
func field(b []byte, end, n int) uint64 {
	return binary.LittleEndian.Uint64(b[end-8:end]) >> (64 - 8*n)
}

// setField writes the n-byte little-endian field of b that ends at end (end ≥ 8).
func setField(b []byte, end, n int, x uint64) {
	sh := 64 - 8*n
	v := binary.LittleEndian.Uint64(b[end-8 : end])
	binary.LittleEndian.PutUint64(b[end-8:end], v&(1<<sh-1)|x<<sh)
}

func slotWord(b []byte) uint64        { return binary.LittleEndian.Uint64(b[0:8]) }
func setSlotWord(b []byte, w uint64)  { binary.LittleEndian.PutUint64(b[0:8], w) }
func slotInsts(b []byte) uint64       { return field(b, 13, 5) }
func setSlotInsts(b []byte, v uint64) { setField(b, 13, 5, v) }
func slotHolder(b []byte) uint64      { return slotInsts(b) & instMask }
func slotReceiver(b []byte) uint64    { return slotInsts(b) >> instBits }
func slotFree(b []byte) bool          { return slotInsts(b) == 0 }
func slotRem(b []byte) uint64         { return slotWord(b) & remMask }

// homeOf is where rem's probe starts in a shard of size slots.
func homeOf(rem uint64, size int) int { return int(((rem >> (remBits - 32)) * uint64(size)) >> 32) }

func nextSlot(i, size int) int {
	if i++; i == size {
		return 0
	}
	return i
}

// probeDist is how far slot i is from home.
func probeDist(i, home, size int) int {
	if d := i - home; d >= 0 {
		return d
	}
	return i - home + size
}

func (s *tableShard) size() int { return len(s.slots) / slotSize }

func (s *tableShard) slot(i int) []byte {
	return s.slots[i*slotSize : i*slotSize+slotSize : i*slotSize+slotSize]
}

// find returns the slot of rem, or -1.
func (s *tableShard) find(rem uint64) int {
	if i, _, ok := s.probe(rem); ok {
		return i
	}
	return -1
}

// probe returns the slot of rem, or where its probe stopped (the slot rem would take)
// and how far that is from rem's home.
func (s *tableShard) probe(rem uint64) (i, d int, found bool) {
	size := s.size()
	if size == 0 {
		return 0, 0, false
	}
	i = homeOf(rem, size)
	for d = 0; ; d++ {
		b := s.slot(i)
		if slotFree(b) {
			return i, d, false
		}
		if slotRem(b) == rem {
			return i, d, true
		}
		if probeDist(i, homeOf(slotRem(b), size), size) < d {
			return i, d, false // a Robin Hood table would have placed rem before this slot
		}
		i = nextSlot(i, size)
	}
}

// insert adds a slot whose rem is not in the shard (it has a holder or a receiver), and
// returns where it went.
func (s *tableShard) insert(src []byte) int {
	if (s.n+1)*loadMaxDen > s.size()*loadMaxNum {
		s.grow()
	}
	s.n++
	return s.place(src)
}

// place puts src in the table (not full) by Robin Hood: it takes the slot of any
// entry nearer its home than src is to its own, which moves on.
func (s *tableShard) place(src []byte) int {
	return s.placeFrom(src, homeOf(slotRem(src), s.size()), 0)
}

// placeFrom is place starting at slot i, d slots from src's home, where a probe for
// src stopped.
func (s *tableShard) placeFrom(src []byte, i, d int) int {
	cur := [slotSize]byte(src)
	size := s.size()
	at := -1
	for ; ; d++ {
		b := s.slot(i)
		if slotFree(b) {
			*(*[slotSize]byte)(b) = cur
			if at < 0 {
				at = i
			}
			return at
		}
		if od := probeDist(i, homeOf(slotRem(b), size), size); od < d {
			cur, *(*[slotSize]byte)(b) = [slotSize]byte(b), cur
			if at < 0 {
				at = i
			}
			d = od
		}
		i = nextSlot(i, size)
	}
}

// grow rehashes the shard into about n/loadMin slots.
func (s *tableShard) grow() {
	s.resize(max(int(float64(s.n+1)/loadMin)+1, s.size()+s.size()/16+1, 4))
}

// resize rehashes the shard into at least size slots.
func (s *tableShard) resize(size int) {
	old := s.slots
	b := slices.Grow([]byte(nil), size*slotSize) // capacity rounded up to what is allocated
	b = b[:cap(b)/slotSize*slotSize]
	clear(b)
	s.slots = b
	for off := 0; off < len(old); off += slotSize {
		if b := old[off : off+slotSize]; !slotFree(b) {
			s.place(b)
		}
	}
}

// remove frees slot i, shifting the entries after it back (no tombstones).
func (s *tableShard) remove(i int) {
	size := s.size()
	for {
		j := nextSlot(i, size)
		nb := s.slot(j)
		if slotFree(nb) || probeDist(j, homeOf(slotRem(nb), size), size) == 0 {
			break
		}
		*(*[slotSize]byte)(s.slot(i)) = [slotSize]byte(nb)
		i = j
	}
	clear(s.slot(i))
	s.n--
}

// spot is where a lookup of an id ended.
type spot struct {
	s     *tableShard // nil while the table is empty
	b     []byte      // the id's slot, nil when it is absent
	i, d  int         // the slot, or where the probe stopped and its distance from home
	shard uint32
	rem   uint64
}

// lookup finds id.
func (t *codeTable) lookup(id tracewatch.CodeID) spot {
	shard, rem := splitID(id)
	if t.shards == nil {
		return spot{shard: shard, rem: rem}
	}
	s := &t.shards[shard]
	i, d, ok := s.probe(rem)
	if ok {
		return spot{s: s, b: s.slot(i), i: i, d: d, shard: shard, rem: rem}
	}
	return spot{s: s, i: i, d: d, shard: shard, rem: rem}
}

// writable makes sure sp has its shard, making the table's shards if need be.
func (t *codeTable) writable(sp *spot) *tableShard {
	if sp.s == nil {
		if t.shards == nil {
			t.shards = make([]tableShard, 1<<shardBits)
		}
		sp.s = &t.shards[sp.shard]
	}
	return sp.s
}

// add inserts an entry for an id found absent at sp, with a holder or receiver (insts),
// and returns its slot.
func (t *codeTable) add(sp spot, insts uint64) []byte {
	s := t.writable(&sp)
	var b [slotSize]byte
	setSlotWord(b[:], sp.rem)
	setSlotInsts(b[:], insts)
	if (s.n+1)*loadMaxDen > s.size()*loadMaxNum {
		return s.slot(s.insert(b[:])) // grows: the probe's stop no longer holds
	}
	s.n++
	return s.slot(s.placeFrom(b[:], sp.i, sp.d))
}

// holding returns the holding of id.
func (t *codeTable) holding(id tracewatch.CodeID) (holding, bool) {
	sp := t.lookup(id)
	b := sp.b
	if b == nil {
		return holding{}, false
	}
	hv := slotHolder(b)
	switch hv {
	case 0:
		return holding{}, false
	case instSpilled:
		h, ok := sp.s.spill[id]
		return h, ok
	}
	w := slotWord(b)
	return holding{
		inst:    int32(hv - 1),
		units:   tracewatch.Qty(w>>remBits&unitMax) * tracewatch.QtyScale,
		last:    int64(binary.LittleEndian.Uint32(b[13:17])) + tableEpoch,
		receipt: uint32(field(b, 20, 3)),
		person:  uint32(field(b, 23, 3)),
		setl:    uint32(field(b, 26, 3)),
		others:  w&othersBit != 0,
	}, true
}

// fits reports whether a slot carries h exactly.
func (h *holding) fits() bool {
	return h.inst <= instMax && h.units >= 0 && h.units%tracewatch.QtyScale == 0 && h.units/tracewatch.QtyScale <= unitMax &&
		h.last >= tableEpoch && h.last-tableEpoch <= 1<<32-1
}

// setHolding makes h the holding of id; h.inst < 0 removes it.
func (t *codeTable) setHolding(id tracewatch.CodeID, h holding) {
	sp := t.lookup(id)
	b, rem := sp.b, sp.rem
	if b != nil && slotHolder(b) == instSpilled {
		delete(sp.s.spill, id)
	}
	if h.inst < 0 {
		if b == nil || slotHolder(b) == 0 {
			return
		}
		sp.s.held--
		if slotReceiver(b) == 0 {
			sp.s.remove(sp.i)
			return
		}
		setSlotWord(b, rem)
		setSlotInsts(b, slotInsts(b)&^instMask)
		clear(b[13:])
		return
	}
	s := t.writable(&sp)
	hv := uint64(instSpilled)
	if h.fits() {
		hv = uint64(h.inst) + 1
	} else {
		if s.spill == nil {
			s.spill = map[tracewatch.CodeID]holding{}
		}
		s.spill[id] = h
	}
	switch {
	case b == nil:
		b = t.add(sp, hv)
		s.held++
	case slotHolder(b) == 0:
		setSlotInsts(b, slotInsts(b)|hv)
		s.held++
	default:
		setSlotInsts(b, slotInsts(b)&^instMask|hv)
	}
	if hv == instSpilled {
		setSlotWord(b, rem)
		clear(b[13:])
		return
	}
	w := rem | uint64(h.units/tracewatch.QtyScale)<<remBits
	if h.others {
		w |= othersBit
	}
	setSlotWord(b, w)
	binary.LittleEndian.PutUint32(b[13:17], uint32(h.last-tableEpoch))
	setField(b, 20, 3, uint64(h.receipt))
	setField(b, 23, 3, uint64(h.person))
	setField(b, 26, 3, uint64(h.setl))
}

// receiver returns the institution that received id.
func (t *codeTable) receiver(id tracewatch.CodeID) (int32, bool) {
	sp := t.lookup(id)
	b := sp.b
	if b == nil {
		return 0, false
	}
	switch rv := slotReceiver(b); rv {
	case 0:
		return 0, false
	case instSpilled:
		in, ok := sp.s.recvSpill[id]
		return in, ok
	default:
		return int32(rv - 1), true
	}
}

// setReceiver makes in (≥ 0) the institution that received id.
func (t *codeTable) setReceiver(id tracewatch.CodeID, in int32) {
	t.setReceiverAt(t.lookup(id), id, in)
}

// addReceiver makes in (≥ 0) the institution that received id unless another one did:
// then it returns that one and changes nothing.
func (t *codeTable) addReceiver(id tracewatch.CodeID, in int32) (other int32, ok bool) {
	sp := t.lookup(id)
	if sp.b != nil {
		switch rv := slotReceiver(sp.b); {
		case rv == instSpilled:
			if old := sp.s.recvSpill[id]; old != in {
				return old, true
			}
		case rv != 0 && int32(rv-1) != in:
			return int32(rv - 1), true
		}
	}
	t.setReceiverAt(sp, id, in)
	return 0, false
}

func (t *codeTable) setReceiverAt(sp spot, id tracewatch.CodeID, in int32) {
	b, s := sp.b, t.writable(&sp)
	rv := uint64(instSpilled)
	if in <= instMax {
		rv = uint64(in) + 1
		if b != nil && slotReceiver(b) == instSpilled {
			delete(s.recvSpill, id)
		}
	} else {
		if s.recvSpill == nil {
			s.recvSpill = map[tracewatch.CodeID]int32{}
		}
		s.recvSpill[id] = in
	}
	switch {
	case b == nil:
		t.add(sp, rv<<instBits)
		s.recv++
	case slotReceiver(b) == 0:
		setSlotInsts(b, slotInsts(b)|rv<<instBits)
		s.recv++
	default:
		setSlotInsts(b, slotInsts(b)&instMask|rv<<instBits)
	}
}

// reserve sizes shard si (the table's shards made) for n more entries at about
// loadFit, at once.
func (t *codeTable) reserve(si uint32, n int) {
	s := &t.shards[si]
	if want := int(float64(s.n+n) / loadFit); want > s.size() {
		s.resize(want)
	}
}

// tableLoad stages a bulk load of a codeTable: holdings and receipts gathered in
// 2^stageBits groups of shards as they come, then applied one group at a time, so that
// the load writes a few shards while their slots are in cache and sizes each once,
// instead of touching the whole table at random (a cache and TLB miss per code: at 10^7
// the load took 17.9 s so, 7.9 s staged). Fewer groups than shards keep the groups' tails,
// where the codes are appended, within the TLB's reach. Each code's holdings and
// receipts keep their order.
type tableLoad struct {
	held  []chunks[stagedHolding]
	recv  []chunks[stagedReceipt]
	count []int32 // staged holdings per shard
}

const stageBits = 10

type stagedHolding struct {
	id tracewatch.CodeID
	h  holding
}

type stagedReceipt struct {
	id tracewatch.CodeID
	in int32
}

func (l *tableLoad) holding(id tracewatch.CodeID, h holding) {
	if l.held == nil {
		l.held = make([]chunks[stagedHolding], 1<<stageBits)
		l.count = make([]int32, 1<<shardBits)
	}
	si, _ := splitID(id)
	l.count[si]++
	l.held[si>>(shardBits-stageBits)].add(stagedHolding{id, h})
}

func (l *tableLoad) receipt(id tracewatch.CodeID, in int32) {
	if l.recv == nil {
		l.recv = make([]chunks[stagedReceipt], 1<<stageBits)
	}
	si, _ := splitID(id)
	l.recv[si>>(shardBits-stageBits)].add(stagedReceipt{id, in})
}

// flushHoldings sets the staged holdings in t, group by group on workers goroutines
// (the groups' shards are disjoint), and drops them.
func (l *tableLoad) flushHoldings(t *codeTable, workers int) {
	if l.held == nil {
		return
	}
	if t.shards == nil {
		t.shards = make([]tableShard, 1<<shardBits)
	}
	eachGroup(workers, func(g int) {
		c := &l.held[g]
		if c.n == 0 {
			return
		}
		for si := g << (shardBits - stageBits); si < (g+1)<<(shardBits-stageBits); si++ {
			t.reserve(uint32(si), int(l.count[si]))
		}
		for v := range c.all() {
			t.setHolding(v.id, v.h)
		}
		*c = chunks[stagedHolding]{}
	})
	l.held, l.count = nil, nil
}

// flushReceipts calls add for each staged receipt, group by group on workers
// goroutines, and drops them: add, which records the receipt in t, may run for codes
// of different groups (of different shards) at the same time.
func (l *tableLoad) flushReceipts(t *codeTable, workers int, add func(id tracewatch.CodeID, in int32)) {
	if l.recv == nil {
		return
	}
	if t.shards == nil {
		t.shards = make([]tableShard, 1<<shardBits) // before the workers write
	}
	eachGroup(workers, func(g int) {
		c := &l.recv[g]
		for r := range c.all() {
			add(r.id, r.in)
		}
		*c = chunks[stagedReceipt]{}
	})
	l.recv = nil
}

// eachGroup calls fn for every staging group, on workers goroutines.
func eachGroup(workers int, fn func(g int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for g := int(next.Add(1) - 1); g < 1<<stageBits; g = int(next.Add(1) - 1) {
				fn(g)
			}
		})
	}
	wg.Wait()
}

// chunks is an append-only list kept in chunks that double up to chunkMax values:
// appending never copies what is there, and touches only the list and the end of the
// chunk being filled.
type chunks[T any] struct {
	cur   []T   // the chunk being filled
	parts [][]T // the full ones before it
	n     int
}

const chunkMax = 1024

func (c *chunks[T]) add(v T) {
	if len(c.cur) == cap(c.cur) {
		size := 16
		if c.cur != nil {
			c.parts = append(c.parts, c.cur)
			size = min(2*cap(c.cur), chunkMax)
		}
		c.cur = make([]T, 0, size)
	}
	c.cur = append(c.cur, v)
	c.n++
}

// all returns the values in the order they were added.
func (c *chunks[T]) all() iter.Seq[*T] {
	return func(yield func(*T) bool) {
		for _, part := range append(c.parts, c.cur) {
			for i := range part {
				if !yield(&part[i]) {
					return
				}
			}
		}
	}
}
