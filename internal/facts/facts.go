// Package facts is the seam between the rules and the stores (docs/facts.md): the typed
// fact rows the rules read and the Reader they read them through. The rules own this
// contract; a store satisfies Reader with a few generic, conformance-tested reads and
// never sees a rule's threshold, and a rule never sees SQL.
package facts

import (
	"time"

	"tracewatch"
)

// SaleFact is one distinct sale-side fact of a code (one row of the ledger's input, see
// tracewatch.SaleID): +1 whole pack or +units sold, negative for a return or a cancel.
type SaleFact struct {
	Sale        tracewatch.SaleID
	Institution string
	Time        time.Time
	Whole       int64          // ±1 whole pack
	Split       tracewatch.Qty // ± minimum units of a split-pack sale
}

// CodeHistory is the sale-side life of one code identity: its facts in time order and
// the event lines behind them (a cancel has a fact but no line of its own).
type CodeHistory struct {
	Key         string
	PackContent int64 // minimum units per pack, 0 when the drug is unknown
	Facts       []SaleFact
	Lines       []tracewatch.TimelineEntry // Event.FundPaid holds the fund's share of the line
}

// UnsourcedQuery is what UnsourcedLines reads: the window's sale lines of codes their
// seller had not received, itemized for the institutions of Itemize and tallied for the
// others. A nil Itemize itemizes every institution.
type UnsourcedQuery struct {
	Window  tracewatch.Window
	Itemize map[string]bool
	// Samples is how many lines come with a tally.
	Samples int
}

// UnsourcedTally is what UnsourcedLines says of an institution it does not itemize: how
// many distinct sales (tracewatch.SaleOf) its unsourced lines belong to, and, as samples,
// the first line of each of its first Samples such sales that is a 3505 sale line, in
// time order (the order UnsourcedLines streams lines in).
type UnsourcedTally struct {
	Institution string
	Sales       int
	Samples     []*tracewatch.TimelineEntry
}

// InboundCoverage is what one institution received of one drug in a window: packs
// reported and packs whose codes were scanned (purchases and inbound transfers), and the
// same for its opening stocktake.
type InboundCoverage struct {
	Institution    string
	DrugCode       string
	Packs          tracewatch.Qty // reported quantity, in packs
	Scanned        int64          // distinct pack codes listed (a parent package counts the packs it contains)
	OpeningPacks   tracewatch.Qty
	OpeningScanned int64
	// Unlinked counts the packs (of Scanned and OpeningScanned) counted for parent packages
	// whose contents the package links do not list: the rest of their row's quantity.
	// Their codes are not known, so a sale of the drug without a source may be one of them.
	Unlinked int64
}

// StockPeriod is one institution's movement of one drug between two of its stocktakes
// (3501 盘存), for T3 (c) 进销存不符. Quantities are minimum units (a whole pack counts its
// pack content, a 拆零 line its units), scaled by QtyScale like Qty.
type StockPeriod struct {
	Institution string
	DrugCode    string
	From        time.Time // the opening stocktake
	To          time.Time // the next stocktake; zero when there is none yet
	PackContent int64
	Opening     tracewatch.Qty // counted at the opening stocktake
	Received    tracewatch.Qty // purchases (3503), transfers in (101), surplus (103), other in (106), initial stock (108)
	Returned    tracewatch.Qty // returns to the supplier (3504), transfers out (102), other out (107)
	Lost        tracewatch.Qty // losses (104) and destructions (105)
	Sold        tracewatch.Qty // sales (3505) less sale returns (3506)
	SoldFund    tracewatch.Fen // the fund's share of those sales
	SoldAmount  tracewatch.Fen // their sale amount (finl_trns_pric × quantity), whether settled or not
	SaleLines   int
	FirstSale   string // msgid#line of the period's first sale line, for the evidence
}

// CollectionDay counts one institution's reimbursed drug sale lines on one day (business
// time zone), and those carrying a valid trace code. Exempt lines (中药饮片, 中药颗粒) are
// left out.
type CollectionDay struct {
	Institution string
	Day         time.Time // midnight, Asia/Shanghai
	Lines       int64
	Coded       int64
	// What the lines without a code were paid: the fund's share where the settlement is
	// known, and their sale amount (price × quantity; a fee line's amount).
	UncodedFund, UncodedSale tracewatch.Fen
}

// UploadDay counts what one institution uploaded for one day (business time zone): its
// events of any kind (stock, purchase, sale, settlement lines), by the day they happened.
// An institution with a row uploaded that day (接入); one without did not.
type UploadDay struct {
	Institution string
	Day         time.Time // midnight, Asia/Shanghai
	Events      int64
}

// CodeQuality counts one institution's sale scans, the unreadable ones (unparseable, a
// commodity barcode) and those of a product the code mapping does not know. An unknown
// product is a gap in the reference data as often as a bad code, so only Bad rates an
// institution (T4 bad_code_rate).
type CodeQuality struct {
	Institution string
	Scans       int64
	Bad         int64 // unreadable
	Unknown     int64 // readable, of a product id missing from the code mapping
}

// Repeat is one code scanned at sale more than once (the naive baseline's finding).
type Repeat struct {
	Key          string
	Scans        int64
	Institutions []string // distinct, in the order they first scanned it
	Last         string   // the institution of the last scan
}

// PackagePair is a parent package code and one of its children, both sold.
type PackagePair struct {
	Parent, Child string
}

// LevelConflict is a code whose package links contradict it (T5): linked under more than
// one parent package, or under a parent whose package level is known not to be above its
// own. A level is known only from a row that states or proves it: the code mapping row
// of the product id (pack_level), or a packages row where a code of one product id
// contains a code of the other (PackOrder). An unknown level contradicts nothing.
// Institution and First say where and when the window first saw the code scanned.
type LevelConflict struct {
	Code         string
	Product      string   // the code's product id ("" when its kind has none)
	Level        int      // the code's package level stated by the codemap row of Product, 0 unknown
	Parents      []string // the parent packages it is linked under
	ParentLevels []int    // their stated levels, 0 unknown
	// ParentProducts are the parents' product ids. Contrary holds, per parent, the order
	// the package links prove the other way (the code's product id above the parent's,
	// with its least row and its number of rows) when more rows prove it than link the
	// parent's product id above the code's (Agreeing, this row included); zero otherwise.
	ParentProducts []string
	Contrary       []tracewatch.PackOrder
	Agreeing       []int64
	Institution    string
	First          time.Time
}

// Contradicts reports whether the link from parent i contradicts a known level: the
// parent's stated level is not above the code's (StatedConflict), or the package links
// prove the code's product id above the parent's (Contrary).
func (lc *LevelConflict) Contradicts(i int) bool {
	return lc.StatedConflict(i) || (i < len(lc.Contrary) && lc.Contrary[i].Links > 0)
}

// StatedConflict reports whether the codemap states both levels of the link from parent
// i and the parent's is not above the code's.
func (lc *LevelConflict) StatedConflict(i int) bool {
	return i < len(lc.ParentLevels) && lc.Level > 0 && lc.ParentLevels[i] > 0 && lc.ParentLevels[i] <= lc.Level
}

// CoPurchase is two persons who bought the same drug at the same institution within an
// hour of each other on Days distinct days (C10), with the settlements of those purchases
// and their fund payments, and the sale amounts of the lines.
type CoPurchase struct {
	Person1, Person2 string
	Days             int
	Institutions     []string
	Drugs            []string
	First, Last      time.Time
	Settlements      map[string]tracewatch.Fen // setl_id → fund payment of the settlement's co-bought lines
	Lines            map[string]tracewatch.Fen // msgid#line → sale amount (det_item_fee_sumamt) of each co-bought line
}

// Stay is one inpatient stay as its settlement (2304) reports it, for C5.
type Stay struct {
	Institution string
	Settlement  string
	Person      string
	Admitted    time.Time
	Discharged  time.Time
	Diagnosis   string // main discharge diagnosis, ICD-10
	FundPaid    tracewatch.Fen
	Ref         string // msgid#line of the settlement
}

// Holding says who holds a box according to its sales: the institution with a positive
// net, the net in minimum units (1/10000), the last sale, and that sale's receipt and
// person when known. Others reports that another institution also holds a positive net
// (a duplicate already happened).
type Holding struct {
	Institution string
	Units       tracewatch.Qty
	Last        time.Time
	Receipt     string
	Settlement  string
	Person      string
	Others      bool
}
