package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode"

	"tracewatch"
)

// FileName is the rule base file of a data directory: serve reads it when --rules names
// no other file, and the web workplace's 规则 page writes its edits to it.
const FileName = "rules.txt"

// Change is an edit of one rule's settings; a nil Enabled, an empty Severity and a
// parameter left out of Params keep what the rule base says.
type Change struct {
	Enabled  *bool
	Severity string            // the English or the Chinese name; a ceiling, at most the rule's own grading
	Params   map[string]string // parameter name → value in its text form
}

// File is a rule base kept in a file that changes while it is used: serve holds one,
// the web workplace edits it (Set), and each screening and the counter take the base it
// gives (Base). Edits are appended to the file (the text form) or added to its rules
// (the JSON form), so that the province's own lines and comments stay as they are and
// the file reads as the history of its changes.
type File struct {
	path string
	mu   sync.Mutex
	data []byte
}

// OpenFile reads the rule base file at path (text or JSON form, checked as LoadBase
// checks it). A missing file is the default rule base; the first Set creates it.
func OpenFile(path string) (*File, error) {
	const op = "rules.OpenFile"
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "%v", err).WithField("rules")
	}
	f := &File{path: path, data: data}
	if _, err := f.Base(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is where the file is kept.
func (f *File) Path() string { return f.path }

// Base returns a fresh copy of the rule base the file gives: the default with the file
// applied. The caller may change it (set parameters) without touching the file.
func (f *File) Base() (*Base, error) {
	f.mu.Lock()
	data := f.data
	f.mu.Unlock()
	b := DefaultBase()
	if len(data) == 0 {
		return b, nil
	}
	if err := b.Apply(data, f.path); err != nil {
		return nil, err
	}
	return b, nil
}

// Set changes one rule (named by id, name or short name) and writes the file before it
// returns the new rule base; note (who and when) heads the change in the text form. A
// value the rule base refuses is an error of kind invalid naming its field (severity,
// or the parameter) and changes nothing; an unknown rule is not found.
func (f *File) Set(name string, c Change, note string) (*Base, error) {
	const op = "rules.Set"
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := DefaultBase()
	if len(f.data) > 0 {
		if err := cur.Apply(f.data, f.path); err != nil {
			return nil, err
		}
	}
	e, ok := cur.Entry(name)
	if !ok {
		return nil, tracewatch.Errorf(op, tracewatch.KindNotFound, "unknown rule %q", name).WithField("rule")
	}
	sp := e.Spec()
	if c.Enabled == nil && c.Severity == "" && len(c.Params) == 0 {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "nothing to change: give enabled, severity or params").WithField("body")
	}
	var sev tracewatch.Severity
	if c.Severity != "" {
		s, err := tracewatch.ParseSeverity(strings.TrimSpace(c.Severity))
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("severity")
		}
		if s > sp.Severity {
			return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "a ceiling: %s grades its clues %s at most, so it cannot be raised to %s",
				sp.ID(), sp.Severity.Chinese(), s.Chinese()).WithField("severity")
		}
		sev = s
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		p, ok := sp.Param(k)
		if !ok {
			return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s has no parameter %q (it has %s)", sp.ID(), short(k), paramNames(sp)).WithField(short(k))
		}
		v := strings.TrimSpace(c.Params[k])
		if err := p.check(v); err != nil {
			return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "%q: %v", short(v), err).WithField(k)
		}
		values[i] = v // a valid number or duration: no character of the file's syntax
	}
	var next []byte
	if t := bytes.TrimSpace(f.data); len(t) > 0 && t[0] == '{' {
		var err error
		if next, err = addJSON(f.data, sp.ID(), c.Enabled, sev, keys, values); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
	} else {
		next = addText(f.data, sp.ID(), c.Enabled, sev, keys, values, note)
	}
	nb := DefaultBase()
	if err := nb.Apply(next, f.path); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("the edited rule base does not read back: %w", err))
	}
	if err := writeFile(f.path, next); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	f.data = next
	return nb, nil
}

// short cuts an echoed name to a sane length.
func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// addText appends a section to the text form.
func addText(data []byte, id string, enabled *bool, sev tracewatch.Severity, keys, values []string, note string) []byte {
	var w bytes.Buffer
	w.Write(data)
	if len(data) == 0 {
		w.WriteString("# tracewatch rule base (规则库): docs/rules.md describes this file; the web workplace appends its edits.\n")
	} else if data[len(data)-1] != '\n' {
		w.WriteByte('\n')
	}
	note = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, note)
	w.WriteString("\n")
	if note != "" {
		fmt.Fprintf(&w, "# %s\n", note)
	}
	fmt.Fprintf(&w, "[%s]\n", id)
	if enabled != nil {
		fmt.Fprintf(&w, "enabled = %t\n", *enabled)
	}
	if sev > 0 {
		fmt.Fprintf(&w, "severity = %s\n", sev)
	}
	for i, k := range keys {
		fmt.Fprintf(&w, "%s = %s\n", k, values[i])
	}
	return w.Bytes()
}

// addJSON adds an entry to the JSON form's rules (a later entry of a rule overrides an
// earlier one, as a later section of the text form does).
func addJSON(data []byte, id string, enabled *bool, sev tracewatch.Severity, keys, values []string) ([]byte, error) {
	var doc struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	type entry struct {
		ID       string            `json:"id"`
		Enabled  *bool             `json:"enabled,omitempty"`
		Severity string            `json:"severity,omitempty"`
		Params   map[string]string `json:"params,omitempty"`
	}
	e := entry{ID: id, Enabled: enabled}
	if sev > 0 {
		e.Severity = sev.String()
	}
	for i, k := range keys {
		if e.Params == nil {
			e.Params = map[string]string{}
		}
		e.Params[k] = values[i]
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	doc.Rules = append(doc.Rules, raw)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// writeFile replaces the file at path with data: written beside it, synced, renamed
// over it, so that a reader sees the old file or the new one, never half of it.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, ".rules-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing there
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename's directory entry; not every system syncs a directory
		d.Close()
	}
	return nil
}
