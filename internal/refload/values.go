package refload

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/idno"
)

// cst is the business time zone: dates are midnight in Asia/Shanghai (no DST since 1991).
var cst = tracewatch.Beijing

// show quotes a value for an error message: ID numbers inside it are masked and a long
// value is shortened. Never call it on a certno or a person's name.
func show(v string) string {
	v = maskIDs(v)
	if utf8.RuneCountInString(v) > 64 {
		n := 0
		for i := range v {
			if n == 60 {
				v = v[:i] + "…"
				break
			}
			n++
		}
	}
	return strconv.Quote(v)
}

// maskIDs masks every run of digits (ASCII or full-width, a final X allowed) shaped like
// an ID number (15 digits, or 17 digits and a digit or X), valid or not, so that a certno
// put into the wrong column never reaches a message.
func maskIDs(s string) string {
	isDigit := func(r rune) bool { return '0' <= r && r <= '9' || '０' <= r && r <= '９' }
	isX := func(r rune) bool { return r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ' }
	var b strings.Builder
	start, n := -1, 0 // the run's byte offset and rune count
	flush := func(end int) {
		if start < 0 {
			return
		}
		run := s[start:end]
		if n == 18 || n == 15 {
			b.WriteString(idno.Mask(run))
		} else {
			b.WriteString(run)
		}
		start, n = -1, 0
	}
	for i, r := range s {
		if isDigit(r) || isX(r) && start >= 0 && n == 17 {
			if start < 0 {
				start = i
			}
			n++
			continue
		}
		flush(i)
		b.WriteRune(r)
	}
	flush(len(s))
	return b.String()
}

// need reports an empty column as a problem when it is required; it returns whether v
// is non-empty.
func (r *row) need(col, v string, required bool) bool {
	if v != "" {
		return true
	}
	if required {
		r.fail(col, "is required")
	}
	return false
}

// text returns free text: no control characters (tab and line breaks only when
// multiline), at most max characters. The value is never quoted in a message.
func (r *row) text(col string, required bool, max int, multiline bool) string {
	v := r.value(col)
	if !r.need(col, v, required) {
		return ""
	}
	for _, c := range v {
		if unicode.IsControl(c) && !(multiline && (c == '\t' || c == '\n' || c == '\r')) {
			r.fail(col, "contains the control character %U", c)
			return ""
		}
	}
	if n := utf8.RuneCountInString(v); n > max {
		r.fail(col, "has %d characters; at most %d", n, max)
		return ""
	}
	return v
}

// code returns an identifier: printable ASCII without spaces, at most max characters.
func (r *row) code(col string, required bool, max int) string {
	v := r.value(col)
	if !r.need(col, v, required) {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			c, _ := utf8.DecodeRuneInString(v[i:])
			r.fail(col, "%s contains %q: codes are printable ASCII without spaces", show(v), c)
			return ""
		}
	}
	if len(v) > max {
		r.fail(col, "%s has %d characters; at most %d", show(v), len(v), max)
		return ""
	}
	return v
}

// enum returns the value m maps the column's value to (ASCII case ignored).
func (r *row) enum(col string, required bool, m map[string]string, list string) string {
	v := r.value(col)
	if !r.need(col, v, required) {
		return ""
	}
	if out, ok := m[strings.ToLower(v)]; ok {
		return out
	}
	r.fail(col, "%s is not one of %s", show(v), list)
	return ""
}

func (r *row) region(col string, required bool) tracewatch.Region {
	v := r.value(col)
	if !r.need(col, v, required) {
		return ""
	}
	reg, err := tracewatch.ParseRegion(v)
	if err != nil {
		var e *tracewatch.Error
		if errors.As(err, &e) && e.Err != nil {
			err = e.Err
		}
		r.fail(col, "%v (GB/T 2260 code such as 360102)", err)
		return ""
	}
	return reg
}

// parseDate reads yyyy-mm-dd as midnight in Asia/Shanghai.
func parseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02", s, cst)
	return t, err == nil
}

func (r *row) date(col string, required bool) time.Time {
	v := r.value(col)
	if !r.need(col, v, required) {
		return time.Time{}
	}
	t, ok := parseDate(v)
	if !ok {
		r.fail(col, "%s is not a date: want yyyy-mm-dd, e.g. 2024-03-01", show(v))
	}
	return t
}

// digits parses a non-negative decimal integer of ASCII digits only (no sign).
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// count returns a non-negative integer of at most max; 0 when empty.
func (r *row) count(col string, max int64) int {
	v := r.value(col)
	if v == "" {
		return 0
	}
	n, ok := digits(v)
	if !ok {
		r.fail(col, "%s is not a non-negative whole number", show(v))
		return 0
	}
	if n > max {
		r.fail(col, "%s is more than %d", show(v), max)
		return 0
	}
	return int(n)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// gs1Check returns the GS1 mod-10 check digit of the digits before the last.
func gs1Check(d string) byte {
	sum, w := 0, 3
	for i := len(d) - 2; i >= 0; i-- {
		sum += int(d[i]-'0') * w
		w = 4 - w
	}
	return byte('0' + (10-sum%10)%10)
}

var gtinNames = map[int]string{8: "GTIN-8 (EAN-8)", 12: "GTIN-12 (UPC-A)", 13: "GTIN-13", 14: "GTIN-14"}

// list splits a ;-separated list (full-width ； too), trimming entries and dropping empty
// and repeated ones.
func (r *row) list(col string, max int) []string {
	v := r.value(col)
	if v == "" {
		return nil
	}
	var out []string
	seen := make(map[string]bool)
	for _, e := range strings.FieldsFunc(v, func(c rune) bool { return c == ';' || c == '；' }) {
		e = strings.TrimSpace(e)
		if e == "" || seen[e] {
			continue
		}
		for _, c := range e {
			if unicode.IsControl(c) {
				r.fail(col, "contains the control character %U", c)
				return nil
			}
		}
		if utf8.RuneCountInString(e) > max {
			r.fail(col, "entry %s has more than %d characters", show(e), max)
			return nil
		}
		seen[e] = true
		out = append(out, e)
	}
	return out
}
