package workflow

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"tracewatch"
)

var t0 = time.Date(2025, 9, 1, 9, 0, 0, 0, tracewatch.Beijing)

// spec is the transition matrix as docs/workflow.md states it, written out by hand: the
// roles (besides admin) that may take each move. Every pair of states and every role not
// listed here must be refused.
var spec = map[[2]tracewatch.ClueState][]tracewatch.Role{
	{"new", "triaged"}:              {"reviewer"},
	{"new", "dismissed"}:            {"reviewer"},
	{"triaged", "reviewed"}:         {"reviewer"},
	{"triaged", "returned"}:         {"reviewer"},
	{"triaged", "dismissed"}:        {"reviewer"},
	{"reviewed", "deliberated"}:     {"panel"},
	{"reviewed", "dispatched"}:      {"dispatcher"},
	{"reviewed", "returned"}:        {"reviewer", "panel"},
	{"reviewed", "dismissed"}:       {"reviewer"},
	{"deliberated", "dispatched"}:   {"dispatcher"},
	{"deliberated", "returned"}:     {"reviewer", "panel"},
	{"deliberated", "dismissed"}:    {"reviewer", "panel"},
	{"dispatched", "investigating"}: {"inspector"},
	{"dispatched", "appealed"}:      {"institution"},
	{"investigating", "answered"}:   {"inspector"},
	{"investigating", "appealed"}:   {"institution"},
	{"answered", "closed"}:          {"reviewer"},
	{"answered", "returned"}:        {"reviewer"},
	{"answered", "appealed"}:        {"institution"},
	{"closed", "appealed"}:          {"institution"},
	{"appealed", "closed"}:          {"reviewer"},
	{"appealed", "returned"}:        {"reviewer"},
	{"appealed", "dismissed"}:       {"reviewer"},
	{"returned", "triaged"}:         {"reviewer"},
	{"returned", "investigating"}:   {"inspector"},
	{"returned", "dismissed"}:       {"reviewer"},
}

func user(name string, role tracewatch.Role, region tracewatch.Region) tracewatch.User {
	u := tracewatch.User{Name: name, Role: role, Region: region}
	if role == tracewatch.RoleInstitution {
		u.Institution = "P36010200001"
	}
	return u
}

// clueIn is a clue in state st, as the workflow would have left it, with its steps: the
// 初审 by "tri", the 复审 by "rev", a dispatch to 360102, the feedback by "insp".
func clueIn(st tracewatch.ClueState) (tracewatch.Clue, []tracewatch.ClueStep) {
	c := tracewatch.Clue{ID: 7, Severity: tracewatch.SeveritySuspicious, Region: "360102", Institution: "P36010200001",
		AmountFen: 12_000, State: st, FirstSeen: t0.Add(-48 * time.Hour)}
	c.Flow.Since = t0.Add(-time.Hour)
	var steps []tracewatch.ClueStep
	add := func(to tracewatch.ClueState, who string) {
		steps = append(steps, tracewatch.ClueStep{ClueID: 7, To: to, Actor: who, Applied: true, Time: t0.Add(-2 * time.Hour)})
	}
	add("triaged", "tri")
	add("reviewed", "rev")
	switch st {
	case "dispatched", "investigating", "answered", "closed", "appealed":
		c.Flow.DispatchRegion = "360102"
		add("dispatched", "disp")
		add("investigating", "insp")
		add("answered", "insp")
	}
	switch st {
	case "closed", "appealed":
		add("closed", "rev2")
		c.Flow.Outcome = &tracewatch.Outcome{Result: tracewatch.OutcomeConfirmed}
	case "returned":
		c.Flow.ReturnedFrom = "triaged"
	}
	return c, steps
}

// request is a request to move to `to` carrying every field any move needs.
func request(to tracewatch.ClueState) Request {
	return Request{To: to, Note: "理由", Region: "360102", Deadline: t0.Add(30 * 24 * time.Hour),
		Outcome: &tracewatch.Outcome{Result: tracewatch.OutcomePartial, RecoveredFen: 100}}
}

// TestMatrix checks every (from, to, role): allowed exactly where spec says (and always
// for admin), 409 where no role may move, 403 where another role may.
func TestMatrix(t *testing.T) {
	if got := len(Matrix()); got != len(spec) {
		t.Errorf("the matrix has %d moves, the spec %d", got, len(spec))
	}
	// With a quorum of 1, one panel vote moves the clue: the test sees the move.
	cfg := Config{Quorum: 1}
	for _, from := range tracewatch.ClueStates {
		for _, to := range tracewatch.ClueStates {
			for _, role := range tracewatch.Roles {
				{
					c, steps := clueIn(from)
					u := user("someone", role, "360000")
					if role == tracewatch.RoleInspector {
						u.Region = "360100"
					}
					if from == tracewatch.ClueReturned && to == tracewatch.ClueInvestigating {
						c.Flow.ReturnedFrom, c.Flow.DispatchRegion = tracewatch.ClueAnswered, "360102"
					}
					dec, err := Decide(c, steps, u, request(to), cfg, t0)
					roles, edge := spec[[2]tracewatch.ClueState{from, to}]
					name := fmt.Sprintf("%s→%s by %s", from, to, role)
					switch {
					case !edge:
						if tracewatch.KindOf(err) != tracewatch.KindConflict {
							t.Errorf("%s: want a conflict (409), got %v", name, err)
						}
					case role == tracewatch.RoleAdmin || slices.Contains(roles, role):
						if err != nil {
							t.Errorf("%s: want allowed, got %v", name, err)
						} else if w := dec.Write; w.Expect != from || w.Step.To != to || !w.Step.Applied || w.Step.Actor != "someone" {
							t.Errorf("%s: wrong write %+v", name, w)
						}
					default:
						if tracewatch.KindOf(err) != tracewatch.KindForbidden {
							t.Errorf("%s: want forbidden (403), got %v", name, err)
						}
					}
				}
			}
		}
	}
}

func TestRegion(t *testing.T) {
	c, steps := clueIn("new")
	for _, tc := range []struct {
		u    tracewatch.User
		kind tracewatch.ErrorKind
	}{
		{user("a", "reviewer", "360100"), 0},                        // the clue's city
		{user("b", "reviewer", "360102"), 0},                        // its county
		{user("c", "reviewer", "360300"), tracewatch.KindForbidden}, // another city
		{user("d", "reviewer", "440000"), tracewatch.KindForbidden}, // another province
		{tracewatch.User{Name: "e", Role: "reviewer", Region: "360000", Disabled: true}, tracewatch.KindForbidden},
	} {
		_, err := Decide(c, steps, tc.u, request("triaged"), Config{}, t0)
		if (tc.kind == 0 && err != nil) || (tc.kind != 0 && tracewatch.KindOf(err) != tc.kind) {
			t.Errorf("%s of %s: got %v, want kind %v", tc.u.Role, tc.u.Region, err, tc.kind)
		}
	}
	// A clue of unknown region: the province's users, not a city's.
	c.Region = ""
	if _, err := Decide(c, steps, user("f", "reviewer", "360000"), request("triaged"), Config{}, t0); err != nil {
		t.Errorf("province reviewer, unknown region: %v", err)
	}
	if _, err := Decide(c, steps, user("g", "reviewer", "360100"), request("triaged"), Config{}, t0); tracewatch.KindOf(err) != tracewatch.KindForbidden {
		t.Errorf("city reviewer, unknown region: %v", err)
	}
	// An institution user may appeal its own clues only.
	c, steps = clueIn("closed")
	other := user("p", "institution", "360102")
	other.Institution = "P36010200002"
	if _, err := Decide(c, steps, other, request("appealed"), Config{}, t0); tracewatch.KindOf(err) != tracewatch.KindForbidden {
		t.Errorf("another institution appealed: %v", err)
	}
	if _, err := Decide(c, steps, user("q", "institution", ""), request("appealed"), Config{}, t0); err != nil {
		t.Errorf("own institution's appeal: %v", err)
	}
}

func TestOwnWork(t *testing.T) {
	for _, tc := range []struct {
		from, to tracewatch.ClueState
		who      string
	}{
		{"triaged", "reviewed", "tri"}, // 复审 by the 初审 user
		{"triaged", "returned", "tri"},
		{"reviewed", "deliberated", "rev"}, // voting on one's own 复审
		{"reviewed", "deliberated", "tri"},
		{"answered", "closed", "insp"}, // closing one's own feedback
		{"appealed", "closed", "rev2"}, // deciding the appeal of one's own closing
		{"appealed", "dismissed", "rev2"},
	} {
		c, steps := clueIn(tc.from)
		_, err := Decide(c, steps, user(tc.who, "admin", "360000"), request(tc.to), Config{}, t0)
		if tracewatch.KindOf(err) != tracewatch.KindForbidden {
			t.Errorf("%s→%s by %s (admin): want forbidden, got %v", tc.from, tc.to, tc.who, err)
		}
	}
}

func TestQuorum(t *testing.T) {
	c, steps := clueIn("reviewed")
	c.Severity = tracewatch.SeverityViolation
	cfg := Config{Quorum: 3}
	// 明确违规 cannot be dispatched before 合议.
	if _, err := Decide(c, steps, user("d", "dispatcher", "360000"), request("dispatched"), cfg, t0); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Fatalf("dispatch before 合议: %v", err)
	}
	for i, who := range []string{"p1", "p2", "p3"} {
		dec, err := Decide(c, steps, user(who, "panel", "360000"), request("deliberated"), cfg, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("vote %d: %v", i+1, err)
		}
		if want := i == 2; dec.Write.Step.Applied != want || len(dec.Votes) != i+1 || dec.Quorum != 3 || !dec.Write.Step.Vote {
			t.Fatalf("vote %d: applied %v votes %v quorum %d", i+1, dec.Write.Step.Applied, dec.Votes, dec.Quorum)
		}
		if i < 2 && dec.Write.Flow != c.Flow {
			t.Errorf("vote %d changed the flow: %+v", i+1, dec.Write.Flow)
		}
		steps = append(steps, dec.Write.Step)
		if i == 0 {
			if _, err := Decide(c, steps, user("p1", "panel", "360000"), request("deliberated"), cfg, t0); tracewatch.KindOf(err) != tracewatch.KindConflict {
				t.Errorf("a second vote by p1: %v", err)
			}
		}
	}
	// Votes cast before the clue last entered reviewed do not count.
	c.Flow.Since = t0.Add(time.Hour)
	if got := Votes(c, steps); len(got) != 0 {
		t.Errorf("old votes count: %v", got)
	}
}

func TestDeliberationThreshold(t *testing.T) {
	d := user("d", "dispatcher", "360000")
	for _, tc := range []struct {
		sev        tracewatch.Severity
		fen        tracewatch.Fen
		deliberate bool
		need       bool
	}{
		{tracewatch.SeveritySuspicious, 10_000_000, false, false},
		{tracewatch.SeverityHighlySuspicious, 1_000_000, false, false}, // 10,000 yuan: not above
		{tracewatch.SeverityHighlySuspicious, 1_000_001, false, true},
		{tracewatch.SeverityViolation, 0, false, true},
		{tracewatch.SeveritySuspicious, 0, true, true}, // asked for
	} {
		c, steps := clueIn("reviewed")
		c.Severity, c.AmountFen, c.Flow.Deliberate = tc.sev, tc.fen, tc.deliberate
		_, err := Decide(c, steps, d, request("dispatched"), Config{}, t0)
		if got := tracewatch.KindOf(err) == tracewatch.KindConflict; got != tc.need || (!tc.need && err != nil) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

func TestDispatch(t *testing.T) {
	d := user("d", "dispatcher", "360100")
	for _, tc := range []struct {
		region   tracewatch.Region
		deadline time.Time
		kind     tracewatch.ErrorKind
	}{
		{"360102", time.Time{}, 0},                      // the default deadline
		{"360100", t0.Add(time.Hour), 0},                // the city
		{"360000", time.Time{}, tracewatch.KindInvalid}, // a province
		{"360103", time.Time{}, tracewatch.KindInvalid}, // another county
		{"", time.Time{}, tracewatch.KindInvalid},
		{"36010X", time.Time{}, tracewatch.KindInvalid},
		{"360102", t0.Add(-time.Hour), tracewatch.KindInvalid}, // in the past
	} {
		c, steps := clueIn("reviewed")
		req := Request{To: "dispatched", Region: tc.region, Deadline: tc.deadline}
		dec, err := Decide(c, steps, d, req, Config{}, t0)
		if tc.kind != 0 {
			if tracewatch.KindOf(err) != tc.kind {
				t.Errorf("%s: want %v, got %v", tc.region, tc.kind, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.region, err)
			continue
		}
		want := tc.deadline
		if want.IsZero() {
			want = t0.Add(30 * 24 * time.Hour)
		}
		if f := dec.Write.Flow; f.DispatchRegion != tc.region || !f.Deadline.Equal(want) || !dec.Write.Step.Deadline.Equal(want) {
			t.Errorf("%s: flow %+v", tc.region, f)
		}
	}
	// Only inspectors of the region dispatched to may take it up.
	c, steps := clueIn("dispatched")
	for _, tc := range []struct {
		region tracewatch.Region
		ok     bool
	}{{"360102", true}, {"360100", true}, {"360000", true}, {"360300", false}} {
		u := user("i", "inspector", tc.region)
		c2 := c
		c2.Region = "360102"
		_, err := Decide(c2, steps, u, request("investigating"), Config{}, t0)
		if tc.ok != (err == nil) {
			t.Errorf("inspector of %s: %v", tc.region, err)
		}
	}
}

func TestReturned(t *testing.T) {
	c, steps := clueIn("returned")
	c.Flow.ReturnedFrom = tracewatch.ClueAnswered
	c.Flow.DispatchRegion = "360102"
	if _, err := Decide(c, steps, user("r", "reviewer", "360000"), request("triaged"), Config{}, t0); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a clue returned from feedback went back to 初审: %v", err)
	}
	if got := Allowed(c, user("i", "inspector", "360102")); !slices.Equal(got, []tracewatch.ClueState{"investigating"}) {
		t.Errorf("allowed for the inspector: %v", got)
	}
	c.Flow.ReturnedFrom = tracewatch.ClueTriaged
	if _, err := Decide(c, steps, user("i", "inspector", "360102"), request("investigating"), Config{}, t0); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a clue returned from 复审 went to 现场核查: %v", err)
	}
	// Returning, dismissing, answering and appealing need a note.
	for _, tc := range []struct {
		from, to tracewatch.ClueState
		role     tracewatch.Role
	}{{"triaged", "returned", "reviewer"}, {"new", "dismissed", "reviewer"}, {"investigating", "answered", "inspector"}, {"closed", "appealed", "institution"}} {
		c, steps := clueIn(tc.from)
		req := request(tc.to)
		req.Note = "  "
		if _, err := Decide(c, steps, user("x", tc.role, "360102"), req, Config{}, t0); tracewatch.KindOf(err) != tracewatch.KindInvalid {
			t.Errorf("%s→%s without a note: %v", tc.from, tc.to, err)
		}
	}
}

func TestOutcome(t *testing.T) {
	r := user("r", "reviewer", "360000")
	for _, tc := range []struct {
		o  *tracewatch.Outcome
		ok bool
	}{
		{nil, false},
		{&tracewatch.Outcome{Result: "maybe"}, false},
		{&tracewatch.Outcome{Result: "confirmed", RecoveredFen: -1}, false},
		{&tracewatch.Outcome{Result: "confirmed", AgreementAction: "fire"}, false},
		{&tracewatch.Outcome{Result: "confirmed", Referrals: []string{"press"}}, false},
		{&tracewatch.Outcome{Result: "dismissed", RecoveredFen: 5}, false},
		{&tracewatch.Outcome{Result: "confirmed", Points: []tracewatch.PointAward{{Practitioner: "D1", Points: 4, Responsibility: "minor"}}}, false},
		{&tracewatch.Outcome{Result: "confirmed", Points: []tracewatch.PointAward{{Practitioner: "", Points: 2, Responsibility: "minor"}}}, false},
		{&tracewatch.Outcome{Result: "confirmed", Points: []tracewatch.PointAward{{Practitioner: "D\x00\xff", Points: 2, Responsibility: "minor"}}}, false},
		{&tracewatch.Outcome{Result: "confirmed", Points: []tracewatch.PointAward{{Practitioner: "D1", Points: 1 << 40, Responsibility: "main"}}}, false},
		{&tracewatch.Outcome{Result: "confirmed", Points: []tracewatch.PointAward{{Practitioner: "D1", Points: 2, Responsibility: "minor"}, {Practitioner: "D1", Points: 2, Responsibility: "minor"}}}, false},
		{&tracewatch.Outcome{Result: "confirmed", RecoveredFen: 100, PenaltyFen: 50, AgreementAction: "rectify", Referrals: []string{"police"},
			Points: []tracewatch.PointAward{{Practitioner: "D1", Points: 9, Responsibility: "important"}}}, true},
	} {
		c, steps := clueIn("answered")
		dec, err := Decide(c, steps, r, Request{To: "closed", Outcome: tc.o}, Config{}, t0)
		if tc.ok != (err == nil) {
			t.Errorf("%+v: %v", tc.o, err)
			continue
		}
		if err == nil {
			p := dec.Write.Flow.Outcome.Points[0]
			if p.ClueID != 7 || p.Institution != "P36010200001" || !p.Time.Equal(t0) || p.Actor != "r" {
				t.Errorf("award not filled in: %+v", p)
			}
		}
	}
	// An appeal refused keeps the outcome.
	c, steps := clueIn("appealed")
	dec, err := Decide(c, steps, r, Request{To: "closed"}, Config{}, t0)
	if err != nil || dec.Write.Flow.Outcome.Result != tracewatch.OutcomeConfirmed || dec.Write.Step.Outcome != nil {
		t.Errorf("appeal refused: %+v %v", dec.Write, err)
	}
}

func TestStandings(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, tracewatch.Beijing) }
	aw := func(who string, pts int, t time.Time) tracewatch.PointAward {
		return tracewatch.PointAward{Practitioner: who, Points: pts, Time: t, Institution: "H1"}
	}
	awards := []tracewatch.PointAward{
		aw("A", 3, at(2025, 3, 1)), aw("A", 6, at(2025, 8, 1)), // 9: suspended a month from 1 Aug
		aw("B", 12, at(2025, 5, 1)),                             // 12 at once: 3 years
		aw("C", 6, at(2024, 12, 1)), aw("C", 6, at(2025, 1, 5)), // reset: 6 this year
		aw("D", 9, at(2025, 6, 1)), aw("D", 3, at(2025, 7, 1)), // 12 in steps: 1 year
	}
	got := Standings(awards, Config{}, "360000", at(2025, 8, 15))
	want := map[string]struct {
		pts    int
		status PointStatus
		until  time.Time
	}{
		"A": {9, StatusSuspended, at(2025, 9, 1)},
		"B": {12, StatusTerminated, at(2028, 5, 1)},
		"C": {6, StatusActive, time.Time{}},
		"D": {12, StatusTerminated, at(2026, 7, 1)},
	}
	for _, s := range got {
		w := want[s.Practitioner]
		if s.Points != w.pts || s.Status != w.status || !s.Until.Equal(w.until) {
			t.Errorf("%s: %d %s until %v, want %d %s until %v", s.Practitioner, s.Points, s.Status, s.Until, w.pts, w.status, w.until)
		}
	}
	// A month later A's suspension is over; the next year everyone's points reset.
	for _, s := range Standings(awards, Config{}, "360000", at(2026, 1, 2)) {
		if s.Points != 0 || (s.Practitioner == "A" && s.Status != StatusActive) || (s.Practitioner == "B" && s.Status != StatusTerminated) {
			t.Errorf("2026: %+v", s)
		}
	}
	// A province's thresholds apply.
	cfg := Config{Provinces: map[tracewatch.Region]Config{"360000": {SuspendAt: 6}}}
	for _, s := range Standings(awards, cfg, "360102", at(2025, 1, 10)) {
		if s.Practitioner == "C" && s.Status != StatusSuspended {
			t.Errorf("C with 6 points where 6 suspends: %+v", s)
		}
	}
}

func TestConfig(t *testing.T) {
	c := Config{Quorum: 3, DeadlineDays: map[tracewatch.ClueState]int{"new": 2},
		Provinces: map[tracewatch.Region]Config{"440000": {Quorum: 5, DeadlineDays: map[tracewatch.ClueState]int{"triaged": 1}}}}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	jx, gd := c.For("360102"), c.For("440300")
	if jx.Quorum != 3 || jx.DeadlineDays["new"] != 2 || jx.DeadlineDays["triaged"] != 10 || jx.TerminateAt != 12 {
		t.Errorf("360102: %+v", jx)
	}
	if gd.Quorum != 5 || gd.DeadlineDays["new"] != 2 || gd.DeadlineDays["triaged"] != 1 {
		t.Errorf("440300: %+v", gd)
	}
	for _, bad := range []Config{
		{Quorum: -1},
		{DeadlineDays: map[tracewatch.ClueState]int{"nowhere": 1}},
		{Provinces: map[tracewatch.Region]Config{"360100": {}}},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
