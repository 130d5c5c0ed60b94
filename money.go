package tracewatch

import (
	"strconv"
	"strings"
)

// Fen is an amount of money in fen (分, 1/100 yuan). Money is always integer fen.
type Fen int64

// String formats the amount in yuan with two decimals, e.g. "1234.50".
func (f Fen) String() string {
	neg := f < 0
	if neg {
		f = -f
	}
	s := strconv.FormatInt(int64(f/100), 10) + "." + string([]byte{byte('0' + f%100/10), byte('0' + f%10)})
	if neg {
		s = "-" + s
	}
	return s
}

// ParseYuan reads an amount in yuan as the national interfaces send it ("12.5",
// "12.50", "-3", "0.07"). More than two decimals is an error: fen are never rounded
// away silently.
func ParseYuan(s string) (Fen, error) {
	const op = "tracewatch.ParseYuan"
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || len(frac) > 2 || len(whole) > 15 {
		return 0, Errorf(op, KindInvalid, "amount %q: want yuan with at most two decimals", s)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, Errorf(op, KindInvalid, "amount %q: want yuan with at most two decimals", s)
			}
		}
	}
	var v int64
	if whole != "" {
		v, _ = strconv.ParseInt(whole, 10, 64)
	}
	frac += "00"[len(frac):]
	fv, _ := strconv.ParseInt(frac, 10, 64)
	v = v*100 + fv
	if neg {
		v = -v
	}
	return Fen(v), nil
}
