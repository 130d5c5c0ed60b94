package geo

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"tracewatch"
)

const square = `[[[115,28],[116,28],[116,29],[115,29],[115,28]]]`

func feat(props, geom string) string {
	return `{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}`
}

func fc(features ...string) string {
	return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
}

func poly(c string) string { return `{"type":"Polygon","coordinates":` + c + `}` }

func TestRead(t *testing.T) {
	// The shapes deployers have: DataV's numeric adcode with extra properties, a string
	// PAC, a 9-digit gb code, a MultiPolygon.
	in := fc(
		feat(`{"adcode":360100,"name":"南昌市","center":[115.8,28.6],"level":"city"}`, poly(square)),
		feat(`{"PAC":"360200","NAME":"景德镇市"}`, poly(square)),
		feat(`{"gb":"156360300","name":"萍乡市"}`, `{"type":"MultiPolygon","coordinates":[`+square+`,`+square+`]}`),
		feat(`{"adcode":"360402"}`, poly(`[[[115,28,12],[116,28,12],[116,29,12],[115,28,12]]]`)),
	)
	m, err := Read("360000", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Area{{"360100", "南昌市"}, {"360200", "景德镇市"}, {"360300", "萍乡市"}, {"360402", ""}}
	if !reflect.DeepEqual(want, m.Areas) {
		t.Errorf("areas = %v, want %v", m.Areas, want)
	}
	var out struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
			Geometry   struct {
				Type string `json:"type"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(m.JSON, &out); err != nil {
		t.Fatalf("normalized map is not JSON: %v\n%s", err, m.JSON)
	}
	if out.Type != "FeatureCollection" || len(out.Features) != 4 {
		t.Fatalf("normalized map: %s", m.JSON)
	}
	if p := out.Features[0].Properties; !reflect.DeepEqual(p, map[string]any{"adcode": "360100", "name": "南昌市"}) {
		t.Errorf("normalized properties = %v", p)
	}
	if out.Features[2].Geometry.Type != "MultiPolygon" {
		t.Errorf("geometry type %q, want MultiPolygon", out.Features[2].Geometry.Type)
	}

	// A city's counties; the country's provinces.
	if _, err := Read("360100", []byte(fc(feat(`{"adcode":360102}`, poly(square))))); err != nil {
		t.Errorf("a city's county: %v", err)
	}
	if _, err := Read("", []byte(fc(feat(`{"adcode":360000}`, poly(square))))); err != nil {
		t.Errorf("the country's province: %v", err)
	}
}

func TestReadRefuses(t *testing.T) {
	ok := feat(`{"adcode":360100}`, poly(square))
	for _, tc := range []struct {
		name, region, in, field, msg string
	}{
		{"not JSON", "360000", `{"type":`, "", "not GeoJSON"},
		{"a lone feature", "360000", ok, "type", "FeatureCollection"},
		{"no features", "360000", fc(), "features", "no features"},
		{"no code", "360000", fc(feat(`{"name":"南昌市"}`, poly(square))), "features[0].properties", "no administrative code"},
		{"a bad code", "360000", fc(feat(`{"adcode":"36010"}`, poly(square))), "features[0].properties", "6 digits"},
		{"a fraction", "360000", fc(feat(`{"adcode":360100.5}`, poly(square))), "features[0].properties", "administrative code"},
		{"outside", "360000", fc(ok, feat(`{"adcode":350100}`, poly(square))), "features[1].properties", "not within region 360000"},
		{"the region itself", "360000", fc(feat(`{"adcode":360000}`, poly(square))), "features[0].properties", "not within"},
		{"a county's map", "360102", fc(ok), "features[0].properties", "not within"},
		{"twice", "360000", fc(ok, ok), "features[1].properties", "also feature 0"},
		{"no geometry", "360000", fc(`{"type":"Feature","properties":{"adcode":360100}}`), "features[0].geometry", "no geometry"},
		{"a point", "360000", fc(feat(`{"adcode":360100}`, `{"type":"Point","coordinates":[115,28]}`)), "features[0].geometry", "Point"},
		{"a short ring", "360000", fc(feat(`{"adcode":360100}`, poly(`[[[115,28],[116,28],[115,28]]]`))), "features[0].geometry", "3 positions"},
		{"off the globe", "360000", fc(feat(`{"adcode":360100}`, poly(`[[[115,28],[116,98],[116,29],[115,28]]]`))), "features[0].geometry", "not a longitude"},
		{"strings", "360000", fc(feat(`{"adcode":360100}`, poly(`[[["115","28"]]]`))), "features[0].geometry", "Polygon coordinates"},
		{"not a feature", "360000", fc(`{"type":"Polygon","coordinates":[]}`), "features[0].type", "want type Feature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tracewatch.Region(tc.region), []byte(tc.in))
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
			if e.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v (field %q), want field %q and %q", err, e.Field, tc.field, tc.msg)
			}
		})
	}
	if _, err := Read("360000", make([]byte, MaxBytes+1)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("an oversized map: %v", err)
	}
}

// FuzzRead: any bytes give a map or an invalid error, and a map's normalized JSON reads
// back as the same map.
func FuzzRead(f *testing.F) {
	f.Add([]byte(fc(feat(`{"adcode":360100,"name":"南昌市"}`, poly(square)))))
	f.Add([]byte(fc(feat(`{"gb":"156360300"}`, `{"type":"MultiPolygon","coordinates":[`+square+`]}`))))
	f.Add([]byte(`{"type":"FeatureCollection","features":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Read("360000", b)
		if err != nil {
			var e *tracewatch.Error
			if !errors.As(err, &e) || e.Kind != tracewatch.KindInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
			return
		}
		again, err := Read("360000", m.JSON)
		if err != nil {
			t.Fatalf("the normalized map does not read back: %v\n%s", err, m.JSON)
		}
		if !reflect.DeepEqual(m.Areas, again.Areas) {
			t.Errorf("areas %v became %v after normalizing", m.Areas, again.Areas)
		}
	})
}
