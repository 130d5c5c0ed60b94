package nhsa

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracewatch"
)

// RowError says why one row of a message was refused. Row is the 1-based row number;
// Field is the national path of the offending field ("selinfoDetail[2].rtal_docno",
// "selinfo.drugtracinfo[1].drug_trac_codg", "data.setl_id"); Msg says what was
// expected. Msg never contains the field's value.
type RowError struct {
	Row   int
	Field string
	Msg   string
}

// Error returns "row 2: selinfoDetail[2].rtal_docno: required".
func (e RowError) Error() string {
	return "row " + strconv.Itoa(e.Row) + ": " + e.Field + ": " + e.Msg
}

// spec describes how one interface's input becomes events.
type spec struct {
	kind    tracewatch.EventKind
	setting tracewatch.Setting
	nodes   []string // input nodes holding the rows; the first is the one named in errors
	fill    func(r *row, ev *tracewatch.Event)
}

var (
	inv  = []string{"invinfo", "invinfoDetail"}
	invA = []string{"invinfoDetail", "invinfo"}
	pur  = []string{"purcinfo", "purcinfoDetail"}
	purA = []string{"purcinfoDetail", "purcinfo"}
	sel  = []string{"selinfo", "selinfoDetail"}
	selA = []string{"selinfoDetail", "selinfo"}
	data = []string{"data"}
	fee  = []string{"feedetail"}
)

// specs lists the interfaces Decode understands.
var specs = map[string]spec{
	"3501":  {tracewatch.EventStocktake, tracewatch.SettingNone, inv, stocktake},
	"3501A": {tracewatch.EventStocktake, tracewatch.SettingNone, inv, stocktake},
	"3502":  {tracewatch.EventStockChange, tracewatch.SettingNone, inv, stockChange},
	"3502A": {tracewatch.EventStockChange, tracewatch.SettingNone, invA, stockChange},
	"3503":  {tracewatch.EventPurchase, tracewatch.SettingNone, pur, purchase},
	"3503A": {tracewatch.EventPurchase, tracewatch.SettingNone, purA, purchase},
	"3504":  {tracewatch.EventPurchaseReturn, tracewatch.SettingNone, pur, purchaseReturn},
	"3504A": {tracewatch.EventPurchaseReturn, tracewatch.SettingNone, purA, purchaseReturn},
	"3505":  {tracewatch.EventSale, tracewatch.SettingNone, sel, sale},
	"3505A": {tracewatch.EventSale, tracewatch.SettingNone, selA, sale},
	"3506":  {tracewatch.EventSaleReturn, tracewatch.SettingNone, sel, saleReturn},
	"3506A": {tracewatch.EventSaleReturn, tracewatch.SettingNone, selA, saleReturn},
	"3507":  {tracewatch.EventDeletion, tracewatch.SettingNone, data, deletion},
	"2204":  {tracewatch.EventFeeLine, tracewatch.SettingOutpatient, fee, feeLine},
	"2301":  {tracewatch.EventFeeLine, tracewatch.SettingInpatient, fee, feeLine},
	"2207":  {tracewatch.EventSettlement, tracewatch.SettingOutpatient, data, nil}, // see settlement
	"2304":  {tracewatch.EventSettlement, tracewatch.SettingInpatient, data, nil},
	"2208":  {tracewatch.EventSettlementCancel, tracewatch.SettingOutpatient, data, settlementCancel},
	"2305":  {tracewatch.EventSettlementCancel, tracewatch.SettingInpatient, data, settlementCancel},
}

// Supported reports whether Decode understands the interface infno: 3501–3507,
// 3501A–3506A, 2204, 2301, 2207, 2304, 2208 and 2305. The match is exact ("3505a" is
// not supported).
func Supported(infno string) bool {
	_, ok := specs[infno]
	return ok
}

// Decode turns the input of req into events, one per good row, and a RowError for
// every problem in a bad row (a row may have several); a bad row yields no event, good
// rows still do. Every event carries the message's MsgID, Infno, care Setting and Institution
// (fixmedins_code, trimmed), its inf_time as Sent (zero when the envelope has none),
// its Kind, and its 1-based row as Line.
//
// The error is a *tracewatch.Error of kind KindInvalid, naming the field, when the
// message as a whole is unusable: an unsupported infno, an empty msgid or
// fixmedins_code, an envelope field beyond its limits (as DecodeRequest checks them), a
// missing or malformed input, a missing or empty input node, more than MaxRows rows, or
// a settlement with more than MaxCodes drug_trac_info elements. Reason renders it for
// the sender.
//
// Every field of a row is held to its limits (docs/data-formats.md, "Field limits"):
// text to its national length and without control characters; prices, amounts and
// quantities to MaxPrice, MaxAmount, MaxQty and MaxStock; a fund payment to at most
// the settlement's total; times to 2000-01-01 until 2100-01-01 and, but for an expiry
// or a manufacture date, to at most Skew after inf_time; a row to MaxCodes codes of at most MaxCodeLen
// characters. A value past its limit refuses its row, naming the field; a time given
// but unreadable is refused, never replaced (only a missing optional time falls back to
// inf_time).
//
// The rows of the 35xx interfaces are read from both the single-row node name and the
// batch one (selinfo and selinfoDetail, …), whatever the infno, and numbered on across
// both; each node may be one object or an array. Every node that holds rows (data,
// feedetail, …) may be one object or an array. The input may also arrive as a JSON
// string holding the object.
//
// 2207 / 2304 take the settled record in data (one object, or an array of exactly one)
// and the drug_trac_info elements found under input and under input.data (both are
// read). Decode emits one event per distinct feedetl_sn, in first-seen order, with
// Lines 1..n counting fee lines, each with the codes of its elements (SplitPack when any
// of its elements has trdn_flag "1"); the settlement's Amount and FundPaid go on the
// first event only. Without usable elements it emits one event with the header alone.
// An error in data, or a drug_trac_info that is not a list, is reported as row 1 and
// yields no event; a bad element is reported with its 1-based position in the element
// list (input's elements first) as Row and is left out.
func Decode(req Request) ([]tracewatch.Event, []RowError, error) {
	return decode(req, false)
}

// DecodeChecked is Decode for a request that DecodeRequest returned without an error:
// its input was checked as JSON with the rest of the body, and is not checked again (the
// second check was 4% of a bulk ingest's CPU).
func DecodeChecked(req Request) ([]tracewatch.Event, []RowError, error) {
	return decode(req, true)
}

func decode(req Request, checked bool) ([]tracewatch.Event, []RowError, error) {
	const op = "nhsa.Decode"
	invalid := func(field, msg string) error {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "%s", msg).WithField(field)
	}
	sp, ok := specs[req.Infno]
	if !ok {
		return nil, nil, invalid("infno", "unsupported interface")
	}
	msgID, inst := strings.TrimSpace(req.MsgID), strings.TrimSpace(req.FixmedinsCode)
	if msgID == "" {
		return nil, nil, invalid("msgid", msgRequired)
	}
	if inst == "" {
		return nil, nil, invalid("fixmedins_code", msgRequired)
	}
	if field, msg := checkEnvelope(&req); field != "" {
		return nil, nil, invalid(field, msg)
	}
	var notAfter time.Time
	if t := infTime(req); !t.IsZero() {
		notAfter = t.Add(Skew)
	}
	if !checked && len(req.Input) > 0 && !json.Valid(req.Input) {
		return nil, nil, invalid("input", "malformed: want a JSON object")
	}
	a := getArena()
	defer putArena(a)
	in, err := a.inputObject(req.Input)
	if err != "" {
		return nil, nil, invalid("input", err)
	}
	base := tracewatch.Event{MsgID: msgID, Infno: req.Infno, Kind: sp.kind, Setting: sp.setting, Institution: inst, Sent: infTime(req)}
	if sp.fill == nil {
		events, errs, err := a.settlement(in, base, notAfter, invalid)
		fillTime(events, req)
		return events, errs, err
	}

	var elems []json.RawMessage
	var paths []string
	for _, node := range sp.nodes {
		raw := in.get(node)
		if isNull(raw) {
			continue
		}
		e, p, ok := split(node, raw, MaxRows-len(elems))
		if !ok {
			return nil, nil, invalid(node, msgList)
		}
		if len(elems)+len(e) > MaxRows {
			return nil, nil, invalid(node, msgRows)
		}
		elems, paths = append(elems, e...), append(paths, p...)
	}
	if len(elems) == 0 {
		return nil, nil, invalid(sp.nodes[0], "missing input node or no rows")
	}
	var events []tracewatch.Event
	var errs []RowError
	for i, el := range elems {
		n := i + 1
		obj, ok := a.object(el)
		if !ok {
			errs = append(errs, RowError{Row: n, Field: paths[i], Msg: msgObject})
			continue
		}
		r := &row{a: a, fields: obj, path: paths[i], n: n, notAfter: notAfter}
		ev := base
		ev.Line = n
		sp.fill(r, &ev)
		if len(r.errs) > 0 {
			errs = append(errs, r.errs...)
			continue
		}
		events = append(events, ev)
	}
	fillTime(events, req)
	return events, errs, nil
}

// fillTime gives events without a time of their own (a 2208 cancel, a 2207 without
// setl_time: the times that are optional) the envelope's inf_time, when there is one.
// A time given but unreadable never gets here: its row is refused.
func fillTime(events []tracewatch.Event, req Request) {
	t := infTime(req)
	if t.IsZero() {
		return
	}
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = t
		}
	}
}

// inputObject decodes the input object, which may also arrive as a JSON string holding
// it. It returns the reason when the input is missing or malformed.
func (a *arena) inputObject(raw json.RawMessage) (members, string) {
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) != nil {
			return nil, "malformed: want a JSON object"
		}
		t = bytes.TrimSpace([]byte(s))
		if len(t) > 0 && !json.Valid(t) {
			return nil, "malformed: want a JSON object"
		}
	}
	if isNull(t) {
		return nil, msgRequired
	}
	m, ok := a.object(t)
	if !ok {
		return nil, "malformed: want a JSON object"
	}
	return m, ""
}

// goods reads the fields every 35xx goods row shares.
func goods(r *row, ev *tracewatch.Event) {
	ev.DrugCode = r.required("med_list_codg")
	ev.ItemID = r.text("fixmedins_hilist_id")
	ev.ItemName = r.text("fixmedins_hilist_name")
	ev.BatchNo = r.required("fixmedins_bchno")
	r.texts("rx_flag", "memo")
}

// stocktake reads a 3501 row (盘存).
func stocktake(r *row, ev *tracewatch.Event) {
	goods(r, ev)
	ev.Time = r.date("invdate", true)
	ev.Qty = r.qty("inv_cnt", true, true)
	ev.LotNo = r.text("manu_lotnum")
	ev.Made = r.date("manu_date", false)
	ev.Expires = r.date("expy_end", false)
	ev.Codes = r.codes()
}

// stockChange reads a 3502 row (库存变更).
func stockChange(r *row, ev *tracewatch.Event) {
	goods(r, ev)
	ev.ChangeType = r.oneOf("inv_chg_type", true, msgChangeType,
		tracewatch.ChangeTransferIn, tracewatch.ChangeTransferOut, tracewatch.ChangeSurplus, tracewatch.ChangeLoss,
		tracewatch.ChangeDestroyed, tracewatch.ChangeOtherIn, tracewatch.ChangeOtherOut, tracewatch.ChangeInitial)
	ev.UnitPrice = r.price("pric")
	ev.Qty = r.qty("cnt", true, false)
	ev.Time = r.datetime("inv_chg_time", true)
	ev.SplitPack = r.flag("trdn_flag", false)
	r.texts("inv_chg_opter_name")
	ev.Codes = r.codes()
}

// purchase reads a 3503 row (采购).
func purchase(r *row, ev *tracewatch.Event) {
	purchaseCommon(r, ev)
	r.texts("dynt_no", "prodentp_name", "aprvno", "prod_geay_flag")
}

// purchaseReturn reads a 3504 row (采购退货).
func purchaseReturn(r *row, ev *tracewatch.Event) {
	purchaseCommon(r, ev)
	r.texts("medins_prod_purc_no")
}

func purchaseCommon(r *row, ev *tracewatch.Event) {
	goods(r, ev)
	ev.Supplier = r.text("spler_name")
	ev.LotNo = r.text("manu_lotnum")
	ev.Made = r.date("manu_date", false)
	ev.Expires = r.date("expy_end", false)
	ev.UnitPrice = r.price("finl_trns_pric")
	ev.Qty = r.qty("purc_retn_cnt", true, false)
	ev.Time = r.datetime("purc_retn_stoin_time", true)
	r.texts("spler_pmtno", "purc_invo_codg", "purc_invo_no", "purc_retn_opter_name")
	ev.Codes = r.codes()
}

// sale reads a 3505 row (销售).
func sale(r *row, ev *tracewatch.Event) {
	sold(r, ev)
	ev.Receipt = r.required("rtal_docno")
}

// saleReturn reads a 3506 row (销售退货).
func saleReturn(r *row, ev *tracewatch.Event) {
	sold(r, ev)
	ev.Receipt = r.text("rtal_docno")
	r.texts("medins_prod_sel_no")
}

// sold reads the fields 3505 and 3506 share.
func sold(r *row, ev *tracewatch.Event) {
	goods(r, ev)
	ev.Prescriber = r.text("prsc_dr_name")
	ev.Pharmacist = r.text("phar_name")
	ev.Settlement = r.text("setl_id")
	ev.Visit = r.text("mdtrt_sn")
	ev.Person = r.text("psn_no")
	ev.CertnoMasked = r.certno("certno")
	ev.LotNo = r.text("manu_lotnum")
	ev.Made = r.date("manu_date", false)
	ev.Expires = r.date("expy_end", false)
	ev.SplitPack = r.flag("trdn_flag", true)
	ev.UnitPrice = r.price("finl_trns_pric")
	ev.Qty = r.qty("sel_retn_cnt", true, false)
	ev.Time = r.datetime("sel_retn_time", true)
	ev.SettleType = r.oneOf("mdtrt_setl_type", false, msgSettleType, "1", "2")
	if ev.SettleType == "1" && ev.Settlement == "" {
		// Missing, not rejected: a setl_id that failed its own check is reported once.
		if s, ok := textOf(r.fields.get("setl_id")); ok && s == "" {
			r.fail("setl_id", msgRequiredSet)
		}
	}
	r.texts("prsc_dr_cert_type", "prsc_dr_certno", "phar_cert_type", "phar_certno", "phar_prac_cert_no",
		"hi_feesetl_type", "psn_cert_type", "psn_name", "rxno", "rx_circ_flag", "stoout_no", "bchno",
		"drug_prod_barc", "shelf_posi", "sel_retn_opter_name")
	ev.Codes = r.codes()
}

// deletion reads a 3507 row (进销存数据删除).
func deletion(r *row, ev *tracewatch.Event) {
	ev.BatchNo = r.required("fixmedins_bchno")
	ev.DataType = r.oneOf("inv_data_type", true, msgDataType, "1", "2", "3", "4")
}

// feeLine reads a 2204 / 2301 feedetail row (费用明细).
func feeLine(r *row, ev *tracewatch.Event) {
	ev.FeeLine = r.required("feedetl_sn")
	ev.Visit = r.text("mdtrt_id")
	ev.Person = r.text("psn_no")
	ev.Time = r.datetime("fee_ocur_time", false)
	ev.DrugCode = r.required("med_list_codg")
	ev.ItemID = r.text("medins_list_codg")
	ev.Amount = r.amount("det_item_fee_sumamt")
	ev.Qty = r.qty("cnt", true, false)
	ev.UnitPrice = r.price("pric")
	r.texts("chrg_bchno")
	ev.Codes = r.codes()
}

// settlementCancel reads a 2208 / 2305 data row (结算撤销).
func settlementCancel(r *row, ev *tracewatch.Event) {
	ev.Settlement = r.required("setl_id")
	ev.Visit = r.text("mdtrt_id")
	ev.Person = r.text("psn_no")
}

// settlement decodes a 2207 / 2304 message; see Decode.
func (a *arena) settlement(in members, base tracewatch.Event, notAfter time.Time, invalid func(field, msg string) error) ([]tracewatch.Event, []RowError, error) {
	raw := in.get("data")
	if isNull(raw) {
		return nil, nil, invalid("data", "missing input node or no rows")
	}
	rows, paths, ok := split("data", raw, 1)
	if !ok {
		return nil, nil, invalid("data", msgList)
	}
	if len(rows) != 1 {
		return nil, nil, invalid("data", "want exactly one settlement record")
	}
	obj, ok := a.object(rows[0])
	if !ok {
		return nil, []RowError{{Row: 1, Field: paths[0], Msg: msgObject}}, nil
	}
	h := &row{a: a, fields: obj, path: paths[0], n: 1, notAfter: notAfter}
	head := base
	head.Settlement = h.required("setl_id")
	head.Visit = h.text("mdtrt_id")
	head.Person = h.text("psn_no")
	head.Time = h.datetime("setl_time", false)
	head.Amount = h.amount("medfee_sumamt")
	head.FundPaid = h.amount("fund_pay_sumamt")
	if head.FundPaid > head.Amount && head.Amount > 0 {
		h.fail("fund_pay_sumamt", msgFundMax) // the fund pays part of the medical fees, never more
	}
	head.CertnoMasked = h.certno("certno")
	// An inpatient settlement may carry its stay (2401/2402 fields): C5 reads them.
	head.Admitted = h.datetime("adm_date", false)
	head.Discharged = h.datetime("dscg_date", false)
	head.Diagnosis = h.text("dscg_maindiag_code")
	h.texts("dscg_maindiag_name")
	h.texts("mdtrt_cert_no", "mdtrt_cert_type", "med_type", "insutype", "psn_setlway", "chrg_bchno")

	// The drug_trac_info elements, from both places.
	var elems []json.RawMessage
	var epaths []string
	for _, at := range []struct {
		raw  json.RawMessage
		path string
	}{{in.get("drug_trac_info"), "drug_trac_info"}, {obj.get("drug_trac_info"), paths[0] + ".drug_trac_info"}} {
		if isNull(at.raw) {
			continue
		}
		e, p, ok := split(at.path, at.raw, MaxCodes-len(elems))
		if !ok {
			h.errs = append(h.errs, RowError{Row: 1, Field: at.path, Msg: msgList})
			continue
		}
		if len(elems)+len(e) > MaxCodes {
			return nil, nil, invalid(at.path, msgCodes)
		}
		elems, epaths = append(elems, e...), append(epaths, p...)
	}

	type group struct {
		sn    string
		split bool
		codes []string
	}
	var groups []*group
	bySN := map[string]*group{}
	errs := h.errs
	for i, el := range elems {
		n := i + 1
		o, ok := a.object(el)
		if !ok {
			errs = append(errs, RowError{Row: n, Field: epaths[i], Msg: msgObject})
			continue
		}
		e := &row{a: a, fields: o, path: epaths[i], n: n}
		sn := e.required("feedetl_sn")
		code := e.required("drug_trac_codg")
		if utf8.RuneCountInString(code) > MaxCodeLen {
			e.fail("drug_trac_codg", msgCodeLen)
		}
		split := e.flag("trdn_flag", false)
		e.texts("min_prcunt_type")
		if len(e.errs) > 0 {
			errs = append(errs, e.errs...)
			continue
		}
		g := bySN[sn]
		if g == nil {
			g = &group{sn: sn}
			bySN[sn] = g
			groups = append(groups, g)
		}
		g.split = g.split || split
		g.codes = append(g.codes, code)
	}
	if len(h.errs) > 0 {
		return nil, errs, nil
	}
	if len(groups) == 0 {
		head.Line = 1
		return []tracewatch.Event{head}, errs, nil
	}
	events := make([]tracewatch.Event, len(groups))
	for i, g := range groups {
		ev := head
		if i > 0 {
			ev.Amount, ev.FundPaid = 0, 0
		}
		ev.Line = i + 1
		ev.FeeLine = g.sn
		ev.SplitPack = g.split
		ev.Codes = eventCodes(g.codes)
		events[i] = ev
	}
	return events, errs, nil
}
