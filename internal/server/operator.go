package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/idno"
)

// handleNoRoute answers an /api/v1 path that is no endpoint, after the token check: an
// unauthenticated caller learns nothing of the routes.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	s.apiFail(w, r, tracewatch.Errorf("server.Route", tracewatch.KindNotFound, "no endpoint %s %s (docs/api.md)", r.Method, short(r.URL.Path)))
}

// query reads a request's query string strictly: a value is taken exactly as given, a
// ';' (which Go's own parser silently drops with the pair around it, widening a filter)
// is refused, as are unknown and repeated parameters. Each error names the parameter.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	const op = "server.query"
	bad := func(param, format string, args ...any) error {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, format, args...).WithField(param)
	}
	raw := r.URL.RawQuery
	if len(raw) > 4096 {
		return nil, bad("query", "longer than 4096 bytes")
	}
	for _, pair := range strings.Split(raw, "&") {
		if strings.Contains(pair, ";") {
			k, _, _ := strings.Cut(pair, "=")
			if k, err := url.QueryUnescape(k); err == nil && k != "" && !strings.Contains(k, ";") {
				return nil, bad(short(k), "a ';' is not allowed in a value (separate parameters with '&')")
			}
			return nil, bad("query", "a ';' is not allowed (separate parameters with '&')")
		}
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, bad("query", "malformed: percent-encode reserved characters")
	}
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		switch {
		case !known:
			if len(allowed) == 0 {
				return nil, bad(short(k), "unknown parameter: this endpoint takes none")
			}
			return nil, bad(short(k), "unknown parameter: want %s", strings.Join(allowed, ", "))
		case len(vs) > 1:
			return nil, bad(k, "given %d times: give it once", len(vs))
		}
	}
	return q, nil
}

// The national formats of query values (../shared/domain/nhsa-interfaces.md).
var (
	institutionRE = regexp.MustCompile(`^[A-Za-z0-9]{12}$`) // fixmedins_code
	infnoRE       = regexp.MustCompile(`^[0-9]{4}A?$`)
	detectorRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(@[0-9]{1,4})?$`)
)

// checkInstitution refuses a fixmedins_code filter that is not 12 letters and digits.
func checkInstitution(op, param, v string) error {
	if v != "" && !institutionRE.MatchString(v) {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "want a fixmedins_code: 12 letters and digits").WithField(param)
	}
	return nil
}

// checkText refuses a free text parameter longer than max bytes or holding control
// characters or invalid UTF-8.
func checkText(op, param, v string, max int) error {
	switch {
	case len(v) > max:
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "longer than %d bytes", max).WithField(param)
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "holds control characters or invalid UTF-8").WithField(param)
	}
	return nil
}

// Masking for viewers. ID numbers (and phone numbers) keep their first and last
// characters (idno.Mask: "1101**********002X"); psn_no and patn_id too; names keep their
// first character ("赵*"). Free text gets every 18-character ID-number-shaped run masked.

// maskName keeps the first character of a name and masks the rest.
func maskName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	_, n := utf8.DecodeRuneInString(s)
	return s[:n] + strings.Repeat("*", max(utf8.RuneCountInString(s)-1, 1))
}

// maskKind says how a national field's value is masked for a viewer.
type maskKind uint8

const (
	maskNone     maskKind = iota
	maskID                // ID numbers, person numbers, phone numbers: idno.Mask
	maskFullName          // names of people: maskName
)

// personalField classifies a national field name (lowercase, as on the wire).
func personalField(key string) maskKind {
	k := strings.ToLower(key)
	switch {
	case k == "psn_no", k == "patn_id", k == "certno", k == "idcard", k == "id_no",
		strings.HasSuffix(k, "_certno"), strings.HasSuffix(k, "_cert_no"), strings.HasSuffix(k, "cert_no"),
		k == "tel", strings.HasSuffix(k, "_tel"), strings.HasSuffix(k, "_phone"), k == "phone", k == "mob":
		return maskID
	case k == "psn_name", k == "patn_name", k == "name",
		strings.HasSuffix(k, "psn_name"), strings.HasSuffix(k, "patn_name"), strings.HasSuffix(k, "dr_name"),
		strings.HasSuffix(k, "phar_name"), strings.HasSuffix(k, "opter_name"), strings.HasSuffix(k, "nurs_name"),
		strings.HasSuffix(k, "emp_name"), strings.HasSuffix(k, "agnter_name"), strings.HasSuffix(k, "coner_name"):
		return maskFullName
	}
	return maskNone
}

// maskValue masks one scalar by kind.
func maskValue(kind maskKind, s string) string {
	switch kind {
	case maskID:
		return idno.Mask(s)
	case maskFullName:
		return maskName(s)
	}
	return scrubIDs(s)
}

// scrubIDs masks every run of 17 digits and a digit or X (an ID number's shape) that is
// not part of a longer run of digits (a 20-digit trace code is left alone).
func scrubIDs(s string) string {
	if len(s) < 18 {
		return s
	}
	var b []byte
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) || (i > 0 && isDigit(s[i-1])) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		end := j
		if end-i == 17 && end < len(s) && (s[end] == 'X' || s[end] == 'x') {
			end++
		}
		if end-i == 18 && (end == len(s) || !isAlnumByte(s[end])) && (i == 0 || !isAlnumByte(s[i-1])) {
			if b == nil {
				b = []byte(s)
			}
			copy(b[i:end], idno.Mask(s[i:end]))
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isAlnumByte(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// maskJSON masks the personal values of a JSON document by field name (every scalar
// under a personal field), and ID-number-shaped runs in every other string. It returns
// false when the document is not JSON: a viewer then gets no payload at all.
func maskJSON(doc []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err == nil { // trailing data: not one JSON document
		return nil, false
	}
	v = maskTree(v, maskNone)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

// maskTree masks a decoded JSON value; kind is the masking of an enclosing personal
// field (maskNone outside one).
func maskTree(v any, kind maskKind) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(t))
		for _, k := range keys {
			ck := kind
			if ck == maskNone {
				ck = personalField(k)
			}
			// A key can be an ID number too ({"110105…": …}): masked like any other
			// text, and kept apart from another key that masks the same.
			mk := scrubIDs(k)
			for n, base := 2, mk; ; n++ {
				if _, taken := out[mk]; !taken {
					break
				}
				mk = base + " (" + strconv.Itoa(n) + ")"
			}
			out[mk] = maskTree(t[k], ck)
		}
		return out
	case []any:
		for i, c := range t {
			t[i] = maskTree(c, kind)
		}
		return t
	case string:
		return maskValue(kind, t)
	case json.Number:
		if kind != maskNone {
			return maskValue(kind, t.String())
		}
		if m := scrubIDs(t.String()); m != t.String() { // an ID number sent as a number
			return m
		}
		return t
	case bool:
		if kind != maskNone {
			return "*"
		}
	}
	return v
}

// maskClue masks a clue for a viewer: the persons it names (psn_no), its subject when
// that is a person or practitioner, and those values wherever the explanation and the
// evidence repeat them.
func maskClue(c tracewatch.Clue) tracewatch.Clue {
	var ids []string
	if c.Subject == tracewatch.SubjectPerson || c.Subject == tracewatch.SubjectPractitioner {
		ids = append(ids, c.SubjectID)
		c.SubjectID = idno.Mask(c.SubjectID)
		c.Fingerprint = "" // a hash of the subject: small enough a space to be searched
	}
	ids = append(ids, c.Persons...)
	if len(c.Persons) > 0 {
		ps := make([]string, len(c.Persons))
		for i, p := range c.Persons {
			ps[i] = idno.Mask(p)
		}
		c.Persons = ps
	}
	var pairs []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			pairs = append(pairs, id, idno.Mask(id))
		}
	}
	repl := strings.NewReplacer(pairs...)
	text := func(s string) string { return scrubIDs(repl.Replace(s)) }
	c.Explanation = text(c.Explanation)
	ev := make([]tracewatch.Evidence, len(c.Evidence))
	for i, e := range c.Evidence {
		e.Note, e.Ref = text(e.Note), text(e.Ref)
		ev[i] = e
	}
	c.Evidence = ev
	return c
}

// maskedPayload is what a viewer gets of a quarantined message: the JSON with personal
// values masked, or nothing when the bytes are not JSON.
func maskedPayload(payload []byte) (string, bool) {
	if len(payload) == 0 {
		return "", true
	}
	b, ok := maskJSON(payload)
	if !ok {
		return "", false
	}
	return string(b), true
}
