package tracewatch

import (
	"strconv"
	"strings"
	"time"
)

// Qty is a quantity in 1/10000 of the reported unit: the national interfaces send
// quantities as decimal(16,4). Integer arithmetic keeps sums exact.
type Qty int64

// QtyScale is one whole unit.
const QtyScale Qty = 10000

// ParseQty reads a decimal quantity with at most 4 decimals ("1", "2.5", "0.0001";
// trailing zeros beyond them are ignored).
func ParseQty(s string) (Qty, error) {
	v, ok := parseFixed(s, 4, 12, true)
	if !ok {
		return 0, Errorf("tracewatch.ParseQty", KindInvalid, "quantity %q: want a decimal number with at most 12 digits and 4 decimals", s)
	}
	return Qty(v), nil
}

// String formats the quantity without trailing zeros ("2", "2.5").
func (q Qty) String() string {
	neg := q < 0
	if neg {
		q = -q
	}
	s := strconv.FormatInt(int64(q/QtyScale), 10)
	if f := int64(q % QtyScale); f != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(f+10000, 10)[1:], "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// EventKind is what happened to the goods of one line of an NHSA message.
type EventKind string

// The event kinds, with the interfaces that report them.
const (
	EventStocktake        EventKind = "stocktake"         // 3501 盘存
	EventStockChange      EventKind = "stock_change"      // 3502 库存变更 (ChangeType says which)
	EventPurchase         EventKind = "purchase"          // 3503 采购
	EventPurchaseReturn   EventKind = "purchase_return"   // 3504 采购退货
	EventSale             EventKind = "sale"              // 3505 销售
	EventSaleReturn       EventKind = "sale_return"       // 3506 销售退货
	EventDeletion         EventKind = "deletion"          // 3507 进销存数据删除
	EventFeeLine          EventKind = "fee_line"          // 2204 / 2301 费用明细
	EventSettlement       EventKind = "settlement"        // 2207 / 2304 结算 (codes from drug_trac_info)
	EventSettlementCancel EventKind = "settlement_cancel" // 2208 / 2305 结算撤销
)

// EventKinds lists every event kind, in the order above.
var EventKinds = []EventKind{EventStocktake, EventStockChange, EventPurchase, EventPurchaseReturn, EventSale,
	EventSaleReturn, EventDeletion, EventFeeLine, EventSettlement, EventSettlementCancel}

// Beijing is the business time zone (Asia/Shanghai: UTC+8, no daylight saving), the zone
// of every national date and time and of every day a person reads. It is the one
// definition; packages refer to it.
var Beijing = time.FixedZone("CST", 8*3600)

// Stock change types (inv_chg_type of 3502).
const (
	ChangeTransferIn  = "101" // 调拨入库
	ChangeTransferOut = "102" // 调拨出库
	ChangeSurplus     = "103" // 盘盈
	ChangeLoss        = "104" // 盘亏 / 报损
	ChangeDestroyed   = "105" // 销毁
	ChangeOtherIn     = "106" // 其他入库
	ChangeOtherOut    = "107" // 其他出库
	ChangeInitial     = "108" // 初始化入库
)

// InboundChanges are the stock change types that bring goods in (a source for later
// sales): transfers in, surplus found at a stocktake, other receipts and initial stock.
// Every reader of inbound facts, Go or SQL, takes them from this list.
var InboundChanges = []string{ChangeTransferIn, ChangeSurplus, ChangeOtherIn, ChangeInitial}

// OutboundChanges are the stock change types that take goods out other than by a sale:
// transfers out, losses, destructions and other issues.
var OutboundChanges = []string{ChangeTransferOut, ChangeLoss, ChangeDestroyed, ChangeOtherOut}

// Inbound reports whether the event brings goods into the institution (a source for
// its later sales): purchases, stocktake listings and the inbound stock changes.
func (e *Event) Inbound() bool {
	switch e.Kind {
	case EventPurchase, EventStocktake:
		return true
	case EventStockChange:
		for _, c := range InboundChanges {
			if e.ChangeType == c {
				return true
			}
		}
	}
	return false
}

// InvDataType returns the 3507 inv_data_type (进销存数据类型) whose deletions withdraw
// rows of kind k: "1" 盘存 (3501), "2" 库存变更 (3502), "3" 采购 (3503, 3504), "4" 销售
// (3505, 3506); "" for the kinds no 3507 withdraws (settlements, fee lines, cancels and
// deletions themselves).
func InvDataType(k EventKind) string {
	switch k {
	case EventStocktake:
		return "1"
	case EventStockChange:
		return "2"
	case EventPurchase, EventPurchaseReturn:
		return "3"
	case EventSale, EventSaleReturn:
		return "4"
	}
	return ""
}

// SaleSide reports the sign of the event on the code ledger: +1 for a sale or a
// settlement, -1 for a sale return or a settlement cancel, 0 otherwise.
func (e *Event) SaleSide() int {
	switch e.Kind {
	case EventSale, EventSettlement:
		return 1
	case EventSaleReturn, EventSettlementCancel:
		return -1
	}
	return 0
}

// Setting is the care setting (就医场景) an event belongs to, as its interface states it:
// the outpatient interfaces (门诊, which pharmacies' insured purchases use too) and the
// inpatient ones (住院). The 35xx interfaces (stock and sales) name none: a sale may be a
// pharmacy's or a hospital dispensary's. nhsa sets it; rules and stores read it instead
// of guessing from infno.
type Setting string

// The care settings.
const (
	SettingNone       Setting = ""           // 35xx: the interface names no care setting
	SettingOutpatient Setting = "outpatient" // 门诊: 2204 fee lines, 2207 settlements, 2208 cancels
	SettingInpatient  Setting = "inpatient"  // 住院: 2301 fee lines, 2304 settlements, 2305 cancels
)

// Chinese returns the setting as inspectors read it (门诊, 住院), "" for SettingNone.
func (s Setting) Chinese() string {
	switch s {
	case SettingOutpatient:
		return "门诊"
	case SettingInpatient:
		return "住院"
	}
	return ""
}

// Event is one line of an NHSA message, in domain terms. Fields that an interface does
// not carry stay empty.
type Event struct {
	MsgID        string    // the message's msgid
	Line         int       // 1-based row within the message
	Infno        string    // 3505, 3505A, 2207, …
	Kind         EventKind //
	Setting      Setting   // care setting as the interface states it (nhsa sets it)
	ChangeType   string    // 3502 inv_chg_type
	Institution  string    // fixmedins_code
	DrugCode     string    // med_list_codg
	ItemID       string    // fixmedins_hilist_id (the institution's own item code)
	ItemName     string    // fixmedins_hilist_name
	BatchNo      string    // fixmedins_bchno (the institution's batch serial)
	LotNo        string    // manu_lotnum
	Made         time.Time // manu_date
	Expires      time.Time // expy_end
	Qty          Qty       // sel_retn_cnt, purc_retn_cnt, cnt, inv_cnt
	SplitPack    bool      // trdn_flag = 1 (拆零): Qty is in minimum units
	UnitPrice    Fen       // finl_trns_pric or pric
	Amount       Fen       // det_item_fee_sumamt, medfee_sumamt
	FundPaid     Fen       // fund_pay_sumamt (settlements)
	Time         time.Time // sel_retn_time, purc_retn_stoin_time, inv_chg_time, invdate, fee_ocur_time, setl_time
	Receipt      string    // rtal_docno
	Settlement   string    // setl_id
	Visit        string    // mdtrt_sn / mdtrt_id
	FeeLine      string    // feedetl_sn
	Person       string    // psn_no
	CertnoMasked string    // certno, masked
	SettleType   string    // mdtrt_setl_type: 1 insurance, 2 self-pay
	Supplier     string    // spler_name
	Prescriber   string    // prsc_dr_name
	Pharmacist   string    // phar_name
	DataType     string    // 3507 inv_data_type (1 盘存, 2 库存变更, 3 采购/采购退货, 4 销售/销售退货)
	Admitted     time.Time // adm_date (2304: the stay's admission)
	Discharged   time.Time // dscg_date (2304: the stay's discharge)
	Diagnosis    string    // dscg_maindiag_code (2304: main discharge diagnosis, ICD-10)
	// Sent is the envelope's inf_time: when the institution sent the message, zero when
	// the envelope has none. It orders uploads for 3507 withdrawals (docs/ledger.md):
	// files and HTTP requests arrive in any order, the times they were sent do not change.
	Sent  time.Time
	Codes []EventCode
}

// EventCode is one trace code scanned on an event line, identified.
type EventCode struct {
	Raw       string    // as scanned
	Key       string    // identity (tracecode key); empty when the code did not parse
	Kind      string    // tracecode kind
	ProductID string    // 药品标识码 or GTIN
	Error     string    // tracecode error code when the code did not parse
	Parent    string    // when the code was expanded from a scanned parent package: the parent's key
	Level     int       // package level from the code mapping (1 sales pack, 2, 3), 0 unknown
	DrugCode  string    // the drug the code maps to (三码合一), empty when unknown
	Expires   time.Time // the expiry the code itself carries (GS1 AI 17), midnight Asia/Shanghai; zero when none
}
