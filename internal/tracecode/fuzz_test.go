package tracecode

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"83857930000879766660", "8385793 0000879766660", "８３８５７９３０００００８７９７６６６０",
		"]d2010690487900012021ABC123\x1d17250100", "(01)06904879000120(17)250100(21)ABC123",
		"https://id.example.com/01/06904879000120/21/ABC123?17=250100", "^010690487900012021AB^10X",
		`(01)06904879000120(21)AB\(1`, "]E06901234567892|]e099X", "]Q1https://a/01/9520123456788/21/1",
		"MA.156.M0.100043.1002300.S1", "ABC-2024-000123", "6901234567892", "]C1", "(", "https://a/%zz",
		"0106904879000120" + "21" + "123456", "\x1d\x1d", "]e0", "(01)06904879000120(21)ABC123(7003)2501011200",
	} {
		f.Add(s)
	}
}

// FuzzParse: Parse never panics, every refusal carries a stable code and a position
// inside the input, and whatever parses has a normalized form that parses to the same key.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	known := map[ErrCode]bool{ErrEmpty: true, ErrNotTraceCode: true, ErrBadCheckDigit: true, ErrBadCharset: true,
		ErrBadLength: true, ErrBadDate: true, ErrUnknownAI: true, ErrBadFormat: true}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !known[e.Code] || e.Msg == "" {
				t.Fatalf("Parse(%q): error %#v is not a coded *Error", in, err)
			}
			if e.Pos < 0 || e.Pos > utf8.RuneCountInString(in)+1 {
				t.Fatalf("Parse(%q): position %d outside the input", in, e.Pos)
			}
			return
		}
		if c.Key == "" || c.Kind == KindUnknown {
			t.Fatalf("Parse(%q) = %+v: accepted without a key or kind", in, c)
		}
		n := c.Normalized()
		c2, err := Parse(n)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its normalized form %q fails: %v", in, n, err)
		}
		if c2.Key != c.Key || c2.Kind != c.Kind {
			t.Fatalf("Parse(%q).Key = %q (%v), but Parse(%q).Key = %q (%v)", in, c.Key, c.Kind, n, c2.Key, c2.Kind)
		}
		if v, ok := c.Packed(); ok {
			if back, _ := Unpack(v); back != c.Key {
				t.Fatalf("Unpack(Packed(%q)) = %q", c.Key, back)
			}
		}
		// Letter case is never changed: the key's letters appear in the input as given.
		if c.Kind == KindEnterprise && !strings.Contains(in, c.Key) && isASCII(in) {
			t.Fatalf("enterprise key %q is not in the input %q", c.Key, in)
		}
	})
}

// FuzzDigitalLink: the Digital Link decoder never panics and whatever it accepts is a
// valid element string.
func FuzzDigitalLink(f *testing.F) {
	f.Add("https://id.example.com/01/06904879000120/21/ABC123?17=250100")
	f.Add("https://a/stem/00/006141411234567890?99=ABC#x")
	f.Add("https://[2001:db8::1]:8080/414/9520123456788/254/32a%2Fb")
	f.Fuzz(func(t *testing.T, uri string) {
		for _, o := range []Options{{}, Default, {true, true, true}} {
			els, err := o.parseDigitalLink(uri)
			if err != nil {
				continue
			}
			es := elementString(plain(els))
			if _, err := parseElementString(es, 1); err != nil && !o.PermitUnknownAIs {
				t.Fatalf("parseDigitalLink(%q) = %q, which does not validate: %v", uri, es, err)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
