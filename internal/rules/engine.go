// Package rules is the rule engine (规则库): rules registered explicitly, one file each,
// every one with a Spec (id@version, Chinese title, type, stages, scenes, policy basis,
// typed parameters with bounds) and an evaluation over typed facts (internal/facts),
// run over a window and turned into fingerprinted clues (docs/rules.md). The rule base
// (rulebase.go) is data over them: which run, with which parameters, severity and
// regions; the counter check (counter.go) runs T1–T4 and C8 with the same rule values.
//
// A rule never sees SQL: it reads facts through facts.Reader, which the stores
// implement (docs/facts.md).
package rules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// Env is what a run gives every rule: the fact reader, the window, the evaluation time
// and the reference data.
type Env struct {
	Src          facts.Reader
	Window       tracewatch.Window
	At           time.Time // the evaluation time: first_seen of new clues
	Institutions map[string]tracewatch.Institution
	Drugs        map[string]tracewatch.Drug
	Regions      map[tracewatch.Region]tracewatch.RegionInfo
	// Limits is the knowledge base (知识库) of drug limits by drug: the drug_limits rows,
	// field by field over the limits the drug catalog's own columns state.
	Limits map[string]tracewatch.DrugLimit
	// RuleID is the id (name@version) of the rule being evaluated: Run gives each rule
	// its own copy of the Env with it set, for the clues' fingerprints.
	RuleID string
}

// NewEnv loads the reference data a run needs.
func NewEnv(ctx context.Context, src facts.Reader, w tracewatch.Window, at time.Time) (*Env, error) {
	env := &Env{Src: src, Window: w, At: at, Institutions: map[string]tracewatch.Institution{},
		Drugs: map[string]tracewatch.Drug{}, Regions: map[tracewatch.Region]tracewatch.RegionInfo{}}
	ins, err := src.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		env.Institutions[in.Code] = in
	}
	ds, err := src.Drugs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		env.Drugs[d.Code] = d
	}
	rs, err := src.Regions(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		env.Regions[r.Code] = r
	}
	kb, err := src.DrugLimits(ctx)
	if err != nil {
		return nil, err
	}
	env.Limits = mergeLimits(env.Drugs, kb)
	return env, nil
}

// mergeLimits builds the knowledge base of drug limits: the limits the catalog states
// (drugs gender_limit, min_age, max_age, max_days), each field replaced by the
// drug_limits row's where that row sets it.
func mergeLimits(drugs map[string]tracewatch.Drug, kb []tracewatch.DrugLimit) map[string]tracewatch.DrugLimit {
	out := map[string]tracewatch.DrugLimit{}
	for code, d := range drugs {
		if d.GenderLimit != "" || d.MinAge > 0 || d.MaxAge > 0 || d.MaxDays > 0 {
			out[code] = tracewatch.DrugLimit{DrugCode: code, Gender: d.GenderLimit, MinAge: d.MinAge, MaxAge: d.MaxAge, MaxDays: d.MaxDays}
		}
	}
	for _, k := range kb {
		l := out[k.DrugCode]
		l.DrugCode = k.DrugCode
		if k.Gender != "" {
			l.Gender = k.Gender
		}
		if k.MinAge > 0 || k.MaxAge > 0 {
			l.MinAge, l.MaxAge = k.MinAge, k.MaxAge
		}
		if k.MaxDays > 0 {
			l.MaxDays = k.MaxDays
		}
		if k.DailyDose > 0 {
			l.DailyDose = k.DailyDose
		}
		if k.MaxQty > 0 {
			l.MaxQty, l.PeriodDays = k.MaxQty, k.PeriodDays
		}
		if k.InstitutionLevel != "" {
			l.InstitutionLevel = k.InstitutionLevel
		}
		if len(k.Scenes) > 0 {
			l.Scenes = k.Scenes
		}
		if k.Basis != "" {
			l.Basis = k.Basis
		}
		if k.PriceCeiling > 0 {
			l.PriceCeiling = k.PriceCeiling
		}
		if k.KeyDrug != "" {
			l.KeyDrug = k.KeyDrug
		}
		out[k.DrugCode] = l
	}
	return out
}

// limitedDrugs lists, sorted, the drugs whose knowledge-base limits satisfy keep.
func (env *Env) limitedDrugs(keep func(tracewatch.DrugLimit) bool) []string {
	out := []string{}
	for code, l := range env.Limits {
		if keep(l) {
			out = append(out, code)
		}
	}
	sort.Strings(out)
	return out
}

// Registry returns a fresh instance of every rule with its default parameters, in the
// canonical order: the trace rules T1–T6 (T3C after T3, T6A after T6), the claims rules
// C1–C14, then the naive baseline B0 (optional: not run by default).
func Registry() []Rule {
	return []Rule{
		NewDuplicate(), NewSubstitution(), NewNoSource(), NewStockBalance(), NewAnomaly(), NewPackage(), NewCollection(), NewAccess(),
		NewGender(), NewAge(), NewOverSupply(), NewFrequency(), NewSplitStay(), NewBedHolding(), NewAfterDeath(), NewSuspended(),
		NewImpossibleTravel(), NewGang(), NewKeyDrug(), NewResaleRing(), NewPhantomStay(), NewOverPrice(),
		NewBaseline(),
	}
}

// matches reports whether n names the rule: its id, its name without version, or its
// short name (T1, c10 …).
func matches(sp Spec, n string) bool {
	return n == sp.ID() || n == sp.Name || strings.EqualFold(n, sp.Short)
}

// Select returns fresh rules with their default parameters, those named (by id, name
// or short name); none named means every rule that is not optional.
func Select(names []string) ([]Rule, error) {
	return selectFrom(Registry(), names)
}

func selectFrom(all []Rule, names []string) ([]Rule, error) {
	if len(names) == 0 {
		var out []Rule
		for _, r := range all {
			if e, ok := r.(*Entry); ok && !e.Enabled {
				continue
			}
			if !r.Spec().Optional {
				out = append(out, r)
			}
		}
		return out, nil
	}
	var out []Rule
	for _, n := range names {
		found := false
		for _, r := range all {
			if matches(r.Spec(), strings.TrimSpace(n)) {
				out = append(out, r)
				found = true
				break
			}
		}
		if !found {
			return nil, tracewatch.Errorf("rules.Select", tracewatch.KindInvalid, "unknown rule %q", n).WithField("detector")
		}
	}
	return out, nil
}

// Result is what one rule produced in a run.
type Result struct {
	Rule    Rule
	Clues   []tracewatch.Clue
	Elapsed time.Duration
	Err     error // the rule failed (Clues is then empty); the others still ran
}

// Run evaluates the rules one after another over env and returns their clues, each
// rule's in a deterministic order. progress, when not nil, is told when each starts. A
// rule of a rule base (*Entry) keeps only the clues inside its regions, at most at its
// severity.
//
// One failing rule does not stop the others: its Result carries the error (prefixed
// with the rule's id) and no clues, even if it emitted some before failing, and a panic
// inside a rule is recovered as such an error. Run returns a Result for every rule and,
// when any failed, their errors joined. A cancelled ctx stops the run: Run returns the
// results so far and the context's error.
func Run(ctx context.Context, env *Env, rs []Rule, progress func(r Rule, i, n int)) ([]Result, error) {
	out := make([]Result, 0, len(rs))
	var failed []error
	for i, r := range rs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if progress != nil {
			progress(r, i, len(rs))
		}
		start := time.Now()
		clues, err := runOne(ctx, env, r)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			err = fmt.Errorf("%s: %w", ID(r), err)
			failed = append(failed, err)
			out = append(out, Result{Rule: r, Elapsed: time.Since(start), Err: err})
			continue
		}
		sort.SliceStable(clues, func(i, j int) bool { return clues[i].Fingerprint < clues[j].Fingerprint })
		out = append(out, Result{Rule: r, Clues: clues, Elapsed: time.Since(start)})
	}
	return out, errors.Join(failed...)
}

// runOne evaluates one rule, turning a panic into an error.
func runOne(ctx context.Context, env *Env, r Rule) (clues []tracewatch.Clue, err error) {
	defer func() {
		if p := recover(); p != nil {
			clues, err = nil, tracewatch.Errorf("rules.Run", tracewatch.KindInternal, "panic: %v", p)
		}
	}()
	id := ID(r)
	entry, _ := r.(*Entry)
	renv := *env
	renv.RuleID = id
	err = r.Eval(ctx, &renv, func(c tracewatch.Clue) {
		if c.Detector == "" {
			c.Detector = id
		}
		if c.Region == "" {
			c.Region = env.Institutions[c.Institution].Region
		}
		if !env.Window.InRegion(c.Region) {
			return
		}
		if entry != nil {
			if !entry.applies(c.Region) {
				return
			}
			if entry.Severity > 0 && c.Severity > entry.Severity {
				c.Severity = entry.Severity
			}
		}
		c.State = tracewatch.ClueNew
		c.FirstSeen, c.LastSeen = env.At, env.At
		c.Normalize()
		clues = append(clues, c)
	})
	if err != nil {
		return nil, err
	}
	return clues, nil
}
