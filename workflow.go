package tracewatch

import (
	"context"
	"time"
)

// The clue workflow's records (DESIGN §8, docs/workflow.md). internal/workflow decides
// what may happen; a store keeps what did.

// ClueFlow is where a clue stands in the workflow, beside its detector fields. A
// screening never changes it.
type ClueFlow struct {
	Since          time.Time `json:"since"`                     // when the clue entered its state
	Deadline       time.Time `json:"deadline,omitzero"`         // when the current step is due (zero: none)
	DispatchRegion Region    `json:"dispatch_region,omitempty"` // the city or county it was dispatched to
	ReturnedFrom   ClueState `json:"returned_from,omitempty"`   // for a returned clue: the state it was returned from
	Deliberate     bool      `json:"deliberate,omitempty"`      // 合议 was asked for
	CaseID         int64     `json:"case_id,omitempty"`         // the 案件 it belongs to (0: none)
	Outcome        *Outcome  `json:"outcome,omitempty"`         // set when it was closed
}

// Terminal reports whether a state ends the workflow (no deadline runs in it). A closed
// clue can still be appealed.
func (s ClueState) Terminal() bool { return s == ClueClosed || s == ClueDismissed }

// Overdue reports whether the clue's current step is past its deadline at now.
func (c Clue) Overdue(now time.Time) bool {
	return !c.State.Terminal() && !c.Flow.Deadline.IsZero() && now.After(c.Flow.Deadline)
}

// OutcomeResult is what the verification found (核查结论).
type OutcomeResult string

// The results of a closed clue.
const (
	OutcomeConfirmed OutcomeResult = "confirmed" // 违规属实
	OutcomePartial   OutcomeResult = "partial"   // 部分属实
	OutcomeDismissed OutcomeResult = "dismissed" // 排除
)

// Outcome is what closing a clue records (办结).
type Outcome struct {
	Result          OutcomeResult `json:"outcome"`
	RecoveredFen    Fen           `json:"recovered_fen"`              // 追回金额
	PenaltyFen      Fen           `json:"penalty_fen"`                // 违约金
	FineFen         Fen           `json:"fine_fen,omitempty"`         // 罚款 (administrative)
	AgreementAction string        `json:"agreement_action,omitempty"` // 协议处理: interview 约谈, rectify 限期整改, suspend 暂停, terminate 解除
	Referrals       []string      `json:"referrals,omitempty"`        // 移送: police 公安, discipline 纪检
	Points          []PointAward  `json:"points,omitempty"`           // 驾照式记分
}

// PointAward is points given to a named practitioner (医保医师, 药师, 主要负责人) for a
// clue's violation: a band by responsibility (docs/workflow.md).
type PointAward struct {
	Practitioner   string    `json:"practitioner"`          // the practitioner's code (医保医师/药师代码)
	Institution    string    `json:"institution,omitempty"` // where it happened (the clue's institution)
	Points         int       `json:"points"`
	Responsibility string    `json:"responsibility"` // minor 1–3, general 4–6, important 7–9, main 10–12
	ClueID         int64     `json:"clue_id,omitempty"`
	Time           time.Time `json:"time,omitzero"` // when it was awarded (the closing)
	Actor          string    `json:"actor,omitempty"`
}

// ClueStep is one recorded workflow step: a transition, or a panel member's vote for 合议
// that has not (yet) moved the clue (Applied false).
type ClueStep struct {
	Seq      int64     `json:"seq"`
	ClueID   int64     `json:"clue_id"`
	From     ClueState `json:"from"`
	To       ClueState `json:"to"`
	Actor    string    `json:"actor"`
	Role     Role      `json:"role"`
	Time     time.Time `json:"time"`
	Note     string    `json:"note,omitempty"`
	Vote     bool      `json:"vote,omitempty"`
	Applied  bool      `json:"applied"`
	Region   Region    `json:"region,omitempty"`  // dispatched to
	Deadline time.Time `json:"deadline,omitzero"` // of the step it opened
	Outcome  *Outcome  `json:"outcome,omitempty"` // closing
	CaseID   int64     `json:"case_id,omitempty"` // taken on the case as a whole
	Remote   string    `json:"remote,omitempty"`  // the client address it came from
}

// StepWrite is one step to record atomically with its clue's new flow: the clue must
// still be in Expect (KindConflict otherwise); when the step is applied, the clue moves
// to Step.To with Flow.
type StepWrite struct {
	Expect ClueState
	Step   ClueStep
	Flow   ClueFlow
}

// Attachment is a file attached to a clue (a photo, a PDF of a 核查记录): stored in the
// data directory under its SHA-256.
type Attachment struct {
	ID          int64     `json:"id"`
	ClueID      int64     `json:"clue_id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Actor       string    `json:"actor"`
	Time        time.Time `json:"time"`
}

// Case is a 案件: clues about one institution in one period gathered to move through
// the workflow as one.
type Case struct {
	ID          int64     `json:"id"`
	Institution string    `json:"institution"`
	Region      Region    `json:"region"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Title       string    `json:"title,omitempty"`
	Clues       []int64   `json:"clues"`
	Actor       string    `json:"actor"`
	Created     time.Time `json:"created"`
}

// PointFilter selects point awards.
type PointFilter struct {
	Practitioner string
	Institution  string
	Since        time.Time // awarded at or after (zero: all)
}

// WorkflowStore keeps the workflow's records. Implementations apply a group of
// StepWrites in one transaction, all or none, and set each step's Seq.
type WorkflowStore interface {
	ApplySteps(ctx context.Context, w []StepWrite) error
	ClueSteps(ctx context.Context, clueID int64) ([]ClueStep, error)
	PutAttachment(ctx context.Context, a Attachment) (Attachment, error)
	Attachments(ctx context.Context, clueID int64) ([]Attachment, error)
	Points(ctx context.Context, f PointFilter) ([]PointAward, error)
	PutCase(ctx context.Context, c Case) (Case, error)
	Case(ctx context.Context, id int64) (Case, error)
	// ClueStates counts the clues matching f by state.
	ClueStates(ctx context.Context, f ClueFilter) (map[ClueState]int64, error)
}
