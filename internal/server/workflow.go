package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/workflow"
)

// The clue workflow over HTTP (docs/workflow.md, docs/api.md "Workflow").

const (
	maxTransition    = 64 << 10 // bytes of a transition request
	maxAttachment    = 32 << 20 // bytes of one upload (all its files)
	attachmentsDir   = "attachments"
	maxAttachmentLen = 200 // bytes of a file name
)

func readTransition(w http.ResponseWriter, r *http.Request) (workflow.Request, error) {
	var in workflow.Body
	if err := readJSON(w, r, maxTransition, &in, `{"to": "triaged", "note": "…"}`); err != nil {
		return workflow.Request{}, err
	}
	return in.Request(remoteOf(r))
}

// readJSON reads a request body of at most limit bytes as one JSON object into v:
// UTF-8, no unknown field, nothing after it. An error names the problem without echoing
// the body; example shows what is wanted.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, example string) error {
	const op = "server.Body"
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "the body could not be read").WithField("body")
	}
	if !utf8.Valid(b) {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "the body is not UTF-8").WithField("body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "want a JSON object such as %s: %s", example, bodyProblem(err)).WithField("body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "one JSON object, nothing after it").WithField("body")
	}
	return nil
}

// bodyProblem says what is wrong with a JSON body without echoing it.
func bodyProblem(err error) string {
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	return jsonProblem("body", err)
}

// handleTransition answers POST /api/v1/clues/{id}/transitions: moves a clue (or records
// a 合议 vote) as the workflow allows the caller, and answers the clue's state.
func (s *Server) handleTransition(w http.ResponseWriter, r *http.Request) {
	const op = "server.Transition"
	req, err := readTransition(w, r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	c, err := s.clueFor(r, op)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	ans, err := s.transition(r, []tracewatch.Clue{c}, req, 0)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ans[0])
}

// transition applies one request to clues (together, all or none), audited.
func (s *Server) transition(r *http.Request, clues []tracewatch.Clue, req workflow.Request, caseID int64) ([]workflow.Result, error) {
	return workflow.Apply(r.Context(), s.st, s.auditLog, s.wf, userOf(r), clues, req, caseID, s.now())
}

// handleAttach answers POST /api/v1/clues/{id}/attachments: a multipart form with one or
// more files (any field name). Each is stored under DATA_DIR/attachments/<sha256> and
// listed with the clue; the answer lists them.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request) {
	const op = "server.Attach"
	u := userOf(r)
	if u.Role == tracewatch.RoleViewer {
		s.apiFail(w, r, forbidden(op, "a viewer reads only"))
		return
	}
	if s.dataDir == "" {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInternal, "no data directory for attachments"))
		return
	}
	c, err := s.clueFor(r, op)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want multipart/form-data with the files").WithField("Content-Type"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAttachment)
	mr, err := r.MultipartReader()
	if err != nil {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "unreadable multipart body").WithField("body"))
		return
	}
	dir := filepath.Join(s.dataDir, attachmentsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.apiFail(w, r, tracewatch.E(op, tracewatch.KindInternal, err))
		return
	}
	var out []tracewatch.Attachment
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.apiFail(w, r, err)
				return
			}
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "unreadable multipart body").WithField("body"))
			return
		}
		name := part.FileName()
		if name == "" {
			part.Close()
			continue // a plain field
		}
		name = cleanFileName(name)
		a, err := storeAttachment(dir, part)
		part.Close()
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		a.ClueID, a.Name, a.Actor, a.Time = c.ID, name, u.Name, s.now()
		a.ContentType = part.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(a.ContentType); err != nil || mt == "" {
			a.ContentType = "application/octet-stream"
		} else {
			a.ContentType = mt
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "no file in the form: send one or more file parts").WithField("file"))
		return
	}
	for i, a := range out {
		a, err := s.st.PutAttachment(r.Context(), a)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out[i] = a
		if err := s.audit(r, u.Name, "attach", "clue:"+strconv.FormatInt(c.ID, 10),
			map[string]any{"attachment": a.ID, "name": a.Name, "sha256": a.SHA256, "size": a.Size}); err != nil {
			s.apiFail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"attachments": out})
}

// storeAttachment writes a file durably under its SHA-256 (the same bytes twice are one
// file) and returns its size and hash.
func storeAttachment(dir string, src io.Reader) (tracewatch.Attachment, error) {
	const op = "server.Attach"
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return tracewatch.Attachment{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return tracewatch.Attachment{}, err
		}
		return tracewatch.Attachment{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(dir, sum)); err != nil {
		return tracewatch.Attachment{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return tracewatch.Attachment{Size: n, SHA256: sum}, nil
}

// cleanFileName keeps the last element of a file name, without control characters, at
// most maxAttachmentLen bytes.
func cleanFileName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	for len(name) > maxAttachmentLen {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "" || name == "." || name == "/" {
		name = "attachment"
	}
	return name
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// handleAttachment answers GET /api/v1/clues/{id}/attachments/{aid}: the file, as a
// download.
func (s *Server) handleAttachment(w http.ResponseWriter, r *http.Request) {
	const op = "server.Attachment"
	c, err := s.clueFor(r, op)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	aid, err := strconv.ParseInt(r.PathValue("aid"), 10, 64)
	if err != nil || aid <= 0 {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want an attachment id (a positive integer)").WithField("aid"))
		return
	}
	atts, err := s.st.Attachments(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	for _, a := range atts {
		if a.ID != aid || !sha256RE.MatchString(a.SHA256) {
			continue
		}
		f, err := os.Open(filepath.Join(s.dataDir, attachmentsDir, a.SHA256))
		if err != nil {
			s.apiFail(w, r, tracewatch.E(op, tracewatch.KindInternal, err))
			return
		}
		defer f.Close()
		ct := "application/octet-stream"
		switch a.ContentType {
		case "application/pdf", "image/png", "image/jpeg":
			ct = a.ContentType
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
		w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
		w.Header().Set("Digest", "sha-256="+a.SHA256)
		io.Copy(w, f)
		return
	}
	s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindNotFound, "clue %d has no attachment %d", c.ID, aid))
}

// handlePractitionerPoints answers GET /api/v1/practitioners/{id}/points: the
// practitioner's points this year, status and awards.
func (s *Server) handlePractitionerPoints(w http.ResponseWriter, r *http.Request) {
	const op = "server.Points"
	if _, err := query(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	id := strings.TrimSpace(r.PathValue("id"))
	if err := checkText(op, "id", id, 64); err != nil || id == "" {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a practitioner code").WithField("id"))
		return
	}
	u := userOf(r)
	awards, err := s.st.Points(r.Context(), tracewatch.PointFilter{Practitioner: id})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := workflow.Standing{Practitioner: id, Status: workflow.StatusActive, Institutions: []string{}, Awards: []tracewatch.PointAward{}}
	if st := workflow.Standings(awards, s.wf, u.Region, s.now()); len(st) == 1 {
		out = st[0]
	}
	if err := s.audit(r, u.Name, "read_person", "practitioner:"+id, nil); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePoints answers GET /api/v1/points?institution=&practitioner=: the standing of
// every practitioner with points.
func (s *Server) handlePoints(w http.ResponseWriter, r *http.Request) {
	const op = "server.Points"
	q, err := query(r, "institution", "practitioner")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f := tracewatch.PointFilter{Institution: q.Get("institution"), Practitioner: q.Get("practitioner")}
	if err := checkInstitution(op, "institution", f.Institution); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := checkText(op, "practitioner", f.Practitioner, 64); err != nil {
		s.apiFail(w, r, err)
		return
	}
	u := userOf(r)
	awards, err := s.st.Points(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	st := workflow.Standings(awards, s.wf, u.Region, s.now())
	if err := s.audit(r, u.Name, "read_person", "points", map[string]any{"institution": f.Institution, "practitioner": f.Practitioner}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"practitioners": nonNil(st)})
}

// caseJSON is the body of POST /api/v1/cases.
type caseJSON struct {
	Institution string  `json:"institution"`
	From        string  `json:"from"` // YYYY-MM-DD, first day of the period
	To          string  `json:"to"`   // YYYY-MM-DD, last day (inclusive)
	Title       string  `json:"title"`
	Clues       []int64 `json:"clues"` // the clues; none: every open clue of the institution first seen in the period
}

// handleCreateCase answers POST /api/v1/cases: gathers clues about one institution in one
// period into a case (案件) that moves through the workflow as one. Every clue must be
// the institution's, in the caller's region, in no other case, and all in one state.
func (s *Server) handleCreateCase(w http.ResponseWriter, r *http.Request) {
	const op = "server.Case"
	var in caseJSON
	if err := readJSON(w, r, maxTransition, &in, `{"institution", "from", "to", "title", "clues"}`); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if in.Institution == "" {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "name the institution (fixmedins_code)").WithField("institution"))
		return
	}
	if err := checkInstitution(op, "institution", in.Institution); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := checkText(op, "title", in.Title, 400); err != nil {
		s.apiFail(w, r, err)
		return
	}
	from, err1 := time.ParseInLocation(time.DateOnly, in.From, tracewatch.Beijing)
	to, err2 := time.ParseInLocation(time.DateOnly, in.To, tracewatch.Beijing)
	if err1 != nil || err2 != nil || to.Before(from) {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want from and to as days (YYYY-MM-DD), from ≤ to").WithField("from"))
		return
	}
	to = to.AddDate(0, 0, 1)
	u := userOf(r)
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	var clues []tracewatch.Clue
	if len(in.Clues) == 0 {
		f := tracewatch.ClueFilter{Institution: in.Institution, Limit: -1,
			States: []tracewatch.ClueState{tracewatch.ClueNew, tracewatch.ClueTriaged, tracewatch.ClueReviewed, tracewatch.ClueReturned}}
		if err := scope(u, &f); err != nil {
			s.apiFail(w, r, err)
			return
		}
		all, err := s.st.Clues(r.Context(), f)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		for _, c := range all {
			if !c.FirstSeen.Before(from) && c.FirstSeen.Before(to) && c.Flow.CaseID == 0 {
				clues = append(clues, c)
			}
		}
	} else {
		for _, id := range in.Clues {
			c, err := s.st.Clue(r.Context(), id)
			if err != nil {
				s.apiFail(w, r, err)
				return
			}
			if !u.Sees(c) {
				s.apiFail(w, r, forbidden(op, "clue %d is outside %s's region %s", id, u.Name, u.Region))
				return
			}
			if c.Institution != in.Institution {
				s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "clue %d is about %s, not %s", id, c.Institution, in.Institution).WithField("clues"))
				return
			}
			clues = append(clues, c)
		}
	}
	if len(clues) == 0 {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "no open clue of %s in the period", in.Institution).WithField("clues"))
		return
	}
	for _, c := range clues[1:] {
		if c.State != clues[0].State {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindConflict, "clue %d is %s and clue %d is %s: a case moves as one, so its clues must be in one state", clues[0].ID, clues[0].State, c.ID, c.State))
			return
		}
	}
	ids := make([]int64, len(clues))
	for i, c := range clues {
		ids[i] = c.ID
	}
	cs, err := s.st.PutCase(r.Context(), tracewatch.Case{Institution: in.Institution, Region: clues[0].Region, From: from, To: to,
		Title: in.Title, Clues: ids, Actor: u.Name, Created: s.now()})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := s.audit(r, u.Name, "case", "case:"+strconv.FormatInt(cs.ID, 10), map[string]any{"institution": cs.Institution, "clues": ids}); err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, cs)
}

// caseFor reads a case the caller may see.
func (s *Server) caseFor(r *http.Request) (tracewatch.Case, []tracewatch.Clue, error) {
	const op = "server.Case"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return tracewatch.Case{}, nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a case id (a positive integer)").WithField("id")
	}
	cs, err := s.st.Case(r.Context(), id)
	if err != nil {
		return cs, nil, err
	}
	clues, err := s.st.Clues(r.Context(), tracewatch.ClueFilter{CaseID: id, Limit: -1})
	if err != nil {
		return cs, nil, err
	}
	u := userOf(r)
	for _, c := range clues {
		if !u.Sees(c) {
			return cs, nil, forbidden(op, "case %d holds clue %d, outside %s's region %s", id, c.ID, u.Name, u.Region)
		}
	}
	for i := range clues {
		clues[i] = s.wf.Present(clues[i])
	}
	return cs, clues, nil
}

// handleCase answers GET /api/v1/cases/{id}: the case and the state of its clues.
func (s *Server) handleCase(w http.ResponseWriter, r *http.Request) {
	cs, clues, err := s.caseFor(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	states := map[tracewatch.ClueState]int{}
	for _, c := range clues {
		states[c.State]++
	}
	writeMerged(w, http.StatusOK, cs, map[string]any{"states": states})
}

// handleCaseTransition answers POST /api/v1/cases/{id}/transitions: the same body as a
// clue's; every clue of the case moves, or none does.
func (s *Server) handleCaseTransition(w http.ResponseWriter, r *http.Request) {
	req, err := readTransition(w, r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	cs, clues, err := s.caseFor(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	ans, err := s.transition(r, clues, req, cs.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": cs.ID, "clues": ans})
}

// Digest is the daily digest of a region: where its clues stand, what came in, what is
// overdue and what falls due within two days.
type Digest struct {
	Day      string                         `json:"day"` // YYYY-MM-DD, Beijing
	Region   tracewatch.Region              `json:"region,omitempty"`
	States   map[tracewatch.ClueState]int64 `json:"states"`
	NewToday int64                          `json:"new_today"` // clues first found that day
	Overdue  int64                          `json:"overdue"`
	DueSoon  int64                          `json:"due_soon"` // due within 48 hours, not yet overdue
	// OverdueClues lists up to 50 overdue clues, most overdue first.
	OverdueClues []DigestClue `json:"overdue_clues"`
}

// DigestClue is one line of a digest.
type DigestClue struct {
	ID          int64                `json:"id"`
	State       tracewatch.ClueState `json:"state"`
	Deadline    time.Time            `json:"deadline"`
	Institution string               `json:"institution"`
	Region      tracewatch.Region    `json:"region"`
	Detector    string               `json:"detector"`
	Severity    tracewatch.Severity  `json:"severity"`
}

// handleDigest answers GET /api/v1/digest?region=: the daily digest for the caller's
// region (or a region within it), as of now.
func (s *Server) handleDigest(w http.ResponseWriter, r *http.Request) {
	const op = "server.Digest"
	q, err := query(r, "region")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f := tracewatch.ClueFilter{}
	if v := q.Get("region"); v != "" {
		reg, err := tracewatch.ParseRegion(v)
		if err != nil {
			s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a 6-digit region code").WithField("region"))
			return
		}
		f.Region = reg
	}
	u := userOf(r)
	if err := scope(u, &f); err != nil {
		s.apiFail(w, r, err)
		return
	}
	d, err := buildDigest(r.Context(), s.st, f, s.wf, u, s.now())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// buildDigest computes a digest of the clues f selects at now.
func buildDigest(ctx context.Context, st tracewatch.Store, f tracewatch.ClueFilter, cfg workflow.Config, u tracewatch.User, now time.Time) (Digest, error) {
	d := Digest{Day: now.In(tracewatch.Beijing).Format(time.DateOnly), Region: f.Region, OverdueClues: []DigestClue{}}
	var err error
	if d.States, err = st.ClueStates(ctx, f); err != nil {
		return d, err
	}
	due := func(at time.Time) tracewatch.ClueFilter { return cfg.Due(f, u.Region, at) }
	count := func(g tracewatch.ClueFilter) (int64, error) {
		m, err := st.ClueStates(ctx, g)
		var n int64
		for _, v := range m {
			n += v
		}
		return n, err
	}
	if d.Overdue, err = count(due(now)); err != nil {
		return d, err
	}
	soon, err := count(due(now.Add(48 * time.Hour)))
	if err != nil {
		return d, err
	}
	d.DueSoon = soon - d.Overdue
	y, m, dd := now.In(tracewatch.Beijing).Date()
	g := f
	g.FirstSeenFrom = time.Date(y, m, dd, 0, 0, 0, 0, tracewatch.Beijing)
	if d.NewToday, err = count(g); err != nil {
		return d, err
	}
	g = due(now)
	g.Limit = maxClueLimit
	late, err := st.Clues(ctx, g)
	if err != nil {
		return d, err
	}
	for _, c := range late {
		at := cfg.Present(c).Flow.Deadline
		d.OverdueClues = append(d.OverdueClues, DigestClue{ID: c.ID, State: c.State, Deadline: at, Institution: c.Institution,
			Region: c.Region, Detector: c.Detector, Severity: c.Severity})
	}
	sort.SliceStable(d.OverdueClues, func(i, j int) bool { return d.OverdueClues[i].Deadline.Before(d.OverdueClues[j].Deadline) })
	if len(d.OverdueClues) > 50 {
		d.OverdueClues = d.OverdueClues[:50]
	}
	return d, nil
}
