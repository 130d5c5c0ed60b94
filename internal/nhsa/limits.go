package nhsa

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracewatch"
)

// The limits of a message (docs/data-formats.md, "Field limits"). The national
// interface gives the text fields' lengths; where it is silent the bounds below are
// generous for real data and refuse what no pharmacy or hospital can send: a sale of a
// trillion boxes, a price of 10^15 yuan, a sale dated 9999-12-31.
const (
	// MaxRows is the most rows one message may carry: all the row nodes of a 35xx
	// message together (selinfo and selinfoDetail, …), the feedetail of a 2204 / 2301,
	// the data of a 3507 or a 2208 / 2305. A message with more is refused whole.
	MaxRows = 1000
	// MaxCodes is the most trace codes one row may carry (its drugtracinfo elements and
	// the codes of its flat drug_trac_codg together), and the most drug_trac_info
	// elements one 2207 / 2304 may carry. A row with more is refused; a settlement with
	// more is refused whole.
	MaxCodes = 10000
	// MaxCodeLen is the longest trace code accepted (the national drug_trac_codg of the
	// drugtracinfo node is 字符 100); longer, the row is refused.
	MaxCodeLen = 100
	// MaxMsgIDLen is the longest msgid accepted. A national msgid has 30 characters
	// (fixmedins_code + yyyyMMddHHmmss + a 4-digit sequence).
	MaxMsgIDLen = 64

	// MaxPrice is the highest unit price accepted (finl_trns_pric, pric), in fen:
	// 10^7 yuan a pack; the dearest single treatments cost about 1.2·10^6.
	MaxPrice tracewatch.Fen = 10_000_000 * 100
	// MaxAmount is the highest amount accepted (det_item_fee_sumamt, medfee_sumamt,
	// fund_pay_sumamt), in fen: 10^8 yuan for one fee line or one settlement.
	MaxAmount tracewatch.Fen = 100_000_000 * 100
	// MaxQty is the highest quantity accepted on a line (sel_retn_cnt, purc_retn_cnt,
	// cnt): 10^6 packs, or minimum units of a split-pack (拆零) line.
	MaxQty tracewatch.Qty = 1_000_000 * tracewatch.QtyScale
	// MaxStock is the highest stocktake quantity accepted (inv_cnt): 10^7 packs.
	MaxStock tracewatch.Qty = 10_000_000 * tracewatch.QtyScale
	// Skew is how far past inf_time a time of the message may lie (clocks differ).
	Skew = 24 * time.Hour
)

// minTime and maxTime bound every date and time of a message (China Standard Time):
// nothing before 2000-01-01, nothing from 2100-01-01 on.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, CST)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, CST)
)

// The national lengths of the text fields (字符型, in characters), from the interface's
// field tables (../shared/domain/nhsa-interfaces.md). A field absent here (a number, a
// date) may have at most defaultMax characters.
var textMax = map[string]int{
	// 35xx goods rows.
	"med_list_codg": 50, "fixmedins_hilist_id": 30, "fixmedins_hilist_name": 200, "fixmedins_bchno": 30,
	"rx_flag": 3, "memo": 500, "manu_lotnum": 30, "trdn_flag": 3, "inv_chg_type": 6, "inv_chg_opter_name": 50,
	"dynt_no": 50, "prodentp_name": 200, "aprvno": 100, "prod_geay_flag": 3, "spler_name": 200, "spler_pmtno": 50,
	"purc_invo_codg": 50, "purc_invo_no": 50, "purc_retn_opter_name": 50, "medins_prod_purc_no": 50,
	"prsc_dr_cert_type": 6, "prsc_dr_certno": 50, "prsc_dr_name": 50, "phar_cert_type": 6, "phar_certno": 50,
	"phar_name": 50, "phar_prac_cert_no": 50, "hi_feesetl_type": 6, "setl_id": 30, "mdtrt_sn": 30, "psn_no": 30,
	"psn_cert_type": 6, "certno": 50, "psn_name": 50, "rxno": 40, "rx_circ_flag": 3, "rtal_docno": 40,
	"stoout_no": 40, "bchno": 30, "drug_prod_barc": 30, "shelf_posi": 20, "sel_retn_opter_name": 50,
	"mdtrt_setl_type": 6, "medins_prod_sel_no": 50, "inv_data_type": 30,
	// The legacy flat drug_trac_codg (字符 30 nationally) may hold several codes
	// separated by "," or ";": each code at most MaxCodeLen, the field at most this.
	"drug_trac_codg": 2000,
	// Fee lines and settlements.
	"feedetl_sn": 30, "mdtrt_id": 30, "chrg_bchno": 30, "medins_list_codg": 50, "mdtrt_cert_no": 50,
	"mdtrt_cert_type": 6, "med_type": 6, "insutype": 6, "psn_setlway": 6, "dscg_maindiag_code": 20,
	"dscg_maindiag_name": 300, "min_prcunt_type": 6,
}

// defaultMax bounds the text of fields without a national length: numbers, dates.
const defaultMax = 32

// The control characters a text may hold.
type controls uint8

const (
	noControls controls = iota // none: identifiers, names, codes of dictionaries
	lineBreaks                 // tab, CR and LF: free text
	gs                         // the GS (0x1D) of GS1 element strings: trace codes
)

// allowed are the fields that may hold some control characters; every other field
// refuses them all.
var allowed = map[string]controls{"memo": lineBreaks, "cainfo": lineBreaks, "dev_safe_info": lineBreaks, "drug_trac_codg": gs}

// mayBeFuture are the times that may lie after the message was sent: an expiry, and a
// manufacture date (a pack sold before it was made is a finding of trace.anomaly, not
// a malformed row).
var mayBeFuture = map[string]bool{"expy_end": true, "manu_date": true}

// The messages of the limits.
const (
	msgControl  = "want no control characters"
	msgMsgID    = "want printable ASCII without spaces"
	msgInst     = "want the 12-character national code (letters and digits)"
	msgTimeSpan = "want a time from 2000-01-01 to 2099-12-31"
	msgTimeLate = "want a time at most 1 day after inf_time"
	msgQtyMax   = "want a quantity <= 1000000"
	msgStockMax = "want a quantity <= 10000000"
	msgPriceMax = "want a price in yuan <= 10000000"
	msgAmtMax   = "want an amount in yuan <= 100000000"
	msgFundMax  = "want at most medfee_sumamt"
	msgRows     = "too many rows: at most 1000 per message"
	msgCodes    = "too many trace codes: at most 10000"
	msgCodeLen  = "want trace codes of at most 100 characters"
)

// msgTooLong says how long a text may be.
func msgTooLong(max int) string { return "want at most " + strconv.Itoa(max) + " characters" }

// checkText returns why s cannot be the text of field name ("" when it can): too long,
// or holding a control character (C0 other than tab and line breaks in free text, DEL,
// C1). NUL is refused everywhere.
func checkText(name, s string) string {
	max, ok := textMax[name]
	if !ok {
		max = defaultMax
	}
	return checkLen(s, max, allowed[name])
}

// checkLen returns why s cannot be a text of at most max characters holding only the
// control characters ctl allows ("" when it can).
func checkLen(s string, max int, ctl controls) string {
	if len(s) > max && utf8.RuneCountInString(s) > max { // bytes >= runes: count only when needed
		return msgTooLong(max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20:
			ok := ctl == lineBreaks && (c == '\t' || c == '\n' || c == '\r') || ctl == gs && c == 0x1d
			if !ok {
				return msgControl
			}
		case c == 0x7f:
			return msgControl
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f: // U+0080–U+009F
			return msgControl
		}
	}
	return ""
}

// envelopeField is one text field of the request envelope with its limit.
type envelopeField struct {
	name string
	dst  func(*Request) *string
	max  int
}

var envelopeFields = []envelopeField{
	{"infno", func(r *Request) *string { return &r.Infno }, 8},
	{"msgid", func(r *Request) *string { return &r.MsgID }, MaxMsgIDLen},
	{"mdtrtarea_admvs", func(r *Request) *string { return &r.MdtrtareaAdmvs }, 6},
	{"insuplc_admdvs", func(r *Request) *string { return &r.InsuplcAdmdvs }, 6},
	{"recer_sys_code", func(r *Request) *string { return &r.RecerSysCode }, 30},
	{"dev_no", func(r *Request) *string { return &r.DevNo }, 100},
	{"dev_safe_info", func(r *Request) *string { return &r.DevSafeInfo }, 4000},
	{"cainfo", func(r *Request) *string { return &r.Cainfo }, 4000},
	{"signtype", func(r *Request) *string { return &r.Signtype }, 20},
	{"infver", func(r *Request) *string { return &r.Infver }, 20},
	{"opter_type", func(r *Request) *string { return &r.OpterType }, 3},
	{"opter", func(r *Request) *string { return &r.Opter }, 30},
	{"opter_name", func(r *Request) *string { return &r.OpterName }, 50},
	{"inf_time", func(r *Request) *string { return &r.InfTime }, defaultMax},
	{"fixmedins_code", func(r *Request) *string { return &r.FixmedinsCode }, 12},
	{"fixmedins_name", func(r *Request) *string { return &r.FixmedinsName }, 200},
	{"sign_no", func(r *Request) *string { return &r.SignNo }, 50},
	{"enc_type", func(r *Request) *string { return &r.EncType }, 20},
}

// checkEnvelope validates the envelope's fields that are present (absence is for the
// caller to judge): every text field's length and characters, msgid printable ASCII,
// fixmedins_code the 12-character national code, inf_time a national datetime from
// 2000-01-01 until 2100-01-01. It returns the national name of the first bad field and why.
func checkEnvelope(req *Request) (field, msg string) {
	for _, f := range envelopeFields {
		s := strings.TrimSpace(*f.dst(req))
		if s == "" {
			continue
		}
		if m := checkLen(s, f.max, allowed[f.name]); m != "" {
			return f.name, m
		}
		switch f.name {
		case "msgid":
			for i := 0; i < len(s); i++ {
				if s[i] < 0x21 || s[i] > 0x7e {
					return f.name, msgMsgID
				}
			}
		case "fixmedins_code":
			if len(s) != 12 || !alnum(s) {
				return f.name, msgInst
			}
		case "inf_time":
			t, ok := parseTime(s)
			if !ok {
				return f.name, msgDateTime
			}
			if t.Before(minTime) || !t.Before(maxTime) {
				return f.name, msgTimeSpan
			}
		}
	}
	return "", ""
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// infTime returns the envelope's inf_time, zero when it is absent or unreadable.
func infTime(req Request) time.Time {
	t, _ := parseTime(strings.TrimSpace(req.InfTime))
	return t
}

// ParseTime reads a national date or datetime given in the field named field
// ("yyyy-MM-dd HH:mm:ss", with a "T" or a date alone also accepted) in China Standard
// Time, as the decoders of this package do: from 2000-01-01 until 2100-01-01, and, when
// notAfter is not zero, not after it. The error is a KindInvalid *tracewatch.Error
// naming field; it never quotes the value. For decoders elsewhere (3101 setl_date) that
// must refuse a bad time rather than replace it.
func ParseTime(field, s string, notAfter time.Time) (time.Time, error) {
	const op = "nhsa.ParseTime"
	s = strings.TrimSpace(s)
	if m := checkLen(s, defaultMax, noControls); m != "" {
		return time.Time{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", m).WithField(field)
	}
	t, ok := parseTime(s)
	switch {
	case !ok:
		return time.Time{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msgDateTime).WithField(field)
	case t.Before(minTime) || !t.Before(maxTime):
		return time.Time{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msgTimeSpan).WithField(field)
	case !notAfter.IsZero() && t.After(notAfter):
		return time.Time{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "want a time at most %s", notAfter.In(CST).Format("2006-01-02 15:04:05")).WithField(field)
	}
	return t, nil
}

// Reason is what a sender is told about an error of this package: the national field
// and the reason ("selinfo: too many rows: at most 1000 per message"), without the
// name of the operation that failed. An error that is not a *tracewatch.Error reads as
// its text.
func Reason(err error) string {
	var parts []string
	for err != nil {
		var e *tracewatch.Error
		if !errors.As(err, &e) {
			parts = append(parts, err.Error())
			break
		}
		if e.Field != "" {
			parts = append(parts, e.Field)
		}
		err = e.Err
	}
	return strings.Join(parts, ": ")
}
