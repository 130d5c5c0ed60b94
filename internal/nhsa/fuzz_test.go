package nhsa_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/nhsa"
)

// fuzzSeeds adds a valid message of every supported infno, the realistic 3505 and a few
// broken envelopes.
func fuzzSeeds(f *testing.F) {
	for _, tc := range minimal {
		f.Add(envelope(tc.infno, tc.input))
	}
	f.Add(envelope("3505", sale3505))
	in, _ := json.Marshal(minimal[0].input)
	f.Add(envelope(minimal[0].infno, string(in)))
	f.Add(envelope("2207", `{"data":{"setl_id":"S1","medfee_sumamt":"9.99","drug_trac_info":[{"feedetl_sn":"F1","drug_trac_codg":"A"}]},`+
		`"drug_trac_info":[{"feedetl_sn":"F2","drug_trac_codg":"B","trdn_flag":"1"},{"feedetl_sn":"F1","drug_trac_codg":"A"}]}`))
	f.Add(envelope("3505A", `{"selinfoDetail":[{},null,"x",{"drugtracinfo":[{},{"drug_trac_codg":1}]}],"selinfo":{}}`))
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"infno":1}`, `{"infno":"3505","input":"{}"}`, "\xef\xbb\xbf{}"} {
		f.Add([]byte(s))
	}
}

// fieldPath is the shape of every national field path the package reports.
var fieldPath = regexp.MustCompile(`^[A-Za-z_]+(\[[1-9][0-9]*\])?(\.[A-Za-z_]+(\[[1-9][0-9]*\])?)*$`)

// FuzzDecodeRequest: DecodeRequest never panics, refuses with a KindInvalid
// *tracewatch.Error naming a field when the JSON is an object, accepts nothing beyond
// the envelope's limits, and what it accepts survives a round trip through
// json.Marshal.
func FuzzDecodeRequest(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := nhsa.DecodeRequest(body)
		if err != nil {
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid {
				t.Fatalf("error %#v is not a KindInvalid *tracewatch.Error", err)
			}
			return
		}
		if len(req.MsgID) > nhsa.MaxMsgIDLen || strings.ContainsFunc(req.MsgID, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("msgid %q accepted", req.MsgID)
		}
		for _, s := range []string{req.Infno, req.FixmedinsCode, req.FixmedinsName, req.Opter, req.OpterName, req.InfTime} {
			if strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("control character accepted in %q", s)
			}
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", req, err)
		}
		back, err := nhsa.DecodeRequest(b)
		if err != nil {
			t.Fatalf("DecodeRequest(Marshal(req)) = %v; body %q", err, b)
		}
		// Marshal compacts and HTML-escapes Input: compare it by value.
		if !sameJSON(back.Input, req.Input) {
			t.Fatalf("round trip: input %s, want %s", back.Input, req.Input)
		}
		back.Input, req.Input = nil, nil
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, req)
		}
	})
}

// sameJSON reports whether a and b hold the same JSON value (both nil counts).
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	return da.Decode(&va) == nil && db.Decode(&vb) == nil && reflect.DeepEqual(va, vb)
}

// FuzzDecode: Decode never panics; a message error is KindInvalid and names a field;
// every RowError has Row >= 1 and a well-formed field path; a row is either an event or
// refused, never both; every event carries the message's identity.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := nhsa.DecodeRequest(body)
		if err != nil {
			return
		}
		evs, rowErrs, err := nhsa.Decode(req)
		if err != nil {
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid || e.Field == "" {
				t.Fatalf("message error %#v is not a KindInvalid *tracewatch.Error naming a field", err)
			}
			if evs != nil || rowErrs != nil {
				t.Fatalf("events or row errors along with a message error")
			}
			return
		}
		settlement := req.Infno == "2207" || req.Infno == "2304"
		refused := map[int]bool{}
		reported := map[nhsa.RowError]bool{}
		for _, e := range rowErrs {
			if e.Row < 1 || e.Field == "" || e.Msg == "" || !fieldPath.MatchString(e.Field) {
				t.Fatalf("row error %#v", e)
			}
			if k := (nhsa.RowError{Row: e.Row, Field: e.Field}); reported[k] {
				t.Fatalf("field reported twice: %v", rowErrs)
			} else {
				reported[k] = true
			}
			refused[e.Row] = true
		}
		lines := map[int]bool{}
		for _, ev := range evs {
			if ev.Line < 1 || lines[ev.Line] {
				t.Fatalf("event line %d (repeated or < 1)", ev.Line)
			}
			lines[ev.Line] = true
			if !settlement && refused[ev.Line] {
				t.Fatalf("row %d both refused and accepted", ev.Line)
			}
			if ev.MsgID == "" || ev.MsgID != strings.TrimSpace(req.MsgID) || ev.Infno != req.Infno ||
				ev.Institution == "" || ev.Institution != strings.TrimSpace(req.FixmedinsCode) || ev.Kind == "" {
				t.Fatalf("event identity %+v", ev)
			}
			if ev.Qty < 0 || ev.UnitPrice < 0 || ev.Amount < 0 || ev.FundPaid < 0 {
				t.Fatalf("negative value in %+v", ev)
			}
			if ev.Qty > nhsa.MaxStock || ev.UnitPrice > nhsa.MaxPrice || ev.Amount > nhsa.MaxAmount || ev.FundPaid > nhsa.MaxAmount {
				t.Fatalf("value beyond the limits in %+v", ev)
			}
			for _, tm := range []time.Time{ev.Time, ev.Made, ev.Expires, ev.Admitted, ev.Discharged} {
				if !tm.IsZero() && (tm.Year() < 2000 || tm.Year() > 2099) {
					t.Fatalf("time %v beyond the limits in %+v", tm, ev)
				}
			}
			for _, s := range []string{ev.DrugCode, ev.ItemID, ev.ItemName, ev.BatchNo, ev.LotNo, ev.Receipt, ev.Settlement,
				ev.Visit, ev.FeeLine, ev.Person, ev.Supplier, ev.Prescriber, ev.Pharmacist, ev.Diagnosis} {
				if strings.ContainsFunc(s, unicode.IsControl) || utf8.RuneCountInString(s) > 300 {
					t.Fatalf("text %q beyond the limits in %+v", s, ev)
				}
			}
			seen := map[string]bool{}
			if len(ev.Codes) > nhsa.MaxCodes {
				t.Fatalf("%d codes on one event", len(ev.Codes))
			}
			for _, c := range ev.Codes {
				if utf8.RuneCountInString(c.Raw) > nhsa.MaxCodeLen || strings.ContainsRune(c.Raw, 0) {
					t.Fatalf("code %q beyond the limits", c.Raw)
				}
				if c.Raw == "" || seen[c.Raw] {
					t.Fatalf("empty or repeated code in %+v", ev.Codes)
				}
				seen[c.Raw] = true
			}
			if ev.CertnoMasked != "" && !strings.Contains(ev.CertnoMasked, "*") {
				t.Fatalf("certno not masked: %q", ev.CertnoMasked)
			}
		}
	})
}
