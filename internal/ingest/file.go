package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
)

// Committer stores a batch durably; tracewatch.Store satisfies it.
type Committer interface {
	Commit(ctx context.Context, b *tracewatch.Batch) (tracewatch.CommitResult, error)
}

// InfnoStats counts one interface's messages in a file.
type InfnoStats struct {
	Messages int `json:"messages"`
	Accepted int `json:"accepted"` // messages stored now
	Replayed int `json:"replayed"` // messages already stored (by a run before, or earlier in the file): nothing changed
	Refused  int `json:"refused"`  // messages refused whole
	Rows     int `json:"rows"`     // event rows stored
	Rejected int `json:"rejected"` // rows quarantined
}

// FileStats summarizes a bulk ingest.
type FileStats struct {
	Lines       int `json:"lines"`
	Messages    int `json:"messages"`
	Accepted    int `json:"accepted"`
	Replayed    int `json:"replayed"`
	Refused     int `json:"refused"`
	Unreadable  int `json:"unreadable"` // lines that are not a message envelope (quarantined)
	Events      int `json:"events"`
	Codes       int `json:"codes"`
	Quarantined int `json:"quarantined"`
	// DeadLettered counts the messages the store could not store on their own: set
	// aside as dead letters and listed in the quarantine ("could not be stored: …").
	DeadLettered int                    `json:"dead_lettered"`
	ByInfno      map[string]*InfnoStats `json:"by_infno"`
}

// Infnos returns the interfaces seen, sorted.
func (s *FileStats) Infnos() []string {
	out := make([]string, 0, len(s.ByInfno))
	for k := range s.ByInfno {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FileOptions tune a bulk ingest.
type FileOptions struct {
	Name       string           // the file's name, recorded as the source
	Now        func() time.Time // the clock (time.Now when nil)
	Progress   func(FileStats)  // called after each commit
	Workers    int              // parallel decoders (default 2)
	BatchLines int              // lines per commit (default 50,000)
}

type chunk struct {
	first int // line number of lines[0]
	lines [][]byte
	out   chan chunkResult
}

type chunkResult struct {
	batch tracewatch.Batch
	stats FileStats
	infno []string // per message, aligned with batch.Messages
	nev   []int    // per message: its events in batch.Events (consecutive, in message order)
	nquar []int    // per message: its rows in batch.Quarantine (consecutive, in message order)
	// again marks, per message, a later occurrence of a msgid already in the same commit
	// batch: it is not handed to the store (its first occurrence is) and counts as
	// already stored; kept holds what was handed over.
	again []bool
	kept  tracewatch.Batch
	err   error
}

// dedupe drops from cr the later occurrences of the messages already in the commit batch
// (seen, which it extends): the store would keep only the first one anyway, and could not
// say which of the two it stored. cr.kept is what remains.
func (cr *chunkResult) dedupe(seen map[tracewatch.MessageKey]bool) {
	cr.again = make([]bool, len(cr.batch.Messages))
	dropped := false
	for i, m := range cr.batch.Messages {
		k := m.Key()
		if seen[k] {
			cr.again[i], dropped = true, true
			continue
		}
		seen[k] = true
	}
	if !dropped {
		cr.kept = cr.batch // nearly always: nothing to drop, nothing to copy
		return
	}
	cr.kept = tracewatch.Batch{}
	ev, q := 0, 0
	for i, m := range cr.batch.Messages {
		evs, qs := cr.batch.Events[ev:ev+cr.nev[i]], cr.batch.Quarantine[q:q+cr.nquar[i]]
		ev, q = ev+cr.nev[i], q+cr.nquar[i]
		if cr.again[i] {
			continue
		}
		cr.kept.Messages = append(cr.kept.Messages, m)
		cr.kept.Events = append(cr.kept.Events, evs...)
		cr.kept.Quarantine = append(cr.kept.Quarantine, qs...)
	}
}

// IngestFile reads JSONL of NHSA envelopes (one message per line) and commits them in
// batches. It is safe to run again on the same file, after a crash or not: stored
// messages are recognised by (fixmedins_code, msgid) (a line without a msgid gets one
// derived from its content; a line that is not an envelope is recorded with
// fixmedins_code "") and change nothing. Any bytes are fine: a line that is not a
// message is quarantined as bytes, and a message the store cannot store on its own is
// set aside as a dead letter (FileStats.DeadLettered) while the rest is committed.
// On an error the stats say what was committed before it.
func (in *Ingester) IngestFile(ctx context.Context, st Committer, r io.Reader, o FileOptions) (FileStats, error) {
	src := Source{Open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }, Options: o}
	totals, _, err := in.ingest(ctx, st, []Source{src}, nil)
	return totals[0], err
}

// Source is one file of IngestFiles: how to open it, and how to ingest it.
type Source struct {
	Open    func() (io.ReadCloser, error)
	Options FileOptions
}

// IngestFiles ingests the sources in order, each as IngestFile does, and calls done with
// a source's stats once all its batches are committed. The batches are committed in
// order, one at a time, on a goroutine of their own: the next batch, and the next file,
// is read and decoded while the one before is being made durable. It stops at the first
// error and says which source failed.
func (in *Ingester) IngestFiles(ctx context.Context, st Committer, srcs []Source, done func(i int, s FileStats)) (failed int, err error) {
	_, failed, err = in.ingest(ctx, st, srcs, done)
	return failed, err
}

// commitJob is a batch of one source (nil: none), with the chunks it holds; end marks
// the source's last job. The committer closes ack, when set, once the job is done.
type commitJob struct {
	src   int
	batch *tracewatch.Batch
	stats []chunkResult
	end   bool
	ack   chan struct{}
}

func (in *Ingester) ingest(ctx context.Context, st Committer, srcs []Source, done func(int, FileStats)) ([]FileStats, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	totals := make([]FileStats, len(srcs))
	for i := range totals {
		totals[i].ByInfno = map[string]*InfnoStats{}
	}
	// The committer. Within a source, a batch is handed over once the one before is
	// committed (overlapping them gained nothing on two cores and held another batch in
	// memory); a source's last batch is committed while the next source is read and
	// decoded.
	jobs := make(chan commitJob)
	type failure struct {
		src int
		err error
	}
	committed := make(chan failure, 1)
	go func() {
		var f failure
		for j := range jobs {
			if f.err != nil {
				if j.ack != nil {
					close(j.ack)
				}
				continue // drain: the ingest is stopping
			}
			total := &totals[j.src]
			if j.batch != nil {
				res, err := st.Commit(ctx, j.batch)
				if err != nil {
					f = failure{j.src, err}
					cancel()
					if j.ack != nil {
						close(j.ack)
					}
					continue
				}
				dead := map[tracewatch.MessageKey]bool{}
				for _, k := range res.DeadLettered {
					dead[k] = true
				}
				for _, cr := range j.stats {
					mergeStats(total, cr, res.Replayed, dead)
				}
				if p := srcs[j.src].Options.Progress; p != nil {
					p(*total)
				}
			}
			if j.end && done != nil {
				done(j.src, *total)
			}
			if j.ack != nil {
				close(j.ack)
			}
		}
		committed <- f
	}()
	finish := func(src int, err error) ([]FileStats, int, error) {
		close(jobs)
		if f := <-committed; f.err != nil {
			return totals, f.src, f.err
		}
		return totals, src, err
	}
	for i, src := range srcs {
		if err := in.gather(ctx, i, src, jobs); err != nil {
			return finish(i, err)
		}
	}
	return finish(-1, nil)
}

// gather reads and decodes source i and hands its batches to the committer.
func (in *Ingester) gather(ctx context.Context, i int, src Source, jobs chan<- commitJob) error {
	o := src.Options
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.BatchLines <= 0 {
		o.BatchLines = 50_000
	}
	r, err := src.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	chunkLines := min(5_000, o.BatchLines)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	work := make(chan *chunk, o.Workers*2)
	order := make(chan *chunk, o.Workers*4)
	readErr := make(chan error, 1)
	go func() { // reader
		defer close(work)
		defer close(order)
		sc := bufio.NewReaderSize(r, 1<<20)
		c := &chunk{first: 1, out: make(chan chunkResult, 1)}
		n := 0
		send := func() bool {
			select {
			case order <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			return true
		}
		for {
			line, err := sc.ReadBytes('\n')
			if len(line) > 0 {
				n++
				c.lines = append(c.lines, line)
				if len(c.lines) == chunkLines {
					if !send() {
						readErr <- ctx.Err()
						return
					}
					c = &chunk{first: n + 1, out: make(chan chunkResult, 1)}
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr <- tracewatch.E("ingest.IngestFile", tracewatch.KindInvalid, fmt.Errorf("%s: reading after line %d: %w", o.Name, n, err))
				return
			}
		}
		if len(c.lines) > 0 && !send() {
			readErr <- ctx.Err()
			return
		}
		readErr <- nil
	}()
	for w := 0; w < o.Workers; w++ {
		go func() {
			for c := range work {
				c.out <- in.prepareChunk(ctx, c, o)
			}
		}()
	}

	pending := &tracewatch.Batch{}
	var pendingStats []chunkResult
	inBatch := map[tracewatch.MessageKey]bool{} // the messages of pending
	flush := func(end bool) error {
		j := commitJob{src: i, end: end}
		if len(pending.Messages) > 0 || len(pending.Quarantine) > 0 {
			j.batch, j.stats = pending, pendingStats
		} else if !end {
			return nil
		}
		if !end {
			j.ack = make(chan struct{})
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		if j.ack != nil {
			select {
			case <-j.ack:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The next batch is about as large as this one: room for it up front (growing
		// 50,000 events from nothing copied them twice over).
		pending = &tracewatch.Batch{Messages: make([]tracewatch.MessageRecord, 0, cap(pending.Messages)),
			Events: make([]tracewatch.Event, 0, cap(pending.Events))}
		pendingStats = nil
		clear(inBatch)
		return nil
	}
	lines := 0
	for c := range order {
		var cr chunkResult
		select {
		case cr = <-c.out:
		case <-ctx.Done(): // a failed commit (or the caller) stopped the reading
			return ctx.Err()
		}
		if cr.err != nil {
			return cr.err
		}
		cr.dedupe(inBatch)
		pending.Messages = append(pending.Messages, cr.kept.Messages...)
		pending.Events = append(pending.Events, cr.kept.Events...)
		pending.Quarantine = append(pending.Quarantine, cr.kept.Quarantine...)
		pendingStats = append(pendingStats, cr)
		lines += len(c.lines)
		if lines >= o.BatchLines {
			if err := flush(false); err != nil {
				return err
			}
			lines = 0
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	return flush(true)
}

// mergeStats adds a chunk's counts, moving messages the store reported as replayed or
// could not store (dead letters, listed in the quarantine). A later occurrence of a
// message in the same commit batch (cr.again) shares its first occurrence's fate: already
// stored, or not stored at all when that one is a dead letter (listed once).
func mergeStats(total *FileStats, cr chunkResult, replayed map[tracewatch.MessageKey][]byte, dead map[tracewatch.MessageKey]bool) {
	total.Lines += cr.stats.Lines
	total.Unreadable += cr.stats.Unreadable
	for i, m := range cr.batch.Messages {
		infno, k := cr.infno[i], m.Key()
		_, again := replayed[k]
		again = again || cr.again[i]
		if dead[k] { // listed in the quarantine as a dead letter, once
			total.DeadLettered++
			if !cr.again[i] {
				total.Quarantined++
			}
		}
		if infno == "" { // an unreadable line
			if !again && !dead[k] {
				total.Quarantined++
			}
			continue
		}
		s := total.ByInfno[infno]
		if s == nil {
			s = &InfnoStats{}
			total.ByInfno[infno] = s
		}
		total.Messages++
		s.Messages++
		if dead[k] {
			continue
		}
		if again {
			total.Replayed++
			s.Replayed++
			continue
		}
		if m.Accepted == 0 && m.Rejected > 0 {
			total.Refused++
			s.Refused++
		} else {
			total.Accepted++
			s.Accepted++
		}
		s.Rows += m.Accepted
		s.Rejected += m.Rejected
		total.Quarantined += m.Rejected
	}
	for _, e := range cr.kept.Events {
		k := tracewatch.MessageKey{Institution: e.Institution, MsgID: e.MsgID}
		if _, again := replayed[k]; !again && !dead[k] {
			total.Events++
			total.Codes += len(e.Codes)
		}
	}
}

// DerivedMsgID names a message that came without a msgid by its content, so that a
// re-run recognises it.
func DerivedMsgID(line []byte) string {
	sum := sha256.Sum256(bytes.TrimSpace(line))
	return "sha256:" + hex.EncodeToString(sum[:12])
}

func (in *Ingester) prepareChunk(ctx context.Context, c *chunk, o FileOptions) chunkResult {
	var cr chunkResult
	// Each line's rows, in line order: a message's (p), or the quarantine row of a line
	// that is not one (q).
	type slot struct {
		p *Prepared
		q tracewatch.QuarantineRow
	}
	n := len(c.lines)
	slots := make([]slot, 0, n)
	cr.batch.Messages, cr.infno = make([]tracewatch.MessageRecord, 0, n), make([]string, 0, n)
	cr.nev, cr.nquar = make([]int, 0, n), make([]int, 0, n)
	var allParents []string
	now := o.Now()
	for i, line := range c.lines {
		lineNo := c.first + i
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		cr.stats.Lines++
		source := fmt.Sprintf("file:%s:%d", o.Name, lineNo)
		req, err := nhsa.DecodeRequest(line)
		if err != nil {
			// Not a message: recorded under a msgid derived from the line, so that a re-run
			// recognises it and does not quarantine it twice.
			cr.stats.Unreadable++
			id := DerivedMsgID(line)
			resp, _ := json.Marshal(nhsa.Fail(nhsa.Request{MsgID: id}, nhsa.Reason(err), now, now))
			cr.batch.Messages = append(cr.batch.Messages, tracewatch.MessageRecord{MsgID: id, Source: source, Received: now, Rejected: 1, Response: resp})
			slots = append(slots, slot{q: tracewatch.QuarantineRow{MsgID: id, Source: source, Reason: nhsa.Reason(err),
				Field: fieldOf(err), Payload: append([]byte(nil), line...), Received: now}})
			cr.infno = append(cr.infno, "")
			cr.nev, cr.nquar = append(cr.nev, 0), append(cr.nquar, 1)
			continue
		}
		if req.MsgID == "" {
			req.MsgID = DerivedMsgID(line)
		}
		p, parents, err := in.prepare(req, true, append([]byte(nil), line...), source, now, now)
		if err != nil {
			cr.err = err
			return cr
		}
		cr.batch.Messages = append(cr.batch.Messages, p.Message)
		cr.infno = append(cr.infno, req.Infno)
		cr.nev, cr.nquar = append(cr.nev, len(p.Events)), append(cr.nquar, len(p.Quarantine))
		slots = append(slots, slot{p: p})
		allParents = append(allParents, parents...)
	}
	// The package links of the whole chunk in one go (a query per message cost a fifth of
	// the CPU of the demo's ingest), then the rows in line order.
	if len(allParents) > 0 {
		kids, err := in.children(ctx, allParents)
		if err != nil {
			cr.err = err
			return cr
		}
		for _, sl := range slots {
			if sl.p != nil {
				in.expand(sl.p.Events, kids)
			}
		}
	}
	events := 0
	for _, sl := range slots {
		if sl.p != nil {
			events += len(sl.p.Events)
		}
	}
	cr.batch.Events = make([]tracewatch.Event, 0, events)
	for _, sl := range slots {
		if sl.p == nil {
			cr.batch.Quarantine = append(cr.batch.Quarantine, sl.q)
			continue
		}
		cr.batch.Events = append(cr.batch.Events, sl.p.Events...)
		cr.batch.Quarantine = append(cr.batch.Quarantine, sl.p.Quarantine...)
	}
	return cr
}
