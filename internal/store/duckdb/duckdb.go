// Package duckdb is tracewatch's embedded default store: one DuckDB file under the data
// directory, migrations embedded, bulk loads through the Appender, one writer goroutine
// that commits every queued batch in one transaction (group commit), concurrent readers.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	duckdbdrv "github.com/duckdb/duckdb-go/v2"

	"tracewatch"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file inside the data directory.
const FileName = "tracewatch.duckdb"

// Store is the DuckDB store. It satisfies tracewatch.Store.
type Store struct {
	db      *sql.DB
	writer  *writer
	journal *journal // with Options.Journal: Commit acknowledges from it
	once    sync.Once
}

var _ tracewatch.Store = (*Store)(nil)

// Options tune the store; the zero value is fine.
type Options struct {
	// MemoryLimit caps DuckDB's memory, e.g. "4GB" (DuckDB's own default otherwise).
	MemoryLimit string
	// Threads caps DuckDB's worker threads (0: one per core).
	Threads int
	// Journal makes Commit acknowledge a batch once it is appended and fsync'd to the
	// data directory's journal, and apply it to DuckDB in the background in large
	// transactions (docs/adr/0003-write-path.md): for the many small commits of a
	// server. Reads still see every acknowledged batch. Whatever the option, Open
	// applies a journal left by an earlier process. Ignored for an in-memory store.
	Journal bool
}

// Open opens (creating if needed) the store in dir and applies pending migrations.
// dir == "" opens a private in-memory database, for tests.
func Open(ctx context.Context, dir string, o Options) (*Store, error) {
	const op = "duckdb.Open"
	path := ""
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		path = filepath.Join(dir, FileName)
	}
	conn, err := duckdbdrv.NewConnector(path, func(ex driver.ExecerContext) error {
		// Checkpoint (fold the WAL into the file) every 256 MB of WAL instead of 16 MB:
		// commits stay durable (the WAL is synced at COMMIT), bulk loads stop paying a
		// checkpoint every few batches.
		threshold := "256MB"
		if o.Journal {
			// A server: the applier's transactions are large already, and every MB of WAL
			// not yet folded into the file is replayed by the next Open after a crash
			// (a restart after SIGKILL took 17 s with 256 MB; docs/BENCHMARKS.md, soak).
			threshold = "16MB"
		}
		stmts := []string{"SET checkpoint_threshold = '" + threshold + "'"}
		if o.MemoryLimit != "" {
			stmts = append(stmts, "SET memory_limit = '"+strings.ReplaceAll(o.MemoryLimit, "'", "")+"'")
		}
		if o.Threads > 0 {
			stmts = append(stmts, "SET threads = "+strconv.Itoa(o.Threads))
		}
		for _, s := range stmts {
			if _, err := ex.ExecContext(context.Background(), s, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), "Could not set lock on file") { // DuckDB says nothing more specific
			return nil, tracewatch.Errorf(op, tracewatch.KindConflict, "%s is open in another process (a running tracewatch serve?): stop it, or send the work to it with --server URL", path)
		}
		return nil, tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("open %s: %w", path, err))
	}
	db := sql.OpenDB(conn)
	if path == "" {
		// An in-memory database lives as long as its connections: keep one open.
		db.SetMaxIdleConns(4)
		db.SetConnMaxLifetime(0)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	deadDir := ""
	if dir != "" {
		deadDir = filepath.Join(dir, journalDir, deadDirName)
	}
	w, err := newWriter(ctx, db, deadDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.writer = w
	// A bulk load that deferred the ledger and stopped before its end left it behind the
	// facts: bring it up to date before anything reads it (deferred.go).
	if _, err := s.CatchUpLedger(ctx); err != nil {
		w.close()
		db.Close()
		return nil, err
	}
	if dir != "" {
		lastGen, _, err := s.replayJournal(ctx, dir)
		if err != nil {
			w.close()
			db.Close()
			return nil, err
		}
		if o.Journal {
			if s.journal, err = s.openJournal(dir, lastGen); err != nil {
				w.close()
				db.Close()
				return nil, err
			}
			w.beforeJob = s.journal.await
		}
	}
	return s, nil
}

// Close stops the writer (after the queued batches) and closes the database.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		if s.journal != nil {
			s.journal.close() // applies everything acknowledged
		}
		if s.writer.deferLedger.Load() {
			_, err = s.CatchUpLedger(context.Background())
		}
		s.writer.close()
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	const op = "duckdb.migrate"
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	applied := map[int]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		applied[v] = true
	}
	rows.Close()
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || applied[v] {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("migration %s: %w", e.Name(), err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, now())`, v); err != nil {
			tx.Rollback()
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if err := tx.Commit(); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
	}
	return nil
}

// notFound maps sql.ErrNoRows to a KindNotFound error.
func notFound(op, what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return tracewatch.Errorf(op, tracewatch.KindNotFound, "%s not found", what)
	}
	return tracewatch.E(op, tracewatch.KindInternal, err)
}

// withAppender runs f with an appender on table, on conn, inside whatever transaction
// conn has open. catalog is "" for the database, "temp" for a temporary table. f must not
// use conn: the connection is held until f returns.
func withAppender(conn *sql.Conn, catalog, table string, f func(a *duckdbdrv.Appender) error) error {
	return withAppenders(conn, []string{catalog, table}, func(as []*duckdbdrv.Appender) error { return f(as[0]) })
}

// withAppenders is withAppender for several tables at once: targets holds catalog,
// table pairs.
func withAppenders(conn *sql.Conn, targets []string, f func(as []*duckdbdrv.Appender) error) error {
	return conn.Raw(func(dc any) error {
		var as []*duckdbdrv.Appender
		closeAll := func() error {
			var first error
			for _, a := range as {
				if err := a.Close(); err != nil && first == nil {
					first = err
				}
			}
			return first
		}
		for i := 0; i < len(targets); i += 2 {
			schema := ""
			if targets[i] != "" {
				schema = "main"
			}
			a, err := duckdbdrv.NewAppender(dc.(driver.Conn), targets[i], schema, targets[i+1])
			if err != nil {
				closeAll()
				return err
			}
			as = append(as, a)
		}
		if err := f(as); err != nil {
			closeAll()
			return err
		}
		return closeAll()
	})
}

// inChunk is how many values one IN list of inLists holds.
const inChunk = 500

// inLists calls fn once per run of at most inChunk of vals, with the placeholders of an
// IN list ("?, ?, …") and the run as query arguments.
func inLists[T any](vals []T, fn func(list string, args []any) error) error {
	for len(vals) > 0 {
		chunk := vals[:min(len(vals), inChunk)]
		vals = vals[len(chunk):]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		if err := fn("?"+strings.Repeat(", ?", len(chunk)-1), args); err != nil {
			return err
		}
	}
	return nil
}

// inboundChangeList is tracewatch.InboundChanges as an SQL list of string literals, for
// `change_type IN (…)`: the one list every inbound read uses.
var inboundChangeList = sqlStrings(tracewatch.InboundChanges)

// outboundChangeList is tracewatch.OutboundChanges as an SQL list.
var outboundChangeList = sqlStrings(tracewatch.OutboundChanges)

// inpatient and outpatient are the care settings (tracewatch.Setting) as SQL literals.
var (
	inpatient  = sqlStrings([]string{string(tracewatch.SettingInpatient)})
	outpatient = sqlStrings([]string{string(tracewatch.SettingOutpatient)})
)

// sqlStrings writes constant strings (codes of the domain, never input) as SQL literals.
func sqlStrings(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}
