package server

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tracewatch"
	"tracewatch/internal/lookup"
	"tracewatch/internal/tracecode"
)

// 追溯码查询 (docs/web.md): the staff page GET /trace, filled in from GET /api/v1/codes,
// and the public check GET /q (HTML that works without scripts, on a phone) with its
// JSON twin GET /api/v1/public/codes: whether a box was already sold and how many
// times, as the NHSA app answers a citizen, with no person's or institution's data.

// codeReasonZh says in Chinese why an input is not a usable trace code ("" when err is
// not a trace-code error).
func codeReasonZh(err error) string {
	var tc *tracecode.Error
	if !errors.As(err, &tc) {
		return ""
	}
	at := ""
	if tc.Pos > 0 {
		at = "（第 " + strconv.Itoa(tc.Pos) + " 个字符）"
	}
	switch tc.Code {
	case tracecode.ErrEmpty:
		return "没有输入追溯码：请扫描或输入药盒上的药品追溯码。"
	case tracecode.ErrNotTraceCode:
		return "这是商品条码而非追溯码：商品条码只标识药品品种，追溯码标识每一盒药。请扫描药盒上的药品追溯码（通常为 20 位数字，印在“追溯码”字样旁）。"
	case tracecode.ErrBadCheckDigit:
		return "条码的校验位不对" + at + "：可能扫描或输入有误，请重新扫描。"
	case tracecode.ErrBadCharset:
		return "含有追溯码中不会出现的字符" + at + "：请检查输入。"
	case tracecode.ErrBadLength:
		return "位数不对：码上放心追溯码为 20 位数字，请检查是否漏输或多输。"
	case tracecode.ErrBadDate:
		return "码中的日期不存在" + at + "（如 13 月、2 月 30 日）：请重新扫描。"
	case tracecode.ErrUnknownAI:
		return "含有无法识别的 GS1 应用标识符" + at + "：请重新扫描。"
	}
	return "格式不符合药品追溯码的规范" + at + "：请重新扫描或检查输入。"
}

// tracePage is 追溯码查询: a box's identity, drug, ledger and timeline, filled in by
// trace.js from GET /api/v1/codes (persons masked unless the role may see them). The
// box's form is an ordinary GET (a scanner types the code and Enter): the page says
// itself why an input is not a trace code, so that only a code that parses is asked of
// the API.
func (s *Server) tracePage(w http.ResponseWriter, r *http.Request, p principal) {
	data := struct {
		Code   string // as typed, for the box
		Valid  bool   // the code parses: trace.js looks it up
		Reason string // why not, in Chinese
	}{Code: r.URL.Query().Get("code")}
	switch {
	case len(data.Code) > maxCodeLen:
		data.Code, data.Reason = "", "输入过长（超过 "+strconv.Itoa(maxCodeLen)+" 字节），不是药品追溯码。"
	case strings.TrimSpace(data.Code) != "":
		if _, err := tracecode.Parse(data.Code); err != nil {
			data.Reason = codeReasonZh(err)
		} else {
			data.Valid = true
		}
	}
	s.render(w, r, http.StatusOK, pageSpec{template: "trace", title: "追溯码查询", nav: "/trace", scripts: []string{"trace.js"}}, p, data)
}

// Public lookups are limited per client address: publicRate a second with bursts of
// publicBurst (30 a minute). Behind a proxy the address is the proxy's.
const (
	publicRate  = 30.0 / 60
	publicBurst = 30
	maxClients  = 100_000
)

// publicLimits rate-limits the public lookups by client address.
type publicLimits struct {
	mu sync.Mutex
	by map[string]*rate.Limiter
}

// wait says how long a client must wait before its next public lookup (0: it may look
// one up now, and that lookup is counted).
func (l *publicLimits) wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	if l.by == nil || len(l.by) >= maxClients {
		l.by = map[string]*rate.Limiter{}
	}
	lim := l.by[client]
	if lim == nil {
		lim = rate.NewLimiter(publicRate, publicBurst)
		l.by[client] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// publicCode is the answer of a public lookup. It names no person, no institution, no
// receipt and no price: only the drug and the box's sales. Keys are a public contract:
// add, never rename (docs/api.md).
type publicCode struct {
	Input      string `json:"input"`
	Recognized bool   `json:"recognized"`       // the input is a trace code
	Error      string `json:"error,omitempty"`  // why not: the trace-code error code …
	Reason     string `json:"reason,omitempty"` // … and in Chinese
	Kind       string `json:"kind,omitempty"`   // nmpa20, gs1, ma, enterprise
	Code       string `json:"code,omitempty"`   // the code's normalized form
	Known      bool   `json:"known"`            // the platform has a record of the box or its product
	DrugName   string `json:"drug_name,omitempty"`
	DrugSpec   string `json:"drug_spec,omitempty"`
	// Sold is how many times the box was sold: distinct sales net of returns and
	// settlement cancels (never below 0).
	Sold      int    `json:"sold"`
	FirstSold string `json:"first_sold,omitempty"` // the day of the first sale, 2006-01-02
	Verdict   string `json:"verdict"`              // 无法识别, 未销售, 已销售1次, 已销售N次：请注意可能为回流药
	Advice    string `json:"advice"`               // what it means, in plain Chinese
	Warning   bool   `json:"warning"`              // sold more than once
}

// publicLookup answers a public lookup of input.
func (s *Server) publicLookup(r *http.Request, input string) (publicCode, error) {
	out := publicCode{Input: input}
	if len(input) > maxCodeLen {
		out.Error, out.Verdict = string(tracecode.ErrBadLength), "无法识别"
		out.Reason = "输入过长（超过 " + strconv.Itoa(maxCodeLen) + " 字节），不是药品追溯码。"
		out.Advice = out.Reason
		return out, nil
	}
	v, err := lookup.Lookup(r.Context(), s.st, input)
	if err != nil {
		if zh := codeReasonZh(err); zh != "" {
			out.Error, out.Reason, out.Verdict, out.Advice = string(tracecode.CodeOf(err)), zh, "无法识别", zh
			return out, nil
		}
		return out, err
	}
	out.Recognized, out.Kind, out.Code = true, v.Kind, v.Normalized
	out.Known = len(v.Timeline) > 0 || v.Drug != nil
	if v.Drug != nil {
		out.DrugName, out.DrugSpec = v.Drug.Name, v.Drug.Spec
	}
	out.Sold = max(v.Sales-v.Returns, 0)
	if v.Sales > 0 && len(v.FirstSale) >= 10 {
		out.FirstSold = v.FirstSale[:10]
	}
	switch {
	case out.Sold == 0 && v.Sales > 0:
		out.Verdict = "未销售"
		out.Advice = "这盒药曾售出 " + strconv.Itoa(v.Sales) + " 次，均已退货或撤销结算，目前没有有效的销售记录。"
	case out.Sold == 0 && !out.Known:
		out.Verdict = "未销售"
		out.Advice = "本平台还没有这盒药的任何记录：可能尚未上传，或不在本地流通。购买后可再次查询，应显示“已销售1次”。"
	case out.Sold == 0:
		out.Verdict = "未销售"
		out.Advice = "这盒药尚无销售记录。购买并结算后再查询，应显示“已销售1次”。"
	case out.Sold == 1:
		out.Verdict = "已销售1次"
		out.Advice = "这盒药已销售 1 次。如果是您刚刚购买的，这是正常的：每盒药只应销售一次。"
	default:
		out.Verdict, out.Warning = "已销售"+strconv.Itoa(out.Sold)+"次：请注意可能为回流药", true
		out.Advice = "同一盒药已被销售 " + strconv.Itoa(out.Sold) + " 次，可能是回流药（医保药品被倒卖后再次销售）。请谨慎购买和使用，可向当地医保部门反映或拨打 12393 医保服务热线。"
	}
	return out, nil
}

// limitPublic counts a public lookup of the client; when it has made too many it
// answers 429 through refuse (with Retry-After) and returns false.
func (s *Server) limitPublic(w http.ResponseWriter, r *http.Request, refuse func(msg string)) bool {
	d := s.public.wait(remoteOf(r), s.now())
	if d <= 0 {
		return true
	}
	secs := int(math.Ceil(d.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	recordOf(r).reason = "public lookup rate limit"
	refuse("查询过于频繁：每个网络地址每分钟最多查询 " + strconv.Itoa(int(publicRate*60)) + " 次，请 " + strconv.Itoa(secs) + " 秒后再试。")
	return false
}

// handlePublicPage answers GET /q and GET /q?code=CODE without a sign-in: a form, and
// the answer for a code (HTML that needs no script).
func (s *Server) handlePublicPage(w http.ResponseWriter, r *http.Request) {
	spec := pageSpec{template: "public", title: "药品追溯码查询"}
	data := struct {
		Code   string
		Asked  bool
		Answer publicCode
		Error  string
	}{}
	q := r.URL.Query()
	data.Code = strings.TrimSpace(q.Get("code"))
	if !q.Has("code") {
		s.render(w, r, http.StatusOK, spec, principal{}, data)
		return
	}
	data.Asked = true
	if len(data.Code) > maxCodeLen { // not echoed in the form
		data.Code = ""
	}
	ok := s.limitPublic(w, r, func(msg string) {
		data.Error = msg
		s.render(w, r, http.StatusTooManyRequests, spec, principal{}, data)
	})
	if !ok {
		return
	}
	ans, err := s.publicLookup(r, q.Get("code"))
	if err != nil {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err.Error())
		data.Error = "查询暂时无法完成，请稍后再试。"
		s.render(w, r, http.StatusInternalServerError, spec, principal{}, data)
		return
	}
	data.Answer = ans
	s.render(w, r, http.StatusOK, spec, principal{}, data)
}

// handlePublicCode answers GET /api/v1/public/codes?code=CODE without a sign-in: the
// public lookup as JSON (an input that is not a trace code is an answer too, with
// recognized false and the reason), under the same limit as GET /q.
func (s *Server) handlePublicCode(w http.ResponseWriter, r *http.Request) {
	const op = "server.PublicCode"
	q, err := query(r, "code")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if !q.Has("code") {
		s.apiFail(w, r, tracewatch.Errorf(op, tracewatch.KindInvalid, "give the trace code to look up").WithField("code"))
		return
	}
	ok := s.limitPublic(w, r, func(msg string) {
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "rate_limited", Message: msg})
	})
	if !ok {
		return
	}
	ans, err := s.publicLookup(r, q.Get("code"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ans)
}
