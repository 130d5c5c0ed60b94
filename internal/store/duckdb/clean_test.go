package duckdb

import (
	"context"
	"reflect"
	"testing"

	"tracewatch"
)

// TestCleanCoversEveryText: every string field of the batch types is in the lists
// cleanBatch fixes, so a new field cannot slip past the store boundary.
func TestCleanCoversEveryText(t *testing.T) {
	const bad = "\xff\x00"
	fill := func(v reflect.Value) {
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String {
				f.SetString(v.Type().Field(i).Name + bad)
			}
		}
	}
	check := func(v reflect.Value, what string) {
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String && !clean(f.String()) {
				t.Errorf("%s.%s is not cleaned: %q", what, v.Type().Field(i).Name, f.String())
			}
		}
	}
	var m tracewatch.MessageRecord
	var e tracewatch.Event
	var c tracewatch.EventCode
	var q tracewatch.QuarantineRow
	fill(reflect.ValueOf(&m).Elem())
	fill(reflect.ValueOf(&e).Elem())
	fill(reflect.ValueOf(&c).Elem())
	fill(reflect.ValueOf(&q).Elem())
	m.Response = []byte(bad)
	e.Codes = []tracewatch.EventCode{c}
	b := &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m}, Events: []tracewatch.Event{e}, Quarantine: []tracewatch.QuarantineRow{q}}
	got := cleanBatch(b)
	check(reflect.ValueOf(got.Messages[0]), "MessageRecord")
	check(reflect.ValueOf(got.Events[0]), "Event")
	check(reflect.ValueOf(got.Events[0].Codes[0]), "EventCode")
	check(reflect.ValueOf(got.Quarantine[0]), "QuarantineRow")
	if !clean(string(got.Messages[0].Response)) {
		t.Errorf("Response not cleaned: %q", got.Messages[0].Response)
	}
	// The caller's batch is untouched, a clean batch is returned as is.
	if b.Events[0].Codes[0].Raw != "Raw"+bad || b.Messages[0].MsgID != "MsgID"+bad {
		t.Errorf("cleanBatch changed its input: %+v", b.Events[0].Codes[0])
	}
	if again := cleanBatch(got); again != got {
		t.Error("a clean batch was copied")
	}
}

// TestMigrateHostileInput: migration 0007 keeps what an earlier store held: messages
// (now keyed per institution) and quarantine rows, whose payloads move to
// quarantine_payloads once per content.
func TestMigrateHostileInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, false)
	// Take the store back to version 6 with the old tables and some rows.
	_, err := s.db.ExecContext(ctx, `
DROP TABLE messages; DROP TABLE quarantine; DROP TABLE quarantine_payloads; DROP TABLE dead_letters;
DELETE FROM schema_migrations WHERE version >= 7;
CREATE TABLE messages (msgid VARCHAR PRIMARY KEY, infno VARCHAR NOT NULL, fixmedins_code VARCHAR NOT NULL, source VARCHAR NOT NULL,
    received_at TIMESTAMP NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, response VARCHAR NOT NULL);
CREATE TABLE quarantine (id BIGINT PRIMARY KEY, msgid VARCHAR, infno VARCHAR, fixmedins_code VARCHAR, source VARCHAR NOT NULL,
    row_no INTEGER NOT NULL, field VARCHAR, reason VARCHAR NOT NULL, payload VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL, resubmitted BOOLEAN NOT NULL);
INSERT INTO messages VALUES ('M1', '3505A', 'P1', 'http', '2025-03-01 10:00:00', 1, 2, '{"infcode":"0"}');
INSERT INTO quarantine VALUES
  (1, 'M1', '3505A', 'P1', 'http', 1, 'rtal_docno', 'required', '{"msgid":"M1","x":"\x41é"}', '2025-03-01 10:00:00', false),
  (2, 'M1', '3505A', 'P1', 'http', 2, 'rtal_docno', 'required', '{"msgid":"M1","x":"\x41é"}', '2025-03-01 10:00:00', true),
  (3, NULL, NULL, NULL, 'file:x:1', 0, NULL, 'not json', '', '2025-03-01 10:00:00', false);`)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openJ(t, dir, false)
	defer s.Close()
	m, err := s.Message(ctx, "P1", "M1")
	if err != nil || m.Rejected != 2 || string(m.Response) != `{"infcode":"0"}` {
		t.Fatalf("migrated message: %+v, %v", m, err)
	}
	rows, err := s.Quarantine(ctx, tracewatch.QuarantineFilter{})
	if err != nil || len(rows) != 3 {
		t.Fatalf("migrated quarantine: %+v, %v", rows, err)
	}
	want := `{"msgid":"M1","x":"\x41é"}` // the backslash kept as text, not read as an escape
	if string(rows[0].Payload) != want || string(rows[1].Payload) != want || !rows[1].Resubmitted || len(rows[2].Payload) != 0 {
		t.Errorf("payloads %q %q %q", rows[0].Payload, rows[1].Payload, rows[2].Payload)
	}
	if n := tables(t, s)["quarantine_payloads"]; n != 1 {
		t.Errorf("%d payload rows, want 1", n)
	}
	// A new row with the same content shares the migrated payload (same hash).
	q := rows[0]
	q.MsgID = "M2"
	if _, err := s.Commit(ctx, &tracewatch.Batch{Quarantine: []tracewatch.QuarantineRow{q}}); err != nil {
		t.Fatal(err)
	}
	if n := tables(t, s)["quarantine_payloads"]; n != 1 {
		t.Errorf("%d payload rows after a row of the same content, want 1", n)
	}
	// The other institution may use M1 now.
	if _, err := s.Commit(ctx, jsale("M1", "P2", jkey(1))); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE msgid = 'M1'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("M1 stored %d times, %v", n, err)
	}
}
