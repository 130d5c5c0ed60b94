package refload

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"tracewatch"
)

// spec describes the columns of one kind.
type spec struct {
	key      string            // the key column: a later row with the same key replaces an earlier one
	required []string          // columns that must be present (CSV header) and non-empty (every row)
	optional []string          // other known columns
	aliases  map[string]string // alternative header name → column
}

func (s spec) known(col string) bool {
	for _, c := range s.required {
		if c == col {
			return true
		}
	}
	for _, c := range s.optional {
		if c == col {
			return true
		}
	}
	return false
}

// column returns the column a header name or JSON key stands for ("" when unknown).
func (s spec) column(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if a, ok := s.aliases[name]; ok {
		return a
	}
	if s.known(name) {
		return name
	}
	return ""
}

// source yields the rows of a file.
type source interface {
	// next returns the next row, nil at the end of the file. Problems of the file's
	// syntax go to the collector; the error is for a failing reader.
	next() (*row, error)
	// has reports whether the file declares the column (the CSV header does; JSONL does
	// not, and has always reports false).
	has(col string) bool
}

// row is one record of a file, with the accessors that validate its values.
type row struct {
	line  int
	rec   []string          // CSV: the fields
	idx   map[string]int    // CSV: column → index into rec
	kv    map[string]string // JSONL: column → value
	names map[string]string // column → the name the file uses, when an alias
	c     *collector
	bad   bool  // the row has a problem
	fatal error // a problem that stops the whole read
}

// present reports whether the row has the column (even empty).
func (r *row) present(col string) bool {
	if r.kv != nil {
		_, ok := r.kv[col]
		return ok
	}
	_, ok := r.idx[col]
	return ok
}

// value returns the column's value with surrounding white space trimmed, "" when absent.
func (r *row) value(col string) string {
	if r.kv != nil {
		return strings.TrimSpace(r.kv[col])
	}
	if i, ok := r.idx[col]; ok && i < len(r.rec) {
		return strings.TrimSpace(r.rec[i])
	}
	return ""
}

// fail records a problem with the column (col "" for the row as a whole).
func (r *row) fail(col, format string, args ...any) {
	r.bad = true
	if n, ok := r.names[col]; ok {
		col = n
	}
	r.c.add(r.line, col, fmt.Sprintf(format, args...))
}

func ioError(err error) error {
	return tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("reading the file: %w", err))
}

const notUTF8 = "is not valid UTF-8: save the file as UTF-8 (not GBK/GB18030)"

// csvSource reads a CSV file with a header row.
type csvSource struct {
	cr      *csv.Reader
	idx     map[string]int
	cols    []string // the known columns, in header order
	names   map[string]string
	nfields int
	c       *collector
}

// newCSVSource reads the header. It returns nil (and no error) when the header is refused;
// the collector says why.
func newCSVSource(r io.Reader, sp spec, c *collector) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // field counts are checked per row, to report them with a line
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		c.add(1, "", "the file is empty: a CSV file starts with a header row naming its columns")
		return nil, nil
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			c.add(pe.StartLine, "", "header: "+csvSyntax(pe))
			return nil, nil
		}
		return nil, ioError(err)
	}
	line, _ := cr.FieldPos(0)
	s := &csvSource{cr: cr, idx: make(map[string]int), names: make(map[string]string), nfields: len(header), c: c}
	for i, h := range header {
		col := sp.column(h)
		if col == "" {
			continue // unknown columns are ignored (forward compatibility)
		}
		name := strings.ToLower(strings.TrimSpace(h))
		if j, dup := s.idx[col]; dup {
			prev := strings.ToLower(strings.TrimSpace(header[j]))
			if prev == name {
				c.add(line, name, "appears twice in the header")
			} else {
				c.add(line, name, fmt.Sprintf("is another name of column %s, which the header already has: give one", prev))
			}
			continue
		}
		s.idx[col] = i
		s.cols = append(s.cols, col)
		if name != col {
			s.names[col] = name
		}
	}
	for _, col := range sp.required {
		if _, ok := s.idx[col]; !ok {
			msg := "required column is missing from the header"
			for a, canon := range sp.aliases {
				if canon == col {
					msg += " (also accepted as " + a + ")"
				}
			}
			c.add(line, col, msg)
		}
	}
	if c.failed() {
		return nil, nil
	}
	return s, nil
}

func (s *csvSource) has(col string) bool { _, ok := s.idx[col]; return ok }

func (s *csvSource) next() (*row, error) {
	for !s.c.full() {
		rec, err := s.cr.Read()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				s.c.add(pe.StartLine, "", csvSyntax(pe))
				continue
			}
			return nil, ioError(err)
		}
		line, _ := s.cr.FieldPos(0)
		if len(rec) == 1 && s.nfields > 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of white space only
		}
		r := &row{line: line, rec: rec, idx: s.idx, names: s.names, c: s.c}
		if len(rec) != s.nfields {
			r.fail("", "has %d fields, but the header has %d (a comma inside a value must be quoted: \"a,b\")", len(rec), s.nfields)
			continue
		}
		for _, col := range s.cols {
			if !utf8.ValidString(rec[s.idx[col]]) {
				r.fail(col, notUTF8)
			}
		}
		if r.bad {
			continue
		}
		return r, nil
	}
	return nil, nil
}

func csvSyntax(pe *csv.ParseError) string {
	msg := fmt.Sprintf("CSV syntax: %v (line %d, character %d)", pe.Err, pe.Line, pe.Column)
	if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
		msg += `; a quote inside a value is written "" and the whole value quoted`
	}
	return msg
}

// maxLine is the longest JSONL line accepted.
const maxLine = 1 << 20

// jsonlSource reads a file of one JSON object per line.
type jsonlSource struct {
	sc   *bufio.Scanner
	line int
	sp   spec
	c    *collector
}

func newJSONLSource(r io.Reader, sp spec, c *collector) *jsonlSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &jsonlSource{sc: sc, sp: sp, c: c}
}

func (s *jsonlSource) has(string) bool { return false }

func (s *jsonlSource) next() (*row, error) {
	for !s.c.full() && s.sc.Scan() {
		s.line++
		b := s.sc.Bytes() // without the \n or \r\n
		if len(bytes.TrimSpace(b)) == 0 {
			continue // empty lines are skipped
		}
		if !utf8.Valid(b) {
			s.c.add(s.line, "", "the line "+notUTF8)
			continue
		}
		r := &row{line: s.line, kv: make(map[string]string), c: s.c}
		s.decode(r, b)
		if r.bad {
			continue
		}
		return r, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			s.c.add(s.line+1, "", fmt.Sprintf("the line is longer than %d bytes", maxLine))
			return nil, nil
		}
		return nil, ioError(err)
	}
	return nil, nil
}

// decode reads one JSON object into r.kv: strings as they are, numbers as written,
// booleans as "true"/"false"; null is the same as an absent key. Unknown keys are ignored.
func (s *jsonlSource) decode(r *row, b []byte) {
	const want = `want one JSON object per line, such as {"admdvs":"360102","name":"东湖区"}`
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		r.fail("", "not a JSON object: %s", want)
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			r.fail("", "not valid JSON: %v", err)
			return
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			r.fail("", "not valid JSON: %v", err)
			return
		}
		col := s.sp.column(key)
		if col == "" {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(key))
		if _, dup := r.kv[col]; dup {
			r.fail(name, "is given twice in the object")
			continue
		}
		if name != col {
			if r.names == nil {
				r.names = make(map[string]string)
			}
			r.names[col] = name
		}
		raw = bytes.TrimSpace(raw)
		switch raw[0] {
		case '"':
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				r.fail(name, "not a valid JSON string: %v", err)
				continue
			}
			r.kv[col] = v
		case 't', 'f':
			r.kv[col] = string(raw)
		case 'n': // null: absent
		case '{', '[':
			r.fail(name, "want a string or a number, not a JSON object or array")
		default: // a number, as written
			r.kv[col] = string(raw)
		}
	}
	if _, err := dec.Token(); err != nil {
		r.fail("", "not valid JSON: %v", err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		r.fail("", "more than one JSON value on the line: %s", want)
	}
}
