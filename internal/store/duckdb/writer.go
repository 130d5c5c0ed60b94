package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
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

	conn *sql.Conn
	reqs chan *request
	done chan struct{}

	nextEvent      int64
	nextQuarantine int64
	nextDict       tracewatch.CodeID
	dict           map[string]tracewatch.CodeID // code_dict, all of it (non-NMPA identities are a minority)
	packs          map[string]int64             // drug → pack content; nil after drugs change
}

type request struct {
	batch   *tracewatch.Batch                               // a commit, or
	batches []*tracewatch.Batch                             // journal records applied together (with jpos), or
	job     func(ctx context.Context, conn *sql.Conn) error // any other write
	jpos    *journalPos                                     // the journal position the batches reach, recorded in their transaction
	res     tracewatch.CommitResult
	err     error
	done    chan struct{}
}

const stageDDL = `
CREATE TEMP TABLE stage_msg AS SELECT * FROM messages LIMIT 0;
CREATE TEMP TABLE stage_sales AS SELECT * FROM sale_codes LIMIT 0;
CREATE TEMP TABLE stage_ledger AS SELECT * FROM ledger LIMIT 0;
`

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	const op = "duckdb.newWriter"
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	w := &writer{conn: conn, reqs: make(chan *request, 1024), done: make(chan struct{}), dict: map[string]tracewatch.CodeID{}}
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
		if r.job != nil {
			r.err = w.runJob(r.job)
			close(r.done)
			continue
		}
		if r.batches != nil {
			_, r.err = w.commitBatches(r.batches, r.jpos)
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
				if next.job != nil || next.batches != nil {
					w.commitGroup(group)
					group = nil
					if next.job != nil {
						next.err = w.runJob(next.job)
					} else {
						_, next.err = w.commitBatches(next.batches, next.jpos)
					}
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
// retried alone so that one bad batch does not fail the others.
func (w *writer) commitGroup(group []*request) {
	batches := make([]*tracewatch.Batch, len(group))
	for i, r := range group {
		batches[i] = r.batch
	}
	results, err := w.commitBatches(batches, nil)
	if err != nil && len(group) > 1 {
		for _, r := range group {
			res, err := w.commitBatches([]*tracewatch.Batch{r.batch}, nil)
			if err == nil {
				r.res = res[0]
			}
			r.err = err
			close(r.done)
		}
		return
	}
	for i, r := range group {
		if err == nil {
			r.res = results[i]
		}
		r.err = err
		close(r.done)
	}
}

// commitBatches commits batches in one transaction; with jpos, the transaction also
// records that the journal is applied up to jpos.
func (w *writer) commitBatches(batches []*tracewatch.Batch, jpos *journalPos) ([]tracewatch.CommitResult, error) {
	ctx := context.Background()
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

// ledgerDelta accumulates what one group commit changes in the ledger row of one code.
type ledgerDelta struct {
	whole, split     int64
	pack             int64
	sales, returns   int
	firstSeller      string
	firstSale, last  time.Time
	received         int
	touched, hasSale bool
}

func (w *writer) apply(ctx context.Context, batches []*tracewatch.Batch) ([]tracewatch.CommitResult, error) {
	const op = "duckdb.Commit"
	fail := func(err error) ([]tracewatch.CommitResult, error) {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	results := make([]tracewatch.CommitResult, len(batches))

	// 1. Messages: the msgid decides what is new; replays change nothing.
	owner := map[string][2]int{} // msgid → batch and message index of its first occurrence
	var firstResp = map[string][]byte{}
	err := withAppender(w.conn, "temp", "stage_msg", func(a *duckdbdrv.Appender) error {
		for bi, b := range batches {
			for mi, m := range b.Messages {
				if _, dup := owner[m.MsgID]; dup {
					continue
				}
				owner[m.MsgID] = [2]int{bi, mi}
				firstResp[m.MsgID] = m.Response
				if err := a.AppendRow(m.MsgID, m.Infno, m.Institution, m.Source, m.Received.UTC(), int32(m.Accepted), int32(m.Rejected), string(m.Response)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	fresh := map[string]bool{}
	rows, err := w.conn.QueryContext(ctx, `INSERT INTO messages SELECT * FROM stage_msg ON CONFLICT DO NOTHING RETURNING msgid`)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fail(err)
		}
		fresh[id] = true
	}
	rows.Close()
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_msg`); err != nil {
		return fail(err)
	}
	// Replayed: their stored answers.
	var stale []string
	for bi, b := range batches {
		for mi, m := range b.Messages {
			if !fresh[m.MsgID] || owner[m.MsgID] != [2]int{bi, mi} {
				stale = append(stale, m.MsgID)
			}
		}
	}
	stored := map[string][]byte{}
	for len(stale) > 0 {
		chunk := stale[:min(len(stale), 500)]
		stale = stale[len(chunk):]
		q := `SELECT msgid, response FROM messages WHERE msgid IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, s := range chunk {
			args[i] = s
		}
		rows, err := w.conn.QueryContext(ctx, q, args...)
		if err != nil {
			return fail(err)
		}
		for rows.Next() {
			var id, resp string
			if err := rows.Scan(&id, &resp); err != nil {
				rows.Close()
				return fail(err)
			}
			stored[id] = []byte(resp)
		}
		rows.Close()
	}
	// A message's rows are kept when it is new and this is its first occurrence; a row
	// (msgid, line) given twice is kept once.
	keep := func(bi int, msgid string) bool { return fresh[msgid] && owner[msgid][0] == bi }
	seenLine := map[string]bool{}
	keepEvent := func(bi int, e *tracewatch.Event) bool {
		if !keep(bi, e.MsgID) {
			return false
		}
		k := e.MsgID + "\x00" + strconv.Itoa(e.Line)
		if seenLine[k] {
			return false
		}
		seenLine[k] = true
		return true
	}
	for bi, b := range batches {
		for mi, m := range b.Messages {
			if !fresh[m.MsgID] || owner[m.MsgID] != [2]int{bi, mi} {
				if results[bi].Replayed == nil {
					results[bi].Replayed = map[string][]byte{}
				}
				resp, ok := stored[m.MsgID]
				if !ok {
					resp = firstResp[m.MsgID]
				}
				results[bi].Replayed[m.MsgID] = resp
			}
		}
	}

	// 2. Events and their codes.
	deltas := map[tracewatch.CodeID]*ledgerDelta{}
	delta := func(id tracewatch.CodeID) *ledgerDelta {
		d := deltas[id]
		if d == nil {
			d = &ledgerDelta{}
			deltas[id] = d
		}
		return d
	}
	type saleRow struct {
		id    tracewatch.CodeID
		sale  string
		inst  string
		t     time.Time
		whole int64
		split int64
		drug  string
	}
	var sales []saleRow
	var cancels []*tracewatch.Event
	var newDict []struct {
		id  tracewatch.CodeID
		key string
	}
	if err := w.loadPacks(ctx); err != nil {
		return fail(err)
	}
	err = withAppenders(w.conn, []string{"", "events", "", "event_codes"}, func(as []*duckdbdrv.Appender) error {
		ea, ca := as[0], as[1]
		{
			for bi, b := range batches {
				for i := range b.Events {
					e := &b.Events[i]
					if !keepEvent(bi, e) {
						continue
					}
					id := w.nextEvent
					w.nextEvent++
					if err := ea.AppendRow(id, e.MsgID, int32(e.Line), e.Infno, string(e.Kind), e.ChangeType, e.Institution,
						e.DrugCode, e.ItemID, e.ItemName, e.BatchNo, e.LotNo, nullTime(e.Made), nullTime(e.Expires),
						int64(e.Qty), e.SplitPack, int64(e.UnitPrice), int64(e.Amount), int64(e.FundPaid), nullTime(e.Time),
						e.Receipt, e.Settlement, e.Visit, e.FeeLine, e.Person, e.CertnoMasked, e.SettleType, e.Supplier,
						e.Prescriber, e.Pharmacist, e.DataType, nullTime(e.Admitted), nullTime(e.Discharged), e.Diagnosis); err != nil {
						return err
					}
					results[bi].Events++
					if e.Kind == tracewatch.EventSettlementCancel {
						cancels = append(cancels, e)
					}
					side := e.SaleSide()
					inbound := e.Inbound()
					for _, c := range e.Codes {
						var cid, parent driver.Value
						var code tracewatch.CodeID
						if c.Key != "" {
							var isNew bool
							code, isNew = w.codeID(c.Key)
							if isNew {
								newDict = append(newDict, struct {
									id  tracewatch.CodeID
									key string
								}{code, c.Key})
							}
							cid = int64(code)
						}
						if c.Parent != "" {
							pid, isNew := w.codeID(c.Parent)
							if isNew {
								newDict = append(newDict, struct {
									id  tracewatch.CodeID
									key string
								}{pid, c.Parent})
							}
							parent = int64(pid)
						}
						if err := ca.AppendRow(id, cid, c.Raw, c.Kind, c.ProductID, c.Error, parent, int32(c.Level), c.DrugCode,
							string(e.Kind), e.Institution, nullTime(e.Time), nullTime(c.Expires)); err != nil {
							return err
						}
						results[bi].Codes++
						if c.Key == "" {
							continue
						}
						drug := c.DrugCode
						if drug == "" {
							drug = e.DrugCode
						}
						if inbound {
							d := delta(code)
							d.received++
							d.touched = true
							if d.pack == 0 {
								d.pack = w.packs[drug]
							}
						}
						if side > 0 || e.Kind == tracewatch.EventSaleReturn {
							r := saleRow{id: code, sale: tracewatch.SaleID(e), inst: e.Institution, t: e.Time, drug: drug}
							if e.SplitPack {
								r.split = int64(e.Qty) * int64(side)
								if r.split == 0 && side > 0 {
									r.split = unknownPart // a 2207 split line: a part of unknown size
								}
							} else {
								r.whole = int64(side)
							}
							sales = append(sales, r)
						}
					}
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

	for bi, b := range batches {
		if len(b.Quarantine) == 0 {
			continue
		}
		err := withAppender(w.conn, "", "quarantine", func(a *duckdbdrv.Appender) error {
			return w.appendQuarantine(a, b.Quarantine, func(q *tracewatch.QuarantineRow) bool { return q.MsgID == "" || keep(bi, q.MsgID) })
		})
		if err != nil {
			return fail(err)
		}
	}

	// 3. Sales, returns and cancels: distinct sale facts per code, then the ledger.
	drugOf := map[tracewatch.CodeID]string{}
	insertSales := func(rs []saleRow) error {
		if len(rs) == 0 {
			return nil
		}
		// One row per code and sale. The same sale may come twice (a 2207 and its 3505):
		// keep the larger quantity, as the rebuild's max() does (a 2207 split line carries
		// no quantity; its 3505 does).
		at := map[string]int{}
		uniq := rs[:0:0]
		for _, r := range rs {
			k := fmt.Sprint(r.id, "\x00", r.sale)
			if i, ok := at[k]; ok {
				u := &uniq[i]
				u.whole, u.split = max(u.whole, r.whole), max(u.split, r.split)
				if u.drug == "" {
					u.drug = r.drug
				}
				continue
			}
			at[k] = len(uniq)
			uniq = append(uniq, r)
		}
		err := withAppender(w.conn, "temp", "stage_sales", func(a *duckdbdrv.Appender) error {
			for _, r := range uniq {
				if r.drug != "" {
					drugOf[r.id] = r.drug
				}
				if err := a.AppendRow(int64(r.id), r.sale, r.inst, nullTime(r.t), r.whole, r.split); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		// A stored split sale of unknown size (its 2207 came first) takes the quantity its
		// 3505 brings.
		up, err := w.conn.QueryContext(ctx, `UPDATE sale_codes SET split_qty = s.split_qty FROM stage_sales s
WHERE sale_codes.code_id = s.code_id AND sale_codes.sale_id = s.sale_id
  AND sale_codes.whole = 0 AND sale_codes.split_qty = ? AND s.split_qty > ?
RETURNING sale_codes.code_id, sale_codes.split_qty`, unknownPart, unknownPart)
		if err != nil {
			return err
		}
		for up.Next() {
			var id, split int64
			if err := up.Scan(&id, &split); err != nil {
				up.Close()
				return err
			}
			d := delta(tracewatch.CodeID(id))
			d.touched = true
			d.split += split - unknownPart
		}
		up.Close()
		rows, err := w.conn.QueryContext(ctx, `INSERT INTO sale_codes SELECT * FROM stage_sales ON CONFLICT DO NOTHING RETURNING code_id, fixmedins_code, event_time, whole, split_qty`)
		if err != nil {
			return err
		}
		if err := w.countSales(rows, delta); err != nil {
			return err
		}
		_, err = w.conn.ExecContext(ctx, `DELETE FROM stage_sales`)
		return err
	}
	if err := insertSales(sales); err != nil {
		return fail(err)
	}
	if len(cancels) > 0 {
		var rev []saleRow
		for len(cancels) > 0 {
			chunk := cancels[:min(len(cancels), 500)]
			cancels = cancels[len(chunk):]
			args := make([]any, len(chunk))
			byID := map[string]*tracewatch.Event{}
			for i, e := range chunk {
				s := e.Institution + "|S|" + e.Settlement
				args[i] = s
				byID[s] = e
			}
			rows, err := w.conn.QueryContext(ctx, `SELECT code_id, sale_id, fixmedins_code, whole, split_qty FROM sale_codes WHERE sale_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
			if err != nil {
				return fail(err)
			}
			for rows.Next() {
				var id, whole, split int64
				var sid, inst string
				if err := rows.Scan(&id, &sid, &inst, &whole, &split); err != nil {
					rows.Close()
					return fail(err)
				}
				e := byID[sid]
				rev = append(rev, saleRow{id: tracewatch.CodeID(id), sale: tracewatch.SaleID(e), inst: inst, t: e.Time, whole: -whole, split: -split})
			}
			rows.Close()
		}
		if err := insertSales(rev); err != nil {
			return fail(err)
		}
	}
	if len(deltas) == 0 {
		return results, nil
	}
	err = withAppender(w.conn, "temp", "stage_ledger", func(a *duckdbdrv.Appender) error {
		for id, d := range deltas {
			if !d.touched {
				continue
			}
			if d.pack == 0 {
				d.pack = w.packs[drugOf[id]]
			}
			var seller driver.Value
			if d.firstSeller != "" {
				seller = d.firstSeller
			}
			if err := a.AppendRow(int64(id), d.whole, d.split, d.pack, int32(d.sales), int32(d.returns), seller,
				nullTime(d.firstSale), nullTime(d.last), int32(d.received)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if _, err := w.conn.ExecContext(ctx, upsertLedger); err != nil {
		return fail(err)
	}
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_ledger`); err != nil {
		return fail(err)
	}
	return results, nil
}

func (w *writer) appendQuarantine(a *duckdbdrv.Appender, rows []tracewatch.QuarantineRow, ok func(*tracewatch.QuarantineRow) bool) error {
	for i := range rows {
		q := &rows[i]
		if !ok(q) {
			continue
		}
		id := w.nextQuarantine
		w.nextQuarantine++
		if err := a.AppendRow(id, q.MsgID, q.Infno, q.Institution, q.Source, int32(q.Row), q.Field, q.Reason, string(q.Payload), q.Received.UTC(), false); err != nil {
			return err
		}
	}
	return nil
}

// upsertLedger adds the staged deltas to the ledger. In the SET list, ledger.* are the
// values before the update (both engines).
const upsertLedger = `
INSERT INTO ledger SELECT * FROM stage_ledger
ON CONFLICT (code_id) DO UPDATE SET
    sold_whole   = ledger.sold_whole + excluded.sold_whole,
    sold_split   = ledger.sold_split + excluded.sold_split,
    pack_content = CASE WHEN ledger.pack_content = 0 THEN excluded.pack_content ELSE ledger.pack_content END,
    sales        = ledger.sales + excluded.sales,
    returns      = ledger.returns + excluded.returns,
    first_seller = CASE WHEN excluded.first_sale IS NOT NULL AND (ledger.first_sale IS NULL OR excluded.first_sale < ledger.first_sale)
                        THEN excluded.first_seller ELSE ledger.first_seller END,
    first_sale   = CASE WHEN excluded.first_sale IS NOT NULL AND (ledger.first_sale IS NULL OR excluded.first_sale < ledger.first_sale)
                        THEN excluded.first_sale ELSE ledger.first_sale END,
    last_sale    = CASE WHEN excluded.last_sale IS NOT NULL AND (ledger.last_sale IS NULL OR excluded.last_sale > ledger.last_sale)
                        THEN excluded.last_sale ELSE ledger.last_sale END,
    received     = ledger.received + excluded.received
`

// unknownPart is the quantity stored for a split-pack sale whose size is not reported
// (a 2207/2304 drug_trac_info element with trdn_flag 1: the quantity is on the fee line):
// the smallest unit, 1/10000 of a minimum unit, so that the sale counts and its seller
// holds the box. The sale's 3505, when it comes, brings the real quantity.
const unknownPart = 1

// countSales adds the sale facts a statement returned (code_id, fixmedins_code,
// event_time, whole, split_qty) to the ledger deltas, and closes rows.
func (w *writer) countSales(rows *sql.Rows, delta func(tracewatch.CodeID) *ledgerDelta) error {
	defer rows.Close()
	for rows.Next() {
		var id, whole, split int64
		var inst string
		var t sql.NullTime
		if err := rows.Scan(&id, &inst, &t, &whole, &split); err != nil {
			return err
		}
		d := delta(tracewatch.CodeID(id))
		d.touched = true
		d.whole += whole
		d.split += split
		switch {
		case whole > 0 || split > 0:
			d.sales++
			d.hasSale = true
			if t.Valid && (d.firstSale.IsZero() || t.Time.Before(d.firstSale)) {
				d.firstSale, d.firstSeller = t.Time, inst
			}
			if t.Valid && t.Time.After(d.last) {
				d.last = t.Time
			}
		case whole < 0 || split < 0:
			d.returns++
		}
	}
	return rows.Err()
}
