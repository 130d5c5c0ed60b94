package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
)

func at(day, hour int) time.Time {
	return time.Date(2026, 12, day, hour, 0, 0, 0, tracewatch.Beijing)
}

func fill(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []Entry{
		{Time: at(1, 9), Actor: "alice", Action: "login", From: "10.0.0.1"},
		{Time: at(1, 10), Actor: "alice", Action: "transition", Object: "clue:7", Detail: map[string]any{"to": "triaged", "note": "看过了"}},
		{Time: at(2, 0), Actor: "bob", Action: "export", Object: "file:dispatch-360100.xlsx", Detail: map[string]any{"sha256": "ab"}},
		{Time: at(2, 23), Actor: "bob", Action: "read_person", Object: "person:36000000000000001165"},
	} {
		got, err := l.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != int64(i+1) {
			t.Fatalf("entry %d: seq %d", i, got.Seq)
		}
	}
	return l
}

// TestVerify: an untouched log verifies; days go to their own files (Beijing days) and
// chain across them.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	s, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Files != 2 || s.Entries != 4 || len(s.Head) != 64 {
		t.Errorf("summary %+v", s)
	}
	for _, f := range []string{"2026-12-01.jsonl", "2026-12-02.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if s, err := Verify(t.TempDir()); err != nil || s.Entries != 0 {
		t.Errorf("empty log: %+v, %v", s, err)
	}
}

// TestVerifyFindsTampering: every kind of change by hand is found, naming the first line
// that fails.
func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		change func(day1, day2 string) (string, string)
		file   string
		line   int
	}{
		{"a word changed", func(a, b string) (string, string) { return strings.Replace(a, "看过了", "没看过", 1), b }, "2026-12-02.jsonl", 1},
		{"the first line changed", func(a, b string) (string, string) { return strings.Replace(a, "10.0.0.1", "10.0.0.2", 1), b }, "2026-12-01.jsonl", 2},
		{"the last line changed", func(a, b string) (string, string) {
			return a, strings.Replace(b, "36000000000000001165", "36000000000000009999", 1)
		}, "HEAD", 0},
		{"the last line removed", func(a, b string) (string, string) { return a, b[:strings.Index(b, "\n")+1] }, "HEAD", 0},
		{"a middle line removed", func(a, b string) (string, string) { return a[:strings.Index(a, "\n")+1], b }, "2026-12-02.jsonl", 1},
		{"lines swapped", func(a, b string) (string, string) {
			ls := strings.SplitAfter(a, "\n")
			return ls[1] + ls[0], b
		}, "2026-12-01.jsonl", 1},
		{"not JSON", func(a, b string) (string, string) { return a, "garbage\n" + b }, "2026-12-02.jsonl", 1},
		{"a line cut short", func(a, b string) (string, string) { return a, strings.TrimSuffix(b, "\n") }, "2026-12-02.jsonl", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir)
			p1, p2 := filepath.Join(dir, "2026-12-01.jsonl"), filepath.Join(dir, "2026-12-02.jsonl")
			a, _ := os.ReadFile(p1)
			b, _ := os.ReadFile(p2)
			na, nb := tc.change(string(a), string(b))
			if err := os.WriteFile(p1, []byte(na), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p2, []byte(nb), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(dir)
			var be *BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("Verify after %s: %v, want a BrokenError", tc.name, err)
			}
			if be.File != tc.file || be.Line != tc.line {
				t.Errorf("broken at %s line %d (%s), want %s line %d", be.File, be.Line, be.Reason, tc.file, tc.line)
			}
		})
	}
}

// TestAppendConcurrent: appends from many goroutines and two Logs on one directory (as
// two processes would) make one unbroken chain.
func TestAppendConcurrent(t *testing.T) {
	dir := t.TempDir()
	a, _ := Open(dir)
	b, _ := Open(dir)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			if _, err := l.Append(Entry{Actor: "system", Action: "screen"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, err := Verify(dir)
	if err != nil || s.Entries != 40 {
		t.Fatalf("%+v, %v", s, err)
	}
}

// TestAppendRefusesAndOrders: an entry without actor or action is refused; a clock that
// went back does not put an entry before the last one.
func TestAppendRefusesAndOrders(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir)
	if _, err := l.Append(Entry{Action: "login"}); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("no actor: %v", err)
	}
	if _, err := l.Append(Entry{Time: at(3, 12), Actor: "a", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(Entry{Time: at(2, 12), Actor: "a", Action: "y"})
	if err != nil || !e.Time.Equal(at(3, 12)) {
		t.Errorf("clock back: %v, %v", e.Time, err)
	}
	if _, err := Verify(dir); err != nil {
		t.Error(err)
	}
}

// TestList filters by time, actor, action and object prefix.
func TestList(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	count := func(f Filter) int {
		n := 0
		if err := List(dir, f, func(Entry) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 4},
		{Filter{Actor: "bob"}, 2},
		{Filter{Action: "transition"}, 1},
		{Filter{Object: "clue:"}, 1},
		{Filter{From: at(2, 0)}, 2},
		{Filter{To: at(1, 10)}, 1},
		{Filter{From: at(1, 10), To: at(2, 1)}, 2},
	} {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%+v: %d entries, want %d", tc.f, got, tc.want)
		}
	}
}

// TestAppendWithoutHead: when HEAD is missing or behind (a crash between a line and
// HEAD), Append reads the newest file's last line, and the chain stays whole.
func TestAppendWithoutHead(t *testing.T) {
	dir := t.TempDir()
	l := fill(t, dir)
	if err := os.Remove(filepath.Join(dir, "HEAD")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Time: at(2, 23), Actor: "bob", Action: "logout"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "HEAD"))
	// HEAD now one line behind the file, as after a crash.
	if _, err := l.Append(Entry{Time: at(2, 23), Actor: "bob", Action: "login"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "HEAD"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Time: at(2, 23), Actor: "bob", Action: "logout"}); err != nil {
		t.Fatal(err)
	}
	if s, err := Verify(dir); err != nil || s.Entries != 7 {
		t.Fatalf("%+v, %v", s, err)
	}
}
