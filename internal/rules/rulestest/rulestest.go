// Package rulestest runs golden cases of rules (STYLE habit 7; like promtool test
// rules): a txtar file per case, run on a fresh in-memory DuckDB store exactly as an
// operator would. `go test ./internal/rules` runs every case of
// internal/rules/testdata/<rule>/*.txtar through it, and `tracewatch rules test FILE…`
// runs a province's own. Sections (docs/rules.md#golden-cases):
//
//	-- reference/<kind>.csv --   (or .jsonl) any kind of tracewatch load, loaded in its order
//	-- messages.jsonl --         NHSA request envelopes, one per line
//	-- rule --                   optional: the rule's id or name (default: the directory's name)
//	-- params --                 optional: name=value lines for the rule's parameters
//	-- at --                     the evaluation time, RFC 3339
//	-- window --                 optional: from=RFC 3339, to=RFC 3339, region=admdvs
//	-- want --                   the ingest summary and the clues, as Render writes them
//	-- bug --                    optional: a known wrong behaviour; want then holds the
//	                             right output and the case is skipped
//
// Lines of params and window starting with # are comments.
package rulestest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

// --- txtar (golang.org/x/tools/txtar's format; x/tools is not a direct dependency) ---

// Archive is a parsed txtar file.
type Archive struct {
	comment []byte
	files   []section
}

type section struct {
	name string
	data []byte
}

// Parse reads the txtar format: a comment, then files each introduced by a line
// "-- name --".
func Parse(data []byte) *Archive {
	a := &Archive{}
	var cur *section
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		t := bytes.TrimRight(line, "\r\n")
		if bytes.HasPrefix(t, []byte("-- ")) && bytes.HasSuffix(t, []byte(" --")) && len(t) > 6 {
			a.files = append(a.files, section{name: strings.TrimSpace(string(t[3 : len(t)-3]))})
			cur = &a.files[len(a.files)-1]
			continue
		}
		if cur == nil {
			a.comment = append(a.comment, line...)
		} else {
			cur.data = append(cur.data, line...)
		}
	}
	return a
}

// Format writes a back in the txtar format.
func Format(a *Archive) []byte {
	var b bytes.Buffer
	b.Write(fixNL(a.comment))
	for _, f := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", f.name)
		b.Write(fixNL(f.data))
	}
	return b.Bytes()
}

func fixNL(b []byte) []byte {
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return b
	}
	return append(b, '\n')
}

// Get returns the section of that name.
func (a *Archive) Get(name string) ([]byte, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return nil, false
}

// Set replaces (or adds) the section of that name.
func (a *Archive) Set(name string, data []byte) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, section{name: name, data: data})
}

// --- the case ---

// Case is one golden case read from a txtar file.
type Case struct {
	Path     string
	Rule     string // the rule's name: the rule section, else the file's directory
	ref      map[refload.Kind]section
	messages []byte
	params   [][2]string
	at       time.Time
	window   tracewatch.Window
	Want     string
	Bug      string // a known wrong behaviour: Want holds the right output
}

// ReadCase reads the case at path.
func ReadCase(path string) (*Archive, *Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	a := Parse(data)
	fail := func(format string, args ...any) (*Archive, *Case, error) {
		return nil, nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(bytes.TrimSpace(a.comment)) == 0 {
		return fail("no comment saying what the case shows")
	}
	c := &Case{Path: path, Rule: filepath.Base(filepath.Dir(path)), ref: map[refload.Kind]section{}}
	seen := map[string]bool{}
	for _, f := range a.files {
		if seen[f.name] {
			return fail("section %q twice", f.name)
		}
		seen[f.name] = true
		switch name := f.name; {
		case strings.HasPrefix(name, "reference/"):
			base := strings.TrimPrefix(name, "reference/")
			kind, err := refload.ParseKind(strings.TrimSuffix(base, filepath.Ext(base)))
			if err != nil {
				return fail("section %s: %v", name, err)
			}
			c.ref[kind] = f
		case name == "messages.jsonl":
			c.messages = f.data
		case name == "rule":
			c.Rule = strings.TrimSpace(string(f.data))
		case name == "params":
			for _, l := range lines(f.data) {
				k, v, ok := strings.Cut(l, "=")
				if !ok {
					return fail("params line %q: want name=value", l)
				}
				c.params = append(c.params, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			}
		case name == "at":
			c.at, err = time.Parse(time.RFC3339, strings.TrimSpace(string(f.data)))
			if err != nil {
				return fail("at: %v", err)
			}
		case name == "window":
			for _, l := range lines(f.data) {
				k, v, _ := strings.Cut(l, "=")
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				switch k {
				case "from", "to":
					tm, err := time.Parse(time.RFC3339, v)
					if err != nil {
						return fail("window %s: %v", k, err)
					}
					if k == "from" {
						c.window.From = tm
					} else {
						c.window.To = tm
					}
				case "region":
					c.window.Region = tracewatch.Region(v)
				default:
					return fail("window line %q: want from=, to= or region=", l)
				}
			}
		case name == "want":
			c.Want = string(f.data)
		case name == "bug":
			c.Bug = strings.TrimSpace(string(f.data))
		default:
			return fail("unknown section %q", name)
		}
	}
	if c.at.IsZero() {
		return fail("no at section (the evaluation time)")
	}
	if !seen["messages.jsonl"] {
		return fail("no messages.jsonl section")
	}
	return a, c, nil
}

// lines returns the non-empty lines of b, trimmed, without # comments.
func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// Result is what running a case found.
type Result struct {
	Got      string   // the ingest summary and the clues, rendered
	Problems []string // what went wrong beyond a difference from Want
}

// Run runs the case on a fresh in-memory DuckDB store: the reference sections loaded
// (tracewatch load), the messages ingested (tracewatch ingest), the rule evaluated
// (tracewatch screen). It checks that a replay of every message stores nothing and
// leaves the clues the same, that a ledger rebuild changes no row and no clue, and that
// no two clues share a fingerprint. An error is a case that could not run.
func (c *Case) Run(ctx context.Context) (Result, error) {
	var res Result
	st, err := duckdb.Open(ctx, "", duckdb.Options{Threads: 1})
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := c.load(ctx, st); err != nil {
		return res, err
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		return res, err
	}
	s, err := c.ingest(ctx, st, in)
	if err != nil {
		return res, err
	}
	if s.Refused > 0 || s.Unreadable > 0 || s.Quarantined > 0 {
		q, _ := st.Quarantine(ctx, tracewatch.QuarantineFilter{})
		var why []string
		for _, r := range q {
			why = append(why, fmt.Sprintf("%s row %d %s: %s", r.MsgID, r.Row, r.Field, r.Reason))
		}
		return res, fmt.Errorf("messages.jsonl: %d refused, %d unreadable, %d rows quarantined:\n%s", s.Refused, s.Unreadable, s.Quarantined, strings.Join(why, "\n"))
	}
	summary := fmt.Sprintf("ingested: %d messages, %d events, %d codes", s.Accepted, s.Events, s.Codes)
	clues, dup, err := c.screen(ctx, st)
	if err != nil {
		return res, err
	}
	res.Got = summary + "\n\n" + clues
	if dup != "" {
		res.Problems = append(res.Problems, "two clues share the fingerprint "+dup+": a store keeps one of them")
	}
	// Same input, same clues, byte for byte: after a replay of every message (which must
	// change nothing), and on a ledger rebuilt from the facts.
	if s, err := c.ingest(ctx, st, in); err != nil {
		return res, err
	} else if s.Replayed != s.Messages || s.Events != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("replaying the messages stored something: %+v", s))
	}
	if again, _, err := c.screen(ctx, st); err != nil {
		return res, err
	} else if summary+"\n\n"+again != res.Got {
		res.Problems = append(res.Problems, "a second run, after replaying the messages, gives other clues:\n"+Diff(res.Got, summary+"\n\n"+again))
	}
	if r, err := st.RebuildLedger(ctx); err != nil {
		return res, err
	} else if r.Changed != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("the ledger rebuild changed %d of %d codes' rows: the incremental ledger is not what the facts give", r.Changed, r.Codes))
	}
	if again, _, err := c.screen(ctx, st); err != nil {
		return res, err
	} else if summary+"\n\n"+again != res.Got {
		res.Problems = append(res.Problems, "after a ledger rebuild the clues change:\n"+Diff(res.Got, summary+"\n\n"+again))
	}
	return res, nil
}

// load writes the reference sections in the order tracewatch load's kinds go.
func (c *Case) load(ctx context.Context, st *duckdb.Store) error {
	for _, kind := range refload.Kinds() {
		f, ok := c.ref[kind]
		if !ok {
			continue
		}
		format, err := refload.FormatOf(f.name)
		if err != nil {
			return err
		}
		rows, err := refload.Read(kind, format, bytes.NewReader(f.data), refload.Options{HashKey: []byte("golden")})
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := refload.Upsert(ctx, st, rows); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

func (c *Case) ingest(ctx context.Context, st *duckdb.Store, in *ingest.Ingester) (ingest.FileStats, error) {
	s, err := in.IngestFile(ctx, st, bytes.NewReader(c.messages),
		ingest.FileOptions{Name: "messages.jsonl", Now: func() time.Time { return c.at }, Workers: 1})
	if err != nil {
		return s, fmt.Errorf("ingest: %w", err)
	}
	return s, nil
}

// screen evaluates the case's rule, freshly configured, and renders its clues; dup is a
// fingerprint two clues share.
func (c *Case) screen(ctx context.Context, st *duckdb.Store) (out, dup string, err error) {
	rs, err := rules.Select([]string{c.Rule})
	if err != nil {
		return "", "", fmt.Errorf("rule %s: %w", c.Rule, err)
	}
	for _, p := range c.params {
		if err := rules.SetParam(rs[0], p[0], p[1]); err != nil {
			return "", "", fmt.Errorf("params: %w", err)
		}
	}
	env, err := rules.NewEnv(ctx, st, c.window, c.at)
	if err != nil {
		return "", "", err
	}
	res, err := rules.Run(ctx, env, rs, nil)
	if err != nil {
		return "", "", err
	}
	fps := map[string]bool{}
	for _, cl := range res[0].Clues {
		if fps[cl.Fingerprint] && dup == "" {
			dup = cl.Fingerprint
		}
		fps[cl.Fingerprint] = true
	}
	return Render(res[0].Clues), dup, nil
}

// Render writes clues in a stable, reviewable form: one block per clue.
func Render(clues []tracewatch.Clue) string {
	if len(clues) == 0 {
		return "no clues\n"
	}
	var b strings.Builder
	cst := tracewatch.Beijing
	list := func(name string, v []string) {
		if len(v) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", name, strings.Join(v, " "))
		}
	}
	for i, c := range clues {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "clue %s %s %s\n", c.Detector, c.Rule, c.Severity.Chinese())
		fmt.Fprintf(&b, "  fingerprint: %s\n", c.Fingerprint)
		fmt.Fprintf(&b, "  subject: %s %s\n", c.Subject, c.SubjectID)
		fmt.Fprintf(&b, "  institution: %s region %s\n", c.Institution, c.Region)
		if c.AmountBasis != "" {
			fmt.Fprintf(&b, "  amount: %s 元 (%s %s)\n", c.AmountFen, c.AmountBasis, c.AmountBasis.Chinese())
		} else {
			fmt.Fprintf(&b, "  amount: %s 元\n", c.AmountFen)
		}
		list("codes", c.Codes)
		list("settlements", c.Settlements)
		list("receipts", c.Receipts)
		list("msgids", c.MsgIDs)
		list("persons", c.Persons)
		fmt.Fprintf(&b, "  explanation: %s\n", c.Explanation)
		if len(c.Evidence) == 0 {
			b.WriteString("  evidence: none\n")
			continue
		}
		b.WriteString("  evidence:\n")
		for _, e := range c.Evidence {
			ref := e.Ref
			if ref == "" {
				ref = "-"
			}
			fmt.Fprintf(&b, "    %s %s %s %s: %s\n", e.Time.In(cst).Format("2006-01-02 15:04:05"), e.What, e.Institution, ref, e.Note)
		}
	}
	return b.String()
}

// Diff is a small line diff (longest common subsequence) of two texts.
func Diff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out = append(out, "  "+x[i])
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+ "+y[j])
			j++
		default:
			out = append(out, "- "+x[i])
			i++
		}
	}
	return strings.Join(out, "\n")
}
