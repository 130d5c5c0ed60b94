package facts

import (
	"time"

	"tracewatch"
)

// PersonSettlement is one standing outpatient or pharmacy settlement of a person (C9):
// a distinct (institution, setl_id) that a 2207 reports, or, where no 2207 reports it,
// that insured 3505 rows (mdtrt_setl_type 1) name; a settlement a 2208 cancelled at or
// after it is left out, and so are withdrawn 3505 rows.
type PersonSettlement struct {
	Person      string
	Institution string
	Settlement  string    // setl_id
	Time        time.Time // the settlement's time (its 2207, else its first 3505 row)
	// FundPaid is the fund's payment the 2207 states (0 when only 3505 rows report the
	// settlement); SaleAmount the sale amount of its 3505 rows (price × quantity).
	FundPaid   tracewatch.Fen
	SaleAmount tracewatch.Fen
	Ref        string // msgid#line of the settlement's first line (its 2207, else its first 3505 row)
}

// TravelQuery selects TravelSettlements: the window, and the longest gap between two
// settlements in other cities that the caller may judge (a typed filter the store
// pushes down, never the rule's threshold per distance).
type TravelQuery struct {
	Window tracewatch.Window
	Within time.Duration
}
