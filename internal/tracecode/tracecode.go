// Package tracecode is the identification library (识别库): it turns whatever a scanner
// or a person typed into the identity of one sales pack, or a clear reason why not.
//
// Kinds recognised (see docs/trace-codes.md):
//
//   - NMPA 20-digit codes (码上放心 / 电子监管码): product id = digits 1–7, serial = 8–16,
//     check = 17–20. The check digits come from a proprietary algorithm and are never
//     verified: a code is never refused for its last four digits.
//   - GS1 element strings (AIM-prefixed scanner output, GS or ^ as FNC1, the bracketed
//     human-readable form) and GS1 Digital Link URIs: identity = GTIN (01) + serial (21).
//   - MA / IDcode (ISO/IEC 15459) codes starting with "MA.".
//   - Enterprise codes: any other code of letters, digits and "-", "." or "_" (8–100
//     characters, with a digit), accepted but marked unverified.
//
// Bare commodity barcodes (GTIN-13 商品码, EAN-8, UPC-A, GTIN-14) are refused with
// ErrNotTraceCode: the classic wrong-barcode scan.
//
// Normalization is lossless only: surrounding white space is trimmed, full-width
// characters are folded to ASCII, AIM symbology identifiers are stripped and the FNC1
// variants scanners emit are accepted. Letter case is never changed: a CAPS-LOCK error
// surfaces as a different (unknown) code, never as a silent repair.
package tracecode

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the family a code belongs to.
type Kind uint8

// The kinds of trace code.
const (
	KindUnknown    Kind = iota
	KindNMPA20          // 20-digit 码上放心 / 药品电子监管码
	KindGS1             // GS1 element string or Digital Link
	KindMA              // MA / IDcode (ISO/IEC 15459)
	KindEnterprise      // any other code of letters, digits and - . _, unverified
)

var kindNames = [...]string{"", "nmpa20", "gs1", "ma", "enterprise"}

// String returns the stable name of the kind ("nmpa20", "gs1", "ma", "enterprise").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), true
		}
	}
	return KindUnknown, false
}

// Date is a calendar date without a time zone, as printed on a pack.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d.Year == 0 }

// String formats the date as YYYY-MM-DD, or "" when unset.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	var b [10]byte
	b[0] = byte('0' + d.Year/1000%10)
	b[1] = byte('0' + d.Year/100%10)
	b[2] = byte('0' + d.Year/10%10)
	b[3] = byte('0' + d.Year%10)
	b[4] = '-'
	b[5] = byte('0' + int(d.Month)/10)
	b[6] = byte('0' + int(d.Month)%10)
	b[7] = '-'
	b[8] = byte('0' + d.Day/10)
	b[9] = byte('0' + d.Day%10)
	return string(b[:])
}

// In returns midnight of the date in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Element is one GS1 Application Identifier and its value.
type Element struct {
	AI    string
	Value string
}

// Code is one identified trace code.
type Code struct {
	Raw       string    // the scan exactly as received
	Kind      Kind      // the family
	Key       string    // the identity: equal keys mean the same pack, whatever the printed form
	ProductID string    // 药品标识码: digits 1–7 of an NMPA code; the GTIN of a GS1 code
	Serial    string    // the pack serial: digits 8–16 of an NMPA code; AI (21) of a GS1 code
	Check     string    // NMPA: digits 17–20 (not verifiable offline)
	GTIN      string    // GS1: AI (01), 14 digits
	Batch     string    // GS1: AI (10)
	Expiry    Date      // GS1: AI (17); day 00 means the last day of the month
	Produced  Date      // GS1: AI (11); day 00 means the first day of the month
	Symbology Symbology // from the AIM prefix, when the scanner sent one
	Elements  []Element // GS1: every element, in the order read
	Verified  bool      // false for enterprise codes, whose format cannot be checked
	Warning   string    // a remark that does not refuse the code (e.g. an unusual NMPA prefix)
}

// Normalized returns a canonical printable form of the code that parses to the same Key:
// the 20 digits of an NMPA code, the bracketed element string of a GS1 code, the code
// itself for MA and enterprise codes.
func (c Code) Normalized() string {
	if c.Kind == KindGS1 {
		return bracketed(c.Elements)
	}
	return c.Key
}

// Packed returns the identity of an NMPA 20-digit code packed losslessly into a uint64
// (the 19 digits after the leading 8). It reports false for every other code, whose
// identity is its Key string.
func (c Code) Packed() (uint64, bool) {
	if c.Kind != KindNMPA20 || len(c.Key) != 20 || c.Key[0] != '8' {
		return 0, false
	}
	var v uint64
	for i := 1; i < 20; i++ {
		v = v*10 + uint64(c.Key[i]-'0')
	}
	return v, true
}

// MaxPacked is the largest value Packed returns.
const MaxPacked uint64 = 9_999_999_999_999_999_999

// Unpack is the inverse of Packed: it returns the 20-digit key of a packed NMPA code.
func Unpack(v uint64) (string, bool) {
	if v > MaxPacked {
		return "", false
	}
	var b [20]byte
	b[0] = '8'
	for i := 19; i >= 1; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:]), true
}

// Options adjust how permissive GS1 decoding is. The zero value is strict; Parse uses
// Default.
type Options struct {
	// PermitZeroSuppressedGTIN accepts an 8-, 12- or 13-digit GTIN in a Digital Link URI
	// and pads it to 14 digits (lossless).
	PermitZeroSuppressedGTIN bool
	// PermitConvenienceAlphas accepts the deprecated Digital Link path names (gtin, ser,
	// lot, sscc, …) for their numeric AIs (lossless).
	PermitConvenienceAlphas bool
	// PermitUnknownAIs accepts AIs absent from the table where their extent is explicit
	// (bracketed form, Digital Link query), as free text of up to 90 characters.
	PermitUnknownAIs bool
}

// Default is what Parse uses: lossless spellings of a known AI are accepted, unknown AIs
// are refused.
var Default = Options{PermitZeroSuppressedGTIN: true, PermitConvenienceAlphas: true}

// Maximum lengths accepted (the national drug_trac_codg field is 100 characters).
const (
	MaxLen           = 100
	minEnterpriseLen = 8
)

// Parse identifies one scanned code with the Default options.
func Parse(raw string) (Code, error) { return Default.Parse(raw) }

// Parse identifies one scanned code.
func (o Options) Parse(raw string) (Code, error) {
	// Fast path: a clean 20-digit code, the overwhelming majority of scans.
	if len(raw) == 20 && allDigits(raw) {
		c := nmpa20(raw)
		c.Raw = raw
		return c, nil
	}
	s, err := normalize(raw)
	if err != nil {
		return Code{Raw: raw}, err
	}
	if s == "" {
		return Code{Raw: raw}, &Error{Code: ErrEmpty, Msg: "nothing was scanned"}
	}
	if len(s) > MaxLen*4 { // generous: GS1 Digital Link URIs percent-encode
		return Code{Raw: raw}, errAt(ErrBadLength, s, -1, "%d characters is longer than any trace code", len(s))
	}
	c, e := o.classify(s)
	c.Raw = raw
	if e != nil {
		return c, e
	}
	return c, nil
}

// classify dispatches a normalized, non-empty scan to the parser of its kind.
func (o Options) classify(s string) (Code, *Error) {
	if s[0] == ']' {
		return o.parseAIM(s)
	}
	return o.classifyPlain(s, 0, s)
}

// classifyPlain identifies data that carries no symbology identifier. base is the byte
// offset of data within full (for error positions).
func (o Options) classifyPlain(data string, base int, full string) (Code, *Error) {
	sub := func(c Code, e *Error) (Code, *Error) { return c, shift(e, data, full, base) }
	switch {
	case data == "":
		return Code{}, errAt(ErrEmpty, full, -1, "the scan carries no data")
	case data[0] == ']':
		// Only a scanner's symbology identifier starts with "]"; one inside the data is a
		// doubled prefix or garbage, and as a key it would read as a prefix again.
		return sub(Code{}, errAt(ErrBadFormat, data, 0, "the data starts with \"]\", like a second symbology identifier"))
	case data[0] == '(':
		return sub(o.gs1FromBracketed(data))
	case data[0] == '^':
		return sub(gs1FromElementString(data, 1))
	case isDigitalLink(data):
		return sub(o.gs1FromDigitalLink(data))
	case strings.IndexByte(data, gs) >= 0:
		off := 0
		if data[0] == gs { // a leading GS is FNC1 in first position
			off = 1
		}
		return sub(gs1FromElementString(data, off))
	case strings.HasPrefix(data, "MA."):
		return sub(parseMA(data))
	}
	if d, ok := digitsOnly(data); ok {
		return sub(o.classifyDigits(d, data))
	}
	if len(data) > 16 && data[0] == '0' && data[1] == '1' && allDigits(data[2:16]) {
		// An element string typed or scanned without FNC1 in first position.
		return sub(gs1FromElementString(data, 0))
	}
	return sub(parseEnterprise(data))
}

// classifyDigits handles a scan made only of digits (separators already removed).
// orig is the scan as typed, for error positions.
func (o Options) classifyDigits(d, orig string) (Code, *Error) {
	n := len(d)
	switch {
	case n == 20:
		return nmpa20(d), nil
	case n >= 16 && d[0] == '0' && d[1] == '1':
		if c, e := gs1FromElementString(d, 0); e == nil || e.Code == ErrNotTraceCode {
			return c, e
		}
	}
	switch n {
	case 8, 12, 13, 14:
		name := map[int]string{8: "an EAN-8", 12: "a UPC-A (GTIN-12)", 13: "a GTIN-13 commodity barcode (商品码)", 14: "a GTIN-14 (ITF-14 carton) barcode"}[n]
		if e := lintCsum(d); e != nil {
			return Code{}, errAt(ErrBadCheckDigit, orig, lastDigitOffset(orig),
				"%d digits look like %s, but the check digit is wrong; it is not a trace code either", n, name)
		}
		return Code{GTIN: padGTIN(d)}, errAt(ErrNotTraceCode, orig, -1,
			"%s identifies a product, not one pack: scan the drug trace code (药品追溯码), usually 20 digits", name)
	case 19, 21:
		return Code{}, errAt(ErrBadLength, orig, -1, "%d digits: a 码上放心 trace code has exactly 20", n)
	}
	return Code{}, errAt(ErrBadLength, orig, -1,
		"%d digits: a numeric trace code has 20 digits (码上放心); GS1 and other codes carry letters or AIs", n)
}

// nmpa20 builds a 20-digit NMPA code from its 20 digits.
func nmpa20(d string) Code {
	c := Code{
		Kind:      KindNMPA20,
		Key:       d,
		ProductID: d[:7],
		Serial:    d[7:16],
		Check:     d[16:20],
		Verified:  true,
	}
	if d[0] != '8' {
		c.Warning = "20-digit code that does not start with 8: unusual for 码上放心 / 药品电子监管码"
	}
	return c
}

// parseMA identifies an MA / IDcode code: "MA." + a 3-digit country code + further
// dot-separated segments. The whole code is the identity; the last segment is taken as
// the serial and the rest as the product (object class) identifier.
func parseMA(s string) (Code, *Error) {
	if len(s) > MaxLen {
		return Code{}, errAt(ErrBadLength, s, -1, "MA code of %d characters exceeds %d", len(s), MaxLen)
	}
	if off := firstNotPrintable(s); off >= 0 {
		return Code{}, errAt(ErrBadCharset, s, off, "MA codes use printable ASCII only (no spaces)")
	}
	segs := strings.Split(s, ".")
	off := 0
	for i, seg := range segs {
		if seg == "" {
			return Code{}, errAt(ErrBadFormat, s, off, "empty segment in MA code (two dots in a row, or a trailing dot)")
		}
		if i == 1 && (len(seg) != 3 || !allDigits(seg)) {
			return Code{}, errAt(ErrBadFormat, s, off, "MA code must give a 3-digit country code after \"MA.\" (156 for China)")
		}
		off += len(seg) + 1
	}
	if len(segs) < 4 {
		return Code{}, errAt(ErrBadFormat, s, -1, "MA code needs at least MA.<country>.<issuer>.<object>; got %d segments", len(segs))
	}
	last := strings.LastIndexByte(s, '.')
	return Code{Kind: KindMA, Key: s, ProductID: s[:last], Serial: s[last+1:], Verified: true}, nil
}

// parseEnterprise accepts any other code of the enterprise shape, unverified: 8–100
// letters, digits and the separators "-", "." and "_", beginning and ending with a
// letter or a digit, no two separators in a row, at least one digit (the pack serial).
// Paths, URLs, words ("undefined") and the like are refused: they identify no pack.
func parseEnterprise(s string) (Code, *Error) {
	if off := firstNotPrintable(s); off >= 0 {
		return Code{}, errAt(ErrBadCharset, s, off, "trace codes use printable ASCII only (GB/T 1988); found %q", runeAt(s, off))
	}
	if len(s) < minEnterpriseLen {
		return Code{}, errAt(ErrBadLength, s, -1, "%d characters is too short to identify a pack", len(s))
	}
	if len(s) > MaxLen {
		return Code{}, errAt(ErrBadLength, s, -1, "%d characters exceeds the %d of the national drug_trac_codg field", len(s), MaxLen)
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c-'0' <= 9:
			digits++
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z':
		case c == '-' || c == '.' || c == '_':
			if i == 0 || i == len(s)-1 {
				return Code{}, errAt(ErrBadFormat, s, i, "an enterprise code begins and ends with a letter or a digit")
			}
			if p := s[i-1]; p == '-' || p == '.' || p == '_' {
				return Code{}, errAt(ErrBadFormat, s, i, "two separators in a row")
			}
		default:
			return Code{}, errAt(ErrBadCharset, s, i, "an enterprise code has letters, digits and the separators - . _ only; found %q", runeAt(s, i))
		}
	}
	if digits == 0 {
		return Code{}, errAt(ErrBadFormat, s, -1, "no digit: an enterprise code carries the pack's serial")
	}
	return Code{Kind: KindEnterprise, Key: s, Verified: false}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// digitsOnly returns s without spaces and hyphens when s is made of digits with those
// separators only (the way 20-digit codes are printed on packs: "8385793 0000879766660").
func digitsOnly(s string) (string, bool) {
	sep := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c-'0' <= 9:
		case c == ' ' || c == '-':
			sep = true
		default:
			return "", false
		}
	}
	if !sep {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i]-'0' <= 9 {
			b = append(b, s[i])
		}
	}
	if len(b) == 0 {
		return "", false
	}
	return string(b), true
}

func lastDigitOffset(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]-'0' <= 9 {
			return i
		}
	}
	return -1
}

func firstNotPrintable(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}

func runeAt(s string, off int) string {
	r, _ := utf8.DecodeRuneInString(s[off:])
	return string(r)
}

func padGTIN(d string) string {
	if len(d) >= 14 {
		return d
	}
	return strings.Repeat("0", 14-len(d)) + d
}
