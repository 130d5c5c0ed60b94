package synth

import (
	"math/bits"
	"math/rand/v2"
)

// rng is a PCG generator (math/rand/v2) with the few draws the generator needs. All draws
// are integer arithmetic, so the output does not depend on floating-point details of
// the platform (a fused multiply-add on one CPU and not on another would otherwise
// change a decision and with it every byte after it).
type rng struct {
	src rand.PCG
}

// Streams: each part of the generator draws from its own PCG stream, so a change in one
// part (say the catalog) does not shift the draws of another.
const (
	streamCatalog uint64 = 0x7a1c_0001 + iota
	streamWorld
	streamPerson
	streamSim
	streamCheck
	streamChronic
	streamPlant
	streamInpatient
	streamCartons // Options.InboundCartons
	streamLate    // Options.LateUploads
)

func newRNG(seed, stream uint64) *rng {
	r := &rng{}
	r.src.Seed(seed, stream)
	return r
}

// reseed makes r the generator of (seed, stream), without allocating.
func (r *rng) reseed(seed, stream uint64) { r.src.Seed(seed, stream) }

func (r *rng) u64() uint64 { return r.src.Uint64() }

// intn returns a uniform integer in [0, n), n > 0 (Lemire's method, unbiased).
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.src.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), un)
		}
	}
	return int(hi)
}

// between returns a uniform integer in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// permille reports true with probability p/1000.
func (r *rng) permille(p int) bool { return r.intn(1000) < p }

// pick returns an index drawn with probability proportional to the cumulative weights
// cum (cum[i] = w0 + … + wi, last > 0).
func (r *rng) pick(cum []uint64) int {
	x := uint64(r.intn(int(cum[len(cum)-1])))
	lo, hi := 0, len(cum)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// cumulative returns the running sums of w.
func cumulative(w []uint64) []uint64 {
	out := make([]uint64, len(w))
	var s uint64
	for i, v := range w {
		s += v
		out[i] = s
	}
	return out
}

// mix is a stateless 64-bit mixer (the splitmix64 finalizer), used where a value must be
// a fixed function of its inputs (the check digits of a code).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
