package duckdb

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tracewatch"
)

// TestMigrationDropsMemoryKeys upgrades a store written before migration 0015 (messages,
// sale_codes and the ledger with primary keys, no key_hash): every stored row is kept,
// every message is found by the key_hash the migration computed in SQL (which must equal
// messageHash's, whatever the bytes of the key), and a replay of an old message is told
// apart from a new one.
func TestMigrationDropsMemoryKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("duckdb", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		v, _ := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if v >= 15 {
			break
		}
		body, _ := migrations.ReadFile("migrations/" + e.Name())
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, now())`, v); err != nil {
			t.Fatal(err)
		}
	}
	keys := []tracewatch.MessageKey{
		{Institution: "P36010200001", MsgID: "M1"},
		{Institution: "", MsgID: "line-7"},
		{Institution: "P|1", MsgID: "X"},
		{Institution: "P", MsgID: "1|X"},
		{Institution: "南昌市第一医院", MsgID: "消息é\uFFFD"},
		{Institution: "P36010200001", MsgID: strings.Repeat("长", 300)},
	}
	for i, k := range keys {
		if _, err := db.Exec(`INSERT INTO messages VALUES (?, '3505', ?, 'http', '2025-03-01 10:00:00', 1, 0, ?)`,
			k.MsgID, k.Institution, `{"n":`+strconv.Itoa(i)+`}`); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO sale_codes VALUES (8123456789012345, 'P1|S|S1', 'P1', '2025-03-01 10:00:00', 1, 0)`,
		`INSERT INTO ledger VALUES (8123456789012345, 1, 0, 0, 1, 0, 'P1', '2025-03-01 10:00:00', '2025-03-01 10:00:00', 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, k := range keys {
		m, err := s.Message(ctx, k.Institution, k.MsgID)
		if err != nil {
			t.Fatalf("message %q/%q after the migration: %v", k.Institution, k.MsgID, err)
		}
		if want := `{"n":` + strconv.Itoa(i) + `}`; string(m.Response) != want {
			t.Errorf("message %q/%q: response %s, want %s", k.Institution, k.MsgID, m.Response, want)
		}
	}
	var sales, ledger int
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM sale_codes), (SELECT count(*) FROM ledger)`).Scan(&sales, &ledger); err != nil {
		t.Fatal(err)
	}
	if sales != 1 || ledger != 1 {
		t.Errorf("after the migration: %d sale_codes rows, %d ledger rows; want 1 and 1", sales, ledger)
	}
	old := tracewatch.MessageRecord{MsgID: keys[4].MsgID, Infno: "3505", Institution: keys[4].Institution, Source: "http", Response: []byte(`{"again":1}`)}
	fresh := tracewatch.MessageRecord{MsgID: "M1", Infno: "3505", Institution: "P36010200002", Source: "http", Response: []byte(`{"new":1}`)}
	res, err := s.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{old, fresh}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := res.Replayed[keys[4]]; !ok || string(got) != `{"n":4}` {
		t.Errorf("replay of a message stored before the migration: Replayed = %q (%v), want its first answer", got, ok)
	}
	if _, ok := res.Replayed[fresh.Key()]; ok {
		t.Errorf("a new message (another institution's msgid M1) was taken for a replay")
	}
}
