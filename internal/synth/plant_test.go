package synth_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/synth"
	"tracewatch/internal/tracecode"
)

// TestLabels checks labels.jsonl of the tiny province against the manifest and the
// messages: ids in order, one scenario table, counts equal to manifest.json, every key
// a label names present in the data, and no code in two labels.
func TestLabels(t *testing.T) {
	dir, sum := tiny(t)
	labels := readLabels(t, dir)
	byName := map[string]synth.Scenario{}
	for _, sc := range synth.Scenarios {
		byName[sc.Name] = sc
	}
	counts := map[string]int{}
	for i, l := range labels {
		if want := fmt.Sprintf("L%06d", i+1); l.ID != want {
			t.Errorf("label %d: id %s, want %s", i+1, l.ID, want)
		}
		sc, ok := byName[l.Scenario]
		switch {
		case !ok:
			t.Errorf("%s: unknown scenario %q", l.ID, l.Scenario)
		case l.Detector != sc.Detector:
			t.Errorf("%s: detector %s, want %s", l.ID, l.Detector, sc.Detector)
		}
		if _, err := tracewatch.ParseSeverity(l.Severity); err != nil {
			t.Errorf("%s: %v", l.ID, err)
		}
		if l.Note == "" || l.Day == "" || l.Institution == "" && len(l.Codes)+len(l.Persons)+len(l.Settlements)+len(l.Receipts)+len(l.MsgIDs) == 0 {
			t.Errorf("%s: a label needs a note, a day and keys: %+v", l.ID, l)
		}
		if i > 0 && l.Day < labels[i-1].Day && l.Scenario != "parent_child_sold" && labels[i-1].Scenario != "parent_child_sold" {
			t.Errorf("%s: day %s before the previous label's %s", l.ID, l.Day, labels[i-1].Day)
		}
		counts[l.Scenario]++
	}
	if len(sum.Counts.Labels) != len(synth.Scenarios) || sum.Counts.LabelsTotal != len(labels) {
		t.Errorf("manifest: %d scenarios counted, %d labels in total; want %d and %d", len(sum.Counts.Labels), sum.Counts.LabelsTotal, len(synth.Scenarios), len(labels))
	}
	for _, sc := range synth.Scenarios {
		if counts[sc.Name] != sum.Counts.Labels[sc.Name] {
			t.Errorf("%s: %d labels, manifest says %d", sc.Name, counts[sc.Name], sum.Counts.Labels[sc.Name])
		}
		if counts[sc.Name] == 0 && sc.Name != "upload_outage" { // it needs counties with two daily uploaders
			t.Errorf("%s: no case at tiny scale", sc.Name)
		}
	}

	// Every key occurs in the data.
	codes, setls, receipts, persons, msgids := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, l := range readMessages(t, dir) {
		msgids[l.req.MsgID] = true
		for _, ev := range l.evs {
			setls[ev.Settlement], receipts[ev.Receipt], persons[ev.Person] = true, true, true
			for _, c := range ev.Codes {
				if k, err := tracecode.Parse(c.Raw); err == nil {
					codes[k.Key] = true
				}
			}
		}
	}
	insts := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "institutions.csv"))[1:] {
		insts[r[0]] = true
	}
	owner := map[string]string{}
	for _, l := range labels {
		check := func(kind string, keys []string, have map[string]bool) {
			for _, k := range keys {
				if !have[k] {
					t.Errorf("%s (%s): %s %s occurs in no message", l.ID, l.Scenario, kind, k)
				}
			}
		}
		check("code", l.Codes, codes)
		check("settlement", l.Settlements, setls)
		check("receipt", l.Receipts, receipts)
		check("person", l.Persons, persons)
		if l.Scenario != "malformed_message" {
			check("msgid", l.MsgIDs, msgids)
		}
		if l.Institution != "" && !insts[l.Institution] {
			t.Errorf("%s: institution %s is not in institutions.csv", l.ID, l.Institution)
		}
		for _, c := range l.Codes {
			if o, ok := owner[c]; ok {
				t.Errorf("%s: code %s also in %s", l.ID, c, o)
			}
			owner[c] = l.ID
		}
	}
}

// world is what the planted-case checks know of a province.
type world struct {
	labels   []synth.Label
	lines    []line
	instArea map[string]string   // institution → county
	agree    map[string]string   // institution → agreements
	parent   map[string]string   // region → parent
	children map[string][]string // carton key → pack keys
	product  map[string]string   // product id (14 digits for GTINs) → drug code
	drugs    map[string][]string // drug code → drugs.csv row
	persons  map[string][]string // psn_no → persons.csv row
	bySetl   map[string][]tracewatch.Event
	byRcpt   map[string][]tracewatch.Event
	sales    map[string][]tracewatch.Event // code key → 3505 and settlement events
	inbound  map[string]bool               // institution|key received (children of listed cartons too)
	stays    map[string]stayRec            // setl_id → 2304 data
}

type stayRec struct {
	person, dx, inst string
	adm, dis         time.Time
}

func load(t *testing.T, dir string) *world {
	w := &world{labels: readLabels(t, dir), lines: readMessages(t, dir), instArea: map[string]string{}, agree: map[string]string{},
		parent: map[string]string{}, children: map[string][]string{}, product: map[string]string{}, drugs: map[string][]string{},
		persons: map[string][]string{}, bySetl: map[string][]tracewatch.Event{}, byRcpt: map[string][]tracewatch.Event{},
		sales: map[string][]tracewatch.Event{}, inbound: map[string]bool{}, stays: map[string]stayRec{}}
	ref := func(kind string) [][]string { return readCSV(t, filepath.Join(dir, "reference", kind+".csv"))[1:] }
	for _, r := range ref("institutions") {
		w.instArea[r[0]], w.agree[r[0]] = r[3], r[6]
	}
	for _, r := range ref("regions") {
		w.parent[r[0]] = r[2]
	}
	for _, r := range ref("packages") {
		w.children[r[0]] = append(w.children[r[0]], r[1])
	}
	for _, r := range ref("codemap") {
		id := r[0]
		if len(id) == 13 {
			id = "0" + id
		}
		w.product[id] = r[1]
	}
	for _, r := range ref("drugs") {
		w.drugs[r[0]] = r
	}
	for _, r := range ref("persons") {
		w.persons[r[0]] = r
	}
	for _, l := range w.lines {
		if l.req.Infno == "2304" {
			var m struct {
				Input struct {
					Data struct {
						SetlID string `json:"setl_id"`
						Psn    string `json:"psn_no"`
						Adm    string `json:"adm_date"`
						Dis    string `json:"dscg_date"`
						Dx     string `json:"dscg_maindiag_code"`
					} `json:"data"`
				} `json:"input"`
			}
			if err := json.Unmarshal(l.raw, &m); err != nil {
				t.Fatal(err)
			}
			d := m.Input.Data
			adm, err1 := time.Parse(time.DateTime, d.Adm)
			dis, err2 := time.Parse(time.DateTime, d.Dis)
			if err1 != nil || err2 != nil || d.Dx == "" || !adm.Before(dis) {
				t.Errorf("%s:%d: 2304 without adm_date < dscg_date and a diagnosis: %q %q %q", l.file, l.n, d.Adm, d.Dis, d.Dx)
			}
			w.stays[d.SetlID] = stayRec{person: d.Psn, dx: d.Dx, inst: l.req.FixmedinsCode, adm: adm, dis: dis}
		}
		for _, ev := range l.evs {
			if ev.Settlement != "" {
				w.bySetl[ev.Settlement] = append(w.bySetl[ev.Settlement], ev)
			}
			if ev.Kind == tracewatch.EventSale {
				w.byRcpt[ev.Receipt] = append(w.byRcpt[ev.Receipt], ev)
			}
			for _, c := range ev.Codes {
				k, err := tracecode.Parse(c.Raw)
				if err != nil {
					continue
				}
				switch {
				case ev.Inbound():
					w.inbound[ev.Institution+"|"+k.Key] = true
					for _, kid := range w.children[k.Key] {
						w.inbound[ev.Institution+"|"+kid] = true
					}
				case ev.Kind == tracewatch.EventSale || ev.Kind == tracewatch.EventSettlement:
					w.sales[k.Key] = append(w.sales[k.Key], ev)
				}
			}
		}
	}
	return w
}

func (w *world) city(inst string) string     { return w.parent[w.instArea[inst]] }
func (w *world) province(inst string) string { return w.parent[w.city(inst)] }

func day(ev tracewatch.Event) string { return ev.Time.Format(time.DateOnly) }

func keysOf(ev tracewatch.Event) (keys []string, bad []error) {
	for _, c := range ev.Codes {
		k, err := tracecode.Parse(c.Raw)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		keys = append(keys, k.Key)
	}
	return keys, bad
}

// checkPlanted verifies that every labelled case is in the data as its scenario says.
func checkPlanted(t *testing.T, dir string) {
	w := load(t, dir)
	seen := map[string]int{}
	for _, l := range w.labels {
		seen[l.Scenario]++
		fail := func(format string, args ...any) {
			t.Errorf("%s %s: %s", l.ID, l.Scenario, fmt.Sprintf(format, args...))
		}
		sales := func(setl string) []tracewatch.Event {
			var out []tracewatch.Event
			for _, ev := range w.bySetl[setl] {
				if ev.Kind == tracewatch.EventSale {
					out = append(out, ev)
				}
			}
			return out
		}
		switch l.Scenario {
		case "resale_same_city", "resale_other_city", "resale_other_province":
			code := l.Codes[0]
			// The resale, and the last sale of the pack before it.
			var first, resale *tracewatch.Event
			for _, ev := range w.sales[code] {
				if ev.Kind != tracewatch.EventSale {
					continue
				}
				switch {
				case ev.Settlement == l.Settlements[0]:
					resale = &ev
				case resale == nil:
					first = &ev
				}
			}
			if first == nil || resale == nil || !first.Time.Before(resale.Time) || first.SettleType != "1" {
				fail("want an insured sale of %s before the resale", code)
				continue
			}
			a, b := first.Institution, resale.Institution
			class := map[string]bool{
				"resale_same_city":      a != b && w.city(a) == w.city(b),
				"resale_other_city":     w.province(a) == w.province(b) && w.city(a) != w.city(b),
				"resale_other_province": w.province(a) != w.province(b),
			}
			if !class[l.Scenario] || b != l.Institution || first.Person == resale.Person || w.inbound[b+"|"+code] {
				fail("first sale at %s to %s, resale at %s to %s (received there: %v)", a, first.Person, b, resale.Person, w.inbound[b+"|"+code])
			}
			// 1–20 calendar days later (a sale late in the evening may be resold the next
			// morning).
			day := func(t time.Time) string { return t.In(tracewatch.Beijing).Format(time.DateOnly) }
			if gap := resale.Time.Sub(first.Time); day(resale.Time) <= day(first.Time) || gap > 21*24*time.Hour {
				fail("resold %s after the first sale", gap)
			}
		case "resale_ring_box":
			first, resale := ringSales(w, l.Codes[0], l.Settlements[0])
			if first == nil || resale == nil || first.SettleType != "1" || first.Settlement == "" {
				fail("want an insured sale of %s before the resale", l.Codes[0])
				continue
			}
			a, b := first.Institution, resale.Institution
			if a == b || b != l.Institution || first.Person == resale.Person || w.inbound[b+"|"+l.Codes[0]] {
				fail("bought at %s by %s, sold again at %s to %s (received there: %v)", a, first.Person, b, resale.Person, w.inbound[b+"|"+l.Codes[0]])
			}
			if gap := resale.Time.Sub(first.Time); gap < 24*time.Hour || gap > 13*24*time.Hour {
				fail("sold again %s after it was bought", gap)
			}
		case "resale_ring":
			// Every settlement is a member's insured purchase; the boxes the ring's box
			// labels name were bought in them; the members with two or more boxes sold
			// again count three boxes or more (C12's defaults).
			member, bought := map[string]bool{}, map[string]bool{}
			for _, p := range l.Persons {
				member[p] = true
			}
			for _, setl := range l.Settlements {
				bought[setl] = true
				if evs := w.bySetl[setl]; len(evs) == 0 || !member[evs[0].Person] {
					fail("settlement %s is no member's purchase", setl)
				}
			}
			boxes := map[string]int{}
			for _, bl := range w.labels {
				if bl.Scenario != "resale_ring_box" {
					continue
				}
				if first, _ := ringSales(w, bl.Codes[0], bl.Settlements[0]); first != nil && bought[first.Settlement] {
					boxes[first.Person]++
				}
			}
			n := 0
			for _, k := range boxes {
				if k >= 2 {
					n += k
				}
			}
			if len(l.Persons) < 2 || len(l.Persons) > 3 || n < 3 {
				fail("%d members, boxes sold again %v", len(l.Persons), boxes)
			}
		case "photo_reuse":
			if len(l.Codes) < 5 || len(l.Codes) > 62 {
				fail("%d codes, want 5–62", len(l.Codes))
			}
			for _, c := range l.Codes {
				insured := 0
				for _, ev := range w.sales[c] {
					if ev.Kind == tracewatch.EventSale && ev.Institution == l.Institution && ev.SettleType == "1" {
						insured++
					}
				}
				if !w.inbound[l.Institution+"|"+c] || insured < 2 {
					fail("code %s: received %v, %d insured sales at the pharmacy", c, w.inbound[l.Institution+"|"+c], insured)
				}
			}
		case "substitution_drug":
			ok := false
			for _, ev := range sales(l.Settlements[0]) {
				keys, _ := keysOf(ev)
				if !slices.Contains(keys, l.Codes[0]) {
					continue
				}
				c, _ := tracecode.Parse(l.Codes[0])
				real := w.product[c.ProductID]
				ok = real != "" && real[1:10] != ev.DrugCode[1:10] && ev.Institution == l.Institution
			}
			if !ok {
				fail("no sale of %s billed as a drug of another generic name", l.Codes[0])
			}
		case "substitution_nondrug":
			for _, ev := range sales(l.Settlements[0]) {
				for _, c := range ev.Codes {
					_, err := tracecode.Parse(c.Raw)
					goods := w.product["0"+c.Raw]
					if tracecode.CodeOf(err) != tracecode.ErrNotTraceCode || !strings.HasPrefix(goods, "FYP") ||
						!strings.HasPrefix(ev.DrugCode, "X") && !strings.HasPrefix(ev.DrugCode, "Z") {
						fail("code %q (goods %q) on a line billed as %s", c.Raw, goods, ev.DrugCode)
					}
				}
			}
		case "empty_swipe":
			for _, c := range l.Codes {
				for k := range w.inbound {
					if strings.HasSuffix(k, "|"+c) {
						fail("code %s was received (%s)", c, k)
					}
				}
				if len(w.sales[c]) == 0 || w.sales[c][0].Settlement != l.Settlements[0] {
					fail("code %s not sold under %s", c, l.Settlements[0])
				}
			}
			if !fullScanner(w, l.Institution) {
				fail("%s does not list all its inbound codes", l.Institution)
			}
		case "expired_sale":
			ok := false
			for _, ev := range sales(l.Settlements[0]) {
				ok = ok || !ev.Expires.IsZero() && ev.Expires.Before(ev.Time) && w.inbound[ev.Institution+"|"+l.Codes[0]]
			}
			if !ok {
				fail("no sale after expiry of a received pack")
			}
		case "parent_child_sold":
			if len(l.Codes) != 2 || !slices.Contains(w.children[l.Codes[0]], l.Codes[1]) {
				fail("codes %v: want a carton and one of its packs", l.Codes)
				continue
			}
			for _, c := range l.Codes {
				if len(w.sales[c]) == 0 {
					fail("%s never sold", c)
				}
			}
		case "stop_scanning":
			before, after := 0, 0
			for _, ln := range w.lines {
				for _, ev := range ln.evs {
					if ev.Institution != l.Institution || ev.Kind != tracewatch.EventSale {
						continue
					}
					switch {
					case day(ev) >= l.Day && len(ev.Codes) > 0:
						fail("sale on %s carries codes", day(ev))
					case day(ev) >= l.Day && ev.SettleType == "1":
						after++
					case len(ev.Codes) > 0 && ev.SettleType == "1":
						before++
					}
				}
			}
			if before == 0 || after == 0 {
				fail("%d scanned insured lines before %s, %d unscanned after", before, l.Day, after)
			}
		case "scan_wrong_barcode", "scan_typo", "scan_lost_gs":
			want := map[string]tracecode.ErrCode{"scan_wrong_barcode": tracecode.ErrNotTraceCode, "scan_typo": tracecode.ErrBadLength,
				"scan_lost_gs": tracecode.ErrBadLength}[l.Scenario]
			n := 0
			for _, ev := range w.byRcpt[l.Receipts[0]] {
				_, bad := keysOf(ev)
				for _, err := range bad {
					if tracecode.CodeOf(err) != want {
						fail("code error %v, want %s", err, want)
					}
					n++
				}
			}
			if n != 1 {
				fail("%d unparseable codes on receipt %s, want 1", n, l.Receipts[0])
			}
		case "gender_restricted", "age_restricted", "after_death":
			p := w.persons[l.Persons[0]]
			for _, s := range l.Settlements {
				for _, ev := range sales(s) {
					d := w.drugs[ev.DrugCode]
					birth, _ := time.Parse(time.DateOnly, p[4])
					age := ageOn(p[4], ev.Time)
					_ = birth
					switch l.Scenario {
					case "gender_restricted":
						if d[7] == "" || d[7] == p[3] {
							fail("%s (gender limit %q) sold to gender %s", ev.DrugCode, d[7], p[3])
						}
					case "age_restricted":
						lo, hi := atoi(d[8]), atoi(d[9])
						if lo == 0 && hi == 0 || (lo == 0 || age >= lo) && (hi == 0 || age <= hi) {
							fail("%s (ages %d–%d) sold to a person of %d", ev.DrugCode, lo, hi, age)
						}
					case "after_death":
						if p[7] == "" || day(ev) < p[7] {
							fail("sold on %s, death date %q", day(ev), p[7])
						}
					}
				}
			}
		case "over_supply", "high_frequency":
			var times []time.Time
			insts, drugs := map[string]bool{}, map[string]bool{}
			for _, s := range l.Settlements {
				for _, ev := range sales(s) {
					if ev.Person != l.Persons[0] {
						fail("settlement %s of %s", s, ev.Person)
					}
					times = append(times, ev.Time)
					insts[ev.Institution], drugs[ev.DrugCode] = true, true
				}
			}
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			if len(times) == 0 {
				fail("no sales")
				continue
			}
			span := times[len(times)-1].Sub(times[0])
			if l.Scenario == "over_supply" && (len(l.Settlements) < 2 || len(insts) < 2 || len(drugs) != 1 || span > 7*24*time.Hour) {
				fail("%d settlements at %d institutions, %d drugs, within %s", len(l.Settlements), len(insts), len(drugs), span)
			}
			if l.Scenario == "high_frequency" && (len(l.Settlements) < 8 || span >= 7*24*time.Hour) {
				fail("%d settlements within %s", len(l.Settlements), span)
			}
		case "suspended_institution":
			if !strings.Contains(w.agree[l.Institution], ";suspended:"+l.Day) || strings.HasSuffix(w.agree[l.Institution], "suspended:"+l.Day+":") {
				fail("agreements %q: want suspended from %s on", w.agree[l.Institution], l.Day)
			}
			listed := map[string]bool{}
			for _, s := range l.Settlements {
				listed[s] = true
			}
			for s, evs := range w.bySetl {
				ev := evs[0]
				if ev.Institution == l.Institution && ev.Kind == tracewatch.EventSettlement && day(ev) >= l.Day && !listed[s] {
					fail("settlement %s on %s not listed", s, day(ev))
				}
				if listed[s] && (ev.Institution != l.Institution || day(ev) < l.Day) {
					fail("settlement %s on %s at %s listed", s, day(ev), ev.Institution)
				}
			}
		case "split_hospitalisation":
			if len(l.Settlements) != 2 {
				fail("%d settlements", len(l.Settlements))
				continue
			}
			a, b := w.stays[l.Settlements[0]], w.stays[l.Settlements[1]]
			if a.person != l.Persons[0] || b.person != a.person || a.dx != b.dx || !a.dis.Before(b.adm) || b.adm.Sub(a.dis) > 15*24*time.Hour || b.inst != l.Institution {
				fail("stays %+v and %+v", a, b)
			}
		case "gang":
			// Days on which at least three members bought (a case stands when three members
			// are linked by buying together on three days; the shelves may serve no more).
			byDay := map[string]map[string]bool{}
			member := map[string]bool{}
			for _, p := range l.Persons {
				member[p] = true
			}
			for _, evs := range w.bySetl {
				ev := evs[0]
				if ev.Kind == tracewatch.EventSettlement && member[ev.Person] {
					if byDay[day(ev)] == nil {
						byDay[day(ev)] = map[string]bool{}
					}
					byDay[day(ev)][ev.Person] = true
				}
			}
			together := 0
			for _, who := range byDay {
				if len(who) >= 3 {
					together++
				}
			}
			if len(l.Persons) < 4 || len(l.Persons) > 50 || together < 3 {
				fail("%d persons together on %d days", len(l.Persons), together)
			}
		}
	}
	t.Logf("checked %d labels: %v", len(w.labels), seen)
}

// ringSales returns the sale of code settled as setl (a ring's box sold again) and the
// sale of the code before it.
func ringSales(w *world, code, setl string) (first, resale *tracewatch.Event) {
	for _, ev := range w.sales[code] {
		if ev.Kind != tracewatch.EventSale {
			continue
		}
		switch {
		case ev.Settlement == setl:
			resale = &ev
		case resale == nil:
			first = &ev
		}
	}
	return first, resale
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// fullScanner reports whether inst lists every inbound pack (purchases and opening
// stocktake name as many packs as they count).
func fullScanner(w *world, inst string) bool {
	var listed, counted int64
	first := ""
	for _, l := range w.lines {
		for _, ev := range l.evs {
			if first == "" {
				first = day(ev)
			}
			coded := strings.HasPrefix(ev.DrugCode, "X") || strings.HasPrefix(ev.DrugCode, "Z")
			if ev.Institution != inst || !coded || ev.Kind != tracewatch.EventPurchase && !(ev.Kind == tracewatch.EventStocktake && day(ev) == first) {
				continue
			}
			counted += int64(ev.Qty / tracewatch.QtyScale)
			for _, c := range ev.Codes {
				k, _ := tracecode.Parse(c.Raw)
				if kids := w.children[k.Key]; len(kids) > 0 {
					listed += int64(len(kids))
				} else {
					listed++
				}
			}
		}
	}
	return counted > 0 && listed == counted
}

// checkNearMisses checks the honest look-alikes: readmissions that are no split stay,
// suspensions respected.
func checkNearMisses(t *testing.T, dir string, want bool) {
	w := load(t, dir)
	labelled := map[string]bool{}
	for _, l := range w.labels {
		for _, s := range l.Settlements {
			labelled[s] = true
		}
	}
	byPerson := map[string][]stayRec{}
	for s, st := range w.stays {
		if !labelled[s] {
			byPerson[st.person] = append(byPerson[st.person], st)
		}
	}
	readmit := 0
	for p, sts := range byPerson {
		slices.SortFunc(sts, func(a, b stayRec) int { return a.adm.Compare(b.adm) })
		for i := 1; i < len(sts); i++ {
			readmit++
			if sts[i].adm.Sub(sts[i-1].dis) <= 15*24*time.Hour && sts[i].dx == sts[i-1].dx {
				t.Errorf("honest stays of %s: readmitted %s after discharge with the same diagnosis %s", p, sts[i].adm.Sub(sts[i-1].dis), sts[i].dx)
			}
		}
	}
	// Honest suspensions: no insured sale while suspended.
	suspended := 0
	for inst, a := range w.agree {
		for _, part := range strings.Split(a, ";") {
			f := strings.Split(part, ":")
			if f[0] != "suspended" || len(f) != 3 {
				continue
			}
			suspended++
			for _, evs := range w.bySetl {
				if ev := evs[0]; ev.Institution == inst && day(ev) >= f[1] && day(ev) < f[2] {
					t.Errorf("%s settled %s on %s while suspended (%s to %s)", inst, ev.Settlement, day(ev), f[1], f[2])
				}
			}
		}
	}
	if want && (readmit == 0 || suspended == 0) {
		t.Errorf("%d honest readmissions, %d honest suspensions: the near misses are missing", readmit, suspended)
	}
}

// TestPlanted checks every case of the tiny province, and the honest near misses.
func TestPlanted(t *testing.T) {
	dir, _ := tiny(t)
	checkPlanted(t, dir)
	checkNearMisses(t, dir, false)
}

// TestPlantedDense plants many cases of every scenario in a tiny province with the rare
// paths turned up, and checks them all and the honesty of the rest.
func TestPlantedDense(t *testing.T) {
	p := stress(true)
	for _, f := range []*int{&p.ResaleSameCityPer100k, &p.ResaleOtherCityPer100k, &p.ResaleOtherProvincePer100k,
		&p.SubstitutionDrugPer100k, &p.ScanWrongBarcodePer100k, &p.ScanTypoPer100k, &p.ScanLostGSPer100k,
		&p.ExpiredSalePer100k, &p.EmptySwipePer100k, &p.ParentChildPer100k, &p.SubstitutionNonDrugPer100k} {
		*f = 500
	}
	p.GenderRestrictedPer100k, p.AgeRestrictedPer100k, p.AfterDeathPer100k, p.OverSupplyPer100k = 300, 300, 300, 300
	p.HighFrequencyPer100k, p.SplitStayPer100k, p.MalformedPer100k, p.PhotoReusePer100k, p.GangPer100k = 200, 300, 300, 200, 200
	p.InpatientPer100k, p.ReadmitPermille = 5000, 500
	p.ResaleRingPer100k = 200
	p.BedHoldingPer100k, p.PhantomStayPer100k = 200, 200
	p.ImpossibleTravelPer100k = 200
	p.KeyDrugRisePer100k, p.OverPricePer100k = 200, 300
	dir, sum := generate(t, synth.Options{Seed: 5, SaleLines: 3000, Params: p})
	for _, sc := range synth.Scenarios {
		// upload_outage needs counties with two daily uploaders: a tiny province has none.
		if sum.Counts.Labels[sc.Name] < 2 && sc.Name != "stop_scanning" && sc.Name != "suspended_institution" && sc.Name != "upload_outage" {
			t.Errorf("%s: %d cases", sc.Name, sum.Counts.Labels[sc.Name])
		}
	}
	checkPlanted(t, dir)
	checkNearMisses(t, dir, true)
	checkHonest(t, dir, true)
	checkSupply(t, dir, false)
}

// TestNoPlanted: Params.NoPlanted leaves honest data only, and an empty labels.jsonl.
func TestNoPlanted(t *testing.T) {
	p := synth.DefaultParams()
	p.NoPlanted()
	dir, sum := generate(t, synth.Options{Seed: 7, Scale: "tiny", Params: &p})
	if sum.Counts.LabelsTotal != 0 || sum.Counts.Malformed != 0 || sum.Counts.PlantedSaleLines != 0 {
		t.Errorf("counts with nothing planted: %+v", sum.Counts)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "labels.jsonl")); err != nil || len(b) != 0 {
		t.Errorf("labels.jsonl: %d bytes, %v", len(b), err)
	}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "institutions.csv"))[1:] {
		if f := strings.Split(r[6], ";"); len(f) > 1 && strings.Count(f[len(f)-1], ":") == 1 {
			t.Errorf("%s: open-ended suspension %q with nothing planted", r[0], r[6])
		}
	}
	checkHonest(t, dir, false)
	checkSupply(t, dir, false)
}
