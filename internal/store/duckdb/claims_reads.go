package duckdb

import (
	"context"
	"database/sql"
	"strconv"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// The claims detectors' reads (C1, C2, C4, C5, C7, C8, C10; internal/detect.Source).

// --- claims detectors (C1, C2, C7, C8) ---
//
// Every claims read takes settlements net of cancellations, in the order things happened
// (event time), whatever order they arrived in: a settlement is void when a cancel
// (2208/2305) of it happened at or after it (a cancel whose time is unknown voids it
// too). Its lines (the 2207/2304 itself, the 3505 rows naming its setl_id, the fee lines
// of its visit when no other settlement of the visit stands) are then left out. 3505
// rows a 3507 withdrew are left out too (docs/ledger.md).

// cancelledCTE is the CTE cx: the latest cancel of each settlement (an unknown time
// counts as the latest possible).
const cancelledCTE = `cx AS (SELECT fixmedins_code, setl_id, max(coalesce(event_time, TIMESTAMP '9999-12-31 00:00:00')) AS t
    FROM events WHERE kind = 'settlement_cancel' AND setl_id IS NOT NULL AND setl_id <> '' GROUP BY fixmedins_code, setl_id)`

// claimSettled sums the settlement events per institution and setl_id (the fund's share
// of a settlement), with the visit they settle, the settlement's (earliest) time t and
// void: 1 when a cancel of it (cx) happened at or after t.
var claimSettled = `SELECT s.fixmedins_code, s.setl_id, s.visit, s.fund, s.amount, s.t,
       CASE WHEN cx.t IS NOT NULL AND cx.t >= coalesce(s.t, TIMESTAMP '0001-01-01 00:00:00') THEN 1 ELSE 0 END AS void
FROM (SELECT fixmedins_code, setl_id, min(visit) AS visit, ` + clamped(`sum(fund_paid_fen)`) + ` AS fund, ` +
	clamped(`sum(amount_fen)`) + ` AS amount, min(event_time) AS t
      FROM events WHERE kind = 'settlement' AND setl_id IS NOT NULL AND setl_id <> '' GROUP BY fixmedins_code, setl_id) s
LEFT JOIN cx ON cx.fixmedins_code = s.fixmedins_code AND cx.setl_id = s.setl_id`

// settledCTEs are the CTEs cx and st (claimSettled).
var settledCTEs = cancelledCTE + `,
st AS (` + claimSettled + `)`

// visitSettled is the CTEs cx, st and sv: the standing settlement of each visit, which a
// fee line (2204/2301, no setl_id of its own) reaches through its mdtrt_id; void is 1
// when every settlement of the visit is void (its fee lines are then void too).
var visitSettled = settledCTEs + `,
sv AS (SELECT fixmedins_code, visit, min(CASE WHEN void = 0 THEN setl_id END) AS setl_id,
       ` + clamped(`sum(CASE WHEN void = 0 THEN fund ELSE 0 END)`) + ` AS fund, ` + clamped(`sum(CASE WHEN void = 0 THEN amount ELSE 0 END)`) + ` AS amount,
       min(void) AS void
       FROM st WHERE visit IS NOT NULL AND visit <> '' GROUP BY fixmedins_code, visit)`

// settledJoins join a line e to its settlement st (claimSettled) and to the latest
// cancel of its setl_id (lx), for liveLine.
const settledJoins = `
LEFT JOIN st ON st.fixmedins_code = e.fixmedins_code AND st.setl_id = e.setl_id
LEFT JOIN cx lx ON lx.fixmedins_code = e.fixmedins_code AND lx.setl_id = e.setl_id`

// liveLine keeps a settlement or 3505 line e (joined by settledJoins) that stands: not
// withdrawn by a 3507, of a settlement not void; a 3505 row whose setl_id no 2207/2304
// reports is void when a cancel of that setl_id happened at or after the row.
const liveLine = ` AND e.withdrawn_by IS NULL AND coalesce(st.void, 0) = 0
  AND (st.setl_id IS NOT NULL OR lx.t IS NULL OR lx.t < coalesce(e.event_time, TIMESTAMP '0001-01-01 00:00:00'))`

// claimOrder orders the rows of a claims query (wrapped as u) deterministically.
const claimOrder = ` ORDER BY u.event_time, u.msgid, u.line`

// personDate reads persons.birth or persons.death (DATE columns holding the calendar
// date, see nullDate) as the calendar day at midnight UTC.
func personDate(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	y, m, d := t.Time.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// claimSelect is the select list eachClaim reads by name: an event line e, its
// settlement id and fund share (the SQL expressions setl and fund) and the person's
// reference data p (NULL when unknown).
func claimSelect(setl, fund string) string { return claimSelectOf(setl, fund, personCols) }

// personCols are the person's columns of claimSelect, from p; noPersonCols the same
// columns for a read that does not look the person up.
const (
	personCols   = `p.psn_no AS p_psn_no, p.gender AS gender, p.birth AS birth, p.death AS death`
	noPersonCols = `CAST(NULL AS VARCHAR) AS p_psn_no, CAST(NULL AS VARCHAR) AS gender, CAST(NULL AS DATE) AS birth, CAST(NULL AS DATE) AS death`
)

// claimSelectOf is claimSelect with the person's columns person.
func claimSelectOf(setl, fund, person string) string {
	return `SELECT e.msgid AS msgid, e.line AS line, e.infno AS infno, e.kind AS kind, e.setting AS setting,
e.fixmedins_code AS fixmedins_code, e.med_list_codg AS med_list_codg, e.item_name AS item_name, e.qty AS qty,
e.split_pack AS split_pack, e.unit_price_fen AS unit_price_fen, e.amount_fen AS amount_fen, e.event_time AS event_time,
e.receipt AS receipt, ` + setl + ` AS setl_id, e.visit AS visit, e.fee_line AS fee_line, e.psn_no AS psn_no,
e.settle_type AS settle_type, ` + fund + ` AS fund, ` + person
}

func (s *Store) eachClaim(ctx context.Context, op, q string, args []any, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	return s.eachClaimOf(ctx, op, q, args, false, fn)
}

// eachClaimOf is eachClaim; transient hands fn the same entry every time
// (facts.LineQuery.Transient).
func (s *Store) eachClaimOf(ctx context.Context, op, q string, args []any, transient bool, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var (
		msgid, infno, kind, setting, inst string
		line                              int
		split                             bool
		qty, price, amount, fund          int64
		when, birth, death                sql.NullTime
		ns                                [11]sql.NullString
	)
	dest, err := columns{"msgid": &msgid, "line": &line, "infno": &infno, "kind": &kind, "setting": &setting,
		"fixmedins_code": &inst, "med_list_codg": &ns[0], "item_name": &ns[1], "qty": &qty, "split_pack": &split,
		"unit_price_fen": &price, "amount_fen": &amount, "event_time": &when, "receipt": &ns[2], "setl_id": &ns[3],
		"visit": &ns[4], "fee_line": &ns[5], "psn_no": &ns[6], "settle_type": &ns[7], "fund": &fund,
		"p_psn_no": &ns[8], "gender": &ns[9], "birth": &birth, "death": &death}.bind(rows)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var reused *tracewatch.TimelineEntry
	if transient {
		reused = new(tracewatch.TimelineEntry)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		t := reused
		if t == nil {
			t = new(tracewatch.TimelineEntry) // the caller's to keep (facts.Reader.InsuredLines)
		} else {
			*t = tracewatch.TimelineEntry{}
		}
		var p tracewatch.Person
		t.MsgID, t.Line, t.Infno, t.Institution, t.SplitPack = msgid, line, infno, inst, split
		t.Kind, t.Setting = tracewatch.EventKind(kind), tracewatch.Setting(setting)
		t.DrugCode, t.ItemName, t.Time = ns[0].String, ns[1].String, scanTime(when)
		t.Qty, t.UnitPrice, t.Amount, t.FundPaid = tracewatch.Qty(qty), tracewatch.Fen(price), tracewatch.Fen(amount), tracewatch.Fen(fund)
		t.Receipt, t.Settlement, t.Visit, t.FeeLine, t.Person, t.SettleType = ns[2].String, ns[3].String, ns[4].String, ns[5].String, ns[6].String, ns[7].String
		p.PsnNo, p.Gender = ns[8].String, ns[9].String
		p.Birth, p.Death = personDate(birth), personDate(death)
		if err := fn(t, p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// DeceasedSettlements streams the standing settlements (2207/2304, and 3505 lines with a
// setl_id) of persons with a death date, made on or after the death date (UTC midnight:
// the caller decides on the business day), with the person and the settlement's fund
// payment.
func (s *Store) DeceasedSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	win, args := windowSQL(w, "e.event_time")
	q := `WITH ` + settledCTEs + `
SELECT * FROM (` + claimSelect("e.setl_id", "coalesce(st.fund, 0)") + ` FROM events e JOIN persons p ON p.psn_no = e.psn_no` + settledJoins + `
WHERE p.death IS NOT NULL AND e.event_time >= p.death AND e.kind IN ('settlement', 'sale')
  AND e.setl_id IS NOT NULL AND e.setl_id <> ''` + liveLine + win + `) u` + claimOrder
	return s.eachClaim(ctx, "duckdb.DeceasedSettlements", q, args, fn)
}

// AgreementSettlements streams the standing insured settlements (2207/2304, and 3505
// lines with mdtrt_setl_type 1 and a setl_id) at institutions whose agreement timeline
// has a suspension or a termination, with the person when known and the settlement's
// fund payment; the caller checks the agreement at the settlement time.
func (s *Store) AgreementSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	win, args := windowSQL(w, "e.event_time")
	q := `WITH ` + settledCTEs + `
SELECT * FROM (` + claimSelect("e.setl_id", "coalesce(st.fund, 0)") + ` FROM events e
JOIN institutions i ON i.fixmedins_code = e.fixmedins_code
LEFT JOIN persons p ON p.psn_no = e.psn_no` + settledJoins + `
WHERE (i.agreements LIKE '%suspended%' OR i.agreements LIKE '%terminated%')
  AND (e.kind = 'settlement' OR (e.kind = 'sale' AND e.settle_type = '1'))
  AND e.setl_id IS NOT NULL AND e.setl_id <> ''` + liveLine + win + `) u` + claimOrder
	return s.eachClaim(ctx, "duckdb.AgreementSettlements", q, args, fn)
}

// FrequentSettlements implements facts.Reader (C4): the standing outpatient and
// pharmacy settlements of every person who has at least q.MinCount of them within some
// span of q.SpanDays days, ordered by person and time. A settlement is a distinct (institution, setl_id)
// reported by a 2207 (inpatient 2304 left out) or, when no 2207 reports it, by insured
// 3505 rows (mdtrt_setl_type 1): a settlement a 2207 reports gives one row (its first
// line, with its fund payment), one no 2207 reports gives every 3505 row of it (no fund
// payment known; the sale amounts of its rows), consecutive.
func (s *Store) FrequentSettlements(ctx context.Context, q facts.DenseSettlementQuery, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	days, min := q.SpanDays, q.MinCount
	win, args := windowSQL(q.Window, "e.event_time")
	sql := `WITH ` + cancelledCTE + `,
ln AS (
    SELECT e.event_id, e.fixmedins_code, e.setl_id, e.kind, e.psn_no, e.event_time, e.msgid, e.line, e.fund_paid_fen
    FROM events e
    WHERE ((e.kind = 'settlement' AND e.setting <> ` + inpatient + `) OR (e.kind = 'sale' AND e.settle_type = '1' AND e.withdrawn_by IS NULL))
      AND e.setl_id IS NOT NULL AND e.setl_id <> '' AND e.psn_no IS NOT NULL AND e.psn_no <> '' AND e.event_time IS NOT NULL` + win + `),
st AS (
    SELECT g.*, CASE WHEN cx.t IS NOT NULL AND cx.t >= g.t THEN 1 ELSE 0 END AS void FROM (
        SELECT fixmedins_code, setl_id, max(CASE WHEN kind = 'settlement' THEN 1 ELSE 0 END) AS settled,
               coalesce(min(CASE WHEN kind = 'settlement' THEN psn_no END), min(psn_no)) AS psn_no,
               coalesce(min(CASE WHEN kind = 'settlement' THEN event_time END), min(event_time)) AS t,
               ` + clamped(`sum(fund_paid_fen)`) + ` AS fund
        FROM ln GROUP BY fixmedins_code, setl_id) g
    LEFT JOIN cx ON cx.fixmedins_code = g.fixmedins_code AND cx.setl_id = g.setl_id),
cnt AS (
    SELECT psn_no, count(*) OVER (PARTITION BY psn_no ORDER BY t RANGE BETWEEN INTERVAL ` + strconv.Itoa(max(days, 1)) + ` DAY PRECEDING AND CURRENT ROW) AS n
    FROM st WHERE void = 0),
hit AS (SELECT DISTINCT psn_no FROM cnt WHERE n >= ` + strconv.Itoa(max(min, 2)) + `),
pick AS (
    SELECT ln.event_id, st.fund, st.t, st.psn_no AS psn, st.settled,
           row_number() OVER (PARTITION BY ln.fixmedins_code, ln.setl_id ORDER BY ln.event_time, ln.msgid, ln.line) AS k
    FROM ln JOIN st ON st.fixmedins_code = ln.fixmedins_code AND st.setl_id = ln.setl_id AND st.void = 0
    JOIN hit ON hit.psn_no = st.psn_no
    WHERE st.settled = 0 OR ln.kind = 'settlement')
` + claimSelect("e.setl_id", "pick.fund") + `
FROM pick JOIN events e ON e.event_id = pick.event_id LEFT JOIN persons p ON p.psn_no = pick.psn
WHERE pick.settled = 0 OR pick.k = 1
ORDER BY pick.psn, pick.t, e.fixmedins_code, e.setl_id, e.event_time, e.msgid, e.line`
	return s.eachClaim(ctx, "duckdb.FrequentSettlements", sql, args, fn)
}

// CoPurchases implements facts.Reader (C10): pairs of persons who bought the same drug
// at the same institution within q.Within of each other on at least q.MinDays distinct
// days (business time zone). The purchases are the insured outpatient fee lines (2204)
// and, for a settlement whose visit has none (a province that uploads 3505 sales only),
// the insured 3505 rows (mdtrt_setl_type 1); lines of void settlements and withdrawn
// rows are left out.
func (s *Store) CoPurchases(ctx context.Context, q facts.CoPurchaseQuery, fn func(facts.CoPurchase) error) error {
	w, within, minDays := q.Window, q.Within, q.MinDays
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.CoPurchases"
	win, args := windowSQL(w, "e.event_time")
	secs := strconv.FormatInt(int64(within/time.Second), 10)
	// A fee line carries no setl_id: its visit's settlement gives it (as in RestrictedLines).
	sql := `WITH ` + visitSettled + `,
fv AS (SELECT DISTINCT fixmedins_code, visit FROM events
       WHERE kind = 'fee_line' AND setting = ` + outpatient + ` AND visit IS NOT NULL AND visit <> ''),
f AS MATERIALIZED (
    SELECT e.psn_no AS psn, e.fixmedins_code AS inst, e.med_list_codg AS drug, e.event_time AS t,
           CAST(e.event_time + INTERVAL 8 HOUR AS DATE) AS d, st.setl_id AS setl,
           ` + feeLineFund("e") + ` AS fund, e.msgid || '#' || e.line AS ref, e.amount_fen AS amt
    FROM events e LEFT JOIN sv st ON st.fixmedins_code = e.fixmedins_code AND st.visit = e.visit
    WHERE e.kind = 'fee_line' AND e.setting = ` + outpatient + ` AND e.psn_no IS NOT NULL AND e.psn_no <> ''
      AND e.med_list_codg IS NOT NULL AND e.event_time IS NOT NULL AND coalesce(st.void, 0) = 0` + win + `
    UNION ALL
    SELECT e.psn_no, e.fixmedins_code, e.med_list_codg, e.event_time, CAST(e.event_time + INTERVAL 8 HOUR AS DATE),
           e.setl_id, ` + saleFund + `, e.msgid || '#' || e.line, ` + saleAmount + `
    FROM events e LEFT JOIN drugs d ON d.med_list_codg = e.med_list_codg` + settledJoins + `
    WHERE e.kind = 'sale' AND e.settle_type = '1' AND e.psn_no IS NOT NULL AND e.psn_no <> ''
      AND e.med_list_codg IS NOT NULL AND e.event_time IS NOT NULL` + liveLine + `
      AND NOT EXISTS (SELECT 1 FROM fv WHERE fv.fixmedins_code = e.fixmedins_code AND fv.visit = e.visit)
      AND NOT EXISTS (SELECT 1 FROM fv WHERE fv.fixmedins_code = e.fixmedins_code AND fv.visit = st.visit)` + win + `),
pr AS (
    SELECT a.psn AS p1, b.psn AS p2, a.inst, a.drug, a.d, a.t AS t1, b.t AS t2, a.setl AS s1, b.setl AS s2, a.fund AS f1, b.fund AS f2,
           a.ref AS r1, b.ref AS r2, a.amt AS a1, b.amt AS a2
    FROM f a JOIN f b ON a.inst = b.inst AND a.drug = b.drug AND a.d = b.d AND a.psn < b.psn
    WHERE abs(epoch(a.t) - epoch(b.t)) <= ` + secs + `),
pairs AS (SELECT p1, p2 FROM pr GROUP BY p1, p2 HAVING count(DISTINCT d) >= ` + strconv.Itoa(max(minDays, 1)) + `)
SELECT pr.p1 AS person1, pr.p2 AS person2, count(DISTINCT pr.d) AS days,
       list(DISTINCT pr.inst ORDER BY pr.inst) AS insts, list(DISTINCT pr.drug ORDER BY pr.drug) AS drugs,
       least(min(pr.t1), min(pr.t2)) AS first, greatest(max(pr.t1), max(pr.t2)) AS last,
       list(DISTINCT {'setl': coalesce(pr.s1, ''), 'drug': pr.drug, 'fund': pr.f1}) AS setl1,
       list(DISTINCT {'setl': coalesce(pr.s2, ''), 'drug': pr.drug, 'fund': pr.f2}) AS setl2,
       list(DISTINCT {'ref': pr.r1, 'amount': coalesce(pr.a1, 0)}) AS lines1,
       list(DISTINCT {'ref': pr.r2, 'amount': coalesce(pr.a2, 0)}) AS lines2
FROM pr JOIN pairs USING (p1, p2)
GROUP BY pr.p1, pr.p2
ORDER BY pr.p1, pr.p2`
	args = append(args, args...)
	rows, err := s.db.QueryContext(ctx, sql, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	strs := func(v []any) []string {
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	var (
		c                              facts.CoPurchase
		insts, drugs, s1, s2, ln1, ln2 []any
	)
	dest, err := columns{"person1": &c.Person1, "person2": &c.Person2, "days": &c.Days, "insts": &insts, "drugs": &drugs,
		"first": &c.First, "last": &c.Last, "setl1": &s1, "setl2": &s2, "lines1": &ln1, "lines2": &ln2}.bind(rows)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		c.Institutions, c.Drugs = strs(insts), strs(drugs)
		c.Settlements = map[string]tracewatch.Fen{}
		for _, v := range append(s1, s2...) { // one co-bought line: {setl, drug, fund}
			m, _ := v.(map[string]any)
			id, _ := m["setl"].(string)
			if id == "" {
				continue
			}
			c.Settlements[id] += tracewatch.Fen(anyInt(m["fund"]))
		}
		c.Lines = map[string]tracewatch.Fen{}
		for _, v := range append(ln1, ln2...) { // {ref: msgid#line, amount}
			m, _ := v.(map[string]any)
			if ref, ok := m["ref"].(string); ok {
				c.Lines[ref] = tracewatch.Fen(anyInt(m["amount"]))
			}
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Stays implements facts.Reader: the standing inpatient stays (2304 settlements with an
// admission and a discharge time and a person; a 2305 at or after one voids it) admitted
// in the window, ordered by person and admission.
func (s *Store) Stays(ctx context.Context, q facts.StayQuery, fn func(facts.Stay) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.Stays"
	win, args := windowSQL(q.Window, "e.adm_time")
	sql := `WITH ` + cancelledCTE + `
SELECT e.fixmedins_code AS fixmedins_code, e.setl_id AS setl_id, e.psn_no AS psn_no, e.adm_time AS adm_time,
       e.dscg_time AS dscg_time, coalesce(e.diag_code, '') AS diag_code, e.fund_paid_fen AS fund_paid_fen,
       e.msgid || '#' || e.line AS ref
FROM events e
WHERE e.kind = 'settlement' AND e.setting = ` + inpatient + ` AND e.adm_time IS NOT NULL AND e.dscg_time IS NOT NULL
  AND e.psn_no IS NOT NULL AND e.psn_no <> ''
  AND NOT EXISTS (SELECT 1 FROM cx c WHERE c.fixmedins_code = e.fixmedins_code AND c.setl_id = e.setl_id
                  AND c.t >= coalesce(e.event_time, TIMESTAMP '0001-01-01 00:00:00'))` + win + `
ORDER BY e.psn_no, e.adm_time, e.fixmedins_code, e.setl_id`
	rows, err := s.db.QueryContext(ctx, sql, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var a facts.Stay
	var fund int64
	dest, err := columns{"fixmedins_code": &a.Institution, "setl_id": &a.Settlement, "psn_no": &a.Person, "adm_time": &a.Admitted,
		"dscg_time": &a.Discharged, "diag_code": &a.Diagnosis, "fund_paid_fen": &fund, "ref": &a.Ref}.bind(rows)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		a.FundPaid = tracewatch.Fen(fund)
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}
