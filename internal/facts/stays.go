package facts

import (
	"time"

	"tracewatch"
)

// StayCare is one standing inpatient stay (Stay) with the care its fee lines (2301 of
// the stay's mdtrt_id) show day by day, and the person's standing outpatient and
// pharmacy settlements made while admitted (C6 bed holding, C13 phantom stay).
type StayCare struct {
	Stay
	Visit  string         // mdtrt_id of the 2304
	Amount tracewatch.Fen // medfee_sumamt of the 2304 (the stay's medical fees)
	// Lines counts the stay's fee lines; LineAmount sums their det_item_fee_sumamt.
	Lines      int
	LineAmount tracewatch.Fen
	// Undated counts the fee lines without a fee_ocur_time of their own (their day is
	// unknown; ingest gives such a line its envelope's inf_time, and a line timed exactly
	// at its envelope's inf_time counts as undated).
	Undated int
	// Days are the business days (Asia/Shanghai, the day at midnight there) on which
	// fee lines occurred, ascending.
	Days []CareDay
	// During are the person's standing outpatient (2207) and pharmacy settlements
	// (2207, or insured 3505 rows of a setl_id no 2207 reports) made strictly between
	// the admission and the discharge, at any institution (the stay's own included), by
	// time.
	During []StaySettlement
}

// CareDay is one business day of a stay with fee lines.
type CareDay struct {
	Day    time.Time // midnight, Asia/Shanghai
	Lines  int
	Amount tracewatch.Fen
}

// StaySettlement is one settlement of a person made during a stay: the institution,
// setl_id, its time (the 2207's, else the first 3505 row's), the medical fees and the
// fund payment it states (the sale amounts of the rows and no fund payment for 3505
// rows no 2207 reports), and the msgid#line of its first row.
type StaySettlement struct {
	Institution string
	Settlement  string
	Time        time.Time
	Amount      tracewatch.Fen
	FundPaid    tracewatch.Fen
	SalesOnly   bool // settled by insured 3505 rows only (no 2207 reports it)
	Ref         string
}
