package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/idno"
	"tracewatch/internal/lookup"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/tracecode"
)

// The operator API (/api/v1): every endpoint needs an operator token (operator.go); a
// viewer's answers have personal data masked. Lists are paged with after/limit under a
// maximum, and query values are matched exactly or refused (docs/api.md).

// apiError is the JSON body of a refused operator request.
type apiError struct {
	Error    string `json:"error"`              // a stable code: a tracecode error code, or an error kind
	Message  string `json:"message"`            // for people
	Position int    `json:"position,omitempty"` // for a trace code: the 1-based character at fault
	// MessageZh says in Chinese why an input is not a trace code (for the workplace).
	MessageZh string `json:"message_zh,omitempty"`
}

// apiFail answers err as an apiError.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	body := apiError{Error: tracewatch.KindOf(err).String(), Message: publicMessage(err)}
	var tc *tracecode.Error
	if status == http.StatusBadRequest && errors.As(err, &tc) {
		body = apiError{Error: string(tc.Code), Message: tc.Msg, Position: tc.Pos, MessageZh: codeReasonZh(err)}
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
	} else {
		recordOf(r).reason = body.Message
	}
	writeJSON(w, status, body)
}

// handleCode answers GET /api/v1/codes/{code} and GET /api/v1/codes?code=…: the trace
// view of one code. The path form takes the rest of the path, so a GS1 serial may hold
// "/"; a Digital Link URI goes in the query form (or with "/" written %2F).
func (s *Server) handleCode(w http.ResponseWriter, r *http.Request) {
	const op = "server.Code"
	code := r.PathValue("code")
	allowed := []string{"code"}
	if code != "" {
		allowed = nil
	}
	q, err := query(r, allowed...)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if code == "" {
		code = q.Get("code")
	}
	if len(code) > maxCodeLen {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "longer than %d bytes", maxCodeLen).WithField("code"))
		return
	}
	v, err := lookup.Lookup(r.Context(), s.st, code)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		lookup.View
		Truncated bool `json:"timeline_truncated,omitempty"`
	}{View: v}
	if len(out.Timeline) > maxTimeline {
		out.Timeline, out.Truncated = out.Timeline[:maxTimeline], true
	}
	if !unmasked(r) {
		tl := make([]lookup.Entry, len(out.Timeline))
		for i, e := range out.Timeline {
			e.Person = idno.Mask(e.Person)
			tl[i] = e
		}
		out.Timeline = tl
	}
	writeJSON(w, http.StatusOK, out)
}

// maxTimeline bounds the events of one box an answer lists (a real box has a handful;
// beyond this the answer says timeline_truncated).
const maxTimeline = 1000

// quarantineJSON is one row of GET /api/v1/quarantine. Keys are a public contract: add,
// never rename (docs/api.md).
type quarantineJSON struct {
	ID          int64  `json:"id"`
	MsgID       string `json:"msgid"`
	Infno       string `json:"infno"`
	Institution string `json:"fixmedins_code"`
	Source      string `json:"source"`
	Row         int    `json:"row"`
	Field       string `json:"field"`
	Reason      string `json:"reason"`
	Received    string `json:"received_at"`
	Resubmitted bool   `json:"resubmitted"`
	Payload     string `json:"payload"`
	// For a viewer: the payload's personal values are masked (it is re-encoded), or the
	// payload is withheld ("") because it is not JSON and cannot be masked field by field.
	PayloadMasked   bool `json:"payload_masked,omitempty"`
	PayloadWithheld bool `json:"payload_withheld,omitempty"`
}

// Quarantine listing limits.
const (
	defaultQuarantineLimit = 100
	maxQuarantineLimit     = 1000
)

// handleQuarantine answers GET /api/v1/quarantine?institution=&infno=&after=&limit=:
// rows in id order after the id `after`; next_after is the last id returned (or `after`
// when none is), the `after` of the next page.
func (s *Server) handleQuarantine(w http.ResponseWriter, r *http.Request) {
	const op = "server.Quarantine"
	q, err := query(r, "institution", "infno", "after", "limit")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f := tracewatch.QuarantineFilter{Institution: q.Get("institution"), Infno: q.Get("infno"), Limit: defaultQuarantineLimit}
	if err := checkInstitution(op, "institution", f.Institution); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if f.Infno != "" && !infnoRE.MatchString(f.Infno) {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a 4-digit interface number, with A for a batch (3505, 3505A)").WithField("infno"))
		return
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a row id (an integer ≥ 0)").WithField("after"))
			return
		}
		f.AfterID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxQuarantineLimit {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want an integer from 1 to %d", maxQuarantineLimit).WithField("limit"))
			return
		}
		f.Limit = n
	}
	rows, err := s.st.Quarantine(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		Rows      []quarantineJSON `json:"rows"`
		NextAfter int64            `json:"next_after"`
	}{Rows: make([]quarantineJSON, 0, len(rows)), NextAfter: f.AfterID}
	full := unmasked(r)
	for _, q := range rows {
		j := quarantineJSON{ID: q.ID, MsgID: q.MsgID, Infno: q.Infno, Institution: q.Institution,
			Source: q.Source, Row: q.Row, Field: q.Field, Reason: q.Reason, Received: formatTime(q.Received),
			Resubmitted: q.Resubmitted, Payload: string(q.Payload)}
		if !full {
			j.MsgID, j.Reason, j.Source, j.Field = scrubIDs(j.MsgID), scrubIDs(j.Reason), scrubIDs(j.Source), scrubIDs(j.Field)
			var ok bool
			if j.Payload, ok = maskedPayload(q.Payload); ok {
				j.PayloadMasked = len(q.Payload) > 0
			} else {
				j.PayloadWithheld = true
			}
		}
		out.Rows = append(out.Rows, j)
		out.NextAfter = q.ID
	}
	writeJSON(w, http.StatusOK, out)
}

// formatTime writes an instant in China Standard Time as the trace view and the CLI do:
// "2025-03-01 10:00:00".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(nhsa.CST).Format(time.DateTime)
}

// handleResubmit answers POST /api/v1/quarantine/{id}/resubmit: the body is the
// corrected message (with a new msgid), ingested as if received now from its
// institution, without a signature (an operator endpoint), with the source
// "resubmit:{id}". Once it is stored, the quarantine rows it corrects are marked
// resubmitted. The answer is the message's NHSA envelope; refusals are envelopes too
// (infcode "-1") with a 4xx status. Sending the same resubmission again (same row, same
// msgid) answers the stored answer and finishes the marking: a retry after a failure is
// safe.
func (s *Server) handleResubmit(w http.ResponseWriter, r *http.Request) {
	const op = "server.Resubmit"
	ctx := r.Context()
	received := s.now()
	rec := recordOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.refuse(w, r, nhsa.Request{}, received, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a quarantine row id").WithField("id"))
		return
	}
	source := "resubmit:" + strconv.FormatInt(id, 10)
	row, err := s.st.QuarantineRow(ctx, id)
	if err != nil {
		if tracewatch.KindOf(err) == tracewatch.KindNotFound {
			err = tracewatch.Errorf(op, tracewatch.KindNotFound, "quarantine row %d not found", id)
		}
		s.refuse(w, r, nhsa.Request{}, received, err)
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.refuse(w, r, nhsa.Request{}, received, err)
		return
	}
	req, err := decodeEnvelope(body, "")
	rec.msgid, rec.institution = req.MsgID, req.FixmedinsCode
	newMsgID := func() error {
		return tracewatch.Errorf(op, tracewatch.KindConflict, "is already stored: a resubmission needs a new msgid").WithField("msgid")
	}
	switch {
	case err != nil:
	case row.Institution == "":
		// An unreadable line names no institution: an operator must not choose one.
		err = tracewatch.Errorf(op, tracewatch.KindConflict, "quarantine row %d names no institution (the message could not be read): "+
			"the institution must send the corrected message again, signed, to POST /fsi/api/{infno}", id)
	case req.FixmedinsCode != row.Institution:
		err = tracewatch.Errorf(op, tracewatch.KindInvalid, "differs from the quarantined message's (%s)", row.Institution).WithField("fixmedins_code")
	case req.MsgID == row.MsgID:
		err = tracewatch.Errorf(op, tracewatch.KindConflict, "is the refused message's: a resubmission needs a new msgid").WithField("msgid")
	default:
		err = s.maySubmit(ctx, row.Institution)
	}
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	answer, stored := []byte(nil), false
	switch m, err := s.st.Message(ctx, req.FixmedinsCode, req.MsgID); {
	case err == nil && m.Source == source:
		answer, stored = m.Response, true // a retry of this resubmission
		rec.replayed = true
	case err == nil:
		s.refuse(w, r, req, received, newMsgID())
		return
	case tracewatch.KindOf(err) != tracewatch.KindNotFound:
		s.refuse(w, r, req, received, err)
		return
	}
	if !stored && row.Resubmitted {
		s.refuse(w, r, req, received, tracewatch.Errorf(op, tracewatch.KindConflict, "quarantine row %d was already resubmitted", id))
		return
	}
	ids, err := s.corrected(r, row)
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	if !stored {
		var replayed bool
		answer, replayed, err = s.ingest(ctx, req, body, source, received)
		if err == nil && replayed { // a concurrent request stored this msgid first
			if m, merr := s.st.Message(ctx, req.FixmedinsCode, req.MsgID); merr != nil || m.Source != source {
				err = newMsgID()
			}
		}
		if err != nil {
			s.refuse(w, r, req, received, err)
			return
		}
	}
	if err := s.st.MarkResubmitted(context.WithoutCancel(ctx), ids); err != nil {
		s.refuse(w, r, req, received, tracewatch.E(op, tracewatch.KindInternal, fmt.Errorf("%s stored, marking quarantine rows %v failed: %w", req.MsgID, ids, err)))
		return
	}
	writeRaw(w, http.StatusOK, answer)
}

// KeyLister lists the credentials of an institution; the store must satisfy it for
// resubmission (the DuckDB store does). A store that does not refuses every resubmission.
type KeyLister interface {
	InstitutionKeys(ctx context.Context, institution string) ([]tracewatch.InstitutionKey, error)
}

// maySubmit refuses (403) a resubmission for an institution that could not send it
// signed itself: one missing from the store, or without a key that is not revoked.
func (s *Server) maySubmit(ctx context.Context, institution string) error {
	const op = "server.Resubmit"
	if _, err := s.st.Institution(ctx, institution); err != nil {
		if tracewatch.KindOf(err) == tracewatch.KindNotFound {
			return forbidden(op, "institution %s is not in the store", institution)
		}
		return err
	}
	kl, ok := s.st.(KeyLister)
	if !ok {
		return forbidden(op, "this store cannot list the keys of %s: resubmission is not possible", institution)
	}
	keys, err := kl.InstitutionKeys(ctx, institution)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !k.Revoked {
			return nil
		}
	}
	return forbidden(op, "institution %s holds no valid key (none, or all revoked): it may not submit, so its messages cannot be resubmitted", institution)
}

// maxRowsPerMessage bounds the quarantine rows read for one message.
const maxRowsPerMessage = 10_000

// corrected returns the quarantine rows a resubmission of row corrects: for a message
// refused whole (a message-level problem, or any bad row of a single-row interface),
// every unresubmitted row of its msgid; for a row of a batch (…A) interface, which kept
// its good rows, the rows of that msgid and row number.
func (s *Server) corrected(r *http.Request, row tracewatch.QuarantineRow) ([]int64, error) {
	ids := []int64{row.ID}
	if row.MsgID == "" {
		return ids, nil
	}
	whole := row.Row == 0 || !strings.HasSuffix(row.Infno, "A")
	rows, err := s.st.Quarantine(r.Context(), tracewatch.QuarantineFilter{MsgID: row.MsgID, Institution: row.Institution, Limit: maxRowsPerMessage})
	if err != nil {
		return nil, err
	}
	for _, q := range rows {
		if q.ID != row.ID && !q.Resubmitted && (whole || q.Row == row.Row) {
			ids = append(ids, q.ID)
		}
	}
	return ids, nil
}

// handleStats answers GET /api/v1/stats: what the store holds.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	st, err := s.st.Stats(r.Context())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleHealth answers GET /healthz.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
