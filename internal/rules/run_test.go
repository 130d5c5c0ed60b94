package rules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
)

// fake is a detector that emits clues, fails or panics as told.
type fake struct {
	id    string
	clues int
	err   error
	panic bool
	ran   *[]string
}

func (f fake) Spec() rules.Spec {
	name, _, _ := strings.Cut(f.id, "@")
	return rules.Spec{Name: name, Version: 1, Title: "测试", Severity: tracewatch.SeverityNotice}
}
func (f fake) Eval(ctx context.Context, env *rules.Env, emit func(tracewatch.Clue)) error {
	*f.ran = append(*f.ran, f.id)
	for i := range f.clues {
		emit(tracewatch.Clue{Fingerprint: f.id + string(rune('a'+i)), Institution: "P36010200001", Severity: tracewatch.SeverityNotice})
	}
	if f.panic {
		panic("index out of range")
	}
	return f.err
}

// TestRunFailingDetector: a detector that fails, or panics, reports its error in its
// result and in Run's joined error, keeps none of the clues it emitted before failing,
// and the detectors after it still run.
func TestRunFailingDetector(t *testing.T) {
	var ran []string
	boom := tracewatch.Errorf("duckdb.StockPeriods", tracewatch.KindInternal, "Overflow in multiplication of INT64")
	ds := []rules.Rule{
		fake{id: "a@1", clues: 2, ran: &ran},
		fake{id: "b@1", clues: 1, err: boom, ran: &ran},
		fake{id: "c@1", clues: 1, panic: true, ran: &ran},
		fake{id: "d@1", clues: 3, ran: &ran},
	}
	env := &rules.Env{At: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), Institutions: map[string]tracewatch.Institution{}}
	res, err := rules.Run(context.Background(), env, ds, nil)
	if strings.Join(ran, ",") != "a@1,b@1,c@1,d@1" {
		t.Errorf("ran %v, want every detector", ran)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	want := []struct {
		clues int
		err   string
	}{{2, ""}, {0, "b@1: duckdb.StockPeriods: Overflow"}, {0, "c@1: rules.Run: panic: index out of range"}, {3, ""}}
	for i, w := range want {
		r := res[i]
		if rules.ID(r.Rule) != rules.ID(ds[i]) || len(r.Clues) != w.clues {
			t.Errorf("result %d: %s with %d clues, want %s with %d", i, rules.ID(r.Rule), len(r.Clues), rules.ID(ds[i]), w.clues)
		}
		switch {
		case w.err == "" && r.Err != nil:
			t.Errorf("result %d: error %v", i, r.Err)
		case w.err != "" && (r.Err == nil || !strings.HasPrefix(r.Err.Error(), w.err)):
			t.Errorf("result %d: error %v, want %q…", i, r.Err, w.err)
		}
	}
	if err == nil || !errors.Is(err, boom) || !strings.Contains(err.Error(), "c@1: ") {
		t.Errorf("Run error %v, want b@1's and c@1's joined", err)
	}
	if tracewatch.KindOf(res[2].Err) != tracewatch.KindInternal {
		t.Errorf("a panic is kind %v, want internal", tracewatch.KindOf(res[2].Err))
	}
}

// TestRunCancelled: a cancelled context stops the run with the context's error.
func TestRunCancelled(t *testing.T) {
	var ran []string
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := &rules.Env{Institutions: map[string]tracewatch.Institution{}}
	res, err := rules.Run(ctx, env, []rules.Rule{fake{id: "a@1", ran: &ran}}, nil)
	if !errors.Is(err, context.Canceled) || len(res) != 0 || len(ran) != 0 {
		t.Errorf("Run on a cancelled context: %d results, ran %v, error %v", len(res), ran, err)
	}
}
