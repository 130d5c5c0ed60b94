package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/export"
	"tracewatch/internal/store/duckdb"
)

func init() {
	register("clues", "suspicious clues: clues list [--detector --severity --region --institution --code --limit --json] | clues show [--json] ID | clues export --xlsx FILE [filters]", func(e env) int {
		if len(e.args) == 0 {
			fmt.Fprintln(e.stderr, "usage: tracewatch clues {list|show|export} …")
			return exitUsage
		}
		sub := e.args[0]
		e.args = e.args[1:]
		switch sub {
		case "list":
			return runCluesList(e)
		case "show":
			return runCluesShow(e)
		case "export":
			return runCluesExport(e)
		}
		fmt.Fprintf(e.stderr, "tracewatch clues: unknown subcommand %q (want list, show or export)\n", sub)
		return exitUsage
	})
}

// clueFilterFlags are the filters list and export share.
type clueFilterFlags struct {
	detector, severity, region, institution, code, state *string
}

func addClueFilterFlags(fs *flag.FlagSet) clueFilterFlags {
	return clueFilterFlags{
		detector:    fs.String("detector", "", "only this detector (trace.duplicate, or with its version)"),
		severity:    fs.String("severity", "", "only this severity or worse: notice|suspicious|highly_suspicious|violation (or 提示, 可疑, 高度可疑, 明确违规)"),
		region:      fs.String("region", "", "only clues within this region (6 digits; a province or city contains its counties)"),
		institution: fs.String("institution", "", "only clues about this institution (fixmedins_code)"),
		code:        fs.String("code", "", "only clues naming this trace-code identity"),
		state:       fs.String("state", "", "only clues in this workflow state (new, triaged, reviewed, deliberated, dispatched, investigating, answered, closed, returned, appealed, dismissed)"),
	}
}

func (f clueFilterFlags) parse() (tracewatch.ClueFilter, error) {
	cf := tracewatch.ClueFilter{Detector: *f.detector, Institution: *f.institution, Code: *f.code}
	if *f.severity != "" {
		s, err := tracewatch.ParseSeverity(*f.severity)
		if err != nil {
			return cf, err
		}
		cf.MinSeverity = s
	}
	if *f.region != "" {
		r, err := tracewatch.ParseRegion(*f.region)
		if err != nil {
			return cf, err
		}
		cf.Region = r
	}
	if *f.state != "" {
		st, err := tracewatch.ParseClueState(*f.state)
		if err != nil {
			return cf, tracewatch.E("clues", tracewatch.KindInvalid, err).WithField("state")
		}
		cf.States = []tracewatch.ClueState{st}
	}
	return cf, nil
}

func runCluesList(e env) int {
	fs := flag.NewFlagSet("clues list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	ff := addClueFilterFlags(fs)
	limit := fs.Int("limit", 100, "at most this many clues (0: all)")
	after := fs.Int64("after", 0, "only clues with an id above this (paging)")
	asJSON := fs.Bool("json", false, "print a JSON array of clues")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	f, err := ff.parse()
	if err != nil {
		return fail(e.stderr, "clues list", err)
	}
	f.Limit, f.AfterID = *limit, *after
	if *limit == 0 {
		f.Limit = -1
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "clues list", err)
	}
	defer st.Close()
	clues, err := st.Clues(ctx, f)
	if err != nil {
		return fail(e.stderr, "clues list", err)
	}
	if *asJSON {
		if clues == nil {
			clues = []tracewatch.Clue{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(clues)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%-7s %-8s %-22s %-6s %-12s %10s  %s\n", "id", "severity", "detector", "region", "institution", "amount(元)", "explanation")
	for _, c := range clues {
		fmt.Fprintf(e.stdout, "%-7d %-8s %-22s %-6s %-12s %10s  %s\n", c.ID, c.Severity.Chinese(), c.Detector, c.Region, c.Institution,
			c.AmountFen, truncate(c.Explanation, 80))
	}
	return exitOK
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func runCluesShow(e env) int {
	fs := flag.NewFlagSet("clues show", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print the clue as JSON")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: tracewatch clues show [--data-dir D] [--json] ID")
		return exitUsage
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil {
		return fail(e.stderr, "clues show", tracewatch.Errorf("clues show", tracewatch.KindInvalid, "clue id %q: want a number", fs.Arg(0)))
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "clues show", err)
	}
	defer st.Close()
	c, err := st.Clue(ctx, id)
	if err != nil {
		return fail(e.stderr, "clues show", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(c)
		return exitOK
	}
	writeClue(e.stdout, c)
	return exitOK
}

func writeClue(w io.Writer, c tracewatch.Clue) {
	fmt.Fprintf(w, "线索 %d  %s  %s (%s)\n", c.ID, c.Severity.Chinese(), c.Detector, c.Rule)
	fmt.Fprintf(w, "统筹区 %s  机构 %s  涉及金额 %s 元  状态 %s\n", c.Region, c.Institution, c.AmountFen, c.State)
	fmt.Fprintf(w, "首次发现 %s  最近发现 %s\n", c.FirstSeen.In(cstZone).Format("2006-01-02 15:04:05"), c.LastSeen.In(cstZone).Format("2006-01-02 15:04:05"))
	for _, k := range []struct {
		name string
		v    []string
	}{{"追溯码", c.Codes}, {"结算号", c.Settlements}, {"单据号", c.Receipts}, {"报文", c.MsgIDs}, {"参保人", c.Persons}} {
		if len(k.v) > 0 {
			fmt.Fprintf(w, "%s %s\n", k.name, strings.Join(k.v, ", "))
		}
	}
	fmt.Fprintf(w, "\n%s\n\n证据:\n", c.Explanation)
	for _, ev := range c.Evidence {
		fmt.Fprintf(w, "  %s", ev.Note)
		if ev.Ref != "" {
			fmt.Fprintf(w, "  [%s]", ev.Ref)
		}
		fmt.Fprintln(w)
	}
}

func runCluesExport(e env) int {
	fs := flag.NewFlagSet("clues export", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	ff := addClueFilterFlags(fs)
	path := fs.String("xlsx", "", "write the clues to this Excel workbook")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if *path == "" {
		return fail(e.stderr, "clues export", tracewatch.Errorf("clues export", tracewatch.KindInvalid, "--xlsx FILE is required").WithField("xlsx"))
	}
	f, err := ff.parse()
	if err != nil {
		return fail(e.stderr, "clues export", err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "clues export", err)
	}
	defer st.Close()
	n, err := exportClues(ctx, st, f, *path)
	if err != nil {
		return fail(e.stderr, "clues export", err)
	}
	// An export leaves the system with persons' data: the audit log keeps who, what and
	// the file's SHA-256 (docs/audit.md).
	sum, err := fileSHA256(*path)
	if err == nil {
		abs, _ := filepath.Abs(*path)
		err = auditCLI(*dir, "export", "file:"+abs, map[string]any{"clues": n, "sha256": sum, "filter": strings.Join(e.args, " ")})
	}
	if err != nil {
		return fail(e.stderr, "clues export", fmt.Errorf("%s was written, but the audit log could not record it: %w", *path, err))
	}
	fmt.Fprintf(e.stdout, "%d clues written to %s\n", n, *path)
	return exitOK
}

// exportClues writes the clues matching f to an XLSX workbook, one row per clue.
func exportClues(ctx context.Context, st *duckdb.Store, f tracewatch.ClueFilter, path string) (int, error) {
	ins, err := st.Institutions(ctx)
	if err != nil {
		return 0, err
	}
	names := map[string]string{}
	for _, in := range ins {
		names[in.Code] = in.Name
	}
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, _, err := export.Clues(ctx, out, st, f, names, nil)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
