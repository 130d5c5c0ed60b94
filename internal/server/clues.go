package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"tracewatch"
	"tracewatch/internal/workflow"
)

const (
	defaultClueLimit = 100
	maxClueLimit     = 1000
)

// scope narrows a clue filter to what the caller may see: an institution user its own
// institution's clues, anyone else its region's. Asking for another institution or a
// region outside the caller's is refused (403).
func scope(u tracewatch.User, f *tracewatch.ClueFilter) error {
	const op = "server.Scope"
	if u.Role == tracewatch.RoleInstitution {
		if f.Institution != "" && f.Institution != u.Institution {
			return forbidden(op, "%s sees the clues of institution %s only", u.Name, u.Institution)
		}
		f.Institution = u.Institution
		return nil
	}
	switch {
	case u.Region == "":
	case f.Region == "":
		f.Region = u.Region
	case u.Region.Contains(f.Region):
	case f.Region.Contains(u.Region):
		f.Region = u.Region
	default:
		return forbidden(op, "region %s is outside %s's region %s", f.Region, u.Name, u.Region)
	}
	// A province's users also work the clues whose region is unknown (User.Covers).
	f.UnknownRegion = f.Region != "" && f.Region == u.Region && u.Covers("")
	return nil
}

// handleClues lists clues: GET /api/v1/clues?detector=&severity=&region=&institution=&code=
// &state=&overdue=&case=&after=&limit=, within the caller's region (or institution).
func (s *Server) handleClues(w http.ResponseWriter, r *http.Request) {
	const op = "server.Clues"
	q, err := query(r, "detector", "severity", "region", "institution", "code", "state", "overdue", "case", "after", "limit")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f := tracewatch.ClueFilter{Detector: q.Get("detector"), Institution: q.Get("institution"), Code: q.Get("code"), Limit: defaultClueLimit}
	bad := func(field, format string, args ...any) {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, format, args...).WithField(field))
	}
	if f.Detector != "" && (len(f.Detector) > 64 || !detectorRE.MatchString(f.Detector)) {
		bad("detector", "want a detector name such as trace.duplicate or trace.duplicate@1")
		return
	}
	if err := checkInstitution(op, "institution", f.Institution); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := checkText(op, "code", f.Code, maxCodeLen); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if v := q.Get("severity"); v != "" {
		sev, err := tracewatch.ParseSeverity(v)
		if err != nil {
			bad("severity", "want notice, suspicious, highly_suspicious or violation")
			return
		}
		f.MinSeverity = sev
	}
	if v := q.Get("region"); v != "" {
		reg, err := tracewatch.ParseRegion(v)
		if err != nil {
			bad("region", "want a 6-digit region code")
			return
		}
		f.Region = reg
	}
	if v := q.Get("state"); v != "" {
		st, err := tracewatch.ParseClueState(v)
		if err != nil {
			s.apiFail(w, r, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("state"))
			return
		}
		f.States = []tracewatch.ClueState{st}
	}
	switch q.Get("overdue") {
	case "":
	case "true", "1":
		f = s.wf.Due(f, userOf(r).Region, s.now())
	default:
		bad("overdue", "want overdue=true")
		return
	}
	if v := q.Get("case"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			bad("case", "want a case id (a positive integer)")
			return
		}
		f.CaseID = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad("after", "want a clue id (an integer ≥ 0)")
			return
		}
		f.AfterID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxClueLimit {
			bad("limit", "want an integer from 1 to %d", maxClueLimit)
			return
		}
		f.Limit = n
	}
	u := userOf(r)
	if err := scope(u, &f); err != nil {
		s.apiFail(w, r, err)
		return
	}
	clues, err := s.st.Clues(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		Clues     []tracewatch.Clue `json:"clues"`
		NextAfter int64             `json:"next_after"`
	}{Clues: make([]tracewatch.Clue, 0, len(clues)), NextAfter: f.AfterID}
	full := unmasked(r)
	var ids []int64
	for _, c := range clues {
		c = s.wf.Present(c)
		if full {
			ids = append(ids, c.ID)
		} else {
			c = maskClue(c)
		}
		out.Clues = append(out.Clues, c)
	}
	if len(clues) > 0 {
		out.NextAfter = clues[len(clues)-1].ID
	}
	if len(ids) > 0 {
		if err := s.audit(r, u.Name, "read_person", "clues", map[string]any{"clues": ids}); err != nil {
			s.apiFail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// clueFor reads a clue the caller may see: 404 when there is none, 403 when it is
// outside the caller's region or institution.
func (s *Server) clueFor(r *http.Request, op string) (tracewatch.Clue, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return tracewatch.Clue{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a clue id (a positive integer)").WithField("id")
	}
	c, err := s.st.Clue(r.Context(), id)
	if err != nil {
		return c, err
	}
	if u := userOf(r); !u.Sees(c) {
		if u.Role == tracewatch.RoleInstitution {
			return tracewatch.Clue{}, forbidden(op, "clue %d is not about institution %s", id, u.Institution)
		}
		return tracewatch.Clue{}, forbidden(op, "clue %d (region %s) is outside %s's region %s", id, c.Region, u.Name, u.Region)
	}
	return s.wf.Present(c), nil
}

// handleClue answers one clue with its evidence, its workflow history, attachments and
// 合议 votes, and the states the caller may move it to: GET /api/v1/clues/{id}.
func (s *Server) handleClue(w http.ResponseWriter, r *http.Request) {
	const op = "server.Clue"
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	c, err := s.clueFor(r, op)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	steps, err := s.st.ClueSteps(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	atts, err := s.st.Attachments(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	if unmasked(r) {
		if err := s.audit(r, u.Name, "read_person", "clue:"+strconv.FormatInt(c.ID, 10), nil); err != nil {
			s.apiFail(w, r, err)
			return
		}
	} else {
		c = maskClue(c)
	}
	extra := map[string]any{
		"steps":       nonNil(steps),
		"attachments": nonNil(atts),
		"votes":       nonNil(workflow.Votes(c, steps)),
		"allowed":     nonNil(workflow.Allowed(c, u)),
		"overdue":     c.Overdue(s.now()),
	}
	if c.State == tracewatch.ClueReviewed {
		extra["quorum"] = s.wf.For(c.Region).Quorum
	}
	writeMerged(w, http.StatusOK, c, extra)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeMerged writes v's JSON object with extra keys added (v keeps its own marshalling).
func writeMerged(w http.ResponseWriter, status int, v any, extra map[string]any) {
	b, err := json.Marshal(v)
	var m map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: internalMessage})
		return
	}
	for k, x := range extra {
		b, err := json.Marshal(x)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: internalMessage})
			return
		}
		m[k] = b
	}
	writeJSON(w, status, m)
}
