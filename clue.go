package tracewatch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// SubjectKind says what a clue is about.
type SubjectKind string

// The subjects of a clue.
const (
	SubjectCode         SubjectKind = "code"         // one trace-code identity (one box)
	SubjectInstitution  SubjectKind = "institution"  // 定点医药机构
	SubjectPerson       SubjectKind = "person"       // 参保人
	SubjectPractitioner SubjectKind = "practitioner" // 医保医师 / 药师
)

// ClueState is a clue's place in the workflow (DESIGN §8). Detectors create clues in
// ClueNew; the workflow moves them on.
type ClueState string

// ClueNew is the state of a clue fresh from a detector (机审).
const ClueNew ClueState = "new"

// AmountBasis says what a clue's amount is (涉及金额口径).
type AmountBasis string

// The bases of a clue's amount. The empty basis says that neither is known: the amount
// is then 0.
const (
	AmountFund AmountBasis = "fund" // 医保基金支付: the fund's payment, from the settlement (2207/2304)
	AmountSale AmountBasis = "sale" // 销售金额: finl_trns_pric × quantity of the lines, the settlement unknown
)

// Chinese returns the basis's Chinese name (医保基金支付, 销售金额), "" for the empty basis.
func (b AmountBasis) Chinese() string {
	switch b {
	case AmountFund:
		return "医保基金支付"
	case AmountSale:
		return "销售金额"
	}
	return ""
}

// Evidence is one fact of a clue's timeline, with a reference to where it is stored.
type Evidence struct {
	Time        time.Time `json:"time"`
	What        string    `json:"what"`                  // sale, settlement, sale_return, purchase, … or a figure's name
	Institution string    `json:"institution,omitempty"` // fixmedins_code
	Ref         string    `json:"ref,omitempty"`         // msgid#line of the fact, when it is one
	Note        string    `json:"note,omitempty"`        // Chinese, one line
}

// Clue is a suspicious finding (疑点线索). Its fingerprint is a function of the detector
// and the subject alone, so running a detector again over the same facts updates the
// clue (more evidence, a new severity) instead of adding a second one.
type Clue struct {
	ID          int64       `json:"id"`
	Fingerprint string      `json:"fingerprint"`
	Detector    string      `json:"detector"` // id@version, e.g. trace.duplicate@1
	Rule        string      `json:"rule"`     // the detector's sub-rule (other_city, generic, coverage, …)
	Severity    Severity    `json:"severity"` // notice … violation; the JSON also carries severity_zh
	Subject     SubjectKind `json:"subject"`
	SubjectID   string      `json:"subject_id"`
	Region      Region      `json:"region"`       // of the institution concerned
	Institution string      `json:"institution"`  // the institution concerned (fixmedins_code)
	AmountFen   Fen         `json:"amount_fen"`   // money at risk: the fund's payment, or the sale amount (AmountBasis)
	AmountBasis AmountBasis `json:"amount_basis"` // what AmountFen is: fund, sale, or "" (neither known, amount 0)
	// The keys that identify the case: code identities, settlement ids (setl_id),
	// receipts (rtal_docno), message ids and persons (psn_no).
	Codes       []string   `json:"codes,omitempty"`
	Settlements []string   `json:"settlements,omitempty"`
	Receipts    []string   `json:"receipts,omitempty"`
	MsgIDs      []string   `json:"msgids,omitempty"`
	Persons     []string   `json:"persons,omitempty"`
	Evidence    []Evidence `json:"evidence"`
	Explanation string     `json:"explanation"` // Chinese, to be read aloud
	State       ClueState  `json:"state"`
	FirstSeen   time.Time  `json:"first_seen"` // 首次发现时间: the evaluation time of the first screen that found it
	LastSeen    time.Time  `json:"last_seen"`
}

// MarshalJSON writes the clue with its severity's Chinese name (severity_zh), the
// amount in yuan (amount_yuan) and its basis's Chinese name (amount_basis_zh) beside the
// stable fields.
func (c Clue) MarshalJSON() ([]byte, error) {
	type plain Clue
	return json.Marshal(struct {
		plain
		SeverityZh    string `json:"severity_zh"`
		AmountYuan    string `json:"amount_yuan"`
		AmountBasisZh string `json:"amount_basis_zh"`
	}{plain(c), c.Severity.Chinese(), c.AmountFen.String(), c.AmountBasis.Chinese()})
}

// DetectorName returns the detector id without its version (trace.duplicate).
func (c *Clue) DetectorName() string {
	name, _, _ := strings.Cut(c.Detector, "@")
	return name
}

// ClueFingerprint is the deterministic identity of a clue: the detector name (without its
// version, so that a new version refines its old clues) and the subject.
func ClueFingerprint(detector string, subject SubjectKind, id string, extra ...string) string {
	name, _, _ := strings.Cut(detector, "@")
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(id))
	for _, e := range extra {
		h.Write([]byte{0})
		h.Write([]byte(e))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Normalize sorts and deduplicates the key lists and orders the evidence by time, so that
// equal clues are equal byte for byte.
func (c *Clue) Normalize() {
	for _, p := range []*[]string{&c.Codes, &c.Settlements, &c.Receipts, &c.MsgIDs, &c.Persons} {
		*p = uniqueSorted(*p)
	}
	sort.SliceStable(c.Evidence, func(i, j int) bool { return c.Evidence[i].Time.Before(c.Evidence[j].Time) })
}

func uniqueSorted(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return out[:n]
}

// ClueFilter narrows a clue listing.
type ClueFilter struct {
	Detector    string   // detector name, with or without @version
	MinSeverity Severity // 0: all
	Region      Region   // clues within this region (a province or city contains its counties)
	Institution string
	Code        string // clues naming this code identity
	Limit       int    // 0: a default of 100; negative: no limit
	AfterID     int64
}

// ClueCount is one line of a screening summary.
type ClueCount struct {
	Detector string
	Severity Severity
	Clues    int64
	Amount   Fen
}

// Window is the period and region a screening covers. The zero From or To leaves that
// end open; the empty Region means everywhere.
type Window struct {
	From, To time.Time
	Region   Region
}

// Contains reports whether t lies in the window's period.
func (w Window) Contains(t time.Time) bool {
	return (w.From.IsZero() || !t.Before(w.From)) && (w.To.IsZero() || t.Before(w.To))
}

// InRegion reports whether r lies in the window's region.
func (w Window) InRegion(r Region) bool {
	return w.Region == "" || w.Region.Contains(r)
}

// SaleFact is one distinct sale-side fact of a code (one row of the ledger's input, see
// SaleID): +1 whole pack or +units sold, negative for a return or a cancel.
type SaleFact struct {
	SaleID      string
	Institution string
	Time        time.Time
	Whole       int64 // ±1 whole pack
	Split       Qty   // ± minimum units of a split-pack sale
}

// CodeHistory is the sale-side life of one code identity: its facts in time order and
// the event lines behind them (a cancel has a fact but no line of its own).
type CodeHistory struct {
	Key         string
	PackContent int64 // minimum units per pack, 0 when the drug is unknown
	Facts       []SaleFact
	Lines       []TimelineEntry // Event.FundPaid holds the fund's share of the line
}

// InboundCoverage is what one institution received of one drug in a window: packs
// reported and packs whose codes were scanned (purchases and inbound transfers), and the
// same for its opening stocktake.
type InboundCoverage struct {
	Institution    string
	DrugCode       string
	Packs          Qty   // reported quantity, in packs
	Scanned        int64 // distinct pack codes listed (a parent package counts the packs it contains)
	OpeningPacks   Qty
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
	Opening     Qty // counted at the opening stocktake
	Received    Qty // purchases (3503), transfers in (101), surplus (103), other in (106), initial stock (108)
	Returned    Qty // returns to the supplier (3504), transfers out (102), other out (107)
	Lost        Qty // losses (104) and destructions (105)
	Sold        Qty // sales (3505) less sale returns (3506)
	SoldFund    Fen // the fund's share of those sales
	SoldAmount  Fen // their sale amount (finl_trns_pric × quantity), whether settled or not
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
	UncodedFund, UncodedSale Fen
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
	Contrary       []PackOrder
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
	Settlements      map[string]Fen // setl_id → fund payment of the settlement's co-bought lines
	Lines            map[string]Fen // msgid#line → sale amount (det_item_fee_sumamt) of each co-bought line
}

// Stay is one inpatient stay as its settlement (2304) reports it, for C5.
type Stay struct {
	Institution string
	Settlement  string
	Person      string
	Admitted    time.Time
	Discharged  time.Time
	Diagnosis   string // main discharge diagnosis, ICD-10
	FundPaid    Fen
	Ref         string // msgid#line of the settlement
}

// Holding says who holds a box according to its sales: the institution with a positive
// net, the net in minimum units (1/10000), the last sale, and that sale's receipt and
// person when known. Others reports that another institution also holds a positive net
// (a duplicate already happened).
type Holding struct {
	Institution string
	Units       Qty
	Last        time.Time
	Receipt     string
	Settlement  string
	Person      string
	Others      bool
}

// CheckFeedback is a pharmacy's decision on a real-time warning (3103): continue with a
// reason, or go back and modify the sale.
type CheckFeedback struct {
	MsgID       string
	Institution string
	WarnType    string // 1 事前, 2 事中
	JrID        string // warn_rslt_id: the warning's jr_id
	Way         string // dspo_way: 1 continue, 2 modify
	Reason      string // dspo_way_rea
	Received    time.Time
}
