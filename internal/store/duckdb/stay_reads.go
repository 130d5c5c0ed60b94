package duckdb

import (
	"context"
	"database/sql"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// The reads of C6 (bed holding) and C13 (phantom stay): the standing stays with their
// fee lines per day and the person's settlements while admitted.

// stayCTE is the CTEs cx and sy: the standing inpatient stays admitted in the window (as
// Stays: 2304 settlements with an admission, a discharge and a person, no 2305 at or
// after them); its window placeholders bind to the adm_time.
func stayCTE(win string) string {
	return cancelledCTE + `,
sy AS MATERIALIZED (
    SELECT e.fixmedins_code, e.setl_id, e.psn_no, e.adm_time, e.dscg_time, coalesce(e.diag_code, '') AS diag_code,
           coalesce(e.fund_paid_fen, 0) AS fund_paid_fen, coalesce(e.amount_fen, 0) AS amount_fen,
           coalesce(e.visit, '') AS visit, e.msgid || '#' || e.line AS ref
    FROM events e
    WHERE e.kind = 'settlement' AND e.setting = ` + inpatient + ` AND e.adm_time IS NOT NULL AND e.dscg_time IS NOT NULL
      AND e.psn_no IS NOT NULL AND e.psn_no <> ''
      AND NOT EXISTS (SELECT 1 FROM cx c WHERE c.fixmedins_code = e.fixmedins_code AND c.setl_id = e.setl_id
                      AND c.t >= coalesce(e.event_time, TIMESTAMP '0001-01-01 00:00:00'))` + win + `)`
}

// StayCares implements facts.Reader (C6, C13): the standing stays admitted in the window,
// ordered by person and admission, each with its fee lines (2301 of its institution and
// mdtrt_id) per business day and the person's standing outpatient and pharmacy
// settlements strictly between its admission and discharge.
func (s *Store) StayCares(ctx context.Context, q facts.StayQuery, fn func(facts.StayCare) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.StayCares"
	win, args := windowSQL(q.Window, "e.adm_time")
	type key struct{ inst, setl string }
	var stays []facts.StayCare
	at := map[key]int{}
	byVisit := map[key][]int{}

	// 1. The stays.
	rows, err := s.db.QueryContext(ctx, `WITH `+stayCTE(win)+`
SELECT fixmedins_code, setl_id, psn_no, adm_time, dscg_time, diag_code, fund_paid_fen, amount_fen, visit, ref FROM sy
ORDER BY psn_no, adm_time, fixmedins_code, setl_id`, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var a facts.StayCare
	var fund, amount int64
	dest, err := columns{"fixmedins_code": &a.Institution, "setl_id": &a.Settlement, "psn_no": &a.Person, "adm_time": &a.Admitted,
		"dscg_time": &a.Discharged, "diag_code": &a.Diagnosis, "fund_paid_fen": &fund, "amount_fen": &amount, "visit": &a.Visit,
		"ref": &a.Ref}.bind(rows)
	if err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		a.FundPaid, a.Amount = tracewatch.Fen(fund), tracewatch.Fen(amount)
		k := key{a.Institution, a.Settlement}
		if _, dup := at[k]; dup {
			continue // one setl_id reported twice: the first report stands
		}
		at[k] = len(stays)
		if a.Visit != "" {
			v := key{a.Institution, a.Visit}
			byVisit[v] = append(byVisit[v], len(stays))
		}
		stays = append(stays, a)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	rows.Close()
	if len(stays) == 0 {
		return nil
	}

	// 2. The fee lines of the stays' visits, per business day. A line without a
	// fee_ocur_time has no day (NULL): ingest gave it the envelope's inf_time, so a line
	// whose time is its envelope's inf_time counts as undated.
	rows, err = s.db.QueryContext(ctx, `WITH `+stayCTE(win)+`
SELECT f.fixmedins_code AS fixmedins_code, f.visit AS visit, CASE WHEN f.inf_time IS NOT NULL AND f.event_time = f.inf_time THEN NULL ELSE CAST(f.event_time + INTERVAL 8 HOUR AS DATE) END AS d,
       count(*) AS n, `+clamped(`sum(coalesce(f.amount_fen, 0))`)+` AS amount
FROM events f
WHERE f.kind = 'fee_line' AND f.setting = `+inpatient+` AND f.visit IS NOT NULL AND f.visit <> ''
  AND EXISTS (SELECT 1 FROM sy WHERE sy.fixmedins_code = f.fixmedins_code AND sy.visit = f.visit)
GROUP BY f.fixmedins_code, f.visit, CASE WHEN f.inf_time IS NOT NULL AND f.event_time = f.inf_time THEN NULL ELSE CAST(f.event_time + INTERVAL 8 HOUR AS DATE) END
ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var inst, visit string
	var d sql.NullTime
	var n int
	dest, err = columns{"fixmedins_code": &inst, "visit": &visit, "d": &d, "n": &n, "amount": &amount}.bind(rows)
	if err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		for _, i := range byVisit[key{inst, visit}] {
			st := &stays[i]
			st.Lines += n
			st.LineAmount += tracewatch.Fen(amount)
			if !d.Valid {
				st.Undated += n
				continue
			}
			y, m, dd := d.Time.UTC().Date()
			st.Days = append(st.Days, facts.CareDay{Day: time.Date(y, m, dd, 0, 0, 0, 0, tracewatch.Beijing), Lines: n, Amount: tracewatch.Fen(amount)})
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	rows.Close()

	// 3. The persons' other settlements while admitted: a 2207 (any setting but
	// inpatient) or, for a setl_id no 2207 reports, its insured 3505 rows; void ones left
	// out.
	rows, err = s.db.QueryContext(ctx, `WITH `+stayCTE(win)+`,
ln AS (
    SELECT e.fixmedins_code, e.setl_id, e.kind, e.psn_no, e.event_time, e.msgid, e.line, e.fund_paid_fen, e.amount_fen
    FROM events e
    WHERE ((e.kind = 'settlement' AND e.setting <> `+inpatient+`) OR (e.kind = 'sale' AND e.settle_type = '1' AND e.withdrawn_by IS NULL))
      AND e.setl_id IS NOT NULL AND e.setl_id <> '' AND e.event_time IS NOT NULL
      AND e.psn_no IN (SELECT psn_no FROM sy)),
g AS (
    SELECT fixmedins_code, setl_id, max(CASE WHEN kind = 'settlement' THEN 1 ELSE 0 END) AS settled,
           coalesce(min(CASE WHEN kind = 'settlement' THEN psn_no END), min(psn_no)) AS psn_no,
           coalesce(min(CASE WHEN kind = 'settlement' THEN event_time END), min(event_time)) AS t,
           coalesce(`+clamped(`sum(CASE WHEN kind = 'settlement' THEN fund_paid_fen END)`)+`, 0) AS fund,
           coalesce(`+clamped(`sum(CASE WHEN kind = 'settlement' THEN amount_fen END)`)+`, `+clamped(`sum(coalesce(amount_fen, 0))`)+`) AS amount,
           coalesce(min(CASE WHEN kind = 'settlement' THEN msgid || '#' || line END), min(msgid || '#' || line)) AS ref
    FROM ln GROUP BY fixmedins_code, setl_id),
st AS (
    SELECT g.* FROM g LEFT JOIN cx ON cx.fixmedins_code = g.fixmedins_code AND cx.setl_id = g.setl_id
    WHERE cx.t IS NULL OR cx.t < g.t)
SELECT sy.fixmedins_code AS stay_inst, sy.setl_id AS stay_setl, st.fixmedins_code AS fixmedins_code, st.setl_id AS setl_id,
       st.t AS t, st.amount AS amount, st.fund AS fund, st.settled AS settled, st.ref AS ref
FROM sy JOIN st ON st.psn_no = sy.psn_no AND st.t > sy.adm_time AND st.t < sy.dscg_time
ORDER BY sy.fixmedins_code, sy.setl_id, st.t, st.fixmedins_code, st.setl_id`, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var sInst, sSetl string
	var x facts.StaySettlement
	var settled int
	dest, err = columns{"stay_inst": &sInst, "stay_setl": &sSetl, "fixmedins_code": &x.Institution, "setl_id": &x.Settlement,
		"t": &x.Time, "amount": &amount, "fund": &fund, "settled": &settled, "ref": &x.Ref}.bind(rows)
	if err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		i, ok := at[key{sInst, sSetl}]
		if !ok {
			continue
		}
		x.Amount, x.FundPaid, x.SalesOnly = tracewatch.Fen(amount), tracewatch.Fen(fund), settled == 0
		stays[i].During = append(stays[i].During, x)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	rows.Close()

	for _, st := range stays {
		if err := fn(st); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}
