package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
)

// Rendering of the NHSA request envelopes, one JSON object per line. Field names and
// node names are the national ones (../shared/domain/nhsa-interfaces.md); every
// message carries the fields of the 2025 "frozen required set".
//
// The renderer runs on a goroutine of its own: the simulation decides everything
// (including every random choice) and hands the renderer operations in order; the
// renderer only formats, so its output depends on nothing but that order. It owns the
// message ring, the packages file, the msgid sequences and the counters.

// renderer formats messages and package links.
type renderer struct {
	w          *world
	code       codec
	clk        *clock
	out        *messages
	pkg        *fileOut
	tmp        []byte
	stats      stats
	msgSeq     []int // per institution: the last msgid sequence used
	distSeq    []int // per distributor: the last delivery note (随货单号)
	invoiceSeq uint64

	// Options.SalesOnly: the interfaces rendered (so that msgids and counters stay as
	// without the option) and then taken back out of the ring.
	drop  [nInfno]bool
	cur   int // the interface of the message being rendered
	start int // where it starts in its ring bucket

	// upload_outage (plant_travel.go): the messages of an institution on a day it is
	// offline are rendered (so that ids and counters stay as without it) and taken back
	// out, unless they are a planted act's (keep).
	offline  func(inst, day int) bool
	keep     bool
	curInst  int
	curLines int // stats.SaleLines when the message began
}

// stats counts what was written.
type stats struct {
	SaleLines int
	Messages  [nInfno]int
	Malformed int // planted messages that do not decode
	Cartons   int
	Packs     int
	Destroyed int
}

// The interfaces, as indices of infnos (for counting).
const (
	m3501 = iota
	m3502
	m3503
	m3505
	m3506
	m2204
	m2207
	m2208
	m2301
	m2304
	m3504
	nInfno
)

var infnos = [nInfno]string{"3501", "3502", "3503", "3505", "3506", "2204", "2207", "2208", "2301", "2304", "3504"}

var infnoHeads = func() (h [nInfno]string) {
	for i, n := range infnos {
		h[i] = `{"infno":"` + n + `","msgid":"`
	}
	return h
}()

// begin starts a message: the envelope up to "input":. The constant parts are
// prepared once per institution (envHead, envTail) and practitioner (env).
func (r *renderer) begin(infno int, t int64, in *institution, insuplc string, op *practitioner) []byte {
	b := r.out.at(t)
	r.cur, r.start = infno, len(b)
	r.curInst, r.curLines = in.idx, r.stats.SaleLines
	b = append(b, infnoHeads[infno]...)
	b = append(b, in.code...)
	b = r.clk.appendStamp(b, t)
	r.msgSeq[in.idx]++
	b = appendPadded(b, uint64(r.msgSeq[in.idx]%10000), 4)
	b = append(b, in.envHead...)
	if insuplc != "" {
		b = append(b, `","insuplc_admdvs":"`...)
		b = append(b, insuplc...)
	}
	b = append(b, op.env...)
	b = r.clk.appendTime(b, t)
	b = append(b, in.envTail...)
	r.stats.Messages[infno]++
	return b
}

// endRow closes a row object ({"selinfo":{…}), then as end.
func (r *renderer) endRow(t int64, b []byte) {
	b = trimComma(b)
	r.end(t, append(b, '}'))
}

// end closes the input object and the envelope and queues the message.
func (r *renderer) end(t int64, b []byte) {
	b = trimComma(b)
	b = append(b, "}}\n"...)
	if r.drop[r.cur] {
		b = b[:r.start]
		r.stats.Messages[r.cur]--
	} else if !r.keep && r.offline != nil && t >= 0 && r.offline(r.curInst, int(t/86400)) {
		b = b[:r.start]
		r.stats.Messages[r.cur]--
		r.stats.SaleLines = r.curLines
	}
	r.out.set(t, b)
}

func (r *renderer) insuplc(p *person) string {
	if p == nil {
		return ""
	}
	return r.w.regions[p.region].code
}

// appendScanned appends a pack's code as scanned.
func (r *renderer) appendScanned(b []byte, bx box) []byte {
	return r.code.appendScan(b, bx.c.d, bx.c.d.boxPID, bx.serial(), bx.c)
}

// appendCode appends the code scanned for pack j of line it: the pack's code, or what a
// planted case put in its place.
func (r *renderer) appendCode(b []byte, it *item, bx box, j int) []byte {
	d := bx.c.d
	switch {
	case it.scan == scanGoods:
		return append(b, d.gtin13...)
	case it.carton:
		return r.code.appendScan(b, d, d.cartonPID, bx.c.serial, bx.c)
	case j > 0 || it.scan == scanTrue:
		return r.appendScanned(b, bx)
	case it.scan == scanCommodity:
		return append(b, d.gtin13...)
	case it.scan == scanTypo:
		start := len(b)
		b = r.appendScanned(b, bx)
		code := append([]byte(nil), b[start:]...)
		k := max(it.arg, -it.arg)
		b = append(b[:start], code[:k]...)
		if it.arg > 0 { // digit k doubled
			b = append(b, code[k])
			return append(b, code[k:]...)
		}
		return append(b, code[k+1:]...) // digit k dropped
	case it.scan == scanLostGS:
		// The element string as a scanner sends it without FNC1/GS: the lot, a
		// variable-length field, runs into the serial.
		b = append(b, "01"...)
		b = append(b, d.boxPID.s...)
		b = append(b, "17"...)
		b = append(b, bx.c.yymmdd...)
		b = append(b, "10"...)
		b = append(b, bx.c.lot...)
		b = append(b, "21"...)
		return appendSerial36(b, bx.serial())
	}
	return r.appendScanned(b, bx)
}

// traceItem appends "drugtracinfo":[…] with the codes of a sale line.
func (r *renderer) traceItem(b []byte, it *item, boxes []box) []byte {
	b = append(b, `"drugtracinfo":[`...)
	for j, bx := range boxes {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"drug_trac_codg":"`...)
		b = r.appendCode(b, it, bx, j)
		b = append(b, `"}`...)
		if j == 0 && it.dup {
			b = append(b, `,{"drug_trac_codg":"`...)
			b = r.appendCode(b, it, bx, j)
			b = append(b, `"}`...)
		}
	}
	return append(b, `],`...)
}

// traceNode appends "drugtracinfo":[…] with the codes of the packs (the first twice
// when dup).
func (r *renderer) traceNode(b []byte, boxes []box, dup bool) []byte {
	b = append(b, `"drugtracinfo":[`...)
	for i, bx := range boxes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"drug_trac_codg":"`...)
		b = r.appendScanned(b, bx)
		b = append(b, `"}`...)
		if i == 0 && dup {
			b = append(b, `,{"drug_trac_codg":"`...)
			b = r.appendScanned(b, bx)
			b = append(b, `"}`...)
		}
	}
	return append(b, `],`...)
}

// appendFeeHead writes the fields every 2204/2301 feedetail row starts with, from its
// opening brace to medins_list_codg: the fee line of day t, occurring at occurred.
func (r *renderer) appendFeeHead(b []byte, t, occurred int64, fee int, mdtrt string, p *person, code, item string) []byte {
	b = append(b, `{"feedetl_sn":"`...)
	b = r.appendFeeSN(b, t, fee)
	b = append(b, `","mdtrt_id":"`...)
	b = append(b, mdtrt...)
	b = append(b, `","psn_no":"`...)
	b = r.w.appendPsnNo(b, p)
	b = append(b, `","chrg_bchno":"C`...)
	b = appendPadded(b, uint64(fee%100_000_000), 8)
	b = append(b, `","fee_ocur_time":"`...)
	b = r.clk.appendTime(b, occurred)
	b = append(b, `","med_list_codg":"`...)
	b = append(b, code...)
	b = append(b, `","medins_list_codg":"`...)
	return append(b, item...)
}

func (r *renderer) appendFeeSN(b []byte, t int64, fee int) []byte {
	b = append(b, 'F')
	b = append(b, r.clk.compact[t/86400]...)
	return appendPadded(b, uint64(fee%100_000_000), 8)
}

// sale renders one 3505 line (商品销售). The constant parts come prepared: the
// product's (drug.json35), the batch's (carton.json), the staff's (practitioner.json*).
func (r *renderer) sale(t int64, in *institution, p *person, insured bool, it *item, boxes []box, line int, receipt, visit, setl string, ph, dr *practitioner, outside bool) {
	d := it.billed()
	c := boxes[0].c
	b := r.begin(m3505, t, in, r.insuplc(p), ph)
	b = append(b, `{"selinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, c.json...)
	b = append(b, dr.jsonPrsc...)
	b = append(b, ph.jsonPhar...)
	if insured {
		b = append(b, `"hi_feesetl_type":"1","mdtrt_setl_type":"1","setl_id":"`...)
		b = append(b, setl...)
		b = append(b, `","mdtrt_sn":"`...)
	} else {
		b = append(b, `"hi_feesetl_type":"2","mdtrt_setl_type":"2","mdtrt_sn":"`...)
	}
	b = append(b, visit...)
	if p != nil {
		b = append(b, `","psn_no":"`...)
		b = r.w.appendPsnNo(b, p)
		b = append(b, `","psn_cert_type":"01",`...)
	} else {
		b = append(b, `","psn_cert_type":"99",`...)
	}
	if it.split {
		b = append(b, `"trdn_flag":"1","finl_trns_pric":`...)
		b = appendPrice4(b, it.unit)
	} else {
		b = append(b, `"trdn_flag":"0","finl_trns_pric":`...)
		b = appendYuan(b, it.unit)
	}
	if outside {
		b = append(b, `,"rx_circ_flag":"1"`...)
	}
	b = append(b, `,"rtal_docno":"`...)
	b = append(b, receipt...)
	b = append(b, `","stoout_no":"`...)
	b = append(b, receipt...)
	b = append(b, '-')
	b = appendInt(b, int64(line))
	b = append(b, `","sel_retn_cnt":`...)
	b = appendInt(b, int64(it.qty))
	b = append(b, `,"sel_retn_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `",`...)
	if it.scanned {
		b = r.traceItem(b, it, boxes[it.b0:it.b0+it.nb])
	}
	r.endRow(t, b)
	r.stats.SaleLines++
}

// feeLines renders the basket's 2204 (门诊费用明细信息上传).
func (r *renderer) feeLines(t int64, in *institution, p *person, items []item, mdtrt string, ph *practitioner) {
	b := r.begin(m2204, t, in, r.insuplc(p), ph)
	b = append(b, `{"feedetail":[`...)
	for i := range items {
		it := &items[i]
		d := it.billed()
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendFeeHead(b, t, t, it.fee, mdtrt, p, d.code, d.itemID)
		b = append(b, `","det_item_fee_sumamt":`...)
		b = appendYuan(b, it.amount)
		b = append(b, `,"cnt":`...)
		b = appendInt(b, int64(it.qty))
		b = append(b, `,"pric":`...)
		if it.split {
			b = appendPrice4(b, it.unit)
		} else {
			b = appendYuan(b, it.unit)
		}
		if len(in.doctors) > 0 {
			dr := r.w.pracs[in.doctors[it.fee%len(in.doctors)]]
			b = append(b, `,"bilg_dr_codg":"`...)
			b = append(b, dr.id...)
			b = append(b, `","bilg_dr_name":"`...)
			b = append(b, dr.name...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, "],"...)
	r.end(t, b)
}

// settlement renders the 2207 (门诊结算) with its drug_trac_info.
func (r *renderer) settlement(t int64, in *institution, p *person, items []item, boxes []box, mdtrt, setl, medType string, ph *practitioner) {
	var total int64
	for i := range items {
		total += items[i].amount
	}
	ratio := int64(500)
	switch {
	case medType == "14":
		ratio = 700
	case p.insu == "310":
		ratio = 600
	}
	fund := total * ratio / 1000
	var acct, cash int64
	if p.insu == "310" {
		acct = total - fund
	} else {
		cash = total - fund
	}
	b := r.begin(m2207, t, in, r.insuplc(p), ph)
	b = append(b, `{"data":{"psn_no":"`...)
	b = r.w.appendPsnNo(b, p)
	b = append(b, `","mdtrt_cert_type":"01","med_type":"`...)
	b = append(b, medType...)
	b = append(b, `","medfee_sumamt":`...)
	b = appendYuan(b, total)
	b = append(b, `,"psn_setlway":"01","mdtrt_id":"`...)
	b = append(b, mdtrt...)
	b = append(b, `","insutype":"`...)
	b = append(b, p.insu...)
	if acct > 0 {
		b = append(b, `","acct_used_flag":"1","setl_id":"`...)
	} else {
		b = append(b, `","acct_used_flag":"0","setl_id":"`...)
	}
	b = append(b, setl...)
	b = append(b, `","setl_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","fund_pay_sumamt":`...)
	b = appendYuan(b, fund)
	b = append(b, `,"acct_pay":`...)
	b = appendYuan(b, acct)
	b = append(b, `,"psn_cash_pay":`...)
	b = appendYuan(b, cash)
	b = append(b, `},`...)
	n := 0
	for i := range items {
		it := &items[i]
		if !it.scanned {
			continue
		}
		if n == 0 {
			b = append(b, `"drug_trac_info":[`...)
		}
		for j, bx := range boxes[it.b0 : it.b0+it.nb] {
			reps := 1
			if j == 0 && it.dup {
				reps = 2
			}
			for range reps {
				if n > 0 {
					b = append(b, ',')
				}
				n++
				b = append(b, `{"feedetl_sn":"`...)
				b = r.appendFeeSN(b, t, it.fee)
				b = append(b, `","drug_trac_codg":"`...)
				b = r.appendCode(b, it, bx, j)
				if it.split {
					b = append(b, `","trdn_flag":"1","min_prcunt_type":"2"}`...)
				} else {
					b = append(b, `","trdn_flag":"0","min_prcunt_type":"1"}`...)
				}
			}
		}
	}
	if n > 0 {
		b = append(b, "],"...)
	}
	r.end(t, b)
}

// cancel renders a 2208 (门诊结算撤销).
func (r *renderer) cancel(t int64, in *institution, p *person, setl, mdtrt string, op *practitioner) {
	b := r.begin(m2208, t, in, r.insuplc(p), op)
	b = append(b, `{"data":{"setl_id":"`...)
	b = append(b, setl...)
	b = append(b, `","mdtrt_id":"`...)
	b = append(b, mdtrt...)
	b = append(b, `","psn_no":"`...)
	b = r.w.appendPsnNo(b, p)
	b = append(b, `"`...)
	r.endRow(t, b)
}

// returnMsg renders a 3506 (商品销售退货) of a self-pay line.
func (r *renderer) returnMsg(t int64, in *institution, ret *saleReturn, p *person, visit, receipt string, op *practitioner) {
	d := in.slots[ret.slot].d
	c := ret.boxes[0].c
	b := r.begin(m3506, t, in, r.insuplc(p), op)
	b = append(b, `{"selinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, c.json...)
	b = append(b, `"mdtrt_sn":"`...)
	b = append(b, visit...)
	if p != nil {
		b = append(b, `","psn_no":"`...)
		b = r.w.appendPsnNo(b, p)
		b = append(b, `","psn_cert_type":"01",`...)
	} else {
		b = append(b, `","psn_cert_type":"99",`...)
	}
	b = append(b, `"trdn_flag":"0","finl_trns_pric":`...)
	b = appendYuan(b, ret.unit)
	b = append(b, `,"sel_retn_cnt":`...)
	b = appendInt(b, int64(len(ret.boxes)))
	b = append(b, `,"sel_retn_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","sel_retn_opter_name":"`...)
	b = append(b, op.name...)
	b = append(b, `","medins_prod_sel_no":"`...)
	b = append(b, ret.stoout...)
	b = append(b, `","rtal_docno":"`...)
	b = append(b, receipt...)
	b = append(b, `","mdtrt_setl_type":"2",`...)
	if ret.scanned {
		b = r.traceNode(b, ret.boxes, false)
	}
	r.endRow(t, b)
}

// scan is one code listed on an inbound line: a carton's code, or pack i of it.
type scan struct {
	c      *carton
	i      int32
	carton bool
}

// purchase renders a 3503 (商品采购) of a delivery.
func (r *renderer) purchase(t int64, in *institution, d *drug, cs []*carton, total int, listed []scan, op *practitioner) {
	c := cs[0]
	b := r.begin(m3503, t, in, "", op)
	b = append(b, `{"purcinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, c.json...)
	r.distSeq[in.supplier]++
	b = append(b, `"dynt_no":"SH`...)
	b = append(b, r.clk.compact[t/86400]...)
	b = appendPadded(b, uint64(r.distSeq[in.supplier]%1_000_000), 6)
	b = append(b, `","spler_name":"`...)
	b = append(b, distributors[in.supplier]...)
	b = append(b, `","spler_pmtno":"YPJY`...)
	b = appendPadded(b, uint64(3601000+in.supplier), 7)
	b = append(b, `","prodentp_name":"`...)
	b = append(b, d.maker...)
	b = append(b, `","aprvno":"`...)
	b = append(b, d.aprvno...)
	b = append(b, `","finl_trns_pric":`...)
	b = appendYuan(b, d.buyPrice)
	b = append(b, `,"purc_retn_cnt":`...)
	b = appendInt(b, int64(total))
	r.invoiceSeq++
	b = append(b, `,"purc_invo_no":"`...)
	b = appendPadded(b, r.invoiceSeq%100_000_000, 8)
	b = append(b, `","purc_retn_stoin_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","purc_retn_opter_name":"`...)
	b = append(b, op.name...)
	b = append(b, `","prod_geay_flag":"0",`...)
	b = r.scans(b, d, listed)
	r.endRow(t, b)
}

// purchaseReturn renders a 3504 (商品采购退货): carton c goes back to the distributor.
func (r *renderer) purchaseReturn(t int64, in *institution, c *carton, listed []scan, op *practitioner) {
	d := c.d
	b := r.begin(m3504, t, in, "", op)
	b = append(b, `{"purcinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, c.json...)
	b = append(b, `"spler_name":"`...)
	b = append(b, distributors[in.supplier]...)
	b = append(b, `","spler_pmtno":"YPJY`...)
	b = appendPadded(b, uint64(3601000+in.supplier), 7)
	b = append(b, `","finl_trns_pric":`...)
	b = appendYuan(b, d.buyPrice)
	b = append(b, `,"purc_retn_cnt":`...)
	b = appendInt(b, int64(c.n))
	b = append(b, `,"purc_retn_stoin_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","purc_retn_opter_name":"`...)
	b = append(b, op.name...)
	b = append(b, `","medins_prod_purc_no":"`...)
	b = append(b, c.bchno...)
	b = append(b, `","memo":"包装破损退货",`...)
	b = r.scans(b, d, listed)
	r.endRow(t, b)
}

// transfer renders a 3502 of n packs of a batch moved between two stores of a chain:
// type 102 (调拨出库) at the sender, 101 (调拨入库) at the receiver.
func (r *renderer) transfer(t int64, in *institution, c *carton, typ string, n int, listed []scan, memo string, op *practitioner) {
	d := c.d
	b := r.begin(m3502, t, in, "", op)
	b = append(b, `{"invinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, `"inv_chg_type":"`...)
	b = append(b, typ...)
	b = append(b, `","fixmedins_bchno":"`...)
	b = append(b, c.bchno...)
	b = append(b, `","manu_lotnum":"`...)
	b = append(b, c.lot...)
	b = append(b, `","pric":`...)
	b = appendYuan(b, d.buyPrice)
	b = append(b, `,"cnt":`...)
	b = appendInt(b, int64(n))
	b = append(b, `,"trdn_flag":"0","inv_chg_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","inv_chg_opter_name":"`...)
	b = append(b, op.name...)
	b = append(b, `","memo":"`...)
	b = append(b, memo...)
	b = append(b, `",`...)
	b = r.scans(b, d, listed)
	r.endRow(t, b)
}

// scans appends "drugtracinfo":[…] of inbound codes (nothing when there are none).
func (r *renderer) scans(b []byte, d *drug, listed []scan) []byte {
	if len(listed) == 0 {
		return b
	}
	b = append(b, `"drugtracinfo":[`...)
	for i, x := range listed {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"drug_trac_codg":"`...)
		if x.carton {
			b = r.code.appendScan(b, d, d.cartonPID, x.c.serial, x.c)
		} else {
			b = r.code.appendScan(b, d, d.boxPID, x.c.first+uint64(x.i), x.c)
		}
		b = append(b, `"}`...)
	}
	return append(b, "],"...)
}

// stocktake renders one 3501 (商品盘存上传) row: one product and batch in stock, in
// hundredths of a pack.
func (r *renderer) stocktake(t int64, day int, in *institution, d *drug, c *carton, hundredths int64, listed []scan, op *practitioner) {
	b := r.begin(m3501, t, in, "", op)
	b = append(b, `{"invinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, c.json...)
	b = append(b, `"invdate":"`...)
	b = append(b, r.clk.dash[day]...)
	b = append(b, `","inv_cnt":`...)
	b = appendHundredths(b, hundredths)
	b = append(b, ',')
	b = r.scans(b, d, listed)
	r.endRow(t, b)
}

// destroy renders a 3502 (商品库存变更) of type 105 (销毁): packs found expired on the
// shelf, or the rest of an opened pack (units > 0).
func (r *renderer) destroy(t int64, in *institution, c *carton, boxes []box, units int32, op *practitioner) {
	d := c.d
	b := r.begin(m3502, t, in, "", op)
	b = append(b, `{"invinfo":{`...)
	b = append(b, d.json35...)
	b = append(b, `"inv_chg_type":"105","fixmedins_bchno":"`...)
	b = append(b, c.bchno...)
	b = append(b, `","pric":`...)
	b = appendYuan(b, d.buyPrice)
	b = append(b, `,"cnt":`...)
	if units > 0 {
		b = appendInt(b, int64(units))
		b = append(b, `,"trdn_flag":"1"`...)
	} else {
		b = appendInt(b, int64(len(boxes)))
		b = append(b, `,"trdn_flag":"0"`...)
	}
	b = append(b, `,"inv_chg_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","inv_chg_opter_name":"`...)
	b = append(b, op.name...)
	b = append(b, `","memo":"过期销毁",`...)
	if d.coded {
		b = r.traceNode(b, boxes, false)
	}
	r.endRow(t, b)
	r.stats.Destroyed += len(boxes)
}

// packageLinks writes a carton's children to packages.csv.
func (r *renderer) packageLinks(c *carton) {
	key := r.code.appendCartonKey(r.tmp[:0], c.d, c.serial)
	key = append(key, ',')
	n := len(key)
	b := key
	for i := range c.n {
		if i > 0 {
			b = append(b, key[:n]...)
		}
		b = r.code.appendBoxKey(b, c.d, c.first+uint64(i))
		b = append(b, '\n')
	}
	r.pkg.write(b)
	r.tmp = b
	r.stats.Cartons++
	r.stats.Packs += int(c.n)
}

// malformed renders a planted 3505 that ingest must quarantine and gives its label the
// msgid (for a line that is not JSON, also the msgid ingest derives from its content).
func (r *renderer) malformed(t int64, kind, cut int, l *plantLabel, in *institution, it *item, boxes []box, receipt, visit string, ph, dr *practitioner, outside bool) {
	start := len(r.out.at(t))
	r.sale(t, in, nil, false, it, boxes, 1, receipt, visit, "", ph, dr, outside)
	r.stats.SaleLines--
	r.stats.Messages[m3505]--
	r.stats.Malformed++
	b := r.out.at(t)
	msg := append([]byte(nil), b[start:]...)
	msgid := string(msg[len(infnoHeads[m3505]):][:30])
	l.MsgIDs = []string{msgid}
	if r.out.late != nil {
		r.out.late.keep[msgid] = true // never withdrawn and uploaded again
	}
	switch kind {
	case 0:
		i := bytes.Index(msg, []byte(`"rtal_docno":"`))
		j := i + bytes.Index(msg[i:], []byte(`",`)) + 2
		msg = append(msg[:i], msg[j:]...)
		l.Note = "3505 row without rtal_docno (required)"
	case 1:
		i := bytes.Index(msg, []byte(`"sel_retn_cnt":`)) + len(`"sel_retn_cnt":`)
		j := i + bytes.IndexByte(msg[i:], ',')
		msg = append(msg[:i], append([]byte(`"abc"`), msg[j:]...)...)
		l.Note = `3505 row with sel_retn_cnt "abc", not a number`
	default:
		n := len(msg) * cut / 1000
		for n > 0 && msg[n]&0xC0 == 0x80 {
			n-- // cut at a character boundary: the line stays UTF-8
		}
		line := msg[:n]
		l.MsgIDs = append(l.MsgIDs, derivedMsgID(line))
		msg = append(line, '\n')
		l.Note = "a 3505 line cut short: not JSON; ingest records it under the msgid derived from its content (the second msgid), the first is the one it carried"
	}
	r.out.set(t, append(b[:start], msg...))
}

// derivedMsgID is the msgid ingest gives a line that is not a message
// (ingest.DerivedMsgID): "sha256:" and the first 12 bytes of the SHA-256 of the trimmed
// line, in hex.
func derivedMsgID(line []byte) string {
	sum := sha256.Sum256(bytes.TrimSpace(line))
	return "sha256:" + hex.EncodeToString(sum[:12])
}

// inpatient renders a stay's fee lines (2301 住院费用明细) and its settlement (2304
// 住院结算) three seconds later.
func (r *renderer) inpatient(t int64, in *institution, p *person, lines []inpLine, mdtrt, setl string, adm int64, dx *diagnosis, dr, op *practitioner, extra int64, noLines bool) {
	var total int64
	for i := range lines {
		total += lines[i].amount
	}
	if !noLines {
		r.feeDetail(t, in, p, lines, mdtrt, adm, dr, op)
	}
	total += extra
	r.inpatientSettlement(t, in, p, lines, mdtrt, setl, adm, dx, op, total)
}

// feeDetail renders the 2301 of a stay's fee lines.
func (r *renderer) feeDetail(t int64, in *institution, p *person, lines []inpLine, mdtrt string, adm int64, dr, op *practitioner) {
	b := r.begin(m2301, t, in, r.insuplc(p), op)
	b = append(b, `{"feedetail":[`...)
	for i := range lines {
		ln := &lines[i]
		if i > 0 {
			b = append(b, ',')
		}
		at := adm
		if ln.at != 0 {
			at = ln.at
		}
		b = r.appendFeeHead(b, t, at, ln.fee, mdtrt, p, ln.code, ln.item)
		b = append(b, `","medins_list_name":"`...)
		b = append(b, ln.name...)
		b = append(b, `","det_item_fee_sumamt":`...)
		b = appendYuan(b, ln.amount)
		b = append(b, `,"cnt":`...)
		b = appendInt(b, ln.cnt)
		b = append(b, `,"pric":`...)
		b = appendPrice4(b, ln.price)
		b = append(b, `,"bilg_dr_codg":"`...)
		b = append(b, dr.id...)
		b = append(b, `","bilg_dr_name":"`...)
		b = append(b, dr.name...)
		b = append(b, `"}`...)
	}
	b = append(b, "],"...)
	r.end(t, b)
}

// inpatientSettlement renders the 2304 of a stay, three seconds after its 2301, with its
// medical fees total.
func (r *renderer) inpatientSettlement(t int64, in *institution, p *person, lines []inpLine, mdtrt, setl string, adm int64, dx *diagnosis, op *practitioner, total int64) {
	t += 3
	ratio := int64(700)
	if p.insu == "310" {
		ratio = 850
	}
	fund := total * ratio / 1000
	b := r.begin(m2304, t, in, r.insuplc(p), op)
	b = append(b, `{"data":{"psn_no":"`...)
	b = r.w.appendPsnNo(b, p)
	b = append(b, `","mdtrt_cert_type":"01","med_type":"21","medfee_sumamt":`...)
	b = appendYuan(b, total)
	b = append(b, `,"psn_setlway":"01","mdtrt_id":"`...)
	b = append(b, mdtrt...)
	b = append(b, `","insutype":"`...)
	b = append(b, p.insu...)
	b = append(b, `","acct_used_flag":"0","setl_id":"`...)
	b = append(b, setl...)
	b = append(b, `","setl_time":"`...)
	b = r.clk.appendTime(b, t)
	b = append(b, `","fund_pay_sumamt":`...)
	b = appendYuan(b, fund)
	b = append(b, `,"acct_pay":0.00,"psn_cash_pay":`...)
	b = appendYuan(b, total-fund)
	b = append(b, `,"adm_date":"`...)
	b = r.clk.appendTime(b, adm)
	b = append(b, `","dscg_date":"`...)
	b = r.clk.appendTime(b, t-3)
	b = append(b, `","dscg_maindiag_code":"`...)
	b = append(b, dx.code...)
	b = append(b, `","dscg_maindiag_name":"`...)
	b = append(b, dx.name...)
	b = append(b, `"},`...)
	n := 0
	for i := range lines {
		ln := &lines[i]
		for _, bx := range ln.boxes {
			if n == 0 {
				b = append(b, `"drug_trac_info":[`...)
			} else {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"feedetl_sn":"`...)
			b = r.appendFeeSN(b, t, ln.fee)
			b = append(b, `","drug_trac_codg":"`...)
			b = r.appendScanned(b, bx)
			b = append(b, `","trdn_flag":"0","min_prcunt_type":"1"}`...)
		}
	}
	if n > 0 {
		b = append(b, "],"...)
	}
	r.end(t, b)
}
