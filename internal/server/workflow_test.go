package server

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/token"
)

// flowHarness is a server with an audit log, a data directory and the users of a
// province: reviewers of Nanchang (360100) and Pingxiang (360300), a panel, a dispatcher,
// an inspector of the county, a pharmacy and a viewer, each with a token.
type flowHarness struct {
	*harness
	auditDir string
	dataDir  string
	tok      map[string]string
	ids      map[string]int64 // clue ids by fingerprint
}

const password = "a long enough password"

func newFlowHarness(t *testing.T) *flowHarness {
	auditDir, dataDir := t.TempDir(), t.TempDir()
	h := newHarness(t, func(c *Config) {
		l, err := audit.Open(auditDir)
		if err != nil {
			t.Fatal(err)
		}
		c.Audit, c.DataDir = l, dataDir
	})
	f := &flowHarness{harness: h, auditDir: auditDir, dataDir: dataDir, tok: map[string]string{}, ids: map[string]int64{}}
	for _, u := range []tracewatch.User{
		{Name: "r1", Role: "reviewer", Region: "360100"},
		{Name: "r2", Role: "reviewer", Region: "360100"},
		{Name: "r9", Role: "reviewer", Region: "360300"},
		{Name: "p1", Role: "panel", Region: "360000"},
		{Name: "p2", Role: "panel", Region: "360000"},
		{Name: "d1", Role: "dispatcher", Region: "360100"},
		{Name: "i1", Role: "inspector", Region: "360102"},
		{Name: "i9", Role: "inspector", Region: "360103"},
		{Name: "pharm", Role: "institution", Region: "360102", Institution: instP},
		{Name: "v1", Role: "viewer", Region: "360000"},
	} {
		if err := token.CreateUser(h.tokenDir, u, password, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		tok, _, err := token.CreateUserToken(h.tokenDir, u.Name, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.tok[u.Name] = tok
	}
	h.clock.Add(2 * token.RefreshInterval)
	mk := func(fp, inst, region string, sev tracewatch.Severity) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: "trace.duplicate@1", Rule: "same_city", Severity: sev,
			Subject: tracewatch.SubjectCode, SubjectID: fp, Region: tracewatch.Region(region), Institution: inst, AmountFen: 50_000,
			Codes: []string{codeA}, Persons: []string{"PSN0001"}, Explanation: "追溯码重复销售 PSN0001"}
	}
	f.putClues(mk("a", instP, "360102", tracewatch.SeverityViolation), mk("b", "P36030200001", "360302", tracewatch.SeveritySuspicious),
		mk("c", instP, "360102", tracewatch.SeveritySuspicious), mk("d", instP, "360102", tracewatch.SeveritySuspicious),
		mk("e", instQ, "360102", tracewatch.SeveritySuspicious))
	return f
}

func (f *flowHarness) putClues(cs ...tracewatch.Clue) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.PutClues(ctx, cs, f.clock.Now()); err != nil {
		f.t.Fatal(err)
	}
	all, err := f.st.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range all {
		f.ids[c.Fingerprint] = c.ID
	}
}

// as sends a JSON request as a user; it returns the status and the decoded answer.
func (f *flowHarness) as(user, method, path string, body any) (int, map[string]any) {
	f.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, out := f.do(method, path, b, bearer(f.tok[user]))
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		f.t.Fatalf("%s %s as %s: %d %s", method, path, user, status, out)
	}
	return status, m
}

func (f *flowHarness) clue(fp string) string {
	return "/api/v1/clues/" + strconv.FormatInt(f.ids[fp], 10)
}

// move posts a transition as user and wants the status.
func (f *flowHarness) move(user, fp string, want int, body map[string]any) map[string]any {
	f.t.Helper()
	status, m := f.as(user, "POST", f.clue(fp)+"/transitions", body)
	if status != want {
		f.t.Fatalf("%s moving %s to %v: %d %v, want %d", user, fp, body["to"], status, m, want)
	}
	return m
}

// listed returns the fingerprints of the clues a user lists.
func (f *flowHarness) listed(user string) []string {
	f.t.Helper()
	status, m := f.as(user, "GET", "/api/v1/clues", nil)
	if status != 200 {
		f.t.Fatalf("%s lists clues: %d %v", user, status, m)
	}
	var out []string
	for _, c := range m["clues"].([]any) {
		id := int64(c.(map[string]any)["id"].(float64))
		for fp, i := range f.ids {
			if i == id {
				out = append(out, fp)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestRegionScope: a reviewer of Nanchang sees none of Jiujiang's clues (403 on one,
// absent from lists); an institution user sees only its own institution's clues and can
// only appeal; a viewer reads and moves nothing.
func TestRegionScope(t *testing.T) {
	f := newFlowHarness(t)
	if got := f.listed("r1"); !slices.Equal(got, []string{"a", "c", "d", "e"}) {
		t.Errorf("r1 lists %v", got)
	}
	if got := f.listed("r9"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("r9 lists %v", got)
	}
	if got := f.listed("pharm"); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("the pharmacy lists %v", got)
	}
	if got := f.listed("v1"); len(got) != 5 {
		t.Errorf("the province's viewer lists %v", got)
	}
	for _, tc := range []struct{ user, path string }{
		{"r1", f.clue("b")}, {"r9", f.clue("a")}, {"pharm", f.clue("e")},
		{"r1", "/api/v1/clues?region=360300"}, {"pharm", "/api/v1/clues?institution=" + instQ},
	} {
		if status, m := f.as(tc.user, "GET", tc.path, nil); status != 403 || m["error"] != "forbidden" {
			t.Errorf("%s GET %s: %d %v", tc.user, tc.path, status, m)
		}
	}
	// A clue whose institution is missing from the reference data (region unknown) is
	// worked by the province's users, not lost: the city's reviewer does not see it.
	f.putClues(tracewatch.Clue{Fingerprint: "u", Detector: "trace.duplicate@1", Rule: "same_city", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectCode, SubjectID: "u", Institution: "P99999999999", Explanation: "机构未登记"})
	if got := f.listed("v1"); len(got) != 6 || !slices.Contains(got, "u") {
		t.Errorf("the province's viewer lists %v, want the unknown-region clue too", got)
	}
	if got := f.listed("r1"); slices.Contains(got, "u") {
		t.Errorf("a city's reviewer lists the unknown-region clue: %v", got)
	}
	f.move("p1", "u", 403, map[string]any{"to": "triaged"}) // a panel user of the province: its role, not its region
	f.move("r1", "b", 403, map[string]any{"to": "triaged"})
	f.move("pharm", "a", 403, map[string]any{"to": "triaged"})
	f.move("v1", "a", 403, map[string]any{"to": "triaged"})
	// The pharmacy reads its clue masked, with the moves it may make (none while new).
	status, m := f.as("pharm", "GET", f.clue("a"), nil)
	if status != 200 || strings.Contains(m["explanation"].(string), "PSN0001") || len(m["allowed"].([]any)) != 0 {
		t.Errorf("the pharmacy's view: %d %v", status, m)
	}
	// The pharmacy may not read the operators' endpoints.
	for _, p := range []string{"/api/v1/stats", "/api/v1/quarantine", "/api/v1/codes/" + codeA, "/api/v1/points"} {
		if status, _ := f.as("pharm", "GET", p, nil); status != 403 {
			t.Errorf("the pharmacy GET %s: %d", p, status)
		}
	}
}

// TestClueLifecycle: a clue goes new → … → closed through the API with a second reviewer,
// a panel quorum, dispatch with a deadline, feedback with an attachment, and an outcome
// with points; a second screening leaves its state; the audit log holds every step and
// verifies.
func TestClueLifecycle(t *testing.T) {
	f := newFlowHarness(t)
	if m := f.move("r1", "a", 200, map[string]any{"to": "triaged", "note": "初审：疑似回流药"}); m["state"] != "triaged" {
		t.Fatalf("triaged: %v", m)
	}
	f.move("r1", "a", 403, map[string]any{"to": "reviewed"}) // the 初审 user
	f.move("r2", "a", 200, map[string]any{"to": "reviewed", "note": "复审同意"})
	f.move("d1", "a", 409, map[string]any{"to": "dispatched", "region": "360102"}) // 明确违规: 合议 first
	f.move("r2", "a", 409, map[string]any{"to": "closed", "outcome": "confirmed"})
	m := f.move("p1", "a", 200, map[string]any{"to": "deliberated", "note": "同意"})
	if m["state"] != "reviewed" || m["applied"] != false || len(m["votes"].([]any)) != 1 || m["quorum"] != float64(2) {
		t.Fatalf("first vote: %v", m)
	}
	f.move("p1", "a", 409, map[string]any{"to": "deliberated"})
	if m := f.move("p2", "a", 200, map[string]any{"to": "deliberated", "note": "同意"}); m["state"] != "deliberated" || m["applied"] != true {
		t.Fatalf("quorum: %v", m)
	}
	f.move("d1", "a", 400, map[string]any{"to": "dispatched"}) // no region
	deadline := f.clock.Now().Add(20 * 24 * time.Hour).Format(time.DateOnly)
	m = f.move("d1", "a", 200, map[string]any{"to": "dispatched", "region": "360102", "deadline": deadline, "note": "请核查"})
	if wf := m["workflow"].(map[string]any); wf["dispatch_region"] != "360102" || !strings.HasPrefix(wf["deadline"].(string), deadline[:8]) {
		t.Fatalf("dispatched: %v", m)
	}
	f.move("i9", "a", 403, map[string]any{"to": "investigating"}) // another county
	f.move("i1", "a", 200, map[string]any{"to": "investigating"})
	// Feedback with an attachment.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "核查记录.pdf")
	part.Write([]byte("%PDF-1.4 核查记录"))
	mw.Close()
	hd := bearer(f.tok["i1"])
	hd.Set("Content-Type", mw.FormDataContentType())
	status, b := f.do("POST", f.clue("a")+"/attachments", body.Bytes(), hd)
	if status != 201 || !strings.Contains(string(b), `"sha256":"`) || !strings.Contains(string(b), "核查记录.pdf") {
		t.Fatalf("attachment: %d %s", status, b)
	}
	status, b = f.do("GET", f.clue("a")+"/attachments/1", nil, bearer(f.tok["r2"]))
	if status != 200 || string(b) != "%PDF-1.4 核查记录" {
		t.Errorf("download: %d %q", status, b)
	}
	f.move("i1", "a", 400, map[string]any{"to": "answered"}) // no finding
	f.move("i1", "a", 200, map[string]any{"to": "answered", "note": "现场核查属实"})
	f.move("r2", "a", 400, map[string]any{"to": "closed"}) // no outcome
	f.move("r2", "a", 400, map[string]any{"to": "closed", "outcome": "confirmed",
		"points": []map[string]any{{"practitioner": "D001", "points": 9, "responsibility": "minor"}}}) // outside the band
	m = f.move("r2", "a", 200, map[string]any{"to": "closed", "outcome": "confirmed", "recovered_fen": 50000, "penalty_fen": 10000,
		"agreement_action": "rectify", "points": []map[string]any{{"practitioner": "D001", "points": 9, "responsibility": "important"}}})
	if m["state"] != "closed" {
		t.Fatalf("closed: %v", m)
	}
	status, pts := f.as("v1", "GET", "/api/v1/practitioners/D001/points", nil)
	if status != 200 || pts["points"] != float64(9) || pts["status"] != "suspended" {
		t.Errorf("points of D001: %d %v", status, pts)
	}
	// The pharmacy appeals the outcome; another reviewer decides.
	f.move("pharm", "a", 200, map[string]any{"to": "appealed", "note": "申诉：已退款"})
	f.move("r2", "a", 403, map[string]any{"to": "closed"}) // its own closing
	f.move("r1", "a", 200, map[string]any{"to": "closed", "note": "维持原处理"})
	// The history reads back.
	status, m = f.as("r1", "GET", f.clue("a"), nil)
	steps := m["steps"].([]any)
	if status != 200 || m["state"] != "closed" || len(steps) != 10 || len(m["attachments"].([]any)) != 1 || m["workflow"].(map[string]any)["outcome"] == nil {
		t.Fatalf("clue a: %d %d steps %v", status, len(steps), m)
	}
	// A second screening over the same facts changes no state.
	before := map[string]string{}
	for _, fp := range []string{"a", "c"} {
		_, m := f.as("r1", "GET", f.clue(fp), nil)
		before[fp] = m["state"].(string)
	}
	f.clock.Add(time.Hour)
	f.putClues(tracewatch.Clue{Fingerprint: "a", Detector: "trace.duplicate@1", Rule: "same_city", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectCode, SubjectID: "a", Region: "360102", Institution: instP, Explanation: "再次发现"})
	for fp, st := range before {
		if _, m := f.as("r1", "GET", f.clue(fp), nil); m["state"] != st {
			t.Errorf("re-screen moved %s from %s to %v", fp, st, m["state"])
		}
	}
	// The audit log has every step, and holds.
	sum, err := audit.Verify(f.auditDir)
	if err != nil {
		t.Fatal(err)
	}
	es, err := auditEntries(f.auditDir, audit.Filter{Action: "transition", Object: "clue:" + strconv.FormatInt(f.ids["a"], 10)})
	if err != nil || len(es) != 10 || sum.Entries < 10 {
		t.Errorf("audit: %d transitions of a, %d entries, %v", len(es), sum.Entries, err)
	}
}

// TestSessions: a user signs in with its password; the cookie is HttpOnly and SameSite;
// a change needs the CSRF token; five failures lock the name; signing out ends the session.
func TestSessions(t *testing.T) {
	f := newFlowHarness(t)
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	login := func(name, pw string) (*http.Response, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		resp, err := cl.Post(f.ts.URL+"/api/v1/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, m := login("r1", password)
	if resp.StatusCode != 200 || m["csrf_token"] == "" || m["role"] != "reviewer" || m["region"] != "360100" {
		t.Fatalf("login: %d %v", resp.StatusCode, m)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != SessionCookie || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie: %+v", ck)
	}
	csrf := m["csrf_token"].(string)
	send := func(method, path, csrfTok string, body any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, f.ts.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if csrfTok != "" {
			req.Header.Set(CSRFHeader, csrfTok)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("GET", "/api/v1/me", "", nil); got != 200 {
		t.Errorf("me: %d", got)
	}
	if got := send("POST", f.clue("c")+"/transitions", "", map[string]string{"to": "triaged"}); got != 403 {
		t.Errorf("a change without the CSRF token: %d", got)
	}
	if got := send("POST", f.clue("c")+"/transitions", "wrong", map[string]string{"to": "triaged"}); got != 403 {
		t.Errorf("a change with a wrong CSRF token: %d", got)
	}
	if got := send("POST", f.clue("c")+"/transitions", csrf, map[string]string{"to": "triaged"}); got != 200 {
		t.Errorf("a change with the CSRF token: %d", got)
	}
	if got := send("POST", "/api/v1/logout", csrf, nil); got != 200 {
		t.Errorf("logout: %d", got)
	}
	if got := send("GET", "/api/v1/me", "", nil); got != 401 {
		t.Errorf("after logout: %d", got)
	}
	// Five wrong passwords lock the name, even for the right one.
	for i := 0; i < 5; i++ {
		if resp, _ := login("r2", "not the password"); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d", i+1, resp.StatusCode)
		}
	}
	if resp, m := login("r2", password); resp.StatusCode != 429 || m["error"] != "locked" {
		t.Errorf("locked name: %d %v", resp.StatusCode, m)
	}
	f.clock.Add(lockoutFor + time.Second)
	if resp, _ := login("r2", password); resp.StatusCode != 200 {
		t.Errorf("after the lockout: %d", resp.StatusCode)
	}
	// Too many attempts from one address: 429.
	var last int
	for i := 0; i < loginBurst+1; i++ {
		resp, _ := login("nobody", "whatever password")
		last = resp.StatusCode
	}
	if last != 429 {
		t.Errorf("attempts beyond the burst: %d", last)
	}
	es, err := auditEntries(f.auditDir, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range es {
		count[e.Action]++
	}
	if count["login"] != 2 || count["login_failed"] < 5 || count["login_refused"] < 1 || count["logout"] != 1 || count["transition"] != 1 {
		t.Errorf("audit actions: %v", count)
	}
}

// TestCase: clues about one institution gathered into a case move as one; a clue of the
// case does not move on its own.
func TestCase(t *testing.T) {
	f := newFlowHarness(t)
	day := f.clock.Now().Format(time.DateOnly)
	status, m := f.as("r1", "POST", "/api/v1/cases", map[string]any{"institution": instP, "from": day, "to": day, "title": "一号大药房 3 月"})
	if status != 201 || len(m["clues"].([]any)) != 3 {
		t.Fatalf("case: %d %v", status, m)
	}
	id := int64(m["id"].(float64))
	f.move("r1", "c", 409, map[string]any{"to": "triaged"})
	status, m = f.as("r1", "POST", "/api/v1/cases/"+strconv.FormatInt(id, 10)+"/transitions", map[string]any{"to": "triaged", "note": "并案初审"})
	if status != 200 || len(m["clues"].([]any)) != 3 {
		t.Fatalf("case transition: %d %v", status, m)
	}
	for _, fp := range []string{"a", "c", "d"} {
		if _, m := f.as("r1", "GET", f.clue(fp), nil); m["state"] != "triaged" {
			t.Errorf("%s: %v", fp, m["state"])
		}
	}
	if status, _ := f.as("r9", "GET", "/api/v1/cases/"+strconv.FormatInt(id, 10), nil); status != 403 {
		t.Errorf("another city's reviewer reads the case: %d", status)
	}
	if status, _ := f.as("pharm", "POST", "/api/v1/cases", map[string]any{"institution": instP, "from": day, "to": day}); status != 403 {
		t.Errorf("a pharmacy makes a case: %d", status)
	}
}

// TestDigest: the digest counts a region's clues by state, those found today and those
// overdue.
func TestDigest(t *testing.T) {
	f := newFlowHarness(t)
	status, m := f.as("r1", "GET", "/api/v1/digest", nil)
	if status != 200 || m["states"].(map[string]any)["new"] != float64(4) || m["new_today"] != float64(4) || m["overdue"] != float64(0) {
		t.Fatalf("digest: %d %v", status, m)
	}
	f.move("r1", "c", 200, map[string]any{"to": "triaged"})
	f.clock.Add(11 * 24 * time.Hour) // past the 10 days of 初审 and 复审
	status, m = f.as("r1", "GET", "/api/v1/digest", nil)
	if status != 200 || m["overdue"] != float64(4) || len(m["overdue_clues"].([]any)) != 4 || m["new_today"] != float64(0) {
		t.Fatalf("digest later: %d %v", status, m)
	}
	if status, m := f.as("r1", "GET", "/api/v1/clues?overdue=true", nil); status != 200 || len(m["clues"].([]any)) != 4 {
		t.Errorf("overdue list: %d %v", status, m)
	}
	if status, m := f.as("r1", "GET", "/api/v1/clues?state=triaged", nil); status != 200 || len(m["clues"].([]any)) != 1 {
		t.Errorf("triaged list: %d %v", status, m)
	}
}

func auditEntries(dir string, f audit.Filter) ([]audit.Entry, error) {
	var out []audit.Entry
	err := audit.List(dir, f, func(e audit.Entry) error { out = append(out, e); return nil })
	return out, err
}

// TestTransitionHostile: bodies that are not what a transition takes are refused with
// 400 naming the problem, never a 500, and move nothing.
func TestTransitionHostile(t *testing.T) {
	f := newFlowHarness(t)
	for _, body := range []string{
		``, `[]`, `{"to": 7}`, `{"to": "triaged", "extra": 1}`, `{"to": "nowhere"}`,
		"{\"to\": \"triaged\", \"note\": \"\xff\xfe\"}", `{"to": "triaged", "note": "a` + strings.Repeat("长", 2000) + `"}`,
		`{"to": "closed", "recovered_fen": 1e30}`, `{"to": "triaged", "outcome": "confirmed"}`,
		`{"to": "dispatched", "deadline": "tomorrow"}`, `{"to": "triaged"} {"to": "reviewed"}`,
	} {
		status, b := f.do("POST", f.clue("c")+"/transitions", []byte(body), bearer(f.tok["r1"]))
		if status != 400 || !strings.Contains(string(b), `"error":"invalid"`) {
			t.Errorf("%.60q: %d %s", body, status, b)
		}
	}
	if _, m := f.as("r1", "GET", f.clue("c"), nil); m["state"] != "new" || len(m["steps"].([]any)) != 0 {
		t.Errorf("a refused body moved the clue: %v", m["state"])
	}
	// Another institution's clue id, from a pharmacy: 403, and nothing of it is told.
	status, b := f.do("POST", f.clue("e")+"/transitions", []byte(`{"to": "appealed", "note": "x"}`), bearer(f.tok["pharm"]))
	if status != 403 || strings.Contains(string(b), "PSN0001") {
		t.Errorf("another institution's clue: %d %s", status, b)
	}
	for _, id := range []string{"0", "-1", "99999999999999999999", "abc"} {
		if status, _ := f.do("POST", "/api/v1/clues/"+id+"/transitions", []byte(`{"to":"triaged"}`), bearer(f.tok["r1"])); status != 400 {
			t.Errorf("clue id %s: %d", id, status)
		}
	}
	if status, _ := f.do("POST", "/api/v1/clues/424242/transitions", []byte(`{"to":"triaged"}`), bearer(f.tok["r1"])); status != 404 {
		t.Errorf("no such clue: %d", status)
	}
}
