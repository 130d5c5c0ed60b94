package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"tracewatch"
	"tracewatch/internal/eval"
	"tracewatch/internal/rules"
	"tracewatch/internal/rules/rulestest"
)

func init() {
	register("rules", "the rule base: rules list [--rules FILE] [--json] | show ID | test FILE… | export [--rules FILE] [--json] | backtest ID [--from --to] [--param k=v…] [--labels FILE] [--json]", runRules)
}

const rulesUsage = `usage:
  tracewatch rules list [--rules FILE] [--json]     every rule: id, version, title, type, stage, enabled, severity, params
  tracewatch rules show [--rules FILE] ID           one rule: its spec, basis and parameters with their bounds
  tracewatch rules test FILE…                       run golden case files (txtar, docs/rules.md#golden-cases)
  tracewatch rules export [--rules FILE] [--json]   the effective rule base, in the text form or as JSON
  tracewatch rules backtest ID [--data-dir D] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--region R]
                        [--rules FILE] [--param name=value…] [--labels FILE] [--json]
                                                    run one rule as edited over the store's history
                                                    without writing clues`

func runRules(e env) int {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, rulesUsage)
		return exitUsage
	}
	sub, rest := e.args[0], e.args[1:]
	e.args = rest
	switch sub {
	case "list":
		return rulesList(e)
	case "show":
		return rulesShow(e)
	case "test":
		return rulesTest(e)
	case "export":
		return rulesExport(e)
	case "backtest":
		return rulesBacktest(e)
	case "-h", "--help", "help":
		fmt.Fprintln(e.stdout, rulesUsage)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "tracewatch rules: unknown subcommand %q\n%s\n", sub, rulesUsage)
	return exitUsage
}

// ruleListing is one entry of `rules list --json`.
type ruleListing struct {
	ID       string         `json:"id"`
	Version  int            `json:"version"`
	Title    string         `json:"title"`
	Type     rules.Type     `json:"type"`
	Stage    []rules.Stage  `json:"stage"`
	Scenes   []rules.Scene  `json:"scenes"`
	Short    string         `json:"short"`
	Enabled  bool           `json:"enabled"`
	Severity string         `json:"severity"`
	Params   map[string]any `json:"params"`
	Regions  []string       `json:"regions"`
	Basis    string         `json:"basis"`
	Counter  bool           `json:"counter"` // also runs at the counter (POST /api/v1/check)
}

func loadRuleBase(fs *flag.FlagSet, e env) (*rules.Base, *bool, int, bool) {
	file := rulesFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return nil, nil, code, false
	}
	b, err := rules.LoadBase(*file)
	if err != nil {
		return nil, nil, fail(e.stderr, "rules", err), false
	}
	return b, asJSON, 0, true
}

func rulesList(e env) int {
	fs := flag.NewFlagSet("rules list", flag.ContinueOnError)
	b, asJSON, code, ok := loadRuleBase(fs, e)
	if !ok {
		return code
	}
	var out []ruleListing
	for i, x := range b.Export() {
		out = append(out, ruleListing{ID: x.ID, Version: x.Version, Title: x.Title, Type: x.Type, Stage: x.Stage, Scenes: x.Scenes,
			Short: x.Short, Enabled: x.Enabled, Severity: x.Severity, Params: x.Params, Regions: x.Regions, Basis: x.Basis,
			Counter: rules.AtCounter(b.Entries[i])})
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	for _, r := range out {
		on := "on "
		if !r.Enabled {
			on = "off"
		}
		sev, _ := tracewatch.ParseSeverity(r.Severity)
		var ps []string
		for _, k := range sortedKeys(r.Params) {
			ps = append(ps, fmt.Sprintf("%s=%v", k, r.Params[k]))
		}
		fmt.Fprintf(e.stdout, "%-4s %-24s %s %-10s %s %-8s %s %s\n", r.Short, r.ID, on, r.Title, r.Type, stageText(r.Stage), sev.Chinese(), strings.Join(ps, " "))
	}
	return exitOK
}

func stageText(st []rules.Stage) string {
	s := make([]string, len(st))
	for i, x := range st {
		s[i] = string(x)
	}
	return strings.Join(s, "/")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func writeJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return exitFail
	}
	return exitOK
}

func rulesShow(e env) int {
	fs := flag.NewFlagSet("rules show", flag.ContinueOnError)
	b, asJSON, code, ok := loadRuleBase(fs, e)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: tracewatch rules show [--rules FILE] [--json] ID")
		return exitUsage
	}
	ent, found := b.Entry(fs.Arg(0))
	if !found {
		return fail(e.stderr, "rules show", tracewatch.Errorf("rules", tracewatch.KindNotFound, "unknown rule %q (tracewatch rules list names them)", fs.Arg(0)).WithField("id"))
	}
	sp := ent.Spec()
	if *asJSON {
		type param struct {
			Name, Kind, Default, Min, Max, Unit, Doc, Value string
		}
		var ps []param
		for _, p := range sp.Params {
			ps = append(ps, param{p.Name, string(p.Kind), p.Default, p.Min, p.Max, p.Unit, p.Doc, rules.ParamValue(ent, p.Name)})
		}
		return writeJSON(e.stdout, map[string]any{"id": sp.ID(), "version": sp.Version, "short": sp.Short, "title": sp.Title,
			"type": sp.Type, "stage": sp.Stages, "scenes": sp.Scenes, "period": sp.Period, "basis": sp.Basis,
			"enabled": ent.Enabled, "severity": ent.EffectiveSeverity().String(), "default_severity": sp.Severity.String(),
			"regions": ent.Regions, "params": ps})
	}
	w := e.stdout
	fmt.Fprintf(w, "%s %s (%s)\n", sp.Short, sp.Title, sp.ID())
	fmt.Fprintf(w, "  类型 %s  阶段 %s  场景 %s\n", sp.Type, stageText(sp.Stages), scenesText(sp.Scenes))
	fmt.Fprintf(w, "  周期 %s\n  政策依据 %s\n", sp.Period, sp.Basis)
	state := "启用"
	if !ent.Enabled {
		state = "停用"
	}
	fmt.Fprintf(w, "  %s  最高等级 %s（默认 %s）", state, ent.EffectiveSeverity().Chinese(), sp.Severity.Chinese())
	if len(ent.Regions) > 0 {
		var rs []string
		for _, r := range ent.Regions {
			rs = append(rs, string(r))
		}
		fmt.Fprintf(w, "  地区 %s", strings.Join(rs, ", "))
	}
	fmt.Fprintln(w)
	for _, p := range sp.Params {
		unit := ""
		if p.Unit != "" {
			unit = " " + p.Unit
		}
		fmt.Fprintf(w, "  %s = %s%s  (%s, default %s, %s–%s) %s\n", p.Name, rules.ParamValue(ent, p.Name), unit, p.Kind, p.Default, p.Min, p.Max, p.Doc)
	}
	return exitOK
}

func scenesText(sc []rules.Scene) string {
	s := make([]string, len(sc))
	for i, x := range sc {
		s[i] = string(x)
	}
	return strings.Join(s, "/")
}

func rulesExport(e env) int {
	fs := flag.NewFlagSet("rules export", flag.ContinueOnError)
	b, asJSON, code, ok := loadRuleBase(fs, e)
	if !ok {
		return code
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{"rules": b.Export()})
	}
	e.stdout.Write(b.Text())
	return exitOK
}

// rulesTest runs golden case files: PASS or FAIL with a diff per file; exit 1 when any
// fails.
func rulesTest(e env) int {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "usage: tracewatch rules test FILE…  (golden cases, docs/rules.md#golden-cases)")
		return exitUsage
	}
	failed := 0
	for _, path := range fs.Args() {
		_, c, err := rulestest.ReadCase(path)
		if err == nil {
			var res rulestest.Result
			res, err = c.Run(context.Background())
			if err == nil {
				var problems []string
				problems = append(problems, res.Problems...)
				if res.Got != c.Want {
					problems = append(problems, "the clues differ from the want section (- want, + got):\n"+rulestest.Diff(c.Want, res.Got))
				}
				if c.Bug != "" {
					fmt.Fprintf(e.stdout, "SKIP %s (known bug: %s)\n", path, c.Bug)
					continue
				}
				if len(problems) == 0 {
					fmt.Fprintf(e.stdout, "PASS %s\n", path)
					continue
				}
				failed++
				fmt.Fprintf(e.stdout, "FAIL %s\n", path)
				for _, p := range problems {
					fmt.Fprintf(e.stdout, "  %s\n", strings.ReplaceAll(p, "\n", "\n  "))
				}
				continue
			}
		}
		failed++
		fmt.Fprintf(e.stdout, "FAIL %s\n  %v\n", path, err)
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "tracewatch rules test: %d of %d cases failed\n", failed, fs.NArg())
		return exitFail
	}
	return exitOK
}

// backtestReport is what `rules backtest --json` prints.
type backtestReport struct {
	Rule       string            `json:"rule"`
	Window     map[string]string `json:"window"`
	Params     map[string]string `json:"params"`
	Hits       int               `json:"hits"`
	SaleLines  int64             `json:"sale_lines"`
	FireRate   float64           `json:"fire_rate"` // clues per 10,000 sale lines
	BySeverity map[string]int    `json:"by_severity"`
	AmountFen  int64             `json:"amount_fen"`
	Examples   []backtestExample `json:"examples"`
	// With labels: the planted cases of the rule, those found, the clues matching one,
	// those (可疑 or worse) matching none; precision and recall as tracewatch eval
	// computes them. Null without labels.
	Planted    *int     `json:"planted"`
	Matched    *int     `json:"matched"`
	FalseClues *int     `json:"false_clues"`
	Precision  *float64 `json:"precision"`
	Recall     *float64 `json:"recall"`
	// Outcomes scores the rule against the workflow's decisions on its stored clues
	// (closed with an outcome, or dismissed): null when none is decided yet.
	Outcomes    *outcomeScore `json:"outcomes"`
	ElapsedSecs float64       `json:"elapsed_seconds"`
}

// outcomeScore is a backtest against the workflow's outcomes: the stored clues of the
// rule that people decided are labels (confirmed or partial: true; dismissed: false).
type outcomeScore struct {
	Decided   int     `json:"decided"`   // stored clues of the rule closed or dismissed
	Confirmed int     `json:"confirmed"` // of the backtest's clues, those decided confirmed or partial
	Dismissed int     `json:"dismissed"` // of the backtest's clues, those decided dismissed
	Missed    int     `json:"missed"`    // confirmed clues the backtest no longer raises
	Precision float64 `json:"precision"` // confirmed / (confirmed + dismissed)
}

type backtestExample struct {
	Fingerprint string `json:"fingerprint"`
	Severity    string `json:"severity"`
	Rule        string `json:"rule"`
	Institution string `json:"institution"`
	Subject     string `json:"subject"`
	AmountFen   int64  `json:"amount_fen"`
	Explanation string `json:"explanation"`
}

func rulesBacktest(e env) int {
	fs := flag.NewFlagSet("rules backtest", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	wf := addWindowFlags(fs)
	file := rulesFlag(fs)
	var params listFlag
	fs.Var(&params, "param", "set a parameter of the rule, name=value (or rule.name=value); repeatable")
	labelsPath := fs.String("labels", "", "labels.jsonl of a synthetic province: adds precision and recall")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// The rule's id may come before or after the flags.
	args := e.args
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args, e.stderr); !ok {
		return code
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if id == "" || fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, "usage: tracewatch rules backtest ID [--data-dir D] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--region R] [--rules FILE] [--param name=value…] [--labels FILE] [--json]")
		return exitUsage
	}
	w, at, err := wf.parse()
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	b, err := rules.LoadBase(dataRulesFile(*dir, *file))
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	ent, found := b.Entry(id)
	if !found {
		return fail(e.stderr, "rules backtest", tracewatch.Errorf("rules", tracewatch.KindNotFound, "unknown rule %q (tracewatch rules list names them)", id).WithField("id"))
	}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fail(e.stderr, "rules backtest", tracewatch.Errorf("rules", tracewatch.KindInvalid, "--param %q: want name=value", p).WithField("param"))
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), rules.Name(ent)+".")
		if err := rules.SetParam(ent, k, v); err != nil {
			return fail(e.stderr, "rules backtest", err)
		}
	}
	var labels []eval.Label
	if *labelsPath != "" {
		f, err := os.Open(*labelsPath)
		if err != nil {
			return fail(e.stderr, "rules backtest", err)
		}
		labels, err = eval.ReadLabels(f)
		f.Close()
		if err != nil {
			return fail(e.stderr, "rules backtest", err)
		}
		if labels == nil {
			labels = []eval.Label{} // a province without planted cases: every clue is false
		}
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	defer st.Close()
	renv, err := rules.NewEnv(ctx, st, w, at)
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	// The rule runs as edited even when the rule base disables it.
	res, err := rules.Run(ctx, renv, []rules.Rule{ent}, nil)
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	counts, err := st.SaleLineCounts(ctx, w)
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	rep := backtestReport{Rule: rules.ID(ent), Window: windowMap(w), Params: rules.ParamValues(ent), BySeverity: map[string]int{},
		Examples: []backtestExample{}, ElapsedSecs: res[0].Elapsed.Seconds()}
	for in, n := range counts {
		if w.InRegion(renv.Institutions[in].Region) {
			rep.SaleLines += n
		}
	}
	clues := res[0].Clues
	rep.Hits = len(clues)
	for _, c := range clues {
		rep.BySeverity[c.Severity.String()]++
		rep.AmountFen += int64(c.AmountFen)
	}
	if rep.SaleLines > 0 {
		rep.FireRate = float64(rep.Hits) * 10000 / float64(rep.SaleLines)
	}
	top := append([]tracewatch.Clue(nil), clues...)
	sort.SliceStable(top, func(i, j int) bool {
		if top[i].AmountFen != top[j].AmountFen {
			return top[i].AmountFen > top[j].AmountFen
		}
		return top[i].Fingerprint < top[j].Fingerprint
	})
	for _, c := range top[:min(10, len(top))] {
		rep.Examples = append(rep.Examples, backtestExample{Fingerprint: c.Fingerprint, Severity: c.Severity.String(), Rule: c.Rule,
			Institution: c.Institution, Subject: string(c.Subject) + " " + c.SubjectID, AmountFen: int64(c.AmountFen), Explanation: c.Explanation})
	}
	if labels != nil {
		scoreBacktest(&rep, rules.Name(ent), labels, clues)
	}
	decided, err := st.Clues(ctx, tracewatch.ClueFilter{Detector: rules.Name(ent), Limit: -1,
		States: []tracewatch.ClueState{tracewatch.ClueClosed, tracewatch.ClueDismissed}})
	if err != nil {
		return fail(e.stderr, "rules backtest", err)
	}
	rep.Outcomes = scoreOutcomes(decided, clues)
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	printBacktest(e.stdout, rep)
	return exitOK
}

func windowMap(w tracewatch.Window) map[string]string {
	m := map[string]string{}
	if !w.From.IsZero() {
		m["from"] = w.From.In(cstZone).Format("2006-01-02")
	}
	if !w.To.IsZero() {
		m["to"] = w.To.In(cstZone).AddDate(0, 0, -1).Format("2006-01-02")
	}
	if w.Region != "" {
		m["region"] = string(w.Region)
	}
	return m
}

// scoreBacktest scores the rule's clues against the labels of its scenarios as
// tracewatch eval does: precision = clues matching a planted case / (those + clues of
// 可疑 or worse matching none), recall = planted cases found / planted.
func scoreBacktest(rep *backtestReport, name string, labels []eval.Label, clues []tracewatch.Clue) {
	f := eval.Evaluate(eval.Input{Labels: labels, Clues: clues})
	planted, tp, found, falseClues := 0, 0, 0, 0
	for _, s := range f.Scenarios {
		if s.Detector != name {
			continue
		}
		planted += s.Planted
		tp += s.TruePositives
		found += s.Found
		falseClues = s.FalseClues // per detector: the same on every scenario of it
	}
	if planted == 0 { // no scenario row carries the false clues
		for i := range clues {
			if eval.False(&clues[i], labels) {
				falseClues++
			}
		}
	}
	rep.Planted, rep.Matched, rep.FalseClues = &planted, &found, &falseClues
	var p, r float64
	if found+falseClues > 0 {
		p = float64(found) / float64(found+falseClues)
	} else if planted == 0 {
		p = 1 // nothing planted and nothing raised
	}
	if planted > 0 {
		r = float64(tp) / float64(planted)
	} else {
		r = 1
	}
	rep.Precision, rep.Recall = &p, &r
}

// scoreOutcomes scores a backtest's clues against the decided stored clues (nil when
// none is decided).
func scoreOutcomes(decided, clues []tracewatch.Clue) *outcomeScore {
	if len(decided) == 0 {
		return nil
	}
	truth := map[string]bool{}
	for _, c := range decided {
		confirmed := c.State == tracewatch.ClueClosed && c.Flow.Outcome != nil && c.Flow.Outcome.Result != tracewatch.OutcomeDismissed
		truth[c.Fingerprint] = confirmed
	}
	o := &outcomeScore{Decided: len(decided)}
	raised := map[string]bool{}
	for _, c := range clues {
		raised[c.Fingerprint] = true
		if confirmed, ok := truth[c.Fingerprint]; ok {
			if confirmed {
				o.Confirmed++
			} else {
				o.Dismissed++
			}
		}
	}
	for fp, confirmed := range truth {
		if confirmed && !raised[fp] {
			o.Missed++
		}
	}
	if o.Confirmed+o.Dismissed > 0 {
		o.Precision = float64(o.Confirmed) / float64(o.Confirmed+o.Dismissed)
	}
	return o
}

func printBacktest(w io.Writer, r backtestReport) {
	fmt.Fprintf(w, "%s backtest", r.Rule)
	for _, k := range sortedKeys(r.Window) {
		fmt.Fprintf(w, " %s=%s", k, r.Window[k])
	}
	fmt.Fprintln(w)
	var ps []string
	for _, k := range sortedKeys(r.Params) {
		ps = append(ps, k+"="+r.Params[k])
	}
	fmt.Fprintf(w, "  params: %s\n", strings.Join(ps, " "))
	fmt.Fprintf(w, "  hits %d over %d sale lines: %.3f per 10,000; amount %s 元; %.2fs\n", r.Hits, r.SaleLines, r.FireRate, tracewatch.Fen(r.AmountFen), r.ElapsedSecs)
	for _, k := range sortedKeys(r.BySeverity) {
		sev, _ := tracewatch.ParseSeverity(k)
		fmt.Fprintf(w, "  %s %d\n", sev.Chinese(), r.BySeverity[k])
	}
	if r.Precision != nil {
		fmt.Fprintf(w, "  labels: %d planted, %d clues match, %d false; precision %.3f recall %.3f\n", *r.Planted, *r.Matched, *r.FalseClues, *r.Precision, *r.Recall)
	}
	if o := r.Outcomes; o != nil {
		fmt.Fprintf(w, "  outcomes: %d decided; raises %d confirmed and %d dismissed (precision %.3f); misses %d confirmed\n",
			o.Decided, o.Confirmed, o.Dismissed, o.Precision, o.Missed)
	}
	for i, x := range r.Examples {
		fmt.Fprintf(w, "  %2d. %s %s %s 元 %s\n", i+1, x.Severity, x.Institution, tracewatch.Fen(x.AmountFen), x.Explanation)
	}
}
