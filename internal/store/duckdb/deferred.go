package duckdb

import (
	"context"
	"database/sql"

	"tracewatch"
)

// A bulk load can leave sale_codes and the ledger behind the facts and bring them up to
// date once, at its end, with the same rebuild as `ledger rebuild` (docs/ledger.md,
// "Bulk loads"). Kept at every commit, they cost a third of a load's time: each commit
// reads the stored sale rows of its codes, updates the ledger rows it touches, and each
// checkpoint rewrites them. One rebuild at the end reads the facts once.
//
// While they are deferred, the ledger_state row says so, durably, before the first
// commit that skips them; Open brings a store left that way (a load that crashed) up to
// date before anything reads it. The facts (messages, events, their codes, the
// withdrawal marks) are committed as always: acknowledged rows are durable at each
// commit whatever the ledger does.

// DeferLedger makes the commits that follow store the facts only, until CatchUpLedger
// (or Close) rebuilds sale_codes and the ledger from them. Readers of the ledger in the
// meantime see it as it was. A journaled store (serve) refuses: its ledger answers the
// counter's checks and must follow every commit.
func (s *Store) DeferLedger(ctx context.Context) error {
	const op = "duckdb.DeferLedger"
	if s.journal != nil {
		return tracewatch.Errorf(op, tracewatch.KindConflict, "a journaled store (serve) keeps its ledger current at every commit")
	}
	err := s.writer.submit(ctx, &request{
		job: func(ctx context.Context, conn *sql.Conn) error {
			_, err := conn.ExecContext(ctx, `UPDATE ledger_state SET behind = true`)
			return err
		},
		// Only once the mark is durable do commits skip the ledger.
		then: func() { s.writer.deferLedger.Store(true) },
	})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// LedgerDeferred reports whether sale_codes and the ledger lag behind the facts.
func (s *Store) LedgerDeferred() bool { return s.writer.deferLedger.Load() }

// CatchUpLedger rebuilds sale_codes and the ledger from the facts if they lag behind them
// (DeferLedger, or a deferred load that stopped before its end), and makes commits keep
// them again. It returns the ledger's codes, or -1 when nothing lagged. If the rebuild
// fails, the store stays behind and the next CatchUpLedger, Close or Open tries again.
func (s *Store) CatchUpLedger(ctx context.Context) (codes int64, err error) {
	const op = "duckdb.CatchUpLedger"
	codes = -1
	err = s.writer.submit(ctx, &request{
		job: func(ctx context.Context, conn *sql.Conn) error {
			var behind bool
			if err := conn.QueryRowContext(ctx, `SELECT behind FROM ledger_state`).Scan(&behind); err != nil || !behind {
				return err
			}
			if err := rebuild(ctx, conn); err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, `UPDATE ledger_state SET behind = false`); err != nil {
				return err
			}
			return conn.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&codes)
		},
		then: func() { s.writer.deferLedger.Store(false) },
	})
	if err != nil {
		return -1, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return codes, nil
}

// StoredEvents is how many events (rows of every kind) the store holds: what a bulk load
// weighs against to decide whether to defer the ledger.
func (s *Store) StoredEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, tracewatch.E("duckdb.StoredEvents", tracewatch.KindInternal, err)
	}
	return n, nil
}
