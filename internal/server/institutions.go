package server

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/monitor"
	"tracewatch/internal/workflow"
)

// 机构画像 (docs/web.md): find an institution (GET /institutions, from GET
// /api/v1/institutions?q=) and see it (GET /institutions/{code}, from GET
// /api/v1/institutions/{code}): its reference data, 采集率 and uploads by day, its clues
// and their outcomes, and its practitioners' points. Only institutions within the
// caller's region are shown.

// institutionTypeZh is the Chinese name of an institution type.
func institutionTypeZh(t tracewatch.InstitutionType) string {
	switch t {
	case tracewatch.InstitutionHospital:
		return "医院"
	case tracewatch.InstitutionClinic:
		return "诊所"
	case tracewatch.InstitutionVillageClinic:
		return "村卫生室"
	case tracewatch.InstitutionPharmacy:
		return "零售药店"
	}
	return string(t)
}

// agreementZh is the Chinese name of an agreement status.
func agreementZh(a tracewatch.AgreementStatus) string {
	switch a {
	case tracewatch.AgreementNormal:
		return "正常"
	case tracewatch.AgreementSuspended:
		return "中止"
	case tracewatch.AgreementTerminated:
		return "解除"
	}
	return string(a)
}

// institutionJSON is an institution as the API lists it. Keys are a public contract:
// add, never rename (docs/api.md).
type institutionJSON struct {
	Code        string `json:"code"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	TypeZh      string `json:"type_zh"`
	Level       string `json:"level,omitempty"`
	Chain       string `json:"chain,omitempty"`
	Region      string `json:"region"`
	RegionName  string `json:"region_name,omitempty"`
	Agreement   string `json:"agreement"` // today's status: normal, suspended, terminated
	AgreementZh string `json:"agreement_zh"`
}

func (s *Server) institutionJSON(i tracewatch.Institution, regions map[tracewatch.Region]string) institutionJSON {
	a := i.AgreementAt(s.now())
	return institutionJSON{Code: i.Code, Name: i.Name, Type: string(i.Type), TypeZh: institutionTypeZh(i.Type), Level: i.Level,
		Chain: i.Chain, Region: string(i.Region), RegionName: regions[i.Region], Agreement: string(a), AgreementZh: agreementZh(a)}
}

// Institution search limits.
const (
	defaultInstitutionLimit = 50
	maxInstitutionLimit     = 500
)

// handleInstitutions answers GET /api/v1/institutions?q=&limit=: the institutions of the
// caller's region whose code or name holds q (every one when q is empty), in code order,
// at most limit of them; total counts every match.
func (s *Server) handleInstitutions(w http.ResponseWriter, r *http.Request) {
	const op = "server.Institutions"
	q, err := query(r, "q", "limit")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	needle := strings.TrimSpace(q.Get("q"))
	if err := checkText(op, "q", needle, 100); err != nil {
		s.apiFail(w, r, err)
		return
	}
	limit := defaultInstitutionLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxInstitutionLimit {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want an integer from 1 to %d", maxInstitutionLimit).WithField("limit"))
			return
		}
		limit = n
	}
	from, to, err := s.defaultPeriod(r.Context(), 0)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	pf, err := s.periodFacts(r.Context(), from, to)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	names := regionNames(pf.regions)
	upper := strings.ToUpper(needle)
	out := struct {
		Institutions []institutionJSON `json:"institutions"`
		Total        int               `json:"total"`
	}{Institutions: []institutionJSON{}}
	insts := slices.Clone(pf.institutions)
	sort.Slice(insts, func(i, j int) bool { return insts[i].Code < insts[j].Code })
	for _, i := range insts {
		if !u.Covers(i.Region) {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToUpper(i.Code), upper) && !strings.Contains(i.Name, needle) {
			continue
		}
		out.Total++
		if len(out.Institutions) < limit {
			out.Institutions = append(out.Institutions, s.institutionJSON(i, names))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func regionNames(rs []tracewatch.RegionInfo) map[tracewatch.Region]string {
	m := make(map[tracewatch.Region]string, len(rs))
	for _, r := range rs {
		m[r.Code] = r.Name
	}
	return m
}

// visibleInstitution returns the institution of code when the caller's region holds it:
// 404 when the store does not know it, 403 when it lies outside the region.
func (s *Server) visibleInstitution(ctx context.Context, op string, u tracewatch.User, code string) (tracewatch.Institution, error) {
	if err := checkInstitution(op, "code", code); err != nil {
		return tracewatch.Institution{}, err
	}
	in, err := s.st.Institution(ctx, code)
	if tracewatch.KindOf(err) == tracewatch.KindNotFound {
		return in, tracewatch.Errorf(op, tracewatch.KindNotFound, "institution %s is not in the reference data", code).WithField("code")
	}
	if err != nil {
		return in, err
	}
	if !u.Covers(in.Region) {
		return in, forbidden(op, "institution %s lies in region %s, outside %s's region %s", code, in.Region, u.Name, u.Region)
	}
	return in, nil
}

// countJSON is one line of a clue breakdown.
type countJSON struct {
	Key          string         `json:"key"`
	Label        string         `json:"label"`
	Clues        int64          `json:"clues"`
	AmountFen    tracewatch.Fen `json:"amount_fen"`
	RecoveredFen tracewatch.Fen `json:"recovered_fen"`
}

// clueBreakdown is what an institution's (or a rule's) clues add up to.
type clueBreakdown struct {
	Clues        int64          `json:"clues"`
	Open         int64          `json:"open"` // not closed or dismissed
	AmountFen    tracewatch.Fen `json:"amount_fen"`
	RecoveredFen tracewatch.Fen `json:"recovered_fen"`
	PenaltyFen   tracewatch.Fen `json:"penalty_fen"`
	ByModel      []countJSON    `json:"by_model,omitempty"`
	BySeverity   []countJSON    `json:"by_severity"`
	ByState      []countJSON    `json:"by_state"`
}

// breakdown adds up clue groups (by detector, severity and state); titles names the
// detectors (nil: no by_model).
func breakdown(groups []tracewatch.ClueGroup, titles map[string]string) clueBreakdown {
	var b clueBreakdown
	model, sev, state := map[string]*countJSON{}, map[tracewatch.Severity]*countJSON{}, map[tracewatch.ClueState]*countJSON{}
	add := func(c *countJSON, g tracewatch.ClueGroup) {
		c.Clues += g.Clues
		c.AmountFen += g.AmountFen
		c.RecoveredFen += g.RecoveredFen
	}
	for _, g := range groups {
		b.Clues += g.Clues
		b.AmountFen += g.AmountFen
		b.RecoveredFen += g.RecoveredFen
		b.PenaltyFen += g.PenaltyFen
		if !g.State.Terminal() {
			b.Open += g.Clues
		}
		if titles != nil {
			if model[g.Detector] == nil {
				label := titles[g.Detector]
				if label == "" {
					label = g.Detector
				}
				model[g.Detector] = &countJSON{Key: g.Detector, Label: label}
			}
			add(model[g.Detector], g)
		}
		if sev[g.Severity] == nil {
			sev[g.Severity] = &countJSON{Key: g.Severity.String(), Label: g.Severity.Chinese()}
		}
		add(sev[g.Severity], g)
		if state[g.State] == nil {
			state[g.State] = &countJSON{Key: string(g.State), Label: g.State.Chinese()}
		}
		add(state[g.State], g)
	}
	if titles != nil {
		b.ByModel = []countJSON{}
		for _, c := range model {
			b.ByModel = append(b.ByModel, *c)
		}
		sort.Slice(b.ByModel, func(i, j int) bool {
			if b.ByModel[i].Clues != b.ByModel[j].Clues {
				return b.ByModel[i].Clues > b.ByModel[j].Clues
			}
			return b.ByModel[i].Key < b.ByModel[j].Key
		})
	}
	b.BySeverity = []countJSON{}
	for s := tracewatch.SeverityViolation; s >= tracewatch.SeverityNotice; s-- {
		if c := sev[s]; c != nil {
			b.BySeverity = append(b.BySeverity, *c)
		}
	}
	b.ByState = []countJSON{}
	for _, s := range tracewatch.ClueStates {
		if c := state[s]; c != nil {
			b.ByState = append(b.ByState, *c)
		}
	}
	return b
}

// outcomeJSON is one decided clue of an institution: its result and what it recovered
// (no person, no explanation).
type outcomeJSON struct {
	ID              int64          `json:"id"`
	Detector        string         `json:"detector"`
	Title           string         `json:"title"`
	Severity        string         `json:"severity"`
	State           string         `json:"state"`  // closed or dismissed
	Result          string         `json:"result"` // confirmed, partial, dismissed
	ResultZh        string         `json:"result_zh"`
	AmountFen       tracewatch.Fen `json:"amount_fen"`
	RecoveredFen    tracewatch.Fen `json:"recovered_fen"`
	PenaltyFen      tracewatch.Fen `json:"penalty_fen"`
	FineFen         tracewatch.Fen `json:"fine_fen"`
	AgreementAction string         `json:"agreement_action,omitempty"`
	Decided         time.Time      `json:"decided"`
}

// outcomeFigures count decided clues: confirmed and partial are true, dismissed (by
// the outcome or the 排除 state) false; precision is true / decided (nil when none is).
type outcomeFigures struct {
	Decided   int      `json:"decided"`
	Confirmed int      `json:"confirmed"`
	Partial   int      `json:"partial"`
	Dismissed int      `json:"dismissed"`
	Precision *float64 `json:"precision"`
}

func (o *outcomeFigures) add(c tracewatch.Clue) tracewatch.OutcomeResult {
	res := tracewatch.OutcomeDismissed
	if c.State == tracewatch.ClueClosed && c.Flow.Outcome != nil {
		res = c.Flow.Outcome.Result
	}
	o.Decided++
	switch res {
	case tracewatch.OutcomeConfirmed:
		o.Confirmed++
	case tracewatch.OutcomePartial:
		o.Partial++
	default:
		o.Dismissed++
	}
	p := float64(o.Confirmed+o.Partial) / float64(o.Decided)
	o.Precision = &p
	return res
}

func resultZh(r tracewatch.OutcomeResult) string {
	switch r {
	case tracewatch.OutcomeConfirmed:
		return "违规属实"
	case tracewatch.OutcomePartial:
		return "部分属实"
	case tracewatch.OutcomeDismissed:
		return "排除"
	}
	return string(r)
}

// decidedStates are the states of a decided clue.
var decidedStates = []tracewatch.ClueState{tracewatch.ClueClosed, tracewatch.ClueDismissed}

// maxOutcomeRows bounds the decided clues an institution's answer lists (the figures
// count them all).
const maxOutcomeRows = 50

// institutionView is the answer of GET /api/v1/institutions/{code}.
type institutionView struct {
	Institution   institutionJSON            `json:"institution"`
	Agreements    []agreementJSON            `json:"agreements"`
	Figures       monitor.InstitutionFigures `json:"figures"`
	Clues         clueBreakdown              `json:"clues"`
	Overdue       int64                      `json:"overdue"`
	Outcomes      outcomeFigures             `json:"outcomes"`
	Decided       []outcomeJSON              `json:"decided"` // the latest decided, at most 50
	Practitioners []workflow.Standing        `json:"practitioners"`
	Generated     time.Time                  `json:"generated_at"`
}

type agreementJSON struct {
	Status   string `json:"status"`
	StatusZh string `json:"status_zh"`
	From     string `json:"from"`
	To       string `json:"to,omitempty"` // exclusive; empty: open-ended
}

// handleInstitution answers GET /api/v1/institutions/{code}?from=&to=&days=: an
// institution of the caller's region (403 outside it): its reference data; its 采集率
// and uploads by day over the period (by default the dashboard's: the 30 days up to the
// latest data); its clues (all time, as the dashboard counts them) by model, severity
// and state with their amounts, the decided ones and their outcomes; its
// practitioners' points this year. Reading the points is audited (read_person).
func (s *Server) handleInstitution(w http.ResponseWriter, r *http.Request) {
	const op = "server.Institution"
	q, err := query(r, "from", "to", "days")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	ctx := r.Context()
	u := userOf(r)
	in, err := s.visibleInstitution(ctx, op, u, r.PathValue("code"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	from, to, err := s.periodParams(ctx, op, q.Get("from"), q.Get("to"), q.Get("days"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	pf, err := s.periodFacts(ctx, from, to)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v := institutionView{Institution: s.institutionJSON(in, regionNames(pf.regions)), Agreements: []agreementJSON{},
		Figures: monitor.ForInstitution(in.Code, from, to, pf.collection, pf.uploads), Decided: []outcomeJSON{}, Generated: pf.read}
	for _, a := range in.Agreements {
		j := agreementJSON{Status: string(a.Status), StatusZh: agreementZh(a.Status), From: a.From.In(tracewatch.Beijing).Format(time.DateOnly)}
		if !a.To.IsZero() {
			j.To = a.To.In(tracewatch.Beijing).Format(time.DateOnly)
		}
		v.Agreements = append(v.Agreements, j)
	}
	f := tracewatch.ClueFilter{Institution: in.Code, Limit: -1}
	if err := scope(u, &f); err != nil {
		s.apiFail(w, r, err)
		return
	}
	groups, err := s.st.ClueGroups(ctx, f, tracewatch.ByDetector|tracewatch.BySeverity|tracewatch.ByState)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v.Clues = breakdown(groups, s.titles)
	over, err := s.st.ClueGroups(ctx, s.wf.Due(f, u.Region, s.now()), 0)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	for _, g := range over {
		v.Overdue += g.Clues
	}
	df := f
	df.States, df.Order = decidedStates, tracewatch.OrderNewest
	decided, err := s.st.Clues(ctx, df)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	for _, c := range decided {
		res := v.Outcomes.add(c)
		if len(v.Decided) >= maxOutcomeRows {
			continue
		}
		o := outcomeJSON{ID: c.ID, Detector: c.Detector, Title: s.titles[c.Detector], Severity: c.Severity.String(), State: string(c.State),
			Result: string(res), ResultZh: resultZh(res), AmountFen: c.AmountFen, Decided: c.Flow.Since}
		if oc := c.Flow.Outcome; oc != nil {
			o.RecoveredFen, o.PenaltyFen, o.FineFen, o.AgreementAction = oc.RecoveredFen, oc.PenaltyFen, oc.FineFen, oc.AgreementAction
		}
		v.Decided = append(v.Decided, o)
	}
	awards, err := s.st.Points(ctx, tracewatch.PointFilter{Institution: in.Code})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v.Practitioners = nonNil(workflow.Standings(awards, s.wf, u.Region, s.now()))
	if err := s.audit(r, u.Name, "read_person", "points", map[string]any{"institution": in.Code}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// institutionsPage is 机构画像's search: filled in by institutions.js.
func (s *Server) institutionsPage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query().Get("q")
	if len(q) > 100 {
		q = ""
	}
	s.render(w, r, http.StatusOK, pageSpec{template: "institutions", title: "机构画像", nav: "/institutions", scripts: []string{"institutions.js"}}, p,
		map[string]string{"Q": q})
}

// institutionPage is one institution's 机构画像, filled in by institution.js from GET
// /api/v1/institutions/{code}. An institution unknown or outside the user's region is
// refused here, with a page saying why.
func (s *Server) institutionPage(w http.ResponseWriter, r *http.Request, p principal) {
	const op = "server.InstitutionPage"
	in, err := s.visibleInstitution(r.Context(), op, p.User, r.PathValue("code"))
	if err != nil {
		status, msg := statusOf(err), publicMessage(err)
		switch tracewatch.KindOf(err) {
		case tracewatch.KindNotFound, tracewatch.KindInvalid:
			status, msg = http.StatusNotFound, "没有这家机构："+short(r.PathValue("code"))+"（不在定点医药机构名单中）。"
		case tracewatch.KindForbidden:
			msg = "这家机构不在您的统筹区（" + string(p.Region) + "）内，无权查看。"
		}
		if status >= 500 {
			s.apiFail(w, r, err)
			return
		}
		s.render(w, r, status, pageSpec{template: "error", title: "机构画像", nav: "/institutions"}, p,
			map[string]string{"Title": "机构画像", "Message": msg})
		return
	}
	s.render(w, r, http.StatusOK, pageSpec{template: "institution", title: in.Name + " · 机构画像", nav: "/institutions", charts: true,
		scripts: []string{"institution.js"}}, p, map[string]string{"Code": in.Code, "Name": in.Name})
}
