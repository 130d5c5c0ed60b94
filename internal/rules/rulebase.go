package rules

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"tracewatch"
)

// The rule base (规则库) as data (docs/rules.md#the-rule-base): for every rule, whether it
// runs, its parameters, the highest severity its clues may take and the regions it
// applies to. The embedded default (default.rules) states every rule at its defaults; a
// province's own file (`--rules FILE`) changes what it names and leaves the rest.
//
// Two forms are read. The text form, one section per rule:
//
//	# comment
//	[trace.nosource@1]          # id, name or short name (T3)
//	enabled = true
//	severity = 高度可疑          # or highly_suspicious
//	regions = 330100, 330200    # empty: everywhere
//	min_coverage = 0.9          # any parameter of the rule
//
// and the JSON form `rules export --json` writes: {"rules": [{"id", "enabled",
// "severity", "params": {name: value}, "regions"}]}.

//go:embed default.rules
var defaultRules []byte

// Entry is a rule as the rule base sets it. It is itself a Rule: Run applies its
// regions and severity to the clues.
type Entry struct {
	Rule
	Enabled bool
	// Severity caps the severity of the rule's clues (a province not yet trusting a rule
	// sets 提示); 0 leaves the rule's own grading.
	Severity tracewatch.Severity
	Regions  []tracewatch.Region // the regions the rule applies to; none: everywhere
}

// applies reports whether the entry applies to a clue of region r (an unknown region
// is kept only when the entry names none).
func (e *Entry) applies(r tracewatch.Region) bool {
	if len(e.Regions) == 0 {
		return true
	}
	for _, x := range e.Regions {
		if x.Contains(r) {
			return true
		}
	}
	return false
}

// EffectiveSeverity is the highest severity the entry's clues take.
func (e *Entry) EffectiveSeverity() tracewatch.Severity {
	if e.Severity > 0 && e.Severity < e.Spec().Severity {
		return e.Severity
	}
	return e.Spec().Severity
}

// Base is an effective rule base: every registered rule, in the registry's order.
type Base struct {
	Entries []*Entry
}

// DefaultBase returns the rule base of the embedded default file.
func DefaultBase() *Base {
	b := &Base{}
	for _, r := range Registry() {
		b.Entries = append(b.Entries, &Entry{Rule: r, Enabled: !r.Spec().Optional})
	}
	if err := b.Apply(defaultRules, "default.rules"); err != nil {
		panic("rules: the embedded default.rules: " + err.Error())
	}
	return b
}

// LoadBase returns the default rule base with the file at path applied; an empty path
// gives the default.
func LoadBase(path string) (*Base, error) {
	b := DefaultBase()
	if path == "" {
		return b, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, tracewatch.Errorf("rules.LoadBase", tracewatch.KindInvalid, "%v", err).WithField("rules")
	}
	if err := b.Apply(data, path); err != nil {
		return nil, err
	}
	return b, nil
}

// All returns every entry as a Rule.
func (b *Base) All() []Rule {
	all := make([]Rule, len(b.Entries))
	for i, e := range b.Entries {
		all[i] = e
	}
	return all
}

// Entry returns the entry of the rule named by id, name or short name.
func (b *Base) Entry(name string) (*Entry, bool) {
	name = strings.TrimSpace(name)
	for _, e := range b.Entries {
		if matches(e.Spec(), name) {
			return e, true
		}
	}
	return nil, false
}

// Rules returns the entries named, or every enabled one (optional rules only when
// named); a named rule runs even when the base disables it.
func (b *Base) Rules(names []string) ([]Rule, error) {
	return selectFrom(b.All(), names)
}

// entryFile is one rule of the rule base's JSON form.
type entryFile struct {
	ID       string                     `json:"id"`
	Enabled  *bool                      `json:"enabled,omitempty"`
	Severity string                     `json:"severity,omitempty"`
	Params   map[string]json.RawMessage `json:"params,omitempty"`
	Regions  []string                   `json:"regions"`
	// What export writes for the reader; ignored when read back.
	Version json.RawMessage `json:"version,omitempty"`
	Title   json.RawMessage `json:"title,omitempty"`
	Type    json.RawMessage `json:"type,omitempty"`
	Stage   json.RawMessage `json:"stage,omitempty"`
	Scenes  json.RawMessage `json:"scenes,omitempty"`
	Period  json.RawMessage `json:"period,omitempty"`
	Basis   json.RawMessage `json:"basis,omitempty"`
	Short   json.RawMessage `json:"short,omitempty"`
}

// Apply applies a rule-base file (text or JSON form) named source to b. Nothing is
// changed when the file has an error: the error names the line (text) or the rule
// (JSON) and the field.
func (b *Base) Apply(data []byte, source string) error {
	var sections []section
	var err error
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		sections, err = parseJSON(data, source)
	} else {
		sections, err = parseText(data, source)
	}
	if err != nil {
		return err
	}
	// Apply to copies, so that an error leaves b as it was. A rule named in several
	// sections takes them in order: a later section changes what it names and keeps what
	// the earlier ones set.
	type change struct {
		e    *Entry
		next Entry
		set  map[string]string
		keys []string
	}
	var changes []*change
	byEntry := map[*Entry]*change{}
	for _, s := range sections {
		e, ok := b.Entry(s.id)
		if !ok {
			name, _, _ := strings.Cut(s.id, "@")
			e, ok = b.Entry(name)
			if !ok {
				return s.errorf("", "unknown rule %q", s.id)
			}
		}
		if _, v, ok := strings.Cut(s.id, "@"); ok && v != strconv.Itoa(e.Spec().Version) {
			return s.errorf("", "%s is at version %d, the file was written for @%s: review its settings and name the current version", e.Spec().Name, e.Spec().Version, v)
		}
		c := byEntry[e]
		if c == nil {
			c = &change{e: e, next: *e, set: map[string]string{}}
			c.next.Regions = append([]tracewatch.Region(nil), e.Regions...)
			byEntry[e] = c
			changes = append(changes, c)
		}
		if s.enabled != nil {
			c.next.Enabled = *s.enabled
		}
		if s.severity != nil {
			c.next.Severity = *s.severity
		}
		if s.regions != nil {
			c.next.Regions = s.regions
		}
		for _, k := range s.order {
			p, ok := e.Spec().Param(k)
			if !ok {
				return s.errorf(k, "%s has no parameter %q (it has %s)", e.Spec().ID(), k, paramNames(e.Spec()))
			}
			if err := p.check(s.params[k]); err != nil {
				return s.errorf(k, "%s: %s = %q: %v", e.Spec().ID(), k, s.params[k], err)
			}
			if _, seen := c.set[k]; !seen {
				c.keys = append(c.keys, k)
			}
			c.set[k] = s.params[k]
		}
	}
	for _, c := range changes {
		c.e.Enabled, c.e.Severity, c.e.Regions = c.next.Enabled, c.next.Severity, c.next.Regions
		for _, k := range c.keys {
			if err := SetParam(c.e.Rule, k, c.set[k]); err != nil {
				return err // checked above
			}
		}
	}
	return nil
}

func paramNames(sp Spec) string {
	if len(sp.Params) == 0 {
		return "none"
	}
	var n []string
	for _, p := range sp.Params {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// check reports whether s is a valid value of p without setting it.
func (p Param) check(s string) error {
	q := p
	switch p.ptr.(type) {
	case *int:
		q.ptr = new(int)
	case *int64:
		q.ptr = new(int64)
	case *float64:
		q.ptr = new(float64)
	default:
		q.ptr = new(time.Duration)
	}
	return q.set(strings.TrimSpace(s))
}

// section is one rule's settings read from a file.
type section struct {
	source   string
	line     int // of the section header (text form); 0 in JSON
	id       string
	enabled  *bool
	severity *tracewatch.Severity
	regions  []tracewatch.Region // nil: not set
	params   map[string]string
	order    []string
	lines    map[string]int // of each parameter (text form)
}

func (s *section) errorf(field, format string, args ...any) error {
	where := s.source
	if n := s.lines[field]; n > 0 {
		where += ":" + strconv.Itoa(n)
	} else if s.line > 0 {
		where += ":" + strconv.Itoa(s.line)
	} else {
		where += ": rule " + strconv.Quote(s.id)
	}
	err := tracewatch.Errorf("rules.Apply", tracewatch.KindInvalid, "%s: %s", where, fmt.Sprintf(format, args...))
	if field != "" {
		err = err.WithField(field)
	}
	return err
}

func (s *section) setParam(k, v string) {
	if s.params == nil {
		s.params = map[string]string{}
	}
	if _, ok := s.params[k]; !ok {
		s.order = append(s.order, k)
	}
	s.params[k] = v
}

func parseRegions(v string) ([]tracewatch.Region, error) {
	out := []tracewatch.Region{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '，' }) {
		r, err := tracewatch.ParseRegion(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseText reads the text form.
func parseText(data []byte, source string) ([]section, error) {
	var out []section
	var cur *section
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	errAt := func(field, format string, args ...any) error {
		err := tracewatch.Errorf("rules.Apply", tracewatch.KindInvalid, "%s:%d: %s", source, n, fmt.Sprintf(format, args...))
		if field != "" {
			err = err.WithField(field)
		}
		return err
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, errAt("", "a section header is [rule id]")
			}
			out = append(out, section{source: source, line: n, id: strings.TrimSpace(line[1 : len(line)-1])})
			cur = &out[len(out)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errAt("", "want name = value")
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if cur == nil {
			return nil, errAt(k, "%s is outside a [rule] section", k)
		}
		switch k {
		case "enabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, errAt(k, "enabled = %q: want true or false", v)
			}
			cur.enabled = &b
		case "severity":
			sev, err := tracewatch.ParseSeverity(v)
			if err != nil {
				return nil, errAt(k, "%v", err)
			}
			cur.severity = &sev
		case "regions":
			rs, err := parseRegions(v)
			if err != nil {
				return nil, errAt(k, "%v", err)
			}
			cur.regions = rs
		default:
			cur.setParam(k, v)
			if cur.lines == nil {
				cur.lines = map[string]int{}
			}
			cur.lines[k] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, errAt("", "%v", err)
	}
	return out, nil
}

// parseJSON reads the JSON form.
func parseJSON(data []byte, source string) ([]section, error) {
	var f struct {
		Rules []entryFile `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, tracewatch.Errorf("rules.Apply", tracewatch.KindInvalid, "%s: %v", source, err).WithField("rules")
	}
	var out []section
	for i, r := range f.Rules {
		s := section{source: source, id: r.ID, enabled: r.Enabled}
		if r.ID == "" {
			return nil, tracewatch.Errorf("rules.Apply", tracewatch.KindInvalid, "%s: rules[%d] has no id", source, i).WithField("id")
		}
		if r.Severity != "" {
			sev, err := tracewatch.ParseSeverity(r.Severity)
			if err != nil {
				return nil, s.errorf("severity", "%v", err)
			}
			s.severity = &sev
		}
		if r.Regions != nil {
			rs, err := parseRegions(strings.Join(r.Regions, ","))
			if err != nil {
				return nil, s.errorf("regions", "%v", err)
			}
			s.regions = rs
		}
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			raw := bytes.TrimSpace(r.Params[k])
			var v string
			if len(raw) > 0 && raw[0] == '"' {
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, s.errorf(k, "%v", err)
				}
			} else {
				v = string(raw)
			}
			s.setParam(k, v)
		}
		out = append(out, s)
	}
	return out, nil
}

// ExportedRule is one rule of the effective rule base as `rules export --json` and
// `rules list --json` write it.
type ExportedRule struct {
	ID       string         `json:"id"`
	Version  int            `json:"version"`
	Title    string         `json:"title"`
	Type     Type           `json:"type"`
	Stage    []Stage        `json:"stage"`
	Scenes   []Scene        `json:"scenes"`
	Period   string         `json:"period"`
	Basis    string         `json:"basis"`
	Short    string         `json:"short"`
	Enabled  bool           `json:"enabled"`
	Severity string         `json:"severity"`
	Params   map[string]any `json:"params"`
	Regions  []string       `json:"regions"`
}

// paramJSON is a parameter's value in JSON: a number for int and float, a string for a
// duration.
func paramJSON(p Param) any {
	v := p.value()
	if p.Kind == KindDuration {
		return v
	}
	return json.Number(v)
}

// Export returns the effective rule base, rule by rule.
func (b *Base) Export() []ExportedRule {
	out := make([]ExportedRule, 0, len(b.Entries))
	for _, e := range b.Entries {
		sp := e.Spec()
		x := ExportedRule{ID: sp.ID(), Version: sp.Version, Title: sp.Title, Type: sp.Type, Stage: sp.Stages, Scenes: sp.Scenes,
			Period: sp.Period, Basis: sp.Basis, Short: sp.Short, Enabled: e.Enabled, Severity: e.EffectiveSeverity().String(),
			Params: map[string]any{}, Regions: []string{}}
		for _, p := range sp.Params {
			x.Params[p.Name] = paramJSON(p)
		}
		for _, r := range e.Regions {
			x.Regions = append(x.Regions, string(r))
		}
		out = append(out, x)
	}
	return out
}

// Text writes the effective rule base in the text form, with each rule's title, basis
// and parameter documentation as comments: a file a province can edit and pass back.
func (b *Base) Text() []byte {
	var w bytes.Buffer
	w.WriteString("# tracewatch rule base (规则库): docs/rules.md describes this file.\n")
	for _, e := range b.Entries {
		sp := e.Spec()
		fmt.Fprintf(&w, "\n# %s %s（%s，%s）\n# 政策依据：%s\n[%s]\n", sp.Short, sp.Title, sp.Type, stagesText(sp.Stages), sp.Basis, sp.ID())
		fmt.Fprintf(&w, "enabled = %t\n", e.Enabled)
		fmt.Fprintf(&w, "severity = %s\n", e.EffectiveSeverity().Chinese())
		var rs []string
		for _, r := range e.Regions {
			rs = append(rs, string(r))
		}
		fmt.Fprintf(&w, "regions =%s\n", strings.TrimRight(" "+strings.Join(rs, ", "), " "))
		for _, p := range sp.Params {
			unit := ""
			if p.Unit != "" {
				unit = "，单位 " + p.Unit
			}
			fmt.Fprintf(&w, "%s = %s    # %s（默认 %s，范围 %s–%s%s）\n", p.Name, p.value(), p.Doc, p.Default, p.Min, p.Max, unit)
		}
	}
	return w.Bytes()
}

func stagesText(st []Stage) string {
	s := make([]string, len(st))
	for i, x := range st {
		s[i] = string(x)
	}
	return strings.Join(s, "、")
}
