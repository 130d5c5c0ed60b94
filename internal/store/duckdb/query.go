package duckdb

import (
	"context"
	"database/sql"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"tracewatch"
)

// Commit implements tracewatch.Store: the batch is durable when Commit returns.
func (s *Store) Commit(ctx context.Context, b *tracewatch.Batch) (tracewatch.CommitResult, error) {
	if s.journal != nil {
		return s.journal.commit(ctx, b)
	}
	r := &request{batch: b}
	if err := s.writer.submit(ctx, r); err != nil {
		return tracewatch.CommitResult{}, err
	}
	return r.res, nil
}

// Message implements tracewatch.Store.
func (s *Store) Message(ctx context.Context, institution, msgid string) (tracewatch.MessageRecord, error) {
	k := tracewatch.MessageKey{Institution: text(institution), MsgID: text(msgid)}
	// Journaled messages first: one leaves the pending set only once it is in DuckDB.
	if s.journal != nil {
		m, ok, known := s.journal.pendingMessage(k)
		if ok {
			return m, nil
		}
		if !known {
			return m, tracewatch.Errorf("duckdb.Message", tracewatch.KindNotFound, "message %s not found", k.MsgID)
		}
	}
	var m tracewatch.MessageRecord
	var resp string
	h, _ := messageHash(k, nil)
	err := s.db.QueryRowContext(ctx, `SELECT msgid, infno, fixmedins_code, source, received_at, accepted, rejected, response FROM messages
WHERE key_hash = ? AND fixmedins_code = ? AND msgid = ?`, h, k.Institution, k.MsgID).
		Scan(&m.MsgID, &m.Infno, &m.Institution, &m.Source, &m.Received, &m.Accepted, &m.Rejected, &resp)
	if err != nil {
		return m, notFound("duckdb.Message", "message "+k.MsgID, err)
	}
	m.Response = []byte(resp)
	return m, nil
}

func scanTime(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

// Timeline implements tracewatch.Store: every event of the code, in time order.
func (s *Store) Timeline(ctx context.Context, key string) ([]tracewatch.TimelineEntry, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.Timeline"
	key = text(key)
	id, err := s.lookupCodeID(ctx, key)
	if err != nil || id == 0 {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `
SELECT e.msgid AS msgid, e.line AS line, e.infno AS infno, e.kind AS kind, e.setting AS setting, e.change_type AS change_type,
       e.fixmedins_code AS fixmedins_code, e.med_list_codg AS med_list_codg, e.item_name AS item_name, e.batch_no AS batch_no,
       e.lot_no AS lot_no, e.qty AS qty, e.split_pack AS split_pack, e.unit_price_fen AS unit_price_fen, e.amount_fen AS amount_fen,
       e.event_time AS event_time, e.receipt AS receipt, e.setl_id AS setl_id, e.visit AS visit, e.fee_line AS fee_line,
       e.psn_no AS psn_no, e.certno_masked AS certno_masked, e.settle_type AS settle_type, c.raw AS raw, c.code_kind AS code_kind,
       c.product_id AS product_id, c.parent_id AS parent_id, c.pack_level AS pack_level, c.med_list_codg AS code_drug,
       e.inf_time AS inf_time, e.withdrawn_by AS withdrawn_by
FROM event_codes c JOIN events e ON e.event_id = c.event_id
WHERE c.code_id = ?
ORDER BY e.event_time, e.event_id`, int64(id))
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.TimelineEntry
	var (
		msgid, infno, kind, inst, raw string
		line, level                   int
		split                         bool
		qty, price, amount            int64
		when, sent                    sql.NullTime
		parent                        sql.NullInt64
		ns                            [17]sql.NullString
	)
	dest, err := columns{"msgid": &msgid, "line": &line, "infno": &infno, "kind": &kind, "setting": &ns[16],
		"change_type": &ns[0], "fixmedins_code": &inst, "med_list_codg": &ns[1], "item_name": &ns[2], "batch_no": &ns[3],
		"lot_no": &ns[4], "qty": &qty, "split_pack": &split, "unit_price_fen": &price, "amount_fen": &amount,
		"event_time": &when, "receipt": &ns[5], "setl_id": &ns[6], "visit": &ns[7], "fee_line": &ns[8], "psn_no": &ns[9],
		"certno_masked": &ns[10], "settle_type": &ns[11], "raw": &raw, "code_kind": &ns[12], "product_id": &ns[13],
		"parent_id": &parent, "pack_level": &level, "code_drug": &ns[14], "inf_time": &sent, "withdrawn_by": &ns[15]}.bind(rows)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		var t tracewatch.TimelineEntry
		t.MsgID, t.Line, t.Infno, t.Institution, t.SplitPack = msgid, line, infno, inst, split
		t.Code.Raw, t.Code.Level = raw, level
		t.Kind, t.Setting = tracewatch.EventKind(kind), tracewatch.Setting(ns[16].String)
		t.ChangeType, t.DrugCode, t.ItemName, t.BatchNo, t.LotNo = ns[0].String, ns[1].String, ns[2].String, ns[3].String, ns[4].String
		t.Qty, t.UnitPrice, t.Amount, t.Time = tracewatch.Qty(qty), tracewatch.Fen(price), tracewatch.Fen(amount), scanTime(when)
		t.Receipt, t.Settlement, t.Visit, t.FeeLine = ns[5].String, ns[6].String, ns[7].String, ns[8].String
		t.Person, t.CertnoMasked, t.SettleType = ns[9].String, ns[10].String, ns[11].String
		t.Code.Key, t.Code.Kind, t.Code.ProductID, t.Code.DrugCode = key, ns[12].String, ns[13].String, ns[14].String
		t.Sent, t.WithdrawnBy = scanTime(sent), ns[15].String
		if parent.Valid {
			t.Code.Parent, _ = s.keyOf(ctx, tracewatch.CodeID(parent.Int64))
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Ledger implements tracewatch.Store.
func (s *Store) Ledger(ctx context.Context, key string) (tracewatch.LedgerEntry, error) {
	if err := s.await(ctx); err != nil {
		return tracewatch.LedgerEntry{}, err
	}
	const op = "duckdb.Ledger"
	key = text(key)
	l := tracewatch.LedgerEntry{Key: key}
	id, err := s.lookupCodeID(ctx, key)
	if err != nil {
		return l, err
	}
	if id == 0 {
		return l, tracewatch.Errorf(op, tracewatch.KindNotFound, "code %s is not in the ledger", key)
	}
	var seller sql.NullString
	var first, last sql.NullTime
	var split int64
	err = s.db.QueryRowContext(ctx, `SELECT sold_whole, sold_split, pack_content, sales, returns, first_seller, first_sale, last_sale, received FROM ledger WHERE code_id = ?`, int64(id)).
		Scan(&l.SoldWhole, &split, &l.PackContent, &l.Sales, &l.Returns, &seller, &first, &last, &l.Received)
	if err != nil {
		return l, notFound(op, "code "+key+" in the ledger", err)
	}
	l.SoldSplit, l.FirstSeller, l.FirstSale, l.LastSale = tracewatch.Qty(split), seller.String, scanTime(first), scanTime(last)
	return l, nil
}

// rebuild recomputes what derives from the facts: which rows the 3507s withdraw
// (withdrawSQL), sale_codes from the standing rows, and the ledger. The sale ids follow
// tracewatch.SaleID; the incremental path (sales.go) computes the same rows.
//
// sale_codes and the ledger are computed in parts by code identity (code_id modulo the
// number of parts), each part's joins and aggregates small enough for memory: done at
// once, a store of 10^8 sale lines spilled more than 47 GB to disk under a 3 GB memory
// limit (docs/BENCHMARKS.md, P4). A part is as many event codes as the memory limit
// holds (rebuildPartSize).
func rebuild(ctx context.Context, conn *sql.Conn) error {
	exec := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	if err := exec(`UPDATE events SET withdrawn_by = NULL WHERE withdrawn_by IS NOT NULL;
UPDATE events SET withdrawn_by = m.wby FROM (` + withdrawSQL + `) m WHERE events.event_id = m.event_id;
DELETE FROM sale_codes;
DELETE FROM ledger;`); err != nil {
		return err
	}
	var n int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM event_codes`).Scan(&n); err != nil {
		return err
	}
	per := rebuildPartSize(ctx, conn)
	parts := max(1, (n+per-1)/per)
	// part is the condition of part k on a code_id column (both engines: % keeps the
	// sign of the dividend, so the remainder is shifted into 0 … parts-1).
	part := func(col string, k int64) string {
		if parts == 1 {
			return "TRUE"
		}
		return "((" + col + " % " + strconv.FormatInt(parts, 10) + ") + " + strconv.FormatInt(parts, 10) + ") % " +
			strconv.FormatInt(parts, 10) + " = " + strconv.FormatInt(k, 10)
	}
	for k := int64(0); k < parts; k++ {
		if err := exec(`INSERT INTO sale_codes ` + saleFactsSQL(" AND "+part("c.code_id", k))); err != nil {
			return err
		}
	}
	if err := exec(`INSERT INTO sale_codes
SELECT * FROM (
    SELECT s.code_id, ` + saleIDText(tracewatch.SaleCancel, "e.fixmedins_code", "e.setl_id", "") + ` AS sale_id, min(s.fixmedins_code), min(e.event_time), -max(s.whole), -max(s.split_qty)
    FROM events e JOIN sale_codes s ON s.sale_id = ` + saleIDText(tracewatch.SaleBySettlement, "e.fixmedins_code", "e.setl_id", "") + `
    WHERE e.kind = 'settlement_cancel'
    GROUP BY 1, 2) c
WHERE NOT EXISTS (SELECT 1 FROM sale_codes x WHERE x.code_id = c.code_id AND x.sale_id = c.sale_id)`); err != nil {
		return err
	}
	for k := int64(0); k < parts; k++ {
		if err := exec(`INSERT INTO ledger
WITH ` + ledgerSalesSQL(` WHERE `+part("code_id", k)) + `,
inbound AS (
    SELECT c.code_id, count(*) AS received FROM event_codes c
    WHERE c.code_id IS NOT NULL AND ` + part("c.code_id", k) + ` AND (c.event_kind IN ('purchase', 'stocktake')
       OR (c.event_kind = 'stock_change' AND c.event_id IN (SELECT event_id FROM events WHERE kind = 'stock_change' AND change_type IN (` + inboundChangeList + `))))
      AND c.event_id NOT IN (SELECT event_id FROM events WHERE withdrawn_by IS NOT NULL)
    GROUP BY c.code_id),
packs AS (` + packsSQL(" AND "+part("c.code_id", k)) + `),
ids AS (SELECT code_id FROM sales UNION SELECT code_id FROM inbound)
SELECT ids.code_id, coalesce(s.sold_whole, 0), coalesce(s.sold_split, 0), coalesce(p.pack_content, 0),
       coalesce(s.sales, 0), coalesce(s.returns, 0), f.first_seller, s.first_sale, s.last_sale, coalesce(i.received, 0)
FROM ids LEFT JOIN sales s ON s.code_id = ids.code_id LEFT JOIN firsts f ON f.code_id = ids.code_id
LEFT JOIN inbound i ON i.code_id = ids.code_id LEFT JOIN packs p ON p.code_id = ids.code_id`); err != nil {
			return err
		}
	}
	return nil
}

// rebuildPartRows, when set, is how many event codes one part of rebuild covers (tests
// make parts of a few rows); 0 sizes the parts by DuckDB's memory limit
// (rebuildPartSize).
var rebuildPartRows int64

// rebuildBytesPerRow is the memory one event code of a part takes in the rebuild's joins
// and aggregates, about: parts of 16 million event codes completed under a 3 GB limit
// at 10^8 sale lines, and parts of 4 million under 900 MB at 3·10^7; parts of 15
// million under 900 MB ran out of memory (docs/BENCHMARKS.md, P4).
const rebuildBytesPerRow = 256

// rebuildPartSize is how many event codes one part of rebuild covers: what DuckDB's
// memory limit holds at rebuildBytesPerRow, at least a million; 16 million when the
// limit cannot be read.
func rebuildPartSize(ctx context.Context, conn *sql.Conn) int64 {
	if rebuildPartRows > 0 {
		return rebuildPartRows
	}
	var limit string
	if err := conn.QueryRowContext(ctx, `SELECT current_setting('memory_limit')`).Scan(&limit); err == nil {
		if b, ok := memorySize(limit); ok {
			return max(1_000_000, b/rebuildBytesPerRow)
		}
	}
	return 16_000_000
}

// memorySize reads a size as DuckDB prints its settings ("858.3 MiB", "2.7 GiB", "512
// bytes") in bytes.
func memorySize(s string) (int64, bool) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(num, 64)
	if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false
	}
	scale := map[string]float64{"bytes": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}[unit]
	if scale == 0 || x*scale >= math.MaxInt64 {
		return 0, false
	}
	return int64(x * scale), true
}

// withdrawSQL lists the rows the stored 3507s withdraw (event_id) with the msgid of the
// 3507 that withdraws each (wby): the first uploaded after the row among those naming
// its institution, fixmedins_bchno and data type, in the order of uploads (uploadOf).
var withdrawSQL = `SELECT event_id, wby FROM (
    SELECT r.event_id, d.msgid AS wby, row_number() OVER (PARTITION BY r.event_id ORDER BY d.k, d.msgid) AS n
    FROM (SELECT r.event_id, r.fixmedins_code, r.batch_no, r.msgid, ` + dataTypeSQL("r") + ` AS dt, ` + uploadKeySQL("r") + ` AS k
          FROM events r WHERE r.kind IN ('stocktake', 'stock_change', 'purchase', 'purchase_return', 'sale', 'sale_return')
            AND r.batch_no IS NOT NULL AND r.batch_no <> '') r
    JOIN (SELECT d.fixmedins_code, d.batch_no, d.data_type, d.msgid, ` + uploadKeySQL("d") + ` AS k
          FROM events d WHERE d.kind = 'deletion' AND d.batch_no <> '' AND d.data_type <> '') d
      ON d.fixmedins_code = r.fixmedins_code AND d.batch_no = r.batch_no AND d.data_type = r.dt
     AND (r.k < d.k OR (r.k = d.k AND r.msgid < d.msgid))) m
WHERE n = 1`

// RebuildLedger implements tracewatch.Store: recomputes the ledger from the facts and
// says how many codes it holds and how many of their rows the rebuild changed.
func (s *Store) RebuildLedger(ctx context.Context) (tracewatch.LedgerRebuild, error) {
	var r tracewatch.LedgerRebuild
	if err := s.await(ctx); err != nil {
		return r, err
	}
	const op = "duckdb.RebuildLedger"
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		// The ledger as the commits left it, to count the codes the rebuild changes.
		if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE ledger_before AS SELECT * FROM ledger`); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.ledger_before`)
		if err := rebuild(ctx, conn); err != nil {
			return err
		}
		return conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM ledger),
    (SELECT count(DISTINCT code_id) FROM ((SELECT * FROM ledger EXCEPT ALL SELECT * FROM ledger_before)
                                          UNION ALL (SELECT * FROM ledger_before EXCEPT ALL SELECT * FROM ledger)))`).Scan(&r.Codes, &r.Changed)
	}})
	if err != nil {
		return tracewatch.LedgerRebuild{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return r, nil
}

const quarantineCols = `id, msgid, infno, fixmedins_code, source, row_no, field, reason, payload_hash, received_at, resubmitted`

func scanQuarantine(sc interface{ Scan(...any) error }) (tracewatch.QuarantineRow, string, error) {
	var q tracewatch.QuarantineRow
	var msgid, infno, inst, field, hash sql.NullString
	err := sc.Scan(&q.ID, &msgid, &infno, &inst, &q.Source, &q.Row, &field, &q.Reason, &hash, &q.Received, &q.Resubmitted)
	q.MsgID, q.Infno, q.Institution, q.Field = msgid.String, infno.String, inst.String, field.String
	return q, hash.String, err
}

// attachPayloads reads the payloads of rows (hashes aligned with them), each distinct
// one once: the rows of one message share it.
func (s *Store) attachPayloads(ctx context.Context, rows []tracewatch.QuarantineRow, hashes []string) error {
	var ids []string
	for _, h := range hashes {
		if h != "" {
			ids = append(ids, h)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	got := make(map[string][]byte, len(ids))
	err := inLists(ids, func(list string, args []any) error {
		rs, err := s.db.QueryContext(ctx, `SELECT hash, payload FROM quarantine_payloads WHERE hash IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			var h string
			var p []byte
			if err := rs.Scan(&h, &p); err != nil {
				rs.Close()
				return err
			}
			got[h] = p
		}
		return rs.Close()
	})
	if err != nil {
		return err
	}
	for i, h := range hashes {
		if h != "" {
			rows[i].Payload = got[h]
		}
	}
	return nil
}

// Quarantine implements tracewatch.Store.
func (s *Store) Quarantine(ctx context.Context, f tracewatch.QuarantineFilter) ([]tracewatch.QuarantineRow, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.Quarantine"
	q := `SELECT ` + quarantineCols + ` FROM quarantine WHERE id > ?`
	args := []any{f.AfterID}
	if f.MsgID != "" {
		q += ` AND msgid = ?`
		args = append(args, text(f.MsgID))
	}
	if f.Institution != "" {
		q += ` AND fixmedins_code = ?`
		args = append(args, text(f.Institution))
	}
	if f.Infno != "" {
		q += ` AND infno = ?`
		args = append(args, text(f.Infno))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.QuarantineRow
	var hashes []string
	for rows.Next() {
		r, h, err := scanQuarantine(rows)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, r)
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	rows.Close()
	if err := s.attachPayloads(ctx, out, hashes); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}

// QuarantineRow implements tracewatch.Store.
func (s *Store) QuarantineRow(ctx context.Context, id int64) (tracewatch.QuarantineRow, error) {
	if err := s.await(ctx); err != nil {
		return tracewatch.QuarantineRow{}, err
	}
	r, h, err := scanQuarantine(s.db.QueryRowContext(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE id = ?`, id))
	if err != nil {
		return r, notFound("duckdb.QuarantineRow", "quarantine row", err)
	}
	rows := []tracewatch.QuarantineRow{r}
	if err := s.attachPayloads(ctx, rows, []string{h}); err != nil {
		return r, tracewatch.E("duckdb.QuarantineRow", tracewatch.KindInternal, err)
	}
	return rows[0], nil
}

// MarkResubmitted implements tracewatch.Store.
func (s *Store) MarkResubmitted(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `UPDATE quarantine SET resubmitted = true WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
		return err
	}})
}

// PutInstitutionKey implements tracewatch.Store.
func (s *Store) PutInstitutionKey(ctx context.Context, k tracewatch.InstitutionKey) error {
	return s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `INSERT INTO institution_keys VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (paasid) DO UPDATE SET fixmedins_code = excluded.fixmedins_code, secret_enc = excluded.secret_enc, revoked = excluded.revoked`,
			text(k.PaasID), text(k.Institution), hex.EncodeToString(k.SecretEnc), k.Created.UTC(), k.Revoked)
		return err
	}})
}

// InstitutionKey implements tracewatch.Store.
func (s *Store) InstitutionKey(ctx context.Context, paasid string) (tracewatch.InstitutionKey, error) {
	var k tracewatch.InstitutionKey
	var enc string
	err := s.db.QueryRowContext(ctx, `SELECT paasid, fixmedins_code, secret_enc, created_at, revoked FROM institution_keys WHERE paasid = ?`, text(paasid)).
		Scan(&k.PaasID, &k.Institution, &enc, &k.Created, &k.Revoked)
	if err != nil {
		return k, notFound("duckdb.InstitutionKey", "key", err)
	}
	k.SecretEnc, err = hex.DecodeString(enc)
	if err != nil {
		return k, tracewatch.E("duckdb.InstitutionKey", tracewatch.KindInternal, err)
	}
	return k, nil
}

// Stats implements tracewatch.Store.
func (s *Store) Stats(ctx context.Context) (tracewatch.Stats, error) {
	if err := s.await(ctx); err != nil {
		return tracewatch.Stats{}, err
	}
	const op = "duckdb.Stats"
	st := tracewatch.Stats{Tables: map[string]int64{}}
	for _, t := range []string{"regions", "institutions", "persons", "practitioners", "drugs", "codemap", "packages",
		"drug_limits", "messages", "events", "event_codes", "sale_codes", "ledger", "quarantine", "quarantine_payloads"} {
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return st, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		st.Tables[t] = n
	}
	var sales int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE kind = 'sale'`).Scan(&sales); err != nil {
		return st, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	st.Tables["sale_lines"] = sales
	st.LedgerCodes = st.Tables["ledger"]
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE NOT resubmitted`).Scan(&st.Quarantined); err != nil {
		return st, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return st, nil
}
