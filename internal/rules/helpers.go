package rules

import (
	"math"
	"strconv"
	"time"

	"tracewatch"
)

// --- helpers shared by the detectors ---

var cst = tracewatch.Beijing

// when formats an instant for an explanation (business time zone).
func when(t time.Time) string {
	if t.IsZero() {
		return "(时间不详)"
	}
	return t.In(cst).Format("2006-01-02 15:04")
}

func day(t time.Time) string { return t.In(cst).Format("2006-01-02") }

// instName returns "名称(编码)" for an institution.
func (env *Env) instName(code string) string {
	if in, ok := env.Institutions[code]; ok && in.Name != "" {
		return in.Name + "(" + code + ")"
	}
	return code
}

// place returns the city (and province when it is not the reference's) of an institution.
func (env *Env) place(code string) string {
	in, ok := env.Institutions[code]
	if !ok || in.Region == "" {
		return ""
	}
	if r, ok := env.Regions[in.Region.City()]; ok {
		return r.Name
	}
	return string(in.Region)
}

func (env *Env) drugName(code string) string {
	if d, ok := env.Drugs[code]; ok {
		return d.Name
	}
	if code == "" {
		return "(未知药品)"
	}
	return code
}

func yuan(f tracewatch.Fen) string { return f.String() }

func ref(e *tracewatch.Event) string { return e.MsgID + "#" + strconv.Itoa(e.Line) }

// codeOf names a scanned code in text: its identity when it has one, else the raw scan.
func codeOf(c *tracewatch.EventCode) string {
	if c.Key != "" {
		return c.Key
	}
	return c.Raw
}

// qtyText describes a sale line's quantity.
func qtyText(e *tracewatch.Event) string {
	if e.SplitPack {
		return "拆零 " + e.Qty.String() + " 个最小单位"
	}
	if e.Qty == 0 {
		return ""
	}
	return e.Qty.String() + " 盒"
}

// saleVerb names a sale-side event in Chinese.
func saleVerb(k tracewatch.EventKind) string {
	switch k {
	case tracewatch.EventSale:
		return "销售"
	case tracewatch.EventSettlement:
		return "医保结算"
	case tracewatch.EventSaleReturn:
		return "销售退货"
	case tracewatch.EventSettlementCancel:
		return "结算撤销"
	case tracewatch.EventPurchase:
		return "采购入库"
	case tracewatch.EventStocktake:
		return "盘存"
	case tracewatch.EventStockChange:
		return "库存变更"
	case tracewatch.EventPurchaseReturn:
		return "采购退货"
	}
	return string(k)
}

// lineEvidence describes one event line as evidence.
func (env *Env) lineEvidence(t *tracewatch.TimelineEntry) tracewatch.Evidence {
	note := when(t.Time) + " " + env.instName(t.Institution) + " " + saleVerb(t.Kind)
	if t.DrugCode != "" {
		note += " " + env.drugName(t.DrugCode)
	}
	if q := qtyText(&t.Event); q != "" {
		note += " " + q
	}
	if t.Settlement != "" {
		note += "，结算号 " + t.Settlement
	} else if t.Receipt != "" {
		note += "，单据号 " + t.Receipt
	}
	return tracewatch.Evidence{Time: t.Time, What: string(t.Kind), Institution: t.Institution, Ref: ref(&t.Event), Note: note}
}

// --- the amount at risk (涉及金额, docs/detectors.md) ---

// saleAmount is the sale amount of an event line: finl_trns_pric × quantity for a 3505
// line, the fee line's own amount (det_item_fee_sumamt) for a 2204/2301 line (else its
// price × quantity); 0 for the other events (a settlement states the fund's payment
// itself) or when the price is unknown.
//
// The quantity of a 拆零 line counts minimum units. Its price is taken as the price of
// one minimum unit (the synthetic province writes it so, and the fund share of the line
// is computed so) unless it is nearer the catalog's pack price than to its unit price:
// then it is a pack price and the amount is price × units / pack content.
func (env *Env) saleAmount(e *tracewatch.Event) tracewatch.Fen {
	switch e.Kind {
	case tracewatch.EventSale:
	case tracewatch.EventFeeLine:
		if e.Amount > 0 {
			return e.Amount
		}
	default:
		return 0
	}
	if e.UnitPrice <= 0 || e.Qty <= 0 {
		return 0
	}
	qty := float64(e.Qty) / float64(tracewatch.QtyScale)
	if d, ok := env.Drugs[e.DrugCode]; ok && e.SplitPack && packPriced(e.UnitPrice, d) {
		qty /= float64(d.PackContent)
	}
	f := math.Floor(float64(e.UnitPrice) * qty)
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return tracewatch.Fen(f)
}

// packPriced reports whether a 拆零 line's price is nearer the drug's pack price than
// its unit price (pack price / pack content). An unknown catalog price says no.
func packPriced(price tracewatch.Fen, d tracewatch.Drug) bool {
	if d.PackContent <= 1 || d.Price <= 0 {
		return false
	}
	p, pack := float64(price), float64(d.Price)
	return math.Abs(p-pack) < math.Abs(p-pack/float64(d.PackContent))
}

// saleSum adds up the sale amounts of the lines of a clue, each line (msgid#line) once:
// a line with several codes is read once per code.
type saleSum struct {
	total tracewatch.Fen
	seen  map[string]bool
}

func (s *saleSum) add(env *Env, e *tracewatch.Event) {
	a := env.saleAmount(e)
	if a == 0 {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	k := ref(e)
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	s.total += a
}

// lineAmount is the amount at risk of one sale seen on several lines (its 3505 line and
// the 2207 settlement carrying the same code, a code scanned twice): the largest fund
// payment and the largest sale amount of its lines, so that the sale counts once and a
// line that knows the amount is not hidden by one that does not.
type lineAmount struct {
	fund, sale tracewatch.Fen
}

func (a *lineAmount) add(env *Env, t *tracewatch.TimelineEntry) {
	a.fund, a.sale = max(a.fund, t.FundPaid), max(a.sale, env.saleAmount(&t.Event))
}

// setAmount sets a clue's amount and its basis: the fund's payment when the settlement
// is known (fund > 0), else the sale amount of the lines concerned, else 0 with no basis
// (neither is known).
func setAmount(c *tracewatch.Clue, fund, sale tracewatch.Fen) {
	switch {
	case fund > 0:
		c.AmountFen, c.AmountBasis = fund, tracewatch.AmountFund
	case sale > 0:
		c.AmountFen, c.AmountBasis = sale, tracewatch.AmountSale
	default:
		c.AmountFen, c.AmountBasis = 0, ""
	}
}

// amountText states a clue's amount for its explanation, naming its basis.
func amountText(c *tracewatch.Clue) string {
	switch c.AmountBasis {
	case tracewatch.AmountFund:
		return "基金支付 " + yuan(c.AmountFen) + " 元"
	case tracewatch.AmountSale:
		return "销售金额 " + yuan(c.AmountFen) + " 元（未见结算明细，按销售单价 × 数量计）"
	}
	return "金额不详（未见结算明细，销售单价未知）"
}
