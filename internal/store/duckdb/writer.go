package duckdb

import (
	"context"
	"crypto/md5"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	duckdbdrv "github.com/duckdb/duckdb-go/v2"

	"tracewatch"
)

// maxGroupEvents caps how many events one group commit merges.
const maxGroupEvents = 400_000

// writer owns the one connection that writes. Commit batches queued while it works are
// merged into one transaction (group commit): one fsync for many requests.
type writer struct {
	// beforeJob, when set, runs before a job is queued: with a journal, it waits until
	// every acknowledged batch is applied, so writes keep the order they were made in.
	beforeJob func(ctx context.Context) error

	conn    *sql.Conn
	reqs    chan *request
	done    chan struct{}
	deadDir string // where a dead letter goes when even the dead_letters table refuses it ("": nowhere)

	// Test hooks: failApply fails every batch holding one of its msgids; failDead fails
	// writing dead letters to the table; failWrites fails every write transaction.
	failApply  sync.Map // msgid → true
	hooked     atomic.Bool
	failDead   atomic.Bool
	failWrites atomic.Bool

	// deferLedger: commits store the facts only; sale_codes and the ledger wait for
	// CatchUpLedger (deferred.go).
	deferLedger atomic.Bool

	nextEvent      int64
	nextQuarantine int64
	nextDict       tracewatch.CodeID
	dict           map[string]tracewatch.CodeID // code_dict, all of it (non-NMPA identities are a minority)
	packs          map[string]int64             // drug → pack content; nil after drugs change
	withdrawn      withdrawals                  // the stored 3507s (withdraw.go)
	cancels        map[string]time.Time         // settlement sale id → its earliest cancel (zero: time unknown)
}

type request struct {
	batch   *tracewatch.Batch                               // a commit, or
	batches []*tracewatch.Batch                             // journal records applied together (with jpos), or
	dead    *deadLetter                                     // a journal record to set aside (with jpos), or
	job     func(ctx context.Context, conn *sql.Conn) error // any other write
	then    func()                                          // runs on the writer once job is committed
	jpos    *journalPos                                     // the journal position the batches reach, recorded in their transaction
	res     tracewatch.CommitResult
	err     error
	done    chan struct{}
}

const stageDDL = `
CREATE TEMP TABLE stage_keys (key_hash BIGINT);
CREATE TEMP TABLE stage_sales AS SELECT * FROM sale_codes LIMIT 0;
CREATE TEMP TABLE stage_ledger AS SELECT * FROM ledger LIMIT 0;
CREATE TEMP TABLE stage_payloads AS SELECT * FROM quarantine_payloads LIMIT 0;
CREATE TEMP TABLE stage_ids (code_id BIGINT, repack BOOLEAN);
`

func newWriter(ctx context.Context, db *sql.DB, deadDir string) (*writer, error) {
	const op = "duckdb.newWriter"
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	w := &writer{conn: conn, reqs: make(chan *request, 1024), done: make(chan struct{}), dict: map[string]tracewatch.CodeID{}, deadDir: deadDir}
	if _, err := conn.ExecContext(ctx, stageDDL); err != nil {
		conn.Close()
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var maxEvent, maxQ sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT max(event_id) FROM events`).Scan(&maxEvent); err != nil {
		conn.Close()
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT max(id) FROM quarantine`).Scan(&maxQ); err != nil {
		conn.Close()
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	w.nextEvent, w.nextQuarantine = maxEvent.Int64+1, maxQ.Int64+1
	w.nextDict = tracewatch.FirstDictCodeID
	rows, err := conn.QueryContext(ctx, `SELECT code_id, code_key FROM code_dict`)
	if err != nil {
		conn.Close()
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			conn.Close()
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		w.dict[key] = tracewatch.CodeID(id)
		if tracewatch.CodeID(id) >= w.nextDict {
			w.nextDict = tracewatch.CodeID(id) + 1
		}
	}
	rows.Close()
	if w.withdrawn, w.cancels, err = loadWithdrawals(ctx, conn); err != nil {
		conn.Close()
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	go w.loop()
	return w, nil
}

func (w *writer) close() {
	close(w.reqs)
	<-w.done
	w.conn.Close()
}

// submit queues r and waits for its outcome (or ctx).
func (w *writer) submit(ctx context.Context, r *request) error {
	if r.job != nil && w.beforeJob != nil {
		if err := w.beforeJob(ctx); err != nil {
			return err
		}
	}
	r.done = make(chan struct{})
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // once queued, the request completes: its effects must be known
	return r.err
}

func (w *writer) loop() {
	defer close(w.done)
	for r := range w.reqs {
		if r.batch == nil {
			w.runOne(r)
			close(r.done)
			continue
		}
		group := []*request{r}
		n := len(r.batch.Events)
	gather:
		for n < maxGroupEvents {
			select {
			case next, ok := <-w.reqs:
				if !ok {
					break gather
				}
				if next.batch == nil {
					w.commitGroup(group)
					group = nil
					w.runOne(next)
					close(next.done)
					break gather
				}
				group = append(group, next)
				n += len(next.batch.Events)
			default:
				break gather
			}
		}
		if group != nil {
			w.commitGroup(group)
		}
	}
}

// runOne runs a request that is not a commit.
func (w *writer) runOne(r *request) {
	switch {
	case r.job != nil:
		if r.err = w.runJob(r.job); r.err == nil && r.then != nil {
			r.then()
		}
	case r.dead != nil && r.dead.batch != nil && len(splitBatch(r.dead.batch)) > 1:
		// A record of several messages: store what can be stored of it, set aside the
		// messages at fault, then move the journal position past it. (A crash in between
		// applies the record again: its stored messages are replays then.)
		if _, r.err = w.commitSplit(r.dead.batch, r.dead.cause); r.err == nil {
			ctx := context.Background()
			r.err = w.inTx(ctx, func() error { return w.setJournalPos(ctx, r.jpos) })
		}
	case r.dead != nil:
		r.err = w.setAside(r.dead, r.jpos)
	default:
		_, r.err = w.commitBatches(r.batches, r.jpos)
	}
}

func (w *writer) runJob(job func(context.Context, *sql.Conn) error) error {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return tracewatch.E("duckdb.write", tracewatch.KindInternal, err)
	}
	if err := job(ctx, w.conn); err != nil {
		w.rollback()
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.rollback()
		return tracewatch.E("duckdb.write", tracewatch.KindInternal, err)
	}
	return nil
}

func (w *writer) rollback() {
	w.conn.ExecContext(context.Background(), "ROLLBACK")
	w.packs = nil
	w.reloadCounters()
}

// reloadCounters restores the id counters after a rollback.
func (w *writer) reloadCounters() {
	ctx := context.Background()
	var maxEvent, maxQ sql.NullInt64
	w.conn.QueryRowContext(ctx, `SELECT max(event_id) FROM events`).Scan(&maxEvent)
	w.conn.QueryRowContext(ctx, `SELECT max(id) FROM quarantine`).Scan(&maxQ)
	w.nextEvent, w.nextQuarantine = maxEvent.Int64+1, maxQ.Int64+1
	w.dict = map[string]tracewatch.CodeID{}
	w.nextDict = tracewatch.FirstDictCodeID
	if ws, cs, err := loadWithdrawals(ctx, w.conn); err == nil {
		w.withdrawn, w.cancels = ws, cs
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT code_id, code_key FROM code_dict`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key string
		if rows.Scan(&id, &key) == nil {
			w.dict[key] = tracewatch.CodeID(id)
			if tracewatch.CodeID(id) >= w.nextDict {
				w.nextDict = tracewatch.CodeID(id) + 1
			}
		}
	}
}

// commitGroup commits the group in one transaction; if that fails, each request is
// retried alone so that one bad batch does not fail the others, and a batch that fails
// alone is split to set aside the messages at fault (commitSplit).
func (w *writer) commitGroup(group []*request) {
	batches := make([]*tracewatch.Batch, len(group))
	for i, r := range group {
		batches[i] = r.batch
	}
	results, err := w.commitBatches(batches, nil)
	if err == nil {
		for i, r := range group {
			r.res = results[i]
			close(r.done)
		}
		return
	}
	for _, r := range group {
		if len(group) > 1 {
			var res []tracewatch.CommitResult
			if res, err = w.commitBatches([]*tracewatch.Batch{r.batch}, nil); err == nil {
				r.res = res[0]
				close(r.done)
				continue
			}
		}
		r.res, r.err = w.commitSplit(r.batch, err)
		close(r.done)
	}
}

// commitSplit commits what it can of a batch that failed with cause: it splits the
// batch by message and bisects until the messages at fault stand alone; each of those
// is set aside as a dead letter if the store takes that write (the failure was the
// message's own), and the rest is committed. When the store refuses even the dead
// letter (a failure of every write: disk full, store closed), it returns that error;
// the messages committed before it stay committed (committing the batch again replays
// them).
func (w *writer) commitSplit(b *tracewatch.Batch, cause error) (tracewatch.CommitResult, error) {
	var res tracewatch.CommitResult
	var bisect func(units []*tracewatch.Batch, cause error) error
	bisect = func(units []*tracewatch.Batch, cause error) error {
		if len(units) == 1 {
			if err := w.setAside(&deadLetter{batch: units[0], cause: cause}, nil); err != nil {
				return err
			}
			for _, m := range units[0].Messages {
				res.DeadLettered = append(res.DeadLettered, m.Key())
			}
			return nil
		}
		half := len(units) / 2
		for _, part := range [][]*tracewatch.Batch{units[:half], units[half:]} {
			r, err := w.commitBatches([]*tracewatch.Batch{mergeBatches(part)}, nil)
			if err != nil {
				if err := bisect(part, err); err != nil {
					return err
				}
				continue
			}
			addResult(&res, r[0])
		}
		return nil
	}
	if err := bisect(splitBatch(b), cause); err != nil {
		return res, err
	}
	return res, nil
}

// addResult adds r to res.
func addResult(res *tracewatch.CommitResult, r tracewatch.CommitResult) {
	res.Events += r.Events
	res.Codes += r.Codes
	res.DeadLettered = append(res.DeadLettered, r.DeadLettered...)
	for k, v := range r.Replayed {
		if res.Replayed == nil {
			res.Replayed = map[tracewatch.MessageKey][]byte{}
		}
		res.Replayed[k] = v
	}
}

// splitBatch splits b into one batch per message key (in the order keys first occur),
// each with its events and quarantine rows; rows of no message in b form their own.
func splitBatch(b *tracewatch.Batch) []*tracewatch.Batch {
	var units []*tracewatch.Batch
	at := map[tracewatch.MessageKey]int{}
	unit := func(k tracewatch.MessageKey) *tracewatch.Batch {
		i, ok := at[k]
		if !ok {
			i = len(units)
			at[k] = i
			units = append(units, &tracewatch.Batch{})
		}
		return units[i]
	}
	for _, m := range b.Messages {
		u := unit(m.Key())
		u.Messages = append(u.Messages, m)
	}
	for _, e := range b.Events {
		u := unit(tracewatch.MessageKey{Institution: e.Institution, MsgID: e.MsgID})
		u.Events = append(u.Events, e)
	}
	for _, q := range b.Quarantine {
		u := unit(tracewatch.MessageKey{Institution: q.Institution, MsgID: q.MsgID})
		u.Quarantine = append(u.Quarantine, q)
	}
	return units
}

// mergeBatches concatenates batches into one.
func mergeBatches(bs []*tracewatch.Batch) *tracewatch.Batch {
	if len(bs) == 1 {
		return bs[0]
	}
	out := &tracewatch.Batch{}
	for _, b := range bs {
		out.Messages = append(out.Messages, b.Messages...)
		out.Events = append(out.Events, b.Events...)
		out.Quarantine = append(out.Quarantine, b.Quarantine...)
	}
	return out
}

// commitBatches commits batches in one transaction; with jpos, the transaction also
// records that the journal is applied up to jpos.
func (w *writer) commitBatches(batches []*tracewatch.Batch, jpos *journalPos) ([]tracewatch.CommitResult, error) {
	ctx := context.Background()
	if w.failWrites.Load() {
		return nil, tracewatch.Errorf("duckdb.Commit", tracewatch.KindInternal, "injected failure of every write")
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, tracewatch.E("duckdb.Commit", tracewatch.KindInternal, err)
	}
	res, err := w.apply(ctx, batches)
	if err != nil {
		w.rollback()
		return nil, err
	}
	if jpos != nil {
		if _, err := w.conn.ExecContext(ctx, `UPDATE journal_state SET gen = ?, off = ?`, jpos.gen, jpos.off); err != nil {
			w.rollback()
			return nil, tracewatch.E("duckdb.Commit", tracewatch.KindInternal, err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.rollback()
		return nil, tracewatch.E("duckdb.Commit", tracewatch.KindInternal, err)
	}
	return res, nil
}

func nullTime(t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func (w *writer) codeID(key string) (tracewatch.CodeID, bool) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		return id, false
	}
	if id, ok := w.dict[key]; ok {
		return id, false
	}
	id := w.nextDict
	w.nextDict++
	w.dict[key] = id
	return id, true
}

// loadPacks (re)reads the drug pack contents after the drug catalog changed.
func (w *writer) loadPacks(ctx context.Context) error {
	if w.packs != nil {
		return nil
	}
	packs := map[string]int64{}
	rows, err := w.conn.QueryContext(ctx, `SELECT med_list_codg, pack_content FROM drugs`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return err
		}
		packs[d] = n
	}
	w.packs = packs
	return rows.Err()
}

func (w *writer) apply(ctx context.Context, batches []*tracewatch.Batch) ([]tracewatch.CommitResult, error) {
	const op = "duckdb.Commit"
	fail := func(err error) ([]tracewatch.CommitResult, error) {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	results := make([]tracewatch.CommitResult, len(batches))
	for i, b := range batches {
		batches[i] = cleanBatch(b)
		if err := w.injected(b); err != nil {
			return fail(err)
		}
	}

	// 1. Messages: the key (institution, msgid) decides what is new; replays change
	// nothing. The stored keys among the batches' are found by a join on key_hash
	// (storedMessages); the new messages are appended.
	type msgKey = tracewatch.MessageKey
	owner := map[msgKey][2]int{} // batch and message index of a key's first occurrence
	var firstResp = map[msgKey][]byte{}
	var keys []msgKey
	for bi, b := range batches {
		for mi, m := range b.Messages {
			k := m.Key()
			if _, dup := owner[k]; dup {
				continue
			}
			owner[k] = [2]int{bi, mi}
			firstResp[k] = m.Response
			keys = append(keys, k)
		}
	}
	stored, hashes, err := w.storedMessages(ctx, keys)
	if err != nil {
		return fail(err)
	}
	fresh := map[msgKey]bool{}
	err = withAppender(w.conn, "", "messages", func(a *duckdbdrv.Appender) error {
		for i, k := range keys {
			if _, ok := stored[k]; ok {
				continue
			}
			fresh[k] = true
			o := owner[k]
			m := &batches[o[0]].Messages[o[1]]
			if err := a.AppendRow(m.MsgID, m.Infno, m.Institution, m.Source, m.Received.UTC(), int32(m.Accepted), int32(m.Rejected), string(m.Response), hashes[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	// A message's rows are kept when it is new and this is its first occurrence; a row
	// (message, line) given twice is kept once. Rows that name a message the batches do
	// not carry belong to no replay: they are kept, never silently dropped.
	keep := func(bi int, k msgKey) bool {
		o, carried := owner[k]
		return !carried || fresh[k] && o[0] == bi
	}
	type lineKey struct {
		msg  msgKey
		line int
	}
	seenLine := map[lineKey]bool{}
	keepEvent := func(bi int, e *tracewatch.Event) bool {
		k := lineKey{msgKey{Institution: e.Institution, MsgID: e.MsgID}, e.Line}
		if !keep(bi, k.msg) || seenLine[k] {
			return false
		}
		seenLine[k] = true
		return true
	}
	for bi, b := range batches {
		for mi, m := range b.Messages {
			if k := m.Key(); !fresh[k] || owner[k] != [2]int{bi, mi} {
				if results[bi].Replayed == nil {
					results[bi].Replayed = map[msgKey][]byte{}
				}
				resp, ok := stored[k]
				if !ok {
					resp = firstResp[k]
				}
				results[bi].Replayed[k] = resp
			}
		}
	}

	// 2. Events and their codes. The 3507s of these batches are known before any row is
	// stored, so a row they withdraw is stored withdrawn whatever the order of the lines.
	type keptEvent struct {
		bi int
		e  *tracewatch.Event
	}
	var kept []keptEvent
	var deletions []*tracewatch.Event
	for bi, b := range batches {
		for i := range b.Events {
			e := &b.Events[i]
			if !keepEvent(bi, e) {
				continue
			}
			kept = append(kept, keptEvent{bi, e})
			if e.Kind == tracewatch.EventDeletion {
				w.withdrawn.add(e)
				deletions = append(deletions, e)
			}
		}
	}
	ch := newSaleChanges()
	firstNew := w.nextEvent
	ledger := !w.deferLedger.Load()
	var cancels []*tracewatch.Event
	var newDict []struct {
		id  tracewatch.CodeID
		key string
	}
	// intern is the code id of key, noting the keys the dictionary does not hold yet.
	intern := func(key string) tracewatch.CodeID {
		id, isNew := w.codeID(key)
		if isNew {
			newDict = append(newDict, struct {
				id  tracewatch.CodeID
				key string
			}{id, key})
		}
		return id
	}
	if err := w.loadPacks(ctx); err != nil {
		return fail(err)
	}
	err = withAppenders(w.conn, []string{"", "events", "", "event_codes"}, func(as []*duckdbdrv.Appender) error {
		ea, ca := as[0], as[1]
		for _, k := range kept {
			bi, e := k.bi, k.e
			id := w.nextEvent
			w.nextEvent++
			by := w.withdrawn.withdrawnBy(e)
			var byVal driver.Value
			if by != "" {
				byVal = by
			}
			if err := ea.AppendRow(id, e.MsgID, int32(e.Line), e.Infno, string(e.Kind), e.ChangeType, e.Institution,
				e.DrugCode, e.ItemID, e.ItemName, e.BatchNo, e.LotNo, nullTime(e.Made), nullTime(e.Expires),
				int64(e.Qty), e.SplitPack, int64(e.UnitPrice), int64(e.Amount), int64(e.FundPaid), nullTime(e.Time),
				e.Receipt, e.Settlement, e.Visit, e.FeeLine, e.Person, e.CertnoMasked, e.SettleType, e.Supplier,
				e.Prescriber, e.Pharmacist, e.DataType, nullTime(e.Admitted), nullTime(e.Discharged), e.Diagnosis,
				nullTime(e.Sent), byVal, string(e.Setting)); err != nil {
				return err
			}
			results[bi].Events++
			if e.Kind == tracewatch.EventSettlementCancel {
				cancels = append(cancels, e)
			}
			live := by == ""
			sale := ""
			for _, c := range e.Codes {
				var cid, parent driver.Value
				var code tracewatch.CodeID
				if c.Key != "" {
					code = intern(c.Key)
					cid = int64(code)
				}
				if c.Parent != "" {
					parent = int64(intern(c.Parent))
				}
				if err := ca.AppendRow(id, cid, c.Raw, c.Kind, c.ProductID, c.Error, parent, int32(c.Level), c.DrugCode,
					string(e.Kind), e.Institution, nullTime(e.Time), nullTime(c.Expires)); err != nil {
					return err
				}
				results[bi].Codes++
				if c.Key != "" && live && ledger {
					w.effect(ch, e, &sale, code, c.DrugCode)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if len(newDict) > 0 {
		err := withAppender(w.conn, "", "code_dict", func(a *duckdbdrv.Appender) error {
			for _, d := range newDict {
				if err := a.AppendRow(int64(d.id), d.key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}

	var quarantine []tracewatch.QuarantineRow
	for bi, b := range batches {
		for _, q := range b.Quarantine {
			if q.MsgID == "" || keep(bi, msgKey{Institution: q.Institution, MsgID: q.MsgID}) {
				quarantine = append(quarantine, q)
			}
		}
	}
	if err := w.storeQuarantine(ctx, quarantine); err != nil {
		return fail(err)
	}

	// 3. The rows stored before that these 3507s withdraw, then the sale facts (sale_codes)
	// and the ledger: the same rows as `ledger rebuild` computes, whatever the arrival order.
	if len(deletions) > 0 {
		if err := w.withdrawStored(ctx, deletions, firstNew, ch); err != nil {
			return fail(err)
		}
	}
	for _, e := range cancels {
		if e.Settlement == "" {
			continue
		}
		s := tracewatch.CancelledSale(e.Institution, e.Settlement).String()
		old, known := w.cancels[s]
		if t := mergeCancel(old, e.Time); !known || !t.Equal(old) {
			w.cancels[s] = t
			ch.cancelled[s] = true
			ch.canOf[s] = tracewatch.SaleOf(e).String()
		}
	}
	if !ledger {
		return results, nil
	}
	if err := w.applySales(ctx, ch); err != nil {
		return fail(err)
	}
	if err := w.applyLedger(ctx, ch); err != nil {
		return fail(err)
	}
	return results, nil
}

// storeQuarantine appends quarantine rows (texts already storable), each distinct
// payload once.
func (w *writer) storeQuarantine(ctx context.Context, rows []tracewatch.QuarantineRow) error {
	if len(rows) == 0 {
		return nil
	}
	var h payloadHasher
	hashes := make([]driver.Value, len(rows))
	staged := map[string]bool{}
	err := withAppender(w.conn, "temp", "stage_payloads", func(a *duckdbdrv.Appender) error {
		for i := range rows {
			k := h.hash(rows[i].Payload)
			if k == "" {
				continue
			}
			hashes[i] = k
			if staged[k] {
				continue
			}
			staged[k] = true
			if err := a.AppendRow(k, rows[i].Payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(staged) > 0 {
		if _, err := w.conn.ExecContext(ctx, `INSERT INTO quarantine_payloads SELECT * FROM stage_payloads ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_payloads`); err != nil {
			return err
		}
	}
	return withAppender(w.conn, "", "quarantine", func(a *duckdbdrv.Appender) error {
		for i := range rows {
			q := &rows[i]
			id := w.nextQuarantine
			w.nextQuarantine++
			if err := a.AppendRow(id, q.MsgID, q.Infno, q.Institution, q.Source, int32(q.Row), q.Field, q.Reason, hashes[i], q.Received.UTC(), q.Resubmitted); err != nil {
				return err
			}
		}
		return nil
	})
}

// messageHash is messages.key_hash of k: the lower 64 bits of
// md5(institution || '|' || msgid), read as DuckDB's md5_number_lower reads them
// (migration 0015), as a signed integer. Two keys may share a hash: a hash only finds
// candidates, which are then compared exactly.
func messageHash(k tracewatch.MessageKey, buf []byte) (int64, []byte) {
	buf = append(append(append(buf[:0], k.Institution...), '|'), k.MsgID...)
	sum := md5.Sum(buf)
	return int64(binary.LittleEndian.Uint64(sum[8:])), buf
}

// storedMessages returns the first answers of the messages of keys already stored, and
// the key_hash of every key (aligned with keys). One join of the keys' hashes with the
// narrow key_hash column finds the candidates (nearly always none: a commit's messages
// are new); only those are read and compared exactly.
func (w *writer) storedMessages(ctx context.Context, keys []tracewatch.MessageKey) (map[tracewatch.MessageKey][]byte, []int64, error) {
	hashes := make([]int64, len(keys))
	var buf []byte
	for i, k := range keys {
		hashes[i], buf = messageHash(k, buf)
	}
	if len(keys) == 0 {
		return nil, hashes, nil
	}
	err := withAppender(w.conn, "temp", "stage_keys", func(a *duckdbdrv.Appender) error {
		for _, h := range hashes {
			if err := a.AppendRow(h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	hit := map[int64]bool{}
	rows, err := w.conn.QueryContext(ctx, `SELECT DISTINCT key_hash FROM messages WHERE key_hash IN (SELECT key_hash FROM stage_keys)`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, nil, err
		}
		hit[h] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_keys`); err != nil {
		return nil, nil, err
	}
	var ask []tracewatch.MessageKey
	for i, k := range keys {
		if hit[hashes[i]] {
			ask = append(ask, k)
		}
	}
	stored, err := storedResponses(ctx, w.conn, ask)
	return stored, hashes, err
}

// storedResponses returns the first answers of the messages of keys already stored.
func storedResponses(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, keys []tracewatch.MessageKey) (map[tracewatch.MessageKey][]byte, error) {
	out := map[tracewatch.MessageKey][]byte{}
	want := make(map[tracewatch.MessageKey]bool, len(keys))
	hashes := make([]int64, 0, len(keys))
	var buf []byte
	for _, k := range keys {
		if !want[k] {
			want[k] = true
			var h int64
			h, buf = messageHash(k, buf)
			hashes = append(hashes, h)
		}
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	err := inLists(hashes, func(list string, args []any) error {
		rows, err := q.QueryContext(ctx, `SELECT fixmedins_code, msgid, response FROM messages WHERE key_hash IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k tracewatch.MessageKey
			var resp string
			if err := rows.Scan(&k.Institution, &k.MsgID, &resp); err != nil {
				rows.Close()
				return err
			}
			if want[k] {
				out[k] = []byte(resp)
			}
		}
		return rows.Close()
	})
	return out, err
}

// injected returns the failure a test asked for b, if any.
func (w *writer) injected(b *tracewatch.Batch) error {
	if !w.hooked.Load() {
		return nil
	}
	for _, m := range b.Messages {
		if _, ok := w.failApply.Load(m.MsgID); ok {
			return fmt.Errorf("injected failure for msgid %s", m.MsgID)
		}
	}
	return nil
}
