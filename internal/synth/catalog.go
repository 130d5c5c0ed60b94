package synth

import (
	"fmt"
	"strconv"
	"strings"

	"tracewatch"
	"tracewatch/internal/tracecode"
)

// Drug kinds, as drugs.csv names them.
const (
	kindWestern    uint8 = iota // 西药
	kindPatent                  // 中成药
	kindHerbal                  // 中药饮片
	kindConsumable              // 医用耗材 (non-drug medical goods)
	kindOther                   // food, cosmetics, daily goods
)

var kindNames = [...]string{"western", "patent", "herbal", "consumable", "other"}

// Chronic diseases (门慢特病) the generator knows, as bits of person.chronic.
const (
	chronicHypertension uint8 = 1 << iota // M03900 高血压
	chronicDiabetes                       // M01600 糖尿病
)

var chronicCodes = []struct {
	bit  uint8
	code string
}{{chronicHypertension, "M03900"}, {chronicDiabetes, "M01600"}}

// drug is one entry of the catalog (医保目录): a product of one maker in one pack size.
type drug struct {
	idx      int
	code     string // med_list_codg
	name     string // drug_name
	spec     string // "5mg*28片/盒"
	kind     uint8
	pack     int   // pack_content: minimum units per sales pack
	price    int64 // retail price of a pack, fen
	buyPrice int64 // purchase price of a pack, fen
	rx       bool  // prescription drug
	split    bool  // may be sold split (拆零)
	hospOnly bool  // hospitals and clinics only
	reimb    bool  // reimbursable
	chronic  uint8 // chronic disease bits it treats
	gender   uint8 // 0 none, 1 male only, 2 female only
	minAge   int
	maxAge   int
	maxDays  int
	dose     tracewatch.Qty // minimum units a patient takes per day (chronic drugs); 0 unknown
	weight   uint64         // popularity weight
	maker    string
	aprvno   string // 批准文号
	imported bool   // GS1-coded import
	coded    bool   // carries trace codes (western and patent drugs)
	unit     string // minimum unit
	itemID   string // fixmedins_hilist_id (the item code in every institution's HIS)
	json35   string // its members of a 3505 row: codes, names, rx_flag

	boxPID    pid    // product id of a sales pack: 7 digits, or GTIN-14 when imported
	cartonPID pid    // product id of a carton
	gtin13    string // commodity barcode (商品码)
	carton    int    // sales packs per carton
	shelf     int    // shelf life, months
	lotTag    int    // two digits that make lot numbers differ between products

	// Serial counters: codes are global, so they live with the product.
	nextBox    uint64
	nextCarton uint64
}

// catalog is the drug list and the product-id index.
type catalog struct {
	drugs []*drug
}

type catalogRow struct {
	kind                             uint8
	name, class, initial, form, spec string
	packs                            []int
	price                            int64 // fen, first pack size
	rx, split, hospOnly, nonReimb    bool
	chronic, gender                  uint8
	minAge, maxAge, maxDays, weight  int
	dose                             tracewatch.Qty
}

func parseCatalogRows() ([]catalogRow, error) {
	var out []catalogRow
	for n, line := range strings.Split(strings.TrimSpace(catalogRows), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 9 {
			return nil, fmt.Errorf("catalog row %d: %d fields", n+1, len(f))
		}
		r := catalogRow{name: f[1], class: f[2], initial: f[3], form: f[4], spec: f[5], weight: 3}
		switch f[0] {
		case "X":
			r.kind = kindWestern
		case "Z":
			r.kind = kindPatent
		case "T":
			r.kind = kindHerbal
		case "M":
			r.kind = kindConsumable
		case "O":
			r.kind = kindOther
		default:
			return nil, fmt.Errorf("catalog row %d: kind %q", n+1, f[0])
		}
		if _, ok := dosageForms[r.form]; !ok {
			return nil, fmt.Errorf("catalog row %d: form %q", n+1, r.form)
		}
		for _, p := range strings.Split(f[6], ",") {
			v, err := strconv.Atoi(p)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("catalog row %d: pack %q", n+1, p)
			}
			r.packs = append(r.packs, v)
		}
		price, err := parseFen(f[7])
		if err != nil {
			return nil, fmt.Errorf("catalog row %d: price %q", n+1, f[7])
		}
		r.price = price
		for _, fl := range strings.Fields(f[8]) {
			k, v, _ := strings.Cut(fl, ":")
			num := func() int {
				x, err := strconv.Atoi(v)
				if err != nil {
					panic(fmt.Sprintf("catalog row %d: flag %q", n+1, fl))
				}
				return x
			}
			switch k {
			case "R":
				r.rx = true
			case "S":
				r.split = true
			case "H":
				r.hospOnly = true
			case "NR":
				r.nonReimb = true
			case "C":
				for _, c := range chronicCodes {
					if c.code == v {
						r.chronic |= c.bit
					}
				}
			case "G":
				r.gender = uint8(num())
			case "MIN":
				r.minAge = num()
			case "MAX":
				r.maxAge = num()
			case "D":
				r.maxDays = num()
			case "W":
				r.weight = num()
			case "DD":
				q, err := tracewatch.ParseQty(v)
				if err != nil || q <= 0 {
					return nil, fmt.Errorf("catalog row %d: flag %q", n+1, fl)
				}
				r.dose = q
			default:
				return nil, fmt.Errorf("catalog row %d: flag %q", n+1, fl)
			}
		}
		if r.chronic != 0 && r.dose == 0 {
			return nil, fmt.Errorf("catalog row %d: a chronic drug needs its daily dose (DD:n)", n+1)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseFen reads "12.5" or "12.50" yuan as fen.
func parseFen(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || len(frac) > 2 {
		return 0, fmt.Errorf("bad amount %q", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad amount %q", s)
	}
	return w*100 + f, nil
}

// buildCatalog expands the rows into products: each row gets one or more makers and
// one product per (pack size, maker); a share of the western products are imports with
// GS1 codes. Product ids (药品标识码) are distinct 7-digit numbers starting with 8.
func buildCatalog(seed uint64, p *Params) (*catalog, error) {
	rows, err := parseCatalogRows()
	if err != nil {
		return nil, err
	}
	r := newRNG(seed, streamCatalog)
	c := &catalog{}
	usedPID := map[string]bool{}
	newProductID := func() string {
		for {
			id := strconv.Itoa(8000000 + r.intn(1000000))
			if !usedPID[id] {
				usedPID[id] = true
				return id
			}
		}
	}
	genericNo := map[string]int{}   // generic name → number within its initial
	initialNext := map[string]int{} // initial → last number used
	makerItem := map[string]int{}   // maker → last item number of its barcodes
	herbalNo, otherNo := 0, 0
	for _, row := range rows {
		form := dosageForms[row.form]
		generic := strings.TrimSuffix(row.name, row.form)
		makers := 1
		switch {
		case row.kind == kindHerbal:
			makers = 2
		case row.kind >= kindConsumable:
			makers = 1
		case row.weight >= 8:
			makers = 4
		case row.weight >= 6:
			makers = 3
		case row.weight >= 3:
			makers = 2
		}
		var makerIdx []int
		pool := 20 // domestic drug makers; the last two make 中药饮片
		if row.kind == kindHerbal {
			makerIdx = []int{20, 21}
		} else {
			for len(makerIdx) < makers {
				m := r.intn(pool)
				dup := false
				for _, x := range makerIdx {
					dup = dup || x == m
				}
				if !dup {
					makerIdx = append(makerIdx, m)
				}
			}
		}
		var gcode string
		if row.kind == kindWestern || row.kind == kindPatent {
			key := row.initial + "|" + generic
			n, ok := genericNo[key]
			if !ok {
				initialNext[row.initial]++
				n = initialNext[row.initial]
				genericNo[key] = n
			}
			gcode = fmt.Sprintf("%s%03d", row.initial, n)
		}
		if row.kind == kindHerbal {
			herbalNo++
		}
		if row.kind >= kindConsumable {
			otherNo++
		}
		for pi, pk := range row.packs {
			for mi, m := range makerIdx {
				if pi*len(makerIdx)+mi >= 8 { // at most 8 products per row
					break
				}
				d := &drug{
					idx:     len(c.drugs),
					name:    row.name,
					kind:    row.kind,
					pack:    pk,
					rx:      row.rx,
					split:   row.split && pk >= 6 || row.kind == kindHerbal,
					chronic: row.chronic,
					gender:  row.gender,
					minAge:  row.minAge,
					maxAge:  row.maxAge,
					maxDays: row.maxDays,
					dose:    row.dose,
					reimb:   !row.nonReimb && row.kind <= kindHerbal,
					unit:    form.unit,
					coded:   row.kind == kindWestern || row.kind == kindPatent,
				}
				d.hospOnly = row.hospOnly
				// Popularity: the row's weight squared, shared out over pack sizes and makers
				// (the first pack size and the first maker sell most).
				w := uint64(row.weight * row.weight * 1000)
				if len(row.packs) > 1 {
					w = w * uint64(len(row.packs)-pi+1) / uint64(len(row.packs)+1)
				}
				if len(makerIdx) > 1 {
					w = w * uint64(len(makerIdx)-mi+1) / uint64(len(makerIdx)+1)
				}
				d.weight = max(w, 1)

				// Maker, import status, price.
				factor := int64(85 + r.intn(41)) // maker's price level, percent
				d.maker = domesticMakers[m]
				if row.kind == kindWestern && r.intn(1000) < p.ImportedPermille {
					fm := foreignMakers[r.intn(len(foreignMakers))]
					d.maker, d.imported = fm.name, true
					factor = int64(160 + r.intn(60))
					makerItem[fm.name]++
					d.gtin13 = gtinWithCheck(fmt.Sprintf("%s%05d", fm.prefix, makerItem[fm.name]))
				} else if row.kind != kindHerbal {
					makerItem[d.maker]++
					d.gtin13 = gtinWithCheck(fmt.Sprintf("69%05d%05d", 10000+m*371, makerItem[d.maker]))
				}
				price := row.price * int64(pk) / int64(row.packs[0]) * int64(100-5*pi) / 100 * factor / 100
				d.price = max((price+5)/10*10, 10)
				d.buyPrice = d.price * int64(72+r.intn(14)) / 100

				// Codes and the national drug code.
				switch row.kind {
				case kindWestern, kindPatent:
					prefix := "X"
					if row.kind == kindPatent {
						prefix = "Z"
					}
					d.code = fmt.Sprintf("%s%s%s%s01%02d%05d", prefix, row.class, gcode, form.code, pi+1, 10000+m*397+mi)
					if d.imported {
						d.boxPID = newPID("0" + d.gtin13)
						d.cartonPID = newPID(gtinWithCheck("1" + d.gtin13[:12]))
						d.aprvno = fmt.Sprintf("国药准字HJ%08d", 20150000+r.intn(90000))
					} else {
						d.boxPID, d.cartonPID = newPID(newProductID()), newPID(newProductID())
						letter := "H"
						if row.kind == kindPatent {
							letter = "Z"
						}
						d.aprvno = fmt.Sprintf("国药准字%s%08d", letter, 10000000+r.intn(90000000))
					}
				case kindHerbal:
					d.code = fmt.Sprintf("T%04d%05d", herbalNo, 10000+m*397)
					d.aprvno = "-"
				default:
					d.code = fmt.Sprintf("FYP%04d%04d", otherNo, 1000+m)
					d.aprvno = "-"
				}
				d.itemID = fmt.Sprintf("YP%05d", d.idx+1)
				rx := "0"
				if d.rx {
					rx = "1"
				}
				d.json35 = `"med_list_codg":"` + d.code + `","fixmedins_hilist_id":"` + d.itemID +
					`","fixmedins_hilist_name":"` + d.name + `","rx_flag":"` + rx + `",`
				if row.kind == kindHerbal || row.kind >= kindConsumable {
					d.spec = row.spec
					if row.kind == kindHerbal {
						d.spec = fmt.Sprintf("%s %dg/袋", row.spec, pk)
					}
				} else {
					d.spec = fmt.Sprintf("%s*%d%s/%s", row.spec, pk, form.unit, form.pack)
				}
				switch {
				case pk == 1 || form.unit == "瓶" || form.unit == "支":
					d.carton = 10 * (1 + r.intn(2))
				default:
					d.carton = 10 * (1 + r.intn(5))
				}
				d.shelf = 24 + 12*r.intn(2)
				d.lotTag = r.intn(100)
				d.nextBox = uint64(100_000_000 + r.intn(300_000_000))
				d.nextCarton = uint64(100_000_000 + r.intn(300_000_000))
				c.drugs = append(c.drugs, d)
			}
		}
	}
	return c, nil
}

// gtinWithCheck appends the GS1 mod-10 check digit to the digits given.
func gtinWithCheck(d string) string { return d + string(tracecode.GS1CheckDigit(d)) }

// Supply of the chronic drugs (docs/synthetic-data.md, "Persons"): a month is 30 days at
// the drug's daily dose, as the knowledge base's max_days (drug_limits.csv) states it.
const monthDays = 30

// monthPacks returns the whole packs of d that make a month's supply at its daily dose:
// the most that stay within the month when over is false (an honest purchase, which never
// supplies more than a month), the fewest that reach it when over is true (each purchase
// of an over_supply case); 1 to 6 packs. A drug of unknown dose: the packs that make 30
// minimum units.
func (d *drug) monthPacks(over bool) int {
	dose := d.dose
	if dose == 0 {
		dose = tracewatch.QtyScale
	}
	need := int64(monthDays) * int64(dose)            // minimum units ×10000 for a month
	per := int64(d.pack) * int64(tracewatch.QtyScale) // one pack
	n := need / per
	if over && need%per != 0 {
		n++
	}
	return int(min(max(n, 1), 6))
}

// supplyDays returns the days of supply of units minimum units of d (rounded down); 0 when
// its dose is unknown.
func (d *drug) supplyDays(units int64) int64 {
	if d.dose == 0 {
		return 0
	}
	return units * int64(tracewatch.QtyScale) / int64(d.dose)
}
