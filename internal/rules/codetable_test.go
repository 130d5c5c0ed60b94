package rules

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"tracewatch"
)

// saleT0 is a sale time well inside the table's epoch.
const saleT0 = 1740816000 // 2025-03-01T08:00:00Z

func sampleHolding(i int) holding {
	return holding{inst: int32(i % 3000), units: tracewatch.Qty(1+i%50) * tracewatch.QtyScale, last: saleT0 + int64(i),
		receipt: idHash("R" + string(rune('a'+i%26))), person: idHash("P"), setl: idHash("S" + string(rune('a'+i%7))), others: i%5 == 0}
}

// checkShards verifies every shard's invariants: its count, and every entry found from
// its home without passing an emptier slot (Robin Hood).
func checkShards(t *testing.T, c *codeTable) {
	t.Helper()
	held, recv := 0, 0
	for si := range c.shards {
		s := &c.shards[si]
		n := 0
		for i := range s.size() {
			b := s.slot(i)
			if slotFree(b) {
				if w := slotWord(b); w != 0 {
					t.Fatalf("shard %d slot %d is free but not zero: %x", si, i, w)
				}
				continue
			}
			n++
			if slotHolder(b) != 0 {
				held++
			}
			if slotReceiver(b) != 0 {
				recv++
			}
			if got := s.find(slotRem(b)); got != i {
				t.Fatalf("shard %d: the entry of slot %d is found at %d", si, i, got)
			}
		}
		if n != s.n {
			t.Fatalf("shard %d counts %d entries, holds %d", si, s.n, n)
		}
		if s.size() > 0 && s.n*loadMaxDen > s.size()*loadMaxNum {
			t.Fatalf("shard %d is %d/%d full, past the load limit", si, s.n, s.size())
		}
	}
	if ch, cr := c.counts(); held != ch || recv != cr {
		t.Fatalf("slots say %d held and %d received, the table counts %d and %d", held, recv, ch, cr)
	}
}

// spilled and recvSpilled count the holdings and receivers kept in spill maps.
func spilled(c *codeTable) (n int) {
	for i := range c.shards {
		n += len(c.shards[i].spill)
	}
	return n
}

func recvSpilled(c *codeTable) (n int) {
	for i := range c.shards {
		n += len(c.shards[i].recvSpill)
	}
	return n
}

func TestCodeTableInsertUpdateDelete(t *testing.T) {
	var c codeTable
	id := tracewatch.CodeID(12345)
	if _, ok := c.holding(id); ok {
		t.Fatal("an empty table holds a code")
	}
	if _, ok := c.receiver(id); ok {
		t.Fatal("an empty table has a receiver")
	}
	c.setHolding(id, holding{inst: -1}) // removing what is not there
	if c.shards != nil {
		t.Fatal("removing an absent holding made the table")
	}
	h := sampleHolding(7)
	c.setHolding(id, h)
	if got, ok := c.holding(id); !ok || got != h {
		t.Fatalf("holding after insert = %+v, %v; want %+v", got, ok, h)
	}
	if _, ok := c.receiver(id); ok {
		t.Fatal("a holding alone has a receiver")
	}
	h2 := h
	h2.inst, h2.units, h2.last, h2.others = 9, 3*tracewatch.QtyScale, saleT0+86400, false
	c.setHolding(id, h2)
	if got, _ := c.holding(id); got != h2 {
		t.Fatalf("holding after update = %+v; want %+v", got, h2)
	}
	c.setReceiver(id, 4)
	if in, ok := c.receiver(id); !ok || in != 4 {
		t.Fatalf("receiver = %d, %v; want 4", in, ok)
	}
	if got, _ := c.holding(id); got != h2 {
		t.Fatalf("setting the receiver changed the holding: %+v", got)
	}
	c.setHolding(id, holding{inst: -1})
	if _, ok := c.holding(id); ok {
		t.Fatal("holding still there after removal")
	}
	if in, ok := c.receiver(id); !ok || in != 4 {
		t.Fatalf("removing the holding lost the receiver: %d, %v", in, ok)
	}
	if held, recv := c.counts(); held != 0 || recv != 1 {
		t.Fatalf("counts %d held, %d received; want 0 and 1", held, recv)
	}
	// A code with neither holder nor receiver left frees its slot.
	c.setHolding(id, h)
	c.setHolding(id, holding{inst: -1})
	other := tracewatch.CodeID(777)
	c.setHolding(other, h)
	c.setHolding(other, holding{inst: -1})
	shard, _ := splitID(other)
	if n := c.shards[shard].n; n != 0 {
		t.Fatalf("a code without holder or receiver still has a slot (%d in its shard)", n)
	}
	checkShards(t, &c)
}

// TestCodeTableZeroKey: id 0 mixes to 0 (shard 0, stored bits 0) and the extremes of
// the packed range: a stored 0 is a key like any other (a slot is free by having no
// holder and no receiver, not by a sentinel key).
func TestCodeTableZeroKey(t *testing.T) {
	if mix64(0) != 0 {
		t.Fatalf("mix64(0) = %x; the test expects the all-zero slot key", mix64(0))
	}
	lo, _ := tracewatch.PackedCodeID("80000000000000000000")
	hi, _ := tracewatch.PackedCodeID("89999999999999999999")
	ids := []tracewatch.CodeID{0, lo, hi, math.MaxInt64, -1, 1}
	var c codeTable
	for i, id := range ids {
		c.setHolding(id, sampleHolding(i))
		c.setReceiver(id, int32(i))
	}
	for i, id := range ids {
		if got, ok := c.holding(id); !ok || got != sampleHolding(i) {
			t.Errorf("holding of %d = %+v, %v; want %+v", id, got, ok, sampleHolding(i))
		}
		if in, ok := c.receiver(id); !ok || in != int32(i) {
			t.Errorf("receiver of %d = %d, %v; want %d", id, in, ok, i)
		}
	}
	c.setHolding(0, holding{inst: -1})
	if _, ok := c.holding(0); ok {
		t.Error("id 0 still held after removal")
	}
	if in, ok := c.receiver(0); !ok || in != 0 {
		t.Errorf("id 0's receiver (institution 0) = %d, %v after removing its holding", in, ok)
	}
	checkShards(t, &c)
}

// TestCodeTableSpill: what a slot cannot carry exactly comes back exactly, from the
// spill maps, and moves back into the slot when it fits again.
func TestCodeTableSpill(t *testing.T) {
	var c codeTable
	odd := []holding{
		{inst: 1, units: 2_5000, last: saleT0},                              // 2.5 minimum units
		{inst: 1, units: (unitMax + 1) * tracewatch.QtyScale, last: saleT0}, // too many units
		{inst: 1, units: -tracewatch.QtyScale, last: saleT0},                // a negative net
		{inst: 1, units: tracewatch.QtyScale, last: tableEpoch - 1},         // before the epoch
		{inst: 1, units: tracewatch.QtyScale, last: tableEpoch + 1<<32},     // after it
		{inst: 1, units: tracewatch.QtyScale},                               // the zero Unix time
		{inst: instMax + 1, units: tracewatch.QtyScale, last: saleT0, receipt: 5, person: 7, setl: 9, others: true},
	}
	for i, h := range odd {
		id := tracewatch.CodeID(1000 + i)
		c.setHolding(id, h)
		c.setReceiver(id, instMax+int32(i)+1)
	}
	for i, h := range odd {
		id := tracewatch.CodeID(1000 + i)
		if got, ok := c.holding(id); !ok || got != h {
			t.Errorf("spilled holding %d = %+v, %v; want %+v", i, got, ok, h)
		}
		if in, ok := c.receiver(id); !ok || in != instMax+int32(i)+1 {
			t.Errorf("spilled receiver %d = %d, %v", i, in, ok)
		}
	}
	if spilled(&c) != len(odd) || recvSpilled(&c) != len(odd) {
		t.Fatalf("spill maps hold %d and %d; want %d each", spilled(&c), recvSpilled(&c), len(odd))
	}
	// Back to values a slot carries: the spill maps empty.
	for i := range odd {
		id := tracewatch.CodeID(1000 + i)
		c.setHolding(id, sampleHolding(i))
		c.setReceiver(id, 3)
		if got, _ := c.holding(id); got != sampleHolding(i) {
			t.Errorf("holding %d back in its slot = %+v", i, got)
		}
	}
	if spilled(&c) != 0 || recvSpilled(&c) != 0 {
		t.Fatalf("spill maps still hold %d and %d", spilled(&c), recvSpilled(&c))
	}
	// Removing a spilled holding removes it from the map.
	c.setHolding(5000, odd[0])
	c.setHolding(5000, holding{inst: -1})
	if _, ok := c.holding(5000); ok || spilled(&c) != 0 {
		t.Fatalf("a removed spilled holding remains (%d spilled)", spilled(&c))
	}
	checkShards(t, &c)
}

// TestCodeTableShardCollisions drives one shard with keys that all start their probe
// at the same slot, or at its last slot (the probe wraps), through growth and removal.
func TestCodeTableShardCollisions(t *testing.T) {
	for _, base := range []uint64{0, remMask &^ (1<<(remBits-32) - 1)} { // home 0, home size-1
		var s tableShard
		const n = 300
		put := func(rem uint64, in uint64) {
			var b [slotSize]byte
			setSlotWord(b[:], rem)
			setSlotInsts(b[:], in)
			s.insert(b[:])
		}
		for k := range uint64(n) {
			put(base|k, k+1)
		}
		for k := range uint64(n) {
			i := s.find(base | k)
			if i < 0 || slotInsts(s.slot(i)) != k+1 {
				t.Fatalf("base %x: key %d not found after %d colliding inserts (slot %d)", base, k, n, i)
			}
		}
		if s.find(base|n) >= 0 {
			t.Fatalf("base %x: an absent key found", base)
		}
		for k := uint64(0); k < n; k += 2 {
			s.remove(s.find(base | k))
		}
		for k := range uint64(n) {
			i := s.find(base | k)
			if (k%2 == 0) != (i < 0) {
				t.Fatalf("base %x: after removing the even keys, key %d found at %d", base, k, i)
			}
		}
		if s.n != n/2 {
			t.Fatalf("base %x: %d entries; want %d", base, s.n, n/2)
		}
	}
}

// TestCodeTableRandom runs random inserts, updates, removals and receipts against a Go
// map, through many growths, and checks every lookup afterwards.
func TestCodeTableRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var c codeTable
	held := map[tracewatch.CodeID]holding{}
	recv := map[tracewatch.CodeID]int32{}
	ids := make([]tracewatch.CodeID, 200_000)
	for i := range ids {
		ids[i] = tracewatch.CodeID(r.Int64())
	}
	for step := range 600_000 {
		id := ids[r.IntN(len(ids))]
		switch op := r.IntN(10); {
		case op < 5:
			h := sampleHolding(step)
			if op == 0 {
				h.units = 1 // spilled
			}
			c.setHolding(id, h)
			held[id] = h
		case op < 7:
			c.setHolding(id, holding{inst: -1})
			delete(held, id)
		default:
			in := int32(r.IntN(5000))
			c.setReceiver(id, in)
			recv[id] = in
		}
	}
	if ch, cr := c.counts(); ch != len(held) || cr != len(recv) {
		t.Fatalf("table counts %d held, %d received; the maps %d and %d", ch, cr, len(held), len(recv))
	}
	for _, id := range ids {
		h, ok := c.holding(id)
		wh, wok := held[id]
		if ok != wok || h != wh {
			t.Fatalf("holding of %d = %+v, %v; want %+v, %v", id, h, ok, wh, wok)
		}
		in, ok := c.receiver(id)
		win, wok := recv[id]
		if ok != wok || in != win {
			t.Fatalf("receiver of %d = %d, %v; want %d, %v", id, in, ok, win, wok)
		}
	}
	checkShards(t, &c)
}

// TestCodeTableGrowth: lookups after many growths, and the load factor in its band.
func TestCodeTableGrowth(t *testing.T) {
	var c codeTable
	const n = 1 << 20
	for i := range n {
		c.setReceiver(tracewatch.CodeID(i), int32(i%2000))
	}
	for i := range n {
		if in, ok := c.receiver(tracewatch.CodeID(i)); !ok || in != int32(i%2000) {
			t.Fatalf("receiver of %d after growth = %d, %v", i, in, ok)
		}
	}
	if _, ok := c.receiver(n); ok {
		t.Fatal("an absent code has a receiver")
	}
	slots := 0
	for i := range c.shards {
		slots += c.shards[i].size()
	}
	if load := float64(n) / float64(slots); load < loadMin-0.05 || load > float64(loadMaxNum)/loadMaxDen {
		t.Errorf("load factor %.3f outside [%.2f, %.4f]", load, loadMin-0.05, float64(loadMaxNum)/loadMaxDen)
	}
	checkShards(t, &c)
}

func TestIDHash(t *testing.T) {
	if idHash("") != 0 {
		t.Error(`idHash("") != 0`)
	}
	for _, s := range []string{"R1", "PSN1", "", "x"} {
		if h := idHash(s); h > 0xffffff || (s != "" && h&1 == 0) {
			t.Errorf("idHash(%q) = %x: not a non-zero 24-bit value", s, h)
		}
	}
	if idHash("R1") == idHash("R2") {
		t.Error("idHash(R1) == idHash(R2)")
	}
}

// BenchmarkCodeTable: inserting 10^6 codes (holding and receiver), then looking up
// codes present and absent.
func BenchmarkCodeTable(b *testing.B) {
	const n = 1_000_000
	b.Run("insert", func(b *testing.B) {
		for b.Loop() {
			var c codeTable
			for i := range n {
				c.setHolding(tracewatch.CodeID(i), sampleHolding(i))
				c.setReceiver(tracewatch.CodeID(i), int32(i%2000))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/code")
	})
	var c codeTable
	for i := range n {
		c.setHolding(tracewatch.CodeID(i), sampleHolding(i))
	}
	b.Run("lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok := c.holding(tracewatch.CodeID(i % (2 * n))); ok != (i%(2*n) < n) {
				b.Fatal("wrong answer")
			}
			i++
		}
	})
}

// TestCodeTableAddReceiver: the first receiver of a code sticks; another one is
// reported, not recorded; the same one again is no conflict; spilled receivers too.
func TestCodeTableAddReceiver(t *testing.T) {
	for _, base := range []int32{3, instMax + 1} {
		var c codeTable
		id := tracewatch.CodeID(42)
		if old, ok := c.addReceiver(id, base); ok {
			t.Fatalf("first receiver: conflict with %d", old)
		}
		if old, ok := c.addReceiver(id, base); ok {
			t.Fatalf("the same receiver again: conflict with %d", old)
		}
		if old, ok := c.addReceiver(id, base+1); !ok || old != base {
			t.Fatalf("another receiver: %d, %v; want the conflict with %d", old, ok, base)
		}
		if in, _ := c.receiver(id); in != base {
			t.Fatalf("receiver %d after a conflict; want %d kept", in, base)
		}
		if _, recv := c.counts(); recv != 1 {
			t.Fatalf("%d codes received; want 1", recv)
		}
	}
}

// TestTableLoad: a staged load, flushed on several goroutines, ends as the same rows
// applied one by one: a code's later holding wins, a second receiver is reported.
func TestTableLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var load tableLoad
	var want codeTable
	ids := make([]tracewatch.CodeID, 50_000)
	for i := range ids {
		ids[i] = tracewatch.CodeID(r.Int64())
	}
	for i := range 100_000 {
		id, h := ids[r.IntN(len(ids))], sampleHolding(i)
		if i%10 == 0 {
			h.units = 1 // spilled
		}
		load.holding(id, h)
		want.setHolding(id, h)
	}
	wantMany := map[tracewatch.CodeID][]int32{}
	for range 100_000 {
		id, in := ids[r.IntN(len(ids))], int32(r.IntN(3))
		load.receipt(id, in)
		if old, ok := want.addReceiver(id, in); ok {
			wantMany[id] = append(wantMany[id], old, in)
		}
	}
	var got codeTable
	load.flushHoldings(&got, 4)
	var mu sync.Mutex
	gotMany := map[tracewatch.CodeID][]int32{}
	load.flushReceipts(&got, 4, func(id tracewatch.CodeID, in int32) {
		if old, ok := got.addReceiver(id, in); ok {
			mu.Lock()
			gotMany[id] = append(gotMany[id], old, in)
			mu.Unlock()
		}
	})
	for _, id := range ids {
		wh, wok := want.holding(id)
		gh, gok := got.holding(id)
		if wh != gh || wok != gok {
			t.Fatalf("holding of %d = %+v, %v; want %+v, %v", id, gh, gok, wh, wok)
		}
		wi, wok := want.receiver(id)
		gi, gok := got.receiver(id)
		if wi != gi || wok != gok {
			t.Fatalf("receiver of %d = %d, %v; want %d, %v", id, gi, gok, wi, wok)
		}
	}
	if len(gotMany) != len(wantMany) || len(wantMany) == 0 {
		t.Fatalf("%d codes with a second receiver; want %d (and some)", len(gotMany), len(wantMany))
	}
	for id, w := range wantMany {
		if g := gotMany[id]; !slices.Equal(g, w) {
			t.Fatalf("receivers reported for %d: %v; want %v", id, g, w)
		}
	}
	if load.held != nil || load.recv != nil {
		t.Fatal("the staged rows are kept after the flush")
	}
	checkShards(t, &got)
}

// TestTableLoadReceiptsOnly: receipts flushed into an empty table on several
// goroutines (run with -race: the table's shards are made before the workers start).
func TestTableLoadReceiptsOnly(t *testing.T) {
	var load tableLoad
	for i := range 10_000 {
		load.receipt(tracewatch.CodeID(i), int32(i%7))
	}
	var c codeTable
	load.flushReceipts(&c, 4, func(id tracewatch.CodeID, in int32) {
		if old, ok := c.addReceiver(id, in); ok {
			t.Errorf("code %d: a second receiver %d after %d", id, in, old)
		}
	})
	for i := range 10_000 {
		if in, ok := c.receiver(tracewatch.CodeID(i)); !ok || in != int32(i%7) {
			t.Fatalf("receiver of %d = %d, %v; want %d", i, in, ok, i%7)
		}
	}
	checkShards(t, &c)
}
