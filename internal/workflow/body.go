package workflow

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracewatch"
)

// MaxNote is the longest note of a step, in bytes.
const MaxNote = 4000

// Body is the body of POST /api/v1/clues/{id}/transitions (and of a case's), and
// what `tracewatch clue transition` sends.
// Keys are a public contract: add, never rename.
type Body struct {
	To              string                  `json:"to"`
	Note            string                  `json:"note,omitempty"`
	Region          string                  `json:"region,omitempty"`
	Deadline        string                  `json:"deadline,omitempty"` // RFC 3339, or YYYY-MM-DD (the end of that day, Beijing time)
	Deliberate      bool                    `json:"deliberate,omitempty"`
	Outcome         string                  `json:"outcome,omitempty"`
	RecoveredFen    int64                   `json:"recovered_fen,omitempty"`
	PenaltyFen      int64                   `json:"penalty_fen,omitempty"`
	FineFen         int64                   `json:"fine_fen,omitempty"`
	AgreementAction string                  `json:"agreement_action,omitempty"`
	Referrals       []string                `json:"referrals,omitempty"`
	Points          []tracewatch.PointAward `json:"points,omitempty"`
}

// Request turns the body into a workflow request.
func (t Body) Request(remote string) (Request, error) {
	const op = "workflow.Body"
	to, err := tracewatch.ParseClueState(t.To)
	if err != nil {
		return Request{}, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("to")
	}
	if len(t.Note) > MaxNote || !utf8.ValidString(t.Note) || strings.ContainsFunc(t.Note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "a note is at most %d bytes of text", MaxNote).WithField("note")
	}
	req := Request{To: to, Note: t.Note, Region: tracewatch.Region(strings.TrimSpace(t.Region)), Deliberate: t.Deliberate, Remote: remote}
	if t.Deadline != "" {
		d, err := parseDeadline(t.Deadline)
		if err != nil {
			return req, tracewatch.Errorf(op, tracewatch.KindInvalid, "want RFC 3339 (2025-09-30T18:00:00+08:00) or a day (2025-09-30)").WithField("deadline")
		}
		req.Deadline = d
	}
	if t.Outcome != "" || len(t.Points) > 0 || t.RecoveredFen != 0 || t.PenaltyFen != 0 || t.FineFen != 0 || t.AgreementAction != "" || len(t.Referrals) > 0 {
		if to != tracewatch.ClueClosed {
			return req, tracewatch.Errorf(op, tracewatch.KindInvalid, "an outcome is recorded when closing (to: closed)").WithField("outcome")
		}
		req.Outcome = &tracewatch.Outcome{Result: tracewatch.OutcomeResult(t.Outcome), RecoveredFen: tracewatch.Fen(t.RecoveredFen),
			PenaltyFen: tracewatch.Fen(t.PenaltyFen), FineFen: tracewatch.Fen(t.FineFen), AgreementAction: t.AgreementAction,
			Referrals: t.Referrals, Points: t.Points}
	}
	return req, nil
}

// parseDeadline reads RFC 3339, or a day: the end of that day in Beijing.
func parseDeadline(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, tracewatch.Beijing)
	if err != nil {
		return time.Time{}, err
	}
	return d.AddDate(0, 0, 1).Add(-time.Second).UTC(), nil
}
