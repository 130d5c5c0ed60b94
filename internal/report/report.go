// Package report computes the monthly report (月报) of a region: the month's 采集率 and
// 接入率, the clues found and closed in it, the money recovered, what is overdue at its
// end, the institutions with most clues and the practitioner points given (docs/web.md,
// "月报"). It renders the report as one self-contained HTML page (the web workplace's
// template and script), as a PDF printed from that page by a headless Chromium, and as
// an XLSX workbook. A report aggregates: it names institutions and regions, never a
// person or a practitioner.
package report

import (
	"context"
	"sort"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/monitor"
	"tracewatch/internal/rules"
	"tracewatch/internal/workflow"
)

// Source is what a monthly report reads: reference data, the month's fact summaries, the
// clue summaries and lists, and the points given. The embedded store satisfies it.
type Source interface {
	Institutions(ctx context.Context) ([]tracewatch.Institution, error)
	Regions(ctx context.Context) ([]tracewatch.RegionInfo, error)
	CollectionDays(ctx context.Context, w tracewatch.Window) ([]facts.CollectionDay, error)
	UploadDays(ctx context.Context, w tracewatch.Window) ([]facts.UploadDay, error)
	ClueGroups(ctx context.Context, f tracewatch.ClueFilter, by tracewatch.ClueGroupBy) ([]tracewatch.ClueGroup, error)
	Clues(ctx context.Context, f tracewatch.ClueFilter) ([]tracewatch.Clue, error)
	Points(ctx context.Context, f tracewatch.PointFilter) ([]tracewatch.PointAward, error)
	// LastEvent is the time of the latest event stored (zero when there is none).
	LastEvent(ctx context.Context) (time.Time, error)
}

// Report is the monthly report of a region.
type Report struct {
	Region     tracewatch.Region `json:"region"` // "" for every region
	RegionName string            `json:"region_name"`
	Month      string            `json:"month"` // 2025-08
	From       string            `json:"from"`  // the month's first day, 2006-01-02
	// To is the last day the rates cover: the month's last, or today in the current month,
	// or the day of the latest data when that is earlier (later days have no data yet).
	To string `json:"to"`
	// AsOf is when overdue clues are counted: the end of the month, or the time the report
	// was made when that is earlier.
	AsOf      time.Time `json:"as_of"`
	Generated time.Time `json:"generated_at"`
	// AreaLevel says what Areas are: city (under a province), county (under a city) or
	// institution (under a county).
	AreaLevel string        `json:"area_level"`
	Rates     monitor.Rates `json:"rates"`
	Days      []monitor.Day `json:"days"`
	Areas     []Area        `json:"areas"`
	Found     Found         `json:"found"`
	Closed    Closed        `json:"closed"`
	Overdue   Overdue       `json:"overdue"`
	// TopInstitutions are the (at most 10) institutions with most clues found in the
	// month, the larger amount first among equals.
	TopInstitutions []InstitutionClues `json:"top_institutions"`
	Points          Points             `json:"points"`
}

// Area is one sub-region (or, in a county's report, one institution).
type Area struct {
	Code           string         `json:"code"`
	Name           string         `json:"name"`
	Rates          monitor.Rates  `json:"rates"`
	Found          int64          `json:"found"` // clues first seen in the month
	FoundAmountFen tracewatch.Fen `json:"found_amount_fen"`
	Overdue        int64          `json:"overdue"` // clues overdue at AsOf
}

// Found are the clues first seen (首次发现) in the month.
type Found struct {
	Clues      int64           `json:"clues"`
	AmountFen  tracewatch.Fen  `json:"amount_fen"`
	ByModel    []monitor.Count `json:"by_model"`
	BySeverity []monitor.Count `json:"by_severity"`
}

// Closed are the clues closed (办结) or dismissed (排除) in the month: those whose state
// is closed or dismissed now and which entered it in the month.
type Closed struct {
	Clues        int64          `json:"clues"`     // closed (办结)
	Dismissed    int64          `json:"dismissed"` // dismissed (排除)
	AmountFen    tracewatch.Fen `json:"amount_fen"`
	RecoveredFen tracewatch.Fen `json:"recovered_fen"` // 追回金额
	PenaltyFen   tracewatch.Fen `json:"penalty_fen"`   // 违约金
	FineFen      tracewatch.Fen `json:"fine_fen"`      // 罚款
	ByResult     []Tally        `json:"by_result"`     // 核查结论 of the closed
	ByAction     []Tally        `json:"by_action"`     // 协议处理
	Referrals    []Tally        `json:"referrals"`     // 移送
	Items        []ClosedClue   `json:"items"`         // by time of closing
}

// Tally counts one kind of thing.
type Tally struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Count int64  `json:"count"`
}

// ClosedClue is one clue closed or dismissed in the month.
type ClosedClue struct {
	ID              int64                `json:"id"`
	Detector        string               `json:"detector"`
	Model           string               `json:"model"` // the detector's Chinese title
	Severity        tracewatch.Severity  `json:"severity"`
	SeverityZh      string               `json:"severity_zh"`
	Region          tracewatch.Region    `json:"region"`
	Institution     string               `json:"institution"`
	InstitutionName string               `json:"institution_name"`
	AmountFen       tracewatch.Fen       `json:"amount_fen"`
	State           tracewatch.ClueState `json:"state"` // closed or dismissed
	StateZh         string               `json:"state_zh"`
	ClosedAt        time.Time            `json:"closed_at"`
	Result          string               `json:"result,omitempty"` // confirmed, partial, dismissed
	ResultZh        string               `json:"result_zh,omitempty"`
	RecoveredFen    tracewatch.Fen       `json:"recovered_fen"`
	PenaltyFen      tracewatch.Fen       `json:"penalty_fen"`
	FineFen         tracewatch.Fen       `json:"fine_fen"`
	ActionZh        string               `json:"action_zh,omitempty"`
	ReferralsZh     string               `json:"referrals_zh,omitempty"`
}

// Overdue are the clues overdue at AsOf that are still in the step that was due: open
// now, their current step due before AsOf (a clue still 机审 counts from its first
// sighting and the workflow's 初审 deadline). A clue overdue at the month's end and moved
// on since is not counted.
type Overdue struct {
	Clues     int64           `json:"clues"`
	AmountFen tracewatch.Fen  `json:"amount_fen"`
	ByState   []monitor.Count `json:"by_state"`
}

// InstitutionClues is an institution's clues found in the month.
type InstitutionClues struct {
	Code       string            `json:"code"`
	Name       string            `json:"name"`
	Region     tracewatch.Region `json:"region"`
	RegionName string            `json:"region_name"`
	Clues      int64             `json:"clues"`
	Serious    int64             `json:"serious"` // 高度可疑 or 明确违规
	AmountFen  tracewatch.Fen    `json:"amount_fen"`
}

// Points are the practitioner points given in the month (驾照式记分), by responsibility
// and institution.
type Points struct {
	Awards           int                 `json:"awards"`
	Points           int                 `json:"points"`
	Practitioners    int                 `json:"practitioners"` // distinct practitioners
	ByResponsibility []PointBand         `json:"by_responsibility"`
	ByInstitution    []InstitutionPoints `json:"by_institution"`
}

// PointBand counts the awards of one degree of responsibility.
type PointBand struct {
	Key    string `json:"key"` // minor, general, important, main
	Label  string `json:"label"`
	Awards int    `json:"awards"`
	Points int    `json:"points"`
}

// InstitutionPoints counts the points given at one institution.
type InstitutionPoints struct {
	Code          string            `json:"code"`
	Name          string            `json:"name"`
	Region        tracewatch.Region `json:"region"`
	Practitioners int               `json:"practitioners"`
	Awards        int               `json:"awards"`
	Points        int               `json:"points"`
}

// topN is how many institutions TopInstitutions lists.
const topN = 10

// Monthly computes the report of region (a province, city or county; "" for all) for
// month (YYYY-MM) as the store stands at now. A month that has not begun at now is
// refused.
func Monthly(ctx context.Context, src Source, region tracewatch.Region, month string, mon monitor.Config, wf workflow.Config, now time.Time) (Report, error) {
	const op = "report.Monthly"
	from, end, err := monitor.Month(month)
	if err != nil {
		return Report{}, err
	}
	if !now.After(from) {
		return Report{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s has not begun yet", month).WithField("month")
	}
	// The rates cover the month's days up to today (or the latest data); overdue is
	// counted at the month's end or now.
	to := end
	if _, tomorrow := monitor.Period(now, 1); tomorrow.Before(to) {
		to = tomorrow
	}
	// Days after the latest data have no data yet (uploads may still come): the rates stop
	// at the latest data's day rather than count those days as days nobody uploaded.
	last, err := src.LastEvent(ctx)
	if err != nil {
		return Report{}, err
	}
	if _, after := monitor.Period(last, 1); !last.IsZero() && after.After(from) && after.Before(to) {
		to = after
	}
	asOf := end
	if now.Before(asOf) {
		asOf = now
	}
	regions, err := src.Regions(ctx)
	if err != nil {
		return Report{}, err
	}
	insts, err := src.Institutions(ctx)
	if err != nil {
		return Report{}, err
	}
	w := tracewatch.Window{From: from, To: to}
	collection, err := src.CollectionDays(ctx, w)
	if err != nil {
		return Report{}, err
	}
	uploads, err := src.UploadDays(ctx, w)
	if err != nil {
		return Report{}, err
	}
	// The clues of the region; a province's report also counts the clues whose region is
	// unknown (its users work them: tracewatch.User.Covers).
	base := tracewatch.ClueFilter{Region: region, UnknownRegion: region != "" && region == region.Province(), Limit: -1}
	areaBy := tracewatch.ByRegion
	if region != "" && region != region.Province() && region != region.City() {
		areaBy = tracewatch.ByInstitution // a county's areas are its institutions
	}
	found, err := firstSeenIn(ctx, src, base, from, end, tracewatch.ByDetector|tracewatch.BySeverity|areaBy)
	if err != nil {
		return Report{}, err
	}
	byInst, err := firstSeenIn(ctx, src, base, from, end, tracewatch.ByInstitution|tracewatch.ByRegion|tracewatch.BySeverity)
	if err != nil {
		return Report{}, err
	}
	overdue, err := src.ClueGroups(ctx, wf.Due(base, region, asOf), tracewatch.ByState|areaBy)
	if err != nil {
		return Report{}, err
	}
	done, err := src.Clues(ctx, withStates(base, tracewatch.ClueClosed, tracewatch.ClueDismissed))
	if err != nil {
		return Report{}, err
	}
	awards, err := src.Points(ctx, tracewatch.PointFilter{Since: from})
	if err != nil {
		return Report{}, err
	}
	titles := Titles()
	d := monitor.Build(mon, monitor.Input{Region: region, From: from, To: to, Regions: regions, Institutions: insts,
		Collection: collection, Uploads: uploads, Clues: found, Overdue: overdue, Titles: titles, Now: now})
	r := Report{Region: region, RegionName: d.RegionName, Month: month, From: d.From, To: d.To, AsOf: asOf, Generated: now,
		AreaLevel: d.AreaLevel, Rates: d.Rates, Days: d.Days,
		Found:   Found{Clues: d.Clues.Clues, AmountFen: d.Clues.AmountFen, ByModel: nonNil(d.ByModel), BySeverity: nonNil(d.BySeverity)},
		Overdue: Overdue{Clues: d.Clues.Overdue}}
	for _, a := range d.Areas {
		r.Areas = append(r.Areas, Area{Code: a.Code, Name: a.Name, Rates: a.Rates, Found: a.Clues, FoundAmountFen: a.AmountFen, Overdue: a.Overdue})
	}
	r.Areas = nonNil(r.Areas)
	r.Days = nonNil(r.Days)
	instByCode := map[string]tracewatch.Institution{}
	for _, i := range insts {
		instByCode[i.Code] = i
	}
	names := map[tracewatch.Region]string{}
	for _, rg := range regions {
		names[rg.Code] = rg.Name
	}
	r.Overdue.ByState, r.Overdue.AmountFen = overdueByState(overdue)
	r.TopInstitutions = topInstitutions(byInst, instByCode, names)
	r.Closed = closedIn(done, from, end, titles, instByCode)
	r.Points = pointsIn(awards, end, region, instByCode)
	return r, nil
}

// firstSeenIn summarizes the clues of f first seen in [from, to): those first seen from
// from on, less those first seen from to on (the store filters first sightings from a
// time only). A clue rescreened between the two reads (a new severity) can leave a group
// at zero or below: such groups are dropped.
func firstSeenIn(ctx context.Context, src Source, f tracewatch.ClueFilter, from, to time.Time, by tracewatch.ClueGroupBy) ([]tracewatch.ClueGroup, error) {
	f.FirstSeenFrom = from
	all, err := src.ClueGroups(ctx, f, by)
	if err != nil {
		return nil, err
	}
	f.FirstSeenFrom = to
	later, err := src.ClueGroups(ctx, f, by)
	if err != nil {
		return nil, err
	}
	type key struct {
		detector    string
		severity    tracewatch.Severity
		state       tracewatch.ClueState
		region      tracewatch.Region
		institution string
	}
	keyOf := func(g tracewatch.ClueGroup) key { return key{g.Detector, g.Severity, g.State, g.Region, g.Institution} }
	sub := map[key]tracewatch.ClueGroup{}
	for _, g := range later {
		sub[keyOf(g)] = g
	}
	var out []tracewatch.ClueGroup
	for _, g := range all {
		if l, ok := sub[keyOf(g)]; ok {
			g.Clues -= l.Clues
			g.AmountFen -= l.AmountFen
			g.RecoveredFen -= l.RecoveredFen
			g.PenaltyFen -= l.PenaltyFen
		}
		if g.Clues > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

func withStates(f tracewatch.ClueFilter, states ...tracewatch.ClueState) tracewatch.ClueFilter {
	f.States = states
	return f
}

func overdueByState(groups []tracewatch.ClueGroup) ([]monitor.Count, tracewatch.Fen) {
	by := map[tracewatch.ClueState]*monitor.Count{}
	var amount tracewatch.Fen
	for _, g := range groups {
		c := by[g.State]
		if c == nil {
			c = &monitor.Count{Key: string(g.State), Label: g.State.Chinese()}
			by[g.State] = c
		}
		c.Clues += g.Clues
		c.AmountFen += g.AmountFen
		amount += g.AmountFen
	}
	out := []monitor.Count{}
	for _, s := range tracewatch.ClueStates {
		if c := by[s]; c != nil {
			out = append(out, *c)
		}
	}
	return out, amount
}

func topInstitutions(groups []tracewatch.ClueGroup, insts map[string]tracewatch.Institution, names map[tracewatch.Region]string) []InstitutionClues {
	by := map[string]*InstitutionClues{}
	for _, g := range groups {
		if g.Institution == "" { // a clue about no institution (a person's)
			continue
		}
		c := by[g.Institution]
		if c == nil {
			i := insts[g.Institution]
			c = &InstitutionClues{Code: g.Institution, Name: i.Name, Region: g.Region, RegionName: names[g.Region]}
			by[g.Institution] = c
		}
		c.Clues += g.Clues
		c.AmountFen += g.AmountFen
		if g.Severity >= tracewatch.SeverityHighlySuspicious {
			c.Serious += g.Clues
		}
	}
	out := []InstitutionClues{}
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Clues != b.Clues {
			return a.Clues > b.Clues
		}
		if a.AmountFen != b.AmountFen {
			return a.AmountFen > b.AmountFen
		}
		return a.Code < b.Code
	})
	if len(out) > topN {
		out = out[:topN]
	}
	return out
}

// The Chinese names of an outcome's values (docs/workflow.md).
var (
	resultZh    = map[string]string{"confirmed": "违规属实", "partial": "部分属实", "dismissed": "排除"}
	actionZh    = map[string]string{"interview": "约谈", "rectify": "限期整改", "suspend": "暂停", "terminate": "解除"}
	referralZh  = map[string]string{"police": "公安", "discipline": "纪检"}
	resultOrder = []string{"confirmed", "partial", "dismissed"}
	actionOrder = []string{"interview", "rectify", "suspend", "terminate"}
	referOrder  = []string{"police", "discipline"}
)

func zh(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return k
}

// closedIn keeps the clues that entered their closed or dismissed state in [from, to).
func closedIn(clues []tracewatch.Clue, from, to time.Time, titles map[string]string, insts map[string]tracewatch.Institution) Closed {
	c := Closed{Items: []ClosedClue{}}
	results, actions, referrals := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, cl := range clues {
		at := cl.Flow.Since
		if at.Before(from) || !at.Before(to) {
			continue
		}
		it := ClosedClue{ID: cl.ID, Detector: cl.Detector, Model: titles[cl.Detector], Severity: cl.Severity, SeverityZh: cl.Severity.Chinese(),
			Region: cl.Region, Institution: cl.Institution, InstitutionName: insts[cl.Institution].Name, AmountFen: cl.AmountFen,
			State: cl.State, StateZh: cl.State.Chinese(), ClosedAt: at}
		if it.Model == "" {
			it.Model = cl.Detector
		}
		if cl.State == tracewatch.ClueDismissed {
			c.Dismissed++
		} else {
			c.Clues++
			c.AmountFen += cl.AmountFen
		}
		if o := cl.Flow.Outcome; o != nil && cl.State == tracewatch.ClueClosed {
			it.Result, it.ResultZh = string(o.Result), zh(resultZh, string(o.Result))
			it.RecoveredFen, it.PenaltyFen, it.FineFen = o.RecoveredFen, o.PenaltyFen, o.FineFen
			c.RecoveredFen += o.RecoveredFen
			c.PenaltyFen += o.PenaltyFen
			c.FineFen += o.FineFen
			results[string(o.Result)]++
			if o.AgreementAction != "" {
				actions[o.AgreementAction]++
				it.ActionZh = zh(actionZh, o.AgreementAction)
			}
			for i, rf := range o.Referrals {
				referrals[rf]++
				if i > 0 {
					it.ReferralsZh += "、"
				}
				it.ReferralsZh += zh(referralZh, rf)
			}
		}
		c.Items = append(c.Items, it)
	}
	sort.SliceStable(c.Items, func(i, j int) bool {
		a, b := c.Items[i], c.Items[j]
		if !a.ClosedAt.Equal(b.ClosedAt) {
			return a.ClosedAt.Before(b.ClosedAt)
		}
		return a.ID < b.ID
	})
	c.ByResult = tallies(results, resultOrder, resultZh)
	c.ByAction = tallies(actions, actionOrder, actionZh)
	c.Referrals = tallies(referrals, referOrder, referralZh)
	return c
}

// tallies lists counts in a fixed order of keys, then any other key in name order.
func tallies(m map[string]int64, order []string, labels map[string]string) []Tally {
	out := []Tally{}
	seen := map[string]bool{}
	for _, k := range order {
		seen[k] = true
		if m[k] > 0 {
			out = append(out, Tally{Key: k, Label: zh(labels, k), Count: m[k]})
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, Tally{Key: k, Label: zh(labels, k), Count: m[k]})
	}
	return out
}

// pointsIn counts the awards given before to at the institutions within region (a
// province's report also counts those of an institution the reference data lacks).
func pointsIn(awards []tracewatch.PointAward, to time.Time, region tracewatch.Region, insts map[string]tracewatch.Institution) Points {
	p := Points{ByResponsibility: []PointBand{}, ByInstitution: []InstitutionPoints{}}
	bands := map[string]*PointBand{}
	for _, b := range workflow.Bands {
		bands[b.Responsibility] = &PointBand{Key: b.Responsibility, Label: b.Chinese}
	}
	people := map[string]bool{}
	byInst := map[string]*InstitutionPoints{}
	instPeople := map[string]map[string]bool{}
	for _, a := range awards {
		if !a.Time.Before(to) {
			continue
		}
		i, known := insts[a.Institution]
		switch {
		case region == "":
		case known && !region.Contains(i.Region):
			continue
		case !known && region != region.Province():
			continue
		}
		p.Awards++
		p.Points += a.Points
		people[a.Practitioner] = true
		b := bands[a.Responsibility]
		if b == nil {
			b = &PointBand{Key: a.Responsibility, Label: a.Responsibility}
			bands[a.Responsibility] = b
		}
		b.Awards++
		b.Points += a.Points
		ip := byInst[a.Institution]
		if ip == nil {
			ip = &InstitutionPoints{Code: a.Institution, Name: i.Name, Region: i.Region}
			byInst[a.Institution] = ip
			instPeople[a.Institution] = map[string]bool{}
		}
		ip.Awards++
		ip.Points += a.Points
		instPeople[a.Institution][a.Practitioner] = true
	}
	p.Practitioners = len(people)
	for _, b := range workflow.Bands {
		p.ByResponsibility = append(p.ByResponsibility, *bands[b.Responsibility])
		delete(bands, b.Responsibility)
	}
	var other []string
	for k := range bands {
		other = append(other, k)
	}
	sort.Strings(other)
	for _, k := range other {
		p.ByResponsibility = append(p.ByResponsibility, *bands[k])
	}
	for code, ip := range byInst {
		ip.Practitioners = len(instPeople[code])
		p.ByInstitution = append(p.ByInstitution, *ip)
	}
	sort.Slice(p.ByInstitution, func(i, j int) bool {
		a, b := p.ByInstitution[i], p.ByInstitution[j]
		if a.Points != b.Points {
			return a.Points > b.Points
		}
		return a.Code < b.Code
	})
	return p
}

// Titles maps each rule's id (name@version) to its short name and Chinese title.
func Titles() map[string]string {
	out := map[string]string{}
	for _, r := range rules.Registry() {
		sp := r.Spec()
		out[sp.ID()] = sp.Short + " " + sp.Title
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
