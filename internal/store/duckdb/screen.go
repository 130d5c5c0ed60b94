package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// The queries detectors run (internal/detect.Source). Each selects a small candidate set
// in SQL and hands it to Go, where the detector applies its rules; see docs/detectors.md.

// maxFigure bounds every money (fen) and quantity (1/10000 unit) figure the queries
// compute from stored ones: products and shares are computed in DOUBLE and sums in the
// engine's wide integer type, and clamped to ±maxFigure before they become int64. The
// ingest bounds (docs/data-formats.md#field-limits) keep realistic figures far below it
// (a settlement is at most 10^10 fen), but a store filled before them may hold values
// whose products or sums overflow int64; a screen must still complete. Clamped figures
// leave room for the detectors to add up thousands of them without overflow.
const maxFigure = "1000000000000000" // 10^15

// clamped bounds the numeric SQL expression x (any type) to ±maxFigure as a BIGINT;
// NULL stays NULL.
func clamped(x string) string {
	return "CAST(CASE WHEN (" + x + ") > " + maxFigure + " THEN " + maxFigure + " WHEN (" + x + ") < -" + maxFigure +
		" THEN -" + maxFigure + " ELSE (" + x + ") END AS BIGINT)"
}

// saleFund is the fund's share of a 3505 line: price × quantity × fund / total of its
// settlement.
var saleFund = `CASE WHEN e.kind = 'sale' AND st.amount > 0 THEN ` +
	clamped(`floor(CAST(e.unit_price_fen AS DOUBLE) * e.qty / 10000 * st.fund / st.amount)`) + ` ELSE 0 END`

// saleAmount is a 3505 line's sale amount, its drug joined as d: price × quantity. A 拆零
// line's quantity counts minimum units and its price is taken per minimum unit, unless
// it is nearer the catalog's pack price than to its unit price: then price × units /
// pack content (detect's saleAmount applies the same rule).
var saleAmount = `CASE WHEN e.kind = 'sale' THEN ` + clamped(`floor(CAST(e.unit_price_fen AS DOUBLE) * e.qty / 10000 /
    CASE WHEN e.split_pack AND d.pack_content > 1 AND d.price_fen > 0
          AND abs(e.unit_price_fen - d.price_fen) < abs(e.unit_price_fen - CAST(d.price_fen AS DOUBLE) / d.pack_content)
         THEN d.pack_content ELSE 1 END)`) + ` ELSE 0 END`

// feeLineFund is the fund's share of a fee line (2204/2301) read as alias, by the
// settlement st of its visit.
func feeLineFund(alias string) string {
	return `CASE WHEN st.amount > 0 THEN ` + clamped(`floor(CAST(`+alias+`.amount_fen AS DOUBLE) * st.fund / st.amount)`) + ` ELSE 0 END`
}

// settledJoin joins (as st) the fund payment and total of the settlement (setl_id) an
// event e names, for saleFund.
const settledJoin = `
LEFT JOIN (SELECT fixmedins_code, setl_id, sum(fund_paid_fen) AS fund, sum(amount_fen) AS amount FROM events
           WHERE kind = 'settlement' AND setl_id IS NOT NULL GROUP BY fixmedins_code, setl_id) st
       ON st.fixmedins_code = e.fixmedins_code AND st.setl_id = e.setl_id`

// codeLineFund is the fund's share of a sale-side line: a 3505 line's (saleFund), and for
// a 2207/2304 code the share of its fee line (2204/2301, looked up by visit and fee line
// number), so that a clue on a code settled without a 3505 still states the fund's
// payment.
var codeLineFund = `CASE WHEN e.kind = 'settlement' AND st.amount > 0 THEN coalesce(` + clamped(`floor(CAST((SELECT max(f.amount_fen) FROM events f
    WHERE f.kind = 'fee_line' AND f.fixmedins_code = e.fixmedins_code AND f.visit = e.visit AND f.fee_line = e.fee_line) AS DOUBLE) * st.fund / st.amount)`) +
	`, 0) ELSE ` + saleFund + ` END`

// lineQuery is the select of a code on an event line, read by name by a lineScanner.
// Its parts are SQL the store writes itself (the domain's expressions, never input).
type lineQuery struct {
	// Source is what the codes are read from (as c): event_codes when empty, or a CTE
	// holding a few of its rows, so that the planner starts from them.
	Source string
	// Billed is the drug billed (default: the event's own, e.med_list_codg).
	Billed string
	// Fund is the fund's share of the line (default: saleFund).
	Fund string
	// Extra are further columns, "expression AS name", read through the scanner's extra
	// destinations by name.
	Extra []string
}

// sql returns the SELECT … FROM … with its joins; callers add their joins and WHERE.
// The fund share of a sale line is its price × quantity times the fund's share of its
// settlement (saleFund).
func (q lineQuery) sql() string {
	source, billed, fund := q.Source, q.Billed, q.Fund
	if source == "" {
		source = "event_codes"
	}
	if billed == "" {
		billed = "e.med_list_codg"
	}
	if fund == "" {
		fund = saleFund
	}
	var b strings.Builder
	b.WriteString(`SELECT c.code_id AS code_id, dict.code_key AS code_key, e.msgid AS msgid, e.line AS line, e.infno AS infno,
e.kind AS kind, e.setting AS setting, e.change_type AS change_type, e.fixmedins_code AS fixmedins_code, `)
	b.WriteString(billed)
	b.WriteString(` AS billed, e.item_name AS item_name, e.lot_no AS lot_no, e.made AS made,
coalesce(e.expires, c.expires) AS expires, e.qty AS qty, e.split_pack AS split_pack, e.unit_price_fen AS unit_price_fen,
e.amount_fen AS amount_fen, e.event_time AS event_time, e.receipt AS receipt, e.setl_id AS setl_id, e.visit AS visit,
e.fee_line AS fee_line, e.psn_no AS psn_no, e.settle_type AS settle_type, c.raw AS raw, c.code_kind AS code_kind,
c.product_id AS product_id, c.error AS error, c.parent_id AS parent_id, pdict.code_key AS parent_key,
c.pack_level AS pack_level, c.med_list_codg AS code_drug, `)
	b.WriteString(fund)
	b.WriteString(" AS fund")
	for _, x := range q.Extra {
		b.WriteString(", ")
		b.WriteString(x)
	}
	b.WriteString(" FROM ")
	b.WriteString(source)
	b.WriteString(` c JOIN events e ON e.event_id = c.event_id
LEFT JOIN code_dict dict ON dict.code_id = c.code_id
LEFT JOIN code_dict pdict ON pdict.code_id = c.parent_id`)
	b.WriteString(settledJoin)
	return b.String()
}

// lineScanner reads the rows of a lineQuery by column name.
type lineScanner struct {
	rows *sql.Rows
	dest []any
	r    struct {
		codeID, parent, level  sql.NullInt64
		key, pkey              sql.NullString
		msgid, kind, inst, raw string
		line                   int
		splitPack              bool
		qty, price, amount     int64
		fund                   int64
		when, made, expires    sql.NullTime
		ns                     [16]sql.NullString
	}
}

// newLineScanner binds the columns of a lineQuery, and extra to its Extra columns.
func newLineScanner(rows *sql.Rows, extra columns) (*lineScanner, error) {
	ls := &lineScanner{rows: rows}
	r := &ls.r
	c := columns{"code_id": &r.codeID, "code_key": &r.key, "msgid": &r.msgid, "line": &r.line, "infno": &r.ns[14],
		"kind": &r.kind, "setting": &r.ns[15], "change_type": &r.ns[0], "fixmedins_code": &r.inst, "billed": &r.ns[1],
		"item_name": &r.ns[2], "lot_no": &r.ns[3], "made": &r.made, "expires": &r.expires, "qty": &r.qty,
		"split_pack": &r.splitPack, "unit_price_fen": &r.price, "amount_fen": &r.amount, "event_time": &r.when,
		"receipt": &r.ns[4], "setl_id": &r.ns[5], "visit": &r.ns[6], "fee_line": &r.ns[7], "psn_no": &r.ns[8],
		"settle_type": &r.ns[9], "raw": &r.raw, "code_kind": &r.ns[10], "product_id": &r.ns[11], "error": &r.ns[12],
		"parent_id": &r.parent, "parent_key": &r.pkey, "pack_level": &r.level, "code_drug": &r.ns[13], "fund": &r.fund}
	var err error
	ls.dest, err = c.with(extra).bind(rows)
	return ls, err
}

// scan reads the current row: the code's id and the line.
func (ls *lineScanner) scan() (id tracewatch.CodeID, t tracewatch.TimelineEntry, err error) {
	if err = ls.rows.Scan(ls.dest...); err != nil {
		return 0, t, err
	}
	r := &ls.r
	t.MsgID, t.Line, t.Infno, t.Institution, t.SplitPack, t.Code.Raw = r.msgid, r.line, r.ns[14].String, r.inst, r.splitPack, r.raw
	t.Kind, t.Setting = tracewatch.EventKind(r.kind), tracewatch.Setting(r.ns[15].String)
	t.ChangeType, t.DrugCode, t.ItemName, t.LotNo = r.ns[0].String, r.ns[1].String, r.ns[2].String, r.ns[3].String
	t.Made, t.Expires, t.Time = scanTime(r.made), scanTime(r.expires), scanTime(r.when)
	t.Qty, t.UnitPrice, t.Amount, t.FundPaid = tracewatch.Qty(r.qty), tracewatch.Fen(r.price), tracewatch.Fen(r.amount), tracewatch.Fen(r.fund)
	t.Receipt, t.Settlement, t.Visit, t.FeeLine, t.Person, t.SettleType = r.ns[4].String, r.ns[5].String, r.ns[6].String, r.ns[7].String, r.ns[8].String, r.ns[9].String
	t.Code.Kind, t.Code.ProductID, t.Code.Error, t.Code.DrugCode = r.ns[10].String, r.ns[11].String, r.ns[12].String, r.ns[13].String
	t.Code.Level = int(r.level.Int64)
	if r.codeID.Valid {
		id = tracewatch.CodeID(r.codeID.Int64)
		t.Code.Key = codeKey(id, r.key)
	}
	if r.parent.Valid {
		t.Code.Parent = codeKey(tracewatch.CodeID(r.parent.Int64), r.pkey)
	}
	return id, t, nil
}

func codeKey(id tracewatch.CodeID, dict sql.NullString) string {
	if dict.Valid {
		return dict.String
	}
	k, _ := tracewatch.KeyOfPackedID(id)
	return k
}

// windowSQL restricts e.event_time to the window's period.
func windowSQL(w tracewatch.Window, col string) (string, []any) {
	q, args := "", []any(nil)
	if !w.From.IsZero() {
		q += " AND " + col + " >= ?"
		args = append(args, w.From.UTC())
	}
	if !w.To.IsZero() {
		q += " AND " + col + " < ?"
		args = append(args, w.To.UTC())
	}
	return q, args
}

func (s *Store) eachLine(ctx context.Context, op, q string, args []any, fn func(*tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	ls, err := newLineScanner(rows, nil)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		_, t, err := ls.scan()
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if err := fn(&t); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// dupCandidates are the codes T1 must walk: more than one distinct sale, or more sold
// than the pack holds, with a sale in the window.
const dupCandidates = `SELECT code_id, pack_content FROM ledger
WHERE (sales >= 2 OR (pack_content > 0 AND CAST(sold_whole AS DOUBLE) * pack_content * 10000 + sold_split > CAST(pack_content AS DOUBLE) * 10000))`

// DuplicateHistories streams, code by code, the sale-side history of every code with
// more than one distinct sale (or more sold than its pack holds) and a sale in the
// window. The history is complete (not cut to the window): who held the box before the
// window matters.
func (s *Store) DuplicateHistories(ctx context.Context, w tracewatch.Window, fn func(*facts.CodeHistory) error) error {
	win, wargs := windowSQL(w, "last_sale")
	return s.codeHistories(ctx, "duckdb.DuplicateHistories", dupCandidates+win, wargs, fn)
}

// codeHistories streams, code by code, the complete sale-side history of the codes the
// query cand selects (columns code_id, pack_content; args are its arguments).
func (s *Store) codeHistories(ctx context.Context, op, cand string, wargs []any, fn func(*facts.CodeHistory) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	factRows, err := s.db.QueryContext(ctx, `WITH cand AS (`+cand+`)
SELECT s.code_id AS code_id, cand.pack_content AS pack_content, s.sale_id AS sale_id, s.fixmedins_code AS fixmedins_code,
       s.event_time AS event_time, s.whole AS whole, s.split_qty AS split_qty
FROM sale_codes s JOIN cand ON cand.code_id = s.code_id
ORDER BY s.code_id, s.event_time, s.sale_id`, wargs...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer factRows.Close()
	lines, err := s.db.QueryContext(ctx, `WITH cand AS (`+cand+`),
cc AS MATERIALIZED (
    SELECT x.* FROM event_codes x JOIN cand ON cand.code_id = x.code_id
    WHERE x.event_kind IN ('sale', 'settlement', 'sale_return') AND x.event_id NOT IN (`+withdrawnIDs+`)) `+lineQuery{Source: "cc"}.sql()+`
ORDER BY c.code_id, e.event_time, e.event_id`, wargs...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer lines.Close()
	ls, err := newLineScanner(lines, nil)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}

	var (
		pendID   tracewatch.CodeID
		pendLine tracewatch.TimelineEntry
		havePend bool
	)
	nextLine := func() error {
		havePend = false
		if !lines.Next() {
			return lines.Err()
		}
		id, t, err := ls.scan()
		if err != nil {
			return err
		}
		pendID, pendLine, havePend = id, t, true
		return nil
	}
	if err := nextLine(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var cur *facts.CodeHistory
	var curID tracewatch.CodeID
	flush := func() error {
		if cur == nil {
			return nil
		}
		// Lines of this code (lines of codes without facts cannot exist: facts are
		// derived from lines).
		for havePend && pendID < curID {
			if err := nextLine(); err != nil {
				return tracewatch.E(op, tracewatch.KindInternal, err)
			}
		}
		for havePend && pendID == curID {
			cur.Lines = append(cur.Lines, pendLine)
			if err := nextLine(); err != nil {
				return tracewatch.E(op, tracewatch.KindInternal, err)
			}
		}
		if cur.Key == "" && len(cur.Lines) > 0 {
			cur.Key = cur.Lines[0].Code.Key
		}
		if cur.Key == "" {
			cur.Key, _ = s.keyOf(ctx, curID)
		}
		h := cur
		cur = nil
		return fn(h)
	}
	var (
		id, content, whole, split int64
		saleID, inst              string
		when                      sql.NullTime
	)
	dest, err := columns{"code_id": &id, "pack_content": &content, "sale_id": &saleID, "fixmedins_code": &inst,
		"event_time": &when, "whole": &whole, "split_qty": &split}.bind(factRows)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for factRows.Next() {
		if err := factRows.Scan(dest...); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		sale, err := tracewatch.ParseSaleID(inst, saleID)
		if err != nil {
			// Not a form the store writes: kept as a sale of its own, which no line
			// matches, rather than stopping the screen.
			sale = tracewatch.SaleID{Institution: inst, Ref: saleID}
		}
		f := facts.SaleFact{Sale: sale, Institution: inst, Time: scanTime(when), Whole: whole, Split: tracewatch.Qty(split)}
		if cur != nil && tracewatch.CodeID(id) != curID {
			if err := flush(); err != nil {
				return err
			}
		}
		if cur == nil {
			cur, curID = &facts.CodeHistory{PackContent: content}, tracewatch.CodeID(id)
		}
		cur.Facts = append(cur.Facts, f)
	}
	if err := factRows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return flush()
}

// naiveRepeats is the start of the naive rule: every code scanned at sale two times or
// more ("GROUP BY code HAVING count(*) >= 2"); callers add the window and the grouping.
var naiveRepeats = `SELECT code_id, count(*) AS n FROM event_codes WHERE event_kind = 'sale' AND code_id IS NOT NULL
    AND event_id NOT IN (` + withdrawnIDs + `)`

// CountRepeats runs the naive query alone and counts its codes (bench screen's
// baseline: the exact query regulators run, nothing more).
func (s *Store) CountRepeats(ctx context.Context) (int64, error) {
	if err := s.await(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (`+naiveRepeats+` GROUP BY code_id HAVING count(*) >= 2) r`).Scan(&n)
	if err != nil {
		return 0, tracewatch.E("duckdb.CountRepeats", tracewatch.KindInternal, err)
	}
	return n, nil
}

// Repeats is the naive baseline B0 (the rule regulators run today): every code scanned
// at sale (3505) two times or more, with a scan in the window; the institutions in the
// order they scanned it.
func (s *Store) Repeats(ctx context.Context, w tracewatch.Window, fn func(facts.Repeat) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.Repeats"
	win, args := windowSQL(w, "event_time")
	rows, err := s.db.QueryContext(ctx, `
WITH r AS (`+naiveRepeats+win+`
    GROUP BY code_id HAVING count(*) >= 2)
SELECT r.code_id, dict.code_key, r.n, string_agg(c.fixmedins_code, ',' ORDER BY c.event_time, c.fixmedins_code) AS insts
FROM r JOIN event_codes c ON c.code_id = r.code_id AND c.event_kind = 'sale' AND c.event_id NOT IN (`+withdrawnIDs+`)
LEFT JOIN code_dict dict ON dict.code_id = r.code_id
GROUP BY r.code_id, dict.code_key, r.n
ORDER BY r.code_id`, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key sql.NullString
		var r facts.Repeat
		var insts string
		if err := rows.Scan(&id, &key, &r.Scans, &insts); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		r.Key = codeKey(tracewatch.CodeID(id), key)
		seen := map[string]bool{}
		for _, in := range strings.Split(insts, ",") {
			if !seen[in] {
				seen[in] = true
				r.Institutions = append(r.Institutions, in)
			}
		}
		r.Last = insts[strings.LastIndexByte(insts, ',')+1:]
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// MismatchedLines streams the sale lines whose code maps to another drug than the one
// billed: 3505 rows directly, 2207/2304 codes through their 2204/2301 fee line.
func (s *Store) MismatchedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	win, args := windowSQL(w, "e.event_time")
	q := lineQuery{}.sql() + `
WHERE c.event_kind = 'sale' AND c.parent_id IS NULL AND c.med_list_codg IS NOT NULL AND c.med_list_codg <> ''
  AND e.med_list_codg IS NOT NULL AND c.med_list_codg <> e.med_list_codg AND e.withdrawn_by IS NULL` + win + `
UNION ALL ` + lineQuery{Billed: "f.med_list_codg", Fund: feeLineFund("f")}.sql() + `
JOIN events f ON f.kind = 'fee_line' AND f.fixmedins_code = e.fixmedins_code AND f.fee_line = e.fee_line AND f.visit = e.visit
WHERE c.event_kind = 'settlement' AND c.parent_id IS NULL AND c.med_list_codg IS NOT NULL AND c.med_list_codg <> ''
  AND e.visit IS NOT NULL AND e.visit <> '' AND f.med_list_codg IS NOT NULL AND c.med_list_codg <> f.med_list_codg` + win
	return s.eachLine(ctx, "duckdb.MismatchedLines", q, append(args, args...), fn)
}

// inboundSQL lists, per code and institution, the first time the institution received
// the code: a purchase, a stocktake listing, or an inbound stock change.
var inboundSQL = `SELECT code_id, fixmedins_code, min(t) AS t FROM (
    SELECT code_id, fixmedins_code, event_time AS t FROM event_codes
    WHERE code_id IS NOT NULL AND event_kind IN ('purchase', 'stocktake') AND event_id NOT IN (` + withdrawnIDs + `)
    UNION ALL
    SELECT c.code_id, c.fixmedins_code, c.event_time FROM event_codes c JOIN events e ON e.event_id = c.event_id
    WHERE c.code_id IS NOT NULL AND c.event_kind = 'stock_change' AND e.change_type IN (` + inboundChangeList + `)
      AND e.withdrawn_by IS NULL) i
GROUP BY code_id, fixmedins_code`

// unitSep separates the values of a list passed as one text parameter (ASCII US).
const unitSep = "\x1f"

// UnsourcedLines streams the sale lines (3505, 2207) of codes their seller had not
// received before the sale, neither the code nor its parent package, and says whether the
// seller had received another pack of the same carton (then the pack most likely came
// in with it, unscanned). Institutions q does not itemize get a tally instead: their
// lines grouped by sale in SQL, and only the lines sampled read (at a province's scale the
// lines of institutions that scan little of their inbound are most of the lines, and
// reading them was most of the time).
func (s *Store) UnsourcedLines(ctx context.Context, q facts.UnsourcedQuery, fn func(l *tracewatch.TimelineEntry, siblingReceived bool) error,
	tally func(facts.UnsourcedTally) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.UnsourcedLines"
	// item: the institutions itemized; itemized and tallied: the conditions on a column.
	item, itemized, tallied := "", "TRUE", "FALSE"
	var args []any
	switch {
	case q.Itemize == nil:
	case len(q.Itemize) == 0:
		itemized, tallied = "FALSE", "TRUE"
	default:
		insts := make([]string, 0, len(q.Itemize))
		for in, ok := range q.Itemize {
			if ok {
				insts = append(insts, in)
			}
		}
		sort.Strings(insts)
		switch joined := strings.Join(insts, unitSep); {
		case len(insts) == 0:
			itemized, tallied = "FALSE", "TRUE"
		case strings.Count(joined, unitSep) == len(insts)-1 && insts[0] != "":
			// One parameter, split by the database: 30,000 institutions as as many
			// parameters took DuckDB 0.65 s to plan (growing faster than their number),
			// as one 5 ms.
			item = "item (fixmedins_code) AS (SELECT unnest(string_to_array(CAST(? AS VARCHAR), CAST(? AS VARCHAR)))),\n"
			args = append(args, joined, unitSep)
		default: // an empty code, or one holding the separator: one parameter each
			vals := make([]string, len(insts))
			for i, in := range insts {
				vals[i] = "(CAST(? AS VARCHAR))"
				args = append(args, in)
			}
			item = "item (fixmedins_code) AS (VALUES " + strings.Join(vals, ", ") + "),\n"
		}
		if item != "" {
			itemized, tallied = "%s IN (SELECT fixmedins_code FROM item)", "%s NOT IN (SELECT fixmedins_code FROM item)"
		}
	}
	cond := func(c, col string) string {
		if strings.Contains(c, "%s") {
			return fmt.Sprintf(c, col)
		}
		return c
	}
	win, wargs := windowSQL(q.Window, "c.event_time")
	args = append(args, wargs...)
	// A tallied line's sale, as tracewatch.SaleOf tells it for a sale or settlement line:
	// by settlement, else by receipt, else by message line.
	const (
		bySetl    = `coalesce(e.setl_id, '') <> ''`
		byReceipt = `coalesce(e.receipt, '') <> ''`
	)
	sq := `WITH ` + item + `inb AS MATERIALIZED (` + inboundSQL + `),
un AS MATERIALIZED (
    SELECT DISTINCT c.event_id, c.code_id, c.fixmedins_code
    FROM event_codes c
    LEFT JOIN inb ON inb.code_id = c.code_id AND inb.fixmedins_code = c.fixmedins_code
    LEFT JOIN packages pk ON pk.child_id = c.code_id
    LEFT JOIN inb pin ON pin.code_id = pk.parent_id AND pin.fixmedins_code = c.fixmedins_code
    WHERE c.event_kind IN ('sale', 'settlement') AND c.code_id IS NOT NULL AND c.parent_id IS NULL` + win + `
      AND (inb.t IS NULL OR inb.t > c.event_time) AND (pin.t IS NULL OR pin.t > c.event_time)
      AND c.event_id NOT IN (` + withdrawnIDs + `)),
upar AS MATERIALIZED (
    SELECT DISTINCT u.code_id, u.fixmedins_code, pa.parent_id
    FROM un u JOIN packages pa ON pa.child_id = u.code_id
    WHERE ` + cond(itemized, "u.fixmedins_code") + `),
cartons AS MATERIALIZED (
    SELECT DISTINCT pk.parent_id, inb.fixmedins_code
    FROM inb JOIN packages pk ON pk.child_id = inb.code_id
    WHERE pk.parent_id IN (SELECT parent_id FROM upar)),
sib AS (
    SELECT DISTINCT up.code_id, up.fixmedins_code
    FROM upar up JOIN cartons ct ON ct.parent_id = up.parent_id AND ct.fixmedins_code = up.fixmedins_code),
uc AS MATERIALIZED (
    SELECT x.* FROM event_codes x JOIN un ON un.event_id = x.event_id AND un.code_id = x.code_id
    WHERE x.parent_id IS NULL AND ` + cond(itemized, "un.fixmedins_code") + `),
ut AS MATERIALIZED (
    SELECT x.event_id, x.code_id, x.raw, e.kind, e.fixmedins_code, e.event_time,
           CASE WHEN ` + bySetl + ` THEN 'S' WHEN ` + byReceipt + ` THEN 'R' ELSE 'L' END AS sk,
           CASE WHEN ` + bySetl + ` THEN e.setl_id WHEN ` + byReceipt + ` THEN e.receipt ELSE e.msgid END AS sref,
           CASE WHEN ` + bySetl + ` OR ` + byReceipt + ` THEN 0 ELSE e.line END AS sline
    FROM event_codes x JOIN un ON un.event_id = x.event_id AND un.code_id = x.code_id
    JOIN events e ON e.event_id = x.event_id
    WHERE x.parent_id IS NULL AND ` + cond(tallied, "un.fixmedins_code") + `),
firsts AS MATERIALIZED (
    SELECT * FROM (SELECT ut.*, row_number() OVER (PARTITION BY fixmedins_code, sk, sref, sline ORDER BY event_time, event_id, raw) AS rn
                   FROM ut) f
    WHERE rn = 1),
tallies AS (SELECT fixmedins_code, count(*) AS sales FROM firsts GROUP BY fixmedins_code),
picked AS (
    SELECT event_id, code_id, raw, kind = 'sale' AND ks <= ` + strconv.Itoa(max(q.Samples, 0)) + ` AS sample FROM (
        SELECT f.*, row_number() OVER (PARTITION BY fixmedins_code, kind = 'sale' ORDER BY event_time, event_id, raw) AS ks,
               row_number() OVER (PARTITION BY fixmedins_code ORDER BY event_time, event_id, raw) AS ka
        FROM firsts f) p
    WHERE (kind = 'sale' AND ks <= ` + strconv.Itoa(max(q.Samples, 0)) + `) OR ka = 1),
us AS (
    SELECT DISTINCT x.*, p.sample FROM event_codes x JOIN picked p ON p.event_id = x.event_id AND p.code_id = x.code_id AND p.raw = x.raw
    WHERE x.parent_id IS NULL)
SELECT * FROM (` + lineQuery{Source: "uc", Fund: codeLineFund, Extra: []string{"sib.code_id IS NOT NULL AS sibling",
		"CAST(NULL AS BIGINT) AS tally_sales", "false AS tally_sample", "e.event_id AS ev_id"}}.sql() + `
LEFT JOIN sib ON sib.code_id = c.code_id AND sib.fixmedins_code = c.fixmedins_code
UNION ALL ` + lineQuery{Source: "us", Fund: codeLineFund, Extra: []string{"false AS sibling", "t.sales AS tally_sales",
		"c.sample AS tally_sample", "e.event_id AS ev_id"}}.sql() + `
JOIN tallies t ON t.fixmedins_code = c.fixmedins_code) u
ORDER BY fixmedins_code, event_time, ev_id, raw`
	rows, err := s.db.QueryContext(ctx, sq, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var (
		sibling, sample bool
		sales           sql.NullInt64
		evID            int64
		open            *facts.UnsourcedTally // the tally being read
	)
	flush := func() error {
		if open == nil {
			return nil
		}
		t := *open
		open = nil
		return tally(t)
	}
	ls, err := newLineScanner(rows, columns{"sibling": &sibling, "tally_sales": &sales, "tally_sample": &sample, "ev_id": &evID})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		_, t, err := ls.scan()
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if open != nil && open.Institution != t.Institution {
			if err := flush(); err != nil {
				return err
			}
		}
		if !sales.Valid {
			if err := fn(&t, sibling); err != nil {
				return err
			}
			continue
		}
		if open == nil {
			open = &facts.UnsourcedTally{Institution: t.Institution, Sales: int(sales.Int64)}
		}
		if sample {
			open.Samples = append(open.Samples, &t)
		}
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return flush()
}

// RemovedLines streams the sale lines of codes whose last movement at their seller before
// the sale was a removal: returned to the supplier, transferred out, lost, destroyed or
// otherwise removed, and not received again since (a box transferred out and back in is
// the seller's again). A box that another institution transferred out after the
// removal may have come back by that transfer, its receipt unscanned: unknown, so not a
// removal sold again.
func (s *Store) RemovedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	win, args := windowSQL(w, "e.event_time")
	q := `WITH rem AS (
    SELECT c.code_id, c.fixmedins_code, c.event_time AS t
    FROM event_codes c JOIN events e ON e.event_id = c.event_id
    WHERE c.code_id IS NOT NULL AND (c.event_kind = 'purchase_return'
       OR (c.event_kind = 'stock_change' AND e.change_type IN (` + outboundChangeList + `))) AND e.withdrawn_by IS NULL),
back AS (
    SELECT c.code_id, c.fixmedins_code, c.event_time AS t
    FROM event_codes c JOIN events e ON e.event_id = c.event_id
    WHERE c.code_id IS NOT NULL AND (c.event_kind IN ('purchase', 'stocktake')
       OR (c.event_kind = 'stock_change' AND e.change_type IN (` + inboundChangeList + `))) AND e.withdrawn_by IS NULL
      AND (c.code_id, c.fixmedins_code) IN (SELECT code_id, fixmedins_code FROM rem)
    UNION ALL
    SELECT c.code_id, rem.fixmedins_code, c.event_time AS t
    FROM event_codes c JOIN events e ON e.event_id = c.event_id
    JOIN rem ON rem.code_id = c.code_id AND rem.fixmedins_code <> c.fixmedins_code
    WHERE c.event_kind = 'stock_change' AND e.change_type = '` + tracewatch.ChangeTransferOut + `' AND e.withdrawn_by IS NULL),
still AS (
    SELECT DISTINCT c.event_id, c.code_id FROM event_codes c
    JOIN rem ON rem.code_id = c.code_id AND rem.fixmedins_code = c.fixmedins_code AND rem.t < c.event_time
    WHERE c.event_kind IN ('sale', 'settlement')
      AND NOT EXISTS (SELECT 1 FROM back b WHERE b.code_id = rem.code_id AND b.fixmedins_code = rem.fixmedins_code
                      AND b.t > rem.t AND b.t < c.event_time)),
rc AS MATERIALIZED (
    SELECT x.* FROM event_codes x JOIN still ON still.event_id = x.event_id AND still.code_id = x.code_id
    WHERE x.event_kind IN ('sale', 'settlement')) ` + lineQuery{Source: "rc", Fund: codeLineFund}.sql() + `
WHERE e.withdrawn_by IS NULL` + win + `
ORDER BY e.fixmedins_code, e.event_time, e.event_id, c.raw`
	return s.eachLine(ctx, "duckdb.RemovedLines", q, args, fn)
}

// uncodedKinds are the drug kinds that carry no trace code (中药饮片, 颗粒, consumables
// and other non-drug goods): they count neither in coverage nor in collection rates.
const uncodedKinds = `('herbal', 'granule', 'consumable', 'other')`

// parentProductsSQL lists the product ids whose codes are packages of others: stated so
// by their codemap row (pack_level above 1), or proved so by the package links (more
// rows link the product id above another than the reverse; tracewatch.ParentProducts).
var parentProductsSQL = `WITH o AS MATERIALIZED (` + packOrdersSQL + `)
SELECT product_id FROM codemap WHERE pack_level > 1
UNION SELECT f.pprod FROM o f LEFT JOIN o r ON r.pprod = f.cprod AND r.cprod = f.pprod
WHERE f.links > coalesce(r.links, 0)`

// InboundCoverage reports, per institution and drug, the packs received in the window and
// how many of them were scanned, and the same for the institution's first stocktake. A
// scanned parent package counts as the packs it contains: its children, expanded at
// ingest from the package links (docs/ledger.md); a parent package whose children are
// not known (a code of a product id that packages others, its own links missing) counts
// as the rest of its row's quantity, reported as Unlinked too.
func (s *Store) InboundCoverage(ctx context.Context, w tracewatch.Window) ([]facts.InboundCoverage, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.InboundCoverage"
	win, args := windowSQL(w, "e.event_time")
	packs := `CAST(floor(ev.qty / 10000) AS BIGINT)` // the row's whole packs
	q := `
WITH ev AS (
    SELECT e.event_id, e.fixmedins_code, coalesce(e.med_list_codg, '') AS drug, e.qty,
           CASE WHEN e.kind = 'stocktake' THEN 1 ELSE 0 END AS opening
    FROM events e
    WHERE (e.kind = 'purchase' OR (e.kind = 'stock_change' AND e.change_type IN (` + inboundChangeList + `))) AND e.withdrawn_by IS NULL` + win + `
    UNION ALL
    SELECT e.event_id, e.fixmedins_code, coalesce(e.med_list_codg, ''), e.qty, 1
    FROM events e
    WHERE e.kind = 'stocktake' AND e.withdrawn_by IS NULL
      AND e.event_time = (SELECT min(x.event_time) FROM events x
                          WHERE x.kind = 'stocktake' AND x.fixmedins_code = e.fixmedins_code AND x.withdrawn_by IS NULL)),
coded AS (
    SELECT ev.* FROM ev LEFT JOIN drugs d ON d.med_list_codg = ev.drug
    WHERE coalesce(d.kind, '') NOT IN ` + uncodedKinds + `),
ic AS MATERIALIZED (
    SELECT c.event_id, c.code_id, c.parent_id,
           c.pack_level > 1 OR c.code_id IN (SELECT parent_id FROM packages)
               OR coalesce(c.product_id, '') IN (` + parentProductsSQL + `) AS parent
    FROM event_codes c
    WHERE c.event_kind IN ('purchase', 'stock_change', 'stocktake') AND c.code_id IS NOT NULL
      AND c.event_id IN (SELECT event_id FROM coded)),
expanded AS (SELECT DISTINCT event_id, parent_id FROM ic WHERE parent_id IS NOT NULL),
counted AS (
    SELECT event_id, count(*) AS n FROM (SELECT DISTINCT event_id, code_id FROM ic WHERE NOT parent) d
    GROUP BY event_id),
bare AS (
    SELECT DISTINCT ic.event_id FROM ic LEFT JOIN expanded x ON x.event_id = ic.event_id AND x.parent_id = ic.code_id
    WHERE ic.parent AND ic.parent_id IS NULL AND x.parent_id IS NULL),
per AS (
    SELECT ev.fixmedins_code, ev.drug, ev.opening, ev.qty, coalesce(sc.n, 0) AS n,
           CASE WHEN b.event_id IS NOT NULL THEN greatest(` + packs + ` - coalesce(sc.n, 0), 0) ELSE 0 END AS unlinked
    FROM coded ev LEFT JOIN counted sc ON sc.event_id = ev.event_id LEFT JOIN bare b ON b.event_id = ev.event_id)
SELECT fixmedins_code, drug,
       ` + clamped(`sum(CASE WHEN opening = 0 THEN qty ELSE 0 END)`) + `, sum(CASE WHEN opening = 0 THEN n + unlinked ELSE 0 END),
       ` + clamped(`sum(CASE WHEN opening = 1 THEN qty ELSE 0 END)`) + `, sum(CASE WHEN opening = 1 THEN n + unlinked ELSE 0 END),
       sum(unlinked)
FROM per
GROUP BY fixmedins_code, drug
ORDER BY fixmedins_code, drug`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []facts.InboundCoverage
	for rows.Next() {
		var c facts.InboundCoverage
		var packs, opening int64
		if err := rows.Scan(&c.Institution, &c.DrugCode, &packs, &c.Scanned, &opening, &c.OpeningScanned, &c.Unlinked); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		c.Packs, c.OpeningPacks = tracewatch.Qty(packs), tracewatch.Qty(opening)
		out = append(out, c)
	}
	return out, rows.Err()
}

// AnomalousLines streams sale-side scans that are unusable (unparseable, a commodity
// barcode, an unknown product) or whose row says the pack had expired or was not yet
// made.
func (s *Store) AnomalousLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	win, args := windowSQL(w, "e.event_time")
	cwin, _ := windowSQL(w, "x.event_time")
	// The events that may hold such a scan are found first, by the code's columns and by
	// the event's, each on its own table (narrow scans); only their lines are joined
	// with their events and judged by the whole condition.
	q := `WITH cand AS MATERIALIZED (
    SELECT x.event_id FROM event_codes x
    WHERE x.event_kind IN ('sale', 'settlement') AND x.parent_id IS NULL` + cwin + `
      AND (x.code_id IS NULL OR x.med_list_codg IS NULL OR x.med_list_codg = ''
           OR (x.expires IS NOT NULL AND x.event_time >= x.expires + INTERVAL '1 day'))
    UNION
    SELECT e.event_id FROM events e
    WHERE e.kind IN ('sale', 'settlement') AND e.withdrawn_by IS NULL` + win + `
      AND ((e.expires IS NOT NULL AND e.event_time >= e.expires + INTERVAL '1 day') OR (e.made IS NOT NULL AND e.made > e.event_time))),
ac AS MATERIALIZED (
    SELECT x.* FROM event_codes x WHERE x.event_id IN (SELECT event_id FROM cand)) ` + lineQuery{Source: "ac", Fund: codeLineFund}.sql() + `
WHERE c.event_kind IN ('sale', 'settlement') AND c.parent_id IS NULL AND e.withdrawn_by IS NULL` + win + `
  AND (c.code_id IS NULL OR c.med_list_codg IS NULL OR c.med_list_codg = ''
       OR (coalesce(e.expires, c.expires) IS NOT NULL AND e.event_time >= coalesce(e.expires, c.expires) + INTERVAL '1 day')
       OR (e.made IS NOT NULL AND e.made > e.event_time))
ORDER BY e.fixmedins_code, e.event_time, e.event_id, c.raw`
	return s.eachLine(ctx, "duckdb.AnomalousLines", q, append(append(append([]any{}, args...), args...), args...), fn)
}

// CodeQuality counts, per institution, the codes scanned at sale (3505) in the window, the
// unreadable ones and those of a product the code mapping does not know.
func (s *Store) CodeQuality(ctx context.Context, w tracewatch.Window) ([]facts.CodeQuality, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.CodeQuality"
	win, args := windowSQL(w, "event_time")
	rows, err := s.db.QueryContext(ctx, `
SELECT fixmedins_code, count(*), sum(CASE WHEN code_id IS NULL THEN 1 ELSE 0 END),
       sum(CASE WHEN code_id IS NOT NULL AND (med_list_codg IS NULL OR med_list_codg = '') THEN 1 ELSE 0 END)
FROM event_codes WHERE event_kind = 'sale' AND parent_id IS NULL AND event_id NOT IN (`+withdrawnIDs+`)`+win+`
GROUP BY fixmedins_code ORDER BY fixmedins_code`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []facts.CodeQuality
	for rows.Next() {
		var q facts.CodeQuality
		if err := rows.Scan(&q.Institution, &q.Scans, &q.Bad, &q.Unknown); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// PackageConflicts streams, per parent package code and descendant (a child, or a
// grandchild through a middle box) both sold on their own with a sale of either in the
// window, the sale lines of the two, parent's first.
func (s *Store) PackageConflicts(ctx context.Context, w tracewatch.Window, fn func(facts.PackagePair, []tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.PackageConflicts"
	win, args := windowSQL(w, "c.event_time")
	inWin := "1"
	if win != "" {
		inWin = "CASE WHEN TRUE" + win + " THEN 1 ELSE 0 END"
	}
	q := `WITH links AS (
    SELECT parent_id, child_id FROM packages
    UNION SELECT p1.parent_id, p2.child_id FROM packages p1 JOIN packages p2 ON p2.parent_id = p1.child_id),
sp AS (
    SELECT c.code_id, max(` + inWin + `) AS inw FROM event_codes c
    WHERE c.event_kind IN ('sale', 'settlement') AND c.parent_id IS NULL AND c.code_id IS NOT NULL
      AND c.code_id IN (SELECT parent_id FROM links) AND c.event_id NOT IN (` + withdrawnIDs + `)
    GROUP BY c.code_id),
cand AS (SELECT l.parent_id, l.child_id, sp.inw FROM links l JOIN sp ON sp.code_id = l.parent_id),
sc AS (
    SELECT c.code_id, max(` + inWin + `) AS inw FROM event_codes c
    WHERE c.event_kind IN ('sale', 'settlement') AND c.parent_id IS NULL AND c.code_id IS NOT NULL
      AND c.code_id IN (SELECT child_id FROM cand) AND c.event_id NOT IN (` + withdrawnIDs + `)
    GROUP BY c.code_id),
pairs AS (
    SELECT cand.parent_id, cand.child_id FROM cand JOIN sc ON sc.code_id = cand.child_id
    WHERE cand.inw = 1 OR sc.inw = 1)
SELECT DISTINCT parent_id, child_id FROM pairs ORDER BY parent_id, child_id`
	prows, err := s.db.QueryContext(ctx, q, append(args, args...)...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var pairs [][2]int64
	for prows.Next() {
		var p [2]int64
		if err := prows.Scan(&p[0], &p[1]); err != nil {
			prows.Close()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		pairs = append(pairs, p)
	}
	prows.Close()
	if err := prows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	// The lines of the few pairs found, by literal ids (the planner then starts from them).
	for len(pairs) > 0 {
		chunk := pairs[:min(len(pairs), 2000)]
		pairs = pairs[len(chunk):]
		var vals strings.Builder
		for i, p := range chunk {
			if i > 0 {
				vals.WriteByte(',')
			}
			fmt.Fprintf(&vals, "(%d,%d,%d,0),(%d,%d,%d,1)", p[0], p[0], p[1], p[1], p[0], p[1])
		}
		lq := `WITH pr AS (SELECT * FROM (VALUES ` + vals.String() + `) v(code_id, parent_id, child_id, side)) ` +
			lineQuery{Extra: []string{"pr.parent_id AS pair_parent", "pr.child_id AS pair_child"}}.sql() + `
JOIN pr ON pr.code_id = c.code_id
WHERE c.event_kind IN ('sale', 'settlement') AND c.parent_id IS NULL AND e.withdrawn_by IS NULL
ORDER BY pr.parent_id, pr.child_id, pr.side, e.event_time, e.event_id`
		if err := s.pairLines(ctx, lq, fn); err != nil {
			return err
		}
	}
	return nil
}

// pairLines streams the lines of PackageConflicts, grouped by pair.
func (s *Store) pairLines(ctx context.Context, q string, fn func(facts.PackagePair, []tracewatch.TimelineEntry) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.PackageConflicts"
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var cur facts.PackagePair
	var curIDs [2]int64
	var lines []tracewatch.TimelineEntry
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		err := fn(cur, lines)
		lines = nil
		return err
	}
	var pid, cid int64
	ls, err := newLineScanner(rows, columns{"pair_parent": &pid, "pair_child": &cid})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		id, t, err := ls.scan()
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if [2]int64{pid, cid} != curIDs {
			if err := flush(); err != nil {
				return err
			}
			curIDs = [2]int64{pid, cid}
			cur = facts.PackagePair{}
		}
		if int64(id) == pid {
			cur.Parent = t.Code.Key
		} else {
			cur.Child = t.Code.Key
		}
		lines = append(lines, t)
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return flush()
}

// CollectionDays counts, per institution and day, the reimbursed drug sale lines and
// those with a valid code: 3505 rows with mdtrt_setl_type 1, or, for an institution that
// sends no such 3505 (a hospital settling through 2204/2207 only), its outpatient 2204
// drug fee lines, coded when their 2207 drug_trac_info carries a valid code. Goods without
// trace codes (中药饮片, 颗粒, non-drug goods) and inpatient fee lines (2301: inpatient 拆零
// is exempt and cannot be told apart) are left out, and so are drugs missing from the
// catalog: whether they must carry a code is unknown.
func (s *Store) CollectionDays(ctx context.Context, w tracewatch.Window) ([]facts.CollectionDay, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.CollectionDays"
	win, args := windowSQL(w, "e.event_time")
	rows, err := s.db.QueryContext(ctx, `
WITH coded AS (SELECT DISTINCT event_id FROM event_codes WHERE event_kind = 'sale' AND code_id IS NOT NULL),
s35 AS (
    SELECT e.fixmedins_code, e.event_time, CASE WHEN coded.event_id IS NULL THEN 0 ELSE 1 END AS ok,
           `+saleFund+` AS fund, `+saleAmount+` AS amt
    FROM events e JOIN drugs d ON d.med_list_codg = e.med_list_codg
    LEFT JOIN coded ON coded.event_id = e.event_id`+settledJoin+`
    WHERE e.kind = 'sale' AND e.settle_type = '1' AND e.withdrawn_by IS NULL AND coalesce(d.kind, '') NOT IN `+uncodedKinds+win+`),
sellers AS (SELECT DISTINCT fixmedins_code FROM s35),
settled AS (
    SELECT DISTINCT e.fixmedins_code, e.visit, e.fee_line FROM events e JOIN event_codes c ON c.event_id = e.event_id
    WHERE e.kind = 'settlement' AND c.code_id IS NOT NULL AND e.fee_line IS NOT NULL),
fee AS (
    SELECT e.fixmedins_code, e.event_time, CASE WHEN st.fee_line IS NULL THEN 0 ELSE 1 END AS ok,
           0 AS fund, `+clamped(`e.amount_fen`)+` AS amt
    FROM events e JOIN drugs d ON d.med_list_codg = e.med_list_codg
    LEFT JOIN settled st ON st.fixmedins_code = e.fixmedins_code AND st.visit = e.visit AND st.fee_line = e.fee_line
    WHERE e.kind = 'fee_line' AND e.setting = `+outpatient+` AND d.kind NOT IN `+uncodedKinds+win+`
      AND e.fixmedins_code NOT IN (SELECT fixmedins_code FROM sellers)),
lines_all AS (SELECT * FROM s35 UNION ALL SELECT * FROM fee)
SELECT fixmedins_code, CAST(event_time + INTERVAL '8 hours' AS DATE) AS day, count(*), sum(ok),
       `+clamped(`sum(CASE WHEN ok = 0 THEN fund ELSE 0 END)`)+`, `+clamped(`sum(CASE WHEN ok = 0 THEN amt ELSE 0 END)`)+`
FROM lines_all GROUP BY fixmedins_code, CAST(event_time + INTERVAL '8 hours' AS DATE) ORDER BY 1, 2`, append(args, args...)...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []facts.CollectionDay
	for rows.Next() {
		var d facts.CollectionDay
		var day time.Time
		var fund, amt int64
		if err := rows.Scan(&d.Institution, &day, &d.Lines, &d.Coded, &fund, &amt); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		d.Day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, cst)
		d.UncodedFund, d.UncodedSale = tracewatch.Fen(fund), tracewatch.Fen(amt)
		out = append(out, d)
	}
	return out, rows.Err()
}

// UploadDays counts each institution's events per business day.
func (s *Store) UploadDays(ctx context.Context, w tracewatch.Window) ([]facts.UploadDay, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.UploadDays"
	win, args := windowSQL(w, "event_time")
	rows, err := s.db.QueryContext(ctx, `
SELECT fixmedins_code, CAST(event_time + INTERVAL '8 hours' AS DATE) AS day, count(*)
FROM events WHERE event_time IS NOT NULL`+win+`
GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []facts.UploadDay
	for rows.Next() {
		var d facts.UploadDay
		var day time.Time
		if err := rows.Scan(&d.Institution, &day, &d.Events); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		d.Day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, cst)
		out = append(out, d)
	}
	return out, rows.Err()
}

// LastEvent is the time of the latest stored event (zero when there is none).
func (s *Store) LastEvent(ctx context.Context) (time.Time, error) {
	if err := s.await(ctx); err != nil {
		return time.Time{}, err
	}
	var t sql.NullTime
	if err := s.db.QueryRowContext(ctx, `SELECT max(event_time) FROM events`).Scan(&t); err != nil {
		return time.Time{}, tracewatch.E("duckdb.LastEvent", tracewatch.KindInternal, err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return t.Time.UTC(), nil
}

// Institutions returns every institution.
func (s *Store) Institutions(ctx context.Context) ([]tracewatch.Institution, error) {
	const op = "duckdb.Institutions"
	rows, err := s.db.QueryContext(ctx, `SELECT `+institutionCols+` FROM institutions ORDER BY fixmedins_code`)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.Institution
	for rows.Next() {
		in, err := scanInstitution(rows)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Drugs returns the drug catalog.
func (s *Store) Drugs(ctx context.Context) ([]tracewatch.Drug, error) {
	const op = "duckdb.Drugs"
	rows, err := s.db.QueryContext(ctx, `SELECT `+drugCols+` FROM drugs ORDER BY med_list_codg`)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.Drug
	for rows.Next() {
		d, err := scanDrug(rows)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SaleCodeKeys returns the number of distinct code identities sold (sale-side facts) in
// the window, and calls fn with each (for the evaluation's clean-code count).
func (s *Store) SoldCodes(ctx context.Context, w tracewatch.Window, fn func(key string) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.SoldCodes"
	win, args := windowSQL(w, "s.event_time")
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT s.code_id, dict.code_key FROM sale_codes s
LEFT JOIN code_dict dict ON dict.code_id = s.code_id WHERE (s.whole > 0 OR s.split_qty > 0)`+win, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key sql.NullString
		if err := rows.Scan(&id, &key); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if err := fn(codeKey(tracewatch.CodeID(id), key)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Regions returns the region list.
func (s *Store) Regions(ctx context.Context) ([]tracewatch.RegionInfo, error) {
	const op = "duckdb.Regions"
	rows, err := s.db.QueryContext(ctx, `SELECT admdvs, name, parent FROM regions ORDER BY admdvs`)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.RegionInfo
	for rows.Next() {
		var r tracewatch.RegionInfo
		var code string
		var parent sql.NullString
		if err := rows.Scan(&code, &r.Name, &parent); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		r.Code, r.Parent = tracewatch.Region(code), tracewatch.Region(parent.String)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Holdings streams, per code identity, who holds the box (the real-time check's index):
// the institution with a positive net after returns and cancels, the latest when more
// than one does.
func (s *Store) Holdings(ctx context.Context, fn func(key string, h facts.Holding) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.Holdings"
	rows, err := s.db.QueryContext(ctx, `
WITH per AS (
    SELECT code_id, fixmedins_code, sum(whole) AS w, sum(split_qty) AS sp, max(event_time) AS t, max(sale_id) AS sid
    FROM sale_codes GROUP BY code_id, fixmedins_code)
SELECT per.code_id, dict.code_key, per.fixmedins_code,
       `+clamped(`CAST(per.w AS DOUBLE) * CASE WHEN l.pack_content > 0 THEN l.pack_content ELSE 1 END * 10000 + per.sp`)+` AS units, per.t, per.sid
FROM per JOIN ledger l ON l.code_id = per.code_id LEFT JOIN code_dict dict ON dict.code_id = per.code_id
WHERE CAST(per.w AS DOUBLE) * CASE WHEN l.pack_content > 0 THEN l.pack_content ELSE 1 END * 10000 + per.sp > 0
ORDER BY per.code_id, per.t`)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var cur facts.Holding
	var curKey string
	var curID int64
	have := false
	for rows.Next() {
		var id int64
		var key sql.NullString
		var h facts.Holding
		var units int64
		var t sql.NullTime
		var sid string
		if err := rows.Scan(&id, &key, &h.Institution, &units, &t, &sid); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		h.Units, h.Last = tracewatch.Qty(units), scanTime(t)
		if parts := strings.SplitN(sid, "|", 3); len(parts) == 3 {
			switch parts[1] {
			case "R":
				h.Receipt = parts[2]
			case "S":
				h.Settlement = parts[2]
			}
		}
		if have && id == curID {
			h.Others = true
			cur = h
			continue
		}
		if have {
			if err := fn(curKey, cur); err != nil {
				return err
			}
		}
		cur, curID, curKey, have = h, id, codeKey(tracewatch.CodeID(id), key), true
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if have {
		return fn(curKey, cur)
	}
	return nil
}

// Receipts streams every (code, institution) that received the code: purchases,
// stocktake listings, inbound stock changes (the real-time check's index).
func (s *Store) Receipts(ctx context.Context, fn func(key, institution string) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.Receipts"
	rows, err := s.db.QueryContext(ctx, `SELECT i.code_id, dict.code_key, i.fixmedins_code FROM (`+inboundSQL+`) i
LEFT JOIN code_dict dict ON dict.code_id = i.code_id`)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key sql.NullString
		var in string
		if err := rows.Scan(&id, &key, &in); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if err := fn(codeKey(tracewatch.CodeID(id), key), in); err != nil {
			return err
		}
	}
	return rows.Err()
}

// StockPeriods implements detect.Source: per institution and drug, the movement between
// each stocktake and the next (T3 c). A stocktake is the institution's 3501 rows of one
// day (business time zone), taken at the earliest of them; a period whose stocktake
// falls in the window is reported whole. Drugs without a pack content and the uncoded
// kinds are left out; so is everything before an institution's first stocktake.
func (s *Store) StockPeriods(ctx context.Context, w tracewatch.Window) ([]facts.StockPeriod, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.StockPeriods"
	win, args := windowSQL(w, "p.p_from")
	q := `
WITH takes AS (
    SELECT fixmedins_code AS inst, min(event_time) AS t
    FROM events WHERE kind = 'stocktake' AND event_time IS NOT NULL AND withdrawn_by IS NULL
    GROUP BY fixmedins_code, CAST(event_time + INTERVAL 8 HOUR AS DATE)),
periods AS (
    SELECT inst, t AS p_from, lead(t) OVER (PARTITION BY inst ORDER BY t) AS p_to FROM takes),
mv AS MATERIALIZED (
    SELECT e.fixmedins_code AS inst, e.med_list_codg AS drug, e.event_time AS t, e.kind, coalesce(e.change_type, '') AS chg,
           ` + clamped(`CASE WHEN e.split_pack THEN e.qty ELSE CAST(e.qty AS DOUBLE) * d.pack_content END`) + ` AS units, ` + saleFund + ` AS fund, ` + saleAmount + ` AS amt,
           e.msgid || '#' || e.line AS ref, d.pack_content AS content
    FROM events e JOIN drugs d ON d.med_list_codg = e.med_list_codg
    ` + settledJoin + `
    WHERE e.kind IN ('stocktake', 'purchase', 'purchase_return', 'stock_change', 'sale', 'sale_return')
      AND e.event_time IS NOT NULL AND e.withdrawn_by IS NULL AND d.pack_content > 0 AND coalesce(d.kind, '') NOT IN ` + uncodedKinds + `),
placed AS (
    SELECT mv.*, p.p_from, p.p_to FROM mv ASOF JOIN periods p ON mv.inst = p.inst AND mv.t >= p.p_from)
SELECT p.inst, p.drug, p.p_from, p.p_to, any_value(p.content),
       ` + clamped(`sum(CASE WHEN p.kind = 'stocktake' AND CAST(p.t + INTERVAL 8 HOUR AS DATE) = CAST(p.p_from + INTERVAL 8 HOUR AS DATE) THEN p.units ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'purchase' OR (p.kind = 'stock_change' AND p.chg IN (`+inboundChangeList+`)) THEN p.units ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'purchase_return' OR (p.kind = 'stock_change' AND p.chg IN ('102', '107')) THEN p.units ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'stock_change' AND p.chg IN ('104', '105') THEN p.units ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'sale' THEN p.units WHEN p.kind = 'sale_return' THEN -p.units ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'sale' THEN p.fund ELSE 0 END)`) + `,
       ` + clamped(`sum(CASE WHEN p.kind = 'sale' THEN p.amt ELSE 0 END)`) + `,
       count(*) FILTER (WHERE p.kind = 'sale'),
       coalesce(arg_min(p.ref, p.t) FILTER (WHERE p.kind = 'sale'), '')
FROM placed p
WHERE true` + win + `
GROUP BY p.inst, p.drug, p.p_from, p.p_to
HAVING count(*) FILTER (WHERE p.kind = 'sale') > 0
ORDER BY p.inst, p.drug, p.p_from`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []facts.StockPeriod
	for rows.Next() {
		var p facts.StockPeriod
		var to sql.NullTime
		var opening, in, ret, lost, sold, fund, amount int64
		if err := rows.Scan(&p.Institution, &p.DrugCode, &p.From, &to, &p.PackContent, &opening, &in, &ret, &lost, &sold, &fund, &amount, &p.SaleLines, &p.FirstSale); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		p.To = scanTime(to)
		p.Opening, p.Received, p.Returned, p.Lost, p.Sold, p.SoldFund = tracewatch.Qty(opening), tracewatch.Qty(in), tracewatch.Qty(ret), tracewatch.Qty(lost), tracewatch.Qty(sold), tracewatch.Fen(fund)
		p.SoldAmount = tracewatch.Fen(amount)
		out = append(out, p)
	}
	return out, rows.Err()
}

// keyOfIDSQL is the code key of a code id column: packed NMPA ids by arithmetic (the
// inverse of tracewatch.PackedCodeID), the others from code_dict (joined as dict).
func keyOfIDSQL(col, dict string) string {
	return `CASE WHEN ` + col + ` < ` + fmt.Sprint(int64(tracewatch.FirstDictCodeID)) + ` THEN '8' || lpad(CAST(CAST(` + col +
		` AS HUGEINT) + 9223372036854775808 AS VARCHAR), 19, '0') ELSE ` + dict + `.code_key END`
}

// productOfKeySQL is the product id of a code key expression, as tracecode gives it: the
// GTIN of a GS1 key, the object class of an MA key (all but its last segment), the first
// 7 digits (药品标识码) of a 20-digit NMPA key; the empty string for the other kinds
// (enterprise codes carry none).
func productOfKeySQL(key string) string {
	return `CASE WHEN ` + key + ` LIKE '(01)%' THEN substr(` + key + `, 5, 14)
     WHEN ` + key + ` LIKE 'MA.%' THEN regexp_replace(` + key + `, '[.][^.]*$', '')
     WHEN length(` + key + `) = 20 AND translate(` + key + `, '0123456789', '') = '' THEN substr(` + key + `, 1, 7)
     ELSE '' END`
}

// LevelConflicts implements detect.Source: codes scanned in the window (as themselves,
// not expanded from a parent) linked under more than one parent, or under a parent whose
// package level is known not to be above their own: by the levels the codemap rows of
// the two product ids state (both stated), or by a packages row where a code of the
// child's product id contains a code of the parent's (the reverse order, proved). A
// level no row states or proves contradicts nothing.
func (s *Store) LevelConflicts(ctx context.Context, w tracewatch.Window, fn func(facts.LevelConflict) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.LevelConflicts"
	win, args := windowSQL(w, "c.event_time")
	// The pairs of product ids whose links contradict a known level (few) are found
	// first, on the orders; then the links of the codes seen, compared by number for NMPA
	// codes (nearly all), by key for the others; the details only for the codes hit.
	q := `
WITH seen AS MATERIALIZED (
    SELECT c.code_id, min(c.event_time) AS t, arg_min(c.fixmedins_code, c.event_time) AS inst
    FROM event_codes c
    WHERE c.code_id IS NOT NULL AND c.parent_id IS NULL AND c.code_id IN (SELECT child_id FROM packages)
      AND c.event_id NOT IN (` + withdrawnIDs + `)` + win + `
    GROUP BY c.code_id),
ord AS MATERIALIZED (` + packOrdersSQL + `),
lvl AS (SELECT product_id, pack_level FROM codemap WHERE pack_level > 0),
bad AS MATERIALIZED (
    SELECT o.pprod, o.cprod FROM ord o
    LEFT JOIN lvl mp ON mp.product_id = o.pprod LEFT JOIN lvl mc ON mc.product_id = o.cprod
    LEFT JOIN ord r ON r.pprod = o.cprod AND r.cprod = o.pprod
    WHERE mp.pack_level <= mc.pack_level OR r.links > o.links
    UNION ALL SELECT product_id, product_id FROM lvl),
badn AS (
    SELECT CAST(substr(pprod, 2) AS BIGINT) AS pp, CAST(substr(cprod, 2) AS BIGINT) AS cp FROM bad
    WHERE length(pprod) = 7 AND length(cprod) = 7 AND pprod LIKE '8%' AND cprod LIKE '8%'),
pk AS MATERIALIZED (SELECT p.parent_id, p.child_id FROM packages p JOIN seen ON seen.code_id = p.child_id),
hit AS MATERIALIZED (
    SELECT child_id FROM pk GROUP BY child_id HAVING count(*) > 1
    UNION SELECT pk.child_id FROM pk JOIN badn
        ON badn.pp = ` + productNumSQL("pk.parent_id") + ` AND badn.cp = ` + productNumSQL("pk.child_id") + `
    WHERE pk.parent_id < ` + firstDictID + ` AND pk.child_id < ` + firstDictID + `
    UNION SELECT d.child_id FROM (
        SELECT pk.child_id, ` + productOfKeySQL(keyOfIDSQL("pk.parent_id", "pd")) + ` AS pprod, ` + productOfKeySQL(keyOfIDSQL("pk.child_id", "cd")) + ` AS cprod
        FROM pk LEFT JOIN code_dict pd ON pd.code_id = pk.parent_id LEFT JOIN code_dict cd ON cd.code_id = pk.child_id
        WHERE pk.parent_id >= ` + firstDictID + ` OR pk.child_id >= ` + firstDictID + `) d
    JOIN bad ON bad.pprod = d.pprod AND bad.cprod = d.cprod),
hk AS (
    SELECT pk.parent_id, pk.child_id, ` + keyOfIDSQL("pk.parent_id", "pd") + ` AS pkey, ` + keyOfIDSQL("pk.child_id", "cd") + ` AS ckey
    FROM pk LEFT JOIN code_dict pd ON pd.code_id = pk.parent_id LEFT JOIN code_dict cd ON cd.code_id = pk.child_id
    WHERE pk.child_id IN (SELECT child_id FROM hit)),
pl AS (SELECT hk.*, ` + productOfKeySQL("hk.pkey") + ` AS pprod, ` + productOfKeySQL("hk.ckey") + ` AS cprod FROM hk),
lv AS (
    SELECT pl.*, coalesce(mp.pack_level, 0) AS plevel, coalesce(mc.pack_level, 0) AS clevel,
           coalesce(f.links, 0) AS agree,
           CASE WHEN o.links > coalesce(f.links, 0) THEN o.links ELSE 0 END AS xlinks,
           CASE WHEN o.links > coalesce(f.links, 0) THEN o.pkey ELSE '' END AS xparent,
           CASE WHEN o.links > coalesce(f.links, 0) THEN o.ckey ELSE '' END AS xchild
    FROM pl LEFT JOIN lvl mp ON mp.product_id = pl.pprod LEFT JOIN lvl mc ON mc.product_id = pl.cprod
    LEFT JOIN ord o ON o.pprod = pl.cprod AND o.cprod = pl.pprod
    LEFT JOIN ord f ON f.pprod = pl.pprod AND f.cprod = pl.cprod)
SELECT lv.ckey, any_value(lv.cprod), max(lv.clevel), s.inst, s.t,
       list(lv.pkey ORDER BY lv.pkey), list(lv.plevel ORDER BY lv.pkey), list(lv.pprod ORDER BY lv.pkey),
       list(lv.xparent ORDER BY lv.pkey), list(lv.xchild ORDER BY lv.pkey), list(lv.xlinks ORDER BY lv.pkey),
       list(lv.agree ORDER BY lv.pkey)
FROM lv JOIN seen s ON s.code_id = lv.child_id
GROUP BY s.code_id, lv.ckey, s.inst, s.t
HAVING count(*) > 1 OR bool_or((lv.plevel > 0 AND lv.clevel > 0 AND lv.plevel <= lv.clevel) OR lv.xlinks > 0)
ORDER BY 1`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	str := func(v any) string { s, _ := v.(string); return s }
	for rows.Next() {
		var c facts.LevelConflict
		var t sql.NullTime
		var parents, levels, prods, xps, xcs, xns, agree []any
		if err := rows.Scan(&c.Code, &c.Product, &c.Level, &c.Institution, &t, &parents, &levels, &prods, &xps, &xcs, &xns, &agree); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		c.First = scanTime(t)
		for i := range parents {
			c.Parents = append(c.Parents, str(parents[i]))
			l, _ := levels[i].(int32)
			c.ParentLevels = append(c.ParentLevels, int(l))
			c.ParentProducts = append(c.ParentProducts, str(prods[i]))
			var x tracewatch.PackOrder
			if n, _ := xns[i].(int64); n > 0 {
				x = tracewatch.PackOrder{Parent: c.Product, Child: c.ParentProducts[i], Link: tracewatch.PackageLink{Parent: str(xps[i]), Child: str(xcs[i])}, Links: n}
			}
			c.Contrary = append(c.Contrary, x)
			n, _ := agree[i].(int64)
			c.Agreeing = append(c.Agreeing, n)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}
