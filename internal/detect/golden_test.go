package detect_test

// Golden cases (STYLE habit 7): every file testdata/<detector>/<case>.txtar is one case,
// run on a fresh in-memory DuckDB store exactly as an operator would: the reference
// sections loaded with internal/refload (tracewatch load), the messages ingested with
// internal/ingest (tracewatch ingest), then the one detector named by the directory run
// through detect.NewEnv and detect.Run (tracewatch screen). Sections:
//
//	-- reference/<kind>.csv --   (or .jsonl) regions, institutions, persons, practitioners,
//	                             drugs, codemap, packages; loaded in that order
//	-- messages.jsonl --         NHSA request envelopes, one per line
//	-- params --                 optional: name=value lines for the detector's Set
//	-- at --                     the evaluation time, RFC 3339
//	-- window --                 optional: from=RFC 3339, to=RFC 3339, region=admdvs
//	-- want --                   the ingest summary and the clues, as render writes them
//	-- bug --                    optional: a known wrong behaviour; want then holds the
//	                             right output and the case is skipped (run it with -bugs)
//
// Lines of params and window starting with # are comments. Every case also checks that
// the clues are the same byte for byte after a replay of every message (which must store
// nothing) and after a ledger rebuild, and that no two clues share a fingerprint.
//
// go test ./internal/detect -run Golden -update rewrites the want sections of the cases
// without a bug section. Case names start with hit_, near_miss_, odd_ or are empty: every
// detector needs all four (TestGoldenCoverage).

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/detect"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
	"tracewatch/internal/store/duckdb"
)

var (
	update  = flag.Bool("update", false, "rewrite the want sections of testdata/*/*.txtar (cases without a bug section)")
	runBugs = flag.Bool("bugs", false, "run the golden cases marked with a bug section instead of skipping them")
)

// --- txtar (golang.org/x/tools/txtar's format; x/tools is not a direct dependency) ---

type archive struct {
	comment []byte
	files   []section
}

type section struct {
	name string
	data []byte
}

// parseTxtar reads the txtar format: a comment, then files each introduced by a line
// "-- name --".
func parseTxtar(data []byte) *archive {
	a := &archive{}
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

func formatTxtar(a *archive) []byte {
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

func (a *archive) get(name string) ([]byte, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return nil, false
}

func (a *archive) set(name string, data []byte) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, section{name: name, data: data})
}

// --- the case ---

type goldenCase struct {
	detector string // directory name: the detector's name without version
	ref      map[refload.Kind]section
	messages []byte
	params   [][2]string
	at       time.Time
	window   tracewatch.Window
	want     string
	bug      string
}

func readCase(t *testing.T, path string) (*archive, *goldenCase) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := parseTxtar(data)
	if len(bytes.TrimSpace(a.comment)) == 0 {
		t.Errorf("%s: no comment saying what the case shows", path)
	}
	c := &goldenCase{detector: filepath.Base(filepath.Dir(path)), ref: map[refload.Kind]section{}}
	seen := map[string]bool{}
	for _, f := range a.files {
		if seen[f.name] {
			t.Fatalf("%s: section %q twice", path, f.name)
		}
		seen[f.name] = true
		switch name := f.name; {
		case strings.HasPrefix(name, "reference/"):
			base := strings.TrimPrefix(name, "reference/")
			kind, err := refload.ParseKind(strings.TrimSuffix(base, filepath.Ext(base)))
			if err != nil {
				t.Fatalf("%s: section %s: %v", path, name, err)
			}
			c.ref[kind] = f
		case name == "messages.jsonl":
			c.messages = f.data
		case name == "params":
			for _, l := range lines(f.data) {
				k, v, ok := strings.Cut(l, "=")
				if !ok {
					t.Fatalf("%s: params line %q: want name=value", path, l)
				}
				c.params = append(c.params, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			}
		case name == "at":
			c.at, err = time.Parse(time.RFC3339, strings.TrimSpace(string(f.data)))
			if err != nil {
				t.Fatalf("%s: at: %v", path, err)
			}
		case name == "window":
			for _, l := range lines(f.data) {
				k, v, _ := strings.Cut(l, "=")
				v = strings.TrimSpace(v)
				switch strings.TrimSpace(k) {
				case "from", "to":
					tm, err := time.Parse(time.RFC3339, v)
					if err != nil {
						t.Fatalf("%s: window %s: %v", path, k, err)
					}
					if strings.TrimSpace(k) == "from" {
						c.window.From = tm
					} else {
						c.window.To = tm
					}
				case "region":
					c.window.Region = tracewatch.Region(v)
				default:
					t.Fatalf("%s: window line %q: want from=, to= or region=", path, l)
				}
			}
		case name == "want":
			c.want = string(f.data)
		case name == "bug":
			c.bug = strings.TrimSpace(string(f.data))
		default:
			t.Fatalf("%s: unknown section %q", path, name)
		}
	}
	if c.at.IsZero() {
		t.Fatalf("%s: no at section (the evaluation time)", path)
	}
	if !seen["messages.jsonl"] {
		t.Fatalf("%s: no messages.jsonl section", path)
	}
	return a, c
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

// refOrder is the order tracewatch load's upsertRows writes the kinds in.
var refOrder = []refload.Kind{refload.KindRegions, refload.KindInstitutions, refload.KindPersons,
	refload.KindPractitioners, refload.KindDrugs, refload.KindCodeMap, refload.KindPackages}

// prepare opens a fresh in-memory store, loads the reference data and ingests the
// messages; it returns the store, the ingester and the ingest summary line.
func (c *goldenCase) prepare(t *testing.T) (*duckdb.Store, *ingest.Ingester, string) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, "", duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, kind := range refOrder {
		f, ok := c.ref[kind]
		if !ok {
			continue
		}
		format, err := refload.FormatOf(f.name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := refload.Read(kind, format, bytes.NewReader(f.data), refload.Options{HashKey: []byte("golden")})
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		for _, up := range []func() error{
			func() error { return st.UpsertRegions(ctx, rows.Regions) },
			func() error { return st.UpsertInstitutions(ctx, rows.Institutions) },
			func() error { return st.UpsertPersons(ctx, rows.Persons) },
			func() error { return st.UpsertPractitioners(ctx, rows.Practitioners) },
			func() error { return st.UpsertDrugs(ctx, rows.Drugs) },
			func() error { return st.UpsertCodeMappings(ctx, rows.CodeMaps) },
			func() error { return st.UpsertPackageLinks(ctx, rows.Packages) },
		} {
			if err := up(); err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		}
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	s := c.ingest(t, st, in)
	if s.Refused > 0 || s.Unreadable > 0 || s.Quarantined > 0 {
		q, _ := st.Quarantine(ctx, tracewatch.QuarantineFilter{})
		var why []string
		for _, r := range q {
			why = append(why, fmt.Sprintf("%s row %d %s: %s", r.MsgID, r.Row, r.Field, r.Reason))
		}
		t.Fatalf("messages.jsonl: %d refused, %d unreadable, %d rows quarantined:\n%s", s.Refused, s.Unreadable, s.Quarantined, strings.Join(why, "\n"))
	}
	return st, in, fmt.Sprintf("ingested: %d messages, %d events, %d codes", s.Accepted, s.Events, s.Codes)
}

func (c *goldenCase) ingest(t *testing.T, st *duckdb.Store, in *ingest.Ingester) ingest.FileStats {
	t.Helper()
	s, err := in.IngestFile(context.Background(), st, bytes.NewReader(c.messages),
		ingest.FileOptions{Name: "messages.jsonl", Now: func() time.Time { return c.at }, Workers: 1})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return s
}

// screen runs the case's detector, freshly configured, and renders its clues.
func (c *goldenCase) screen(t *testing.T, st *duckdb.Store) string {
	t.Helper()
	ctx := context.Background()
	ds, err := detect.Select([]string{c.detector})
	if err != nil {
		t.Fatalf("directory %s: %v", c.detector, err)
	}
	for _, p := range c.params {
		if err := ds[0].Set(p[0], p[1]); err != nil {
			t.Fatalf("params: %v", err)
		}
	}
	env, err := detect.NewEnv(ctx, st, c.window, c.at)
	if err != nil {
		t.Fatal(err)
	}
	res, err := detect.Run(ctx, env, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("detect.Run returned %d results for one detector", len(res))
	}
	fps := map[string]bool{}
	for _, cl := range res[0].Clues {
		if fps[cl.Fingerprint] {
			t.Errorf("two clues share the fingerprint %s: a store keeps one of them", cl.Fingerprint)
		}
		fps[cl.Fingerprint] = true
	}
	return render(res[0].Clues)
}

// render writes clues in a stable, reviewable form: one block per clue.
func render(clues []tracewatch.Clue) string {
	if len(clues) == 0 {
		return "no clues\n"
	}
	var b strings.Builder
	cst := time.FixedZone("CST", 8*3600)
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

func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden cases in testdata/*/*.txtar")
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".txtar")
		t.Run(name, func(t *testing.T) {
			t.Parallel() // one store per case; -parallel defaults to the cores
			a, c := readCase(t, path)
			if c.bug != "" && !*runBugs {
				t.Skipf("known detector bug (run with -bugs to check it):\n%s", c.bug)
			}
			st, in, summary := c.prepare(t)
			got := summary + "\n\n" + c.screen(t, st)

			// Same input, same clues, byte for byte: a second run after a replay of every
			// message (which must change nothing), and a third on a ledger rebuilt from
			// the facts.
			if s := c.ingest(t, st, in); s.Replayed != s.Messages || s.Events != 0 {
				t.Errorf("replaying the messages stored something: %+v", s)
			}
			if again := summary + "\n\n" + c.screen(t, st); again != got {
				t.Errorf("a second run, after replaying the messages, gives other clues:\n%s", diff(got, again))
			}
			if r, err := st.RebuildLedger(context.Background()); err != nil {
				t.Fatal(err)
			} else if r.Changed != 0 {
				t.Errorf("the ledger rebuild changed %d of %d codes' rows: the incremental ledger is not what the facts give", r.Changed, r.Codes)
			}
			if again := summary + "\n\n" + c.screen(t, st); again != got {
				t.Errorf("after a ledger rebuild the clues change:\n%s", diff(got, again))
			}

			if *update && c.bug == "" {
				a.set("want", []byte(got))
				if err := os.WriteFile(path, formatTxtar(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != c.want {
				t.Errorf("%s: clues differ from the want section (- want, + got; -update rewrites it):\n%s", path, diff(c.want, got))
			}
		})
	}
}

// TestGoldenCoverage checks that every registered detector has golden cases of the four
// kinds STYLE habit 7 asks for: a minimal hit, a near miss, an empty input and an odd
// code format.
func TestGoldenCoverage(t *testing.T) {
	for _, d := range detect.Registry() {
		name, _, _ := strings.Cut(d.ID(), "@")
		var kinds []string
		for _, k := range []string{"hit_", "near_miss_", "odd_", "empty"} {
			m, _ := filepath.Glob(filepath.Join("testdata", name, k+"*.txtar"))
			if len(m) == 0 {
				kinds = append(kinds, k+"*")
			}
		}
		if len(kinds) > 0 {
			t.Errorf("%s: no golden case testdata/%s/{%s}.txtar", d.ID(), name, strings.Join(kinds, ","))
		}
	}
}

// diff is a small line diff (longest common subsequence) of two texts.
func diff(a, b string) string {
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
