package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/rules"
)

// The real-time check (事中审核): POST /api/v1/check (native JSON) and POST
// /fsi/api/3101, /3102 (the national smart-supervision input), both signed like the NHSA
// endpoints, answered from the in-memory index; POST /fsi/api/3103 records the
// pharmacy's decision on a warning. docs/api.md.

// sevDeg is the national sev_deg code of a severity (dictionary not published; the
// values tracewatch uses, with sev_deg_name beside them).
func sevDeg(s tracewatch.Severity) string {
	switch s {
	case tracewatch.SeverityViolation:
		return "1"
	case tracewatch.SeverityHighlySuspicious:
		return "2"
	case tracewatch.SeveritySuspicious:
		return "3"
	}
	return "4"
}

// violationJSON is one finding in the national output shape (3101/3102 output.result).
type violationJSON struct {
	JrID         string `json:"jr_id"`
	RuleID       string `json:"rule_id"`
	RuleName     string `json:"rule_name"`
	VolaCont     string `json:"vola_cont"`
	PatnID       string `json:"patn_id,omitempty"`
	MdtrtID      string `json:"mdtrt_id,omitempty"`
	VolaAmt      string `json:"vola_amt"`
	VolaAmtStas  string `json:"vola_amt_stas"`
	SevDeg       string `json:"sev_deg"`
	SevDegName   string `json:"sev_deg_name"`
	VolaEvid     string `json:"vola_evid"`
	VolaBhvrType string `json:"vola_bhvr_type"`
	TaskID       string `json:"task_id,omitempty"`
	Line         int    `json:"line,omitempty"`   // tracewatch: the request line (1-based)
	Code         string `json:"code,omitempty"`   // tracewatch: the scan concerned
	RxID         string `json:"rx_id,omitempty"`  // 3101/3102: the order concerned
	Rescan       bool   `json:"rescan,omitempty"` // tracewatch: a scan problem, rescan and compare with the pack
	Severity     string `json:"severity"`         // tracewatch: notice … violation
	Detail       []any  `json:"judge_result_detail_dtos,omitempty"`
}

// jrID is a stable id for one finding: the same question gets the same id (3103 refers
// to it).
func jrID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:12])
}

func (s *Server) toJSON(v rules.Violation, scope ...string) violationJSON {
	return violationJSON{
		JrID:   jrID(append(scope, strconv.Itoa(v.Line), v.Code, v.RuleID, v.Rule)...),
		RuleID: v.RuleID, RuleName: v.RuleName, VolaCont: v.Content, VolaAmt: v.Amount.String(), VolaAmtStas: "1",
		SevDeg: sevDeg(v.Severity), SevDegName: v.Severity.Chinese(), VolaEvid: v.Evidence, VolaBhvrType: v.Behavior,
		Line: v.Line, Code: v.Code, Rescan: v.Rule == "malformed" || v.Rule == "commodity_barcode" || v.Rule == "unknown_product",
		Severity: v.Severity.String(),
	}
}

// Request caps of the real-time check (docs/api.md). A check is one counter sale or one
// settlement's orders: these bound what one request may cost and what its answer may
// weigh (each finding is some 600 bytes).
const (
	maxCheckLines = 500     // lines of /api/v1/check; orders of a 3101/3102 (all encounters)
	maxCheckCodes = 1000    // scanned codes of one request
	maxCodeLen    = 256     // bytes of one scanned code (a GS1 Digital Link URI fits)
	maxCheckBody  = 2 << 20 // bytes of a /api/v1/check body
	maxCheckQty   = 1000000 // quantity of a line, cnt of an order
	maxWarns      = 500     // warns of one 3103
)

// badText says what is wrong with a national text field: more than max characters, or
// control characters or invalid UTF-8 ("" when nothing is).
func badText(v string, max int) string {
	switch {
	case utf8.RuneCountInString(v) > max:
		return fmt.Sprintf("longer than %d characters", max)
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "holds control characters or invalid UTF-8"
	}
	return ""
}

// jsonProblem describes a JSON decoding error of the node named by path without Go's
// type names: the national field path and what it should be.
func jsonProblem(path string, err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			if path != "" {
				path += "."
			}
			path += te.Field
		}
		want := "another type"
		switch te.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Struct, reflect.Map:
			want = "an object"
		case reflect.Int, reflect.Int64, reflect.Float64:
			want = "a number"
		}
		return fmt.Sprintf("%s: want %s, got %s", path, want, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("%s: malformed JSON at byte %d", path, se.Offset)
	}
	return path + ": malformed JSON"
}

// checkRequest is the native check body.
type checkRequest struct {
	FixmedinsCode string `json:"fixmedins_code"`
	PsnNo         string `json:"psn_no"`
	RtalDocno     string `json:"rtal_docno"`
	Time          string `json:"time"` // optional, yyyy-MM-dd HH:mm:ss (Asia/Shanghai); default: now
	Lines         []struct {
		MedListCodg string          `json:"med_list_codg"`
		Quantity    json.RawMessage `json:"quantity"`
		TrdnFlag    json.RawMessage `json:"trdn_flag"`
		Codes       []string        `json:"codes"`
	} `json:"lines"`
}

// checkAnswer is the native check answer.
type checkAnswer struct {
	Infcode   string          `json:"infcode"`
	ErrMsg    string          `json:"err_msg"`
	CheckedAt string          `json:"checked_at"`
	Result    []violationJSON `json:"result"` // empty when clean
}

func (s *Server) checkRefused(w http.ResponseWriter, r *http.Request, status int, msg string) {
	recordOf(r).reason = msg
	writeJSON(w, status, checkAnswer{Infcode: "-1", ErrMsg: msg, Result: []violationJSON{}})
}

// handleCheck answers POST /api/v1/check.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := recordOf(r)
	rec.paasid = short(strings.TrimSpace(r.Header.Get(HeaderPaasID)))
	id, err := s.auth.Verify(r.Context(), r.Header)
	if err != nil {
		s.checkRefused(w, r, statusOf(err), publicMessage(err))
		return
	}
	rec.institution = id.Institution
	if !s.allow(id.Institution) {
		s.checkRefused(w, r, http.StatusTooManyRequests, "请求过于频繁：超过本机构的速率限制，请稍后重试 (rate limit)")
		return
	}
	if s.index == nil || !s.index.Ready() {
		w.Header().Set("Retry-After", "5")
		s.checkRefused(w, r, http.StatusServiceUnavailable, "the check index is loading; retry shortly")
		return
	}
	body, err := readBody(w, r, min(s.maxBody, maxCheckBody))
	if err != nil {
		s.checkRefused(w, r, statusOf(err), publicMessage(err))
		return
	}
	var req checkRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.checkRefused(w, r, http.StatusBadRequest, jsonProblem("body", err))
		return
	}
	if req.FixmedinsCode != id.Institution {
		s.checkRefused(w, r, http.StatusForbidden, "fixmedins_code: this credential may only check for its own institution")
		return
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"psn_no", req.PsnNo, 30}, {"rtal_docno", req.RtalDocno, 40}} {
		if p := badText(f.v, f.max); p != "" {
			s.checkRefused(w, r, http.StatusBadRequest, f.name+": "+p)
			return
		}
	}
	if len(req.Lines) > maxCheckLines {
		s.checkRefused(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("lines: %d lines, the limit is %d per check", len(req.Lines), maxCheckLines))
		return
	}
	codes := 0
	for i, l := range req.Lines {
		if codes += len(l.Codes); codes > maxCheckCodes {
			s.checkRefused(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("lines[%d].codes: more than %d codes in one check (the limit)", i, maxCheckCodes))
			return
		}
		for j, c := range l.Codes {
			if len(c) > maxCodeLen {
				s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].codes[%d]: longer than %d bytes", i, j, maxCodeLen))
				return
			}
		}
	}
	cr := rules.CheckRequest{Institution: req.FixmedinsCode, Person: req.PsnNo, Receipt: req.RtalDocno, Time: start}
	if req.Time != "" {
		t, err := time.ParseInLocation("2006-01-02 15:04:05", req.Time, nhsa.CST)
		if err != nil {
			s.checkRefused(w, r, http.StatusBadRequest, "time: want yyyy-MM-dd HH:mm:ss")
			return
		}
		cr.Time = t
	}
	if len(req.Lines) == 0 {
		s.checkRefused(w, r, http.StatusBadRequest, "lines: at least one line is required")
		return
	}
	for i, l := range req.Lines {
		cl := rules.CheckLine{DrugCode: strings.TrimSpace(l.MedListCodg), Codes: l.Codes, Qty: tracewatch.QtyScale}
		if len(l.Quantity) > 0 && string(l.Quantity) != "null" {
			q, err := tracewatch.ParseQty(strings.Trim(string(l.Quantity), `"`))
			if err != nil || q <= 0 || q > maxCheckQty*tracewatch.QtyScale {
				s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].quantity: want a positive decimal up to %d", i, maxCheckQty))
				return
			}
			cl.Qty = q
		}
		switch strings.Trim(string(l.TrdnFlag), `"`) {
		case "", "0", "null":
		case "1":
			cl.Split = true
		default:
			s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].trdn_flag: want 0 or 1", i))
			return
		}
		if cl.DrugCode == "" {
			s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].med_list_codg: required", i))
			return
		}
		if p := badText(cl.DrugCode, 50); p != "" {
			s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].med_list_codg: %s", i, p))
			return
		}
		cr.Lines = append(cr.Lines, cl)
	}
	vs := s.index.Check(cr)
	ans := checkAnswer{Infcode: "0", CheckedAt: cr.Time.In(nhsa.CST).Format("2006-01-02 15:04:05"), Result: make([]violationJSON, 0, len(vs))}
	for _, v := range vs {
		ans.Result = append(ans.Result, s.toJSON(v, req.FixmedinsCode, req.RtalDocno, req.PsnNo))
	}
	s.metrics.checked(len(vs))
	writeJSON(w, http.StatusOK, ans)
}

// Smart-supervision input (3101/3102), the parts the check reads.
type superviseInput struct {
	Data struct {
		TaskID   string `json:"task_id"`
		TrigScen string `json:"trig_scen"`
		Patients []struct {
			PatnID     string `json:"patn_id"`
			Encounters []struct {
				MdtrtID  string `json:"mdtrt_id"`
				MedinsID string `json:"medins_id"`
				SetlDate string `json:"setl_date"`
				Orders   []struct {
					RxID       string          `json:"rx_id"`
					HilistCode string          `json:"hilist_code"`
					Cnt        json.RawMessage `json:"cnt"`
					TrdnFlag   json.RawMessage `json:"trdn_flag"`
					TracCodg   string          `json:"drug_trac_codg"`
					TracInfo   []struct {
						Codg     string          `json:"drug_trac_codg"`
						TrdnFlag json.RawMessage `json:"trdn_flag"`
					} `json:"drug_trac_info"`
					TracInfo2 []struct {
						Codg string `json:"drug_trac_codg"`
					} `json:"drugtracinfo"`
				} `json:"fsi_order_dtos"`
			} `json:"fsi_encounter_dtos"`
		} `json:"patient_dtos"`
	} `json:"data"`
}

// superviseOutput is the national 3101/3102 output.
type superviseOutput struct {
	Result []violationJSON `json:"result"`
}

// handleSupervise answers 3101 (事前) and 3102 (事中) in the national envelope.
func (s *Server) handleSupervise(w http.ResponseWriter, r *http.Request, req nhsa.Request, received time.Time, institution string) {
	if s.index == nil || !s.index.Ready() {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, nhsa.Fail(req, "the check index is loading; retry shortly", received, s.now()))
		return
	}
	fail := func(status int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		recordOf(r).reason = msg
		writeJSON(w, status, nhsa.Fail(req, msg, received, s.now()))
	}
	var in superviseInput
	if err := json.Unmarshal(req.Input, &in); err != nil {
		fail(http.StatusOK, "%s", jsonProblem("input", err))
		return
	}
	if len(in.Data.Patients) == 0 {
		fail(http.StatusOK, "data.patient_dtos: required")
		return
	}
	if p := badText(in.Data.TaskID, 64); p != "" {
		fail(http.StatusOK, "data.task_id: %s", p)
		return
	}
	// The caps first, before any work: orders and codes of the whole request.
	orders, codes := 0, 0
	for pi, p := range in.Data.Patients {
		for ei, enc := range p.Encounters {
			for oi, o := range enc.Orders {
				orders++
				n := len(o.TracInfo) + len(o.TracInfo2)
				if o.TracCodg != "" {
					n += strings.Count(o.TracCodg, ",") + 1
				}
				codes += n
				path := fmt.Sprintf("data.patient_dtos[%d].fsi_encounter_dtos[%d].fsi_order_dtos[%d]", pi, ei, oi)
				switch {
				case orders > maxCheckLines:
					fail(http.StatusRequestEntityTooLarge, "%s: more than %d orders in one request (the limit)", path, maxCheckLines)
					return
				case codes > maxCheckCodes:
					fail(http.StatusRequestEntityTooLarge, "%s: more than %d trace codes in one request (the limit)", path, maxCheckCodes)
					return
				}
			}
		}
	}
	out := superviseOutput{Result: []violationJSON{}}
	for pi, p := range in.Data.Patients {
		pp := fmt.Sprintf("data.patient_dtos[%d]", pi)
		if msg := badText(p.PatnID, 30); msg != "" {
			fail(http.StatusOK, "%s.patn_id: %s", pp, msg)
			return
		}
		for ei, enc := range p.Encounters {
			ep := fmt.Sprintf("%s.fsi_encounter_dtos[%d]", pp, ei)
			if enc.MedinsID != "" && enc.MedinsID != institution {
				fail(http.StatusForbidden, "%s.medins_id: another institution", ep)
				return
			}
			if msg := badText(enc.MdtrtID, 30); msg != "" {
				fail(http.StatusOK, "%s.mdtrt_id: %s", ep, msg)
				return
			}
			cr := rules.CheckRequest{Institution: institution, Person: p.PatnID, Receipt: enc.MdtrtID, Time: received}
			if enc.SetlDate != "" {
				t, err := time.ParseInLocation("2006-01-02 15:04:05", enc.SetlDate, nhsa.CST)
				if err != nil {
					fail(http.StatusOK, "%s.setl_date: want yyyy-MM-dd HH:mm:ss", ep)
					return
				}
				cr.Time = t
			}
			var rx []string
			for oi, o := range enc.Orders {
				op := fmt.Sprintf("%s.fsi_order_dtos[%d]", ep, oi)
				cl := rules.CheckLine{DrugCode: strings.TrimSpace(o.HilistCode), Qty: tracewatch.QtyScale}
				if msg := badText(o.RxID, 64); msg != "" {
					fail(http.StatusOK, "%s.rx_id: %s", op, msg)
					return
				}
				if msg := badText(cl.DrugCode, 50); msg != "" {
					fail(http.StatusOK, "%s.hilist_code: %s", op, msg)
					return
				}
				if len(o.Cnt) > 0 && string(o.Cnt) != "null" {
					q, err := tracewatch.ParseQty(strings.Trim(string(o.Cnt), `"`))
					if err != nil || q <= 0 || q > maxCheckQty*tracewatch.QtyScale {
						fail(http.StatusOK, "%s.cnt: want a positive decimal up to %d", op, maxCheckQty)
						return
					}
					cl.Qty = q
				}
				switch f := strings.Trim(string(o.TrdnFlag), `"`); f {
				case "", "0", "null":
				case "1":
					cl.Split = true
				default:
					fail(http.StatusOK, "%s.trdn_flag: want 0 or 1", op)
					return
				}
				add := func(field, c string) bool {
					if len(c) > maxCodeLen {
						fail(http.StatusOK, "%s.%s: longer than %d bytes", op, field, maxCodeLen)
						return false
					}
					cl.Codes = append(cl.Codes, c)
					return true
				}
				for _, c := range strings.Split(o.TracCodg, ",") {
					if c = strings.TrimSpace(c); c != "" && !add("drug_trac_codg", c) {
						return
					}
				}
				for ti, t := range o.TracInfo {
					if !add(fmt.Sprintf("drug_trac_info[%d].drug_trac_codg", ti), t.Codg) {
						return
					}
					switch f := strings.Trim(string(t.TrdnFlag), `"`); f {
					case "", "0", "null":
					case "1":
						cl.Split = true
					default:
						fail(http.StatusOK, "%s.drug_trac_info[%d].trdn_flag: want 0 or 1", op, ti)
						return
					}
				}
				for ti, t := range o.TracInfo2 {
					if !add(fmt.Sprintf("drugtracinfo[%d].drug_trac_codg", ti), t.Codg) {
						return
					}
				}
				cr.Lines = append(cr.Lines, cl)
				rx = append(rx, o.RxID)
			}
			for _, v := range s.index.Check(cr) {
				j := s.toJSON(v, institution, in.Data.TaskID, p.PatnID, enc.MdtrtID)
				j.PatnID, j.MdtrtID, j.TaskID = p.PatnID, enc.MdtrtID, in.Data.TaskID
				if v.Line > 0 && v.Line <= len(rx) {
					j.RxID = rx[v.Line-1]
					j.Detail = []any{map[string]any{"jrd_id": j.JrID + "01", "patn_id": p.PatnID, "mdtrt_id": enc.MdtrtID,
						"rx_id": j.RxID, "vola_item_type": "1", "vola_amt": j.VolaAmt}}
				}
				out.Result = append(out.Result, j)
			}
		}
	}
	s.metrics.checked(len(out.Result))
	writeJSON(w, http.StatusOK, nhsa.OK(req, out, received, s.now()))
}

// feedbackInput is the 3103 input.
type feedbackInput struct {
	Data struct {
		WarnType string `json:"warn_type"`
		Warns    []struct {
			WarnRsltID string `json:"warn_rslt_id"`
			DspoWay    string `json:"dspo_way"`
			DspoWayRea string `json:"dspo_way_rea"`
		} `json:"warns"`
	} `json:"data"`
}

// jrIDRE is the form of the jr_id tracewatch gives (jrID): 24 lowercase hex digits.
var jrIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// handleFeedback records 3103: the pharmacy's decision on warnings, durable before the
// answer. Its msgid is kept like any message's: the same msgid again gets the first
// answer and records nothing.
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request, req nhsa.Request, received time.Time, institution string) {
	ctx := r.Context()
	if m, err := s.st.Message(ctx, institution, req.MsgID); err == nil {
		s.replay(w, r, req, received, m)
		return
	} else if tracewatch.KindOf(err) != tracewatch.KindNotFound {
		s.refuse(w, r, req, received, err)
		return
	}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		recordOf(r).reason = msg
		writeJSON(w, http.StatusOK, nhsa.Fail(req, msg, received, s.now()))
	}
	var in feedbackInput
	if err := json.Unmarshal(req.Input, &in); err != nil {
		fail("%s", jsonProblem("input", err))
		return
	}
	switch wt := in.Data.WarnType; {
	case wt != "" && wt != "1" && wt != "2":
		fail("data.warn_type: want 1 (事前) or 2 (事中)")
		return
	case len(in.Data.Warns) == 0:
		fail("data.warns: required")
		return
	case len(in.Data.Warns) > maxWarns:
		fail("data.warns: %d warns, the limit is %d per message", len(in.Data.Warns), maxWarns)
		return
	}
	rows := make([]tracewatch.CheckFeedback, 0, len(in.Data.Warns))
	seen := map[string]bool{}
	for i, wn := range in.Data.Warns {
		field := fmt.Sprintf("data.warns[%d]", i)
		id := strings.TrimSpace(wn.WarnRsltID)
		switch {
		case id == "":
			fail("%s.warn_rslt_id: required", field)
			return
		case !jrIDRE.MatchString(id):
			fail("%s.warn_rslt_id: want the jr_id of a finding (24 lowercase hexadecimal digits)", field)
			return
		case seen[id]:
			fail("%s.warn_rslt_id: given twice in this message", field)
			return
		case wn.DspoWay != "1" && wn.DspoWay != "2":
			fail("%s.dspo_way: want 1 (continue) or 2 (modify)", field)
			return
		case wn.DspoWay == "1" && strings.TrimSpace(wn.DspoWayRea) == "":
			fail("%s.dspo_way_rea: required to continue", field)
			return
		}
		if msg := badText(wn.DspoWayRea, 500); msg != "" {
			fail("%s.dspo_way_rea: %s", field, msg)
			return
		}
		seen[id] = true
		rows = append(rows, tracewatch.CheckFeedback{MsgID: req.MsgID, Institution: institution, WarnType: in.Data.WarnType,
			JrID: id, Way: wn.DspoWay, Reason: strings.TrimSpace(wn.DspoWayRea), Received: received})
	}
	answer, err := encodeJSON(nhsa.OK(req, map[string]any{"recorded": len(rows)}, received, s.now()))
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	// The decisions, then the message: a failure between the two leaves the msgid free,
	// and the retry records the same rows again (the store keeps one per msgid and jr_id).
	ctx = context.WithoutCancel(ctx)
	if err := s.st.PutCheckFeedback(ctx, rows); err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	m := tracewatch.MessageRecord{MsgID: req.MsgID, Infno: req.Infno, Institution: institution, Source: "http",
		Received: received, Accepted: len(rows), Response: answer}
	res, err := s.st.Commit(ctx, &tracewatch.Batch{Messages: []tracewatch.MessageRecord{m}})
	if err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	if first, ok := res.Replayed[m.Key()]; ok { // a concurrent duplicate won
		recordOf(r).replayed = true
		answer = first
	}
	writeRaw(w, http.StatusOK, answer)
}

// encodeJSON encodes v as writeJSON writes it.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, tracewatch.E("server.encodeJSON", tracewatch.KindInternal, err)
	}
	return b.Bytes(), nil
}
