// Package geo reads the region boundary maps a deployer supplies (GeoJSON), so the
// dashboard can draw a region map. tracewatch ships no map of its own: a public map of
// China must be an approved 标准地图, so the file comes from the deployer (for example
// the province's 标准地图 service) and is read from DATA/geo/<region>.json.
//
// A map is a FeatureCollection whose features are the region's areas (a province's
// cities, a city's counties), each a Polygon or MultiPolygon naming its 6-digit
// administrative code in one of the properties adcode, ADCODE, code, PAC or gb (a 9-digit
// gb code's leading 156, China's country code, is dropped). Read checks the whole file
// and returns it normalized: each feature keeps its geometry and only the properties
// adcode (a string) and name.
package geo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"tracewatch"
)

// MaxBytes is the largest map file read (a province's cities at a usable simplification
// are 1–5 MB).
const MaxBytes = 32 << 20

// codeKeys are the properties that may name a feature's administrative code, in the order
// they are tried.
var codeKeys = []string{"adcode", "ADCODE", "code", "PAC", "gb"}

// nameKeys are the properties that may name a feature.
var nameKeys = []string{"name", "NAME", "Name"}

// Area is one feature of a map.
type Area struct {
	Code tracewatch.Region
	Name string
}

// Map is a checked, normalized boundary map.
type Map struct {
	Region tracewatch.Region
	Areas  []Area
	// JSON is the normalized FeatureCollection, ready to serve.
	JSON []byte
}

type feature struct {
	Type       string                     `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Geometry   *geometry                  `json:"geometry"`
}

type geometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// Read checks a map of region's areas. Errors are invalid and name the feature and field
// at fault.
func Read(region tracewatch.Region, b []byte) (*Map, error) {
	const op = "geo.Read"
	bad := func(field, format string, args ...any) error {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, format, args...).WithField(field)
	}
	if len(b) > MaxBytes {
		return nil, bad("", "the map is %d bytes, more than the %d allowed", len(b), MaxBytes)
	}
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, bad("", "not GeoJSON: %v", err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, bad("type", "want a GeoJSON FeatureCollection, not %q", fc.Type)
	}
	if len(fc.Features) == 0 {
		return nil, bad("features", "the map has no features")
	}
	m := &Map{Region: region}
	seen := map[tracewatch.Region]int{}
	var out bytes.Buffer
	out.WriteString(`{"type":"FeatureCollection","features":[`)
	for i, raw := range fc.Features {
		field := fmt.Sprintf("features[%d]", i)
		var f feature
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, bad(field, "feature %d: %v", i, err)
		}
		if f.Type != "Feature" {
			return nil, bad(field+".type", "feature %d: want type Feature, not %q", i, f.Type)
		}
		code, err := areaCode(f.Properties)
		if err != nil {
			return nil, bad(field+".properties", "feature %d: %v", i, err)
		}
		if !within(code, region) {
			return nil, bad(field+".properties", "feature %d: area %s is not within region %s", i, code, region)
		}
		if j, dup := seen[code]; dup {
			return nil, bad(field+".properties", "feature %d: area %s is also feature %d", i, code, j)
		}
		seen[code] = i
		name := ""
		for _, k := range nameKeys {
			if v, ok := f.Properties[k]; ok && json.Unmarshal(v, &name) == nil && name != "" {
				break
			}
		}
		if f.Geometry == nil {
			return nil, bad(field+".geometry", "feature %d (%s): no geometry", i, code)
		}
		if err := checkGeometry(f.Geometry); err != nil {
			return nil, bad(field+".geometry", "feature %d (%s): %v", i, code, err)
		}
		m.Areas = append(m.Areas, Area{Code: code, Name: name})
		if i > 0 {
			out.WriteByte(',')
		}
		props, _ := json.Marshal(map[string]string{"adcode": string(code), "name": name})
		coords := new(bytes.Buffer)
		if err := json.Compact(coords, f.Geometry.Coordinates); err != nil {
			return nil, bad(field+".geometry", "feature %d (%s): %v", i, code, err)
		}
		fmt.Fprintf(&out, `{"type":"Feature","properties":%s,"geometry":{"type":%q,"coordinates":%s}}`, props, f.Geometry.Type, coords)
	}
	out.WriteString("]}")
	m.JSON = out.Bytes()
	return m, nil
}

// within reports whether area is one of region's areas: a province of the country (region
// ""), a city or county of a province, a county of a city.
func within(area, region tracewatch.Region) bool {
	if area == region {
		return false
	}
	switch {
	case region == "":
		return area == area.Province()
	case region == region.Province():
		return area.Province() == region
	case region == region.City():
		return area.City() == region
	}
	return false // a county's areas are institutions, which have no boundaries
}

// areaCode reads a feature's administrative code.
func areaCode(props map[string]json.RawMessage) (tracewatch.Region, error) {
	for _, k := range codeKeys {
		v, ok := props[k]
		if !ok || string(v) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			var n float64
			if err := json.Unmarshal(v, &n); err != nil || n != math.Trunc(n) || n < 0 || n > 1e12 {
				return "", fmt.Errorf("property %s is %s: want an administrative code", k, v)
			}
			s = strconv.FormatInt(int64(n), 10)
		}
		s = strings.TrimSpace(s)
		if len(s) == 9 && strings.HasPrefix(s, "156") {
			s = s[3:]
		}
		r, err := tracewatch.ParseRegion(s)
		if err != nil {
			return "", fmt.Errorf("property %s: %v", k, err)
		}
		return r, nil
	}
	return "", fmt.Errorf("no administrative code: want one of the properties %s", strings.Join(codeKeys, ", "))
}

// checkGeometry checks a Polygon or MultiPolygon: rings of at least 4 positions, each a
// finite longitude and latitude.
func checkGeometry(g *geometry) error {
	switch g.Type {
	case "Polygon":
		var p [][][]float64
		if err := json.Unmarshal(g.Coordinates, &p); err != nil {
			return fmt.Errorf("Polygon coordinates: %v", err)
		}
		return checkPolygon(p)
	case "MultiPolygon":
		var mp [][][][]float64
		if err := json.Unmarshal(g.Coordinates, &mp); err != nil {
			return fmt.Errorf("MultiPolygon coordinates: %v", err)
		}
		if len(mp) == 0 {
			return fmt.Errorf("an empty MultiPolygon")
		}
		for i, p := range mp {
			if err := checkPolygon(p); err != nil {
				return fmt.Errorf("polygon %d: %v", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("geometry type %q: want Polygon or MultiPolygon", g.Type)
}

func checkPolygon(p [][][]float64) error {
	if len(p) == 0 {
		return fmt.Errorf("a polygon with no ring")
	}
	for i, ring := range p {
		if len(ring) < 4 {
			return fmt.Errorf("ring %d has %d positions, want at least 4", i, len(ring))
		}
		for j, pos := range ring {
			if len(pos) < 2 || len(pos) > 3 {
				return fmt.Errorf("ring %d position %d: want [longitude, latitude]", i, j)
			}
			if lon, lat := pos[0], pos[1]; math.IsNaN(lon) || lon < -180 || lon > 180 || math.IsNaN(lat) || lat < -90 || lat > 90 {
				return fmt.Errorf("ring %d position %d: [%v, %v] is not a longitude and latitude", i, j, lon, lat)
			}
		}
	}
	return nil
}
