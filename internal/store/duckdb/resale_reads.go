package duckdb

import (
	"context"

	"tracewatch"
	"tracewatch/internal/facts"
)

// resoldCandidates are the codes C12 walks: sold (a positive sale-side fact) at two or
// more institutions; callers add the window on the last sale.
const resoldCandidates = `SELECT l.code_id AS code_id, l.pack_content AS pack_content FROM ledger l
WHERE l.sales >= 2 AND l.code_id IN (
    SELECT code_id FROM sale_codes WHERE whole > 0 OR split_qty > 0
    GROUP BY code_id HAVING count(DISTINCT fixmedins_code) >= 2)`

// ResoldHistories implements facts.Reader (C12, a named pruning fact): the complete
// sale-side histories, as DuplicateHistories streams them, of the codes sold at two or
// more institutions with a sale in the window. A code sold twice at one counter (a double
// scan, a return then a resale, the parts of a split pack) is not among them.
func (s *Store) ResoldHistories(ctx context.Context, w tracewatch.Window, fn func(*facts.CodeHistory) error) error {
	win, args := windowSQL(w, "l.last_sale")
	return s.codeHistories(ctx, "duckdb.ResoldHistories", resoldCandidates+win, args, fn)
}
