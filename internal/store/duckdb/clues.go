package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	duckdbdrv "github.com/duckdb/duckdb-go/v2"

	"tracewatch"
)

const clueCols = `id, fingerprint, detector, detector_name, rule, severity, subject_kind, subject_id, admdvs, fixmedins_code,
amount_fen, codes, settlements, receipts, msgids, persons, evidence, explanation, state, first_seen, last_seen, amount_basis`

// PutClues stores the clues of a screening run at time now, one per fingerprint: a new
// fingerprint gets the next id and first_seen = now; a known one keeps its id, state and
// first_seen and takes the new severity, amount, keys, evidence and explanation. It
// returns how many clues were new. Durable when it returns.
func (s *Store) PutClues(ctx context.Context, clues []tracewatch.Clue, now time.Time) (added int, err error) {
	const op = "duckdb.PutClues"
	if len(clues) == 0 {
		return 0, nil
	}
	// The last clue of a fingerprint wins.
	seen := make(map[string]int, len(clues))
	uniq := make([]tracewatch.Clue, 0, len(clues))
	for _, c := range clues {
		if i, ok := seen[c.Fingerprint]; ok {
			uniq[i] = c
			continue
		}
		seen[c.Fingerprint] = len(uniq)
		uniq = append(uniq, c)
	}
	now = now.UTC()
	err = s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE stage_clues AS SELECT 0::BIGINT AS seq, `+clueCols+` FROM clues LIMIT 0;
CREATE OR REPLACE TEMP TABLE stage_clue_codes AS SELECT 0::BIGINT AS seq, code_key FROM clue_codes LIMIT 0`); err != nil {
			return err
		}
		if err := withAppenders(conn, []string{"temp", "stage_clues", "temp", "stage_clue_codes"}, func(as []*duckdbdrv.Appender) error {
			for i := range uniq {
				c := &uniq[i]
				c.Normalize()
				ev, err := json.Marshal(c.Evidence)
				if err != nil {
					return err
				}
				seq := int64(i + 1)
				if err := as[0].AppendRow(textArgs([]driver.Value{seq, int64(0), c.Fingerprint, c.Detector, c.DetectorName(), c.Rule, int32(c.Severity),
					string(c.Subject), c.SubjectID, string(c.Region), c.Institution, int64(c.AmountFen),
					jsonList(c.Codes), jsonList(c.Settlements), jsonList(c.Receipts), jsonList(c.MsgIDs), jsonList(c.Persons),
					string(ev), c.Explanation, string(tracewatch.ClueNew), now, now, string(c.AmountBasis)})...); err != nil {
					return err
				}
				for _, k := range c.Codes {
					if err := as[1].AppendRow(seq, text(k)); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			return err
		}
		var before int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM clues`).Scan(&before); err != nil {
			return err
		}
		const assign = `
UPDATE stage_clues SET id = c.id FROM clues c WHERE c.fingerprint = stage_clues.fingerprint;
UPDATE stage_clues SET id = n.id FROM (
    SELECT seq, (SELECT coalesce(max(id), 0) FROM clues) + row_number() OVER (ORDER BY seq) AS id
    FROM stage_clues WHERE id = 0) n
WHERE n.seq = stage_clues.seq;
INSERT INTO clues SELECT ` + clueCols + ` FROM stage_clues
ON CONFLICT (fingerprint) DO UPDATE SET detector = excluded.detector, detector_name = excluded.detector_name,
    rule = excluded.rule, severity = excluded.severity, subject_kind = excluded.subject_kind, subject_id = excluded.subject_id,
    admdvs = excluded.admdvs, fixmedins_code = excluded.fixmedins_code, amount_fen = excluded.amount_fen, amount_basis = excluded.amount_basis,
    codes = excluded.codes, settlements = excluded.settlements, receipts = excluded.receipts, msgids = excluded.msgids,
    persons = excluded.persons, evidence = excluded.evidence, explanation = excluded.explanation, last_seen = excluded.last_seen;
DELETE FROM clue_codes WHERE clue_id IN (SELECT id FROM stage_clues);
INSERT INTO clue_codes SELECT DISTINCT s.id, k.code_key FROM stage_clue_codes k JOIN stage_clues s ON s.seq = k.seq;`
		if _, err := conn.ExecContext(ctx, assign); err != nil {
			return err
		}
		var after int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM clues`).Scan(&after); err != nil {
			return err
		}
		added = int(after - before)
		return nil
	}})
	if err != nil {
		return 0, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return added, nil
}

func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// clueFrom is the clues joined with their workflow; flowCols are the flow's columns
// scanClue reads after clueCols.
const (
	clueFrom = ` FROM clues LEFT JOIN clue_flow f ON f.clue_id = clues.id`
	flowCols = `, f.since, f.deadline, coalesce(f.dispatch_region, ''), coalesce(f.returned_from, ''),
coalesce(f.deliberate, false), coalesce(f.case_id, 0), f.outcome`
)

func scanClue(sc interface{ Scan(...any) error }) (tracewatch.Clue, error) {
	var c tracewatch.Clue
	var sev int32
	var subj, region, codes, setls, rcpts, msgids, persons, ev, state string
	var name, dispatch, returned string
	var basis, outcome sql.NullString
	var since, deadline sql.NullTime
	err := sc.Scan(&c.ID, &c.Fingerprint, &c.Detector, &name, &c.Rule, &sev, &subj, &c.SubjectID, &region, &c.Institution,
		&c.AmountFen, &codes, &setls, &rcpts, &msgids, &persons, &ev, &c.Explanation, &state, &c.FirstSeen, &c.LastSeen, &basis,
		&since, &deadline, &dispatch, &returned, &c.Flow.Deliberate, &c.Flow.CaseID, &outcome)
	if err != nil {
		return c, err
	}
	c.Flow.Since = c.FirstSeen.UTC()
	if since.Valid {
		c.Flow.Since = since.Time.UTC()
	}
	if deadline.Valid {
		c.Flow.Deadline = deadline.Time.UTC()
	}
	c.Flow.DispatchRegion, c.Flow.ReturnedFrom = tracewatch.Region(dispatch), tracewatch.ClueState(returned)
	if outcome.Valid && outcome.String != "" {
		c.Flow.Outcome = new(tracewatch.Outcome)
		if err := json.Unmarshal([]byte(outcome.String), c.Flow.Outcome); err != nil {
			return c, err
		}
	}
	c.Severity, c.Subject, c.Region, c.State = tracewatch.Severity(sev), tracewatch.SubjectKind(subj), tracewatch.Region(region), tracewatch.ClueState(state)
	c.AmountBasis = tracewatch.AmountBasis(basis.String)
	for _, f := range []struct {
		raw string
		dst *[]string
	}{{codes, &c.Codes}, {setls, &c.Settlements}, {rcpts, &c.Receipts}, {msgids, &c.MsgIDs}, {persons, &c.Persons}} {
		if f.raw != "[]" && f.raw != "" {
			if err := json.Unmarshal([]byte(f.raw), f.dst); err != nil {
				return c, err
			}
		}
	}
	if err := json.Unmarshal([]byte(ev), &c.Evidence); err != nil {
		return c, err
	}
	c.FirstSeen, c.LastSeen = c.FirstSeen.UTC(), c.LastSeen.UTC()
	return c, nil
}

// clueWhere turns a filter into a WHERE clause and its arguments.
func clueWhere(f tracewatch.ClueFilter) (string, []any) {
	where := []string{"id > ?"}
	args := []any{f.AfterID}
	if f.Detector != "" {
		if strings.Contains(f.Detector, "@") {
			where = append(where, "detector = ?")
		} else {
			where = append(where, "detector_name = ?")
		}
		args = append(args, f.Detector)
	}
	if f.MinSeverity > 0 {
		where = append(where, "severity >= ?")
		args = append(args, int32(f.MinSeverity))
	}
	if f.Region != "" {
		r := string(f.Region)
		cond := "admdvs = ?"
		switch {
		case strings.HasSuffix(r, "0000"):
			cond, r = "admdvs LIKE ?", r[:2]+"%"
		case strings.HasSuffix(r, "00"):
			cond, r = "admdvs LIKE ?", r[:4]+"%"
		}
		if f.UnknownRegion {
			cond = "(" + cond + " OR admdvs = '')"
		}
		where = append(where, cond)
		args = append(args, r)
	}
	if f.Institution != "" {
		where = append(where, "fixmedins_code = ?")
		args = append(args, f.Institution)
	}
	if f.Code != "" {
		where = append(where, "id IN (SELECT clue_id FROM clue_codes WHERE code_key = ?)")
		args = append(args, f.Code)
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, st := range f.States {
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if !f.DueBefore.IsZero() {
		cond := "(f.deadline IS NOT NULL AND f.deadline < ?)"
		args = append(args, f.DueBefore.UTC())
		if !f.NewSeenBefore.IsZero() {
			cond = "(" + cond + " OR (f.clue_id IS NULL AND first_seen < ?))"
			args = append(args, f.NewSeenBefore.UTC())
		}
		where = append(where, "state NOT IN ('closed', 'dismissed')", cond)
	}
	if !f.FirstSeenFrom.IsZero() {
		where = append(where, "first_seen >= ?")
		args = append(args, f.FirstSeenFrom.UTC())
	}
	if f.CaseID != 0 {
		where = append(where, "f.case_id = ?")
		args = append(args, f.CaseID)
	}
	if f.MinAmount > 0 {
		where = append(where, "amount_fen >= ?")
		args = append(args, int64(f.MinAmount))
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// clueOrders are the ORDER BY clauses of the clue orders.
var clueOrders = map[tracewatch.ClueOrder]string{
	tracewatch.OrderID:       `id`,
	tracewatch.OrderNewest:   `id DESC`,
	tracewatch.OrderAmount:   `amount_fen DESC, id`,
	tracewatch.OrderSeverity: `severity DESC, amount_fen DESC, id`,
	tracewatch.OrderDeadline: `f.deadline ASC NULLS LAST, id`,
}

// Clues lists clues in the filter's order (id order by default).
func (s *Store) Clues(ctx context.Context, f tracewatch.ClueFilter) ([]tracewatch.Clue, error) {
	const op = "duckdb.Clues"
	order, ok := clueOrders[f.Order]
	if !ok {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "unknown clue order %q", f.Order).WithField("order")
	}
	where, args := clueWhere(f)
	q := `SELECT ` + clueCols + flowCols + clueFrom + where + ` ORDER BY ` + order
	switch {
	case f.Limit == 0:
		q += ` LIMIT 100`
	case f.Limit > 0:
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	if f.Offset > 0 {
		if f.Limit < 0 {
			q += ` LIMIT ALL`
		}
		q += ` OFFSET ` + strconv.Itoa(f.Offset)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.Clue
	for rows.Next() {
		c, err := scanClue(rows)
		if err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}

// Clue returns one clue.
func (s *Store) Clue(ctx context.Context, id int64) (tracewatch.Clue, error) {
	c, err := scanClue(s.db.QueryRowContext(ctx, `SELECT `+clueCols+flowCols+clueFrom+` WHERE id = ?`, id))
	if err != nil {
		return c, notFound("duckdb.Clue", "clue "+strconv.FormatInt(id, 10), err)
	}
	return c, nil
}

// ClueCounts counts the clues matching f by detector and severity.
func (s *Store) ClueCounts(ctx context.Context, f tracewatch.ClueFilter) ([]tracewatch.ClueCount, error) {
	const op = "duckdb.ClueCounts"
	where, args := clueWhere(f)
	rows, err := s.db.QueryContext(ctx, `SELECT detector, severity, count(*), sum(amount_fen)`+clueFrom+where+
		` GROUP BY detector, severity ORDER BY detector, severity DESC`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.ClueCount
	for rows.Next() {
		var c tracewatch.ClueCount
		var sev int32
		var amt sql.NullInt64
		if err := rows.Scan(&c.Detector, &sev, &c.Clues, &amt); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		c.Severity, c.Amount = tracewatch.Severity(sev), tracewatch.Fen(amt.Int64)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClueGroups summarizes the clues matching f by the columns of by.
func (s *Store) ClueGroups(ctx context.Context, f tracewatch.ClueFilter, by tracewatch.ClueGroupBy) ([]tracewatch.ClueGroup, error) {
	const op = "duckdb.ClueGroups"
	cols := []struct {
		flag tracewatch.ClueGroupBy
		expr string
	}{{tracewatch.ByDetector, "detector"}, {tracewatch.BySeverity, "severity"}, {tracewatch.ByState, "state"},
		{tracewatch.ByRegion, "admdvs"}, {tracewatch.ByInstitution, "fixmedins_code"}}
	sel := make([]string, len(cols))
	var group []string
	for i, c := range cols {
		sel[i] = "NULL"
		if by&c.flag != 0 {
			sel[i] = c.expr
			group = append(group, c.expr)
		}
	}
	where, args := clueWhere(f)
	q := `SELECT ` + strings.Join(sel, ", ") + `, count(*), sum(amount_fen), ` +
		`sum(CAST(json_extract_string(f.outcome, '$.recovered_fen') AS BIGINT)), ` +
		`sum(coalesce(CAST(json_extract_string(f.outcome, '$.penalty_fen') AS BIGINT), 0) + coalesce(CAST(json_extract_string(f.outcome, '$.fine_fen') AS BIGINT), 0))` +
		clueFrom + where
	if len(group) > 0 {
		q += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.ClueGroup
	for rows.Next() {
		var g tracewatch.ClueGroup
		var det, state, region, inst sql.NullString
		var sev sql.NullInt32
		var amt, rec, pen sql.NullInt64
		if err := rows.Scan(&det, &sev, &state, &region, &inst, &g.Clues, &amt, &rec, &pen); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if g.Clues == 0 {
			continue
		}
		g.Detector, g.Severity, g.State = det.String, tracewatch.Severity(sev.Int32), tracewatch.ClueState(state.String)
		g.Region, g.Institution = tracewatch.Region(region.String), inst.String
		g.AmountFen, g.RecoveredFen, g.PenaltyFen = tracewatch.Fen(amt.Int64), tracewatch.Fen(rec.Int64), tracewatch.Fen(pen.Int64)
		out = append(out, g)
	}
	return out, rows.Err()
}

// PutCheckFeedback stores 3103 decisions durably; a replayed msgid changes nothing.
func (s *Store) PutCheckFeedback(ctx context.Context, rows []tracewatch.CheckFeedback) error {
	const op = "duckdb.PutCheckFeedback"
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		for _, f := range rows {
			if _, err := conn.ExecContext(ctx, `INSERT INTO check_feedback VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				text(f.MsgID), text(f.Institution), text(f.WarnType), text(f.JrID), text(f.Way), text(f.Reason), f.Received.UTC()); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// CheckFeedback lists the 3103 decisions about one warning.
func (s *Store) CheckFeedback(ctx context.Context, jrID string) ([]tracewatch.CheckFeedback, error) {
	const op = "duckdb.CheckFeedback"
	rows, err := s.db.QueryContext(ctx, `SELECT msgid, fixmedins_code, coalesce(warn_type, ''), jr_id, dspo_way, coalesce(dspo_way_rea, ''), received_at
FROM check_feedback WHERE jr_id = ? ORDER BY received_at, msgid`, text(jrID))
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.CheckFeedback
	for rows.Next() {
		var f tracewatch.CheckFeedback
		if err := rows.Scan(&f.MsgID, &f.Institution, &f.WarnType, &f.JrID, &f.Way, &f.Reason, &f.Received); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
