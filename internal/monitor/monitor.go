// Package monitor computes what the dashboard and the monthly report show about a
// region and period: 追溯码采集率 and 接入率 by sub-region and day, their drops, the clue
// figures, and each region's health grade (docs/monitoring.md). It reads typed facts and
// clue summaries and never a store's SQL.
package monitor

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sort"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// Config is what a province decides about monitoring: when a fall in a rate is a drop
// alert and the thresholds of the health grade. A zero field takes its default.
type Config struct {
	// DropPoints is the fall in percentage points, from the previous DropDays days to the
	// last DropDays days of the period, that makes a drop alert (default 20).
	DropPoints float64 `json:"drop_points,omitempty"`
	DropDays   int     `json:"drop_days,omitempty"` // default 7
	// MinLines is the sale lines an institution or region needs in both spans before its
	// collection rate is compared (default 20): a handful of lines says nothing.
	MinLines int64 `json:"min_lines,omitempty"`
	// Excellent (优秀) and Good (良好) are the grade thresholds; a region meeting neither is
	// 告警. A region without figures is 无数据, never 告警.
	Excellent Thresholds `json:"excellent,omitzero"`
	Good      Thresholds `json:"good,omitzero"`
}

// Thresholds are the figures a grade needs: at least this 采集率 and 接入率, at most this
// share of open clues overdue.
type Thresholds struct {
	Collection float64 `json:"collection,omitempty"`
	Access     float64 `json:"access,omitempty"`
	Overdue    float64 `json:"overdue,omitempty"`
}

// Defaults is the monitoring of a province that set nothing.
var Defaults = Config{
	DropPoints: 20,
	DropDays:   7,
	MinLines:   20,
	Excellent:  Thresholds{Collection: 0.95, Access: 0.95, Overdue: 0.05},
	Good:       Thresholds{Collection: 0.80, Access: 0.80, Overdue: 0.20},
}

// FileName is the monitoring configuration's file in the data directory.
const FileName = "monitor.json"

// Load reads a configuration file; a missing file is the defaults.
func Load(path string) (Config, error) {
	const op = "monitor.Load"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Defaults, nil
	}
	if err != nil {
		return Config{}, tracewatch.E(op, tracewatch.KindInvalid, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s: %v", path, err)
	}
	return c.withDefaults(), c.validate(path)
}

func (c Config) withDefaults() Config {
	d := Defaults
	if c.DropPoints > 0 {
		d.DropPoints = c.DropPoints
	}
	if c.DropDays > 0 {
		d.DropDays = c.DropDays
	}
	if c.MinLines > 0 {
		d.MinLines = c.MinLines
	}
	if c.Excellent != (Thresholds{}) {
		d.Excellent = c.Excellent
	}
	if c.Good != (Thresholds{}) {
		d.Good = c.Good
	}
	return d
}

func (c Config) validate(path string) error {
	for name, v := range map[string]float64{"excellent.collection": c.Excellent.Collection, "excellent.access": c.Excellent.Access,
		"excellent.overdue": c.Excellent.Overdue, "good.collection": c.Good.Collection, "good.access": c.Good.Access, "good.overdue": c.Good.Overdue} {
		if v < 0 || v > 1 {
			return tracewatch.Errorf("monitor.Load", tracewatch.KindInvalid, "%s: %s is a share from 0 to 1, not %v", path, name, v).WithField(name)
		}
	}
	if c.DropPoints > 100 {
		return tracewatch.Errorf("monitor.Load", tracewatch.KindInvalid, "%s: drop_points is percentage points (at most 100)", path).WithField("drop_points")
	}
	return nil
}

// Grade is a region's health grade (基金健康度).
type Grade string

// The grades.
const (
	GradeExcellent Grade = "优秀"
	GradeGood      Grade = "良好"
	GradeAlert     Grade = "告警"
	GradeNoData    Grade = "无数据"
)

// Rates are a region's (or institution's) collection and access figures. A rate is nil
// where its denominator is zero: unknown, not zero.
type Rates struct {
	Lines      int64    `json:"lines"` // reimbursed drug sale lines (exempt goods left out)
	Coded      int64    `json:"coded"` // of them carrying a valid trace code
	Collection *float64 `json:"collection"`
	// Designated are the institutions of the reference data (not terminated in the
	// period); Uploading those that uploaded at least once in it.
	Designated int      `json:"designated"`
	Uploading  int      `json:"uploading"`
	Access     *float64 `json:"access"`
}

func (r *Rates) finish() {
	r.Collection, r.Access = share(r.Coded, r.Lines), share(int64(r.Uploading), int64(r.Designated))
}

func share(n, d int64) *float64 {
	if d <= 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

// Day is one day's figures: the access rate counts the institutions uploading that day.
type Day struct {
	Day string `json:"day"` // 2006-01-02
	Rates
}

// ClueFigures count clues and money.
type ClueFigures struct {
	Clues        int64          `json:"clues"`
	Open         int64          `json:"open"`    // not closed or dismissed
	Overdue      int64          `json:"overdue"` // open and past their step's deadline
	AmountFen    tracewatch.Fen `json:"amount_fen"`
	RecoveredFen tracewatch.Fen `json:"recovered_fen"`
	PenaltyFen   tracewatch.Fen `json:"penalty_fen"`
}

// Area is one sub-region (or institution) of the dashboard.
type Area struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Rates Rates  `json:"rates"`
	ClueFigures
	Grade Grade `json:"grade"`
}

// Count is one bar of a breakdown.
type Count struct {
	Key       string         `json:"key"`
	Label     string         `json:"label"`
	Clues     int64          `json:"clues"`
	AmountFen tracewatch.Fen `json:"amount_fen"`
}

// Drop is a rate that fell: an institution's or region's collection rate, or a region's
// access rate, from Before (the DropDays before) to After (the last DropDays).
type Drop struct {
	Kind   string  `json:"kind"` // institution or region
	Code   string  `json:"code"`
	Name   string  `json:"name"`
	Rate   string  `json:"rate"` // collection or access
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Since  string  `json:"since"` // the first day of the After span
}

// Dashboard is the 首页 of a region for a period.
type Dashboard struct {
	Region     tracewatch.Region `json:"region"`
	RegionName string            `json:"region_name"`
	From       string            `json:"from"` // first day, 2006-01-02
	To         string            `json:"to"`   // last day
	Rates      Rates             `json:"rates"`
	Grade      Grade             `json:"grade"`
	Clues      ClueFigures       `json:"clues"`
	Days       []Day             `json:"days"`
	Areas      []Area            `json:"areas"`        // sub-regions (a county: its institutions)
	AreaLevel  string            `json:"area_level"`   // city, county or institution
	Lowest     []Area            `json:"lowest"`       // the institutions of lowest collection rate
	Drops      []Drop            `json:"drops"`        // falls beyond the configured points
	ByModel    []Count           `json:"by_model"`     // clues by detector
	BySeverity []Count           `json:"by_severity"`  // clues by severity
	ByState    []Count           `json:"by_state"`     // clues by state
	Thresholds Config            `json:"thresholds"`   // the grades' thresholds used
	Generated  time.Time         `json:"generated_at"` // when the figures were computed
}

// Input is what a dashboard is computed from. Collection and Uploads cover the period
// (and may hold other regions: they are filtered here); Clues is grouped by detector,
// severity, state and region, Overdue by region, both already within the region.
type Input struct {
	Region       tracewatch.Region
	From, To     time.Time // the period's first day and the day after its last, Asia/Shanghai midnights
	Regions      []tracewatch.RegionInfo
	Institutions []tracewatch.Institution
	Collection   []facts.CollectionDay
	Uploads      []facts.UploadDay
	Clues        []tracewatch.ClueGroup
	Overdue      []tracewatch.ClueGroup
	Titles       map[string]string // detector name@version → its Chinese title
	Now          time.Time
}

// Build computes the dashboard.
func Build(c Config, in Input) Dashboard {
	c = c.withDefaults()
	names := map[tracewatch.Region]string{}
	for _, r := range in.Regions {
		names[r.Code] = r.Name
	}
	d := Dashboard{Region: in.Region, RegionName: regionName(names, in.Region), From: day(in.From),
		To: day(in.To.AddDate(0, 0, -1)), Thresholds: c, Generated: in.Now}
	within := func(r tracewatch.Region) bool { return in.Region == "" || in.Region.Contains(r) }
	// The area of a region under in.Region: a city under a province, a county under a city,
	// and for a county its institutions.
	level, areaOf := areaLevel(in.Region)
	d.AreaLevel = level
	inst := map[string]tracewatch.Institution{}
	areas := map[string]*Area{}
	area := func(code, name string) *Area {
		a := areas[code]
		if a == nil {
			a = &Area{Code: code, Name: name}
			areas[code] = a
		}
		return a
	}
	instRates := map[string]*Rates{}
	for _, i := range in.Institutions {
		if !within(i.Region) {
			continue
		}
		inst[i.Code] = i
		if designated(i, in.From, in.To) {
			d.Rates.Designated++
			r := instRates[i.Code]
			if r == nil {
				r = &Rates{}
				instRates[i.Code] = r
			}
			r.Designated = 1
			if level == "institution" {
				area(i.Code, i.Name).Rates.Designated++
			} else {
				code := areaOf(i.Region)
				area(string(code), regionName(names, code)).Rates.Designated++
			}
		}
	}
	areaKey := func(code string) *Area {
		i := inst[code]
		if level == "institution" {
			return area(code, i.Name)
		}
		r := areaOf(i.Region)
		return area(string(r), regionName(names, r))
	}
	days := map[string]*Day{}
	dayOf := func(t time.Time) *Day {
		k := day(t)
		dd := days[k]
		if dd == nil {
			dd = &Day{Day: k}
			days[k] = dd
		}
		return dd
	}
	for t := in.From; t.Before(in.To); t = t.AddDate(0, 0, 1) {
		dayOf(t).Designated = d.Rates.Designated
	}
	dropFrom := in.To.AddDate(0, 0, -c.DropDays)
	beforeFrom := dropFrom.AddDate(0, 0, -c.DropDays)
	instSpan := map[string]*[2]span{}
	areaSpan := map[string]*[2]span{}
	for _, cd := range in.Collection {
		if r := instRates[cd.Institution]; r == nil || r.Designated == 0 || cd.Day.Before(in.From) || !cd.Day.Before(in.To) {
			continue
		}
		d.Rates.Lines += cd.Lines
		d.Rates.Coded += cd.Coded
		dd := dayOf(cd.Day)
		dd.Lines += cd.Lines
		dd.Coded += cd.Coded
		a := areaKey(cd.Institution)
		a.Rates.Lines += cd.Lines
		a.Rates.Coded += cd.Coded
		r := instRates[cd.Institution]
		r.Lines += cd.Lines
		r.Coded += cd.Coded
		var k int
		switch {
		case !cd.Day.Before(dropFrom):
			k = 1
		case !cd.Day.Before(beforeFrom):
			k = 0
		default:
			continue
		}
		for _, m := range []struct {
			spans map[string]*[2]span
			key   string
		}{{instSpan, cd.Institution}, {areaSpan, a.Code}} {
			s := m.spans[m.key]
			if s == nil {
				s = &[2]span{}
				m.spans[m.key] = s
			}
			s[k].lines += cd.Lines
			s[k].coded += cd.Coded
		}
	}
	uploaded := map[string]bool{}
	areaUp := map[string]map[string]bool{}
	accessSpan := map[string]*[2]map[string]bool{}
	for _, u := range in.Uploads {
		i, ok := inst[u.Institution]
		if !ok || u.Events == 0 || u.Day.Before(in.From) || !u.Day.Before(in.To) || !designated(i, in.From, in.To) {
			continue
		}
		dayOf(u.Day).Uploading++
		uploaded[u.Institution] = true
		instRates[u.Institution].Uploading = 1
		a := areaKey(u.Institution)
		if areaUp[a.Code] == nil {
			areaUp[a.Code] = map[string]bool{}
		}
		areaUp[a.Code][u.Institution] = true
		if !u.Day.Before(beforeFrom) {
			k := 0
			if !u.Day.Before(dropFrom) {
				k = 1
			}
			s := accessSpan[a.Code]
			if s == nil {
				s = &[2]map[string]bool{{}, {}}
				accessSpan[a.Code] = s
			}
			s[k][u.Institution] = true
		}
	}
	d.Rates.Uploading = len(uploaded)
	d.Rates.finish()
	for code, set := range areaUp {
		areas[code].Rates.Uploading = len(set)
	}
	// Clues by area, model, severity and state.
	byModel, bySev, byState := map[string]*Count{}, map[string]*Count{}, map[string]*Count{}
	add := func(m map[string]*Count, key, label string, g tracewatch.ClueGroup) {
		c := m[key]
		if c == nil {
			c = &Count{Key: key, Label: label}
			m[key] = c
		}
		c.Clues += g.Clues
		c.AmountFen += g.AmountFen
	}
	clueArea := func(g tracewatch.ClueGroup) *Area {
		if level == "institution" {
			if g.Institution == "" {
				return nil
			}
			return areaKey(g.Institution)
		}
		if g.Region == "" {
			return area("", "未知地区")
		}
		r := areaOf(g.Region)
		return area(string(r), regionName(names, r))
	}
	for _, g := range in.Clues {
		open := g.State != tracewatch.ClueClosed && g.State != tracewatch.ClueDismissed
		for _, f := range []*ClueFigures{&d.Clues, figuresOf(clueArea(g))} {
			if f == nil {
				continue
			}
			f.Clues += g.Clues
			f.AmountFen += g.AmountFen
			f.RecoveredFen += g.RecoveredFen
			f.PenaltyFen += g.PenaltyFen
			if open {
				f.Open += g.Clues
			}
		}
		title := in.Titles[g.Detector]
		if title == "" {
			title = g.Detector
		}
		add(byModel, g.Detector, title, g)
		add(bySev, g.Severity.String(), g.Severity.Chinese(), g)
		add(byState, string(g.State), g.State.Chinese(), g)
	}
	for _, g := range in.Overdue {
		d.Clues.Overdue += g.Clues
		if f := figuresOf(clueArea(g)); f != nil {
			f.Overdue += g.Clues
		}
	}
	d.Grade = grade(c, d.Rates, d.Clues)
	for _, a := range areas {
		a.Rates.finish()
		a.Grade = grade(c, a.Rates, a.ClueFigures)
		d.Areas = append(d.Areas, *a)
	}
	sort.Slice(d.Areas, func(i, j int) bool { return d.Areas[i].Code < d.Areas[j].Code })
	for t := in.From; t.Before(in.To); t = t.AddDate(0, 0, 1) {
		dd := days[day(t)]
		dd.Rates.finish()
		d.Days = append(d.Days, *dd)
	}
	// The institutions of lowest collection rate (with enough lines to say so).
	for code, r := range instRates {
		r.finish()
		if r.Lines < c.MinLines {
			continue
		}
		i := inst[code]
		d.Lowest = append(d.Lowest, Area{Code: code, Name: i.Name, Rates: *r, Grade: grade(c, *r, ClueFigures{})})
	}
	sort.Slice(d.Lowest, func(i, j int) bool {
		a, b := d.Lowest[i], d.Lowest[j]
		if *a.Rates.Collection != *b.Rates.Collection {
			return *a.Rates.Collection < *b.Rates.Collection
		}
		return a.Code < b.Code
	})
	if len(d.Lowest) > 10 {
		d.Lowest = d.Lowest[:10]
	}
	// Drops: collection per institution and area, access per area.
	since := day(dropFrom)
	fall := c.DropPoints / 100
	for code, s := range instSpan {
		if b, a, ok := compare(s, c.MinLines); ok && b-a > fall {
			d.Drops = append(d.Drops, Drop{Kind: "institution", Code: code, Name: inst[code].Name, Rate: "collection", Before: b, After: a, Since: since})
		}
	}
	for code, s := range areaSpan {
		if b, a, ok := compare(s, c.MinLines); ok && b-a > fall {
			d.Drops = append(d.Drops, Drop{Kind: level, Code: code, Name: areas[code].Name, Rate: "collection", Before: b, After: a, Since: since})
		}
	}
	if level != "institution" {
		for code, s := range accessSpan {
			des := areas[code].Rates.Designated
			if des == 0 {
				continue
			}
			b, a := float64(len(s[0]))/float64(des), float64(len(s[1]))/float64(des)
			if b-a > fall {
				d.Drops = append(d.Drops, Drop{Kind: level, Code: code, Name: areas[code].Name, Rate: "access", Before: b, After: a, Since: since})
			}
		}
	}
	sort.Slice(d.Drops, func(i, j int) bool {
		a, b := d.Drops[i], d.Drops[j]
		if fa, fb := a.Before-a.After, b.Before-b.After; fa != fb {
			return fa > fb
		}
		return a.Code < b.Code
	})
	d.ByModel, d.BySeverity, d.ByState = counts(byModel), counts(bySev), counts(byState)
	sort.SliceStable(d.BySeverity, func(i, j int) bool {
		a, _ := tracewatch.ParseSeverity(d.BySeverity[i].Key)
		b, _ := tracewatch.ParseSeverity(d.BySeverity[j].Key)
		return a > b
	})
	order := map[string]int{}
	for i, s := range tracewatch.ClueStates {
		order[string(s)] = i
	}
	sort.SliceStable(d.ByState, func(i, j int) bool { return order[d.ByState[i].Key] < order[d.ByState[j].Key] })
	return d
}

func figuresOf(a *Area) *ClueFigures {
	if a == nil {
		return nil
	}
	return &a.ClueFigures
}

// span counts the sale lines of a span of days.
type span struct{ lines, coded int64 }

func compare(s *[2]span, min int64) (before, after float64, ok bool) {
	if s[0].lines < min || s[1].lines < min {
		return 0, 0, false
	}
	return float64(s[0].coded) / float64(s[0].lines), float64(s[1].coded) / float64(s[1].lines), true
}

func counts(m map[string]*Count) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Clues != out[j].Clues {
			return out[i].Clues > out[j].Clues
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// grade rates figures against the thresholds. Unknown rates do not count against a
// region; a region with no rate at all has no grade.
func grade(c Config, r Rates, f ClueFigures) Grade {
	if r.Collection == nil && r.Access == nil {
		return GradeNoData
	}
	meets := func(t Thresholds) bool {
		if r.Collection != nil && *r.Collection < t.Collection {
			return false
		}
		if r.Access != nil && *r.Access < t.Access {
			return false
		}
		if f.Open > 0 && float64(f.Overdue)/float64(f.Open) > t.Overdue {
			return false
		}
		return true
	}
	switch {
	case meets(c.Excellent):
		return GradeExcellent
	case meets(c.Good):
		return GradeGood
	}
	return GradeAlert
}

// designated reports whether an institution held an agreement at some time in [from, to):
// one terminated before the period is not counted.
func designated(i tracewatch.Institution, from, to time.Time) bool {
	if len(i.Agreements) == 0 {
		return true
	}
	for t := from; t.Before(to); t = t.AddDate(0, 0, 1) {
		if i.AgreementAt(t) != tracewatch.AgreementTerminated {
			return true
		}
	}
	return false
}

// areaLevel says what the areas under a region are and maps a region to its area.
func areaLevel(r tracewatch.Region) (string, func(tracewatch.Region) tracewatch.Region) {
	switch {
	case r == "":
		return "province", func(x tracewatch.Region) tracewatch.Region { return x.Province() }
	case r == r.Province():
		return "city", func(x tracewatch.Region) tracewatch.Region { return x.City() }
	case r == r.City():
		return "county", func(x tracewatch.Region) tracewatch.Region { return x }
	}
	return "institution", nil
}

func regionName(names map[tracewatch.Region]string, r tracewatch.Region) string {
	if n := names[r]; n != "" {
		return n
	}
	if r == "" {
		return "全部地区"
	}
	return string(r)
}

func day(t time.Time) string { return t.In(tracewatch.Beijing).Format("2006-01-02") }

// Period returns the first day and the day after the last of the n days ending with the
// day of t (Asia/Shanghai).
func Period(t time.Time, n int) (from, to time.Time) {
	b := t.In(tracewatch.Beijing)
	to = time.Date(b.Year(), b.Month(), b.Day()+1, 0, 0, 0, 0, tracewatch.Beijing)
	return to.AddDate(0, 0, -n), to
}

// Month returns the first day of a month (YYYY-MM) and the first day of the next.
func Month(s string) (from, to time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", s, tracewatch.Beijing)
	if err != nil {
		return from, to, tracewatch.Errorf("monitor.Month", tracewatch.KindInvalid, "want a month as YYYY-MM, not %q", s).WithField("month")
	}
	return t, t.AddDate(0, 1, 0), nil
}
