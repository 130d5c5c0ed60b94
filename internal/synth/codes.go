package synth

import "strconv"

// Trace codes of the synthetic packs.
//
// Domestic products carry 20-digit 码上放心 codes: the 7-digit product id (药品标识码,
// one per product and package level), a 9-digit serial (consecutive within a carton)
// and 4 check digits (a fixed function of the seed, product and serial: the real ones
// come from a proprietary algorithm and are never verified). Imported products carry
// GS1 codes: GTIN-14 (indicator 0 for the sales pack, 1 for the carton) and a
// 10-character serial (a bijective scramble of the pack's number, in base 36).

type codec struct {
	seed uint64
}

func pidNumber(pid string) uint64 {
	n, _ := strconv.ParseUint(pid, 10, 64)
	return n
}

// pid is a product id and its value as a number.
type pid struct {
	s string
	n uint64
}

func newPID(s string) pid { return pid{s, pidNumber(s)} }

func (c codec) check(pid, serial uint64) uint64 {
	return mix(c.seed^pid<<34^serial^0x5eed) % 10000
}

// appendNMPA appends a 20-digit code.
func (c codec) appendNMPA(b []byte, p pid, serial uint64) []byte {
	b = append(b, p.s...)
	b = appendPadded(b, serial, 9)
	return appendPadded(b, c.check(p.n, serial), 4)
}

const base36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// scramble48 is a bijection on 48-bit numbers.
func scramble48(x uint64) uint64 {
	const mask = 1<<48 - 1
	x &= mask
	x = x * 0x9E3779B97F4B & mask
	x ^= x >> 17
	x = x * 0xC2B2AE3D27D5 & mask
	x ^= x >> 21
	return x
}

// appendSerial36 appends the 10-character GS1 serial of pack number n.
func appendSerial36(b []byte, n uint64) []byte {
	x := scramble48(n)
	var tmp [10]byte
	for i := 9; i >= 0; i-- {
		tmp[i] = base36[x%36]
		x /= 36
	}
	return append(b, tmp[:]...)
}

// appendBoxKey appends the identity key of a sales pack as tracecode.Parse gives it:
// the 20 digits, or (01)GTIN(21)SERIAL.
func (c codec) appendBoxKey(b []byte, d *drug, serial uint64) []byte {
	if d.imported {
		b = append(b, "(01)"...)
		b = append(b, d.boxPID.s...)
		b = append(b, "(21)"...)
		return appendSerial36(b, serial)
	}
	return c.appendNMPA(b, d.boxPID, serial)
}

// appendCartonKey appends the identity key of a carton.
func (c codec) appendCartonKey(b []byte, d *drug, serial uint64) []byte {
	if d.imported {
		b = append(b, "(01)"...)
		b = append(b, d.cartonPID.s...)
		b = append(b, "(21)"...)
		return appendSerial36(b, serial)
	}
	return c.appendNMPA(b, d.cartonPID, serial)
}

// appendScan appends a code as a scanner sends it: the 20 digits, or for a GS1 pack the
// bracketed element string with expiry (17) and batch (10) before the serial.
func (c codec) appendScan(b []byte, d *drug, p pid, serial uint64, ct *carton) []byte {
	if !d.imported {
		return c.appendNMPA(b, p, serial)
	}
	b = append(b, "(01)"...)
	b = append(b, p.s...)
	b = append(b, "(17)"...)
	b = append(b, ct.yymmdd...)
	b = append(b, "(10)"...)
	b = append(b, ct.lot...)
	b = append(b, "(21)"...)
	return appendSerial36(b, serial)
}
