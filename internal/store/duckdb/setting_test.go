package duckdb

import (
	"context"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// TestMigrateEventSetting: rows stored before the events had a care setting get it from
// their infno when the store migrates, and the reads that select on it (Stays) find them.
func TestMigrateEventSetting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openJ(t, dir, false)
	at := time.Date(2025, 3, 2, 10, 0, 0, 0, jcst)
	stay := tracewatch.Event{MsgID: "M1", Line: 1, Infno: "2304", Kind: tracewatch.EventSettlement, Setting: tracewatch.SettingInpatient,
		Institution: "H1", Settlement: "S1", Visit: "V1", Person: "P1", Time: at, Admitted: at.AddDate(0, 0, -3), Discharged: at,
		Amount: 100000, FundPaid: 70000}
	fee := tracewatch.Event{MsgID: "M2", Line: 1, Infno: "2204", Kind: tracewatch.EventFeeLine, Setting: tracewatch.SettingOutpatient,
		Institution: "H1", Visit: "V2", FeeLine: "F1", Person: "P1", DrugCode: "X1", Qty: tracewatch.QtyScale, Time: at}
	sale := jsale("M3", "H1", jkey(1))
	if _, err := s.Commit(ctx, &tracewatch.Batch{Events: append([]tracewatch.Event{stay, fee}, sale.Events...)}); err != nil {
		t.Fatal(err)
	}
	// Back to version 10: the column as an older store has it, without the settings.
	if _, err := s.db.ExecContext(ctx, `ALTER TABLE events DROP COLUMN setting; DELETE FROM schema_migrations WHERE version >= 11;`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openJ(t, dir, false)
	defer s.Close()
	rows, err := s.db.QueryContext(ctx, `SELECT msgid, setting FROM events ORDER BY msgid`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var m, st string
		if err := rows.Scan(&m, &st); err != nil {
			t.Fatal(err)
		}
		got[m] = st
	}
	rows.Close()
	want := map[string]string{"M1": "inpatient", "M2": "outpatient", "M3": ""}
	for m, st := range want {
		if got[m] != st {
			t.Errorf("%s: setting %q, want %q", m, got[m], st)
		}
	}
	var stays []facts.Stay
	if err := s.Stays(ctx, facts.StayQuery{}, func(a facts.Stay) error { stays = append(stays, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stays) != 1 || stays[0].Settlement != "S1" {
		t.Errorf("stays after the migration: %+v", stays)
	}
}
