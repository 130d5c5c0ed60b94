package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/monitor"
	"tracewatch/internal/rules"
)

// The dashboard's facts (per institution and day) are province-wide and slow to read
// from a big store (about a second at 10^6 sale lines), so they are kept per period and
// read again in the background once they are older than factsTTL: a dashboard answers
// from memory, at most factsTTL behind the store.
const factsTTL = 2 * time.Minute

type periodFacts struct {
	read         time.Time
	collection   []facts.CollectionDay
	uploads      []facts.UploadDay
	institutions []tracewatch.Institution
	regions      []tracewatch.RegionInfo
}

type factsCache struct {
	mu      sync.Mutex
	entries map[[2]time.Time]*periodFacts
	loading map[[2]time.Time]chan struct{}
}

// periodFacts returns the facts of a period: from memory when it has them (reading them
// again in the background when stale), else read now.
func (s *Server) periodFacts(ctx context.Context, from, to time.Time) (*periodFacts, error) {
	key := [2]time.Time{from, to}
	c := &s.dash
	c.mu.Lock()
	if c.entries == nil {
		c.entries, c.loading = map[[2]time.Time]*periodFacts{}, map[[2]time.Time]chan struct{}{}
	}
	e := c.entries[key]
	wait, busy := c.loading[key]
	if e != nil {
		if s.now().Sub(e.read) > factsTTL && !busy {
			c.loading[key] = make(chan struct{})
			go s.readPeriodFacts(context.WithoutCancel(ctx), key)
		}
		c.mu.Unlock()
		return e, nil
	}
	if !busy {
		wait = make(chan struct{})
		c.loading[key] = wait
		c.mu.Unlock()
		if err := s.readPeriodFacts(ctx, key); err != nil {
			return nil, err
		}
	} else {
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e, nil
	}
	return nil, tracewatch.Errorf("server.Dashboard", tracewatch.KindInternal, "the period's facts could not be read")
}

func (s *Server) readPeriodFacts(ctx context.Context, key [2]time.Time) error {
	c := &s.dash
	defer func() {
		c.mu.Lock()
		if ch := c.loading[key]; ch != nil {
			close(ch)
			delete(c.loading, key)
		}
		c.mu.Unlock()
	}()
	e := &periodFacts{read: s.now()}
	w := tracewatch.Window{From: key[0], To: key[1]}
	var err error
	if e.collection, err = s.facts.CollectionDays(ctx, w); err != nil {
		return err
	}
	if e.uploads, err = s.facts.UploadDays(ctx, w); err != nil {
		return err
	}
	if e.institutions, err = s.facts.Institutions(ctx); err != nil {
		return err
	}
	if e.regions, err = s.facts.Regions(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.entries[key] = e
	if len(c.entries) > 24 { // a handful of periods are looked at; forget the oldest read
		var oldest [2]time.Time
		var at time.Time
		for k, v := range c.entries {
			if at.IsZero() || v.read.Before(at) {
				oldest, at = k, v.read
			}
		}
		delete(c.entries, oldest)
	}
	c.mu.Unlock()
	return nil
}

// WarmDashboard reads the default period's facts, so that the first dashboard answers
// from memory (serve calls it once it listens).
func (s *Server) WarmDashboard(ctx context.Context) error {
	if s.facts == nil {
		return nil
	}
	from, to, err := s.defaultPeriod(ctx, 0)
	if err != nil {
		return err
	}
	_, err = s.periodFacts(ctx, from, to)
	return err
}

// defaultDays is the dashboard's period when none is asked for.
const defaultDays = 30

// defaultPeriod is the days days up to the day of the latest stored event (today when
// the store has none, or when that is later than today).
func (s *Server) defaultPeriod(ctx context.Context, days int) (from, to time.Time, err error) {
	if days <= 0 {
		days = defaultDays
	}
	end := s.now()
	last, err := s.facts.LastEvent(ctx)
	if err != nil {
		return from, to, err
	}
	if !last.IsZero() && last.Before(end) {
		end = last
	}
	from, to = monitor.Period(end, days)
	return from, to, nil
}

// ruleTitles maps each rule's id to its Chinese title.
func ruleTitles() map[string]string {
	out := map[string]string{}
	for _, r := range rules.Registry() {
		sp := r.Spec()
		out[sp.ID()] = sp.Short + " " + sp.Title
	}
	return out
}

// regionParam reads the region a caller asks about: its own when none is given, else one
// it covers.
func regionParam(op string, u tracewatch.User, v string) (tracewatch.Region, error) {
	if v == "" {
		return u.Region, nil
	}
	reg, err := tracewatch.ParseRegion(v)
	if err != nil {
		return "", tracewatch.Errorf(op, tracewatch.KindInvalid, "want a 6-digit region code").WithField("region")
	}
	if !u.Covers(reg) {
		return "", forbidden(op, "region %s is outside %s's region %s", reg, u.Name, u.Region)
	}
	return reg, nil
}

// dayParam reads a day (2006-01-02, Beijing time).
func dayParam(op, field, v string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", v, tracewatch.Beijing)
	if err != nil {
		return t, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a day as YYYY-MM-DD").WithField(field)
	}
	return t, nil
}

// needFacts answers 503 where the server has no fact reads.
func (s *Server) needFacts(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.facts == nil {
			s.apiFail(w, r, tracewatch.Errorf("server.Facts", tracewatch.KindNotFound, "this server has no fact reads (dashboard, reports)"))
			return
		}
		h(w, r)
	}
}

// periodParams reads a period as from/to days (both, inclusive) or a count of days up to
// the latest data (the dashboard's default period when neither is given).
func (s *Server) periodParams(ctx context.Context, op, fromS, toS, daysS string) (from, to time.Time, err error) {
	days := 0
	if daysS != "" {
		n, err := strconv.Atoi(daysS)
		if err != nil || n < 1 || n > 366 {
			return from, to, tracewatch.Errorf(op, tracewatch.KindInvalid, "want days from 1 to 366").WithField("days")
		}
		days = n
	}
	if fromS == "" && toS == "" {
		return s.defaultPeriod(ctx, days)
	}
	if fromS == "" || toS == "" {
		return from, to, tracewatch.Errorf(op, tracewatch.KindInvalid, "give both from and to (YYYY-MM-DD)").WithField("from")
	}
	if from, err = dayParam(op, "from", fromS); err != nil {
		return from, to, err
	}
	last, err := dayParam(op, "to", toS)
	if err != nil {
		return from, to, err
	}
	to = last.AddDate(0, 0, 1)
	if !from.Before(to) || to.Sub(from) > 366*24*time.Hour {
		return from, to, tracewatch.Errorf(op, tracewatch.KindInvalid, "from must be on or before to, at most 366 days apart").WithField("to")
	}
	return from, to, nil
}

// handleDashboard answers GET /api/v1/dashboard?region=&from=&to=&days=: the 首页 figures
// of a region (the caller's by default) for a period (by default the 30 days up to the
// latest data).
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	const op = "server.Dashboard"
	q, err := query(r, "region", "from", "to", "days")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	region, err := regionParam(op, u, q.Get("region"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	d, err := s.dashboard(r.Context(), op, u, region, q.Get("from"), q.Get("to"), q.Get("days"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, dashboardAnswer{Dashboard: d, Map: s.mapFor(region, d.AreaLevel)})
}

// dashboardAnswer is a dashboard with its region's map, where the deployer supplied one.
type dashboardAnswer struct {
	monitor.Dashboard
	Map *mapRef `json:"map,omitempty"`
}

// dashboard computes a region's dashboard for a period given as from/to days or a count
// of days up to the latest data.
func (s *Server) dashboard(ctx context.Context, op string, u tracewatch.User, region tracewatch.Region, fromS, toS, daysS string) (monitor.Dashboard, error) {
	from, to, err := s.periodParams(ctx, op, fromS, toS, daysS)
	if err != nil {
		return monitor.Dashboard{}, err
	}
	pf, err := s.periodFacts(ctx, from, to)
	if err != nil {
		return monitor.Dashboard{}, err
	}
	// Clues are counted over all time within the region (the workload), not the period.
	f := tracewatch.ClueFilter{Region: region, Limit: -1}
	if err := scope(u, &f); err != nil {
		return monitor.Dashboard{}, err
	}
	f.Region = region
	f.UnknownRegion = region != "" && region == u.Region && u.Covers("")
	by := tracewatch.ByRegion
	if region != "" && region != region.Province() && region != region.City() {
		by = tracewatch.ByInstitution // a county's areas are its institutions
	}
	groups, err := s.st.ClueGroups(ctx, f, tracewatch.ByDetector|tracewatch.BySeverity|tracewatch.ByState|by)
	if err != nil {
		return monitor.Dashboard{}, err
	}
	over := s.wf.Due(f, u.Region, s.now())
	overdue, err := s.st.ClueGroups(ctx, over, by)
	if err != nil {
		return monitor.Dashboard{}, err
	}
	return monitor.Build(s.monitor, monitor.Input{Region: region, From: from, To: to, Regions: pf.regions, Institutions: pf.institutions,
		Collection: pf.collection, Uploads: pf.uploads, Clues: groups, Overdue: overdue, Titles: s.titles, Now: pf.read}), nil
}

// dashboardPage is 首页: the figures of the user's region, filled in by dashboard.js from
// GET /api/v1/dashboard.
func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, p principal) {
	s.render(w, r, http.StatusOK, pageSpec{template: "dashboard", title: "首页", nav: "/", charts: true, scripts: []string{"dashboard.js"}}, p, nil)
}
