package tracecode

import (
	"strings"
	"time"
)

// lintErr locates a problem inside one component value: off and n are the byte offset
// and length of the offending part.
type lintErr struct {
	code ErrCode
	off  int
	n    int
	msg  string
}

// A linter checks the content of one component of an AI value.
type linter func(v string) *lintErr

// cset82 is GS1 AI encodable character set 82; cset39 is character set 39.
var cset82, cset39 [256]bool

func init() {
	for _, c := range "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz" {
		cset82[c] = true
	}
	for _, c := range "#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		cset39[c] = true
	}
}

func lintNumeric(v string) *lintErr {
	for i := 0; i < len(v); i++ {
		if v[i]-'0' > 9 {
			return &lintErr{ErrBadCharset, i, 1, "a digit is required here"}
		}
	}
	return nil
}

func lintCset82(v string) *lintErr {
	for i := 0; i < len(v); i++ {
		if !cset82[v[i]] {
			return &lintErr{ErrBadCharset, i, charLen(v, i), "character not allowed in GS1 data (character set 82)"}
		}
	}
	return nil
}

func lintCset39(v string) *lintErr {
	for i := 0; i < len(v); i++ {
		if !cset39[v[i]] {
			return &lintErr{ErrBadCharset, i, charLen(v, i), "character not allowed here (GS1 character set 39)"}
		}
	}
	return nil
}

// charLen is the byte length of the (possibly multi-byte) character at i.
func charLen(v string, i int) int {
	if v[i] < 0x80 {
		return 1
	}
	n := 1
	for i+n < len(v) && v[i+n]&0xc0 == 0x80 {
		n++
	}
	return n
}

// GS1CheckDigit computes the GS1 mod-10 check digit of the digits in d (weights 3 and 1
// alternating from the right): append it to d to make a GTIN, GLN or SSCC.
func GS1CheckDigit(d string) byte {
	sum := 0
	w := 3
	for i := len(d) - 1; i >= 0; i-- {
		sum += int(d[i]-'0') * w
		w = 4 - w
	}
	return byte('0' + (10-sum%10)%10)
}

// lintCsum checks a numeric value whose last digit is a GS1 mod-10 check digit.
func lintCsum(v string) *lintErr {
	if len(v) == 0 {
		return &lintErr{ErrBadLength, 0, 0, "too short to carry a check digit"}
	}
	if e := lintNumeric(v); e != nil {
		return e
	}
	if want := GS1CheckDigit(v[:len(v)-1]); v[len(v)-1] != want {
		return &lintErr{ErrBadCheckDigit, len(v) - 1, 1, "check digit is " + v[len(v)-1:] + ", expected " + string(want)}
	}
	return nil
}

func twoDigits(v string, i int) int { return int(v[i]-'0')*10 + int(v[i+1]-'0') }

// daysIn returns the days in month m of the two-digit year yy. Two-digit years are
// read as 20YY (see docs/adr/0001-gs1-two-digit-years.md); leap years are the same in
// every century window GS1 allows except for 00, which is a leap year as 2000.
func daysIn(yy, m int) int {
	return time.Date(2000+yy, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func lintDate(v string, zeroDay bool) *lintErr {
	if len(v) < 6 {
		return &lintErr{ErrBadDate, 0, len(v), "a date needs 6 digits YYMMDD"}
	}
	if len(v) > 6 {
		return &lintErr{ErrBadDate, 0, len(v), "a date has 6 digits YYMMDD"}
	}
	if e := lintNumeric(v); e != nil {
		return e
	}
	m := twoDigits(v, 2)
	if m < 1 || m > 12 {
		return &lintErr{ErrBadDate, 2, 2, "month " + v[2:4] + " does not exist"}
	}
	d := twoDigits(v, 4)
	if (d == 0 && !zeroDay) || d > daysIn(twoDigits(v, 0), m) {
		return &lintErr{ErrBadDate, 4, 2, "day " + v[4:6] + " does not exist in that month"}
	}
	return nil
}

func lintYYMMD0(v string) *lintErr { return lintDate(v, true) }
func lintYYMMDD(v string) *lintErr { return lintDate(v, false) }

func lintHHMM(v string) *lintErr {
	if len(v) != 4 {
		return &lintErr{ErrBadFormat, 0, len(v), "a time needs 4 digits HHMM"}
	}
	if e := lintNumeric(v); e != nil {
		return e
	}
	if twoDigits(v, 0) > 23 {
		return &lintErr{ErrBadFormat, 0, 2, "hour " + v[:2] + " does not exist"}
	}
	if twoDigits(v, 2) > 59 {
		return &lintErr{ErrBadFormat, 2, 2, "minute " + v[2:] + " does not exist"}
	}
	return nil
}

// lintYYMMDDHH checks a date followed by an hour.
func lintYYMMDDHH(v string) *lintErr {
	if len(v) != 8 {
		return &lintErr{ErrBadDate, 0, len(v), "needs 8 digits YYMMDDHH"}
	}
	if e := lintYYMMDD(v[:6]); e != nil {
		return e
	}
	if twoDigits(v, 6) > 23 {
		return &lintErr{ErrBadFormat, 6, 2, "hour " + v[6:] + " does not exist"}
	}
	return nil
}

// lintMMOptSS checks minutes with optional seconds (MM or MMSS).
func lintMMOptSS(v string) *lintErr {
	if len(v) != 2 && len(v) != 4 {
		return &lintErr{ErrBadFormat, 0, len(v), "needs MM or MMSS"}
	}
	if e := lintNumeric(v); e != nil {
		return e
	}
	for i := 0; i < len(v); i += 2 {
		if twoDigits(v, i) > 59 {
			return &lintErr{ErrBadFormat, i, 2, v[i:i+2] + " is not a valid minute or second"}
		}
	}
	return nil
}

func lintZero(v string) *lintErr {
	if v == "" || strings.Trim(v, "0") != "" {
		return &lintErr{ErrBadFormat, 0, len(v), "must be zero"}
	}
	return nil
}

func lintNonZero(v string) *lintErr {
	if e := lintNumeric(v); e != nil {
		return e
	}
	if strings.Trim(v, "0") == "" {
		return &lintErr{ErrBadFormat, 0, len(v), "must not be zero"}
	}
	return nil
}

func lintWinding(v string) *lintErr {
	if v != "0" && v != "1" && v != "9" {
		return &lintErr{ErrBadFormat, 0, len(v), "winding direction must be 0, 1 or 9"}
	}
	return nil
}

// lintPieceOfTotal checks NNMM: piece NN of total MM, 1 ≤ NN ≤ MM.
func lintPieceOfTotal(v string) *lintErr {
	if len(v) != 4 || lintNumeric(v) != nil {
		return &lintErr{ErrBadFormat, 0, len(v), "needs 4 digits: piece and total"}
	}
	p, t := twoDigits(v, 0), twoDigits(v, 2)
	if p == 0 || t == 0 || p > t {
		return &lintErr{ErrBadFormat, 0, 4, "piece must be between 1 and the total"}
	}
	return nil
}

func lintNoZeroPrefix(v string) *lintErr {
	if len(v) > 1 && v[0] == '0' {
		return &lintErr{ErrBadFormat, 0, 1, "must not start with 0"}
	}
	return nil
}

// lintImporterIdx checks the one-character importer index of AI 7040.
func lintImporterIdx(v string) *lintErr {
	if len(v) != 1 {
		return &lintErr{ErrBadFormat, 0, len(v), "importer index is one character"}
	}
	c := v[0]
	if c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
		return nil
	}
	return &lintErr{ErrBadCharset, 0, 1, "invalid importer index"}
}

// lintCountryList checks the form of a list of 3-digit ISO 3166 country codes. The
// codes are checked for form only, not against the ISO 3166 list.
func lintCountryList(v string) *lintErr {
	if len(v)%3 != 0 {
		return &lintErr{ErrBadLength, 0, len(v), "a list of 3-digit country codes"}
	}
	return nil
}
