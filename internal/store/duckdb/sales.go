package duckdb

// The incremental ledger: what one commit changes in sale_codes and the ledger. The rows
// it writes are the rows `ledger rebuild` computes from the facts (rebuild), whatever
// order the facts arrived in: a sale whose settlement is already cancelled enters
// cancelled, a row a stored 3507 withdraws enters withdrawn, and a 3507 that comes after
// the rows it withdraws takes their effect back (docs/ledger.md).

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"slices"
	"strings"
	"time"

	duckdbdrv "github.com/duckdb/duckdb-go/v2"

	"tracewatch"
)

// saleKey is a sale_codes row's key.
type saleKey struct {
	id   tracewatch.CodeID
	sale string
}

// saleVal is a sale_codes row's value.
type saleVal struct {
	inst         string
	t            time.Time // zero: NULL
	whole, split int64
}

func (v saleVal) positive() bool { return v.whole > 0 || v.split > 0 }
func (v saleVal) negative() bool { return !v.positive() && (v.whole < 0 || v.split < 0) }

// merge combines two reports of one sale as the rebuild's GROUP BY does: the smallest
// institution and known time, the largest quantities (a 2207 split line carries no
// quantity, its 3505 does).
func (v saleVal) merge(o saleVal) saleVal {
	if o.inst < v.inst {
		v.inst = o.inst
	}
	if v.t.IsZero() || !o.t.IsZero() && o.t.Before(v.t) {
		v.t = o.t
	}
	v.whole, v.split = max(v.whole, o.whole), max(v.split, o.split)
	return v
}

func sameVal(a, b *saleVal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.inst == b.inst && a.t.Equal(b.t) && a.whole == b.whole && a.split == b.split
}

// saleChange sets the row of key to new (nil: deletes it); old is the row before.
type saleChange struct {
	key      saleKey
	old, new *saleVal
}

// saleChanges collects what one commit does to sale_codes and the ledger.
type saleChanges struct {
	rows      map[saleKey]saleVal         // from the commit's standing rows, merged per key
	canOf     map[string]string           // settlement sale id → its cancel's sale id (CAN|…)
	cancelled map[string]bool             // settlement sale ids whose cancel (time) is new
	recompute map[saleKey]bool            // keys whose rows a 3507 withdrew: recomputed from the facts
	received  map[tracewatch.CodeID]int   // inbound rows added (−: withdrawn)
	packs     map[tracewatch.CodeID]int64 // the largest pack content the commit's rows name
	repack    map[tracewatch.CodeID]bool  // codes a withdrawn row named: pack recomputed
	changes   []saleChange
}

func newSaleChanges() *saleChanges {
	return &saleChanges{rows: map[saleKey]saleVal{}, canOf: map[string]string{}, cancelled: map[string]bool{},
		recompute: map[saleKey]bool{}, received: map[tracewatch.CodeID]int{}, packs: map[tracewatch.CodeID]int64{},
		repack: map[tracewatch.CodeID]bool{}}
}

// saleFact returns the sale_codes row a sale-side event gives a code, as rebuild does.
func saleFact(e *tracewatch.Event) saleVal {
	side := e.SaleSide()
	v := saleVal{inst: e.Institution, t: e.Time}
	if e.SplitPack {
		v.split = int64(e.Qty) * int64(side)
		if v.split == 0 && side > 0 {
			v.split = unknownPart // a 2207 split line: a part of unknown size
		}
	} else {
		v.whole = int64(side)
	}
	return v
}

// effect records what a standing (not withdrawn) event e does to one of its codes.
// sale caches e's sale id across its codes ("" until needed).
func (w *writer) effect(ch *saleChanges, e *tracewatch.Event, sale *string, code tracewatch.CodeID, codeDrug string) {
	drug := codeDrug
	if drug == "" {
		drug = e.DrugCode
	}
	switch {
	case e.Inbound():
		ch.received[code]++
	case e.SaleSide() > 0 || e.Kind == tracewatch.EventSaleReturn:
		if *sale == "" {
			*sale = tracewatch.SaleOf(e).String()
		}
		k := saleKey{code, *sale}
		v := saleFact(e)
		if old, ok := ch.rows[k]; ok {
			v = old.merge(v)
		}
		ch.rows[k] = v
		if e.Kind != tracewatch.EventSaleReturn && e.Settlement != "" {
			ch.canOf[k.sale] = "CAN|" + e.Institution + "|" + e.Settlement
		}
	default:
		return
	}
	if p := w.packs[drug]; p > ch.packs[code] {
		ch.packs[code] = p
	}
}

// withdrawStored marks the rows stored before firstNew that the 3507s deletions
// withdraw, and records the effects to take back.
func (w *writer) withdrawStored(ctx context.Context, deletions []*tracewatch.Event, firstNew int64, ch *saleChanges) error {
	type named struct{ inst, bchno string }
	var keys []named
	seen := map[named]bool{}
	for _, d := range deletions {
		k := named{d.Institution, d.BatchNo}
		if d.BatchNo != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	type relabel struct {
		id int64
		by string
	}
	var labels []relabel
	var gone []int64
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 300)]
		keys = keys[len(chunk):]
		args := []any{firstNew}
		vals := make([]string, len(chunk))
		for i, k := range chunk {
			vals[i] = "(?, ?)"
			args = append(args, k.inst, k.bchno)
		}
		rows, err := w.conn.QueryContext(ctx, `SELECT e.event_id, e.kind, e.fixmedins_code, e.batch_no, e.msgid, e.inf_time, e.event_time, coalesce(e.withdrawn_by, '')
FROM events e JOIN (VALUES `+strings.Join(vals, ", ")+`) k(inst, bchno) ON e.fixmedins_code = k.inst AND e.batch_no = k.bchno
WHERE e.event_id < ? AND e.kind IN ('stocktake', 'stock_change', 'purchase', 'purchase_return', 'sale', 'sale_return')`,
			append(args[1:], args[0])...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var kind, inst, bchno, msgid, cur string
			var sent, at sql.NullTime
			if err := rows.Scan(&id, &kind, &inst, &bchno, &msgid, &sent, &at, &cur); err != nil {
				rows.Close()
				return err
			}
			by := w.withdrawn.by(inst, bchno, tracewatch.EventKind(kind), uploadOf(scanTime(sent), scanTime(at), msgid))
			if by == cur {
				continue
			}
			labels = append(labels, relabel{id, by})
			if cur == "" {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for len(labels) > 0 {
		chunk := labels[:min(len(labels), 500)]
		labels = labels[len(chunk):]
		vals := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, l := range chunk {
			vals[i] = "(CAST(? AS BIGINT), CAST(? AS VARCHAR))"
			args = append(args, l.id, l.by)
		}
		if _, err := w.conn.ExecContext(ctx, `UPDATE events SET withdrawn_by = v.wby FROM (VALUES `+strings.Join(vals, ", ")+`) v(id, wby)
WHERE events.event_id = v.id`, args...); err != nil {
			return err
		}
	}
	// The effects of the rows now withdrawn.
	return inLists(gone, func(list string, args []any) error {
		rows, err := w.conn.QueryContext(ctx, `SELECT e.kind, e.change_type, e.fixmedins_code, e.msgid, e.line, e.receipt, e.setl_id, c.code_id
FROM event_codes c JOIN events e ON e.event_id = c.event_id
WHERE c.code_id IS NOT NULL AND c.event_id IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e tracewatch.Event
			var kind string
			var chg, receipt, setl sql.NullString
			var code int64
			if err := rows.Scan(&kind, &chg, &e.Institution, &e.MsgID, &e.Line, &receipt, &setl, &code); err != nil {
				rows.Close()
				return err
			}
			e.Kind, e.ChangeType, e.Receipt, e.Settlement = tracewatch.EventKind(kind), chg.String, receipt.String, setl.String
			id := tracewatch.CodeID(code)
			switch {
			case e.Inbound():
				ch.received[id]--
			case e.Kind == tracewatch.EventSale || e.Kind == tracewatch.EventSaleReturn:
				k := saleKey{id, tracewatch.SaleOf(&e).String()}
				ch.recompute[k] = true
				if e.Kind == tracewatch.EventSale && e.Settlement != "" {
					ch.canOf[k.sale] = "CAN|" + e.Institution + "|" + e.Settlement
				}
			default:
				continue
			}
			ch.repack[id] = true
		}
		rows.Close()
		return rows.Err()
	})
}

// saleIDText is tracewatch.SaleID's text form in SQL, its parts SQL expressions (line:
// the message line as text, "" for the kinds without one).
func saleIDText(k tracewatch.SaleKind, inst, ref, line string) string {
	switch k {
	case tracewatch.SaleReturn, tracewatch.SaleCancel:
		s := `'` + k.Tag() + `|' || ` + inst + ` || '|' || ` + ref
		if line != "" {
			s += ` || '|' || ` + line
		}
		return s
	}
	s := inst + ` || '|` + k.Tag() + `|' || ` + ref
	if line != "" {
		s += ` || '|' || ` + line
	}
	return s
}

// saleOfSQL is tracewatch.SaleOf of a sale-side events row e (a sale, a settlement or a
// sale return).
var saleOfSQL = `CASE WHEN e.kind = 'sale_return' THEN ` + saleIDText(tracewatch.SaleReturn, "e.fixmedins_code", "e.msgid", "CAST(e.line AS VARCHAR)") + `
            WHEN e.setl_id IS NOT NULL AND e.setl_id <> '' THEN ` + saleIDText(tracewatch.SaleBySettlement, "e.fixmedins_code", "e.setl_id", "") + `
            WHEN e.receipt IS NOT NULL AND e.receipt <> '' THEN ` + saleIDText(tracewatch.SaleByReceipt, "e.fixmedins_code", "e.receipt", "") + `
            ELSE ` + saleIDText(tracewatch.SaleByLine, "e.fixmedins_code", "e.msgid", "CAST(e.line AS VARCHAR)") + ` END`

// saleFactsSQL computes sale_codes rows of sale-side facts (tracewatch.SaleOf, the
// quantities of saleFact, merged as saleVal.merge) from the standing events; cond adds
// conditions on c (event_codes) and e (events): "" or " AND …".
func saleFactsSQL(cond string) string {
	return `SELECT c.code_id, ` + saleOfSQL + ` AS sale_id,
       min(e.fixmedins_code), min(e.event_time),
       max(CASE WHEN e.split_pack THEN 0 WHEN e.kind = 'sale_return' THEN -1 ELSE 1 END),
       max(CASE WHEN NOT e.split_pack THEN 0 WHEN e.kind = 'sale_return' THEN -e.qty WHEN e.qty = 0 THEN 1 ELSE e.qty END)
FROM event_codes c JOIN events e ON e.event_id = c.event_id
WHERE c.code_id IS NOT NULL AND e.kind IN ('sale', 'settlement', 'sale_return') AND e.withdrawn_by IS NULL` + cond + `
GROUP BY 1, 2`
}

// scanSaleRows reads (code_id, sale_id, fixmedins_code, event_time, whole, split_qty)
// rows into out, and closes rows.
func scanSaleRows(rows *sql.Rows, out map[saleKey]saleVal) error {
	defer rows.Close()
	for rows.Next() {
		var id, whole, split int64
		var sale, inst string
		var t sql.NullTime
		if err := rows.Scan(&id, &sale, &inst, &t, &whole, &split); err != nil {
			return err
		}
		out[saleKey{tracewatch.CodeID(id), sale}] = saleVal{inst: inst, t: scanTime(t), whole: whole, split: split}
	}
	return rows.Err()
}

// stageSales writes rows (nil values: the key alone) to stage_sales.
func (w *writer) stageSales(keys []saleKey, vals []*saleVal) error {
	return withAppender(w.conn, "temp", "stage_sales", func(a *duckdbdrv.Appender) error {
		for i, k := range keys {
			var v saleVal
			if vals != nil && vals[i] != nil {
				v = *vals[i]
			}
			if err := a.AppendRow(int64(k.id), k.sale, v.inst, nullTime(v.t), v.whole, v.split); err != nil {
				return err
			}
		}
		return nil
	})
}

// storedSales returns the stored sale_codes rows of keys.
func (w *writer) storedSales(ctx context.Context, keys []saleKey) (map[saleKey]saleVal, error) {
	out := map[saleKey]saleVal{}
	if len(keys) == 0 {
		return out, nil
	}
	if err := w.stageSales(keys, nil); err != nil {
		return nil, err
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT s.code_id, s.sale_id, s.fixmedins_code, s.event_time, s.whole, s.split_qty
FROM sale_codes s JOIN stage_sales k ON k.code_id = s.code_id AND k.sale_id = s.sale_id`)
	if err != nil {
		return nil, err
	}
	if err := scanSaleRows(rows, out); err != nil {
		return nil, err
	}
	_, err = w.conn.ExecContext(ctx, `DELETE FROM stage_sales`)
	return out, err
}

// salesOf returns the stored sale_codes rows of the sale ids.
func (w *writer) salesOf(ctx context.Context, ids []string) (map[saleKey]saleVal, error) {
	out := map[saleKey]saleVal{}
	err := inLists(ids, func(list string, args []any) error {
		rows, err := w.conn.QueryContext(ctx, `SELECT code_id, sale_id, fixmedins_code, event_time, whole, split_qty FROM sale_codes
WHERE sale_id IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		return scanSaleRows(rows, out)
	})
	return out, err
}

// compareKeys orders sale keys (for deterministic staging).
func compareKeys(a, b saleKey) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return strings.Compare(a.sale, b.sale)
}

// applySales computes the commit's changes to sale_codes (ch.changes) and writes them
// (writeSales). The stored rows of the commit's keys are read in one join: a new sale
// has none; a sale stored before (the same sale reported again: a 2207 after its 3505)
// is merged with it, and the keys of withdrawn rows are recomputed from the standing
// facts.
func (w *writer) applySales(ctx context.Context, ch *saleChanges) error {
	keys := make([]saleKey, 0, len(ch.rows)+len(ch.recompute)) // the keys whose stored row is read
	for k := range ch.rows {
		keys = append(keys, k)
	}
	for k := range ch.recompute {
		if _, ok := ch.rows[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	old, err := w.storedSales(ctx, keys)
	if err != nil {
		return err
	}
	// The rows a 3507 withdrew: what the standing facts of their keys say now.
	fresh := map[saleKey]saleVal{}
	if len(ch.recompute) > 0 {
		codes := map[tracewatch.CodeID]bool{}
		for k := range ch.recompute {
			codes[k.id] = true
		}
		ids := make([]int64, 0, len(codes))
		for id := range codes {
			ids = append(ids, int64(id))
		}
		err := inLists(ids, func(list string, args []any) error {
			rows, err := w.conn.QueryContext(ctx, saleFactsSQL(` AND c.code_id IN (`+list+`)`), args...)
			if err != nil {
				return err
			}
			return scanSaleRows(rows, fresh)
		})
		if err != nil {
			return err
		}
	}
	for _, k := range keys {
		var o, n *saleVal
		if v, ok := old[k]; ok {
			o = &v
		}
		switch {
		case ch.recompute[k]:
			if v, ok := fresh[k]; ok {
				n = &v
			}
		case o != nil:
			v := o.merge(ch.rows[k])
			n = &v
		default:
			v := ch.rows[k]
			n = &v
		}
		if !sameVal(o, n) {
			ch.changes = append(ch.changes, saleChange{key: k, old: o, new: n})
		}
	}

	// Cancels: the CAN row of every code of a cancelled settlement mirrors its sale row.
	affected := map[string]bool{}
	for s := range ch.cancelled {
		affected[s] = true
	}
	for _, c := range ch.changes {
		if _, ok := w.cancels[c.key.sale]; ok && ch.canOf[c.key.sale] != "" {
			affected[c.key.sale] = true
		}
	}
	if len(affected) > 0 {
		var ids []string
		for s := range affected {
			ids = append(ids, s, ch.canOf[s])
		}
		slices.Sort(ids)
		stored, err := w.salesOf(ctx, ids)
		if err != nil {
			return err
		}
		// The settlement rows as they will be: stored, then this commit's changes.
		settled := map[saleKey]saleVal{}
		for k, v := range stored {
			if affected[k.sale] {
				settled[k] = v
			}
		}
		for _, c := range ch.changes {
			if affected[c.key.sale] {
				if c.new == nil {
					delete(settled, c.key)
				} else {
					settled[c.key] = *c.new
				}
			}
		}
		want := map[saleKey]saleVal{}
		for k, v := range settled {
			t, ok := w.cancels[k.sale]
			if !ok {
				continue
			}
			want[saleKey{k.id, ch.canOf[k.sale]}] = saleVal{inst: v.inst, t: t, whole: -v.whole, split: -v.split}
		}
		var canKeys []saleKey
		for k := range want {
			canKeys = append(canKeys, k)
		}
		for k := range stored {
			if strings.HasPrefix(k.sale, "CAN|") {
				if _, ok := want[k]; !ok {
					canKeys = append(canKeys, k)
				}
			}
		}
		slices.SortFunc(canKeys, compareKeys)
		for _, k := range canKeys {
			var o, n *saleVal
			if v, ok := stored[k]; ok {
				o = &v
			}
			if v, ok := want[k]; ok {
				n = &v
			}
			if !sameVal(o, n) {
				ch.changes = append(ch.changes, saleChange{key: k, old: o, new: n})
			}
		}
	}

	return w.writeSales(ctx, ch.changes)
}

// writeSales writes changes to sale_codes: the rows of new keys are appended, the
// others updated or deleted through a join with their staged keys. (A key changed twice
// takes its last value; whether it is stored is what its first change found.)
func (w *writer) writeSales(ctx context.Context, changes []saleChange) error {
	type final struct {
		stored bool
		v      *saleVal
	}
	fin := make(map[saleKey]*final, len(changes))
	order := make([]saleKey, 0, len(changes))
	for _, c := range changes {
		f := fin[c.key]
		if f == nil {
			f = &final{stored: c.old != nil}
			fin[c.key] = f
			order = append(order, c.key)
		}
		f.v = c.new
	}
	slices.SortFunc(order, compareKeys)
	var insKeys, upKeys, delKeys []saleKey
	var upVals []*saleVal
	for _, k := range order {
		switch f := fin[k]; {
		case f.v != nil && !f.stored:
			insKeys = append(insKeys, k)
		case f.v != nil:
			upKeys, upVals = append(upKeys, k), append(upVals, f.v)
		case f.stored:
			delKeys = append(delKeys, k)
		}
	}
	if len(insKeys) > 0 {
		err := withAppender(w.conn, "", "sale_codes", func(a *duckdbdrv.Appender) error {
			for _, k := range insKeys {
				v := fin[k].v
				if err := a.AppendRow(int64(k.id), k.sale, v.inst, nullTime(v.t), v.whole, v.split); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(upKeys) > 0 {
		if err := w.stageSales(upKeys, upVals); err != nil {
			return err
		}
		if _, err := w.conn.ExecContext(ctx, `UPDATE sale_codes SET fixmedins_code = s.fixmedins_code, event_time = s.event_time,
    whole = s.whole, split_qty = s.split_qty
FROM stage_sales s WHERE sale_codes.code_id = s.code_id AND sale_codes.sale_id = s.sale_id`); err != nil {
			return err
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_sales`); err != nil {
			return err
		}
	}
	if len(delKeys) > 0 {
		if err := w.stageSales(delKeys, nil); err != nil {
			return err
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM sale_codes WHERE EXISTS (SELECT 1 FROM stage_sales k
WHERE k.code_id = sale_codes.code_id AND k.sale_id = sale_codes.sale_id)`); err != nil {
			return err
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_sales`); err != nil {
			return err
		}
	}
	return nil
}

// ledgerDelta accumulates what one commit changes in the ledger row of one code.
type ledgerDelta struct {
	whole, split    int64
	pack            int64
	sales, returns  int
	firstSeller     string
	firstSale, last time.Time
	received        int
}

// add adds (sign +1) or takes back (−1) a sale_codes row.
func (d *ledgerDelta) add(v *saleVal, sign int) {
	d.whole += int64(sign) * v.whole
	d.split += int64(sign) * v.split
	switch {
	case v.positive():
		d.sales += sign
		if sign > 0 && !v.t.IsZero() {
			if d.firstSale.IsZero() || v.t.Before(d.firstSale) || v.t.Equal(d.firstSale) && v.inst < d.firstSeller {
				d.firstSale, d.firstSeller = v.t, v.inst
			}
			if v.t.After(d.last) {
				d.last = v.t
			}
		}
	case v.negative():
		d.returns += sign
	}
}

// applyLedger adds the commit's deltas to the ledger; the codes whose first or last
// sale may have moved back, or whose rows a 3507 withdrew, are recomputed from
// sale_codes and the facts, and left out of the ledger when nothing of theirs stands.
func (w *writer) applyLedger(ctx context.Context, ch *saleChanges) error {
	deltas := map[tracewatch.CodeID]*ledgerDelta{}
	delta := func(id tracewatch.CodeID) *ledgerDelta {
		d := deltas[id]
		if d == nil {
			d = &ledgerDelta{}
			deltas[id] = d
		}
		return d
	}
	redo := map[tracewatch.CodeID]bool{}
	for _, c := range ch.changes {
		d := delta(c.key.id)
		if c.old != nil {
			d.add(c.old, -1)
			if c.old.positive() && (c.new == nil || !c.new.positive() || !c.new.t.Equal(c.old.t) || c.new.inst != c.old.inst) {
				redo[c.key.id] = true // the first or last sale may have been this one
			}
		}
		if c.new != nil {
			d.add(c.new, +1)
		}
	}
	for id, n := range ch.received {
		if n != 0 {
			delta(id).received += n
		}
		if n < 0 {
			redo[id] = true
		}
	}
	for id, p := range ch.packs {
		delta(id).pack = p
	}
	for id := range ch.repack {
		redo[id] = true
	}
	if len(deltas) > 0 {
		ids := make([]tracewatch.CodeID, 0, len(deltas))
		for id := range deltas {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		err := withAppender(w.conn, "temp", "stage_ledger", func(a *duckdbdrv.Appender) error {
			for _, id := range ids {
				d := deltas[id]
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
			return err
		}
		for _, q := range []string{updateLedger, insertLedger} {
			if _, err := w.conn.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM stage_ledger`); err != nil {
			return err
		}
	}
	if len(redo) == 0 {
		return nil
	}
	ids := make([]tracewatch.CodeID, 0, len(redo))
	for id := range redo {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := withAppender(w.conn, "temp", "stage_ids", func(a *duckdbdrv.Appender) error {
		for _, id := range ids {
			if err := a.AppendRow(int64(id), ch.repack[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, q := range []string{recomputeLedger, recomputePacks, dropEmptyLedger, `DELETE FROM stage_ids`} {
		if _, err := w.conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// updateLedger adds the staged deltas to the ledger rows that exist; insertLedger then
// inserts the others. (The ledger has no key in memory: both are joins with the staged
// codes.) In the SET list, ledger.* are the values before the update (both engines).
// Ties of the first sale go to the smallest institution code, as in the rebuild.
const (
	updateLedger = `
UPDATE ledger SET
    sold_whole   = ledger.sold_whole + s.sold_whole,
    sold_split   = ledger.sold_split + s.sold_split,
    pack_content = greatest(ledger.pack_content, s.pack_content),
    sales        = ledger.sales + s.sales,
    returns      = ledger.returns + s.returns,
    first_seller = CASE WHEN s.first_sale IS NOT NULL AND (ledger.first_sale IS NULL OR s.first_sale < ledger.first_sale)
                        THEN s.first_seller
                        WHEN s.first_sale IS NOT NULL AND s.first_sale = ledger.first_sale
                        THEN least(ledger.first_seller, s.first_seller)
                        ELSE ledger.first_seller END,
    first_sale   = CASE WHEN s.first_sale IS NOT NULL AND (ledger.first_sale IS NULL OR s.first_sale < ledger.first_sale)
                        THEN s.first_sale ELSE ledger.first_sale END,
    last_sale    = CASE WHEN s.last_sale IS NOT NULL AND (ledger.last_sale IS NULL OR s.last_sale > ledger.last_sale)
                        THEN s.last_sale ELSE ledger.last_sale END,
    received     = ledger.received + s.received
FROM stage_ledger s WHERE ledger.code_id = s.code_id`
	insertLedger = `
INSERT INTO ledger SELECT s.* FROM stage_ledger s WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.code_id = s.code_id)`
)

// ledgerSalesSQL aggregates sale_codes into the sale columns of the ledger (CTEs sales
// and firsts); where restricts sale_codes (a WHERE clause or "").
func ledgerSalesSQL(where string) string {
	return `sales AS (
    SELECT code_id, sum(whole) AS sold_whole, sum(split_qty) AS sold_split,
           sum(CASE WHEN whole > 0 OR split_qty > 0 THEN 1 ELSE 0 END) AS sales,
           sum(CASE WHEN NOT (whole > 0 OR split_qty > 0) AND (whole < 0 OR split_qty < 0) THEN 1 ELSE 0 END) AS returns,
           min(CASE WHEN whole > 0 OR split_qty > 0 THEN event_time END) AS first_sale,
           max(CASE WHEN whole > 0 OR split_qty > 0 THEN event_time END) AS last_sale
    FROM sale_codes` + where + ` GROUP BY code_id),
firsts AS (
    SELECT code_id, min(fixmedins_code) AS first_seller FROM (
        SELECT s.code_id, s.fixmedins_code FROM sale_codes s JOIN sales a ON a.code_id = s.code_id AND s.event_time = a.first_sale
        WHERE s.whole > 0 OR s.split_qty > 0) f GROUP BY code_id)`
}

// packsSQL is the pack content of each code: the largest of the drugs its standing sale
// and inbound rows name; cond adds a condition on c ("" or " AND …").
func packsSQL(cond string) string {
	return `SELECT c.code_id, max(d.pack_content) AS pack_content FROM event_codes c
    JOIN events e ON e.event_id = c.event_id
    JOIN drugs d ON d.med_list_codg = coalesce(nullif(c.med_list_codg, ''), e.med_list_codg)
    WHERE c.code_id IS NOT NULL AND e.withdrawn_by IS NULL
      AND (e.kind IN ('purchase', 'stocktake', 'sale', 'settlement', 'sale_return')
           OR (e.kind = 'stock_change' AND e.change_type IN (` + inboundChangeList + `)))` + cond + `
    GROUP BY c.code_id`
}

var (
	// recomputeLedger sets the sale columns of the staged codes from sale_codes.
	recomputeLedger = `UPDATE ledger SET sold_whole = a.sold_whole, sold_split = a.sold_split, sales = a.sales, returns = a.returns,
    first_seller = a.first_seller, first_sale = a.first_sale, last_sale = a.last_sale
FROM (WITH ` + ledgerSalesSQL(` WHERE code_id IN (SELECT code_id FROM stage_ids)`) + `
      SELECT i.code_id, coalesce(s.sold_whole, 0) AS sold_whole, coalesce(s.sold_split, 0) AS sold_split,
             coalesce(s.sales, 0) AS sales, coalesce(s.returns, 0) AS returns, f.first_seller, s.first_sale, s.last_sale
      FROM stage_ids i LEFT JOIN sales s ON s.code_id = i.code_id LEFT JOIN firsts f ON f.code_id = i.code_id) a
WHERE ledger.code_id = a.code_id`

	// recomputePacks sets the pack content of the staged codes marked repack.
	recomputePacks = `UPDATE ledger SET pack_content = a.pack_content
FROM (SELECT i.code_id, coalesce(p.pack_content, 0) AS pack_content FROM stage_ids i
      LEFT JOIN (` + packsSQL(` AND c.code_id IN (SELECT code_id FROM stage_ids WHERE repack)`) + `) p ON p.code_id = i.code_id
      WHERE i.repack) a
WHERE ledger.code_id = a.code_id`

	// dropEmptyLedger leaves out of the ledger the staged codes nothing stands for any
	// more (a rebuild lists a code only for a sale fact or an inbound row).
	dropEmptyLedger = `DELETE FROM ledger WHERE code_id IN (SELECT code_id FROM stage_ids) AND received = 0
  AND NOT EXISTS (SELECT 1 FROM sale_codes s WHERE s.code_id = ledger.code_id)`
)

// unknownPart is the quantity stored for a split-pack sale whose size is not reported
// (a 2207/2304 drug_trac_info element with trdn_flag 1: the quantity is on the fee line):
// the smallest unit, 1/10000 of a minimum unit, so that the sale counts and its seller
// holds the box. The sale's 3505, when it comes, brings the real quantity.
const unknownPart = 1
