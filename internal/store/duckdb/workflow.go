package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"tracewatch"
)

// The clue workflow's records (tracewatch.WorkflowStore; migration 0012).

// ApplySteps records steps in one transaction: each clue must still be in its write's
// Expect state (KindConflict otherwise, and nothing is recorded); an applied step moves
// its clue and records its flow and the points of its outcome. It sets each step's Seq.
// Durable when it returns.
func (s *Store) ApplySteps(ctx context.Context, ws []tracewatch.StepWrite) error {
	const op = "duckdb.ApplySteps"
	if len(ws) == 0 {
		return nil
	}
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		var seq int64
		if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM clue_steps`).Scan(&seq); err != nil {
			return err
		}
		for i := range ws {
			w := ws[i]
			st := w.Step
			var state string
			err := conn.QueryRowContext(ctx, `SELECT state FROM clues WHERE id = ?`, st.ClueID).Scan(&state)
			if err != nil {
				return notFound(op, "clue "+strconv.FormatInt(st.ClueID, 10), err)
			}
			if tracewatch.ClueState(state) != w.Expect {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d is %s now, not %s: someone moved it first; reload it", st.ClueID, state, w.Expect)
			}
			seq++
			ws[i].Step.Seq = seq
			outcome, err := outcomeJSON(st.Outcome)
			if err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO clue_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				seq, st.ClueID, string(st.From), string(st.To), text(st.Actor), string(st.Role), st.Time.UTC(), text(st.Note),
				st.Vote, st.Applied, string(st.Region), nullTime(st.Deadline), outcome, st.CaseID, text(st.Remote)); err != nil {
				return err
			}
			if !st.Applied {
				continue
			}
			f := w.Flow
			flowOutcome, err := outcomeJSON(f.Outcome)
			if err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, `UPDATE clues SET state = ? WHERE id = ?`, string(st.To), st.ClueID); err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO clue_flow VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (clue_id) DO UPDATE SET since = excluded.since, deadline = excluded.deadline, dispatch_region = excluded.dispatch_region,
    returned_from = excluded.returned_from, deliberate = excluded.deliberate, case_id = excluded.case_id, outcome = excluded.outcome`,
				st.ClueID, f.Since.UTC(), nullTime(f.Deadline), string(f.DispatchRegion), string(f.ReturnedFrom), f.Deliberate, f.CaseID, flowOutcome); err != nil {
				return err
			}
			if st.Outcome == nil {
				continue
			}
			for _, p := range st.Outcome.Points {
				if _, err := conn.ExecContext(ctx, `INSERT INTO practitioner_points VALUES (?, ?, ?, ?, ?, ?, ?)`,
					st.ClueID, text(p.Practitioner), text(p.Institution), p.Points, text(p.Responsibility), p.Time.UTC(), text(p.Actor)); err != nil {
					return err
				}
			}
		}
		return nil
	}})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// outcomeJSON is an outcome as stored: JSON, or NULL for none.
func outcomeJSON(o *tracewatch.Outcome) (any, error) {
	if o == nil {
		return nil, nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// ClueSteps lists a clue's steps in order.
func (s *Store) ClueSteps(ctx context.Context, clueID int64) ([]tracewatch.ClueStep, error) {
	const op = "duckdb.ClueSteps"
	rows, err := s.db.QueryContext(ctx, `SELECT seq, clue_id, from_state, to_state, actor, role, step_at, note, vote, applied, region, deadline,
    outcome, case_id, remote FROM clue_steps WHERE clue_id = ? ORDER BY seq`, clueID)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.ClueStep
	for rows.Next() {
		var st tracewatch.ClueStep
		var from, to, role, region string
		var deadline sql.NullTime
		var outcome sql.NullString
		if err := rows.Scan(&st.Seq, &st.ClueID, &from, &to, &st.Actor, &role, &st.Time, &st.Note, &st.Vote, &st.Applied, &region,
			&deadline, &outcome, &st.CaseID, &st.Remote); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		st.From, st.To, st.Role, st.Region = tracewatch.ClueState(from), tracewatch.ClueState(to), tracewatch.Role(role), tracewatch.Region(region)
		st.Time = st.Time.UTC()
		if deadline.Valid {
			st.Deadline = deadline.Time.UTC()
		}
		if outcome.Valid {
			st.Outcome = new(tracewatch.Outcome)
			if err := json.Unmarshal([]byte(outcome.String), st.Outcome); err != nil {
				return nil, tracewatch.E(op, tracewatch.KindInternal, err)
			}
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}

// PutAttachment records an attachment whose bytes the caller stored; it returns it with
// its id.
func (s *Store) PutAttachment(ctx context.Context, a tracewatch.Attachment) (tracewatch.Attachment, error) {
	const op = "duckdb.PutAttachment"
	a.Time = a.Time.UTC()
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		var n int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM clues WHERE id = ?`, a.ClueID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return tracewatch.Errorf(op, tracewatch.KindNotFound, "clue %d not found", a.ClueID)
		}
		if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM clue_attachments`).Scan(&a.ID); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, `INSERT INTO clue_attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.ClueID, text(a.Name), text(a.ContentType), a.Size, a.SHA256, text(a.Actor), a.Time.UTC())
		return err
	}})
	if err != nil {
		return a, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return a, nil
}

// Attachments lists a clue's attachments in the order they came.
func (s *Store) Attachments(ctx context.Context, clueID int64) ([]tracewatch.Attachment, error) {
	const op = "duckdb.Attachments"
	rows, err := s.db.QueryContext(ctx, `SELECT id, clue_id, name, content_type, size, sha256, actor, added_at FROM clue_attachments
WHERE clue_id = ? ORDER BY id`, clueID)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.Attachment
	for rows.Next() {
		var a tracewatch.Attachment
		if err := rows.Scan(&a.ID, &a.ClueID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.Actor, &a.Time); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		a.Time = a.Time.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// Points lists point awards in the order they were given.
func (s *Store) Points(ctx context.Context, f tracewatch.PointFilter) ([]tracewatch.PointAward, error) {
	const op = "duckdb.Points"
	q := `SELECT clue_id, practitioner, fixmedins_code, points, responsibility, awarded_at, actor FROM practitioner_points WHERE awarded_at >= ?`
	args := []any{f.Since.UTC()}
	if f.Practitioner != "" {
		q += ` AND practitioner = ?`
		args = append(args, f.Practitioner)
	}
	if f.Institution != "" {
		q += ` AND fixmedins_code = ?`
		args = append(args, f.Institution)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY awarded_at, clue_id, practitioner`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.PointAward
	for rows.Next() {
		var p tracewatch.PointAward
		if err := rows.Scan(&p.ClueID, &p.Practitioner, &p.Institution, &p.Points, &p.Responsibility, &p.Time, &p.Actor); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		p.Time = p.Time.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// PutCase records a case and puts its clues in it (their flow's case_id), all or none:
// a clue already in another case is KindConflict.
func (s *Store) PutCase(ctx context.Context, c tracewatch.Case) (tracewatch.Case, error) {
	const op = "duckdb.PutCase"
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM cases`).Scan(&c.ID); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, text(c.Institution), string(c.Region),
			c.From.UTC(), c.To.UTC(), text(c.Title), text(c.Actor), c.Created.UTC()); err != nil {
			return err
		}
		for _, id := range c.Clues {
			var other sql.NullInt64
			var first time.Time
			err := conn.QueryRowContext(ctx, `SELECT f.case_id, clues.first_seen`+clueFrom+` WHERE id = ?`, id).Scan(&other, &first)
			if err != nil {
				return notFound(op, "clue "+strconv.FormatInt(id, 10), err)
			}
			if other.Int64 != 0 {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d is already in case %d", id, other.Int64)
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO clue_flow VALUES (?, ?, NULL, '', '', false, ?, NULL)
ON CONFLICT (clue_id) DO UPDATE SET case_id = excluded.case_id`, id, first.UTC(), c.ID); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		return c, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return c, nil
}

// Case returns a case with its clues.
func (s *Store) Case(ctx context.Context, id int64) (tracewatch.Case, error) {
	const op = "duckdb.Case"
	var c tracewatch.Case
	var region string
	err := s.db.QueryRowContext(ctx, `SELECT id, fixmedins_code, admdvs, period_from, period_to, title, actor, created FROM cases WHERE id = ?`, id).
		Scan(&c.ID, &c.Institution, &region, &c.From, &c.To, &c.Title, &c.Actor, &c.Created)
	if err != nil {
		return c, notFound(op, "case "+strconv.FormatInt(id, 10), err)
	}
	c.Region = tracewatch.Region(region)
	c.From, c.To, c.Created = c.From.UTC(), c.To.UTC(), c.Created.UTC()
	rows, err := s.db.QueryContext(ctx, `SELECT clue_id FROM clue_flow WHERE case_id = ? ORDER BY clue_id`, id)
	if err != nil {
		return c, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid int64
		if err := rows.Scan(&cid); err != nil {
			return c, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		c.Clues = append(c.Clues, cid)
	}
	return c, rows.Err()
}

// ClueStates counts the clues matching f by state.
func (s *Store) ClueStates(ctx context.Context, f tracewatch.ClueFilter) (map[tracewatch.ClueState]int64, error) {
	const op = "duckdb.ClueStates"
	where, args := clueWhere(f)
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*)`+clueFrom+where+` GROUP BY state`, args...)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	out := map[tracewatch.ClueState]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out[tracewatch.ClueState(st)] = n
	}
	return out, rows.Err()
}
