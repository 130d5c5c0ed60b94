package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/detect"
	"tracewatch/internal/nhsa"
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

func (s *Server) toJSON(v detect.Violation, scope ...string) violationJSON {
	return violationJSON{
		JrID:   jrID(append(scope, strconv.Itoa(v.Line), v.Code, v.RuleID, v.Rule)...),
		RuleID: v.RuleID, RuleName: v.RuleName, VolaCont: v.Content, VolaAmt: v.Amount.String(), VolaAmtStas: "1",
		SevDeg: sevDeg(v.Severity), SevDegName: v.Severity.Chinese(), VolaEvid: v.Evidence, VolaBhvrType: v.Behavior,
		Line: v.Line, Code: v.Code, Rescan: v.Rule == "malformed" || v.Rule == "commodity_barcode" || v.Rule == "unknown_product",
		Severity: v.Severity.String(),
	}
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
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.checkRefused(w, r, statusOf(err), publicMessage(err))
		return
	}
	var req checkRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.checkRefused(w, r, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if req.FixmedinsCode != id.Institution {
		s.checkRefused(w, r, http.StatusForbidden, "fixmedins_code: this credential may only check for its own institution")
		return
	}
	cr := detect.CheckRequest{Institution: req.FixmedinsCode, Person: req.PsnNo, Receipt: req.RtalDocno, Time: start}
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
		cl := detect.CheckLine{DrugCode: strings.TrimSpace(l.MedListCodg), Codes: l.Codes, Qty: tracewatch.QtyScale}
		if len(l.Quantity) > 0 && string(l.Quantity) != "null" {
			q, err := tracewatch.ParseQty(strings.Trim(string(l.Quantity), `"`))
			if err != nil || q <= 0 {
				s.checkRefused(w, r, http.StatusBadRequest, fmt.Sprintf("lines[%d].quantity: want a positive decimal", i))
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
	var in superviseInput
	if err := json.Unmarshal(req.Input, &in); err != nil {
		writeJSON(w, http.StatusOK, nhsa.Fail(req, "input: malformed: "+err.Error(), received, s.now()))
		return
	}
	if len(in.Data.Patients) == 0 {
		writeJSON(w, http.StatusOK, nhsa.Fail(req, "data.patient_dtos: required", received, s.now()))
		return
	}
	out := superviseOutput{Result: []violationJSON{}}
	for pi, p := range in.Data.Patients {
		for ei, enc := range p.Encounters {
			if enc.MedinsID != "" && enc.MedinsID != institution {
				writeJSON(w, http.StatusForbidden, nhsa.Fail(req, fmt.Sprintf("data.patient_dtos[%d].fsi_encounter_dtos[%d].medins_id: another institution", pi, ei), received, s.now()))
				return
			}
			cr := detect.CheckRequest{Institution: institution, Person: p.PatnID, Receipt: enc.MdtrtID, Time: received}
			if enc.SetlDate != "" {
				if t, err := time.ParseInLocation("2006-01-02 15:04:05", enc.SetlDate, nhsa.CST); err == nil {
					cr.Time = t
				}
			}
			var rx []string
			for oi, o := range enc.Orders {
				cl := detect.CheckLine{DrugCode: strings.TrimSpace(o.HilistCode), Qty: tracewatch.QtyScale}
				if len(o.Cnt) > 0 && string(o.Cnt) != "null" {
					q, err := tracewatch.ParseQty(strings.Trim(string(o.Cnt), `"`))
					if err != nil {
						writeJSON(w, http.StatusOK, nhsa.Fail(req, fmt.Sprintf("data.patient_dtos[%d].fsi_encounter_dtos[%d].fsi_order_dtos[%d].cnt: want a decimal", pi, ei, oi), received, s.now()))
						return
					}
					cl.Qty = q
				}
				cl.Split = strings.Trim(string(o.TrdnFlag), `"`) == "1"
				for _, c := range strings.Split(o.TracCodg, ",") {
					if c = strings.TrimSpace(c); c != "" {
						cl.Codes = append(cl.Codes, c)
					}
				}
				for _, t := range o.TracInfo {
					cl.Codes = append(cl.Codes, t.Codg)
					if strings.Trim(string(t.TrdnFlag), `"`) == "1" {
						cl.Split = true
					}
				}
				for _, t := range o.TracInfo2 {
					cl.Codes = append(cl.Codes, t.Codg)
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

// handleFeedback records 3103: the pharmacy's decision on warnings, durable before the
// answer.
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request, req nhsa.Request, received time.Time, institution string) {
	var in feedbackInput
	if err := json.Unmarshal(req.Input, &in); err != nil {
		writeJSON(w, http.StatusOK, nhsa.Fail(req, "input: malformed: "+err.Error(), received, s.now()))
		return
	}
	if len(in.Data.Warns) == 0 {
		writeJSON(w, http.StatusOK, nhsa.Fail(req, "data.warns: required", received, s.now()))
		return
	}
	rows := make([]tracewatch.CheckFeedback, 0, len(in.Data.Warns))
	for i, wn := range in.Data.Warns {
		field := fmt.Sprintf("data.warns[%d]", i)
		switch {
		case strings.TrimSpace(wn.WarnRsltID) == "":
			writeJSON(w, http.StatusOK, nhsa.Fail(req, field+".warn_rslt_id: required", received, s.now()))
			return
		case wn.DspoWay != "1" && wn.DspoWay != "2":
			writeJSON(w, http.StatusOK, nhsa.Fail(req, field+".dspo_way: want 1 (continue) or 2 (modify)", received, s.now()))
			return
		case wn.DspoWay == "1" && strings.TrimSpace(wn.DspoWayRea) == "":
			writeJSON(w, http.StatusOK, nhsa.Fail(req, field+".dspo_way_rea: required to continue", received, s.now()))
			return
		}
		rows = append(rows, tracewatch.CheckFeedback{MsgID: req.MsgID, Institution: institution, WarnType: in.Data.WarnType,
			JrID: strings.TrimSpace(wn.WarnRsltID), Way: wn.DspoWay, Reason: strings.TrimSpace(wn.DspoWayRea), Received: received})
	}
	if err := s.st.PutCheckFeedback(r.Context(), rows); err != nil {
		s.refuse(w, r, req, received, err)
		return
	}
	writeJSON(w, http.StatusOK, nhsa.OK(req, map[string]any{"recorded": len(rows)}, received, s.now()))
}
