package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// testInsuredLinesModes: InsuredLines reads the same lines, in the same order, whether it
// looks the person up or not (NoPerson: an empty Person, the lines of unknown persons
// too unless KnownPerson) and whether it hands over an entry per line or the same one
// (Transient).
func testInsuredLinesModes(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	r := factReader(t, s)
	loadReference(t, s)
	must(t, s.UpsertPersons(ctx, []tracewatch.Person{{PsnNo: "P1", Gender: "2", Birth: time.Date(1960, 5, 1, 0, 0, 0, 0, time.UTC)}}))
	known := sale(2, 10, "R1", "S1", codeA)
	unknown := sale(3, 11, "R2", "", codeB)
	unknown.Person = "P9"
	m1, e1 := msg("I-1", "3505", instP, known)
	m2, e2 := msg("I-2", "3505", instQ, unknown)
	commit(t, s, append(m1, m2...), append(e1, e2...))

	type read struct {
		lines   []tracewatch.TimelineEntry
		persons []tracewatch.Person
	}
	get := func(q facts.LineQuery) read {
		t.Helper()
		var out read
		must(t, r.InsuredLines(ctx, q, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
			out.lines = append(out.lines, *l)
			out.persons = append(out.persons, p)
			return nil
		}))
		return out
	}
	all := get(facts.LineQuery{})
	if len(all.lines) != 2 || all.persons[0].PsnNo != "P1" || all.persons[0].Gender != "2" || all.persons[1].PsnNo != "" {
		t.Fatalf("InsuredLines = %d lines, persons %+v", len(all.lines), all.persons)
	}
	for _, q := range []facts.LineQuery{{NoPerson: true}, {Transient: true}, {NoPerson: true, Transient: true}} {
		got := get(q)
		if !reflect.DeepEqual(got.lines, all.lines) {
			t.Errorf("%+v: lines\n%+v\nwant\n%+v", q, got.lines, all.lines)
		}
		for i, p := range got.persons {
			if want := all.persons[i]; q.NoPerson && !reflect.DeepEqual(p, tracewatch.Person{}) || !q.NoPerson && !reflect.DeepEqual(p, want) {
				t.Errorf("%+v: person %d = %+v", q, i, p)
			}
		}
	}
	got := get(facts.LineQuery{KnownPerson: true, NoPerson: true})
	if len(got.lines) != 1 || !reflect.DeepEqual(got.lines[0], all.lines[0]) || got.persons[0].PsnNo != "P1" {
		t.Errorf("KnownPerson and NoPerson: %d lines, persons %+v", len(got.lines), got.persons)
	}
}
