package duckdb

// The journal (docs/adr/0003-write-path.md): with Options.Journal, Commit acknowledges a
// batch once it is appended to a journal file of the data directory and fsync'd, and a
// background applier moves journal records into DuckDB in large transactions that also
// record how far the journal has been applied. Every batch queued while one append is
// being written and synced goes into the next append (group commit), so a request costs
// one share of one small write and one fsync instead of a DuckDB transaction.
//
// Records are framed as [4-byte length][4-byte CRC-32C][JSON batch]. Segments are named
// journal/<gen>.log; the applied position (gen, offset) is stored in journal_state in the
// same DuckDB transaction as the rows, so a crash at any moment re-applies exactly the
// records after it. Open replays the tail and removes the applied segments; a torn
// record at the end of the last segment (a write that was never synced, so never
// acknowledged) is ignored.
//
// Reads that must see every acknowledged row wait until the applier has passed the
// journal position current when they start (Store.await); Message answers from the
// journaled-but-unapplied messages first, so a replayed msgid gets its first answer at
// once.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tracewatch"
)

const (
	journalDir     = "journal"
	recordHeader   = 8
	maxRecordBytes = 1 << 30
)

// segmentMax: a segment is closed once it passes this size (a variable for the tests).
var segmentMax int64 = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalPos is a position in the journal: the end of a record.
type journalPos struct {
	gen, off int64
}

// jrecord is one journaled batch on its way to DuckDB.
type jrecord struct {
	batch *tracewatch.Batch
	end   journalPos
	seq   int64
}

// jcommit is one Commit waiting for its append.
type jcommit struct {
	batch *tracewatch.Batch
	res   tracewatch.CommitResult
	err   error
	done  chan struct{}
}

type journal struct {
	st  *Store
	dir string

	reqs    chan *jcommit
	stopped chan struct{} // closed when the appender has exited
	closeMu sync.RWMutex  // held for reading while sending to reqs
	closed  bool

	// appender state (appender goroutine only)
	f        *os.File
	gen      int64
	size     int64
	firstGen int64 // this process's first segment (Open removed the older ones)

	mu       sync.Mutex
	pending  map[string]tracewatch.MessageRecord // journaled, not yet applied
	filter   *msgFilter                          // msgids stored or journaled
	queue    []jrecord                           // journaled, not yet handed to DuckDB
	wake     chan struct{}                       // signals the applier (cap 1)
	closing  bool
	applyErr error // the last apply failure (retried until it succeeds)

	appended atomic.Int64  // records acknowledged
	applied  atomic.Int64  // records in DuckDB
	notify   chan struct{} // closed and replaced whenever applied moves
	notifyMu sync.Mutex
	applier  chan struct{} // closed when the applier has exited
}

// segmentPath names the segment of generation gen.
func (j *journal) segmentPath(gen int64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016d.log", gen))
}

// segments lists the generations present, in order.
func segments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var gens []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		g, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		gens = append(gens, g)
	}
	slices.Sort(gens)
	return gens, nil
}

// readJournalState returns the applied position stored in DuckDB.
func (s *Store) readJournalState(ctx context.Context) (journalPos, error) {
	var p journalPos
	err := s.db.QueryRowContext(ctx, `SELECT gen, off FROM journal_state`).Scan(&p.gen, &p.off)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, err
	}
	return p, nil
}

// replayJournal applies every journal record after the applied position, then removes
// the segments. It runs in Open, before anything else can write.
func (s *Store) replayJournal(ctx context.Context, dir string) (lastGen int64, replayed int, err error) {
	const op = "duckdb.replayJournal"
	jdir := filepath.Join(dir, journalDir)
	gens, err := segments(jdir)
	if err != nil {
		return 0, 0, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	state, err := s.readJournalState(ctx)
	if err != nil {
		return 0, 0, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	lastGen = state.gen
	var group []*tracewatch.Batch
	var groupEvents int
	var groupEnd journalPos
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		r := &request{batches: group, jpos: &groupEnd}
		if err := s.writer.submit(ctx, r); err != nil {
			return err
		}
		replayed += len(group)
		group, groupEvents = nil, 0
		return nil
	}
	for i, g := range gens {
		lastGen = max(lastGen, g)
		if g < state.gen {
			continue
		}
		from := int64(0)
		if g == state.gen {
			from = state.off
		}
		last := i == len(gens)-1
		err := readSegment(filepath.Join(jdir, fmt.Sprintf("%016d.log", g)), from, last, func(b *tracewatch.Batch, end int64) error {
			group = append(group, b)
			groupEvents += len(b.Events)
			groupEnd = journalPos{g, end}
			if groupEvents >= maxGroupEvents/4 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return 0, 0, tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("journal segment %d: %w", g, err))
		}
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	for _, g := range gens {
		if err := os.Remove(filepath.Join(jdir, fmt.Sprintf("%016d.log", g))); err != nil {
			return 0, 0, tracewatch.E(op, tracewatch.KindInternal, err)
		}
	}
	return lastGen, replayed, nil
}

// readSegment calls fn for every record of the segment at or after offset from. A
// record cut short or failing its checksum ends the last segment (a torn, never
// acknowledged write); anywhere else it is corruption.
func readSegment(path string, from int64, last bool, fn func(b *tracewatch.Batch, end int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	off := from
	var hdr [recordHeader]byte
	for {
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			if err == io.EOF || (last && err == io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("record at offset %d: %w", off, err)
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n > maxRecordBytes {
			if last {
				return nil
			}
			return fmt.Errorf("record at offset %d: length %d", off, n)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(f, buf); err != nil {
			if last {
				return nil
			}
			return fmt.Errorf("record at offset %d: %w", off, err)
		}
		if crc32.Checksum(buf, castagnoli) != sum {
			if last {
				return nil
			}
			return fmt.Errorf("record at offset %d: checksum mismatch", off)
		}
		var b tracewatch.Batch
		if err := json.Unmarshal(buf, &b); err != nil {
			return fmt.Errorf("record at offset %d: %w", off, err)
		}
		off += recordHeader + int64(n)
		if err := fn(&b, off); err != nil {
			return err
		}
	}
}

// openJournal starts the appender and the applier on a fresh segment after lastGen.
func (s *Store) openJournal(dir string, lastGen int64) (*journal, error) {
	const op = "duckdb.openJournal"
	j := &journal{st: s, dir: filepath.Join(dir, journalDir), reqs: make(chan *jcommit, 4096), stopped: make(chan struct{}),
		pending: map[string]tracewatch.MessageRecord{}, wake: make(chan struct{}, 1), notify: make(chan struct{}),
		applier: make(chan struct{})}
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if err := j.newSegment(lastGen + 1); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	j.firstGen = j.gen
	var stored int64
	if err := s.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&stored); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	j.filter = newMsgFilter(max(2*stored, 10_000_000))
	go func() {
		// On failure the filter stays unready: every msgid then asks DuckDB (slower,
		// still right).
		_ = j.fillFilter(context.Background())
	}()
	go j.appendLoop()
	go j.applyLoop()
	return j, nil
}

// newSegment creates the segment gen and makes its name durable.
func (j *journal) newSegment(gen int64) error {
	f, err := os.OpenFile(j.segmentPath(gen), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.gen, j.size = f, gen, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// commit journals b and returns once it is durable.
func (j *journal) commit(ctx context.Context, b *tracewatch.Batch) (tracewatch.CommitResult, error) {
	c := &jcommit{batch: b, done: make(chan struct{})}
	j.closeMu.RLock()
	if j.closed {
		j.closeMu.RUnlock()
		return tracewatch.CommitResult{}, tracewatch.Errorf("duckdb.Commit", tracewatch.KindInternal, "the store is closed")
	}
	select {
	case j.reqs <- c:
	case <-ctx.Done():
		j.closeMu.RUnlock()
		return tracewatch.CommitResult{}, ctx.Err()
	}
	j.closeMu.RUnlock()
	<-c.done // once queued, the commit completes: its outcome must be known
	return c.res, c.err
}

// appendLoop takes the queued commits in groups: decide replays, append, fsync, answer.
func (j *journal) appendLoop() {
	defer close(j.stopped)
	for c := range j.reqs {
		group := []*jcommit{c}
		events := len(c.batch.Events)
	gather:
		for events < maxGroupEvents {
			select {
			case next, ok := <-j.reqs:
				if !ok {
					break gather
				}
				group = append(group, next)
				events += len(next.batch.Events)
			default:
				break gather
			}
		}
		j.appendGroup(group)
	}
	j.f.Close()
}

// appendGroup journals one group of commits with one write and one fsync.
func (j *journal) appendGroup(group []*jcommit) {
	const op = "duckdb.Commit"
	fail := func(err error) {
		for _, c := range group {
			c.err = tracewatch.E(op, tracewatch.KindInternal, err)
			close(c.done)
		}
	}
	// 1. Replays: a msgid journaled and not applied, seen earlier in this group, or
	// stored. The pending set is read before the store: a message leaves it only after
	// its DuckDB commit, so it is always found in one of the two.
	seen := map[string][]byte{}
	var ask []string
	j.mu.Lock()
	for _, c := range group {
		for _, m := range c.batch.Messages {
			if p, ok := j.pending[m.MsgID]; ok {
				seen[m.MsgID] = p.Response
			} else if _, ok := seen[m.MsgID]; !ok && j.filter.maybe(m.MsgID) {
				ask = append(ask, m.MsgID)
			}
		}
	}
	j.mu.Unlock()
	stored, err := j.st.storedResponses(context.Background(), ask)
	if err != nil {
		fail(err)
		return
	}
	// 2. What each commit keeps, and the records to write.
	var buf []byte
	var recs []jrecord
	var fresh []tracewatch.MessageRecord
	added := map[string]bool{}
	for _, c := range group {
		b := c.batch
		drop := map[string]bool{}
		mine := map[string]bool{} // first seen in this batch: the writer keeps its first rows
		for _, m := range b.Messages {
			resp, dup := seen[m.MsgID]
			if !dup {
				resp, dup = stored[m.MsgID]
			}
			if dup {
				if c.res.Replayed == nil {
					c.res.Replayed = map[string][]byte{}
				}
				c.res.Replayed[m.MsgID] = resp
				if !mine[m.MsgID] {
					drop[m.MsgID] = true
				}
				continue
			}
			seen[m.MsgID] = m.Response
			mine[m.MsgID] = true
		}
		if len(drop) > 0 {
			b = withoutMessages(b, drop)
		}
		if len(b.Messages) == 0 && len(b.Events) == 0 && len(b.Quarantine) == 0 {
			continue
		}
		var err error
		if buf, err = appendRecord(buf, b); err != nil {
			fail(err)
			return
		}
		recs = append(recs, jrecord{batch: b, end: journalPos{j.gen, j.size + int64(len(buf))}})
		for _, m := range b.Messages {
			if !added[m.MsgID] {
				added[m.MsgID] = true
				fresh = append(fresh, m)
			}
		}
		lines := map[string]bool{} // a row (msgid, line) given twice is stored once
		for _, e := range b.Events {
			k := e.MsgID + "\x00" + strconv.Itoa(e.Line)
			if lines[k] {
				continue
			}
			lines[k] = true
			c.res.Events++
			c.res.Codes += len(e.Codes)
		}
	}
	// 3. One write, one fsync.
	if len(buf) > 0 {
		if _, err := j.f.Write(buf); err != nil {
			j.rotateAfterFailure()
			fail(err)
			return
		}
		if err := j.f.Sync(); err != nil {
			j.rotateAfterFailure()
			fail(err)
			return
		}
		j.size += int64(len(buf))
	}
	// 4. Durable: visible to Message and queued for DuckDB, then answered.
	j.mu.Lock()
	for _, m := range fresh {
		j.pending[m.MsgID] = m
		j.filter.add(m.MsgID)
	}
	base := j.appended.Load()
	for i := range recs {
		recs[i].seq = base + int64(i) + 1
	}
	j.queue = append(j.queue, recs...)
	j.appended.Store(base + int64(len(recs)))
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	for _, c := range group {
		close(c.done)
	}
	if j.size >= segmentMax {
		if err := j.newSegment(j.gen + 1); err != nil {
			// The current segment stays in use; the next append retries the rotation.
			_ = err
		}
	}
}

// appendRecord appends b to buf as one framed record.
func appendRecord(buf []byte, b *tracewatch.Batch) ([]byte, error) {
	payload, err := json.Marshal(b)
	if err != nil {
		return buf, err
	}
	if len(payload) > maxRecordBytes {
		return buf, fmt.Errorf("a batch of %d bytes is too large for the journal", len(payload))
	}
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, hdr[:]...)
	return append(buf, payload...), nil
}

// rotateAfterFailure cuts what a failed write or sync may have left after the last
// good record, then moves to a new segment: Open accepts a torn record only at the end
// of the last segment. (If even the cut fails, Open will name the segment and offset.)
func (j *journal) rotateAfterFailure() {
	_ = j.f.Truncate(j.size)
	_ = j.f.Sync()
	_ = j.newSegment(j.gen + 1)
}

// withoutMessages returns b without the messages in drop and their rows.
func withoutMessages(b *tracewatch.Batch, drop map[string]bool) *tracewatch.Batch {
	out := &tracewatch.Batch{}
	for _, m := range b.Messages {
		if !drop[m.MsgID] {
			out.Messages = append(out.Messages, m)
		}
	}
	for _, e := range b.Events {
		if !drop[e.MsgID] {
			out.Events = append(out.Events, e)
		}
	}
	for _, q := range b.Quarantine {
		if !drop[q.MsgID] {
			out.Quarantine = append(out.Quarantine, q)
		}
	}
	return out
}

// storedResponses returns the first answers of the msgids already in DuckDB.
func (s *Store) storedResponses(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		q := `SELECT msgid, response FROM messages WHERE msgid IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, resp string
			if err := rows.Scan(&id, &resp); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = []byte(resp)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyLoop moves journal records into DuckDB: everything queued goes into one
// transaction (up to maxGroupEvents events) that also records the journal position. A
// failure is retried, with the records kept, until it succeeds or the store closes.
func (j *journal) applyLoop() {
	defer close(j.applier)
	backoff := 50 * time.Millisecond
	isolate := false     // after a failed group, apply one record at a time until one succeeds
	oldest := j.firstGen // the first segment not yet removed
	for {
		j.mu.Lock()
		for len(j.queue) == 0 {
			if j.closing {
				j.mu.Unlock()
				return
			}
			j.mu.Unlock()
			<-j.wake
			j.mu.Lock()
		}
		n, events := 0, 0
		for n < len(j.queue) && (n == 0 || !isolate && events+len(j.queue[n].batch.Events) <= maxGroupEvents) {
			events += len(j.queue[n].batch.Events)
			n++
		}
		recs := slices.Clone(j.queue[:n])
		j.mu.Unlock()

		batches := make([]*tracewatch.Batch, len(recs))
		for i, r := range recs {
			batches[i] = r.batch
		}
		end := recs[len(recs)-1].end
		err := j.st.writer.submit(context.Background(), &request{batches: batches, jpos: &end})
		j.mu.Lock()
		if err != nil {
			j.applyErr = err
			closing := j.closing
			j.mu.Unlock()
			if closing && backoff > 5*time.Second {
				return // the records stay in the journal; the next Open applies them
			}
			if !isolate && n > 1 {
				isolate = true // the same group again may fail again: find the record at fault
			} else {
				time.Sleep(backoff)
				backoff = min(2*backoff, 10*time.Second)
			}
			continue
		}
		backoff, isolate = 50*time.Millisecond, false
		j.applyErr = nil
		j.queue = j.queue[n:]
		for _, b := range batches {
			for _, m := range b.Messages {
				delete(j.pending, m.MsgID)
			}
		}
		j.mu.Unlock()
		j.applied.Store(recs[len(recs)-1].seq)
		j.notifyMu.Lock()
		close(j.notify)
		j.notify = make(chan struct{})
		j.notifyMu.Unlock()
		// Segments before the one now being applied are done with (no directory listing:
		// this runs after every apply).
		for ; oldest < end.gen; oldest++ {
			os.Remove(j.segmentPath(oldest))
		}
	}
}

// await returns once every record acknowledged before the call is in DuckDB.
func (j *journal) await(ctx context.Context) error {
	target := j.appended.Load()
	for j.applied.Load() < target {
		j.notifyMu.Lock()
		ch := j.notify
		j.notifyMu.Unlock()
		if j.applied.Load() >= target {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-j.applier:
			return tracewatch.Errorf("duckdb.await", tracewatch.KindInternal, "the journal applier has stopped")
		}
	}
	return nil
}

// close stops taking commits, applies everything journaled and stops the applier.
func (j *journal) close() {
	j.closeMu.Lock()
	j.closed = true
	close(j.reqs)
	j.closeMu.Unlock()
	<-j.stopped
	j.mu.Lock()
	j.closing = true
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.applier
}

// pendingMessage returns a journaled message not yet applied; known is false when the
// msgid is certainly neither journaled nor stored.
func (j *journal) pendingMessage(msgid string) (m tracewatch.MessageRecord, ok, known bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m, ok = j.pending[msgid]
	return m, ok, ok || j.filter.maybe(msgid)
}

// JournalStatus reports the journal: records acknowledged and not yet in DuckDB, and
// the last apply failure (nil when the applier is keeping up). Without a journal both
// are zero.
func (s *Store) JournalStatus() (lag int64, err error) {
	if s.journal == nil {
		return 0, nil
	}
	s.journal.mu.Lock()
	err = s.journal.applyErr
	s.journal.mu.Unlock()
	return s.journal.appended.Load() - s.journal.applied.Load(), err
}

// await waits, with a journal, until every acknowledged batch is readable.
func (s *Store) await(ctx context.Context) error {
	if s.journal == nil {
		return nil
	}
	return s.journal.await(ctx)
}

// msgFilter is a Bloom filter of every msgid stored or journaled, so that a new msgid —
// nearly every message — is known new without asking DuckDB (a point query costs more
// than the whole rest of a request). A "maybe" is settled by DuckDB. It fills from the
// messages table in the background; until it is ready every msgid is a "maybe". Beyond
// its capacity false "maybe"s grow, which costs lookups, never correctness.
type msgFilter struct {
	seed  maphash.Seed
	bits  []uint64 // guarded by journal.mu for writes; read under it too
	m     uint64
	ready atomic.Bool
}

const filterHashes = 7

func newMsgFilter(capacity int64) *msgFilter {
	m := uint64(max(capacity, 1<<20)) * 10 // 10 bits per msgid: about 1 % false "maybe"
	m = (m + 63) &^ 63
	return &msgFilter{seed: maphash.MakeSeed(), bits: make([]uint64, m/64), m: m}
}

func (f *msgFilter) add(id string) {
	h := maphash.String(f.seed, id)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := uint64(0); i < filterHashes; i++ {
		b := (h1 + i*h2) % f.m
		f.bits[b/64] |= 1 << (b % 64)
	}
}

// maybe reports whether id may have been added (always true until the filter is ready).
func (f *msgFilter) maybe(id string) bool {
	if !f.ready.Load() {
		return true
	}
	h := maphash.String(f.seed, id)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := uint64(0); i < filterHashes; i++ {
		b := (h1 + i*h2) % f.m
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// fillFilter adds every stored msgid to the filter, then marks it ready. Messages
// journaled meanwhile are added by the appender, so none is missed.
func (j *journal) fillFilter(ctx context.Context) error {
	rows, err := j.st.db.QueryContext(ctx, `SELECT msgid FROM messages`)
	if err != nil {
		return err
	}
	defer rows.Close()
	chunk := make([]string, 0, 4096)
	flush := func() {
		j.mu.Lock()
		for _, id := range chunk {
			j.filter.add(id)
		}
		j.mu.Unlock()
		chunk = chunk[:0]
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if chunk = append(chunk, id); len(chunk) == cap(chunk) {
			flush()
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	j.filter.ready.Store(true)
	return nil
}
