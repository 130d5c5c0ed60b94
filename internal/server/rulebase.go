package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
)

// 规则 (docs/web.md): the rule base as serve runs it (GET /api/v1/rules, the page GET
// /rules), each rule with the figures of its stored clues within the caller's region;
// an admin edits a rule's enabled flag, severity ceiling and parameters (POST
// /api/v1/rules/{name}), written to serve's rule base file and applied at once to the
// counter and to the screenings that follow.

// ruleParamJSON is one parameter of a rule.
type ruleParamJSON struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // int, float, duration
	Value   string `json:"value"`
	Default string `json:"default"`
	Min     string `json:"min"`
	Max     string `json:"max"`
	Unit    string `json:"unit,omitempty"`
	Doc     string `json:"doc"`
}

// ruleFigures are what a rule's stored clues (within the caller's region) add up to,
// and how people decided them.
type ruleFigures struct {
	clueBreakdown
	Outcomes outcomeFigures `json:"outcomes"`
}

// ruleJSON is one rule of GET /api/v1/rules. Keys are a public contract: add, never
// rename (docs/api.md).
type ruleJSON struct {
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	Version           int             `json:"version"`
	Short             string          `json:"short"`
	Title             string          `json:"title"`
	Type              rules.Type      `json:"type"`
	Stage             []rules.Stage   `json:"stage"`
	Scenes            []rules.Scene   `json:"scenes"`
	Period            string          `json:"period"`
	Basis             string          `json:"basis"`
	Enabled           bool            `json:"enabled"`
	Severity          string          `json:"severity"` // the highest its clues take (the ceiling applied)
	SeverityZh        string          `json:"severity_zh"`
	DefaultSeverity   string          `json:"default_severity"`
	DefaultSeverityZh string          `json:"default_severity_zh"`
	Regions           []string        `json:"regions"`
	Counter           bool            `json:"counter"` // also checked at the counter (事中)
	Params            []ruleParamJSON `json:"params"`
	Figures           ruleFigures     `json:"figures"`
}

func ruleOf(e *rules.Entry) ruleJSON {
	sp := e.Spec()
	sev := e.EffectiveSeverity()
	j := ruleJSON{ID: sp.ID(), Name: sp.Name, Version: sp.Version, Short: sp.Short, Title: sp.Title, Type: sp.Type,
		Stage: nonNil(sp.Stages), Scenes: nonNil(sp.Scenes), Period: sp.Period, Basis: sp.Basis, Enabled: e.Enabled,
		Severity: sev.String(), SeverityZh: sev.Chinese(), DefaultSeverity: sp.Severity.String(), DefaultSeverityZh: sp.Severity.Chinese(),
		Regions: []string{}, Counter: rules.AtCounter(e), Params: []ruleParamJSON{}}
	for _, r := range e.Regions {
		j.Regions = append(j.Regions, string(r))
	}
	for _, p := range sp.Params {
		j.Params = append(j.Params, ruleParamJSON{Name: p.Name, Kind: string(p.Kind), Value: rules.ParamValue(e, p.Name),
			Default: p.Default, Min: p.Min, Max: p.Max, Unit: p.Unit, Doc: p.Doc})
	}
	return j
}

// ruleBase is the rule base the server lists: its file's, or the embedded default.
func (s *Server) ruleBase() (*rules.Base, error) {
	if s.rules == nil {
		return rules.DefaultBase(), nil
	}
	return s.rules.Base()
}

// handleRules answers GET /api/v1/rules: every rule of the rule base with its settings
// and the figures of its clues within the caller's region (all stored clues, every
// version of the rule); editable says whether the caller may change it.
func (s *Server) handleRules(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	ctx := r.Context()
	u := userOf(r)
	b, err := s.ruleBase()
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f := tracewatch.ClueFilter{Limit: -1}
	if err := scope(u, &f); err != nil {
		s.apiFail(w, r, err)
		return
	}
	groups, err := s.st.ClueGroups(ctx, f, tracewatch.ByDetector|tracewatch.BySeverity|tracewatch.ByState)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	byRule := map[string][]tracewatch.ClueGroup{}
	for _, g := range groups {
		name, _, _ := strings.Cut(g.Detector, "@")
		byRule[name] = append(byRule[name], g)
	}
	df := f
	df.States = decidedStates
	decided, err := s.st.Clues(ctx, df)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	outcomes := map[string]*outcomeFigures{}
	for _, c := range decided {
		name := c.DetectorName()
		if outcomes[name] == nil {
			outcomes[name] = &outcomeFigures{}
		}
		outcomes[name].add(c)
	}
	out := struct {
		Rules    []ruleJSON `json:"rules"`
		Editable bool       `json:"editable"` // the caller is an admin and the server keeps a rule base file
		File     string     `json:"file"`     // the rule base file's name; "" for the embedded default
		Region   string     `json:"region"`   // the figures' region ("" everywhere)
	}{Rules: []ruleJSON{}, Editable: u.Role == tracewatch.RoleAdmin && s.rules != nil, Region: string(u.Region)}
	if s.rules != nil {
		out.File = filepath.Base(s.rules.Path())
	}
	for _, e := range b.Entries {
		j := ruleOf(e)
		j.Figures.clueBreakdown = breakdown(byRule[e.Spec().Name], nil)
		if o := outcomes[e.Spec().Name]; o != nil {
			j.Figures.Outcomes = *o
		}
		out.Rules = append(out.Rules, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// maxRuleBody bounds the body of a rule edit.
const maxRuleBody = 16 << 10

// handleSetRule answers POST /api/v1/rules/{name} (admin) with {"enabled", "severity",
// "params": {name: value}}: one rule's settings changed, each value checked by the rule
// base (a refused one names its field: 400), written to the rule base file, applied to
// the counter at once and to every screening from now on, and audited (rule_set). The
// answer is the rule as it now stands.
func (s *Server) handleSetRule(w http.ResponseWriter, r *http.Request) {
	const op = "server.SetRule"
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if s.rules == nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindNotFound, "this server keeps no rule base file: rules are changed in the file of serve --rules"))
		return
	}
	var in struct {
		Enabled  *bool                      `json:"enabled"`
		Severity string                     `json:"severity"`
		Params   map[string]json.RawMessage `json:"params"`
	}
	if err := readJSON(w, r, maxRuleBody, &in, `{"enabled": true, "severity": "suspicious", "params": {"min_coverage": 0.9}}`); err != nil {
		s.apiFail(w, r, err)
		return
	}
	c := rules.Change{Enabled: in.Enabled, Severity: in.Severity, Params: map[string]string{}}
	for k, raw := range in.Params {
		raw = bytes.TrimSpace(raw)
		var v string
		if len(raw) > 0 && raw[0] == '"' {
			if err := json.Unmarshal(raw, &v); err != nil {
				s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a number or a string").WithField(short(k)))
				return
			}
		} else if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			v = string(raw)
		} else {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a number or a string").WithField(short(k)))
			return
		}
		c.Params[k] = v
	}
	b, err := s.ruleBase()
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	name := r.PathValue("name")
	before, ok := b.Entry(name)
	if !ok {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindNotFound, "unknown rule %q: GET /api/v1/rules lists them", short(name)).WithField("name"))
		return
	}
	was := ruleOf(before)
	note := u.Name + " " + s.now().In(tracewatch.Beijing).Format(time.DateTime) + " 在工作台修改"
	nb, err := s.rules.Set(name, c, note)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if s.index != nil {
		s.index.SetRules(nb.All()) // the counter checks with the new settings from the next request
	}
	e, _ := nb.Entry(name)
	now := ruleOf(e)
	if err := s.audit(r, u.Name, "rule_set", "rule:"+now.ID, map[string]any{"file": s.rules.Path(),
		"before": map[string]any{"enabled": was.Enabled, "severity": was.Severity, "params": paramValues(was)},
		"after":  map[string]any{"enabled": now.Enabled, "severity": now.Severity, "params": paramValues(now)}}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": now, "file": filepath.Base(s.rules.Path()),
		"applied": "已写入规则库文件；事中审核（计数器）立即按新设置检查，此后的每次筛查都使用新设置；已产生的线索不变。"})
}

func paramValues(j ruleJSON) map[string]string {
	m := map[string]string{}
	for _, p := range j.Params {
		m[p.Name] = p.Value
	}
	return m
}

// rulesPage is 规则: the rule base with each rule's figures, filled in by rules.js from
// GET /api/v1/rules; an admin gets the forms that edit it.
func (s *Server) rulesPage(w http.ResponseWriter, r *http.Request, p principal) {
	s.render(w, r, http.StatusOK, pageSpec{template: "rules", title: "规则", nav: "/rules", scripts: []string{"rules.js"}}, p, nil)
}
