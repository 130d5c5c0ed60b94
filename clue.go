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
	SubjectRegion       SubjectKind = "region"       // 统筹区 (a county or city: its SubjectID is the region code)
)

// ClueState is a clue's place in the workflow (DESIGN §8). Detectors create clues in
// ClueNew; the workflow moves them on.
type ClueState string

// The workflow's states (docs/workflow.md). Detectors create clues in ClueNew; only the
// workflow moves them on, and a screening that finds a clue again never does.
const (
	ClueNew           ClueState = "new"           // 机审: fresh from a detector
	ClueTriaged       ClueState = "triaged"       // 初审
	ClueReviewed      ClueState = "reviewed"      // 复审
	ClueDeliberated   ClueState = "deliberated"   // 合议
	ClueDispatched    ClueState = "dispatched"    // 下发 to a city or county, with a deadline
	ClueInvestigating ClueState = "investigating" // 现场核查
	ClueAnswered      ClueState = "answered"      // 反馈
	ClueClosed        ClueState = "closed"        // 办结, with an outcome
	ClueReturned      ClueState = "returned"      // 退回 for more work
	ClueAppealed      ClueState = "appealed"      // 申诉 by the institution
	ClueDismissed     ClueState = "dismissed"     // 排除, with a reason
)

// ClueStates lists every state in workflow order.
var ClueStates = []ClueState{ClueNew, ClueTriaged, ClueReviewed, ClueDeliberated, ClueDispatched,
	ClueInvestigating, ClueAnswered, ClueClosed, ClueReturned, ClueAppealed, ClueDismissed}

// Chinese returns the state's Chinese name.
func (s ClueState) Chinese() string {
	switch s {
	case ClueNew:
		return "机审"
	case ClueTriaged:
		return "初审"
	case ClueReviewed:
		return "复审"
	case ClueDeliberated:
		return "合议"
	case ClueDispatched:
		return "下发"
	case ClueInvestigating:
		return "现场核查"
	case ClueAnswered:
		return "反馈"
	case ClueClosed:
		return "办结"
	case ClueReturned:
		return "退回"
	case ClueAppealed:
		return "申诉"
	case ClueDismissed:
		return "排除"
	}
	return ""
}

// ParseClueState reads a state name.
func ParseClueState(s string) (ClueState, error) {
	st := ClueState(strings.TrimSpace(s))
	for _, k := range ClueStates {
		if st == k {
			return st, nil
		}
	}
	return "", Errorf("tracewatch.ParseClueState", KindInvalid, "unknown state %q: want one of new, triaged, reviewed, deliberated, dispatched, investigating, answered, closed, returned, appealed, dismissed", s)
}

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
	Flow        ClueFlow   `json:"workflow"`   // where it stands in the workflow beside State
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
	// UnknownRegion, with Region: also the clues whose region is unknown (empty).
	UnknownRegion bool
	Institution   string
	Code          string // clues naming this code identity
	Limit         int    // 0: a default of 100; negative: no limit
	AfterID       int64
	States        []ClueState // clues in one of these states (none: all)
	DueBefore     time.Time   // clues whose step is due before this time and not done: overdue (zero: all)
	// NewSeenBefore, with DueBefore: a clue still new that was first seen before this is
	// overdue too (its 初审 deadline is configuration the store does not know).
	NewSeenBefore time.Time
	FirstSeenFrom time.Time // clues first found at or after this (zero: all)
	CaseID        int64     // the clues of this case (0: all)
	MinAmount     Fen       // clues whose amount at risk is at least this (0: all)
	// Order is the order of a list (the zero value: id order, which AfterID pages); with
	// another order a list pages by Offset.
	Order  ClueOrder
	Offset int
}

// ClueOrder is the order a clue list comes in.
type ClueOrder string

// The orders of a clue list; each ends in id order among equals.
const (
	OrderID       ClueOrder = ""         // oldest first (AfterID pages)
	OrderNewest   ClueOrder = "newest"   // newest first
	OrderAmount   ClueOrder = "amount"   // the largest amount at risk first
	OrderSeverity ClueOrder = "severity" // the most severe first, then the largest amount
	OrderDeadline ClueOrder = "deadline" // the earliest deadline first (none last)
)

// ParseClueOrder reads an order name ("" and "id" are id order).
func ParseClueOrder(s string) (ClueOrder, error) {
	switch o := ClueOrder(strings.TrimSpace(s)); o {
	case OrderID, "id":
		return OrderID, nil
	case OrderNewest, OrderAmount, OrderSeverity, OrderDeadline:
		return o, nil
	}
	return "", Errorf("tracewatch.ParseClueOrder", KindInvalid, "unknown order %q: want id, newest, amount, severity or deadline", s)
}

// ClueGroupBy names the columns a clue summary groups by (several may be or'ed).
type ClueGroupBy uint8

// The columns of a clue summary.
const (
	ByDetector ClueGroupBy = 1 << iota
	BySeverity
	ByState
	ByRegion
	ByInstitution
)

// ClueGroup is one line of a clue summary: the clues of one group, their amount at risk
// and what closing them recovered. Columns not grouped by are left empty.
type ClueGroup struct {
	Detector    string    `json:"detector,omitempty"` // name@version
	Severity    Severity  `json:"severity,omitempty"`
	State       ClueState `json:"state,omitempty"`
	Region      Region    `json:"region,omitempty"`
	Institution string    `json:"institution,omitempty"`
	Clues       int64     `json:"clues"`
	AmountFen   Fen       `json:"amount_fen"`
	// RecoveredFen is 追回金额 and PenaltyFen 违约金 and 罚款 of the closed clues' outcomes.
	RecoveredFen Fen `json:"recovered_fen"`
	PenaltyFen   Fen `json:"penalty_fen"`
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
