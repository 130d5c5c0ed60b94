package idno

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// refCheck is an independent implementation of the ISO 7064 MOD 11-2 check
// character: weights are computed as 2^(17-i) mod 11 and the check value as
// (12 - sum mod 11) mod 11, 10 written as X.
func refCheck(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		w := 1
		for range 17 - i {
			w = w * 2 % 11
		}
		sum += int(first17[i]-'0') * w
	}
	v := (12 - sum%11) % 11
	if v == 10 {
		return 'X'
	}
	return byte('0' + v)
}

// withCheck appends the reference check character to 17 digits.
func withCheck(first17 string) string {
	return first17 + string(rune(refCheck(first17)))
}

// fullWidth converts ASCII digits and X/x to their full-width forms.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9':
			b.WriteRune(r - '0' + '０')
		case r == 'X':
			b.WriteRune('Ｘ')
		case r == 'x':
			b.WriteRune('ｘ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func TestRefCheckKnownValues(t *testing.T) {
	// Hand-verified: the well-known sample 11010519491231002X.
	// 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167,
	// 167 mod 11 = 2 → X.
	for _, tc := range []struct {
		first17 string
		want    byte
	}{
		{"11010519491231002", 'X'},
		{"32010619880715003", 'X'},
		{"36010219900307123", '6'},
		{"44030120000229002", '3'},
	} {
		if got := refCheck(tc.first17); got != tc.want {
			t.Errorf("refCheck(%s) = %c, want %c", tc.first17, got, tc.want)
		}
		got, err := CheckDigit(tc.first17)
		if err != nil || got != tc.want {
			t.Errorf("CheckDigit(%s) = %c, %v; want %c, nil", tc.first17, got, err, tc.want)
		}
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		norm   string
		region string
		birth  time.Time
		gender Gender
		legacy bool
	}{
		{"sample with X", "11010519491231002X", "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"lowercase x", "11010519491231002x", "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"another X", "32010619880715003X", "32010619880715003X", "320106", date(1988, 7, 15), Male, false},
		{"digit check", "360102199003071236", "360102199003071236", "360102", date(1990, 3, 7), Male, false},
		{"constructed male", withCheck("36010219900307123"), "360102199003071236", "360102", date(1990, 3, 7), Male, false},
		{"feb 29 leap year", withCheck("44030120000229002"), "440301200002290023", "440301", date(2000, 2, 29), Female, false},
		{"first valid year", withCheck("65010219000101001"), "650102190001010016", "650102", date(1900, 1, 1), Male, false},
		{"residence permit HK", withCheck("81000019850615004"), "810000198506150047", "810000", date(1985, 6, 15), Female, false},
		{"full-width digits and X", fullWidth("11010519491231002X"), "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"full-width lowercase x", fullWidth("11010519491231002x"), "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"mixed width", "1101051949１２３１002X", "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"surrounding spaces", "  11010519491231002X \t\n", "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"ideographic spaces", "\u300011010519491231002x\u3000", "11010519491231002X", "110105", date(1949, 12, 31), Female, false},
		{"legacy 15", "110105491231002", "110105491231002", "110105", date(1949, 12, 31), Female, true},
		{"legacy 15 male", "360102900307123", "360102900307123", "360102", date(1990, 3, 7), Male, true},
		{"legacy 15 full-width", fullWidth(" 110105491231002 "), "110105491231002", "110105", date(1949, 12, 31), Female, true},
		{"legacy 1904 feb 29", "440301040229001", "440301040229001", "440301", date(1904, 2, 29), Male, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.in, err)
			}
			if n.Raw != tc.in {
				t.Errorf("Raw = %q, want %q", n.Raw, tc.in)
			}
			if n.Normalized != tc.norm {
				t.Errorf("Normalized = %q, want %q", n.Normalized, tc.norm)
			}
			if n.Region != tc.region {
				t.Errorf("Region = %q, want %q", n.Region, tc.region)
			}
			if !n.Birth.Equal(tc.birth) || n.Birth.Location() != time.UTC {
				t.Errorf("Birth = %v, want %v", n.Birth, tc.birth)
			}
			if n.Gender != tc.gender {
				t.Errorf("Gender = %v, want %v", n.Gender, tc.gender)
			}
			if n.Legacy != tc.legacy {
				t.Errorf("Legacy = %v, want %v", n.Legacy, tc.legacy)
			}
			if !Valid(tc.in) {
				t.Errorf("Valid(%q) = false", tc.in)
			}
		})
	}
}

type invalidCase struct {
	name string
	in   string
	code string
	pos  int
}

// invalidCases covers every error code and the near misses.
var invalidCases = []invalidCase{
	{"empty", "", ErrEmpty, 0},
	{"only spaces", " \t\u3000 ", ErrEmpty, 0},

	{"17 chars", "11010519491231002", ErrBadLength, 0},
	{"19 chars", "11010519491231002X1", ErrBadLength, 0},
	{"16 chars", "1101051949123100", ErrBadLength, 0},
	{"14 chars", "11010549123100", ErrBadLength, 0},
	{"short", "123", ErrBadLength, 0},
	{"19 with trailing X", "110105194912310021X", ErrBadLength, 0},

	{"letter in middle", "1101051949A231002X", ErrBadCharset, 11},
	{"X not last", "1101051949123100X2", ErrBadCharset, 17},
	{"X first", "X10105194912310021", ErrBadCharset, 1},
	{"bad check char", "11010519491231002A", ErrBadCharset, 18},
	{"lowercase x not last", "x10105194912310021", ErrBadCharset, 1},
	{"legacy with X", "11010549123100X", ErrBadCharset, 15},
	{"legacy with x", "11010549123100x", ErrBadCharset, 15},
	{"inner space", "110105 94912310021", ErrBadCharset, 7},
	{"inner ideographic space", "110105\u300094912310021", ErrBadCharset, 7},
	{"hyphen", "110105-1949123100X", ErrBadCharset, 7},
	{"chinese char", "110105一94912310021", ErrBadCharset, 7},
	{"arabic-indic digit", "11010519491231002\u0661", ErrBadCharset, 18},
	{"invalid utf-8", "1101051949\xff231002X", ErrBadCharset, 11},
	{"full-width letter", "11010519491231002Ａ", ErrBadCharset, 18},

	{"region 99", withCheck("99010219900307123"), ErrBadRegion, 1},
	{"region 10", withCheck("10010519491231002"), ErrBadRegion, 1},
	{"region 00", withCheck("00010519491231002"), ErrBadRegion, 1},
	{"region 72", withCheck("72010519491231002"), ErrBadRegion, 1},
	{"legacy region 99", "990105491231002", ErrBadRegion, 1},

	{"feb 29 non-leap", withCheck("11010520010229001"), ErrBadDate, 7},
	{"feb 29 1900", withCheck("11010519000229001"), ErrBadDate, 7},
	{"feb 29 1901", withCheck("11010519010229001"), ErrBadDate, 7},
	{"month 13", withCheck("11010519901301001"), ErrBadDate, 7},
	{"month 00", withCheck("11010519900010001"), ErrBadDate, 7},
	{"day 00", withCheck("11010519900100001"), ErrBadDate, 7},
	{"april 31", withCheck("11010519900431001"), ErrBadDate, 7},
	{"jan 32", withCheck("11010519900132001"), ErrBadDate, 7},
	{"year 1899", withCheck("11010518991231001"), ErrBadDate, 7},
	{"year 0000", withCheck("11010500000101001"), ErrBadDate, 7},
	{"legacy feb 29 1900", "440301000229001", ErrBadDate, 7},
	{"legacy month 13", "110105491331002", ErrBadDate, 7},
	{"legacy day 00", "110105491200002", ErrBadDate, 7},

	{"wrong check digit", "110105194912310021", ErrBadCheckDigit, 18},
	{"X where digit expected", "36010219900307123X", ErrBadCheckDigit, 18},
	{"lowercase x wrong", "36010219900307123x", ErrBadCheckDigit, 18},
	{"transposed digits", "11010519491213002X", ErrBadCheckDigit, 18},
	{"full-width wrong", fullWidth("110105194912310021"), ErrBadCheckDigit, 18},
}

func TestParseInvalid(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want %s", tc.in, tc.code)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T is not *Error", tc.in, err)
			}
			if e.Code != tc.code || e.Pos != tc.pos {
				t.Errorf("Parse(%q) = code %q pos %d (%v), want code %q pos %d", tc.in, e.Code, e.Pos, err, tc.code, tc.pos)
			}
			if CodeOf(err) != tc.code {
				t.Errorf("CodeOf = %q, want %q", CodeOf(err), tc.code)
			}
			if n != (Number{}) {
				t.Errorf("Parse(%q) returned non-zero Number on error", tc.in)
			}
			if Valid(tc.in) {
				t.Errorf("Valid(%q) = true", tc.in)
			}
			if e.Msg == "" {
				t.Errorf("empty Msg")
			}
		})
		seen[tc.code] = true
	}
	for _, code := range []string{ErrEmpty, ErrBadLength, ErrBadCharset, ErrBadRegion, ErrBadDate, ErrBadCheckDigit} {
		if !seen[code] {
			t.Errorf("no test case for code %q", code)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"110105194912310021", "idno: bad_check_digit at 18: check digit is 1, expected X"},
		{"36010219900307123X", "idno: bad_check_digit at 18: check digit is X, expected 6"},
		{"", "idno: empty: no identity number given"},
		{"11010519491231002", "idno: bad_length: has 17 characters, want 18 or 15"},
		{"1101051949A231002X", "idno: bad_charset at 11: character 'A' is not a digit"},
		{"11010519491231002A", "idno: bad_charset at 18: character 'A' is not a digit or X"},
		{withCheck("99010219900307123"), "idno: bad_region at 1: not a known province-level address code"},
		{withCheck("11010519901301001"), "idno: bad_date at 7: birth date is not a real calendar date"},
		{withCheck("11010518991231001"), "idno: bad_date at 7: birth year is before 1900"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// normalizeForTest trims and folds like Parse does, without validating.
func normalizeForTest(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case '０' <= r && r <= '９':
			b.WriteRune(r - '０' + '0')
		case r == 'Ｘ' || r == 'ｘ' || r == 'x':
			b.WriteByte('X')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestErrorNoLeak checks that no error message contains the input, nor any
// four consecutive characters of it: at most the single offending character
// may appear.
func TestErrorNoLeak(t *testing.T) {
	for _, tc := range invalidCases {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tc.in)
			continue
		}
		msg := err.Error()
		for _, s := range []string{normalizeForTest(tc.in), strings.TrimSpace(tc.in)} {
			runes := []rune(s)
			if len(runes) < 8 {
				continue
			}
			if strings.Contains(msg, s) {
				t.Errorf("%s: error %q contains the input", tc.name, msg)
			}
			for i := 0; i+4 <= len(runes); i++ {
				if w := string(runes[i : i+4]); strings.Contains(msg, w) {
					t.Errorf("%s: error %q contains %q from the input", tc.name, msg, w)
				}
			}
		}
	}
}

func TestCodeOf(t *testing.T) {
	_, err := Parse("110105194912310021")
	wrapped := fmt.Errorf("claim 7: %w", err)
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{err, ErrBadCheckDigit},
		{wrapped, ErrBadCheckDigit},
		{errors.Join(errors.New("x"), &Error{Code: ErrBadDate, Pos: 7}), ErrBadDate},
		{(*Error)(nil), ""},
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		in   string
		want byte
		code string
		pos  int
	}{
		{"11010519491231002", 'X', "", 0},
		{"36010219900307123", '6', "", 0},
		{"00000000000000000", '1', "", 0},
		{"", 0, ErrBadLength, 0},
		{"1101051949123100", 0, ErrBadLength, 0},
		{"110105194912310021", 0, ErrBadLength, 0},
		{"1101051949123100X", 0, ErrBadCharset, 17},
		{"１1010519491231002", 0, ErrBadCharset, 1},
		{"1101051949-231002", 0, ErrBadCharset, 11},
	}
	for _, tc := range tests {
		got, err := CheckDigit(tc.in)
		if tc.code == "" {
			if err != nil || got != tc.want {
				t.Errorf("CheckDigit(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Pos != tc.pos {
			t.Errorf("CheckDigit(%q) error = %v, want code %q pos %d", tc.in, err, tc.code, tc.pos)
		}
	}
	// Exhaustive agreement with the reference on a spread of inputs.
	for i := range 2000 {
		s := fmt.Sprintf("%017d", uint64(i)*7919*104729*31337%100000000000000000)
		got, err := CheckDigit(s)
		if err != nil || got != refCheck(s) {
			t.Fatalf("CheckDigit(%s) = %c, %v; reference %c", s, got, err, refCheck(s))
		}
	}
}

func TestGenderString(t *testing.T) {
	tests := []struct {
		g    Gender
		want string
	}{
		{Male, "male"},
		{Female, "female"},
		{0, "unknown"},
		{3, "unknown"},
	}
	for _, tc := range tests {
		if got := tc.g.String(); got != tc.want {
			t.Errorf("Gender(%d).String() = %q, want %q", tc.g, got, tc.want)
		}
	}
	if Male != 1 || Female != 2 {
		t.Errorf("Male, Female = %d, %d; want GB/T 2261.1 codes 1, 2", Male, Female)
	}
}

func TestGenderFromSequence(t *testing.T) {
	for d := '0'; d <= '9'; d++ {
		want := Female
		if (d-'0')%2 == 1 {
			want = Male
		}
		n, err := Parse(withCheck("3601021990030712" + string(d)))
		if err != nil {
			t.Fatal(err)
		}
		if n.Gender != want {
			t.Errorf("sequence digit %c: Gender = %v, want %v", d, n.Gender, want)
		}
		n, err = Parse("36010290030712" + string(d))
		if err != nil {
			t.Fatal(err)
		}
		if n.Gender != want {
			t.Errorf("legacy sequence digit %c: Gender = %v, want %v", d, n.Gender, want)
		}
	}
}

func TestAgeAt(t *testing.T) {
	mustParse := func(s string) Number {
		t.Helper()
		n, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dec31 := mustParse("11010519491231002X")           // 1949-12-31
	feb29 := mustParse(withCheck("44030120000229002")) // 2000-02-29
	jul15 := mustParse("32010619880715003X")           // 1988-07-15
	legacy := mustParse("110105491231002")             // 1949-12-31
	shanghai := time.FixedZone("CST", 8*3600)

	tests := []struct {
		name string
		n    Number
		at   time.Time
		want int
	}{
		{"day before birthday", dec31, date(2024, 12, 30), 74},
		{"on birthday", dec31, date(2024, 12, 31), 75},
		{"day after birthday", dec31, date(2025, 1, 1), 75},
		{"birth day itself", dec31, date(1949, 12, 31), 0},
		{"day before birth", dec31, date(1949, 12, 30), -1},
		{"year before birth", dec31, date(1948, 1, 1), -1},
		{"late in the day", dec31, time.Date(2024, 12, 30, 23, 59, 59, 999999999, time.UTC), 74},
		{"date in t's location", dec31, time.Date(2024, 12, 31, 0, 30, 0, 0, shanghai), 75},
		{"legacy", legacy, date(2024, 12, 31), 75},

		{"feb29 before first birthday", feb29, date(2001, 2, 28), 0},
		{"feb29 first birthday on mar 1", feb29, date(2001, 3, 1), 1},
		{"feb29 leap year feb 28", feb29, date(2004, 2, 28), 3},
		{"feb29 leap year feb 29", feb29, date(2004, 2, 29), 4},
		{"feb29 leap year mar 1", feb29, date(2004, 3, 1), 4},
		{"feb29 1900-like century", feb29, date(2100, 2, 28), 99},
		{"feb29 century mar 1", feb29, date(2100, 3, 1), 100},
		{"feb29 day before birth", feb29, date(2000, 2, 28), -1},

		{"jul15 before", jul15, date(2020, 7, 14), 31},
		{"jul15 on", jul15, date(2020, 7, 15), 32},
		{"jul15 earlier month", jul15, date(2020, 6, 30), 31},
		{"jul15 later month", jul15, date(2020, 8, 1), 32},
	}
	for _, tc := range tests {
		if got := tc.n.AgeAt(tc.at); got != tc.want {
			t.Errorf("%s: AgeAt(%v) = %d, want %d", tc.name, tc.at, got, tc.want)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"only spaces", "  \u3000 ", ""},
		{"1 rune", "7", "*"},
		{"3 runes", "abc", "***"},
		{"7 runes", "1234567", "*******"},
		{"8 runes", "12345678", "12****78"},
		{"14 runes", "12345678901234", "12**********34"},
		{"15 runes", "110105491231002", "1101*******1002"},
		{"17 runes", "11010519491231002", "1101*********1002"},
		{"18 runes", "360102199003071234", "3601**********1234"},
		{"18 with X", "11010519491231002X", "1101**********002X"},
		{"trimmed", "  11010519491231002X\t", "1101**********002X"},
		{"ideographic space trimmed", "\u300011010519491231002X\u3000", "1101**********002X"},
		{"chinese name 2", "张三", "**"},
		{"chinese name 3", "欧阳娜", "***"},
		{"chinese 9 runes", "中华人民共和国万岁", "中华*****万岁"},
		{"full-width 18", fullWidth("11010519491231002X"), "１１０１**********００２Ｘ"},
		{"invalid utf-8 hidden", "\xff\xfe\xfd", "***"},
		{"invalid utf-8 kept", "\xff2345678", "\uFFFD2****78"},
		{"inner space kept as rune", "ab cd efgh", "ab******gh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Mask(tc.in); got != tc.want {
				t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMaskedAndFormatting(t *testing.T) {
	n, err := Parse(fullWidth(" 11010519491231002x "))
	if err != nil {
		t.Fatal(err)
	}
	const want = "1101**********002X"
	if got := n.Masked(); got != want {
		t.Errorf("Masked() = %q, want %q", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%20v"} {
		got := fmt.Sprintf(verb, n)
		if strings.Contains(got, "19491231") || !strings.Contains(got, want) {
			t.Errorf("Sprintf(%s, n) = %q, want masked", verb, got)
		}
	}
	if got := fmt.Sprintf("%q", n); got != `"`+want+`"` {
		t.Errorf("Sprintf(%%q, n) = %s", got)
	}
	if got := fmt.Sprintf("%v", &n); got != want {
		t.Errorf("Sprintf(%%v, &n) = %s", got)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("claim", "certno", n)
	if out := buf.String(); strings.Contains(out, "19491231") || !strings.Contains(out, want) {
		t.Errorf("slog output %q is not masked", out)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"", " ", "11010519491231002X", "11010519491231002x", " 11010519491231002X ",
		fullWidth("11010519491231002X"), "110105491231002", "110105194912310021",
		"1101051949123100", "11010519491231002X1", "\u300032010619880715003X\u3000",
		withCheck("44030120000229002"), withCheck("11010520010229001"), "张三", "中华人民共和国万岁",
		"1101051949\xff231002X", "990105491231002",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(checkProperties)
}

// checkProperties checks the invariants of Parse, CheckDigit and Mask for any
// input s; it is the body of FuzzParse.
func checkProperties(t *testing.T, s string) {
	n, err := Parse(s)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q) error %T is not *Error", s, err)
		}
		if e.Pos < 0 || e.Pos > 18 || CodeOf(err) == "" {
			t.Fatalf("Parse(%q) bad error %+v", s, *e)
		}
		if Valid(s) {
			t.Fatalf("Valid(%q) = true but Parse failed", s)
		}
		// For inputs shaped like identity numbers, the message must not
		// repeat the input.
		if norm := normalizeForTest(s); utf8.RuneCountInString(norm) >= 8 && strings.Trim(norm, "0123456789X") == "" {
			if strings.Contains(err.Error(), norm) {
				t.Fatalf("error %q leaks the input", err)
			}
		}
	} else {
		if !Valid(s) {
			t.Fatalf("Valid(%q) = false but Parse succeeded", s)
		}
		if n.Raw != s {
			t.Fatalf("Raw = %q, want %q", n.Raw, s)
		}
		if l := len(n.Normalized); (l != 18 || n.Legacy) && (l != 15 || !n.Legacy) {
			t.Fatalf("Normalized %q has length %d, Legacy %v", n.Normalized, l, n.Legacy)
		}
		for i := 0; i < len(n.Normalized); i++ {
			if c := n.Normalized[i]; (c < '0' || c > '9') && !(c == 'X' && i == 17) {
				t.Fatalf("Normalized %q has %q at %d", n.Normalized, c, i+1)
			}
		}
		m, err := Parse(n.Normalized)
		if err != nil {
			t.Fatalf("Parse(Normalized %q) failed: %v", n.Normalized, err)
		}
		if m.Normalized != n.Normalized || m.Region != n.Region || !m.Birth.Equal(n.Birth) ||
			m.Gender != n.Gender || m.Legacy != n.Legacy {
			t.Fatalf("re-parse of %q differs", n.Normalized)
		}
		if n.Gender != Male && n.Gender != Female {
			t.Fatalf("Gender = %d", n.Gender)
		}
		if !n.Legacy {
			c, err := CheckDigit(n.Normalized[:17])
			if err != nil || c != n.Normalized[17] || c != refCheck(n.Normalized[:17]) {
				t.Fatalf("CheckDigit(%q) = %c, %v; number has %c", n.Normalized[:17], c, err, n.Normalized[17])
			}
		}
		if n.AgeAt(n.Birth) != 0 {
			t.Fatalf("AgeAt(Birth) = %d", n.AgeAt(n.Birth))
		}
	}

	masked := Mask(s)
	trimmed := strings.TrimSpace(s)
	if utf8.RuneCountInString(masked) != utf8.RuneCountInString(trimmed) {
		t.Fatalf("Mask(%q) = %q changes the rune count", s, masked)
	}
	if !utf8.ValidString(masked) {
		t.Fatalf("Mask(%q) = %q is not valid UTF-8", s, masked)
	}
	if utf8.RuneCountInString(trimmed) == 18 {
		for i, r := range []rune(masked) {
			if i >= 4 && i < 14 && r != '*' {
				t.Fatalf("Mask(%q) = %q: rune %d is %q, want '*'", s, masked, i+1, r)
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	inputs := []struct {
		name string
		in   string
	}{
		{"ascii18", "11010519491231002X"},
		{"lowercase_x", "11010519491231002x"},
		{"fullwidth", fullWidth("11010519491231002X")},
		{"legacy15", "110105491231002"},
		{"bad_check_digit", "110105194912310021"},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			for b.Loop() {
				Parse(in.in)
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	inputs := []struct {
		name string
		in   string
	}{
		{"ascii18", "11010519491231002X"},
		{"chinese9", "中华人民共和国万岁"},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			for b.Loop() {
				Mask(in.in)
			}
		})
	}
}
