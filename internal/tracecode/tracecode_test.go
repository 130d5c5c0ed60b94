package tracecode

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// want is the part of a parse result a case checks; empty fields are not checked.
type want struct {
	kind      Kind
	key       string
	productID string
	serial    string
	gtin      string
	batch     string
	expiry    string
	produced  string
	sym       Symbology
	warning   bool
	err       ErrCode
	pos       int // checked when err is set and pos > 0
}

func TestParse(t *testing.T) {
	const nmpa = "83857930000879766660"
	const gs1Key = "(01)06904879000120(21)ABC123"
	tests := []struct {
		name string
		in   string
		want want
	}{
		// NMPA 20-digit codes.
		{"nmpa20", nmpa, want{kind: KindNMPA20, key: nmpa, productID: "8385793", serial: "000087976"}},
		{"nmpa20 full-width", fullWidth(nmpa), want{kind: KindNMPA20, key: nmpa}},
		// The full-width example has five zeros where the code has four: it folds to
		// its own digits, a different pack.
		{"nmpa20 full-width (issue 2 text)", "８３８５７９３０００００８７９７６６６０", want{kind: KindNMPA20, key: "83857930000087976660"}},
		{"nmpa20 as printed 7+13", "8385793 0000879766660", want{kind: KindNMPA20, key: nmpa, productID: "8385793"}},
		{"nmpa20 hyphens", "8385793-000087976-6660", want{kind: KindNMPA20, key: nmpa}},
		{"nmpa20 surrounding space and CRLF", "  83857930000879766660\r\n", want{kind: KindNMPA20, key: nmpa}},
		{"nmpa20 ideographic space", "\u300083857930000879766660\u3000", want{kind: KindNMPA20, key: nmpa}},
		{"nmpa20 check digits never verified", "83857930000879760000", want{kind: KindNMPA20, key: "83857930000879760000"}},
		{"nmpa20 other leading digit warns", "13857930000879766660", want{kind: KindNMPA20, key: "13857930000879766660", warning: true}},
		{"nmpa20 behind Code 128 AIM id", "]C083857930000879766660", want{kind: KindNMPA20, key: nmpa, sym: SymCode128}},
		{"19 digits", "8385793000087976666", want{err: ErrBadLength}},
		{"21 digits", "838579300008797666601", want{err: ErrBadLength}},
		{"7 digits", "8385793", want{err: ErrBadLength}},
		{"letter inside 20", "83857930000879766O60", want{kind: KindEnterprise, key: "83857930000879766O60"}},

		// GS1 element strings.
		{"gs1 AIM + GS", "]d2010690487900012021ABC123\x1d17250100",
			want{kind: KindGS1, key: gs1Key, gtin: "06904879000120", productID: "06904879000120", serial: "ABC123", expiry: "2025-01-31", sym: SymDataMatrix}},
		{"gs1 bracketed", "(01)06904879000120(17)250100(21)ABC123", want{kind: KindGS1, key: gs1Key, expiry: "2025-01-31"}},
		{"gs1 bracketed with spaces", "(01) 06904879000120 (17) 250100 (21) ABC123", want{kind: KindGS1, key: gs1Key}},
		{"gs1 caret FNC1", "^010690487900012021ABC123^17250100", want{kind: KindGS1, key: gs1Key}},
		{"gs1 GS without AIM", "010690487900012021ABC123\x1d17250100", want{kind: KindGS1, key: gs1Key}},
		{"gs1 leading GS", "\x1d010690487900012021ABC123\x1d17250100", want{kind: KindGS1, key: gs1Key}},
		{"gs1 visible GS symbol", "010690487900012021ABC123\u241d17250100", want{kind: KindGS1, key: gs1Key}},
		{"gs1 other AI order", "]Q3010690487900012017250100" + "10B2501\x1d21ABC123", want{kind: KindGS1, key: gs1Key, batch: "B2501", sym: SymQR}},
		{"gs1 no separator needed", "010690487900012017250131" + "21ABC123", want{kind: KindGS1, key: gs1Key, expiry: "2025-01-31"}},
		{"gs1 production date day 00", "(01)06904879000120(11)240200(21)ABC123", want{kind: KindGS1, produced: "2024-02-01"}},
		{"gs1 expiry day 00 leap", "(01)06904879000120(17)240200(21)ABC123", want{kind: KindGS1, expiry: "2024-02-29"}},
		{"gs1 serial case kept", "(01)06904879000120(21)abc123", want{kind: KindGS1, key: "(01)06904879000120(21)abc123", serial: "abc123"}},
		{"gs1 serial with paren", `(01)06904879000120(21)AB\(1`, want{kind: KindGS1, serial: "AB(1", key: `(01)06904879000120(21)AB\(1`}},
		{"gs1 full-width brackets", "（01）06904879000120（21）ABC123", want{kind: KindGS1, key: gs1Key}},
		{"gs1 bad GTIN check digit", "(01)06904879000126(21)X", want{err: ErrBadCheckDigit, pos: 18}},
		{"gs1 month 13", "(01)06904879000120(17)251301(21)X", want{err: ErrBadDate, pos: 25}},
		{"gs1 30 February", "(01)06904879000120(17)250230(21)X", want{err: ErrBadDate}},
		{"gs1 GS lost between 10 and 21", "]d201069048790001201725013110B2501" + "21ABC123", want{err: ErrBadFormat}},
		{"gs1 unknown AI", "(01)06904879000120(89)X(21)Y", want{err: ErrUnknownAI, pos: 20}},
		{"gs1 no serial", "(01)06904879000120(17)250131", want{err: ErrNotTraceCode}},
		{"gs1 SSCC", "(00)006141411234567890", want{err: ErrNotTraceCode}},
		{"gs1 serial too long", "(01)06904879000120(21)ABCDEFGHIJKLMNOPQRSTU", want{err: ErrBadLength}},
		{"gs1 serial bad charset", "(01)06904879000120(21)AB C", want{err: ErrBadCharset}},
		{"gs1 GTIN too short before GS", "]d20106904879000\x1d21ABC", want{err: ErrBadLength}},
		{"gs1 AIM with no data", "]d2", want{err: ErrEmpty}},
		{"gs1 conflicting duplicate", "(01)06904879000120(21)A(21)B", want{err: ErrBadFormat}},

		// Digital Link.
		{"digital link", "https://id.example.com/01/06904879000120/21/ABC123?17=250100", want{kind: KindGS1, key: gs1Key, expiry: "2025-01-31"}},
		{"digital link GTIN-13", "https://id.example.com/01/6904879000120/21/ABC123", want{kind: KindGS1, key: gs1Key}},
		{"digital link in QR", "]Q1https://id.example.com/01/06904879000120/21/ABC123", want{kind: KindGS1, key: gs1Key, sym: SymQR}},
		{"digital link no serial", "https://id.example.com/01/06904879000120", want{err: ErrNotTraceCode}},
		{"digital link qualifier in query", "https://a/01/06904879000120?21=ABC123", want{err: ErrBadFormat}},
		{"mixed-case scheme is not a URI", "HtTps://a/01/06904879000120/21/ABC123", want{err: ErrBadCharset, pos: 6}},

		// Commodity barcodes and other near misses.
		{"GTIN-13 commodity", "6901234567892", want{err: ErrNotTraceCode}},
		{"GTIN-13 bad check", "6901234567893", want{err: ErrBadCheckDigit, pos: 13}},
		{"EAN-8", "02345673", want{err: ErrNotTraceCode}},
		{"UPC-A", "416000336108", want{err: ErrNotTraceCode}},
		{"GTIN-14", "16901234567899", want{err: ErrNotTraceCode}},
		{"EAN-13 with AIM", "]E06901234567892", want{err: ErrNotTraceCode, sym: SymEAN13}},
		{"bare GTIN-14 with AI", "0106904879000120", want{err: ErrNotTraceCode}},

		// MA and enterprise codes.
		{"MA code", "MA.156.M0.100043.1002300.S20240501", want{kind: KindMA, key: "MA.156.M0.100043.1002300.S20240501", serial: "S20240501", productID: "MA.156.M0.100043.1002300"}},
		{"MA double dot", "MA.156..100043.1", want{err: ErrBadFormat, pos: 8}},
		{"MA no country", "MA.CN.M0.1", want{err: ErrBadFormat}},
		{"lowercase ma is not MA", "ma.156.m0.100043.1", want{kind: KindEnterprise}},
		{"enterprise", "ABC-2024-000123", want{kind: KindEnterprise, key: "ABC-2024-000123"}},
		{"enterprise case kept", "abc-2024-000123", want{kind: KindEnterprise, key: "abc-2024-000123"}},
		{"enterprise too short", "N/A", want{err: ErrBadLength}},
		{"enterprise internal space", "ABC 2024 000123", want{err: ErrBadCharset, pos: 4}},
		{"enterprise Chinese", "药品追溯码ABCDEFGH", want{err: ErrBadCharset, pos: 1}},
		{"enterprise too long", strings.Repeat("A", 101), want{err: ErrBadLength}},
		{"enterprise separators", "ABC_2024.000123-X", want{kind: KindEnterprise, key: "ABC_2024.000123-X"}},
		{"enterprise a path", "../../etc/passwd", want{err: ErrBadFormat, pos: 1}},
		{"enterprise with slashes", "ABC/2024/000123", want{err: ErrBadCharset, pos: 4}},
		{"a URL that is no Digital Link", "https://example.com/c?id=12345", want{err: ErrBadFormat, pos: 20}},
		{"enterprise a scheme", "ftp:12345678", want{err: ErrBadCharset, pos: 4}},
		{"enterprise markup", "<script>1234</script>", want{err: ErrBadCharset, pos: 1}},
		{"enterprise quote", "ABC'2024'000123", want{err: ErrBadCharset, pos: 4}},
		{"enterprise two dots", "ABC..2024000123", want{err: ErrBadFormat, pos: 5}},
		{"enterprise trailing separator", "ABC-2024-000123-", want{err: ErrBadFormat, pos: 16}},
		{"enterprise without a digit", "undefined", want{err: ErrBadFormat}},
		{"control character", "ABCDEFGH\x01IJ", want{err: ErrBadCharset, pos: 9}},

		// Empty and broken AIM prefixes.
		{"empty", "", want{err: ErrEmpty}},
		{"spaces only", "   \t ", want{err: ErrEmpty}},
		{"unknown AIM", "]X0ABCDEFGHIJ", want{err: ErrBadFormat, pos: 1}},
		{"doubled AIM prefix", "]A0]0000000", want{err: ErrBadFormat, pos: 4}},
		{"truncated AIM", "]d", want{err: ErrBadFormat}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.in)
			if c.Raw != tc.in {
				t.Errorf("Raw = %q, want the input %q", c.Raw, tc.in)
			}
			w := tc.want
			if w.err != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Parse(%q) = %+v, %v; want error %s", tc.in, c, err, w.err)
				}
				if e.Code != w.err || (w.pos > 0 && e.Pos != w.pos) {
					t.Fatalf("Parse(%q) error = %v; want %s at %d", tc.in, err, w.err, w.pos)
				}
				if e.Msg == "" {
					t.Errorf("error without a message")
				}
				if w.sym != 0 && c.Symbology != w.sym {
					t.Errorf("Symbology = %v, want %v", c.Symbology, w.sym)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			check := func(field, got, want string) {
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			if c.Kind != w.kind {
				t.Errorf("Kind = %v, want %v", c.Kind, w.kind)
			}
			check("Key", c.Key, w.key)
			check("ProductID", c.ProductID, w.productID)
			check("Serial", c.Serial, w.serial)
			check("GTIN", c.GTIN, w.gtin)
			check("Batch", c.Batch, w.batch)
			check("Expiry", c.Expiry.String(), w.expiry)
			check("Produced", c.Produced.String(), w.produced)
			if w.sym != 0 && c.Symbology != w.sym {
				t.Errorf("Symbology = %v, want %v", c.Symbology, w.sym)
			}
			if (c.Warning != "") != w.warning {
				t.Errorf("Warning = %q, want warning=%v", c.Warning, w.warning)
			}
			if c.Key == "" {
				t.Errorf("empty Key")
			}
			if c.Verified != (c.Kind != KindEnterprise) {
				t.Errorf("Verified = %v for %v", c.Verified, c.Kind)
			}
			// The normalized form identifies the same pack.
			n, err := Parse(c.Normalized())
			if err != nil || n.Key != c.Key {
				t.Errorf("Parse(Normalized() = %q) = %q, %v; want key %q", c.Normalized(), n.Key, err, c.Key)
			}
		})
	}
}

// Every printed form of one pack gives one key (the acceptance criterion of issue 2).
func TestSameKeyAcrossForms(t *testing.T) {
	groups := [][]string{
		{"83857930000879766660", fullWidth("83857930000879766660"), "8385793 0000879766660", "]C083857930000879766660"},
		{
			"]d2010690487900012021ABC123\x1d17250100",
			"(01)06904879000120(17)250100(21)ABC123",
			"https://id.example.com/01/06904879000120/21/ABC123?17=250100",
			"^0106904879000120" + "17250100" + "10LOT1^21ABC123",
			"]e0010690487900012021ABC123",
		},
	}
	for _, g := range groups {
		var key string
		for _, in := range g {
			c, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if key == "" {
				key = c.Key
			} else if c.Key != key {
				t.Errorf("Parse(%q).Key = %q, want %q", in, c.Key, key)
			}
		}
	}
}

func TestPackUnpack(t *testing.T) {
	for _, s := range []string{"80000000000000000000", "83857930000879766660", "89999999999999999999"} {
		c, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := c.Packed()
		if !ok {
			t.Fatalf("Packed(%s) not ok", s)
		}
		back, ok := Unpack(v)
		if !ok || back != s {
			t.Errorf("Unpack(Packed(%s)) = %q, %v", s, back, ok)
		}
	}
	if v, ok := Unpack(MaxPacked); !ok || v != "89999999999999999999" {
		t.Errorf("Unpack(MaxPacked) = %q, %v", v, ok)
	}
	if _, ok := Unpack(MaxPacked + 1); ok {
		t.Error("Unpack beyond MaxPacked succeeded")
	}
	for _, s := range []string{"13857930000879766660", "(01)06904879000120(21)ABC123", "ABC-2024-000123"} {
		c, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Packed(); ok {
			t.Errorf("Packed(%s) ok; only NMPA codes starting with 8 pack", s)
		}
	}
}

func TestKindNames(t *testing.T) {
	for k := KindNMPA20; k <= KindEnterprise; k++ {
		back, ok := ParseKind(k.String())
		if !ok || back != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), back, ok)
		}
	}
	if _, ok := ParseKind(""); ok {
		t.Error("ParseKind(\"\") ok")
	}
}

func TestDate(t *testing.T) {
	d := Date{2025, time.January, 31}
	if d.String() != "2025-01-31" {
		t.Errorf("String = %q", d.String())
	}
	if got := d.In(time.UTC); !got.Equal(time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("In = %v", got)
	}
	if (Date{}).String() != "" || !(Date{}).IsZero() {
		t.Error("zero Date")
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse("(01)06904879000126(21)X")
	if got := err.Error(); !strings.HasPrefix(got, "tracecode: bad_check_digit at 18: ") {
		t.Errorf("Error() = %q", got)
	}
	if CodeOf(err) != ErrBadCheckDigit {
		t.Errorf("CodeOf = %q", CodeOf(err))
	}
	if CodeOf(errors.New("x")) != "" {
		t.Error("CodeOf(other error) not empty")
	}
}

// Strict options refuse what Default accepts as lossless spellings.
func TestOptions(t *testing.T) {
	uri := "https://a/gtin/06904879000120/ser/ABC123"
	if _, err := Parse(uri); err != nil {
		t.Errorf("Default: %v", err)
	}
	if _, err := (Options{}).Parse(uri); CodeOf(err) != ErrBadFormat {
		t.Errorf("strict: %v, want bad_format", err)
	}
	if _, err := (Options{PermitUnknownAIs: true}).Parse("(01)06904879000120(89)X(21)Y"); err != nil {
		t.Errorf("PermitUnknownAIs: %v", err)
	}
}

// fullWidth writes s in full-width forms, as some Chinese input methods type it.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0x20 && r < 0x7f {
			r += 0xfee0
		}
		b.WriteRune(r)
	}
	return b.String()
}
