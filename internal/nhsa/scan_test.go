package nhsa

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
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
		// Read into an arena after another object and before a third, the same members,
		// and the other objects' members untouched.
		a := getArena()
		before, _ := a.object([]byte(`{"x":1,"y":"z"}`))
		inArena, okArena := a.object(b)
		after, _ := a.object([]byte(`{"w":[2]}`))
		if okArena != ok || !reflect.DeepEqual(inArena, got) && (len(inArena) > 0 || len(got) > 0) {
			t.Fatalf("object(%q) in an arena = %v, %v; alone %v, %v", b, inArena, okArena, got, ok)
		}
		if len(before) != 2 || string(before.get("y")) != `"z"` || len(after) != 1 || string(after.get("w")) != `[2]` {
			t.Fatalf("object(%q) in an arena disturbed the others: %v, %v", b, before, after)
		}
		putArena(a)
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
		names := map[string]bool{}
		for _, m := range got {
			names[string(m.name)] = true
		}
		if len(names) != len(want) {
			t.Fatalf("object(%q): %d members, encoding/json %d", b, len(names), len(want))
		}
		for k, w := range want {
			var g, x bytes.Buffer
			json.Compact(&g, got.get(k))
			json.Compact(&x, w)
			if g.String() != x.String() {
				t.Fatalf("object(%q)[%q] = %s, encoding/json %s", b, k, g.Bytes(), x.Bytes())
			}
			// Text values read the same as through encoding/json.
			s1, ok1 := textOf(got.get(k))
			var s2 string
			err := json.Unmarshal(w, &s2)
			if ok1 && err == nil && len(bytes.TrimSpace(w)) > 0 && bytes.TrimSpace(w)[0] == '"' && s1 != trimSpace(s2) {
				t.Fatalf("textOf(%s) = %q, encoding/json %q", got.get(k), s1, s2)
			}
		}
	})
}

func trimSpace(s string) string { return string(bytes.TrimSpace([]byte(s))) }

// FuzzParseTimeFast: the fast path accepts only what time.Parse accepts, with the same
// time.
func FuzzParseTimeFast(f *testing.F) {
	for _, s := range []string{"2025-03-01 09:30:05", "2025-03-01T09:30:05", "2025-03-01", "2025-02-29", "2024-02-29 23:59:59",
		"2025-13-01", "2025-03-01 24:00:00", "2025-03-01 09:60:00", "0000-01-01", "2025-3-01", "2025-03-01x09:30:05", "+025-03-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTimeFast(s)
		if !ok {
			return
		}
		for _, l := range timeLayouts {
			if want, err := time.ParseInLocation(l, s, CST); err == nil {
				if !got.Equal(want) || got.Location() != want.Location() {
					t.Fatalf("parseTimeFast(%q) = %v, time.Parse %v", s, got, want)
				}
				return
			}
		}
		t.Fatalf("parseTimeFast(%q) = %v, time.Parse refuses it", s, got)
	})
}
