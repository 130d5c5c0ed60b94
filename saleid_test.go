package tracewatch

import "testing"

// TestSaleID: SaleOf names a sale by its settlement, receipt or line, a return and a
// cancel by their own; the text form is stable (clue fingerprints hash it) and
// ParseSaleID reads it back, an institution or reference holding "|" included.
func TestSaleID(t *testing.T) {
	tests := []struct {
		e    Event
		text string
	}{
		{Event{Kind: EventSale, Institution: "P1", Settlement: "S1", Receipt: "R1", MsgID: "M1", Line: 2}, "P1|S|S1"},
		{Event{Kind: EventSettlement, Institution: "P1", Settlement: "S1"}, "P1|S|S1"},
		{Event{Kind: EventSale, Institution: "P1", Receipt: "R1", MsgID: "M1", Line: 2}, "P1|R|R1"},
		{Event{Kind: EventSale, Institution: "P1", MsgID: "M1", Line: 2}, "P1|L|M1|2"},
		{Event{Kind: EventSaleReturn, Institution: "P1", Settlement: "S1", MsgID: "M9", Line: 3}, "RET|P1|M9|3"},
		{Event{Kind: EventSettlementCancel, Institution: "P1", Settlement: "S1"}, "CAN|P1|S1"},
		{Event{Kind: EventSale, Institution: "P|1", Receipt: "R|S|1"}, "P|1|R|R|S|1"},
		{Event{Kind: EventSale, Institution: "P|1", MsgID: "M|L|2", Line: 12}, "P|1|L|M|L|2|12"},
	}
	for _, tc := range tests {
		id := SaleOf(&tc.e)
		if got := id.String(); got != tc.text {
			t.Errorf("SaleOf(%+v) = %q, want %q", tc.e, got, tc.text)
		}
		back, err := ParseSaleID(tc.e.Institution, tc.text)
		if err != nil || back != id {
			t.Errorf("ParseSaleID(%q) = %+v, %v; want %+v", tc.text, back, err, id)
		}
	}
	if got := CancelledSale("P1", "S1"); got != SaleOf(&tests[1].e) {
		t.Errorf("CancelledSale = %+v", got)
	}
	for _, bad := range []string{"", "P1", "P2|S|S1", "P1|X|1", "P1|L|M1", "RET|P1|M1|x"} {
		if _, err := ParseSaleID("P1", bad); err == nil {
			t.Errorf("ParseSaleID(%q) accepted", bad)
		}
	}
}
