package synth_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/synth"
	"tracewatch/internal/tracecode"
)

// The promise the data make to C3 (claims.oversupply, 超量开药), checked on the data alone,
// independently of the rule: per person and drug of the knowledge base (drug_limits.csv
// with a max_days and a daily_dose), the days of supply on hand at each purchase — what
// was on hand at the previous one less the days since, plus the new purchase's quantity ×
// pack content ÷ daily dose (a 拆零 line's quantity is in minimum units) — stay within
// max_days × 1.5 for every honest patient, and exceed it in every planted over_supply case.

// supplyTolerance is C3's default tolerance: a person may hold max_days × (1 + 50 %).
const supplyTolerance = 50

// limit is a knowledge-base row that C3 can judge.
type limit struct {
	maxDays int
	dose    tracewatch.Qty
}

// purchase is one sale line of a drug of the knowledge base to a person.
type purchase struct {
	t           time.Time
	day         int // calendar days since 1970-01-01 in Asia/Shanghai
	units       tracewatch.Qty
	inst, setl  string
	receipt     string
	codes       []string       // identity keys of the codes scanned
	onHand      tracewatch.Qty // minimum units on hand after it
	overMaxDays bool           // the supply on hand after it exceeds max_days by more than the tolerance
}

type supplyKey struct{ person, drug string }

// supplies replays the sale lines (3505) of the province in dir and returns, per person
// and drug of the knowledge base, the purchases in time order with the supply on hand
// after each. Cancelled settlements and returns are not subtracted: the figure is an
// upper bound of what C3 computes.
func supplies(t *testing.T, dir string) (map[supplyKey][]purchase, map[string]limit) {
	t.Helper()
	limits := map[string]limit{}
	recs := readCSV(t, filepath.Join(dir, "reference", "drug_limits.csv"))
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	for _, r := range recs[1:] {
		md, _ := strconv.Atoi(r[col["max_days"]])
		var dose tracewatch.Qty
		if v := r[col["daily_dose"]]; v != "" {
			q, err := tracewatch.ParseQty(v)
			if err != nil || q <= 0 {
				t.Fatalf("drug_limits.csv %s: daily_dose %q", r[0], v)
			}
			dose = q
		}
		if md > 0 && dose > 0 {
			limits[r[0]] = limit{md, dose}
		}
	}
	pack := map[string]int64{}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "drugs.csv"))[1:] {
		n, _ := strconv.ParseInt(r[3], 10, 64)
		pack[r[0]] = n
	}
	cst := time.FixedZone("CST", 8*3600)
	out := map[supplyKey][]purchase{}
	for _, l := range readMessages(t, dir) {
		for _, ev := range l.evs {
			_, ok := limits[ev.DrugCode]
			if ev.Kind != tracewatch.EventSale || ev.Person == "" || !ok {
				continue
			}
			units := ev.Qty
			if !ev.SplitPack {
				units = ev.Qty * tracewatch.Qty(pack[ev.DrugCode])
			}
			y, m, d := ev.Time.In(cst).Date()
			day := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
			k := supplyKey{ev.Person, ev.DrugCode}
			var codes []string
			for _, c := range ev.Codes {
				if k, err := tracecode.Parse(c.Raw); err == nil {
					codes = append(codes, k.Key)
				}
			}
			out[k] = append(out[k], purchase{t: ev.Time, day: day, units: units, inst: ev.Institution, setl: ev.Settlement, receipt: ev.Receipt, codes: codes})
		}
	}
	for k, ps := range out {
		slices.SortStableFunc(ps, func(a, b purchase) int { return a.t.Compare(b.t) })
		lim := limits[k.drug]
		var onHand tracewatch.Qty
		for i := range ps {
			if i > 0 {
				onHand = max(0, onHand-tracewatch.Qty(ps[i].day-ps[i-1].day)*lim.dose)
			}
			onHand += ps[i].units
			ps[i].onHand = onHand
			ps[i].overMaxDays = onHand*100 > tracewatch.Qty(lim.maxDays*(100+supplyTolerance))*lim.dose
		}
	}
	return out, limits
}

// days returns the days of supply of units at the drug's dose.
func days(units tracewatch.Qty, l limit) float64 { return float64(units) / float64(l.dose) }

// checkSupply checks the promise on the province in dir: every planted over_supply case
// holds more than max_days × 1.5 after one of its purchases, no honest patient ever does;
// with lookAlikes, the honest look-alikes are there (refills up to a week early, the same
// drug bought at two institutions).
func checkSupply(t *testing.T, dir string, lookAlikes bool) {
	t.Helper()
	sup, limits := supplies(t, dir)
	labels := readLabels(t, dir)
	labelled := map[string]string{} // person, settlement, receipt or code → the label's scenario
	for _, l := range labels {
		for _, k := range slices.Concat(l.Persons, l.Settlements, l.Receipts, l.Codes) {
			labelled[k] = l.Scenario
		}
	}

	// Planted: the person's supply of the case's drug exceeds the limit at one of the
	// case's purchases.
	planted := 0
	for _, l := range labels {
		if l.Scenario != "over_supply" {
			continue
		}
		planted++
		setls := map[string]bool{}
		for _, s := range l.Settlements {
			setls[s] = true
		}
		found, hit, most := false, false, 0.0
		for k, ps := range sup {
			if k.person != l.Persons[0] {
				continue
			}
			for _, p := range ps {
				if setls[p.setl] {
					found, hit = true, hit || p.overMaxDays
					most = max(most, days(p.onHand, limits[k.drug]))
				}
			}
		}
		switch {
		case !found:
			t.Errorf("%s over_supply: no purchase of a drug of the knowledge base under its settlements %v", l.ID, l.Settlements)
		case !hit:
			t.Errorf("%s over_supply: %s holds at most %.1f days of supply, not beyond max_days × 1.5", l.ID, l.Persons[0], most)
		}
	}

	// Honest: every person and drug no label touches stays within the limit.
	series, early, twoInsts, otherPlanted := 0, 0, 0, 0
	var mostHonest float64
	for k, ps := range sup {
		planted := labelled[k.person]
		for _, p := range ps {
			if planted == "" {
				planted = labelled[p.setl] + labelled[p.receipt]
			}
			for _, c := range p.codes {
				if planted == "" {
					planted = labelled[c]
				}
			}
		}
		lim := limits[k.drug]
		insts := map[string]bool{}
		for i, p := range ps {
			insts[p.inst] = true
			if i > 0 && p.day-ps[i-1].day < 28 && p.day-ps[i-1].day >= 21 {
				if planted == "" {
					early++
				}
			}
			switch {
			case !p.overMaxDays:
			case planted != "" && planted != "over_supply":
				otherPlanted++
				t.Logf("%s, %s (planted %s): %.1f days on hand on %s", k.person, k.drug, planted, days(p.onHand, lim), p.t.Format(time.DateOnly))
			case planted == "":
				t.Errorf("honest %s: %.1f days of %s on hand after the purchase of %s at %s (max_days %d, daily dose %s): %s",
					k.person, days(p.onHand, lim), k.drug, p.t.Format(time.DateTime), p.inst, lim.maxDays, lim.dose, history(ps, lim))
			}
			if planted == "" {
				mostHonest = max(mostHonest, days(p.onHand, lim))
			}
		}
		if planted == "" {
			series++
			if len(insts) > 1 {
				twoInsts++
			}
		}
	}
	t.Logf("%d over_supply cases; %d honest series of a person and a drug, at most %.1f days on hand; %d refills 21–27 days after the last; %d bought at two institutions or more; %d other planted series over the limit",
		planted, series, mostHonest, early, twoInsts, otherPlanted)
	if series == 0 {
		t.Error("no honest purchase of a drug of the knowledge base: the check would not cover them")
	}
	if lookAlikes && (early == 0 || twoInsts == 0) {
		t.Errorf("%d early refills, %d honest series at two institutions: the look-alikes are missing", early, twoInsts)
	}
}

func history(ps []purchase, l limit) string {
	s := ""
	for _, p := range ps {
		s += "\n\t" + p.t.Format(time.DateTime) + " " + p.inst + " +" + strconv.FormatFloat(days(p.units, l), 'f', 1, 64) +
			" → " + strconv.FormatFloat(days(p.onHand, l), 'f', 1, 64)
	}
	return s
}

// TestSupply: the tiny province keeps the promise.
func TestSupply(t *testing.T) {
	dir, _ := tiny(t)
	checkSupply(t, dir, false)
}

// TestSupplySmall: the small province of seed 11 (the one C3's acceptance uses) keeps the
// promise, with the honest look-alikes. Skipped with -short.
func TestSupplySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 10^5 sale lines")
	}
	dir, _ := generate(t, synth.Options{Seed: 11, Scale: "small"})
	checkSupply(t, dir, true)
}
