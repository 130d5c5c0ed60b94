package duckdb

import (
	"context"
	"strings"

	"tracewatch"
	"tracewatch/internal/facts"
)

// The generic line reads of the facts seam (docs/facts.md): lines chosen by a typed
// query, and the counts a rule's fire rate is measured against. No rule's threshold
// reaches them.

// drugSetSQL restricts the column col to the drugs of a facts.LineQuery, passed as one
// parameter (the codes joined by a unit separator) so that the query keeps one order
// however many drugs it names.
func drugSetSQL(col string, drugs []string) (string, []any) {
	if drugs == nil {
		return "", nil
	}
	return " AND " + col + " IN (SELECT unnest(string_split(?, chr(31))))", []any{strings.Join(drugs, "\x1f")}
}

// InsuredLines implements facts.Reader: the insured sale lines (3505 rows with
// mdtrt_setl_type 1, 2204 and 2301 fee lines) of the query's window and drugs, in time
// order, with the person of the reference data (a zero Person when unknown; only known
// persons when q.KnownPerson). A fee line carries the setl_id of its visit's standing
// settlement. The fund share is the line's: price × quantity (or the fee line's amount)
// times the fund's share of its settlement. Lines of void settlements and withdrawn rows
// are left out.
func (s *Store) InsuredLines(ctx context.Context, q facts.LineQuery, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error {
	if err := s.await(ctx); err != nil {
		return err
	}
	if q.Drugs != nil && len(q.Drugs) == 0 {
		return nil
	}
	win, args := windowSQL(q.Window, "e.event_time")
	drugs, dargs := drugSetSQL("e.med_list_codg", q.Drugs)
	person, cols := ` LEFT JOIN persons p ON p.psn_no = e.psn_no`, personCols
	switch {
	case q.KnownPerson:
		person = ` JOIN persons p ON p.psn_no = e.psn_no`
	case q.NoPerson:
		person, cols = "", noPersonCols
	}
	one := append(append([]any{}, dargs...), args...)
	sql := `WITH ` + visitSettled + `
SELECT * FROM (` + claimSelectOf("e.setl_id", saleFund, cols) + ` FROM events e` + person + settledJoins + `
WHERE e.kind = 'sale' AND e.settle_type = '1'` + drugs + liveLine + win + `
UNION ALL ` + claimSelectOf("st.setl_id", feeLineFund("e"), cols) + ` FROM events e` + person + `
LEFT JOIN sv st ON st.fixmedins_code = e.fixmedins_code AND st.visit = e.visit
WHERE e.kind = 'fee_line' AND coalesce(st.void, 0) = 0` + drugs + win + `) u` + claimOrder
	return s.eachClaimOf(ctx, "duckdb.InsuredLines", sql, append(one, one...), q.Transient, fn)
}

// SaleLineCounts implements facts.Reader: per institution, the sale-side lines of the
// window (3505 sale rows not withdrawn, 2204/2301 fee lines): what a rule's fire rate
// per 10,000 sale lines is measured against.
func (s *Store) SaleLineCounts(ctx context.Context, w tracewatch.Window) (map[string]int64, error) {
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	const op = "duckdb.SaleLineCounts"
	win, args := windowSQL(w, "event_time")
	rows, err := s.db.QueryContext(ctx, `SELECT fixmedins_code, count(*) FROM events
WHERE kind IN ('sale', 'fee_line') AND withdrawn_by IS NULL`+win+` GROUP BY fixmedins_code`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var in string
		var n int64
		if err := rows.Scan(&in, &n); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out[in] = n
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}
