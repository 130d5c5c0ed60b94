package rules

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"tracewatch"
)

// A rule (规则) is one file of this package: its Spec (what it is, where it applies, its
// typed parameters with their bounds) and its evaluation over typed facts (Eval). The
// rule base (rulebase.go) is data over the rules: which run, with which parameters,
// severity and regions (docs/rules.md).

// Type is a rule's kind in the 两库 catalogue: a policy rule (政策: payment policy, catalog
// limits), a management rule (管理: traceability, agreements) or a medical rule (医疗:
// clinical reasonableness).
type Type string

// The rule types.
const (
	TypePolicy     Type = "政策"
	TypeManagement Type = "管理"
	TypeMedical    Type = "医疗"
)

// Stage is when a rule runs: before a service (事前 reminder), at the counter before
// settlement (事中 review), or over the stored facts after it (事后 screening).
type Stage string

// The stages.
const (
	StageBefore Stage = "事前"
	StageDuring Stage = "事中"
	StageAfter  Stage = "事后"
)

// Scene is a care setting a rule applies to.
type Scene string

// The scenes.
const (
	SceneOutpatient Scene = "门诊"
	SceneInpatient  Scene = "住院"
	ScenePharmacy   Scene = "购药"
)

// ParamKind is the type of a rule parameter's value.
type ParamKind string

// The parameter kinds: an integer, a decimal, a duration (Go syntax: 10m, 1h, 36h).
const (
	KindInt      ParamKind = "int"
	KindFloat    ParamKind = "float"
	KindDuration ParamKind = "duration"
)

// Param is one typed parameter of a rule, bound to the rule's field. Default, Min and
// Max are in the value's text form (Min and Max inclusive).
type Param struct {
	Name    string
	Kind    ParamKind
	Default string
	Min     string
	Max     string
	Unit    string // what the value counts: 天, 盒, 人, a share …
	Doc     string
	ptr     any // *int, *int64, *float64 or *time.Duration
}

// IntParam declares an integer parameter bound to *p.
func IntParam(name string, p *int, def, lo, hi int, unit, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: strconv.Itoa(def), Min: strconv.Itoa(lo), Max: strconv.Itoa(hi), Unit: unit, Doc: doc, ptr: p}
}

// Int64Param declares an integer parameter bound to an int64 field.
func Int64Param(name string, p *int64, def, lo, hi int64, unit, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: strconv.FormatInt(def, 10), Min: strconv.FormatInt(lo, 10), Max: strconv.FormatInt(hi, 10), Unit: unit, Doc: doc, ptr: p}
}

// FloatParam declares a decimal parameter bound to *p.
func FloatParam(name string, p *float64, def, lo, hi float64, unit, doc string) Param {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return Param{Name: name, Kind: KindFloat, Default: f(def), Min: f(lo), Max: f(hi), Unit: unit, Doc: doc, ptr: p}
}

// DurationParam declares a duration parameter bound to *p.
func DurationParam(name string, p *time.Duration, def, lo, hi time.Duration, doc string) Param {
	return Param{Name: name, Kind: KindDuration, Default: durText(def), Min: durText(lo), Max: durText(hi), Doc: doc, ptr: p}
}

// durText writes a duration without trailing zero units (1h, not 1h0m0s).
func durText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Spec is what a rule declares about itself (the 规则库 entry): identity and version,
// its Chinese title, type, stages, scenes, the period it looks at, the highest severity
// its clues take, its policy basis and its parameters.
type Spec struct {
	Name     string // e.g. trace.duplicate
	Version  int    // bumped whenever the rule's logic changes
	Short    string // T1 … T6, T3C, C1 …, B0
	Title    string // Chinese name, e.g. 重复销售
	Type     Type
	Stages   []Stage
	Scenes   []Scene
	Period   string              // the facts it looks at, e.g. 码的全部销售历史, 筛查窗口
	Severity tracewatch.Severity // the highest severity of its clues
	Basis    string              // 政策依据
	Params   []Param
	// Optional rules are not run by a screen that names none (the naive baseline B0).
	Optional bool
}

// ID is name@version, the id clues and labels carry.
func (s Spec) ID() string { return s.Name + "@" + strconv.Itoa(s.Version) }

// Param returns the parameter of that name.
func (s Spec) Param(name string) (Param, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Rule is one rule of the rule base.
type Rule interface {
	// Spec describes the rule; its Params are bound to this instance's fields.
	Spec() Spec
	// Eval evaluates the rule over env's facts and emits its clues.
	Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error
}

// ID returns a rule's id (name@version).
func ID(r Rule) string { return r.Spec().ID() }

// Name returns a rule's name without its version.
func Name(r Rule) string { return r.Spec().Name }

// withDefaults sets every parameter of r to its default and returns r.
func withDefaults[R Rule](r R) R {
	for _, p := range r.Spec().Params {
		if err := p.set(p.Default); err != nil {
			panic(r.Spec().ID() + ": default of " + p.Name + ": " + err.Error())
		}
	}
	return r
}

// SetParam sets a parameter of r from its text form, checked against its kind and
// bounds.
func SetParam(r Rule, name, value string) error {
	sp := r.Spec()
	p, ok := sp.Param(name)
	if !ok {
		return tracewatch.Errorf("rules.SetParam", tracewatch.KindInvalid, "%s has no parameter %q", sp.ID(), name).WithField(name)
	}
	if err := p.set(strings.TrimSpace(value)); err != nil {
		return tracewatch.Errorf("rules.SetParam", tracewatch.KindInvalid, "%s: %s = %q: %v", sp.ID(), name, value, err).WithField(name)
	}
	return nil
}

// ParamValue returns a parameter's current value in its text form.
func ParamValue(r Rule, name string) string {
	p, ok := r.Spec().Param(name)
	if !ok {
		return ""
	}
	return p.value()
}

// ParamValues returns every parameter's current value by name.
func ParamValues(r Rule) map[string]string {
	out := map[string]string{}
	for _, p := range r.Spec().Params {
		out[p.Name] = p.value()
	}
	return out
}

func (p Param) value() string {
	switch v := p.ptr.(type) {
	case *int:
		return strconv.Itoa(*v)
	case *int64:
		return strconv.FormatInt(*v, 10)
	case *float64:
		return strconv.FormatFloat(*v, 'g', -1, 64)
	case *time.Duration:
		return durText(*v)
	}
	return ""
}

// errRange is a value outside a parameter's bounds.
type errRange struct{ min, max string }

func (e errRange) Error() string { return "want a value from " + e.min + " to " + e.max }

// set parses s by the parameter's kind, checks its bounds and stores it.
func (p Param) set(s string) error {
	switch v := p.ptr.(type) {
	case *int, *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errKind("an integer")
		}
		lo, _ := strconv.ParseInt(p.Min, 10, 64)
		hi, _ := strconv.ParseInt(p.Max, 10, 64)
		if n < lo || n > hi {
			return errRange{p.Min, p.Max}
		}
		if pi, ok := v.(*int); ok {
			*pi = int(n)
		} else {
			*v.(*int64) = n
		}
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errKind("a number")
		}
		lo, _ := strconv.ParseFloat(p.Min, 64)
		hi, _ := strconv.ParseFloat(p.Max, 64)
		if f < lo || f > hi {
			return errRange{p.Min, p.Max}
		}
		*v = f
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return errKind("a duration such as 10m, 1h or 36h")
		}
		lo, _ := time.ParseDuration(p.Min)
		hi, _ := time.ParseDuration(p.Max)
		if d < lo || d > hi {
			return errRange{p.Min, p.Max}
		}
		*v = d
	default:
		return errKind("a value of a known kind")
	}
	return nil
}

type errKind string

func (e errKind) Error() string { return "want " + string(e) }
