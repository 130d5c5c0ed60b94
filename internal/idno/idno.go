// Package idno parses, validates and masks Chinese resident identity numbers
// (公民身份号码) as defined by GB 11643-1999.
//
// Two forms are accepted: the current 18-character form (6-digit address
// code, 8-digit birth date YYYYMMDD, 3-digit sequence code and an ISO 7064
// MOD 11-2 check character that is a digit or X) and the legacy 15-digit form
// issued before 1999 (6-digit address code, 6-digit birth date YYMMDD in the
// 1900s, 3-digit sequence code, no check character).
//
// An identity number is personal data. Nothing in this package puts an
// identity number into an error message: an [*Error] names at most the single
// offending character. Use [Mask] or [Number.Masked] before a number goes to a
// log, a screen or an export. A [Number] formats itself masked with the fmt
// and log/slog packages, but its fields still hold the full number.
//
// The package is deterministic: Parse never looks at the current time, so it
// does not reject birth dates in the future. Callers that care compare
// [Number.Birth] or [Number.AgeAt] with a date of their choosing.
package idno

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Gender uses the national code values (GB/T 2261.1): 1 male, 2 female.
// The zero value is unknown.
type Gender uint8

// The genders encoded by the parity of the sequence code.
const (
	Male   Gender = 1 // odd sequence code
	Female Gender = 2 // even sequence code
)

// String returns "male", "female" or "unknown".
func (g Gender) String() string {
	switch g {
	case Male:
		return "male"
	case Female:
		return "female"
	default:
		return "unknown"
	}
}

// Number is a parsed identity number. Only [Parse] produces meaningful
// values; the zero Number is not a valid identity number.
//
// Number implements [fmt.Formatter] and [slog.LogValuer] so that printing or
// logging it shows only the masked form; the fields themselves hold the full
// number and must not be logged directly.
type Number struct {
	// Raw is the input exactly as given to Parse.
	Raw string
	// Normalized is the number as 18 (or, for the legacy form, 15) ASCII
	// characters: surrounding white space trimmed, full-width digits and
	// full-width X folded to ASCII and a lowercase check character x
	// upper-cased.
	Normalized string
	// Region is the 6-digit address code (GB/T 2260), the first 6 digits.
	Region string
	// Birth is the birth date at midnight UTC.
	Birth time.Time
	// Gender comes from the parity of the sequence code: odd is male, even
	// is female.
	Gender Gender
	// Legacy reports the 15-digit pre-1999 form, which implies the century
	// 19 and has no check character.
	Legacy bool
}

// The stable error codes carried in [Error.Code]. They are part of the
// package's contract: new codes may be added, existing ones never change.
const (
	ErrEmpty         = "empty"           // nothing but white space was given
	ErrBadLength     = "bad_length"      // not 18 or 15 characters
	ErrBadCharset    = "bad_charset"     // a non-digit where a digit (or the check X) is required
	ErrBadRegion     = "bad_region"      // the first two digits are not a province-level code
	ErrBadDate       = "bad_date"        // the birth date is not a real date on or after 1900-01-01
	ErrBadCheckDigit = "bad_check_digit" // the 18th character does not match the check digit
)

// Error describes why an identity number was rejected.
//
// Msg never contains the identity number or any part of it other than the
// single offending character, so an Error is safe to log.
type Error struct {
	// Code is one of the Err* constants, e.g. [ErrBadCheckDigit].
	Code string
	// Pos is the 1-based character position of the offending part in the
	// normalized string, or 0 when the problem concerns the input as a whole.
	Pos int
	// Msg is a human-readable explanation.
	Msg string
}

// Error returns a message such as
// "idno: bad_check_digit at 18: check digit is 3, expected X".
func (e *Error) Error() string {
	if e.Pos > 0 {
		return "idno: " + e.Code + " at " + strconv.Itoa(e.Pos) + ": " + e.Msg
	}
	return "idno: " + e.Code + ": " + e.Msg
}

// CodeOf returns the [Error.Code] of the first [*Error] in err's tree, or ""
// if there is none (including when err is nil).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Code
	}
	return ""
}

// provinces holds the valid first two digits: the province-level codes of
// GB/T 2260 and the codes used for residence permits (81 Hong Kong, 82 Macao,
// 83 Taiwan).
var provinces = [100]bool{
	11: true, 12: true, 13: true, 14: true, 15: true,
	21: true, 22: true, 23: true,
	31: true, 32: true, 33: true, 34: true, 35: true, 36: true, 37: true,
	41: true, 42: true, 43: true, 44: true, 45: true, 46: true,
	50: true, 51: true, 52: true, 53: true, 54: true,
	61: true, 62: true, 63: true, 64: true, 65: true,
	71: true, 81: true, 82: true, 83: true,
}

// weights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for i = 0..16.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps the weighted sum modulo 11 to the check character.
const checkChars = "10X98765432"

// checkChar computes the check character of 17 ASCII digits.
func checkChar(d []byte) byte {
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	return checkChars[sum%11]
}

// CheckDigit returns the ISO 7064 MOD 11-2 check character ('0'–'9' or 'X')
// for the first 17 digits of an 18-character identity number. first17 must
// be exactly 17 ASCII digits; otherwise CheckDigit returns an [*Error] with
// code [ErrBadLength] or [ErrBadCharset].
func CheckDigit(first17 string) (byte, error) {
	if n := utf8.RuneCountInString(first17); n != 17 {
		return 0, &Error{Code: ErrBadLength, Msg: "has " + strconv.Itoa(n) + " characters, want 17"}
	}
	for i := 0; i < len(first17); i++ {
		if c := first17[i]; c < '0' || c > '9' {
			r, _ := utf8.DecodeRuneInString(first17[i:])
			// All runes before i are ASCII, so the byte index is the rune index.
			return 0, &Error{Code: ErrBadCharset, Pos: i + 1, Msg: "character " + strconv.QuoteRune(r) + " is not a digit"}
		}
	}
	return checkChar([]byte(first17)), nil
}

// Parse parses and validates an identity number in the 18-character or the
// legacy 15-digit form.
//
// Surrounding white space (including the ideographic space U+3000) is
// trimmed, full-width digits U+FF10–U+FF19 and full-width X/x U+FF38/U+FF58
// are folded to ASCII, and a lowercase check character x is upper-cased.
// Nothing else is repaired.
//
// The checks run in this order, and the first failure is returned as an
// [*Error] with a zero Number: [ErrEmpty], [ErrBadLength] (neither 18 nor 15
// characters), [ErrBadCharset] (a non-digit where a digit is required, or a
// check character other than a digit or X), [ErrBadRegion] (Pos 1),
// [ErrBadDate] (Pos 7; not a real calendar date, or before 1900) and
// [ErrBadCheckDigit] (Pos 18).
func Parse(s string) (Number, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Number{}, &Error{Code: ErrEmpty, Msg: "no identity number given"}
	}
	n := utf8.RuneCountInString(t)
	if n != 18 && n != 15 {
		return Number{}, &Error{Code: ErrBadLength, Msg: "has " + strconv.Itoa(n) + " characters, want 18 or 15"}
	}

	var buf [18]byte
	changed := false // whether buf differs from t
	pos := 0
	for _, r := range t {
		var c byte
		switch {
		case '0' <= r && r <= '9':
			c = byte(r)
		case '０' <= r && r <= '９':
			c, changed = byte('0'+r-'０'), true
		case pos == 17 && r == 'X':
			c = 'X'
		case pos == 17 && (r == 'x' || r == 'Ｘ' || r == 'ｘ'):
			c, changed = 'X', true
		default:
			want := "a digit"
			if pos == 17 {
				want = "a digit or X"
			}
			return Number{}, &Error{Code: ErrBadCharset, Pos: pos + 1, Msg: "character " + strconv.QuoteRune(r) + " is not " + want}
		}
		buf[pos] = c
		pos++
	}
	norm := t // when nothing was folded, t is all ASCII and equals buf[:n]
	if changed {
		norm = string(buf[:n])
	}

	if !provinces[int(buf[0]-'0')*10+int(buf[1]-'0')] {
		return Number{}, &Error{Code: ErrBadRegion, Pos: 1, Msg: "not a known province-level address code"}
	}

	var y, m, d int
	if n == 18 {
		y, m, d = atoi(buf[6:10]), atoi(buf[10:12]), atoi(buf[12:14])
	} else {
		y, m, d = 1900+atoi(buf[6:8]), atoi(buf[8:10]), atoi(buf[10:12])
	}
	if y < 1900 {
		return Number{}, &Error{Code: ErrBadDate, Pos: 7, Msg: "birth year is before 1900"}
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return Number{}, &Error{Code: ErrBadDate, Pos: 7, Msg: "birth date is not a real calendar date"}
	}

	seq := buf[14] // 15-digit form: the last digit of the sequence code
	if n == 18 {
		seq = buf[16]
		if want := checkChar(buf[:17]); buf[17] != want {
			return Number{}, &Error{
				Code: ErrBadCheckDigit,
				Pos:  18,
				Msg:  "check digit is " + string(rune(buf[17])) + ", expected " + string(rune(want)),
			}
		}
	}
	g := Female
	if (seq-'0')%2 == 1 {
		g = Male
	}
	return Number{
		Raw:        s,
		Normalized: norm,
		Region:     norm[:6],
		Birth:      time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC),
		Gender:     g,
		Legacy:     n == 15,
	}, nil
}

// Valid reports whether s is a valid identity number, that is whether
// [Parse] accepts it.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// atoi converts ASCII digits to an int.
func atoi(b []byte) int {
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

func isLeap(y int) bool {
	return y%4 == 0 && (y%100 != 0 || y%400 == 0)
}

// daysIn returns the number of days in month m (1–12) of year y.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// Mask hides the middle of s so that it can be shown in logs, screens and
// exports. It works on any string, valid identity number or not, and counts
// runes, not bytes. After trimming surrounding white space:
//
//   - 15 or more runes: the first 4 and last 4 are kept and every rune in
//     between becomes '*' (an 18-character number gives "3601**********1234");
//   - 8 to 14 runes: the first 2 and last 2 are kept;
//   - 1 to 7 runes: every rune becomes '*';
//   - an empty string stays empty.
//
// Invalid UTF-8 bytes that are kept are replaced by U+FFFD.
func Mask(s string) string {
	t := strings.TrimSpace(s)
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return ""
	}
	keep := 0
	switch {
	case n >= 15:
		keep = 4
	case n >= 8:
		keep = 2
	}
	var b strings.Builder
	b.Grow(len(t)) // exact for ASCII; an upper bound unless invalid bytes are kept
	i := 0
	for _, r := range t {
		if i < keep || i >= n-keep {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

// Masked returns Mask(n.Normalized).
func (n Number) Masked() string {
	return Mask(n.Normalized)
}

// Format implements [fmt.Formatter]: every verb prints the masked number, so
// that a Number passed to fmt (or a logger built on it) never shows the full
// number. %q quotes it; all other verbs print it like %s.
func (n Number) Format(f fmt.State, verb rune) {
	if verb != 'q' {
		verb = 's'
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), n.Masked())
}

// LogValue implements [slog.LogValuer]: a Number is logged masked.
func (n Number) LogValue() slog.Value {
	return slog.StringValue(n.Masked())
}

// AgeAt returns the person's age in completed years on the calendar date of
// t (in t's location). The age goes up on the birthday itself; a person born
// on 29 February gets a year older on 1 March in non-leap years. If that date
// is before the birth date, AgeAt returns -1.
func (n Number) AgeAt(t time.Time) int {
	by, bm, bd := n.Birth.Date()
	ty, tm, td := t.Date()
	if ty < by || ty == by && (tm < bm || tm == bm && td < bd) {
		return -1
	}
	if bm == time.February && bd == 29 && !isLeap(ty) {
		bm, bd = time.March, 1
	}
	age := ty - by
	if tm < bm || tm == bm && td < bd {
		age--
	}
	return age
}
