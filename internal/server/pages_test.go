package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/facts"
	"tracewatch/internal/rules"
	"tracewatch/internal/token"
)

// The pages of issue 14: 追溯码查询 and the public /q, 机构画像, 规则.

const instPX = "P36030200001" // a pharmacy of Pingxiang (360300), outside Nanchang

// pagesHarness is a server with fact reads, an audit log, a rule base file and a check
// index, and users of Nanchang and Pingxiang with tokens.
type pagesHarness struct {
	*harness
	auditDir  string
	rulesPath string
	tok       map[string]string
}

func newPagesHarness(t *testing.T) *pagesHarness {
	auditDir := t.TempDir()
	rulesPath := filepath.Join(t.TempDir(), rules.FileName)
	h := newHarness(t, func(c *Config) {
		l, err := audit.Open(auditDir)
		if err != nil {
			t.Fatal(err)
		}
		rf, err := rules.OpenFile(rulesPath)
		if err != nil {
			t.Fatal(err)
		}
		c.Audit, c.Facts, c.Rules, c.Index = l, c.Store.(facts.Reader), rf, rules.NewIndex()
	})
	p := &pagesHarness{harness: h, auditDir: auditDir, rulesPath: rulesPath, tok: map[string]string{}}
	ctx := context.Background()
	if err := h.st.UpsertInstitutions(ctx, []tracewatch.Institution{
		{Code: instPX, Name: "萍乡大药房", Type: tracewatch.InstitutionPharmacy, Region: "360302"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drugX, Name: "维生素B1片", Spec: "10mg*100片/瓶", PackContent: 100,
		Price: 850, Reimbursable: true, Kind: "western"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: codeA[:7], DrugCode: drugX, PackLevel: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []tracewatch.User{
		{Name: "r1", Role: tracewatch.RoleReviewer, Region: "360100"},
		{Name: "r9", Role: tracewatch.RoleReviewer, Region: "360300"},
		{Name: "v1", Role: tracewatch.RoleViewer, Region: "360000"},
		{Name: "a1", Role: tracewatch.RoleAdmin, Region: "360000"},
		{Name: "pharm", Role: tracewatch.RoleInstitution, Region: "360102", Institution: instP},
	} {
		if err := token.CreateUser(h.tokenDir, u, password, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		tok, _, err := token.CreateUserToken(h.tokenDir, u.Name, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.tok[u.Name] = tok
	}
	h.clock.Add(2 * token.RefreshInterval)
	return p
}

// as sends a request as a user ("" for nobody) and returns the status and the body.
func (p *pagesHarness) as(user, method, path string, body any) (int, []byte) {
	p.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	hd := http.Header{}
	if user != "" {
		hd = bearer(p.tok[user])
	}
	return p.do(method, path, b, hd)
}

// asJSON is as, decoding a JSON answer into v.
func (p *pagesHarness) asJSON(user, method, path string, body, v any) int {
	p.t.Helper()
	status, b := p.as(user, method, path, body)
	if err := json.Unmarshal(b, v); err != nil {
		p.t.Fatalf("%s %s as %q: %d, not JSON: %s", method, path, user, status, b)
	}
	return status
}

// sell submits a sale of codeA at inst with its own msgid, settlement, receipt and time.
func (p *pagesHarness) sell(inst, n, at string) {
	p.t.Helper()
	body := sale("S"+n, inst, codeA, map[string]any{"setl_id": "SETL" + n, "rtal_docno": "R" + n, "sel_retn_time": at})
	if status, env, b := p.submit(inst, "3505", body); status != 200 || env.Infcode != "0" {
		p.t.Fatalf("sale %s: %d %s", n, status, b)
	}
}

// publicAnswer fetches GET /api/v1/public/codes without a credential.
func (p *pagesHarness) publicAnswer(code string) (publicCode, []byte) {
	p.t.Helper()
	status, b := p.as("", "GET", "/api/v1/public/codes?code="+code, nil)
	var out publicCode
	if err := json.Unmarshal(b, &out); status != 200 || err != nil {
		p.t.Fatalf("public lookup of %s: %d %s", code, status, b)
	}
	return out, b
}

// TestPublicLookup: /q and GET /api/v1/public/codes answer without a sign-in how many
// times a box was sold, net of returns (a return then a resale is sold once, not twice),
// and show no person's data, no receipt, no settlement, no institution and no price.
func TestPublicLookup(t *testing.T) {
	p := newPagesHarness(t)
	if status, _, b := p.submit(instP, "3503", purchase("P-3503", instP, codeA)); status != 200 {
		t.Fatalf("purchase: %d %s", status, b)
	}
	if a, _ := p.publicAnswer(codeA); !a.Recognized || !a.Known || a.Sold != 0 || a.Verdict != "未销售" || a.FirstSold != "" || a.Warning {
		t.Errorf("received, not sold: %+v", a)
	}
	p.sell(instP, "1", "2025-03-01 09:29:58")
	if a, _ := p.publicAnswer(codeA); a.Sold != 1 || a.Verdict != "已销售1次" || a.FirstSold != "2025-03-01" || a.Warning {
		t.Errorf("sold once: %+v", a)
	}
	ret := envelope("3506", "RET1", instP, mustJSON(map[string]any{"selinfo": saleRow(codeA, map[string]any{
		"setl_id": "SETL1", "rtal_docno": "R1", "sel_retn_time": "2025-03-01 09:40:00", "medins_prod_sel_no": "R1"})}))
	if status, env, b := p.submit(instP, "3506", ret); status != 200 || env.Infcode != "0" {
		t.Fatalf("return: %d %s", status, b)
	}
	if a, _ := p.publicAnswer(codeA); a.Sold != 0 || a.Verdict != "未销售" || !strings.Contains(a.Advice, "退货") {
		t.Errorf("sold and returned: %+v", a)
	}
	p.sell(instQ, "2", "2025-03-01 10:00:00")
	if a, _ := p.publicAnswer(codeA); a.Sold != 1 || a.Warning {
		t.Errorf("returned, then sold again (a near miss): %+v, want sold once", a)
	}
	p.sell(instP, "3", "2025-03-01 10:30:00")
	a, js := p.publicAnswer(codeA)
	if a.Sold != 2 || !a.Warning || a.Verdict != "已销售2次：请注意可能为回流药" || a.FirstSold != "2025-03-01" || a.DrugName != "维生素B1片" {
		t.Errorf("sold twice: %+v", a)
	}

	status, html := p.as("", "GET", "/q?code="+codeA, nil)
	if status != 200 || !strings.Contains(string(html), "已销售2次") || !strings.Contains(string(html), "2 次") {
		t.Fatalf("GET /q?code=: %d\n%s", status, html)
	}
	// Planted in every sale: the person, the ID number, the psn_no, the receipt, the
	// settlement, the staff and the price; the institutions sold it.
	for _, secret := range []string{psnName, certno, "002X", "36000012345678", "R1", "R3", "SETL", "MD20250301001", "李医生", "王药师", "钱七",
		"12.30", "8.50", instP, instQ, "一号大药房", "二号大药房"} {
		for what, body := range map[string][]byte{"/q": html, "/api/v1/public/codes": js} {
			if strings.Contains(string(body), secret) {
				t.Errorf("%s shows %q", what, secret)
			}
		}
	}
	req, _ := http.NewRequest("GET", p.ts.URL+"/q?code="+codeA, nil)
	resp, err := p.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/q headers: %v", resp.Header)
	}

	bad, _ := p.publicAnswer("6901234567892")
	if bad.Recognized || bad.Error != "not_trace_code" || !strings.Contains(bad.Reason, "商品条码而非追溯码") {
		t.Errorf("a commodity barcode: %+v", bad)
	}
	if never, _ := p.publicAnswer("81234560000000000001"); !never.Recognized || never.Known || never.Sold != 0 || never.Verdict != "未销售" || never.DrugName != "" {
		t.Errorf("a code of an unknown product, never seen: %+v", never)
	}
	if other, _ := p.publicAnswer(codeB); !other.Known || other.Sold != 0 || other.DrugName != "维生素B1片" {
		t.Errorf("an unsold box of a known product: %+v", other)
	}
	if status, b := p.as("", "GET", "/q?code=6901234567892", nil); status != 200 || !strings.Contains(string(b), "商品条码而非追溯码") {
		t.Errorf("/q of a commodity barcode: %d", status)
	}
	if status, b := p.as("", "GET", "/api/v1/public/codes", nil); status != 400 || !strings.Contains(string(b), "code") {
		t.Errorf("no code: %d %s", status, b)
	}
	if status, b := p.as("", "GET", "/api/v1/public/codes?code=1&x=2", nil); status != 400 || !strings.Contains(string(b), "x") {
		t.Errorf("an unknown parameter: %d %s", status, b)
	}
}

// TestPublicRateLimit: a client address gets 30 lookups a minute, /q and the JSON API
// together; then 429 with Retry-After and a Chinese message until the limit refills. The
// form itself (no code) is not counted.
func TestPublicRateLimit(t *testing.T) {
	p := newPagesHarness(t)
	for i := range publicBurst {
		path := "/api/v1/public/codes?code=" + codeB
		if i%2 == 1 {
			path = "/q?code=" + codeB
		}
		if status, b := p.as("", "GET", path, nil); status != 200 {
			t.Fatalf("lookup %d: %d %s", i+1, status, b)
		}
	}
	req, _ := http.NewRequest("GET", p.ts.URL+"/api/v1/public/codes?code="+codeB, nil)
	resp, err := p.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var refused apiError
	json.NewDecoder(resp.Body).Decode(&refused)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || !strings.Contains(refused.Message, "查询过于频繁") {
		t.Errorf("lookup %d: %d Retry-After %q %+v; want 429 after 2 s", publicBurst+1, resp.StatusCode, resp.Header.Get("Retry-After"), refused)
	}
	if status, b := p.as("", "GET", "/q?code="+codeB, nil); status != http.StatusTooManyRequests || !strings.Contains(string(b), "查询过于频繁") {
		t.Errorf("/q over the limit: %d", status)
	}
	if status, _ := p.as("", "GET", "/q", nil); status != 200 {
		t.Errorf("the form over the limit: %d, want 200 (only lookups count)", status)
	}
	p.clock.Add(2 * 1e9)
	if status, b := p.as("", "GET", "/api/v1/public/codes?code="+codeB, nil); status != 200 {
		t.Errorf("after 2 s: %d %s", status, b)
	}
}

// closeClue moves a stored clue straight to a decided state with an outcome (the
// workflow's own tests cover the steps that lead there).
func (p *pagesHarness) closeClue(fp string, state tracewatch.ClueState, o *tracewatch.Outcome) {
	p.t.Helper()
	ctx := context.Background()
	all, err := p.st.Clues(ctx, tracewatch.ClueFilter{Limit: -1})
	if err != nil {
		p.t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(c tracewatch.Clue) bool { return c.Fingerprint == fp })
	if i < 0 {
		p.t.Fatalf("no clue %s", fp)
	}
	c := all[i]
	now := p.clock.Now()
	err = p.st.ApplySteps(ctx, []tracewatch.StepWrite{{Expect: c.State,
		Step: tracewatch.ClueStep{ClueID: c.ID, From: c.State, To: state, Actor: "r1", Role: tracewatch.RoleReviewer, Time: now, Applied: true, Outcome: o},
		Flow: tracewatch.ClueFlow{Since: now, Outcome: o}}})
	if err != nil {
		p.t.Fatal(err)
	}
}

// putClues stores clues of T1 and T3: three at instP (Nanchang), one at instPX
// (Pingxiang); one of instP's is closed confirmed with points, one dismissed.
func (p *pagesHarness) putClues() {
	p.t.Helper()
	mk := func(fp, det, inst, region string, sev tracewatch.Severity) tracewatch.Clue {
		return tracewatch.Clue{Fingerprint: fp, Detector: det, Rule: "r", Severity: sev, Subject: tracewatch.SubjectCode, SubjectID: fp,
			Region: tracewatch.Region(region), Institution: inst, AmountFen: 10_000, Codes: []string{codeA}, Persons: []string{"PSN0001"},
			Explanation: "追溯码重复销售 " + psnName}
	}
	if _, err := p.st.PutClues(context.Background(), []tracewatch.Clue{
		mk("a", "trace.duplicate@1", instP, "360102", tracewatch.SeverityViolation),
		mk("b", "trace.duplicate@1", instP, "360102", tracewatch.SeveritySuspicious),
		mk("c", "trace.nosource@1", instP, "360102", tracewatch.SeverityHighlySuspicious),
		mk("x", "trace.duplicate@1", instPX, "360302", tracewatch.SeverityViolation),
	}, p.clock.Now()); err != nil {
		p.t.Fatal(err)
	}
	p.closeClue("a", tracewatch.ClueClosed, &tracewatch.Outcome{Result: tracewatch.OutcomeConfirmed, RecoveredFen: 8_000, PenaltyFen: 1_000,
		Points: []tracewatch.PointAward{{Practitioner: "YS123", Institution: instP, Points: 3, Responsibility: "minor", Time: p.clock.Now(), Actor: "r1"}}})
	p.closeClue("b", tracewatch.ClueDismissed, nil)
}

// TestInstitutionsAPI: the search lists the institutions of the caller's region only;
// one institution's figures, clues, outcomes and points; 403 outside the region, 404
// for one unknown, staff only; reading its points is audited.
func TestInstitutionsAPI(t *testing.T) {
	p := newPagesHarness(t)
	p.putClues()
	p.submit(instP, "3503", purchase("P-3503", instP, codeA, codeB))
	p.sell(instP, "1", "2025-03-01 09:29:58")
	uncoded := sale("S9", instP, codeA, map[string]any{"setl_id": "SETL9", "rtal_docno": "R9", "drugtracinfo": nil})
	if status, env, b := p.submit(instP, "3505", uncoded); status != 200 || env.Infcode != "0" {
		t.Fatalf("a sale without a code: %d %s", status, b)
	}
	codes := func(user, q string) []string {
		var out struct {
			Institutions []institutionJSON `json:"institutions"`
			Total        int               `json:"total"`
		}
		if status := p.asJSON(user, "GET", "/api/v1/institutions?q="+q, nil, &out); status != 200 {
			t.Fatalf("search as %s: %d", user, status)
		}
		var cs []string
		for _, i := range out.Institutions {
			cs = append(cs, i.Code)
		}
		if out.Total != len(cs) {
			t.Errorf("total %d, listed %d", out.Total, len(cs))
		}
		return cs
	}
	if got := codes("r1", "%E5%A4%A7%E8%8D%AF%E6%88%BF"); !slices.Equal(got, []string{instP, instQ}) { // 大药房
		t.Errorf("r1 (Nanchang) finds %v, want the two pharmacies of Nanchang only", got)
	}
	if got := codes("r9", ""); !slices.Equal(got, []string{instPX}) {
		t.Errorf("r9 (Pingxiang) finds %v", got)
	}
	if got := codes("v1", "p36010200002"); !slices.Equal(got, []string{instQ}) {
		t.Errorf("by code, any case: %v", got)
	}

	var v struct {
		Institution institutionJSON `json:"institution"`
		Figures     struct {
			Lines, Coded, Events int64
			Collection           *float64
			Days                 []struct{ Day string }
		} `json:"figures"`
		Clues struct {
			Clues, Open  int64
			RecoveredFen int64       `json:"recovered_fen"`
			ByModel      []countJSON `json:"by_model"`
			BySeverity   []countJSON `json:"by_severity"`
		} `json:"clues"`
		Outcomes      outcomeFigures `json:"outcomes"`
		Decided       []outcomeJSON  `json:"decided"`
		Practitioners []struct {
			Practitioner string
			Points       int
		} `json:"practitioners"`
	}
	status := p.asJSON("r1", "GET", "/api/v1/institutions/"+instP+"?from=2025-02-25&to=2025-03-01", nil, &v)
	if status != 200 || v.Institution.Name != "一号大药房" || v.Institution.TypeZh != "零售药店" || v.Institution.AgreementZh != "正常" {
		t.Fatalf("institution: %d %+v", status, v.Institution)
	}
	if len(v.Figures.Days) != 5 || v.Figures.Lines != 2 || v.Figures.Coded != 1 || v.Figures.Collection == nil || *v.Figures.Collection != 0.5 || v.Figures.Events < 3 {
		t.Errorf("figures: %+v", v.Figures)
	}
	if v.Clues.Clues != 3 || v.Clues.Open != 1 || v.Clues.RecoveredFen != 8_000 || len(v.Clues.ByModel) != 2 || v.Clues.ByModel[0].Key != "trace.duplicate@1" ||
		v.Clues.ByModel[0].Clues != 2 || v.Clues.BySeverity[0].Key != "violation" {
		t.Errorf("clues: %+v", v.Clues)
	}
	if o := v.Outcomes; o.Decided != 2 || o.Confirmed != 1 || o.Dismissed != 1 || o.Precision == nil || *o.Precision != 0.5 || len(v.Decided) != 2 {
		t.Errorf("outcomes: %+v %+v", o, v.Decided)
	}
	if len(v.Practitioners) != 1 || v.Practitioners[0].Practitioner != "YS123" || v.Practitioners[0].Points != 3 {
		t.Errorf("points: %+v", v.Practitioners)
	}
	_, raw := p.as("r1", "GET", "/api/v1/institutions/"+instP, nil)
	for _, secret := range []string{psnName, "PSN0001"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the institution's answer shows %q", secret)
		}
	}
	es, err := auditEntries(p.auditDir, audit.Filter{Action: "read_person"})
	if err != nil || len(es) == 0 || es[len(es)-1].Actor != "r1" || es[len(es)-1].Detail["institution"] != instP {
		t.Errorf("audit of the points read: %v %+v", err, es)
	}

	for _, c := range []struct {
		user, path string
		want       int
	}{
		{"r9", "/api/v1/institutions/" + instP, 403}, // Nanchang's, asked by Pingxiang
		{"r1", "/api/v1/institutions/" + instPX, 403},
		{"pharm", "/api/v1/institutions/" + instP, 403}, // staff only
		{"pharm", "/api/v1/institutions", 403},
		{"", "/api/v1/institutions", 401},
		{"r1", "/api/v1/institutions/P36010299999", 404},
		{"r1", "/api/v1/institutions/bad", 400},
		{"r1", "/api/v1/institutions/" + instP + "?from=2025-03-01", 400},
		{"r1", "/api/v1/institutions/" + instP + "?days=0", 400},
		{"r9", "/api/v1/institutions/" + instPX, 200},
	} {
		if status, b := p.as(c.user, "GET", c.path, nil); status != c.want {
			t.Errorf("GET %s as %q: %d %s, want %d", c.path, c.user, status, b, c.want)
		}
	}
}

// TestRulesAPI: the rule base with each rule's figures within the caller's region; an
// admin's edit is checked by the rule base (a bad parameter: 400 naming it), written to
// the file, applied to the counter at once and audited; anyone else gets 403.
func TestRulesAPI(t *testing.T) {
	p := newPagesHarness(t)
	p.putClues()
	type listing struct {
		Rules    []ruleJSON `json:"rules"`
		Editable bool       `json:"editable"`
		File     string     `json:"file"`
	}
	get := func(user string) (listing, map[string]ruleJSON) {
		var l listing
		if status := p.asJSON(user, "GET", "/api/v1/rules", nil, &l); status != 200 {
			t.Fatalf("GET /api/v1/rules as %s: %d", user, status)
		}
		by := map[string]ruleJSON{}
		for _, r := range l.Rules {
			by[r.Short] = r
		}
		return l, by
	}
	l, by := get("v1")
	if len(l.Rules) != len(rules.Registry()) || l.Editable || l.File != rules.FileName {
		t.Errorf("viewer: %d rules, editable %v, file %q", len(l.Rules), l.Editable, l.File)
	}
	t1 := by["T1"].Figures
	if t1.Clues != 3 || len(t1.BySeverity) != 2 || t1.BySeverity[0].Key != "violation" || t1.BySeverity[0].Clues != 2 ||
		t1.Outcomes.Decided != 2 || t1.Outcomes.Precision == nil || *t1.Outcomes.Precision != 0.5 {
		t.Errorf("T1 figures for the province: %+v", t1)
	}
	if t3 := by["T3"]; t3.Figures.Clues != 1 || !t3.Enabled || t3.Params[0].Name != "min_coverage" || t3.Params[0].Value != "0.95" || !t3.Counter {
		t.Errorf("T3: %+v", t3)
	}
	if _, by9 := get("r9"); by9["T1"].Figures.Clues != 1 || by9["T1"].Figures.Outcomes.Decided != 0 {
		t.Errorf("T1 figures for Pingxiang: %+v", by9["T1"].Figures)
	}
	if l, _ := get("a1"); !l.Editable {
		t.Error("an admin may not edit")
	}

	counterHas := func(name string) bool {
		return slices.ContainsFunc(p.srv.index.Rules(), func(r rules.Rule) bool { return rules.Name(r) == name })
	}
	if !counterHas("trace.nosource") {
		t.Fatal("the counter does not check T3 before the edit")
	}
	for _, c := range []struct {
		user  string
		body  any
		want  int
		field string
	}{
		{"v1", map[string]any{"enabled": false}, 403, ""},
		{"r1", map[string]any{"enabled": false}, 403, ""},
		{"a1", map[string]any{"params": map[string]any{"min_coverage": "abc"}}, 400, "min_coverage"},
		{"a1", map[string]any{"params": map[string]any{"min_coverage": 2}}, 400, "min_coverage"},
		{"a1", map[string]any{"params": map[string]any{"min_cover": 0.9}}, 400, "min_cover"},
		{"a1", map[string]any{"params": map[string]any{"min_coverage": true}}, 400, "min_coverage"},
		{"a1", map[string]any{"severity": "violation"}, 400, "severity"},
		{"a1", map[string]any{"enabled": false, "regions": []string{"360100"}}, 400, "regions"},
		{"a1", map[string]any{}, 400, "body"},
	} {
		status, b := p.as(c.user, "POST", "/api/v1/rules/T3", c.body)
		var e apiError
		json.Unmarshal(b, &e)
		if status != c.want || !strings.Contains(e.Message, c.field) {
			t.Errorf("POST %v as %s: %d %s, want %d naming %q", c.body, c.user, status, b, c.want, c.field)
		}
	}
	if _, err := os.Stat(p.rulesPath); err == nil {
		t.Error("refused edits wrote the rule base file")
	}
	if status, b := p.as("a1", "POST", "/api/v1/rules/T99", map[string]any{"enabled": false}); status != 404 {
		t.Errorf("an unknown rule: %d %s", status, b)
	}

	var ok struct {
		Rule    ruleJSON `json:"rule"`
		Applied string   `json:"applied"`
	}
	if status := p.asJSON("a1", "POST", "/api/v1/rules/T3", map[string]any{"enabled": false, "severity": "suspicious",
		"params": map[string]any{"min_coverage": 0.9}}, &ok); status != 200 {
		t.Fatalf("admin's edit: %d %+v", status, ok)
	}
	if ok.Rule.Enabled || ok.Rule.Severity != "suspicious" || ok.Rule.Params[0].Value != "0.9" || ok.Applied == "" {
		t.Errorf("the answer: %+v", ok)
	}
	if counterHas("trace.nosource") {
		t.Error("the counter still checks T3 after it was disabled")
	}
	rf, err := rules.OpenFile(p.rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rf.Base()
	if e, _ := b.Entry("T3"); e.Enabled || rules.ParamValue(e, "min_coverage") != "0.9" || e.EffectiveSeverity() != tracewatch.SeveritySuspicious {
		t.Error("the file does not hold the edit")
	}
	if _, by := get("v1"); by["T3"].Enabled || by["T3"].Params[0].Value != "0.9" {
		t.Errorf("GET after the edit: %+v", by["T3"])
	}
	es, err := auditEntries(p.auditDir, audit.Filter{Action: "rule_set"})
	if err != nil || len(es) != 1 || es[0].Actor != "a1" || es[0].Object != "rule:trace.nosource@1" {
		t.Errorf("audit: %v %+v", err, es)
	}
}

// TestPages: each page renders for staff with its script; the trace page says why an
// input is not a trace code; an institution outside the region or unknown is refused
// on the page; without a session a page leads to the sign-in form.
func TestPages(t *testing.T) {
	p := newPagesHarness(t)
	for _, c := range []struct {
		user, path string
		want       int
		has        []string
	}{
		{"r1", "/trace", 200, []string{`data-page="trace"`, "/static/js/trace.js", "autofocus"}},
		{"r1", "/trace?code=" + codeA, 200, []string{`data-code="` + codeA + `"`}},
		{"r1", "/trace?code=6901234567892", 200, []string{"商品条码而非追溯码", `data-code=""`}},
		{"r1", "/institutions", 200, []string{`data-page="institutions"`, "/static/js/institutions.js"}},
		{"r1", "/institutions/" + instP, 200, []string{`data-code="` + instP + `"`, "一号大药房", "/static/js/institution.js", "echarts.min.js"}},
		{"r9", "/institutions/" + instP, 403, []string{"无权查看"}},
		{"r1", "/institutions/P36010299999", 404, []string{"没有这家机构"}},
		{"v1", "/rules", 200, []string{`data-page="rules"`, "/static/js/rules.js"}},
		{"pharm", "/rules", 403, []string{"无权查看此页面"}},
		{"", "/trace", 200, []string{"login-form"}}, // redirected to the sign-in form
		{"", "/q", 200, []string{`name="code"`, `action="/q"`}},
	} {
		status, b := p.as(c.user, "GET", c.path, nil)
		if status != c.want {
			t.Errorf("GET %s as %q: %d, want %d", c.path, c.user, status, c.want)
		}
		for _, s := range c.has {
			if !strings.Contains(string(b), s) {
				t.Errorf("GET %s as %q: no %q", c.path, c.user, s)
			}
		}
	}
	for _, js := range []string{"trace.js", "institutions.js", "institution.js", "rules.js"} {
		if status, _ := p.as("", "GET", "/static/js/"+js, nil); status != 200 {
			t.Errorf("/static/js/%s: %d", js, status)
		}
	}
}
