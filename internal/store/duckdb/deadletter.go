package duckdb

// Dead letters: a journal record or a committed message that cannot be stored on its
// own — while the store takes other writes — is set aside instead of stopping every
// record behind it: its bytes and the error go to the dead_letters table, the
// quarantine lists each of its messages with the reason "could not be stored: …", and
// (for a journal record) the applied position moves past it, in one transaction. If
// even that transaction fails, the record goes to a file under journal/dead/ and only
// the position moves. A failure of every write (disk full, store closed) is not a dead
// letter: the dead letter's own write fails too, and the caller retries.

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tracewatch"
)

// deadDirName is the directory, under the journal directory, of the dead letters that
// could not be written to the dead_letters table.
const deadDirName = "dead"

// deadLetter is a record to set aside.
type deadLetter struct {
	batch  *tracewatch.Batch // nil when the record could not even be decoded
	record []byte            // the record's bytes when batch is nil
	source string            // where an undecodable record was, e.g. "journal:3:4096"
	cause  error
}

// causeText is the innermost message of err: the reason without our operations' names.
func causeText(err error) string {
	for {
		var e *tracewatch.Error
		if !errors.As(err, &e) || e.Err == nil {
			break
		}
		err = e.Err
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// inTx runs f in a transaction of the writer's connection.
func (w *writer) inTx(ctx context.Context, f func() error) error {
	if w.failWrites.Load() {
		return errors.New("injected failure of every write")
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	if err := f(); err != nil {
		w.rollback()
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.rollback()
		return err
	}
	return nil
}

func (w *writer) setJournalPos(ctx context.Context, jpos *journalPos) error {
	if jpos == nil {
		return nil
	}
	_, err := w.conn.ExecContext(ctx, `UPDATE journal_state SET gen = ?, off = ?`, jpos.gen, jpos.off)
	return err
}

// setAside stores d as a dead letter (and, with jpos, moves the applied journal
// position past it). It fails only when neither the table nor the file took it.
func (w *writer) setAside(d *deadLetter, jpos *journalPos) error {
	const op = "duckdb.setAside"
	ctx := context.Background()
	rec := d.record
	if d.batch != nil {
		var err error
		if rec, err = encodeBatch(d.batch); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
	}
	reason := text("could not be stored: " + causeText(d.cause))
	now := time.Now().UTC()
	var gen, off driver.Value
	if jpos != nil {
		gen, off = jpos.gen, jpos.off
	}
	err := w.inTx(ctx, func() error {
		if w.failDead.Load() {
			return errors.New("injected failure writing a dead letter")
		}
		if _, err := w.conn.ExecContext(ctx, `INSERT INTO dead_letters SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ? FROM dead_letters`,
			gen, off, rec, reason, now); err != nil {
			return err
		}
		if err := w.storeQuarantine(ctx, deadRows(d, reason, now)); err != nil {
			return err
		}
		return w.setJournalPos(ctx, jpos)
	})
	if err == nil {
		return nil
	}
	if w.deadDir == "" {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	name := fmt.Sprintf("direct-%d.json", now.UnixNano())
	if jpos != nil {
		name = fmt.Sprintf("%016d-%016d.json", jpos.gen, jpos.off)
	}
	path, ferr := writeDeadFile(w.deadDir, name, deadFile{Error: reason, Gen: gen, Off: off, Record: rec, Table: err.Error()})
	if ferr != nil {
		return tracewatch.E(op, tracewatch.KindInternal, errors.Join(err, ferr))
	}
	if jerr := w.inTx(ctx, func() error { return w.setJournalPos(ctx, jpos) }); jerr != nil {
		os.Remove(path) // the record stays in the journal, to be tried again
		return tracewatch.E(op, tracewatch.KindInternal, errors.Join(err, jerr))
	}
	return nil
}

// deadFile is a dead letter kept as a file.
type deadFile struct {
	Error  string       `json:"error"`
	Gen    driver.Value `json:"gen"`
	Off    driver.Value `json:"off"`
	Record []byte       `json:"record"` // base64 of the record (a journal record's JSON)
	Table  string       `json:"table_error"`
}

// writeDeadFile writes f durably as dir/name.
func writeDeadFile(dir, name string, f deadFile) (string, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, syncDir(dir)
}

// deadFiles counts the dead letters kept as files.
func deadFiles(dir string) (int64, error) {
	if dir == "" {
		return 0, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n, nil
}

// deadRows are the quarantine rows that list a dead letter: one per message (or, for
// rows of no message, per msgid of its rows), with the message's payload when the
// record holds it; one for an undecodable record, its bytes as the payload.
func deadRows(d *deadLetter, reason string, now time.Time) []tracewatch.QuarantineRow {
	var out []tracewatch.QuarantineRow
	if d.batch == nil {
		out = append(out, tracewatch.QuarantineRow{Source: d.source, Reason: reason, Payload: d.record, Received: now})
	} else {
		b := d.batch
		payload := map[tracewatch.MessageKey][]byte{}
		for _, q := range b.Quarantine {
			k := tracewatch.MessageKey{Institution: q.Institution, MsgID: q.MsgID}
			if _, ok := payload[k]; !ok && len(q.Payload) > 0 {
				payload[k] = q.Payload
			}
		}
		seen := map[tracewatch.MessageKey]bool{}
		add := func(k tracewatch.MessageKey, infno, source string, received time.Time) {
			if seen[k] {
				return
			}
			seen[k] = true
			if received.IsZero() {
				received = now
			}
			out = append(out, tracewatch.QuarantineRow{MsgID: k.MsgID, Infno: infno, Institution: k.Institution, Source: source,
				Reason: reason, Payload: payload[k], Received: received})
		}
		for _, m := range b.Messages {
			add(m.Key(), m.Infno, m.Source, m.Received)
		}
		for _, q := range b.Quarantine {
			add(tracewatch.MessageKey{Institution: q.Institution, MsgID: q.MsgID}, q.Infno, q.Source, q.Received)
		}
		for _, e := range b.Events {
			add(tracewatch.MessageKey{Institution: e.Institution, MsgID: e.MsgID}, e.Infno, "journal", time.Time{})
		}
	}
	for i := range out {
		ts := quarantineTexts(&out[i])
		fixAll(ts[:])
		if out[i].Source == "" {
			out[i].Source = "journal"
		}
	}
	return out
}

// DeadLetters implements tracewatch.Store: the records set aside, in the dead_letters
// table and (when even that failed) as files under journal/dead/.
func (s *Store) DeadLetters(ctx context.Context) (int64, error) {
	const op = "duckdb.DeadLetters"
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM dead_letters`).Scan(&n); err != nil {
		return 0, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	f, err := deadFiles(s.writer.deadDir)
	if err != nil {
		return n, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return n + f, nil
}
