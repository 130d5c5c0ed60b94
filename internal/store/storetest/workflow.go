package storetest

import (
	"context"
	"testing"
	"time"

	"tracewatch"
)

// testWorkflow: steps move clues atomically and only from the state expected; a vote that
// is not applied moves nothing; a screening that finds a clue again keeps its state and
// flow; steps, points, attachments and cases read back as written; the filters by state,
// deadline and case select what they say.
func testWorkflow(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	t1 := at(1, 9, 0)
	mk := func(fp, inst, region string) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: "trace.duplicate@1", Rule: "same_city", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectCode, SubjectID: fp, Region: tracewatch.Region(region), Institution: inst, AmountFen: 100,
			Codes: []string{"K" + fp}, Explanation: "说明"}
	}
	clues := []tracewatch.Clue{mk("a", instP, "360102"), mk("b", instP, "360102"), mk("c", instQ, "360103")}
	_, err := s.PutClues(ctx, clues, t1)
	must(t, err)
	all, err := s.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	must(t, err)
	id := map[string]int64{}
	for _, c := range all {
		id[c.Fingerprint] = c.ID
		if c.State != tracewatch.ClueNew || !c.Flow.Since.Equal(t1) || !c.Flow.Deadline.IsZero() || c.Flow.Outcome != nil {
			t.Fatalf("fresh clue %s: %s %+v", c.Fingerprint, c.State, c.Flow)
		}
	}
	step := func(fp string, from, to tracewatch.ClueState, who string, at time.Time) tracewatch.StepWrite {
		return tracewatch.StepWrite{Expect: from, Step: tracewatch.ClueStep{ClueID: id[fp], From: from, To: to, Actor: who,
			Role: tracewatch.RoleReviewer, Time: at, Note: "初审通过", Applied: true, Deadline: at.Add(240 * time.Hour)},
			Flow: tracewatch.ClueFlow{Since: at, Deadline: at.Add(240 * time.Hour)}}
	}
	t2 := t1.Add(time.Hour)
	must(t, s.ApplySteps(ctx, []tracewatch.StepWrite{step("a", "new", "triaged", "r1", t2), step("b", "new", "triaged", "r1", t2)}))
	// All or none: b is no longer new, so a does not move either.
	t3 := t2.Add(time.Hour)
	err = s.ApplySteps(ctx, []tracewatch.StepWrite{step("a", "triaged", "reviewed", "r2", t3), step("b", "new", "triaged", "r2", t3)})
	if tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Fatalf("a step from a state the clue left: %v", err)
	}
	c, err := s.Clue(ctx, id["a"])
	must(t, err)
	if c.State != tracewatch.ClueTriaged || !c.Flow.Since.Equal(t2) || !c.Flow.Deadline.Equal(t2.Add(240*time.Hour)) {
		t.Errorf("after a refused group, clue a: %s %+v", c.State, c.Flow)
	}
	if steps, err := s.ClueSteps(ctx, id["a"]); err != nil || len(steps) != 1 || steps[0].Actor != "r1" || steps[0].Note != "初审通过" ||
		!steps[0].Time.Equal(t2) || !steps[0].Applied || steps[0].From != "new" || steps[0].To != "triaged" {
		t.Errorf("steps of a: %+v %v", steps, err)
	}
	if err := s.ApplySteps(ctx, []tracewatch.StepWrite{step("zzz", "new", "triaged", "r1", t2)}); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("a step of no clue: %v", err)
	}
	// A vote not applied records the step and moves nothing.
	vote := step("a", "triaged", "deliberated", "p1", t3)
	vote.Step.Vote, vote.Step.Applied = true, false
	must(t, s.ApplySteps(ctx, []tracewatch.StepWrite{vote}))
	if c, _ := s.Clue(ctx, id["a"]); c.State != tracewatch.ClueTriaged || !c.Flow.Since.Equal(t2) {
		t.Errorf("a vote moved the clue: %s %+v", c.State, c.Flow)
	}
	// Closing with an outcome records the points.
	closing := step("c", "new", "closed", "r3", t3)
	o := &tracewatch.Outcome{Result: tracewatch.OutcomeConfirmed, RecoveredFen: 5000, PenaltyFen: 1000, AgreementAction: "rectify",
		Points: []tracewatch.PointAward{{Practitioner: "D001", Institution: instQ, Points: 6, Responsibility: "general", ClueID: id["c"], Time: t3, Actor: "r3"},
			{Practitioner: "D002", Institution: instQ, Points: 2, Responsibility: "minor", ClueID: id["c"], Time: t3, Actor: "r3"}}}
	closing.Step.Outcome, closing.Flow.Outcome, closing.Flow.DispatchRegion, closing.Flow.Deadline, closing.Step.Deadline = o, o, "360103", time.Time{}, time.Time{}
	must(t, s.ApplySteps(ctx, []tracewatch.StepWrite{closing}))
	c, err = s.Clue(ctx, id["c"])
	must(t, err)
	if c.State != tracewatch.ClueClosed || c.Flow.Outcome == nil || c.Flow.Outcome.RecoveredFen != 5000 || len(c.Flow.Outcome.Points) != 2 ||
		c.Flow.DispatchRegion != "360103" || !c.Flow.Deadline.IsZero() {
		t.Errorf("closed clue: %s %+v", c.State, c.Flow)
	}
	pts, err := s.Points(ctx, tracewatch.PointFilter{Practitioner: "D001"})
	must(t, err)
	if len(pts) != 1 || pts[0].Points != 6 || pts[0].Institution != instQ || pts[0].ClueID != id["c"] || !pts[0].Time.Equal(t3) || pts[0].Responsibility != "general" {
		t.Errorf("points of D001: %+v", pts)
	}
	if pts, _ := s.Points(ctx, tracewatch.PointFilter{Institution: instQ}); len(pts) != 2 {
		t.Errorf("points at %s: %+v", instQ, pts)
	}
	if pts, _ := s.Points(ctx, tracewatch.PointFilter{Since: t3.Add(time.Second)}); len(pts) != 0 {
		t.Errorf("points since later: %+v", pts)
	}
	// A screening that finds the clues again changes their evidence, never their workflow.
	again := mk("a", instP, "360102")
	again.Severity, again.Explanation = tracewatch.SeverityViolation, "再次发现"
	_, err = s.PutClues(ctx, []tracewatch.Clue{again, mk("c", instQ, "360103")}, t3.Add(time.Hour))
	must(t, err)
	if c, _ := s.Clue(ctx, id["a"]); c.State != tracewatch.ClueTriaged || c.Explanation != "再次发现" || !c.Flow.Since.Equal(t2) {
		t.Errorf("re-screened a: %s %q %+v", c.State, c.Explanation, c.Flow)
	}
	if c, _ := s.Clue(ctx, id["c"]); c.State != tracewatch.ClueClosed || c.Flow.Outcome == nil {
		t.Errorf("re-screened c: %s %+v", c.State, c.Flow)
	}
	// Summaries: the closed clue's outcome counts as recovered and penalty, by state.
	groups, err := s.ClueGroups(ctx, tracewatch.ClueFilter{Limit: -1}, tracewatch.ByState)
	must(t, err)
	var total, closedN int64
	for _, g := range groups {
		total += g.Clues
		if g.State == tracewatch.ClueClosed {
			closedN = g.Clues
			if g.RecoveredFen != 5000 || g.PenaltyFen != 1000 || g.Detector != "" || g.Region != "" {
				t.Errorf("closed group: %+v", g)
			}
		} else if g.RecoveredFen != 0 {
			t.Errorf("group %s recovered %d", g.State, g.RecoveredFen)
		}
	}
	if closedN != 1 || total != int64(len(id)) {
		t.Errorf("groups by state: %+v", groups)
	}
	if g, err := s.ClueGroups(ctx, tracewatch.ClueFilter{Institution: instQ}, tracewatch.ByInstitution|tracewatch.ByRegion); err != nil ||
		len(g) != 1 || g[0].Institution != instQ || g[0].Region != "360103" || g[0].State != "" {
		t.Errorf("groups of %s: %+v %v", instQ, g, err)
	}
	// Orders and offsets: newest first pages from the end.
	newest, err := s.Clues(ctx, tracewatch.ClueFilter{Order: tracewatch.OrderNewest, Limit: 2})
	must(t, err)
	rest, err := s.Clues(ctx, tracewatch.ClueFilter{Order: tracewatch.OrderNewest, Limit: -1, Offset: 2})
	must(t, err)
	if len(newest) != 2 || newest[0].ID < newest[1].ID || len(newest)+len(rest) != len(id) || (len(rest) > 0 && rest[0].ID > newest[1].ID) {
		t.Errorf("newest pages: %d then %d", len(newest), len(rest))
	}
	if _, err := s.Clues(ctx, tracewatch.ClueFilter{Order: "sideways"}); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("an unknown order: %v", err)
	}
	// Filters: by state, overdue, case.
	if cs, _ := s.Clues(ctx, tracewatch.ClueFilter{States: []tracewatch.ClueState{"triaged", "closed"}, Limit: -1}); len(cs) != 3 {
		t.Errorf("triaged or closed: %d clues", len(cs))
	}
	if n, err := s.ClueStates(ctx, tracewatch.ClueFilter{Region: "360100"}); err != nil || len(n) != 2 || n["triaged"] != 2 || n["closed"] != 1 {
		t.Errorf("states in 360100: %v %v", n, err)
	}
	late := t2.Add(241 * time.Hour)
	if cs, _ := s.Clues(ctx, tracewatch.ClueFilter{DueBefore: late, Limit: -1}); len(cs) != 2 {
		t.Errorf("overdue at %v: %d clues, want a and b", late, len(cs))
	}
	if cs, _ := s.Clues(ctx, tracewatch.ClueFilter{DueBefore: t2, Limit: -1}); len(cs) != 0 {
		t.Errorf("overdue at %v: %d clues", t2, len(cs))
	}
	cs, err := s.PutCase(ctx, tracewatch.Case{Institution: instP, Region: "360102", From: t1, To: t3, Title: "案件", Clues: []int64{id["a"], id["b"]}, Actor: "r1", Created: t3})
	must(t, err)
	got, err := s.Case(ctx, cs.ID)
	must(t, err)
	if got.ID == 0 || len(got.Clues) != 2 || got.Institution != instP || got.Title != "案件" || !got.From.Equal(t1) {
		t.Errorf("case: %+v", got)
	}
	if cl, _ := s.Clues(ctx, tracewatch.ClueFilter{CaseID: cs.ID, Limit: -1}); len(cl) != 2 || cl[0].Flow.CaseID != cs.ID || cl[0].State != tracewatch.ClueTriaged {
		t.Errorf("clues of the case: %+v", cl)
	}
	if _, err := s.PutCase(ctx, tracewatch.Case{Institution: instP, Clues: []int64{id["b"]}, Created: t3}); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a clue in two cases: %v", err)
	}
	if _, err := s.Case(ctx, 999); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("no case: %v", err)
	}
	// Attachments.
	a, err := s.PutAttachment(ctx, tracewatch.Attachment{ClueID: id["a"], Name: "核查记录.pdf", ContentType: "application/pdf", Size: 3, SHA256: "abc", Actor: "i1", Time: t3})
	must(t, err)
	if as, err := s.Attachments(ctx, id["a"]); err != nil || len(as) != 1 || as[0] != a || a.ID == 0 {
		t.Errorf("attachments: %+v %v", as, err)
	}
	if _, err := s.PutAttachment(ctx, tracewatch.Attachment{ClueID: 999, Time: t3}); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("attachment of no clue: %v", err)
	}
}
