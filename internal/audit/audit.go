// Package audit keeps the append-only, hash-chained audit log (docs/audit.md): who did
// what, when and from where — workflow transitions, logins, exports, reads of a person's
// data. Entries are JSON lines in DIR/YYYY-MM-DD.jsonl, one file per business day
// (tracewatch.Beijing), each line carrying the SHA-256 of the line before it (the first
// line of a day chains to the last line of the day before), so that the files can be
// shipped to write-once storage and any later change to a line breaks the chain at the
// line after it. DIR/HEAD names the last line (its sequence number and hash), so that a
// change to the very last line is found too. Verify proves the chain.
//
// A Log is safe for concurrent use and for several processes appending to one directory:
// an append holds an exclusive lock on DIR/LOCK, rereads the tail when another process
// wrote since, writes the line and syncs it before it returns (an acknowledged entry is
// durable).
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tracewatch"
)

// Entry is one line of the log.
type Entry struct {
	Seq    int64          `json:"seq"`              // 1, 2, … over the whole log
	Time   time.Time      `json:"time"`             // when it happened (set by Append when zero)
	Actor  string         `json:"actor"`            // the user, "cli:<os user>", or "system"
	Action string         `json:"action"`           // e.g. login, transition, export, read_person
	Object string         `json:"object,omitempty"` // what it was done to, e.g. clue:123
	From   string         `json:"from,omitempty"`   // where from: a remote address, or the host
	Detail map[string]any `json:"detail,omitempty"` // what else the action needs said (a note, a state, a file and its SHA-256)
	Prev   string         `json:"prev"`             // hex SHA-256 of the line before; "" for the first line
}

// Log appends entries to one directory.
type Log struct {
	dir string
	mu  sync.Mutex
}

// Open returns the log kept in dir, creating dir when needed.
func Open(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, tracewatch.E("audit.Open", tracewatch.KindInternal, err)
	}
	return &Log{dir: dir}, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// head is the content of DIR/HEAD: the last line's sequence number, hash and time, its
// file and that file's size after it. Append trusts it when the newest file still has
// that size (nobody wrote since, no crash between a line and HEAD), and otherwise reads
// the newest file's last line.
type head struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	File string    `json:"file"`
	Size int64     `json:"size"`
	Time time.Time `json:"time"`
}

// Append writes e as the next line and returns it as written (Seq, Time and Prev set).
// The line is synced to disk before Append returns.
func (l *Log) Append(e Entry) (Entry, error) {
	const op = "audit.Append"
	if e.Actor == "" || e.Action == "" {
		return Entry{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "an audit entry needs an actor and an action")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lock, err := os.OpenFile(filepath.Join(l.dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too

	last, err := lastLine(l.dir)
	if err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.In(tracewatch.Beijing)
	// A clock that went back must not put a line in an earlier day's file.
	if !last.time.IsZero() && e.Time.Before(last.time) {
		e.Time = last.time
	}
	e.Seq, e.Prev = last.seq+1, last.hash
	line, err := json.Marshal(e)
	if err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInvalid, err)
	}
	name := fileOf(e.Time)
	f, err := os.OpenFile(filepath.Join(l.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if err := writeHead(l.dir, head{Seq: e.Seq, Hash: hashOf(line), File: name, Size: size, Time: e.Time}); err != nil {
		return Entry{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return e, nil
}

// fileOf names the file of the business day of t.
func fileOf(t time.Time) string { return t.In(tracewatch.Beijing).Format("2006-01-02") + ".jsonl" }

func hashOf(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// files lists the day files of dir in order.
func files(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, de := range des {
		n := de.Name()
		if _, err := time.Parse("2006-01-02.jsonl", n); err == nil && !de.IsDir() {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

type tail struct {
	seq  int64
	hash string
	time time.Time
}

// lastLine returns the last line's sequence number, hash and time (zero when the log is
// empty): from HEAD when the newest day file is as HEAD left it, else from the end of
// that file.
func lastLine(dir string) (tail, error) {
	fs, err := files(dir)
	if err != nil || len(fs) == 0 {
		return tail{}, err
	}
	newest := fs[len(fs)-1]
	if b, err := os.ReadFile(filepath.Join(dir, "HEAD")); err == nil {
		var h head
		if json.Unmarshal(b, &h) == nil && h.File == newest {
			if fi, err := os.Stat(filepath.Join(dir, newest)); err == nil && fi.Size() == h.Size {
				return tail{seq: h.Seq, hash: h.Hash, time: h.Time}, nil
			}
		}
	}
	for i := len(fs) - 1; i >= 0; i-- {
		line, err := lastLineOf(filepath.Join(dir, fs[i]))
		if err != nil {
			return tail{}, err
		}
		if line == nil {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return tail{}, fmt.Errorf("%s: the last line is not an audit entry (run tracewatch audit verify): %v", fs[i], err)
		}
		return tail{seq: e.Seq, hash: hashOf(line), time: e.Time}, nil
	}
	return tail{}, nil
}

// lastLineOf reads the last line of the file at path, without its newline (nil when the
// file holds none), reading backwards from the end in growing chunks.
func lastLineOf(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	for chunk := int64(64 << 10); ; chunk *= 4 {
		off := max(size-chunk, 0)
		buf := make([]byte, size-off)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return nil, err
		}
		buf = bytes.TrimRight(buf, "\n")
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[i+1:], nil
		}
		if off == 0 {
			if len(buf) == 0 {
				return nil, nil
			}
			return buf, nil
		}
	}
}

func writeHead(dir string, h head) error {
	b, _ := json.Marshal(h)
	tmp := filepath.Join(dir, "HEAD.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "HEAD"))
}

// BrokenError says where the chain breaks: the file, the 1-based line in it, and why.
type BrokenError struct {
	File   string
	Line   int
	Reason string
}

func (b *BrokenError) Error() string {
	if b.Line == 0 {
		return b.File + ": " + b.Reason
	}
	return b.File + " line " + strconv.Itoa(b.Line) + ": " + b.Reason
}

// Summary is what Verify proved.
type Summary struct {
	Files   int    `json:"files"`
	Entries int64  `json:"entries"`
	Head    string `json:"head"` // hash of the last line
}

// Verify reads the whole log in dir and checks that every line is an entry, numbered
// one after the other, carrying the hash of the line before it, in the file of its
// day, and that HEAD names the last line. The error is a *BrokenError naming the first
// line that fails (an empty log verifies).
func Verify(dir string) (Summary, error) {
	var s Summary
	fs, err := files(dir)
	if err != nil {
		return s, err
	}
	prev := ""
	var lastTime time.Time
	for _, name := range fs {
		s.Files++
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return s, err
		}
		r := bufio.NewReaderSize(f, 1<<16)
		n := 0
		for {
			line, err := r.ReadBytes('\n')
			if len(line) == 0 && err == io.EOF {
				break
			}
			if err != nil && err != io.EOF {
				f.Close()
				return s, err
			}
			n++
			broken := func(format string, args ...any) error {
				f.Close()
				return &BrokenError{File: name, Line: n, Reason: fmt.Sprintf(format, args...)}
			}
			if !bytes.HasSuffix(line, []byte("\n")) {
				return s, broken("the line is cut short (no newline)")
			}
			line = line[:len(line)-1]
			var e Entry
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				return s, broken("not an audit entry: %v", err)
			}
			if e.Seq != s.Entries+1 {
				return s, broken("sequence number %d, want %d (a line removed or added)", e.Seq, s.Entries+1)
			}
			if e.Prev != prev {
				return s, broken("the previous line's hash is %s, this line says %s (the line before was changed)", short(prev), short(e.Prev))
			}
			if got := fileOf(e.Time); got != name {
				return s, broken("the entry's time %s belongs in %s", e.Time.Format(time.RFC3339), got)
			}
			if e.Time.Before(lastTime) {
				return s, broken("the entry's time %s is before the line before's", e.Time.Format(time.RFC3339))
			}
			if e.Actor == "" || e.Action == "" {
				return s, broken("no actor or action")
			}
			lastTime = e.Time
			prev = hashOf(line)
			s.Entries++
			if err == io.EOF {
				break
			}
		}
		f.Close()
	}
	s.Head = prev
	b, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	if errors.Is(err, os.ErrNotExist) {
		if s.Entries == 0 {
			return s, nil
		}
		return s, &BrokenError{File: "HEAD", Reason: "missing, but the log has entries"}
	}
	if err != nil {
		return s, err
	}
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return s, &BrokenError{File: "HEAD", Reason: "not readable: " + err.Error()}
	}
	if h.Seq != s.Entries || h.Hash != prev {
		return s, &BrokenError{File: "HEAD", Reason: fmt.Sprintf("names line %d with hash %s, the log ends at line %d with hash %s (the last line was changed, or lines were removed)",
			h.Seq, short(h.Hash), s.Entries, short(prev))}
	}
	return s, nil
}

func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Filter selects entries for List; zero fields select everything.
type Filter struct {
	From, To time.Time // To excluded
	Actor    string
	Action   string
	Object   string // a prefix: "clue:" lists every clue's entries
}

// List streams the entries of dir that f selects, in order. It does not verify the chain
// (Verify does); a line that is not an entry is an error naming it.
func List(dir string, f Filter, fn func(Entry) error) error {
	fs, err := files(dir)
	if err != nil {
		return err
	}
	for _, name := range fs {
		day, _ := time.ParseInLocation("2006-01-02.jsonl", name, tracewatch.Beijing)
		if !f.To.IsZero() && !day.Before(f.To) {
			break
		}
		if !f.From.IsZero() && !day.AddDate(0, 0, 1).After(f.From) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var e Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				return &BrokenError{File: name, Line: i + 1, Reason: "not an audit entry: " + err.Error()}
			}
			if (!f.From.IsZero() && e.Time.Before(f.From)) || (!f.To.IsZero() && !e.Time.Before(f.To)) ||
				(f.Actor != "" && e.Actor != f.Actor) || (f.Action != "" && e.Action != f.Action) ||
				(f.Object != "" && !strings.HasPrefix(e.Object, f.Object)) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}
