// Package refload parses and validates reference-data files for `tracewatch load KIND
// FILE`: regions, institutions, persons, practitioners, drugs, the code mapping (三码合一),
// package links (级联) and the knowledge base of drug limits (知识库). It turns a CSV or JSONL file into typed rows of the root
// package; writing them to a store is the caller's business.
//
// The column names, formats and rules are a public contract documented in
// docs/data-formats.md: columns are added, never renamed.
//
// Read validates every row and returns either all rows or an error listing the problems
// found (at most MaxErrors), each with its line number and column. A file loads
// completely or not at all. Rows are complete records keyed by their first column
// (packages: by child_code); when a key occurs twice in one file the last row wins.
//
// Personal data: an ID number (certno) never reaches a row or an error. A person keeps
// only the masked number and a keyed HMAC-SHA256 of it (Options.HashKey). Errors never
// quote an ID number or a person's name, and any value they quote has ID numbers masked.
package refload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"tracewatch"
)

// Kind is the kind of reference data a file holds.
type Kind string

// The kinds, in the order Kinds lists them.
const (
	KindRegions       Kind = "regions"       // 统筹区 / 医保区划
	KindInstitutions  Kind = "institutions"  // 定点医药机构
	KindPersons       Kind = "persons"       // 参保人
	KindPractitioners Kind = "practitioners" // 医保医师 / 药师 / 护士 / 主要负责人
	KindDrugs         Kind = "drugs"         // 医保目录
	KindCodeMap       Kind = "codemap"       // 三码合一
	KindPackages      Kind = "packages"      // 级联 (大码 ⊃ 中码 ⊃ 小码)
	KindDrugLimits    Kind = "drug_limits"   // 知识库: drug limits (gender, age, days of supply, quantity, level, scenes)
)

var kinds = []Kind{KindRegions, KindInstitutions, KindPersons, KindPractitioners, KindDrugs, KindCodeMap, KindPackages, KindDrugLimits}

// Kinds returns every kind, in a stable order: the order a province's reference data
// loads in (`tracewatch demo`, the tests that load a generated province).
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// Optional reports whether a province may go without reference data of kind k: the
// knowledge base of drug limits is optional (a rule that needs a limit finds none and
// gives no clue), every other kind is not. A loader of a province directory skips the
// missing file of an optional kind.
func (k Kind) Optional() bool { return k == KindDrugLimits }

// ParseKind returns the kind named s (case and surrounding space ignored).
func ParseKind(s string) (Kind, error) {
	t := Kind(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range kinds {
		if t == k {
			return k, nil
		}
	}
	return "", tracewatch.Errorf("refload.ParseKind", tracewatch.KindInvalid,
		"unknown kind %q: want one of %s", s, KindNames())
}

// KindNames returns the names of the kinds, in the order of Kinds, joined by ", " (for
// usage texts and messages).
func KindNames() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Format is the file format.
type Format int

// The formats. The zero Format is none of them.
const (
	CSV   Format = iota + 1 // header row, comma-separated, RFC 4180 quoting, UTF-8, optional BOM
	JSONL                   // one JSON object per line, keys = the CSV column names
)

// String returns "csv" or "jsonl".
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSONL:
		return "jsonl"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// FormatOf returns the format of a file by its extension: .csv, .jsonl or .ndjson,
// optionally followed by .gz (the caller decompresses). Case is ignored.
func FormatOf(filename string) (Format, error) {
	name := strings.ToLower(path.Base(strings.ReplaceAll(filename, "\\", "/")))
	name = strings.TrimSuffix(name, ".gz")
	switch path.Ext(name) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return 0, tracewatch.Errorf("refload.FormatOf", tracewatch.KindInvalid,
		"file %q: unknown format; want a .csv, .jsonl or .ndjson file (optionally .gz)", filename)
}

// Options are the settings of Read.
type Options struct {
	// HashKey is the HMAC-SHA256 key for the ID-number hash of persons (Person.CertnoHash).
	// Read refuses a persons file with a certno column when it is empty.
	HashKey []byte
}

// Rows are the rows read from one file; only the slice of the file's kind is set.
type Rows struct {
	Regions       []tracewatch.RegionInfo
	Institutions  []tracewatch.Institution
	Persons       []tracewatch.Person
	Practitioners []tracewatch.Practitioner
	Drugs         []tracewatch.Drug
	CodeMaps      []tracewatch.CodeMapping
	Packages      []tracewatch.PackageLink
	DrugLimits    []tracewatch.DrugLimit
}

// Len returns the number of rows of all kinds.
func (r *Rows) Len() int {
	if r == nil {
		return 0
	}
	return len(r.Regions) + len(r.Institutions) + len(r.Persons) + len(r.Practitioners) +
		len(r.Drugs) + len(r.CodeMaps) + len(r.Packages) + len(r.DrugLimits)
}

// MaxErrors is the number of problems after which Read stops reading a file.
const MaxErrors = 20

// RowError is one problem in a file. Line is the 1-based line of the file where the row
// starts; Column is the column (CSV header name or JSON key) concerned, or "" when the
// problem is the row or the file as a whole.
type RowError struct {
	Line   int    `json:"line"`
	Column string `json:"column,omitempty"`
	Msg    string `json:"message"`
}

// RowErrors lists the problems Read found in a file, in file order. Read returns it
// wrapped in a *tracewatch.Error of kind KindInvalid; get it with errors.As.
type RowErrors struct {
	Kind   Kind
	Errors []RowError
	// Truncated reports that the file has more problems than the MaxErrors listed: Read
	// stopped at the first one not listed and did not check the rest of the file.
	Truncated bool
}

// Message returns one problem as "institutions line 12, column fixmedins_type: …".
func (e *RowErrors) Message(re RowError) string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	b.WriteString(" line ")
	b.WriteString(strconv.Itoa(re.Line))
	if re.Column != "" {
		b.WriteString(", column ")
		b.WriteString(re.Column)
	}
	b.WriteString(": ")
	b.WriteString(re.Msg)
	return b.String()
}

// Error lists the problems, one per line.
func (e *RowErrors) Error() string {
	lines := make([]string, 0, len(e.Errors)+1)
	for _, re := range e.Errors {
		lines = append(lines, e.Message(re))
	}
	if e.Truncated {
		lines = append(lines, fmt.Sprintf("(more problems: stopped after %d; the rest of the file was not checked)", MaxErrors))
	}
	return strings.Join(lines, "\n")
}

// collector gathers row errors up to MaxErrors.
type collector struct {
	errs RowErrors
}

func (c *collector) add(line int, col, msg string) {
	if len(c.errs.Errors) >= MaxErrors {
		c.errs.Truncated = true
		return
	}
	c.errs.Errors = append(c.errs.Errors, RowError{Line: line, Column: col, Msg: msg})
}

// full reports that a problem beyond MaxErrors was found: reading stops.
func (c *collector) full() bool   { return c.errs.Truncated }
func (c *collector) failed() bool { return len(c.errs.Errors) > 0 }

const op = "refload.Read"

// Read parses and validates a file of the given kind and format. It returns all rows, or
// an error: a *tracewatch.Error of kind KindInvalid wrapping *RowErrors when rows are
// wrong, of kind KindInvalid when the kind, the format or the options are, and of kind
// KindInternal wrapping the reader's error when r fails.
func Read(kind Kind, f Format, r io.Reader, o Options) (*Rows, error) {
	sp, ok := specs[kind]
	if !ok {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "unknown kind %q: want one of %s", kind, KindNames())
	}
	c := &collector{errs: RowErrors{Kind: kind}}
	br := bufio.NewReaderSize(r, 64<<10)
	switch b, err := br.Peek(3); {
	case err == nil && string(b) == "\uFEFF":
		_, _ = br.Discard(3)
	case err != nil && err != io.EOF:
		return nil, ioError(err) // Peek hands the error over only once
	}
	var src source
	switch f {
	case CSV:
		s, err := newCSVSource(br, sp, c)
		if err != nil {
			return nil, err
		}
		if s == nil { // the header was refused; c holds why
			return nil, tracewatch.E(op, tracewatch.KindInvalid, &c.errs)
		}
		src = s
	case JSONL:
		src = newJSONLSource(br, sp, c)
	default:
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "unknown format %v: want CSV or JSONL", f)
	}
	if kind == KindPersons && len(o.HashKey) == 0 && src.has("certno") {
		return nil, errNoHashKey()
	}

	rows := &Rows{}
	var err error
	switch kind {
	case KindRegions:
		rows.Regions, err = load(src, c, parseRegion)
	case KindInstitutions:
		rows.Institutions, err = load(src, c, parseInstitution)
	case KindPersons:
		rows.Persons, err = load(src, c, func(r *row) (tracewatch.Person, string) { return parsePerson(r, o.HashKey) })
	case KindPractitioners:
		rows.Practitioners, err = load(src, c, parsePractitioner)
	case KindDrugs:
		rows.Drugs, err = load(src, c, parseDrug)
	case KindCodeMap:
		rows.CodeMaps, err = load(src, c, parseCodeMapping)
	case KindPackages:
		rows.Packages, err = load(src, c, parsePackageLink)
	case KindDrugLimits:
		rows.DrugLimits, err = load(src, c, parseDrugLimit)
	}
	if err != nil {
		return nil, err
	}
	if c.failed() {
		return nil, tracewatch.E(op, tracewatch.KindInvalid, &c.errs)
	}
	return rows, nil
}

func errNoHashKey() error {
	return tracewatch.Errorf(op, tracewatch.KindInvalid,
		"persons: the file has a certno column, but no hash key was given: a hash key is required when certno is present (ID numbers are stored only masked and hashed)")
}

// load reads every row of src with parse and keeps the last row of each key, at the
// position of the key's first row.
func load[T any](src source, c *collector, parse func(*row) (T, string)) ([]T, error) {
	var out []T
	pos := make(map[string]int)
	for !c.full() {
		r, err := src.next()
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		v, key := parse(r)
		if r.fatal != nil {
			return nil, r.fatal
		}
		if r.bad || c.failed() { // the file will be refused: keep no rows
			continue
		}
		if i, ok := pos[key]; ok {
			out[i] = v
			continue
		}
		pos[key] = len(out)
		out = append(out, v)
	}
	return out, nil
}

// Upsert writes every kind of rows to a store, in the order of Kinds (what tracewatch
// load and the rules' golden cases do).
func Upsert(ctx context.Context, st tracewatch.Store, r *Rows) error {
	for _, f := range []func() error{
		func() error { return st.UpsertRegions(ctx, r.Regions) },
		func() error { return st.UpsertInstitutions(ctx, r.Institutions) },
		func() error { return st.UpsertPersons(ctx, r.Persons) },
		func() error { return st.UpsertPractitioners(ctx, r.Practitioners) },
		func() error { return st.UpsertDrugs(ctx, r.Drugs) },
		func() error { return st.UpsertCodeMappings(ctx, r.CodeMaps) },
		func() error { return st.UpsertPackageLinks(ctx, r.Packages) },
		func() error { return st.UpsertDrugLimits(ctx, r.DrugLimits) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}
