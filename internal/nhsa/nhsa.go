// Package nhsa is the wire layer for the national medical-insurance platform's
// interfaces (《医疗保障信息平台定点医药机构接口规范》): national JSON request envelopes in,
// domain [tracewatch.Event] values out, national response envelopes back.
//
// Interfaces understood (see [Supported]):
//
//   - 3501–3506 and their batch variants 3501A–3506A (进销存: stocktake, stock change,
//     purchase, purchase return, sale, sale return), and 3507 (deletion);
//   - 2204 / 2301 fee lines, 2207 / 2304 settlements (with the 2025 drug_trac_info
//     node), 2208 / 2305 settlement cancels.
//
// The package does not identify trace codes: it fills [tracewatch.EventCode.Raw] only,
// and a later stage identifies them.
//
// National wire names (fixmedins_code, drug_trac_codg, …) live only here. Error texts
// name the national field path ("selinfoDetail[2].rtal_docno") and say what was
// expected; they never repeat a field's value, so no ID number or name can leak into a
// log through them. ID numbers (certno) reach the domain only masked ([idno.Mask]).
//
// Times are read and written in China Standard Time, the fixed zone UTC+8; the package
// does not depend on the time-zone database.
package nhsa

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tracewatch"
)

// CST is China Standard Time (UTC+8, no daylight saving), the zone of every national
// date and time.
var CST = tracewatch.Beijing

// Request is the national request envelope. The JSON tags are the national names.
// Input holds the interface-specific input object, undecoded; [Decode] reads it.
type Request struct {
	Infno          string          `json:"infno"`           // 交易编号, e.g. 3505 or 3505A
	MsgID          string          `json:"msgid"`           // 报文ID
	MdtrtareaAdmvs string          `json:"mdtrtarea_admvs"` // 就医地医保区划
	InsuplcAdmdvs  string          `json:"insuplc_admdvs"`  // 参保地医保区划
	RecerSysCode   string          `json:"recer_sys_code"`  // 接收方系统代码
	DevNo          string          `json:"dev_no"`          // 设备编号
	DevSafeInfo    string          `json:"dev_safe_info"`   // 设备安全信息
	Cainfo         string          `json:"cainfo"`          // 数字签名信息
	Signtype       string          `json:"signtype"`        // 签名类型
	Infver         string          `json:"infver"`          // 接口版本号
	OpterType      string          `json:"opter_type"`      // 经办人类别
	Opter          string          `json:"opter"`           // 经办人 ID
	OpterName      string          `json:"opter_name"`      // 经办人姓名
	InfTime        string          `json:"inf_time"`        // 交易时间
	FixmedinsCode  string          `json:"fixmedins_code"`  // 定点医药机构编号
	FixmedinsName  string          `json:"fixmedins_name"`  // 定点医药机构名称
	SignNo         string          `json:"sign_no"`         // 交易签到流水号
	EncType        string          `json:"enc_type"`        // 加密方式
	Input          json.RawMessage `json:"input"`           // 交易输入
}

// DecodeRequest reads one request envelope: a single JSON object (a leading UTF-8 byte
// order mark is allowed). The text fields may also arrive as JSON numbers
// ("opter_type": 1 reads as "1") or null (read as ""); surrounding white space is
// trimmed. Field names are matched exactly; unknown fields are ignored. An input of
// null reads as a nil Input.
//
// The envelope's fields are held to their limits (docs/data-formats.md, "Field
// limits"): every text field to its length and without control characters, msgid to
// printable ASCII of at most MaxMsgIDLen characters, fixmedins_code to the 12-character
// national code, inf_time to a national datetime from 2000 to 2099. Absent fields are
// not judged here.
//
// The error is a *tracewatch.Error of kind KindInvalid that names the offending field
// when there is one. When a field breaks its limit, the request is returned too, with
// that field emptied (so that a refusal can still echo a good msgid, and never echoes a
// bad one).
func DecodeRequest(body []byte) (Request, error) {
	const op = "nhsa.DecodeRequest"
	t := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(t) == 0 {
		return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "empty body: want a JSON object")
	}
	if t[0] != '{' {
		return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a JSON object")
	}
	if !json.Valid(t) {
		var v any
		err := json.Unmarshal(t, &v) // for the reason only
		return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "malformed JSON: %s", jsonReason(err))
	}
	a := getArena()
	defer putArena(a)
	fields, ok := a.object(t)
	if !ok {
		return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a JSON object")
	}
	var req Request
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"infno", &req.Infno}, {"msgid", &req.MsgID}, {"mdtrtarea_admvs", &req.MdtrtareaAdmvs},
		{"insuplc_admdvs", &req.InsuplcAdmdvs}, {"recer_sys_code", &req.RecerSysCode}, {"dev_no", &req.DevNo},
		{"dev_safe_info", &req.DevSafeInfo}, {"cainfo", &req.Cainfo}, {"signtype", &req.Signtype},
		{"infver", &req.Infver}, {"opter_type", &req.OpterType}, {"opter", &req.Opter},
		{"opter_name", &req.OpterName}, {"inf_time", &req.InfTime}, {"fixmedins_code", &req.FixmedinsCode},
		{"fixmedins_name", &req.FixmedinsName}, {"sign_no", &req.SignNo}, {"enc_type", &req.EncType},
	} {
		s, ok := textOf(fields.get(f.name))
		if !ok {
			return Request{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", textProblem(fields.get(f.name))).WithField(f.name)
		}
		*f.dst = s
	}
	if in := bytes.TrimSpace(fields.get("input")); len(in) > 0 && !bytes.Equal(in, []byte("null")) {
		req.Input = json.RawMessage(in)
	}
	if field, msg := checkEnvelope(&req); field != "" {
		for _, f := range envelopeFields {
			if f.name == field {
				*f.dst(&req) = "" // never echoed
			}
		}
		return req, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msg).WithField(field)
	}
	return req, nil
}

// UnmarshalJSON decodes the envelope as [DecodeRequest] does, so that a Request inside
// another JSON document gets the same leniency.
func (r *Request) UnmarshalJSON(b []byte) error {
	req, err := DecodeRequest(b)
	if err != nil {
		return err
	}
	*r = req
	return nil
}

// jsonReason describes a JSON syntax error without quoting the input.
func jsonReason(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return "not a JSON object"
}

// Response is the national response envelope.
type Response struct {
	Infcode     string `json:"infcode"`      // "0" success, "-1" failure
	InfRefmsgid string `json:"inf_refmsgid"` // the request's msgid
	RefmsgTime  string `json:"refmsg_time"`  // when the request was received, yyyyMMddHHmmssSSS
	RespondTime string `json:"respond_time"` // when the response was made, yyyyMMddHHmmssSSS
	ErrMsg      string `json:"err_msg"`      //
	WarnMsg     string `json:"warn_msg"`     //
	Cainfo      string `json:"cainfo"`       // signature information (tracewatch does not sign)
	Signtype    string `json:"signtype"`     //
	Output      any    `json:"output"`       // interface-specific output; null when there is none
}

// OK answers req with success (infcode "0") and the given output, which may be nil.
// received and now become refmsg_time and respond_time.
func OK(req Request, output any, received, now time.Time) Response {
	return Response{
		Infcode:     "0",
		InfRefmsgid: req.MsgID,
		RefmsgTime:  Stamp(received),
		RespondTime: Stamp(now),
		Output:      output,
	}
}

// Fail answers req with failure (infcode "-1") and msg as err_msg; the output is null.
// msg goes to the sender as is: it must not hold personal data.
func Fail(req Request, msg string, received, now time.Time) Response {
	return Response{
		Infcode:     "-1",
		InfRefmsgid: req.MsgID,
		RefmsgTime:  Stamp(received),
		RespondTime: Stamp(now),
		ErrMsg:      msg,
	}
}

// Stamp formats t as the national response times are written, yyyyMMddHHmmssSSS in
// China Standard Time ("20250301093005123"). The zero time formats as "".
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(CST)
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
}

// rows formats a row count: "1 row", "3 rows".
func rows(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}

// BatchOutput builds the output of the batch (A) interfaces:
//
//	{"result": {"retRslt": "1", "msgRslt": "…"}, "selinfoErrDetail": [{"row": 2, "field": "…", "err_msg": "…"}]}
//
// The detail node is named after the input node without "Detail" (invinfo, purcinfo,
// selinfo; data for 3507 and the settlement interfaces, feedetail for fee lines, input
// for an unknown infno) and is always present, an empty array when errs is empty.
// retRslt is "1" when errs is empty and "0" otherwise; msgRslt counts the accepted rows
// and the distinct rejected rows.
func BatchOutput(infno string, accepted int, errs []RowError) map[string]any {
	node := "input"
	if sp, ok := specs[infno]; ok {
		node = strings.TrimSuffix(sp.nodes[0], "Detail")
	}
	detail := make([]map[string]any, 0, len(errs))
	rejected := map[int]bool{}
	for _, e := range errs {
		detail = append(detail, map[string]any{"row": e.Row, "field": e.Field, "err_msg": e.Msg})
		rejected[e.Row] = true
	}
	ret, msg := "1", "accepted "+rows(accepted)
	if len(errs) > 0 {
		ret = "0"
		msg = "accepted " + rows(accepted) + ", rejected " + rows(len(rejected)) + "; first error: " + errs[0].Error()
	}
	return map[string]any{
		"result":           map[string]any{"retRslt": ret, "msgRslt": msg},
		node + "ErrDetail": detail,
	}
}
