package tracewatch

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	base := errors.New("disk full")
	e := E("duckdb.AppendSales", KindInternal, base)
	if KindOf(e) != KindInternal || !errors.Is(e, base) {
		t.Errorf("KindOf = %v, Is = %v", KindOf(e), errors.Is(e, base))
	}
	inv := Errorf("nhsa.Decode3505", KindInvalid, "missing %s", "rtal_docno").WithField("row 3")
	wrapped := fmt.Errorf("ingest: %w", E("ingest.Message", KindInternal, inv))
	if KindOf(wrapped) != KindInvalid {
		t.Errorf("KindOf through wrapping = %v, want invalid", KindOf(wrapped))
	}
	if got, want := inv.Error(), "nhsa.Decode3505 row 3: missing rtal_docno"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if KindOf(base) != KindInternal || KindOf(nil) != KindInternal {
		t.Error("KindOf of a plain error or nil should be internal")
	}
	for k := KindInternal; k <= KindUnauthorized; k++ {
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestSeverity(t *testing.T) {
	for s := SeverityNotice; s <= SeverityViolation; s++ {
		for _, name := range []string{s.String(), s.Chinese()} {
			got, err := ParseSeverity(name)
			if err != nil || got != s {
				t.Errorf("ParseSeverity(%q) = %v, %v; want %v", name, got, err, s)
			}
		}
	}
	if SeverityViolation.Chinese() != "明确违规" || SeverityNotice.Chinese() != "提示" {
		t.Error("Chinese names")
	}
	if _, err := ParseSeverity("fatal"); KindOf(err) != KindInvalid {
		t.Errorf("ParseSeverity(fatal) = %v, want invalid", err)
	}
	if !(SeverityNotice < SeveritySuspicious && SeveritySuspicious < SeverityHighlySuspicious && SeverityHighlySuspicious < SeverityViolation) {
		t.Error("severities must be ordered")
	}
}

func TestRegion(t *testing.T) {
	r, err := ParseRegion("360102")
	if err != nil {
		t.Fatal(err)
	}
	if r.Province() != "360000" || r.City() != "360100" {
		t.Errorf("Province = %s, City = %s", r.Province(), r.City())
	}
	if !r.Province().Contains(r) || !r.City().Contains(r) || !r.Contains(r) || r.Contains(r.City()) {
		t.Error("Contains")
	}
	if Region("360000").Contains("440100") {
		t.Error("province contains another province's city")
	}
	for _, bad := range []string{"", "36010", "3601021", "36010A", "000000"} {
		if _, err := ParseRegion(bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseRegion(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestFen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Fen
		out  string
	}{
		{"12.5", 1250, "12.50"}, {"12.50", 1250, "12.50"}, {"0.07", 7, "0.07"}, {"-3", -300, "-3.00"},
		{"1234", 123400, "1234.00"}, {".5", 50, "0.50"}, {" 8.01 ", 801, "8.01"},
	} {
		got, err := ParseYuan(c.in)
		if err != nil || got != c.want || got.String() != c.out {
			t.Errorf("ParseYuan(%q) = %v (%s), %v; want %d (%s)", c.in, int64(got), got, err, c.want, c.out)
		}
	}
	for _, bad := range []string{"", "-", "1.234", "1,5", "abc", "1.2.3", "."} {
		if _, err := ParseYuan(bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseYuan(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestQty(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Qty
		out  string
	}{
		{"1", QtyScale, "1"}, {"2.5", 25000, "2.5"}, {"2.5000", 25000, "2.5"}, {"0.0001", 1, "0.0001"}, {"-3", -30000, "-3"},
		{"0", 0, "0"}, {"0.00000", 0, "0"}, {" 7 ", 70000, "7"}, {".5", 5000, "0.5"},
	} {
		got, err := ParseQty(c.in)
		if err != nil || got != c.want || got.String() != c.out {
			t.Errorf("ParseQty(%q) = %d (%s), %v; want %d (%s)", c.in, int64(got), got, err, c.want, c.out)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.00001", "1e3", "abc", "1234567890123", "1.2.3"} {
		if _, err := ParseQty(bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseQty(%q) = %v, want invalid", bad, err)
		}
	}
}
