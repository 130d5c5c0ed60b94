package duckdb

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
)

var jcst = time.FixedZone("CST", 8*3600)

// jsale is a one-line 3505 message selling key at inst.
func jsale(msgid, inst, key string) *tracewatch.Batch {
	e := tracewatch.Event{MsgID: msgid, Line: 1, Infno: "3505", Kind: tracewatch.EventSale, Institution: inst, DrugCode: "XA11DAW036A001010104127",
		Qty: tracewatch.QtyScale, Time: time.Date(2025, 3, 2, 10, 0, 0, 0, jcst), Receipt: "R-" + msgid,
		Codes: []tracewatch.EventCode{{Raw: key, Key: key, Kind: "nmpa20", ProductID: key[:7], Level: 1}}}
	return &tracewatch.Batch{
		Messages: []tracewatch.MessageRecord{{MsgID: msgid, Infno: "3505", Institution: inst, Source: "http", Received: e.Time, Accepted: 1,
			Response: []byte(`{"infcode":"0","inf_refmsgid":"` + msgid + `"}`)}},
		Events: []tracewatch.Event{e}}
}

func jkey(i int) string { return fmt.Sprintf("838579300%011d", i) }

func openJ(t *testing.T, dir string, journal bool) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{Threads: 2, Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tables(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Tables
}

// TestJournalCommitReadReplay: with the journal, an acknowledged commit is readable at
// once (reads wait for the applier), a replayed msgid answers its first answer whether
// it is still pending or applied, and Close leaves no journal behind.
func TestJournalCommitReadReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, true)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Commit(ctx, jsale(fmt.Sprintf("M%03d", i), "P1", jkey(i)))
			if err != nil || r.Events != 1 || r.Codes != 1 || len(r.Replayed) != 0 {
				t.Errorf("commit %d: %+v %v", i, r, err)
			}
		}()
	}
	wg.Wait()
	// Replays: pending or applied, the first answer, nothing stored twice.
	other := jsale("M007", "P1", jkey(999))
	other.Messages[0].Response = []byte(`{"infcode":"0","other":true}`)
	r, err := s.Commit(ctx, other)
	if err != nil || string(r.Replayed[tracewatch.MessageKey{Institution: "P1", MsgID: "M007"}]) != `{"infcode":"0","inf_refmsgid":"M007"}` || r.Events != 0 {
		t.Fatalf("replay: %+v %v", r, err)
	}
	m, err := s.Message(ctx, "P1", "M199")
	if err != nil || m.Institution != "P1" {
		t.Fatalf("Message: %+v %v", m, err)
	}
	if got := tables(t, s); got["messages"] != 200 || got["sale_lines"] != 200 {
		t.Fatalf("after 200 commits: %v", got)
	}
	l, err := s.Ledger(ctx, jkey(42))
	if err != nil || l.Sales != 1 || l.FirstSeller != "P1" {
		t.Fatalf("ledger: %+v %v", l, err)
	}
	if lag, err := s.JournalStatus(); lag != 0 || err != nil {
		t.Errorf("JournalStatus = %d, %v", lag, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openJ(t, dir, false)
	defer s.Close()
	if got := tables(t, s); got["messages"] != 200 {
		t.Fatalf("reopened: %v", got)
	}
	if gens, _ := segments(filepath.Join(dir, journalDir)); len(gens) != 0 {
		t.Errorf("segments left after a clean close and reopen: %v", gens)
	}
}

// TestJournalRecovery: a journal left by a process that died is applied by the next
// Open: records after the applied position once, those before it not again, and a torn
// record at the end (a write never synced, never acknowledged) ignored.
func TestJournalRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, false)
	// M000 and M001 are in DuckDB, applied from segment 3 up to the end of M001.
	var seg []byte
	for i := range 2 {
		b := jsale(fmt.Sprintf("M%03d", i), "P1", jkey(i))
		if _, err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		var err error
		if seg, err = appendRecord(seg, b); err != nil {
			t.Fatal(err)
		}
	}
	applied := int64(len(seg))
	if _, err := s.db.ExecContext(ctx, `UPDATE journal_state SET gen = 3, off = ?`, applied); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Acknowledged but not applied: M002–M004 in segment 3, M005 in segment 4; then a
	// torn record.
	for i := 2; i < 5; i++ {
		seg, _ = appendRecord(seg, jsale(fmt.Sprintf("M%03d", i), "P1", jkey(i)))
	}
	seg4, _ := appendRecord(nil, jsale("M005", "P2", jkey(5)))
	torn, _ := appendRecord(nil, jsale("M006", "P2", jkey(6)))
	seg4 = append(seg4, torn[:len(torn)/2]...)
	jdir := filepath.Join(dir, journalDir)
	os.MkdirAll(jdir, 0o750)
	os.WriteFile(filepath.Join(jdir, fmt.Sprintf("%016d.log", 3)), seg, 0o640)
	os.WriteFile(filepath.Join(jdir, fmt.Sprintf("%016d.log", 4)), seg4, 0o640)

	s = openJ(t, dir, true)
	got := tables(t, s)
	if got["messages"] != 6 || got["sale_lines"] != 6 {
		t.Fatalf("after recovery: %v (want the 6 acknowledged messages once each)", got)
	}
	if _, err := s.Message(ctx, "P2", "M006"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("the torn record was applied: %v", err)
	}
	// The new journal starts after the old generations; a commit now and a reopen.
	if _, err := s.Commit(ctx, jsale("M007", "P2", jkey(7))); err != nil {
		t.Fatal(err)
	}
	if gens, _ := segments(jdir); len(gens) != 1 || gens[0] != 5 {
		t.Errorf("segments after recovery: %v, want [5]", gens)
	}
	s.Close()
	s = openJ(t, dir, false)
	defer s.Close()
	if got := tables(t, s); got["messages"] != 7 {
		t.Fatalf("after reopen: %v", got)
	}
}

// TestJournalCorruption: a record Open cannot read that is not the tail of the last
// segment (checksum mismatch, a length it cannot trust, a payload that does not decode)
// does not stop Open: it is set aside as a dead letter with its bytes and where it was,
// and the records around it are applied.
func TestJournalCorruption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, false)
	s.Close()
	// Segment 1: M000, then M001 with a flipped byte, then M002.
	seg, _ := appendRecord(nil, jsale("M000", "P1", jkey(0)))
	at := len(seg)
	seg, _ = appendRecord(seg, jsale("M001", "P1", jkey(1)))
	seg[len(seg)-2] ^= 0xff
	seg, _ = appendRecord(seg, jsale("M002", "P1", jkey(2)))
	// Segment 2: a record whose checksum holds but which is not a batch, then M003.
	junk := []byte("not json \xff\xfe")
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(junk)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(junk, castagnoli))
	seg2 := append(hdr[:], junk...)
	seg2, _ = appendRecord(seg2, jsale("M003", "P1", jkey(3)))
	// Segment 3: a length it cannot trust: the rest of the segment is set aside.
	seg3 := []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5}
	// Segment 4: M004.
	seg4, _ := appendRecord(nil, jsale("M004", "P1", jkey(4)))
	jdir := filepath.Join(dir, journalDir)
	os.MkdirAll(jdir, 0o750)
	for g, b := range [][]byte{seg, seg2, seg3, seg4} {
		os.WriteFile(filepath.Join(jdir, fmt.Sprintf("%016d.log", g+1)), b, 0o640)
	}
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("Open with corrupt records: %v", err)
	}
	defer s.Close()
	if got := tables(t, s); got["messages"] != 4 || got["sale_lines"] != 4 {
		t.Errorf("after Open: %v, want M000, M002, M003 and M004", got)
	}
	if n, err := s.DeadLetters(ctx); n != 3 || err != nil {
		t.Errorf("DeadLetters = %d, %v; want 3", n, err)
	}
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ source, reason string }{
		{fmt.Sprintf("journal:1:%d", at), fmt.Sprintf("could not be stored: journal segment 1: record at offset %d: checksum mismatch", at)},
		{"journal:2:0", "could not be stored: journal segment 2: record at offset 0: invalid character"},
		{"journal:3:0", "could not be stored: journal segment 3: record at offset 0: length 4294967295"},
	}
	if len(rows) != len(want) {
		t.Fatalf("quarantine = %+v", rows)
	}
	for i, w := range want {
		if rows[i].Source != w.source || !strings.HasPrefix(rows[i].Reason, w.reason) || len(rows[i].Payload) == 0 {
			t.Errorf("row %d = %q %q (%d bytes), want %q %q…", i, rows[i].Source, rows[i].Reason, len(rows[i].Payload), w.source, w.reason)
		}
	}
	if string(rows[1].Payload) != string(junk) || string(rows[2].Payload) != string(seg3) {
		t.Errorf("payloads %q, %q", rows[1].Payload, rows[2].Payload)
	}
}

// TestJournalDeadLetter: an acknowledged record the applier cannot apply is set aside
// (after deadAfter tries alone) and the records behind it are applied; /readyz's
// JournalStatus is clear again. A failure of every write (the dead letter's write too)
// is not set aside: the record stays, the status reports the failure, and it applies
// once writes work again.
func TestJournalDeadLetter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, true)
	s.FailApplyOf("BAD")
	for i, id := range []string{"A", "BAD", "B", "C"} {
		if _, err := s.Commit(ctx, jsale(id, "P1", jkey(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := tables(t, s); got["messages"] != 3 {
		t.Fatalf("after the dead letter: %v", got)
	}
	if lag, err := s.JournalStatus(); lag != 0 || err != nil {
		t.Errorf("JournalStatus = %d, %v", lag, err)
	}
	if n, _ := s.DeadLetters(ctx); n != 1 {
		t.Errorf("DeadLetters = %d", n)
	}
	// Every write fails: the record is kept and retried, not set aside.
	s.writer.failWrites.Store(true)
	if _, err := s.Commit(ctx, jsale("D", "P1", jkey(9))); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.JournalStatus(); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // past deadAfter tries
	if lag, err := s.JournalStatus(); lag != 1 || err == nil {
		t.Errorf("JournalStatus while every write fails = %d, %v", lag, err)
	}
	s.writer.failWrites.Store(false) // writes work again
	if got := tables(t, s); got["messages"] != 4 {
		t.Fatalf("after recovery: %v", got)
	}
	if n, _ := s.DeadLetters(ctx); n != 1 {
		t.Errorf("DeadLetters = %d, want still 1", n)
	}
	s.Close()
	s = openJ(t, dir, false)
	defer s.Close()
	if n, _ := s.DeadLetters(ctx); n != 1 {
		t.Errorf("DeadLetters after reopen = %d", n)
	}
}

// TestDeadLetterFile: when even the dead_letters table refuses a dead letter, it goes
// to a file under journal/dead/, counted and kept across a reopen; the store goes on.
func TestDeadLetterFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, journal := range []bool{false, true} {
		s := openJ(t, dir, journal)
		s.FailApplyOf("BAD")
		s.writer.failDead.Store(true)
		if !journal {
			// The table write fails, the file is written: the dead letter alone is a
			// failure of its own only if something takes it, here the file.
			r, err := s.Commit(ctx, jsale("BAD", "P1", jkey(1)))
			if err != nil || len(r.DeadLettered) != 1 {
				t.Fatalf("direct commit: %+v, %v", r, err)
			}
		}
		s.Close()
	}
	s := openJ(t, dir, false)
	defer s.Close()
	if n, err := s.DeadLetters(ctx); n != 1 || err != nil {
		t.Errorf("DeadLetters = %d, %v", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, journalDir, deadDirName, "*.json"))
	if len(files) != 1 {
		t.Fatalf("dead letter files: %v", files)
	}
	var f struct {
		Error  string `json:"error"`
		Record []byte `json:"record"`
	}
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	rb, err := decodeBatch(f.Record)
	if err != nil || len(rb.Messages) != 1 || rb.Messages[0].MsgID != "BAD" || !strings.Contains(f.Error, "injected failure") {
		t.Errorf("dead letter file: %s (%v)", b, err)
	}
}

// TestJournalSegments: segments roll over at segmentMax and are removed once applied;
// what is acknowledged survives a reopen whatever segment it was in.
func TestJournalSegments(t *testing.T) {
	defer func(m int64) { segmentMax = m }(segmentMax)
	segmentMax = 4 << 10
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, true)
	for i := range 60 {
		if _, err := s.Commit(ctx, jsale(fmt.Sprintf("M%03d", i), "P1", jkey(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := tables(t, s); got["messages"] != 60 { // waits for the applier
		t.Fatalf("after 60 commits: %v", got)
	}
	s.Close() // the applier has removed what it finished with once Close returns
	gens, _ := segments(filepath.Join(dir, journalDir))
	if len(gens) < 1 || len(gens) > 2 {
		t.Errorf("%d segments left after everything was applied, want 1 or 2 (the last applied one and a fresh one after it): %v", len(gens), gens)
	}
	s = openJ(t, dir, false)
	defer s.Close()
	if got := tables(t, s); got["messages"] != 60 {
		t.Fatalf("reopened: %v", got)
	}
}
