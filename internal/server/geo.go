package server

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/geo"
)

// The region maps a deployer supplies live in DATA/geo/<region>.json (000000.json for the
// country). They are read when first asked for and again when the file changes.

type geoCache struct {
	mu      sync.Mutex
	entries map[tracewatch.Region]*geoEntry
}

type geoEntry struct {
	mod  time.Time
	size int64
	m    *geo.Map
	err  error
}

// mapRef is what the dashboard says about its region's map: where to fetch it, or why the
// deployer's file cannot be used.
type mapRef struct {
	URL   string `json:"url,omitempty"`
	Areas int    `json:"areas,omitempty"`
	File  string `json:"file"`
	Error string `json:"error,omitempty"`
}

// mapName names a region's map in its file and URL: the region's code, 000000 for the
// country.
func mapName(region tracewatch.Region) string {
	if region == "" {
		return "000000"
	}
	return string(region)
}

// geoFile is the file of a region's map, relative to the data directory.
func geoFile(region tracewatch.Region) string {
	return filepath.Join("geo", mapName(region)+".json")
}

// regionMap returns the region's map: nil and no error when the deployer supplied none.
func (s *Server) regionMap(region tracewatch.Region) (*geo.Map, time.Time, error) {
	if s.dataDir == "" {
		return nil, time.Time{}, nil
	}
	path := filepath.Join(s.dataDir, geoFile(region))
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, tracewatch.Errorf("server.Map", tracewatch.KindInternal, "%v", err)
	}
	c := &s.geo
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[region]; e != nil && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.m, e.mod, e.err
	}
	e := &geoEntry{mod: fi.ModTime(), size: fi.Size()}
	if fi.Size() > geo.MaxBytes {
		e.err = tracewatch.Errorf("geo.Read", tracewatch.KindInvalid, "the map is %d bytes, more than the %d allowed", fi.Size(), geo.MaxBytes)
	} else if b, err := readFileMax(path, geo.MaxBytes); err != nil {
		e.err = tracewatch.Errorf("server.Map", tracewatch.KindInternal, "%v", err)
	} else {
		e.m, e.err = geo.Read(region, b)
	}
	if e.err != nil {
		s.log.Error("region map unusable", "file", geoFile(region), "err", e.err.Error())
	}
	if c.entries == nil {
		c.entries = map[tracewatch.Region]*geoEntry{}
	}
	c.entries[region] = e
	return e.m, e.mod, e.err
}

func readFileMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

// mapFor is the dashboard's word on a region's map: nil when there is none to draw (no
// file, or the areas are institutions).
func (s *Server) mapFor(region tracewatch.Region, areaLevel string) *mapRef {
	if areaLevel == "institution" {
		return nil
	}
	m, _, err := s.regionMap(region)
	ref := &mapRef{File: geoFile(region)}
	switch {
	case err != nil:
		ref.Error = err.Error()
	case m == nil:
		return nil
	default:
		ref.URL, ref.Areas = "/api/v1/geo/"+mapName(region), len(m.Areas)
	}
	return ref
}

// handleGeo answers GET /api/v1/geo/{region}: the deployer's boundary map of a region the
// caller covers (000000: the country), checked and normalized to GeoJSON whose features
// carry the properties adcode and name.
func (s *Server) handleGeo(w http.ResponseWriter, r *http.Request) {
	const op = "server.Map"
	v := r.PathValue("region")
	if v == "000000" {
		v = ""
	} else if _, err := tracewatch.ParseRegion(v); err != nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a 6-digit region code").WithField("region"))
		return
	}
	u := userOf(r)
	region := tracewatch.Region(v)
	if !u.Covers(region) {
		s.apiFail(w, r, forbidden(op, "region %s is outside %s's region %s", v, u.Name, u.Region))
		return
	}
	m, mod, err := s.regionMap(region)
	if err != nil { // the deployer's file is at fault, not the caller: the log says why
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInternal, "the map file %s is unusable", geoFile(region)))
		return
	}
	if m == nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindNotFound, "no map of region %s: the deployer may put one at %s in the data directory", r.PathValue("region"), geoFile(region)))
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", mod, bytes.NewReader(m.JSON))
}
