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
//
// A record that cannot be applied on its own (it fails alone, again and again, while the
// store takes the dead letter's write) is set aside as a dead letter (deadletter.go) and
// the records behind it go on; so is a record Open cannot read in the middle of the
// journal. A failure of every write is retried with backoff, never set aside.

import (
	"context"
	"database/sql"
	"encoding/binary"
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
	pending  map[tracewatch.MessageKey]tracewatch.MessageRecord // journaled, not yet applied
	filter   *msgFilter                                         // message keys stored or journaled
	queue    []jrecord                                          // journaled, not yet handed to DuckDB
	wake     chan struct{}                                      // signals the applier (cap 1)
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
	type rec struct {
		b   *tracewatch.Batch
		end journalPos
	}
	var group []rec
	var groupEvents int
	// flush applies the group in one transaction; if that fails, one record at a time,
	// setting aside each that fails alone. Only a failure of the dead letter's write
	// too (of every write) stops Open.
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		batches := make([]*tracewatch.Batch, len(group))
		for i, r := range group {
			batches[i] = r.b
		}
		end := group[len(group)-1].end
		err := s.writer.submit(ctx, &request{batches: batches, jpos: &end})
		if err != nil {
			for _, r := range group {
				err := s.writer.submit(ctx, &request{batches: []*tracewatch.Batch{r.b}, jpos: &r.end})
				if err == nil {
					continue
				}
				if err := s.writer.submit(ctx, &request{dead: &deadLetter{batch: r.b, cause: err}, jpos: &r.end}); err != nil {
					return err
				}
			}
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
			group = append(group, rec{b, journalPos{g, end}})
			groupEvents += len(b.Events)
			if groupEvents >= maxGroupEvents/4 {
				return flush()
			}
			return nil
		}, func(raw []byte, at, end int64, bad error) error {
			// A record Open cannot read: applied up to it, then set aside as bytes.
			if err := flush(); err != nil {
				return err
			}
			cause := fmt.Errorf("journal segment %d: %w", g, bad)
			return s.writer.submit(ctx, &request{dead: &deadLetter{record: raw, source: fmt.Sprintf("journal:%d:%d", g, at), cause: cause}, jpos: &journalPos{g, end}})
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
// acknowledged write). Anywhere else it is corruption: bad gets the record's bytes (up to
// the segment's end when its length cannot be trusted), its offset, the offset reading
// goes on from, and what is wrong; so does a record whose checksum holds but which does
// not decode.
func readSegment(path string, from int64, last bool, fn func(b *tracewatch.Batch, end int64) error, bad func(raw []byte, at, end int64, err error) error) error {
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
	rest := func(err error) error { // the rest of the segment cannot be framed
		raw, rerr := os.ReadFile(path)
		if rerr != nil {
			return rerr
		}
		if off > int64(len(raw)) {
			return fmt.Errorf("record at offset %d: %w", off, err)
		}
		return bad(raw[off:], off, int64(len(raw)), fmt.Errorf("record at offset %d: %w", off, err))
	}
	for {
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			if err == io.EOF || (last && err == io.ErrUnexpectedEOF) {
				return nil
			}
			return rest(err)
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n > maxRecordBytes {
			if last {
				return nil
			}
			return rest(fmt.Errorf("length %d", n))
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(f, buf); err != nil {
			if last {
				return nil
			}
			return rest(err)
		}
		at := off
		off += recordHeader + int64(n)
		if crc32.Checksum(buf, castagnoli) != sum {
			if last {
				return nil
			}
			if err := bad(buf, at, off, fmt.Errorf("record at offset %d: checksum mismatch", at)); err != nil {
				return err
			}
			continue
		}
		b, err := decodeBatch(buf)
		if err != nil {
			if err := bad(buf, at, off, fmt.Errorf("record at offset %d: %w", at, err)); err != nil {
				return err
			}
			continue
		}
		if err := fn(b, off); err != nil {
			return err
		}
	}
}

// openJournal starts the appender and the applier on a fresh segment after lastGen.
func (s *Store) openJournal(dir string, lastGen int64) (*journal, error) {
	const op = "duckdb.openJournal"
	j := &journal{st: s, dir: filepath.Join(dir, journalDir), reqs: make(chan *jcommit, 4096), stopped: make(chan struct{}),
		pending: map[tracewatch.MessageKey]tracewatch.MessageRecord{}, wake: make(chan struct{}, 1), notify: make(chan struct{}),
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
	// The batch waits for the applier after Commit returns: keep a copy of its lists, the
	// caller may reuse b and them (not its events' codes or the payload bytes).
	if cb := cleanBatch(b); cb != b {
		b = cb
	} else {
		b = &tracewatch.Batch{Messages: slices.Clone(b.Messages), Events: slices.Clone(b.Events), Quarantine: slices.Clone(b.Quarantine)}
	}
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
	seen := map[tracewatch.MessageKey][]byte{}
	var ask []tracewatch.MessageKey
	j.mu.Lock()
	for _, c := range group {
		for _, m := range c.batch.Messages {
			k := m.Key()
			if p, ok := j.pending[k]; ok {
				seen[k] = p.Response
			} else if _, ok := seen[k]; !ok && j.filter.maybe(k) {
				ask = append(ask, k)
			}
		}
	}
	j.mu.Unlock()
	stored, err := storedResponses(context.Background(), j.st.db, ask)
	if err != nil {
		fail(err)
		return
	}
	// 2. What each commit keeps, and the records to write.
	var buf []byte
	var recs []jrecord
	var fresh []tracewatch.MessageRecord
	added := map[tracewatch.MessageKey]bool{}
	for _, c := range group {
		b := c.batch
		drop := map[tracewatch.MessageKey]bool{}
		mine := map[tracewatch.MessageKey]bool{} // first seen in this batch: the writer keeps its first rows
		for _, m := range b.Messages {
			k := m.Key()
			resp, dup := seen[k]
			if !dup {
				resp, dup = stored[k]
			}
			if dup {
				if c.res.Replayed == nil {
					c.res.Replayed = map[tracewatch.MessageKey][]byte{}
				}
				c.res.Replayed[k] = resp
				if !mine[k] {
					drop[k] = true
				}
				continue
			}
			seen[k] = m.Response
			mine[k] = true
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
			if !added[m.Key()] {
				added[m.Key()] = true
				fresh = append(fresh, m)
			}
		}
		lines := map[string]bool{} // a row (message, line) given twice is stored once
		for _, e := range b.Events {
			k := e.Institution + "\x00" + e.MsgID + "\x00" + strconv.Itoa(e.Line)
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
		j.pending[m.Key()] = m
		j.filter.add(m.Key())
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
	payload, err := encodeBatch(b)
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
func withoutMessages(b *tracewatch.Batch, drop map[tracewatch.MessageKey]bool) *tracewatch.Batch {
	out := &tracewatch.Batch{}
	for _, m := range b.Messages {
		if !drop[m.Key()] {
			out.Messages = append(out.Messages, m)
		}
	}
	for _, e := range b.Events {
		if !drop[tracewatch.MessageKey{Institution: e.Institution, MsgID: e.MsgID}] {
			out.Events = append(out.Events, e)
		}
	}
	for _, q := range b.Quarantine {
		if !drop[tracewatch.MessageKey{Institution: q.Institution, MsgID: q.MsgID}] {
			out.Quarantine = append(out.Quarantine, q)
		}
	}
	return out
}

// deadAfter is how many times in a row a record must fail alone before it is set aside
// (a variable for the tests).
var deadAfter = 3

// applyLoop moves journal records into DuckDB: everything queued goes into one
// transaction (up to maxGroupEvents events) that also records the journal position. A
// failed group is retried one record at a time to find the record at fault; a record
// that fails alone deadAfter times in a row is set aside as a dead letter if the store
// takes that write, and the records behind it go on. Any other failure (of every write)
// is retried, with the records kept, until it succeeds or the store closes.
func (j *journal) applyLoop() {
	defer close(j.applier)
	backoff := 50 * time.Millisecond
	isolate := false     // after a failed group, apply one record at a time until one succeeds
	failures := 0        // consecutive failures of the first record alone
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
		if err != nil && n == 1 {
			if failures++; failures >= deadAfter {
				// The record keeps failing alone: set it aside if the store takes that.
				if derr := j.st.writer.submit(context.Background(), &request{dead: &deadLetter{batch: recs[0].batch, cause: err}, jpos: &end}); derr == nil {
					err = nil
				}
			}
		}
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
		backoff, isolate, failures = 50*time.Millisecond, false, 0
		j.applyErr = nil
		j.queue = j.queue[n:]
		for _, b := range batches {
			for _, m := range b.Messages {
				delete(j.pending, m.Key())
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
func (j *journal) pendingMessage(k tracewatch.MessageKey) (m tracewatch.MessageRecord, ok, known bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m, ok = j.pending[k]
	return m, ok, ok || j.filter.maybe(k)
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

// msgFilter is a Bloom filter of every message key (institution, msgid) stored or
// journaled, so that a new message — nearly every message — is known new without asking
// DuckDB (a point query costs more than the whole rest of a request). A "maybe" is
// settled by DuckDB. It fills from the messages table in the background; until it is
// ready every key is a "maybe". Beyond
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

// hash hashes a message key for the filter.
func (f *msgFilter) hash(k tracewatch.MessageKey) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(k.Institution)
	h.WriteByte(0)
	h.WriteString(k.MsgID)
	return h.Sum64()
}

func (f *msgFilter) add(k tracewatch.MessageKey) {
	h := f.hash(k)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := uint64(0); i < filterHashes; i++ {
		b := (h1 + i*h2) % f.m
		f.bits[b/64] |= 1 << (b % 64)
	}
}

// maybe reports whether id may have been added (always true until the filter is ready).
func (f *msgFilter) maybe(k tracewatch.MessageKey) bool {
	if !f.ready.Load() {
		return true
	}
	h := f.hash(k)
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
	rows, err := j.st.db.QueryContext(ctx, `SELECT fixmedins_code, msgid FROM messages`)
	if err != nil {
		return err
	}
	defer rows.Close()
	chunk := make([]tracewatch.MessageKey, 0, 4096)
	flush := func() {
		j.mu.Lock()
		for _, id := range chunk {
			j.filter.add(id)
		}
		j.mu.Unlock()
		chunk = chunk[:0]
	}
	for rows.Next() {
		var k tracewatch.MessageKey
		if err := rows.Scan(&k.Institution, &k.MsgID); err != nil {
			return err
		}
		if chunk = append(chunk, k); len(chunk) == cap(chunk) {
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
