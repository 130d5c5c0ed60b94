// Package workflow decides what may happen to a clue: the states of the clue workflow,
// who may move a clue from one to another (role × region × own work), 合议 by quorum,
// deadlines, outcomes and practitioner points (驾照式记分). It keeps nothing: a store
// records the steps it decides (tracewatch.WorkflowStore), and every refusal is an
// error of kind Forbidden (role, region, own work), Conflict (the state does not allow
// it) or Invalid (a field missing or wrong). docs/workflow.md has the matrix.
package workflow

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tracewatch"
)

// S is short for the state type in the matrix below.
type S = tracewatch.ClueState

// edge is one transition of the matrix and the roles that may take it (admin may take
// every edge; it is never listed).
type edge struct {
	from, to S
	roles    []tracewatch.Role
}

// Matrix is the transition matrix: every allowed move and who may make it.
var matrix = []edge{
	{tracewatch.ClueNew, tracewatch.ClueTriaged, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueNew, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueTriaged, tracewatch.ClueReviewed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueTriaged, tracewatch.ClueReturned, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueTriaged, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueReviewed, tracewatch.ClueDeliberated, roles(tracewatch.RolePanel)},
	{tracewatch.ClueReviewed, tracewatch.ClueDispatched, roles(tracewatch.RoleDispatcher)},
	{tracewatch.ClueReviewed, tracewatch.ClueReturned, roles(tracewatch.RoleReviewer, tracewatch.RolePanel)},
	{tracewatch.ClueReviewed, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueDeliberated, tracewatch.ClueDispatched, roles(tracewatch.RoleDispatcher)},
	{tracewatch.ClueDeliberated, tracewatch.ClueReturned, roles(tracewatch.RoleReviewer, tracewatch.RolePanel)},
	{tracewatch.ClueDeliberated, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer, tracewatch.RolePanel)},
	{tracewatch.ClueDispatched, tracewatch.ClueInvestigating, roles(tracewatch.RoleInspector)},
	{tracewatch.ClueDispatched, tracewatch.ClueAppealed, roles(tracewatch.RoleInstitution)},
	{tracewatch.ClueInvestigating, tracewatch.ClueAnswered, roles(tracewatch.RoleInspector)},
	{tracewatch.ClueInvestigating, tracewatch.ClueAppealed, roles(tracewatch.RoleInstitution)},
	{tracewatch.ClueAnswered, tracewatch.ClueClosed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueAnswered, tracewatch.ClueReturned, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueAnswered, tracewatch.ClueAppealed, roles(tracewatch.RoleInstitution)},
	{tracewatch.ClueClosed, tracewatch.ClueAppealed, roles(tracewatch.RoleInstitution)},
	{tracewatch.ClueAppealed, tracewatch.ClueClosed, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueAppealed, tracewatch.ClueReturned, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueAppealed, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer)},
	// A returned clue goes back to the work asked for: 初审 before dispatch, 现场核查 after
	// (Decide checks which one applies).
	{tracewatch.ClueReturned, tracewatch.ClueTriaged, roles(tracewatch.RoleReviewer)},
	{tracewatch.ClueReturned, tracewatch.ClueInvestigating, roles(tracewatch.RoleInspector)},
	{tracewatch.ClueReturned, tracewatch.ClueDismissed, roles(tracewatch.RoleReviewer)},
}

func roles(r ...tracewatch.Role) []tracewatch.Role { return r }

// Edge is one allowed transition and the roles that may take it, for documentation
// and the matrix test.
type Edge struct {
	From, To tracewatch.ClueState
	Roles    []tracewatch.Role // admin is implied
}

// Matrix returns the transition matrix.
func Matrix() []Edge {
	out := make([]Edge, len(matrix))
	for i, e := range matrix {
		out[i] = Edge{e.from, e.to, slices.Clone(e.roles)}
	}
	return out
}

func find(from, to S) (edge, bool) {
	for _, e := range matrix {
		if e.from == from && e.to == to {
			return e, true
		}
	}
	return edge{}, false
}

// Request is what a user asks: move the clue to To.
type Request struct {
	To         tracewatch.ClueState
	Note       string
	Region     tracewatch.Region   // dispatched: the city or county dispatched to
	Deadline   time.Time           // dispatched: when feedback is due (zero: the configured default)
	Deliberate bool                // ask for 合议 (on the way to reviewed, or at any step before dispatch)
	Outcome    *tracewatch.Outcome // closed: the outcome (on an appeal, zero keeps the outcome)
	Remote     string              // the client address, for the record
}

// Decision is what Decide allows: the step to record with the clue's new flow, and for
// a panel vote the votes so far.
type Decision struct {
	Write  tracewatch.StepWrite
	Votes  []string // panel users who voted for 合议, this vote included
	Quorum int
}

// Decide checks a request against the clue, its steps so far, the user and the
// configuration at now, and returns the step to record. It refuses with KindForbidden
// (the user's region or role, or approving its own work), KindConflict (the clue's state
// does not allow it, or a vote cast twice) or KindInvalid (a field the step needs).
func Decide(c tracewatch.Clue, steps []tracewatch.ClueStep, u tracewatch.User, req Request, cfg Config, now time.Time) (Decision, error) {
	const op = "workflow.Decide"
	cfg = cfg.For(c.Region)
	if u.Disabled {
		return Decision{}, tracewatch.Errorf(op, tracewatch.KindForbidden, "user %s is disabled", u.Name)
	}
	if !u.Sees(c) {
		if u.Role == tracewatch.RoleInstitution {
			return Decision{}, tracewatch.Errorf(op, tracewatch.KindForbidden, "clue %d is not about institution %s", c.ID, u.Institution)
		}
		return Decision{}, tracewatch.Errorf(op, tracewatch.KindForbidden, "clue %d (region %s) is outside %s's region %s", c.ID, regionName(c.Region), u.Name, regionName(u.Region))
	}
	from := c.State
	if from == "" {
		from = tracewatch.ClueNew
	}
	e, ok := find(from, req.To)
	if !ok {
		return Decision{}, tracewatch.Errorf(op, tracewatch.KindConflict, "a clue in %s (%s) cannot move to %s (%s)%s", from, from.Chinese(), req.To, req.To.Chinese(), allowedFrom(from))
	}
	if u.Role != tracewatch.RoleAdmin && !slices.Contains(e.roles, u.Role) {
		return Decision{}, tracewatch.Errorf(op, tracewatch.KindForbidden, "%s → %s is for %s, not for %s (%s)", from, req.To, roleList(e.roles), u.Role, u.Name)
	}
	flow := c.Flow
	if flow.Since.IsZero() {
		flow.Since = c.FirstSeen
	}
	step := tracewatch.ClueStep{ClueID: c.ID, From: from, To: req.To, Actor: u.Name, Role: u.Role, Time: now,
		Note: strings.TrimSpace(req.Note), Applied: true, Remote: req.Remote}
	next := flow
	next.Since, next.ReturnedFrom, next.Deadline = now, "", cfg.deadline(req.To, now)
	if req.Deliberate {
		next.Deliberate = true
	}
	own := func(states ...S) error { // refuses approving one's own work
		for _, st := range states {
			if a := lastActor(steps, st); a != "" && a == u.Name {
				return tracewatch.Errorf(op, tracewatch.KindForbidden, "%s did the %s (%s) step of clue %d and cannot also approve it", u.Name, st, st.Chinese(), c.ID)
			}
		}
		return nil
	}
	dec := Decision{}
	switch req.To {
	case tracewatch.ClueReviewed:
		if err := own(tracewatch.ClueTriaged); err != nil {
			return Decision{}, err
		}
	case tracewatch.ClueReturned:
		if from == tracewatch.ClueTriaged {
			if err := own(tracewatch.ClueTriaged); err != nil {
				return Decision{}, err
			}
		}
		if step.Note == "" {
			return Decision{}, invalid(op, "note", "say what work is asked for when returning a clue")
		}
		next.ReturnedFrom = from
	case tracewatch.ClueDismissed:
		if step.Note == "" {
			return Decision{}, invalid(op, "note", "give the reason for dismissing a clue (排除理由)")
		}
		if from == tracewatch.ClueAppealed {
			if err := own(tracewatch.ClueClosed); err != nil {
				return Decision{}, err
			}
		}
	case tracewatch.ClueDeliberated:
		if from == tracewatch.ClueReviewed {
			if err := own(tracewatch.ClueTriaged, tracewatch.ClueReviewed); err != nil {
				return Decision{}, err
			}
			votes := votesSince(steps, flow.Since)
			if slices.Contains(votes, u.Name) {
				return Decision{}, tracewatch.Errorf(op, tracewatch.KindConflict, "%s has already voted for 合议 on clue %d (votes: %s; quorum %d)", u.Name, c.ID, strings.Join(votes, ", "), cfg.Quorum)
			}
			votes = append(votes, u.Name)
			step.Vote = true
			dec.Votes, dec.Quorum = votes, cfg.Quorum
			if len(votes) < cfg.Quorum {
				step.Applied = false
				next = flow
			}
		}
	case tracewatch.ClueDispatched:
		if from == tracewatch.ClueReviewed && needsDeliberation(c, flow, cfg) {
			return Decision{}, tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d needs 合议 before 下发 (%s): a quorum of %d panel users must move it to deliberated", c.ID, deliberationReason(c, flow, cfg), cfg.Quorum)
		}
		if req.Region == "" {
			return Decision{}, invalid(op, "region", "name the city or county to dispatch to (a 6-digit code)")
		}
		r, err := tracewatch.ParseRegion(string(req.Region))
		if err != nil {
			return Decision{}, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("region")
		}
		if r.Province() == r {
			return Decision{}, invalid(op, "region", "dispatch to a city or county, not to a province ("+string(r)+")")
		}
		if c.Region != "" && !r.Contains(c.Region) {
			return Decision{}, invalid(op, "region", fmt.Sprintf("%s does not contain the clue's region %s", r, c.Region))
		}
		if !u.Covers(r) {
			return Decision{}, tracewatch.Errorf(op, tracewatch.KindForbidden, "%s is outside %s's region %s", r, u.Name, regionName(u.Region))
		}
		next.DispatchRegion = r
		if !req.Deadline.IsZero() {
			if !req.Deadline.After(now) {
				return Decision{}, invalid(op, "deadline", "the deadline "+req.Deadline.Format(time.RFC3339)+" is not in the future")
			}
			next.Deadline = req.Deadline
		}
		step.Region, step.Deadline = r, next.Deadline
	case tracewatch.ClueInvestigating:
		if from == tracewatch.ClueReturned && !dispatchedWork(flow.ReturnedFrom) {
			return Decision{}, tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d was returned from %s: it goes back to 初审 (triaged), not to 现场核查", c.ID, flow.ReturnedFrom)
		}
		if err := inDispatchRegion(op, u, flow.DispatchRegion); err != nil {
			return Decision{}, err
		}
		next.Deadline = flow.Deadline // the dispatch's deadline runs on
		if from == tracewatch.ClueReturned {
			next.Deadline = cfg.deadline(tracewatch.ClueReturned, now)
		}
	case tracewatch.ClueAnswered:
		if err := inDispatchRegion(op, u, flow.DispatchRegion); err != nil {
			return Decision{}, err
		}
		if step.Note == "" {
			return Decision{}, invalid(op, "note", "write the finding of the on-site verification (核查情况)")
		}
	case tracewatch.ClueTriaged:
		if from == tracewatch.ClueReturned && dispatchedWork(flow.ReturnedFrom) {
			return Decision{}, tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d was returned from %s: it goes back to 现场核查 (investigating), not to 初审", c.ID, flow.ReturnedFrom)
		}
	case tracewatch.ClueAppealed:
		if step.Note == "" {
			return Decision{}, invalid(op, "note", "state the grounds of the appeal (申诉理由)")
		}
		next.Deadline = cfg.deadline(tracewatch.ClueAppealed, now)
	case tracewatch.ClueClosed:
		if from == tracewatch.ClueAppealed {
			if err := own(tracewatch.ClueClosed); err != nil {
				return Decision{}, err
			}
		} else if err := own(tracewatch.ClueAnswered, tracewatch.ClueInvestigating); err != nil {
			return Decision{}, err
		}
		switch {
		case req.Outcome != nil:
			checked, err := checkOutcome(*req.Outcome, c, u, now)
			if err != nil {
				return Decision{}, err
			}
			next.Outcome, step.Outcome = &checked, &checked
		case from == tracewatch.ClueAppealed && flow.Outcome != nil:
			// The appeal is refused: the outcome stands, and nothing new is awarded.
		default:
			return Decision{}, invalid(op, "outcome", "closing needs an outcome: confirmed (违规属实), partial (部分属实) or dismissed (排除)")
		}
	}
	step.Deadline = next.Deadline
	if !step.Applied {
		step.Deadline = time.Time{}
	}
	dec.Write = tracewatch.StepWrite{Expect: from, Step: step, Flow: next}
	return dec, nil
}

// needsDeliberation reports whether a reviewed clue must go through 合议 before 下发.
func needsDeliberation(c tracewatch.Clue, f tracewatch.ClueFlow, cfg Config) bool {
	return deliberationReason(c, f, cfg) != ""
}

func deliberationReason(c tracewatch.Clue, f tracewatch.ClueFlow, cfg Config) string {
	switch {
	case c.Severity >= tracewatch.SeverityViolation:
		return "明确违规"
	case c.Severity >= tracewatch.SeverityHighlySuspicious && int64(c.AmountFen) > cfg.DeliberateAboveYuan*100:
		return fmt.Sprintf("高度可疑 above %d yuan", cfg.DeliberateAboveYuan)
	case f.Deliberate:
		return "合议 was asked for"
	}
	return ""
}

// dispatchedWork reports whether a clue returned from state st goes back to 现场核查.
func dispatchedWork(st S) bool {
	return st == tracewatch.ClueAnswered || st == tracewatch.ClueAppealed
}

// inDispatchRegion refuses an inspector (not an admin) outside the region dispatched to:
// its region must contain it or lie within it.
func inDispatchRegion(op string, u tracewatch.User, r tracewatch.Region) error {
	if u.Role != tracewatch.RoleInspector || u.Region == "" {
		return nil
	}
	if r == "" || (!u.Region.Contains(r) && !r.Contains(u.Region)) {
		return tracewatch.Errorf(op, tracewatch.KindForbidden, "the clue was dispatched to %s, not to %s's region %s", regionName(r), u.Name, u.Region)
	}
	return nil
}

// lastActor is who last moved the clue into state st (applied steps only; "" if nobody).
func lastActor(steps []tracewatch.ClueStep, st S) string {
	for i := len(steps) - 1; i >= 0; i-- {
		if s := steps[i]; s.Applied && s.To == st {
			return s.Actor
		}
	}
	return ""
}

// votesSince lists the panel users who voted for 合议 since the clue entered its state.
func votesSince(steps []tracewatch.ClueStep, since time.Time) []string {
	var out []string
	for _, s := range steps {
		if s.Vote && s.To == tracewatch.ClueDeliberated && !s.Time.Before(since) && !slices.Contains(out, s.Actor) {
			out = append(out, s.Actor)
		}
	}
	return out
}

// Votes returns the 合议 votes a reviewed clue has so far.
func Votes(c tracewatch.Clue, steps []tracewatch.ClueStep) []string {
	if c.State != tracewatch.ClueReviewed {
		return nil
	}
	return votesSince(steps, c.Flow.Since)
}

// Allowed lists the states a user may move a clue to now, as far as role, region and
// state tell (a move may still be refused for a missing field or its own work).
func Allowed(c tracewatch.Clue, u tracewatch.User) []tracewatch.ClueState {
	if u.Disabled || !u.Sees(c) {
		return nil
	}
	from := c.State
	if from == "" {
		from = tracewatch.ClueNew
	}
	var out []tracewatch.ClueState
	for _, e := range matrix {
		if e.from == from && (u.Role == tracewatch.RoleAdmin || slices.Contains(e.roles, u.Role)) {
			if from == tracewatch.ClueReturned && (e.to == tracewatch.ClueInvestigating) != dispatchedWork(c.Flow.ReturnedFrom) && e.to != tracewatch.ClueDismissed {
				continue
			}
			out = append(out, e.to)
		}
	}
	return out
}

func allowedFrom(from S) string {
	var to []string
	for _, e := range matrix {
		if e.from == from {
			to = append(to, string(e.to))
		}
	}
	if len(to) == 0 {
		return ": it is final"
	}
	return ": from " + string(from) + " a clue may move to " + strings.Join(to, ", ")
}

func roleList(rs []tracewatch.Role) string {
	s := make([]string, 0, len(rs)+1)
	for _, r := range rs {
		s = append(s, string(r))
	}
	return strings.Join(append(s, "admin"), " or ")
}

func regionName(r tracewatch.Region) string {
	if r == "" {
		return "(none)"
	}
	return string(r)
}

func invalid(op, field, msg string) error {
	return tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msg).WithField(field)
}
