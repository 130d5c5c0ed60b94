package workflow

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/audit"
)

// Store is what Apply needs of a store.
type Store interface {
	ClueSteps(ctx context.Context, clueID int64) ([]tracewatch.ClueStep, error)
	ApplySteps(ctx context.Context, w []tracewatch.StepWrite) error
}

// Result is where a clue stands after a request. Keys are a public contract (the answer
// of POST /api/v1/clues/{id}/transitions): add, never rename.
type Result struct {
	ClueID   int64                `json:"clue_id"`
	State    tracewatch.ClueState `json:"state"`
	From     tracewatch.ClueState `json:"from"`
	Applied  bool                 `json:"applied"`          // false: a 合议 vote short of the quorum
	Votes    []string             `json:"votes,omitempty"`  // 合议 votes so far
	Quorum   int                  `json:"quorum,omitempty"` // 合议 votes needed
	Step     tracewatch.ClueStep  `json:"step"`
	Workflow tracewatch.ClueFlow  `json:"workflow"`
}

// Apply decides one request of user u on clues (one clue, or the clues of case caseID
// together), records the steps all or none, and appends one audit entry per step (log
// may be nil). A clue of a case moves only with its case (KindConflict). The caller serializes Apply calls on the same clues (a store refuses a
// step from a state the clue has left, but two votes of one user could both pass).
func Apply(ctx context.Context, st Store, log *audit.Log, cfg Config, u tracewatch.User, clues []tracewatch.Clue,
	req Request, caseID int64, now time.Time) ([]Result, error) {
	var writes []tracewatch.StepWrite
	var out []Result
	for _, c := range clues {
		if c.Flow.CaseID != caseID {
			return nil, tracewatch.Errorf("workflow.Apply", tracewatch.KindConflict, "clue %d is in case %d: move the case (POST /api/v1/cases/%d/transitions)", c.ID, c.Flow.CaseID, c.Flow.CaseID)
		}
		steps, err := st.ClueSteps(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		dec, err := Decide(c, steps, u, req, cfg, now)
		if err != nil {
			if len(clues) > 1 {
				err = fmt.Errorf("clue %d: %w", c.ID, err)
			}
			return nil, err
		}
		dec.Write.Step.CaseID = caseID
		if caseID != 0 {
			dec.Write.Flow.CaseID = caseID
		}
		writes = append(writes, dec.Write)
		r := Result{ClueID: c.ID, State: c.State, From: dec.Write.Expect, Applied: dec.Write.Step.Applied,
			Votes: dec.Votes, Quorum: dec.Quorum, Step: dec.Write.Step, Workflow: c.Flow}
		if r.Applied {
			r.State, r.Workflow = dec.Write.Step.To, dec.Write.Flow
		}
		out = append(out, r)
	}
	if err := st.ApplySteps(ctx, writes); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Step.Seq = writes[i].Step.Seq
	}
	if log == nil {
		return out, nil
	}
	for _, w := range writes {
		s := w.Step
		detail := map[string]any{"from": s.From, "to": s.To, "applied": s.Applied}
		if s.Note != "" {
			detail["note"] = s.Note
		}
		if s.Vote {
			detail["vote"] = true
		}
		if s.Region != "" {
			detail["region"] = s.Region
		}
		if !s.Deadline.IsZero() {
			detail["deadline"] = s.Deadline
		}
		if s.Outcome != nil {
			detail["outcome"] = s.Outcome
		}
		if caseID != 0 {
			detail["case"] = caseID
		}
		if _, err := log.Append(audit.Entry{Time: now, Actor: u.Name, Action: "transition", Object: "clue:" + strconv.FormatInt(s.ClueID, 10),
			From: req.Remote, Detail: detail}); err != nil {
			return nil, tracewatch.Errorf("workflow.Apply", tracewatch.KindInternal, "clue %d moved but its audit entry failed: %w", s.ClueID, err)
		}
	}
	return out, nil
}
