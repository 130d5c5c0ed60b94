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
	v, ok := parseFixed(s, 2, 15, false)
	if !ok {
		return 0, Errorf("tracewatch.ParseYuan", KindInvalid, "amount %q: want yuan with at most two decimals", s)
	}
	return Fen(v), nil
}

// parseFixed reads a decimal number into an integer of 10^-decimals units: an optional
// minus sign, at most maxWhole digits before the point, at most decimals after it
// (after dropping trailing zeros when trimZeros). "" and "-" and "." are refused.
func parseFixed(s string, decimals, maxWhole int, trimZeros bool) (int64, bool) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "-")
	neg := len(t) < len(strings.TrimSpace(s))
	whole, frac, _ := strings.Cut(t, ".")
	if trimZeros {
		frac = strings.TrimRight(frac, "0")
	}
	if whole == "" && frac == "" && !strings.HasPrefix(t, "0") && !strings.HasPrefix(t, ".0") {
		return 0, false
	}
	if len(frac) > decimals || len(whole) > maxWhole {
		return 0, false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	var v int64
	if whole != "" {
		v, _ = strconv.ParseInt(whole, 10, 64)
	}
	f, _ := strconv.ParseInt((frac + "0000000000")[:decimals], 10, 64)
	for i := 0; i < decimals; i++ {
		v *= 10
	}
	v += f
	if neg {
		v = -v
	}
	return v, true
}
