package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzMaskJSON: masking any bytes never panics; what it returns is one JSON document in
// which no personal field keeps its value and no ID-number-shaped run survives.
func FuzzMaskJSON(f *testing.F) {
	f.Add([]byte(`{"input":{"selinfo":{"certno":"11010519491231002X","psn_name":"赵六","psn_no":36000012345678}}}`))
	f.Add([]byte(`[{"memo":"身份证110105194912310011"},"11010519491231002x",{"patn_name":{"a":["赵六"]}}]`))
	f.Add([]byte("{\"certno\":\"\xff\"}"))
	f.Add([]byte(`{"a":1} {"b":2}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, ok := maskJSON(doc)
		if !ok {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("masked output is not JSON: %v\n%s", err, out)
		}
		if s := string(out); scrubIDs(s) != s {
			t.Fatalf("an ID-number-shaped run survived: %s", out)
		}
	})
}

// TestScrubIDs: an ID number alone is masked; a trace code, a longer run, or a number
// inside a word is not.
func TestScrubIDs(t *testing.T) {
	for in, want := range map[string]string{
		"11010519491231002X":                    "1101**********002X",
		"id 110105194912310011.":                "id 1101**********0011.",
		"a11010519491231002Xb":                  "a11010519491231002Xb",
		"83857930000879766660":                  "83857930000879766660",
		"1101051949123100211":                   "1101051949123100211",
		"身份证110105194912310011代购":               "身份证1101**********0011代购",
		"11010519491231002X,110105194912310011": "1101**********002X,1101**********0011",
		"":                                      "",
		strings.Repeat("1", 17):                 strings.Repeat("1", 17),
	} {
		if got := scrubIDs(in); got != want {
			t.Errorf("scrubIDs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMaskJSONKeys: an ID number used as an object key is masked like any text, and two
// keys that mask alike both stay (a viewer sees every entry); other keys are kept.
func TestMaskJSONKeys(t *testing.T) {
	out, ok := maskJSON([]byte(`{"110105194912310011":1,"110105194912310011 ":2,"1101**********0011":3,"psn_no":"36000012345678","drug":"X"}`))
	if !ok {
		t.Fatal("not JSON")
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("%d keys, want 5: %s", len(got), out)
	}
	if strings.Contains(string(out), "110105194912310011") {
		t.Errorf("an ID number survived as a key: %s", out)
	}
	if got["drug"] != "X" || got["1101**********0011"] == nil {
		t.Errorf("a key that is not an ID number changed: %s", out)
	}
}
