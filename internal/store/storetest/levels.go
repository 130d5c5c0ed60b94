package storetest

import (
	"context"
	"reflect"
	"testing"

	"tracewatch"
)

// The conformance cases of package levels (run by Run): a code mapping row without a
// level keeps it unknown, and PackOrders lists what the links prove.

// testUnknownLevel: a level the row does not state is stored and read back as 0, not 1;
// a stated one as stated.
func testUnknownLevel(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	must(t, s.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{
		{ProductID: "8385793", DrugCode: drugX}, {ProductID: "8385794", DrugCode: drugX, PackLevel: 3},
		{ProductID: "8385795", DrugCode: drugX, PackLevel: 1}}))
	maps, err := s.CodeMappings(ctx)
	must(t, err)
	for p, want := range map[string]int{"8385793": 0, "8385794": 3, "8385795": 1} {
		if got := maps[p].PackLevel; got != want {
			t.Errorf("product %s: level %d, want %d", p, got, want)
		}
	}
	// Re-loading the row with a level states it; without one makes it unknown again.
	must(t, s.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: "8385793", DrugCode: drugX, PackLevel: 1}, {ProductID: "8385794", DrugCode: drugX}}))
	maps, err = s.CodeMappings(ctx)
	must(t, err)
	if maps["8385793"].PackLevel != 1 || maps["8385794"].PackLevel != 0 {
		t.Errorf("after re-load: %+v", maps)
	}
}

// Codes of the PackOrders cases: product 8385794 (cartons) holds 8385793 (boxes) by three
// rows, one row puts a box of 8385793 above a carton of 8385794 (the reverse, proved by
// one row), a GS1 carton holds a GS1 box and an MA box, two codes of one product are
// linked (no order between distinct products), and an enterprise code (no product id) is
// linked under a carton.
const (
	cartonA = "83857940000000000002"
	cartonB = "83857940000000000001"
	box1    = "83857930000000000011"
	box2    = "83857930000000000012"
	box3    = "83857930000000000013"
	box4    = "83857930000000000014"
	cartonC = "83857940000000000003" // under box4: the reverse
	gs1Box  = "(01)06904879000113(21)B1"
	gs1Case = "(01)16904879000127(21)K1"
	maBox   = "MA.156.M0.100001.0000001"
	entCode = "ENT-2024-0001"
	same1   = "83857950000000000001"
	same2   = "83857950000000000002"
)

func packLinks() []tracewatch.PackageLink {
	return []tracewatch.PackageLink{
		{Parent: cartonA, Child: box1}, {Parent: cartonA, Child: box2}, {Parent: cartonB, Child: box3},
		{Parent: box4, Child: cartonC},
		{Parent: gs1Case, Child: gs1Box}, {Parent: gs1Case, Child: maBox},
		{Parent: same1, Child: same2},
		{Parent: cartonB, Child: entCode},
	}
}

func testPackOrders(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	got, err := s.PackOrders(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("empty store: PackOrders = %+v", got)
	}
	must(t, s.UpsertPackageLinks(ctx, packLinks()))
	got, err = s.PackOrders(ctx)
	must(t, err)
	want := []tracewatch.PackOrder{
		{Parent: "16904879000127", Child: "06904879000113", Link: tracewatch.PackageLink{Parent: gs1Case, Child: gs1Box}, Links: 1},
		{Parent: "16904879000127", Child: "MA.156.M0.100001", Link: tracewatch.PackageLink{Parent: gs1Case, Child: maBox}, Links: 1},
		{Parent: "8385793", Child: "8385794", Link: tracewatch.PackageLink{Parent: box4, Child: cartonC}, Links: 1},
		{Parent: "8385794", Child: "8385793", Link: tracewatch.PackageLink{Parent: cartonB, Child: box3}, Links: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PackOrders:\n got %+v\nwant %+v", got, want)
	}
	// The majority decides which product ids package others: the single reverse row
	// makes 8385793 no parent.
	parents := tracewatch.ParentProducts(got)
	if want := map[string]bool{"16904879000127": true, "8385794": true}; !reflect.DeepEqual(parents, want) {
		t.Errorf("ParentProducts = %v, want %v", parents, want)
	}
}

// testPackOrdersMove: re-loading a child under another parent moves it (a pack lies in
// one package), and the orders follow.
func testPackOrdersMove(t *testing.T, s tracewatch.Store) {
	ctx := context.Background()
	must(t, s.UpsertPackageLinks(ctx, packLinks()))
	// box4's row moves cartonC under cartonA: the reverse order is gone, 8385794 →
	// 8385795 appears (cartonA holds a code of the same-product pair).
	must(t, s.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: cartonA, Child: cartonC}, {Parent: cartonA, Child: same2}}))
	got, err := s.PackOrders(ctx)
	must(t, err)
	want := []tracewatch.PackOrder{
		{Parent: "16904879000127", Child: "06904879000113", Link: tracewatch.PackageLink{Parent: gs1Case, Child: gs1Box}, Links: 1},
		{Parent: "16904879000127", Child: "MA.156.M0.100001", Link: tracewatch.PackageLink{Parent: gs1Case, Child: maBox}, Links: 1},
		{Parent: "8385794", Child: "8385793", Link: tracewatch.PackageLink{Parent: cartonB, Child: box3}, Links: 3},
		{Parent: "8385794", Child: "8385795", Link: tracewatch.PackageLink{Parent: cartonA, Child: same2}, Links: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PackOrders after the move:\n got %+v\nwant %+v", got, want)
	}
}
