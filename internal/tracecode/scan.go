package tracecode

import "strings"

// Symbology is the barcode symbology a scanner reported through its AIM identifier
// ("]d2", "]Q3", "]C1", …).
type Symbology uint8

// The symbologies recognised in AIM identifiers.
const (
	SymNone Symbology = iota
	SymDataMatrix
	SymQR
	SymDotCode
	SymCode128 // includes GS1-128 (]C1)
	SymDataBar
	SymEAN13 // EAN-13 and UPC-A (]E0)
	SymEAN8
	SymITF
	SymCode39
	SymCodabar
	SymCode93
	SymPDF417
	SymAztec
)

var symNames = [...]string{"", "datamatrix", "qr", "dotcode", "code128", "databar", "ean13", "ean8", "itf", "code39", "codabar", "code93", "pdf417", "aztec"}

func (s Symbology) String() string {
	if int(s) < len(symNames) {
		return symNames[s]
	}
	return "unknown"
}

// scan is a decoded scanner transmission.
type scan struct {
	sym       Symbology
	gs1       bool      // the data is a GS1 element string (FNC1 in first position)
	ean       string    // EAN/UPC digits (SymEAN13, SymEAN8)
	composite []element // GS1 composite component after an EAN ("|]e0…")
	els       []element // the elements of GS1 data
	data      string    // plain data (non-GS1 modes)
	base      int       // byte offset of data in the transmission
}

// aimModes maps the symbology letter of an AIM identifier to its symbology and the
// modifiers that mean "GS1 data" (FNC1 in first position).
var aimModes = map[byte]struct {
	sym Symbology
	gs1 string
}{
	'd': {SymDataMatrix, "25"},
	'Q': {SymQR, "34"},
	'J': {SymDotCode, "1"},
	'C': {SymCode128, "1"},
	'e': {SymDataBar, "0123456789"},
	'E': {SymEAN13, ""},
	'I': {SymITF, ""},
	'A': {SymCode39, ""},
	'F': {SymCodabar, ""},
	'G': {SymCode93, ""},
	'L': {SymPDF417, ""},
	'z': {SymAztec, ""},
}

// decodeScan splits a transmission that starts with an AIM symbology identifier
// ("]" + symbology letter + modifier) into its symbology and data, validating GS1 data
// and EAN/UPC digits. Plain data that is a Digital Link URI is validated as one.
func (o Options) decodeScan(s string) (scan, *Error) {
	if len(s) < 3 {
		return scan{}, errAt(ErrBadFormat, s, 0, "incomplete AIM symbology identifier %q", s)
	}
	mode, ok := aimModes[s[1]]
	mod := s[2]
	isAlnum := mod-'0' <= 9 || (mod|0x20)-'a' < 26
	if !ok || !isAlnum {
		return scan{}, errAt(ErrBadFormat, s, 0, "unknown AIM symbology identifier %q", s[:3])
	}
	sc := scan{sym: mode.sym, data: s[3:], base: 3}
	switch {
	case mode.sym == SymEAN13:
		return o.decodeEAN(s, sc)
	case strings.IndexByte(mode.gs1, mod) >= 0:
		sc.gs1 = true
		if sc.data == "" {
			return sc, errAt(ErrEmpty, s, -1, "%s carries no GS1 data", s[:3])
		}
		els, err := parseElementString(s, 3)
		if err != nil {
			return sc, err
		}
		sc.els = els
	case isDigitalLink(sc.data):
		if _, err := o.parseDigitalLink(sc.data); err != nil {
			return sc, shift(err, sc.data, s, 3)
		}
	}
	return sc, nil
}

// decodeEAN validates EAN-13 / UPC-A (]E0) and EAN-8 (]E4) digits and an optional GS1
// composite component ("|]e0…").
func (o Options) decodeEAN(s string, sc scan) (scan, *Error) {
	digits, comp, hasComp := strings.Cut(sc.data, "|")
	want := 13
	switch s[2] {
	case '0':
	case '4':
		want, sc.sym = 8, SymEAN8
	default:
		return sc, errAt(ErrBadFormat, s, 0, "EAN/UPC with add-on (%s) is not supported", s[:3])
	}
	if len(digits) != want || !allDigits(digits) {
		return sc, errAt(ErrBadLength, s, 3, "%s needs %d digits", s[:3], want)
	}
	if e := lintCsum(digits); e != nil {
		return sc, errAt(ErrBadCheckDigit, s, 3+e.off, "%s", e.msg)
	}
	sc.ean = digits
	if hasComp {
		base := 3 + len(digits) + 1
		if !strings.HasPrefix(comp, "]e0") {
			return sc, errAt(ErrBadFormat, s, base, "a composite component must start with ]e0")
		}
		els, err := parseElementString(s, base+3)
		if err != nil {
			return sc, err
		}
		sc.composite = els
	}
	return sc, nil
}

// parseAIM identifies a scan that starts with an AIM symbology identifier.
func (o Options) parseAIM(s string) (Code, *Error) {
	sc, err := o.decodeScan(s)
	if err != nil {
		return Code{Symbology: sc.sym}, err
	}
	var c Code
	var e *Error
	switch {
	case sc.ean != "":
		c, e = Code{GTIN: padGTIN(sc.ean)}, errAt(ErrNotTraceCode, s, -1,
			"%s is a commodity barcode (商品码): it identifies a product, not one pack; scan the drug trace code",
			map[Symbology]string{SymEAN13: "EAN-13/UPC-A " + sc.ean, SymEAN8: "EAN-8 " + sc.ean}[sc.sym])
	case sc.gs1:
		c, e = gs1Code(sc.els, s)
	default:
		c, e = o.classifyPlain(sc.data, sc.base, s)
	}
	c.Symbology = sc.sym
	return c, e
}
