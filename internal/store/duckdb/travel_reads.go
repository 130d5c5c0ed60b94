package duckdb

import (
	"context"
	"strconv"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// TravelSettlements implements facts.Reader (C9): the standing outpatient and pharmacy
// settlements in the window of every person who settled at two institutions in
// different cities within q.Within of each other, ordered by person, time, institution
// and setl_id. A settlement is a distinct (institution, setl_id) a 2207 reports
// (inpatient 2304 left out), or, when no 2207 reports it, that insured 3505 rows
// (mdtrt_setl_type 1, not withdrawn) name; it is void when a 2208 of it happened at or
// after it (as FrequentSettlements). The persons are found among the settlements at
// institutions of the reference data with a region: when two of them in different cities
// lie within q.Within, two consecutive ones do, so a window function over each person's
// settlements in time order finds them.
func (s *Store) TravelSettlements(ctx context.Context, q facts.TravelQuery, fn func(facts.PersonSettlement) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	const op = "duckdb.TravelSettlements"
	win, args := windowSQL(q.Window, "e.event_time")
	secs := strconv.FormatInt(int64(max(q.Within, 0)/time.Second), 10)
	sql := `WITH ` + cancelledCTE + `,
ln AS (
    SELECT e.fixmedins_code, e.setl_id, e.kind, e.psn_no, e.event_time, e.msgid, e.line, e.fund_paid_fen,
           ` + saleAmount + ` AS sale
    FROM events e LEFT JOIN drugs d ON d.med_list_codg = e.med_list_codg
    WHERE ((e.kind = 'settlement' AND e.setting <> ` + inpatient + `) OR (e.kind = 'sale' AND e.settle_type = '1' AND e.withdrawn_by IS NULL))
      AND e.setl_id IS NOT NULL AND e.setl_id <> '' AND e.psn_no IS NOT NULL AND e.psn_no <> '' AND e.event_time IS NOT NULL` + win + `),
st AS (
    SELECT g.* FROM (
        SELECT fixmedins_code, setl_id,
               coalesce(min(CASE WHEN kind = 'settlement' THEN psn_no END), min(psn_no)) AS psn_no,
               coalesce(min(CASE WHEN kind = 'settlement' THEN event_time END), min(event_time)) AS t,
               ` + clamped(`sum(CASE WHEN kind = 'settlement' THEN fund_paid_fen ELSE 0 END)`) + ` AS fund,
               ` + clamped(`sum(sale)`) + ` AS sale,
               arg_min(msgid || '#' || line, CASE WHEN kind = 'settlement' THEN 0 ELSE 1 END * 100000000000 + epoch(event_time)) AS ref
        FROM ln GROUP BY fixmedins_code, setl_id) g
    LEFT JOIN cx ON cx.fixmedins_code = g.fixmedins_code AND cx.setl_id = g.setl_id
    WHERE cx.t IS NULL OR cx.t < g.t),
kn AS (
    SELECT st.psn_no, st.t, substr(i.admdvs, 1, 4) AS city,
           lag(st.t) OVER (PARTITION BY st.psn_no ORDER BY st.t, st.fixmedins_code, st.setl_id) AS pt,
           lag(substr(i.admdvs, 1, 4)) OVER (PARTITION BY st.psn_no ORDER BY st.t, st.fixmedins_code, st.setl_id) AS pcity
    FROM st JOIN institutions i ON i.fixmedins_code = st.fixmedins_code
    WHERE length(i.admdvs) = 6),
hit AS (SELECT DISTINCT psn_no FROM kn WHERE pcity IS NOT NULL AND pcity <> city AND epoch(t) - epoch(pt) <= ` + secs + `)
SELECT st.psn_no AS psn_no, st.fixmedins_code AS fixmedins_code, st.setl_id AS setl_id, st.t AS t, st.fund AS fund,
       st.sale AS sale, st.ref AS ref
FROM st JOIN hit ON hit.psn_no = st.psn_no
ORDER BY st.psn_no, st.t, st.fixmedins_code, st.setl_id`
	rows, err := s.db.QueryContext(ctx, sql, args...)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var p facts.PersonSettlement
	var fund, sale int64
	dest, err := columns{"psn_no": &p.Person, "fixmedins_code": &p.Institution, "setl_id": &p.Settlement, "t": &p.Time,
		"fund": &fund, "sale": &sale, "ref": &p.Ref}.bind(rows)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		p.FundPaid, p.SaleAmount = tracewatch.Fen(fund), tracewatch.Fen(sale)
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}
