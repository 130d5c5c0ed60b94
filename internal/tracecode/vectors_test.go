package tracecode

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// The GS1 vectors live in testdata/gs1 (see its README and SOURCE): inputs and outcomes
// from the unit tests of GS1's own syntax engine and dictionary (Apache-2.0), as data.
const vectorDir = "testdata/gs1"

func readVectors[T any](t *testing.T, name string) []T {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("GS1 test vectors (testdata/gs1): %v", err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return out
}

// aisIn lists the AIs of an unbracketed "^…" element string or a bracketed one, as far
// as they can be told apart without the table (for skip reasons).
func unsupportedAI(els string) string {
	for _, ai := range []string{"43", "7241", "8007", "8013", "8030", "8110", "8112"} {
		if strings.Contains(els, "^"+ai) || strings.Contains(els, "("+ai) || strings.Contains(els, "/"+ai+"/") || strings.Contains(els, ai+"=") {
			return ai
		}
	}
	return ""
}

type skips map[string][]string

func (s skips) add(reason, what string) { s[reason] = append(s[reason], what) }

func (s skips) log(t *testing.T) {
	reasons := make([]string, 0, len(s))
	for r := range s {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		t.Logf("skipped %d vector(s), %s: %q", len(s[r]), r, s[r])
	}
}

func TestGS1ParseBracketed(t *testing.T) {
	vs := readVectors[struct {
		OK    bool   `json:"ok"`
		Input string `json:"input"`
		Want  string `json:"want"`
	}](t, "parse_bracketed.jsonl")
	pass := 0
	for _, v := range vs {
		els, err := Default.parseBracketed(v.Input)
		switch {
		case v.OK && err != nil:
			t.Errorf("parseBracketed(%q): %v, want %q", v.Input, err, v.Want)
		case v.OK && elementString(plain(els)) != v.Want:
			t.Errorf("parseBracketed(%q) = %q, want %q", v.Input, elementString(plain(els)), v.Want)
		case !v.OK && err == nil:
			t.Errorf("parseBracketed(%q) = %q, want an error", v.Input, elementString(plain(els)))
		default:
			pass++
		}
	}
	t.Logf("parse_bracketed: %d of %d vectors pass", pass, len(vs))
}

func plain(els []element) []Element {
	out := make([]Element, len(els))
	for i, el := range els {
		out[i] = el.Element
	}
	return out
}

func TestGS1ScanData(t *testing.T) {
	vs := readVectors[struct {
		OK        bool   `json:"ok"`
		Scan      string `json:"scan"`
		Symbology string `json:"symbology"`
		Want      string `json:"want"`
	}](t, "scan_data.jsonl")
	syms := map[string]Symbology{
		"QR": SymQR, "DM": SymDataMatrix, "DotCode": SymDotCode, "DataBarExpanded": SymDataBar,
		"GS1_128_CCA": SymCode128, "EAN13": SymEAN13, "EAN8": SymEAN8,
	}
	pass := 0
	for _, v := range vs {
		sc, err := Default.decodeScan(v.Scan)
		if !v.OK {
			if err == nil {
				t.Errorf("decodeScan(%q) succeeded, want an error", v.Scan)
				continue
			}
			pass++
			continue
		}
		if err != nil {
			t.Errorf("decodeScan(%q): %v", v.Scan, err)
			continue
		}
		// The engine's text form: GS1 data as "^…"; plain data with "^" escaped as "\^";
		// an EAN with its composite after "|".
		var got string
		switch {
		case sc.ean != "":
			got = sc.ean
			if sc.composite != nil {
				got += "|" + elementString(plain(sc.composite))
			}
		case sc.gs1:
			got = elementString(plain(sc.els))
		default:
			got = strings.ReplaceAll(sc.data, "^", `\^`)
		}
		if got != v.Want || sc.sym != syms[v.Symbology] {
			t.Errorf("decodeScan(%q) = %v %q, want %s %q", v.Scan, sc.sym, got, v.Symbology, v.Want)
			continue
		}
		pass++
	}
	t.Logf("scan_data: %d of %d vectors pass", pass, len(vs))
}

func TestGS1DigitalLink(t *testing.T) {
	vs := readVectors[struct {
		OK   bool   `json:"ok"`
		URI  string `json:"uri"`
		Want string `json:"want"`
	}](t, "digital_link.jsonl")
	// The engine's tests run some URIs twice, with and without an option (convenience
	// alphas, zero-suppressed GTINs, unknown AIs): such a URI appears both as ok and not.
	// Its failing vector must fail with every option off, its passing one must pass with
	// every option on; all other vectors must hold with the options Parse uses.
	outcomes := map[string]map[bool]bool{}
	for _, v := range vs {
		if outcomes[v.URI] == nil {
			outcomes[v.URI] = map[bool]bool{}
		}
		outcomes[v.URI][v.OK] = true
	}
	permissive := Options{PermitZeroSuppressedGTIN: true, PermitConvenienceAlphas: true, PermitUnknownAIs: true}
	pass := 0
	for _, v := range vs {
		o := Default
		if len(outcomes[v.URI]) == 2 {
			o = Options{}
			if v.OK {
				o = permissive
			}
		}
		els, err := o.parseDigitalLink(v.URI)
		switch {
		case v.OK && err != nil:
			t.Errorf("parseDigitalLink(%q) with %+v: %v, want %q", v.URI, o, err, v.Want)
		case v.OK && elementString(plain(els)) != v.Want:
			t.Errorf("parseDigitalLink(%q) = %q, want %q", v.URI, elementString(plain(els)), v.Want)
		case !v.OK && err == nil:
			t.Errorf("parseDigitalLink(%q) with %+v = %q, want an error", v.URI, o, elementString(plain(els)))
		default:
			pass++
		}
	}
	t.Logf("digital_link: %d of %d vectors pass", pass, len(vs))
}

func TestGS1ValidateUnbracketed(t *testing.T) {
	vs := readVectors[struct {
		OK    bool   `json:"ok"`
		Input string `json:"input"`
	}](t, "validate_unbracketed.jsonl")
	pass, tried := 0, 0
	sk := skips{}
	for _, v := range vs {
		if ai := unsupportedAI(v.Input); ai != "" {
			sk.add("AI "+ai+" is not decoded here", v.Input)
			continue
		}
		tried++
		var err *Error
		if !strings.HasPrefix(v.Input, "^") {
			err = errAt(ErrBadFormat, v.Input, 0, "no FNC1 in first position")
		} else {
			var els []element
			els, err = parseElementString(v.Input, 1)
			if err == nil {
				err = checkDuplicates(els, v.Input)
			}
		}
		if (err == nil) == v.OK {
			pass++
		} else {
			t.Logf("validate_unbracketed: %q: ok=%v, got %v", v.Input, v.OK, err)
		}
	}
	sk.log(t)
	t.Logf("validate_unbracketed: %d of %d vectors pass (%d tried, %d skipped)", pass, len(vs), tried, len(vs)-tried)
	if pass < tried*9/10 {
		t.Errorf("validate_unbracketed: only %d of %d tried vectors pass", pass, tried)
	}
}

func TestGS1Linters(t *testing.T) {
	vs := readVectors[struct {
		Lint   string `json:"lint"`
		OK     bool   `json:"ok"`
		Input  string `json:"input"`
		Error  string `json:"error"`
		Markup string `json:"markup"`
	}](t, "lint_components.jsonl")
	lints := map[string]linter{
		"csum": lintCsum, "cset82": lintCset82, "cset39": lintCset39, "csetnumeric": lintNumeric,
		"yymmd0": lintYYMMD0, "yymmdd": lintYYMMDD, "zero": lintZero, "nonzero": lintNonZero,
	}
	required := map[string]bool{"csum": true, "cset82": true, "yymmd0": true, "yymmdd": true}
	count := map[string][2]int{}
	sk := skips{}
	for _, v := range vs {
		l, ok := lints[v.Lint]
		if !ok {
			sk.add("linter "+v.Lint+" is not implemented (no AI decoded here uses it)", v.Input)
			continue
		}
		c := count[v.Lint]
		c[1]++
		e := l(v.Input)
		switch {
		case v.OK && e != nil:
			t.Errorf("%s(%q): %s %q, want ok", v.Lint, v.Input, e.code, e.msg)
		case !v.OK && e == nil:
			t.Errorf("%s(%q): ok, want %s", v.Lint, v.Input, v.Error)
		case !v.OK && markup(v.Input, e) != v.Markup:
			t.Errorf("%s(%q): marks %q, want %q (%s)", v.Lint, v.Input, markup(v.Input, e), v.Markup, v.Error)
		default:
			c[0]++
		}
		count[v.Lint] = c
	}
	sk.log(t)
	for l, c := range count {
		t.Logf("lint %s: %d of %d vectors pass", l, c[0], c[1])
		delete(required, l)
	}
	for l := range required {
		t.Errorf("no vectors ran for required linter %s", l)
	}
}

// markup renders a lint error the way the GS1 vectors do: "*" around the offending part.
func markup(s string, e *lintErr) string {
	return s[:e.off] + "*" + s[e.off:e.off+e.n] + "*" + s[e.off+e.n:]
}

var _ = utf8.RuneLen
