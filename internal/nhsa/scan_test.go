package nhsa

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzObjectMatchesEncodingJSON: on valid JSON, the single-pass scanner reads the same
// members as encoding/json; on anything else it never panics.
func FuzzObjectMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":"x\"y","b":[1,{"c":"}"}],"d":null,"e":-1.5e3,"f":true}`, `{"a":1,"a":2}`,
		`{"k\u00e9y":"v\\"}`, `{"selinfo":{"med_list_codg":"X","drugtracinfo":[{"drug_trac_codg":"8385793"}]}}`, `{"a":[]}`, ` { "a" : { } } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := object(b)
		if !json.Valid(b) {
			return
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			if ok {
				t.Fatalf("object(%q) accepted what encoding/json refuses as an object", b)
			}
			return
		}
		if !ok {
			t.Fatalf("object(%q) refused a valid object", b)
		}
		if len(got) != len(want) {
			t.Fatalf("object(%q): %d members, encoding/json %d", b, len(got), len(want))
		}
		for k, w := range want {
			var g, x bytes.Buffer
			json.Compact(&g, got[k])
			json.Compact(&x, w)
			if g.String() != x.String() {
				t.Fatalf("object(%q)[%q] = %s, encoding/json %s", b, k, g.Bytes(), x.Bytes())
			}
			// Text values read the same as through encoding/json.
			s1, ok1 := textOf(got[k])
			var s2 string
			err := json.Unmarshal(w, &s2)
			if ok1 && err == nil && len(bytes.TrimSpace(w)) > 0 && bytes.TrimSpace(w)[0] == '"' && s1 != trimSpace(s2) {
				t.Fatalf("textOf(%s) = %q, encoding/json %q", got[k], s1, s2)
			}
		}
	})
}

func trimSpace(s string) string { return string(bytes.TrimSpace([]byte(s))) }
