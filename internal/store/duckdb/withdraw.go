package duckdb

// Late uploads and 3507 withdrawals (docs/ledger.md, "Arrival order" and "Withdrawals").
//
// A 3507 (进销存数据删除) names an institution's fixmedins_bchno and an inv_data_type; it
// withdraws every row of that institution, of that data type's interfaces and with that
// fixmedins_bchno, uploaded before it. "Before" is the order of uploads: the envelope's
// inf_time (when the message was sent), then msgid; never the order of arrival. The
// writer keeps the 3507s in memory (they are few) so that a row arriving after the 3507
// that withdraws it is stored withdrawn at once, and the settlement cancels, so that a
// sale arriving after the cancel of its settlement enters cancelled.

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// farFuture stands for an upload time that is not known (neither inf_time nor a time
// of the row's own): such an upload sorts after every other. withdrawSQL uses the same.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// upload places a row in the order of uploads.
type upload struct {
	sent  time.Time // inf_time, else the row's own time, else farFuture (UTC, µs as stored)
	msgid string
}

func uploadOf(sent, at time.Time, msgid string) upload {
	t := sent
	if t.IsZero() {
		t = at
	}
	if t.IsZero() {
		t = farFuture
	}
	return upload{t.UTC().Truncate(time.Microsecond), msgid}
}

// before reports whether a was uploaded before b.
func (a upload) before(b upload) bool {
	if !a.sent.Equal(b.sent) {
		return a.sent.Before(b.sent)
	}
	return a.msgid < b.msgid
}

// withdrawKey is what a 3507 names: the institution, its fixmedins_bchno and the data type.
type withdrawKey struct{ inst, bchno, dataType string }

// withdrawals indexes the stored 3507s by what they name, each list in upload order.
type withdrawals map[withdrawKey][]upload

// add records the 3507 row d.
func (ws withdrawals) add(d *tracewatch.Event) {
	if d.BatchNo == "" || d.DataType == "" {
		return
	}
	k := withdrawKey{d.Institution, d.BatchNo, d.DataType}
	u := uploadOf(d.Sent, d.Time, d.MsgID)
	list := ws[k]
	i := sort.Search(len(list), func(i int) bool { return !list[i].before(u) })
	if i < len(list) && list[i] == u {
		return // another line of the same 3507
	}
	list = append(list, upload{})
	copy(list[i+1:], list[i:])
	list[i] = u
	ws[k] = list
}

// by returns the msgid of the 3507 that withdraws the row uploaded as u (the first
// uploaded after it among those naming the row's institution, batch number and data
// type), "" when none does.
func (ws withdrawals) by(inst, bchno string, kind tracewatch.EventKind, u upload) string {
	dt := tracewatch.InvDataType(kind)
	if dt == "" || bchno == "" {
		return ""
	}
	for _, d := range ws[withdrawKey{inst, bchno, dt}] {
		if u.before(d) {
			return d.msgid
		}
	}
	return ""
}

// withdrawnBy returns the msgid of the 3507 that withdraws e, "" when none does.
func (ws withdrawals) withdrawnBy(e *tracewatch.Event) string {
	return ws.by(e.Institution, e.BatchNo, e.Kind, uploadOf(e.Sent, e.Time, e.MsgID))
}

// mergeCancel keeps the earliest known time of the cancels of one settlement (zero:
// none known), as the rebuild's min(event_time) does.
func mergeCancel(old, t time.Time) time.Time {
	switch {
	case old.IsZero():
		return t
	case t.IsZero() || old.Before(t):
		return old
	}
	return t
}

// loadWithdrawals reads the stored 3507s and settlement cancels.
func loadWithdrawals(ctx context.Context, conn *sql.Conn) (withdrawals, map[string]time.Time, error) {
	ws := withdrawals{}
	rows, err := conn.QueryContext(ctx, `SELECT fixmedins_code, msgid, batch_no, data_type, inf_time, event_time FROM events WHERE kind = 'deletion'`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var e tracewatch.Event
		var bch, dt sql.NullString
		var sent, at sql.NullTime
		if err := rows.Scan(&e.Institution, &e.MsgID, &bch, &dt, &sent, &at); err != nil {
			rows.Close()
			return nil, nil, err
		}
		e.BatchNo, e.DataType, e.Sent, e.Time = bch.String, dt.String, scanTime(sent), scanTime(at)
		ws.add(&e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	cancels := map[string]time.Time{}
	rows, err = conn.QueryContext(ctx, `SELECT fixmedins_code, setl_id, min(event_time) FROM events
WHERE kind = 'settlement_cancel' AND setl_id IS NOT NULL GROUP BY fixmedins_code, setl_id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var inst, setl string
		var t sql.NullTime
		if err := rows.Scan(&inst, &setl, &t); err != nil {
			return nil, nil, err
		}
		cancels[tracewatch.CancelledSale(inst, setl).String()] = scanTime(t)
	}
	return ws, cancels, rows.Err()
}

// uploadKeySQL is the place of the events row read as alias in the order of uploads, as
// uploadOf computes it.
func uploadKeySQL(alias string) string {
	return `coalesce(` + alias + `.inf_time, ` + alias + `.event_time, TIMESTAMP '9999-12-31 00:00:00')`
}

// dataTypeSQL is tracewatch.InvDataType of the kind of the events row read as alias
// (NULL for the kinds no 3507 withdraws).
func dataTypeSQL(alias string) string {
	var b strings.Builder
	b.WriteString("CASE " + alias + ".kind")
	for _, k := range tracewatch.EventKinds {
		if dt := tracewatch.InvDataType(k); dt != "" {
			b.WriteString(" WHEN " + sqlStrings([]string{string(k)}) + " THEN " + sqlStrings([]string{dt}))
		}
	}
	b.WriteString(" END")
	return b.String()
}

// withdrawnIDs selects the event ids of the rows a 3507 withdrew. A read over
// event_codes leaves them out with "AND c.event_id NOT IN (" + withdrawnIDs + ")" (an
// anti-join against a small set), a read over events with "AND e.withdrawn_by IS NULL".
const withdrawnIDs = `SELECT event_id FROM events WHERE withdrawn_by IS NOT NULL`
