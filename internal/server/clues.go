package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"tracewatch"
	"tracewatch/internal/export"
	"tracewatch/internal/workflow"
)

const (
	defaultClueLimit = 100
	maxClueLimit     = 1000
	maxClueOffset    = 10_000_000
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

// clueParams are the query parameters of a clue list and of its export.
var clueParams = []string{"detector", "severity", "region", "institution", "code", "state", "overdue", "case", "after", "limit",
	"order", "offset", "min_amount_fen", "due_before", "count"}

// clueQuery reads a clue list's query parameters and its filter.
func (s *Server) clueQuery(r *http.Request) (url.Values, tracewatch.ClueFilter, error) {
	q, err := query(r, clueParams...)
	if err != nil {
		return nil, tracewatch.ClueFilter{}, err
	}
	f, err := s.clueFilter(r, q)
	return q, f, err
}

// clueFilter reads a clue list's filter from its query parameters, scoped to the caller.
func (s *Server) clueFilter(r *http.Request, q url.Values) (tracewatch.ClueFilter, error) {
	const op = "server.Clues"
	f := tracewatch.ClueFilter{Detector: q.Get("detector"), Institution: q.Get("institution"), Code: q.Get("code"), Limit: defaultClueLimit}
	bad := func(field, format string, args ...any) (tracewatch.ClueFilter, error) {
		return f, tracewatch.Errorf(op, tracewatch.KindInvalid, format, args...).WithField(field)
	}
	if f.Detector != "" && (len(f.Detector) > 64 || !detectorRE.MatchString(f.Detector)) {
		return bad("detector", "want a detector name such as trace.duplicate or trace.duplicate@1")
	}
	if err := checkInstitution(op, "institution", f.Institution); err != nil {
		return f, err
	}
	if err := checkText(op, "code", f.Code, maxCodeLen); err != nil {
		return f, err
	}
	if v := q.Get("severity"); v != "" {
		sev, err := tracewatch.ParseSeverity(v)
		if err != nil {
			return bad("severity", "want notice, suspicious, highly_suspicious or violation")
		}
		f.MinSeverity = sev
	}
	if v := q.Get("region"); v != "" {
		reg, err := tracewatch.ParseRegion(v)
		if err != nil {
			return bad("region", "want a 6-digit region code")
		}
		f.Region = reg
	}
	if v := q.Get("state"); v != "" {
		for _, one := range strings.Split(v, ",") {
			st, err := tracewatch.ParseClueState(one)
			if err != nil {
				return f, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("state")
			}
			f.States = append(f.States, st)
		}
	}
	switch q.Get("overdue") {
	case "":
	case "true", "1":
		f = s.wf.Due(f, userOf(r).Region, s.now())
	default:
		return bad("overdue", "want overdue=true")
	}
	if v := q.Get("due_before"); v != "" {
		if !f.DueBefore.IsZero() {
			return bad("due_before", "give overdue or due_before, not both")
		}
		day, err := dayParam(op, "due_before", v)
		if err != nil {
			return f, err
		}
		// Due by the end of that day: its deadline falls before the next midnight.
		f = s.wf.Due(f, userOf(r).Region, day.AddDate(0, 0, 1))
	}
	if v := q.Get("case"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return bad("case", "want a case id (a positive integer)")
		}
		f.CaseID = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return bad("after", "want a clue id (an integer ≥ 0)")
		}
		f.AfterID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxClueLimit {
			return bad("limit", "want an integer from 1 to %d", maxClueLimit)
		}
		f.Limit = n
	}
	if v := q.Get("order"); v != "" {
		o, err := tracewatch.ParseClueOrder(v)
		if err != nil {
			return f, tracewatch.E(op, tracewatch.KindInvalid, err).WithField("order")
		}
		f.Order = o
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxClueOffset {
			return bad("offset", "want an integer from 0 to %d", maxClueOffset)
		}
		if f.AfterID != 0 {
			return bad("offset", "give after (id order) or offset, not both")
		}
		f.Offset = n
	}
	if v := q.Get("min_amount_fen"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return bad("min_amount_fen", "want an amount in fen (an integer ≥ 0)")
		}
		f.MinAmount = tracewatch.Fen(n)
	}
	if v := q.Get("count"); v != "" && v != "true" && v != "1" {
		return bad("count", "want count=true")
	}
	if err := scope(userOf(r), &f); err != nil {
		return f, err
	}
	return f, nil
}

// handleClues lists clues: GET /api/v1/clues?detector=&severity=&region=&institution=&code=
// &state=&overdue=&due_before=&min_amount_fen=&case=&order=&after=&offset=&limit=&count=,
// within the caller's region (or institution). In id order (the default) after pages;
// in another order offset does. count=true adds total, the clues matching the filter.
func (s *Server) handleClues(w http.ResponseWriter, r *http.Request) {
	q, f, err := s.clueQuery(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	clues, err := s.st.Clues(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		Clues     []tracewatch.Clue `json:"clues"`
		NextAfter int64             `json:"next_after"`
		Total     *int64            `json:"total,omitempty"`
	}{Clues: make([]tracewatch.Clue, 0, len(clues)), NextAfter: f.AfterID}
	if q.Get("count") != "" {
		n, err := s.clueTotal(r.Context(), f)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out.Total = &n
	}
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

// clueTotal counts the clues matching f (whatever its page).
func (s *Server) clueTotal(ctx context.Context, f tracewatch.ClueFilter) (int64, error) {
	f.AfterID, f.Offset, f.Limit = 0, 0, -1
	by, err := s.st.ClueStates(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range by {
		n += c
	}
	return n, nil
}

// handleCluesExport answers GET /api/v1/clues.xlsx with the list's filter: every clue
// matching it (not one page) as the workbook of `tracewatch clues export`, masked for a
// role that may not see persons, and audited as an export.
func (s *Server) handleCluesExport(w http.ResponseWriter, r *http.Request) {
	_, f, err := s.clueQuery(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	names := map[string]string{}
	if s.facts != nil {
		ins, err := s.facts.Institutions(r.Context())
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		for _, in := range ins {
			names[in.Code] = in.Name
		}
	}
	present := func(c tracewatch.Clue) tracewatch.Clue { return maskClue(s.wf.Present(c)) }
	if unmasked(r) {
		present = s.wf.Present
	}
	total, err := s.clueTotal(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if total > maxExportRows {
		s.apiFail(w, r, tracewatch.Errorf("server.CluesExport", tracewatch.KindInvalid,
			"%d clues match: a workbook holds at most %d rows; narrow the filter (state, region, detector, severity)", total, maxExportRows).WithField("filter"))
		return
	}
	// The export is audited before a byte of it leaves (what, by whom, how many).
	u := userOf(r)
	if err := s.audit(r, u.Name, "export", "clues.xlsx", map[string]any{"clues": total, "filter": r.URL.RawQuery, "unmasked": unmasked(r)}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	name := "疑点线索-" + s.now().In(tracewatch.Beijing).Format("20060102-1504") + ".xlsx"
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", "attachment; filename=\"clues.xlsx\"; filename*=UTF-8''"+url.PathEscape(name))
	w.Header().Set("Cache-Control", "no-store")
	if _, _, err := export.Clues(r.Context(), w, s.st, f, names, present); err != nil {
		// Past the headers an error can only cut the answer short: the client sees a
		// truncated file; the log says why.
		s.log.Error("clue export", "err", err.Error(), "operator", u.Name)
	}
}

// maxExportRows is what one worksheet holds (Excel's 1,048,576 rows, less the header).
const maxExportRows = 1_048_575
