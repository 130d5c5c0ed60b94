package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeMap puts a deployer's boundary map of region in dataDir: one square per area.
func writeMap(t *testing.T, dataDir, region string, areas ...string) {
	t.Helper()
	var fs []string
	for i, a := range areas {
		x := 115 + float64(i)
		fs = append(fs, fmt.Sprintf(`{"type":"Feature","properties":{"adcode":%s,"name":"区%d","level":"district"},"geometry":{"type":"Polygon","coordinates":[[[%v,28],[%v,28],[%v,29],[%v,29],[%v,28]]]}}`,
			a, i, x, x+1, x+1, x, x))
	}
	writeGeo(t, dataDir, region, `{"type":"FeatureCollection","features":[`+strings.Join(fs, ",")+`]}`)
}

func writeGeo(t *testing.T, dataDir, region, text string) {
	t.Helper()
	dir := filepath.Join(dataDir, "geo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, region+".json")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A new modification time, however quick the rewrite.
	mt := time.Now().Add(time.Duration(len(text)) * time.Second)
	os.Chtimes(path, mt, mt)
}

// TestRegionMap: the dashboard names its region's map where the deployer supplied one; the
// map is served checked and normalized, to the users who cover the region; a bad file is
// reported (with the feature at fault) and the dashboard falls back to its ranked bars.
func TestRegionMap(t *testing.T) {
	f := newFlowHarness(t)
	type answer struct {
		AreaLevel string  `json:"area_level"`
		Map       *mapRef `json:"map"`
	}
	get := func(user, path string) (int, []byte) {
		t.Helper()
		return f.do("GET", path, nil, bearer(f.tok[user]))
	}
	dash := func(user, query string) answer {
		t.Helper()
		var a answer
		status, b := get(user, "/api/v1/dashboard"+query)
		if status != 200 || json.Unmarshal(b, &a) != nil {
			t.Fatalf("dashboard%s as %s: %d %s", query, user, status, b)
		}
		return a
	}
	// No file: no map, and the map's URL is not found.
	if a := dash("v1", ""); a.Map != nil {
		t.Errorf("no map file, yet the dashboard names a map: %+v", a.Map)
	}
	if status, b := get("v1", "/api/v1/geo/360000"); status != 404 || !strings.Contains(string(b), "geo/360000.json") {
		t.Errorf("no map: %d %s", status, b)
	}

	writeMap(t, f.dataDir, "360000", "360100", "360300")
	a := dash("v1", "")
	if a.Map == nil || a.Map.URL != "/api/v1/geo/360000" || a.Map.Areas != 2 || a.Map.Error != "" {
		t.Fatalf("the province's dashboard names map %+v", a.Map)
	}
	status, b := get("v1", a.Map.URL)
	var geo struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if status != 200 || json.Unmarshal(b, &geo) != nil || len(geo.Features) != 2 {
		t.Fatalf("the map: %d %s", status, b)
	}
	if p := geo.Features[0].Properties; p["adcode"] != "360100" || p["name"] != "区0" || p["level"] != nil {
		t.Errorf("normalized properties: %v", p)
	}
	// A reviewer of Nanchang may not fetch the province's map; a county has no map.
	if status, _ := get("r1", "/api/v1/geo/360000"); status != 403 {
		t.Errorf("r1 fetching the province's map: %d, want 403", status)
	}
	if status, _ := get("v1", "/api/v1/geo/36010x"); status != 400 {
		t.Errorf("a bad region: %d, want 400", status)
	}
	if a := dash("v1", "?region=360102"); a.AreaLevel != "institution" || a.Map != nil {
		t.Errorf("a county's dashboard: %+v", a)
	}

	// A broken file: named with the feature at fault, and no map drawn.
	writeGeo(t, f.dataDir, "360000", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"南昌市"},"geometry":null}]}`)
	a = dash("v1", "")
	if a.Map == nil || a.Map.URL != "" || !strings.Contains(a.Map.Error, "features[0]") || a.Map.File != filepath.Join("geo", "360000.json") {
		t.Errorf("a broken map: %+v", a.Map)
	}
	if status, _ := get("v1", "/api/v1/geo/360000"); status != 500 {
		t.Errorf("fetching a broken map: %d, want 500", status)
	}
	if !strings.Contains(f.logs.String(), "region map unusable") {
		t.Errorf("the log does not report the broken map:\n%s", f.logs)
	}
}
