// Package synth generates a deterministic synthetic province: the reference data
// `tracewatch load` reads and the NHSA messages `tracewatch ingest` reads, for tests,
// demos, benchmarks and the evaluation of the detectors against planted cases.
//
// [Generate] simulates a province (江西, with 湖南 / 长沙 as the neighbour) day by day:
// distributors ship cartons to hospitals, clinics, village clinics and retail pharmacies,
// which scan part of their inbound codes; insured persons and walk-in customers buy
// whole packs and split packs (拆零), settle with the fund or pay themselves, return
// packs, have settlements cancelled; chronic patients come back every month; expired
// stock is destroyed; hospitals settle inpatient stays at discharge. Every honest sale
// sells a pack its institution received, never more than the pack's content, never on
// or after its expiry date.
//
// Into this honest province the generator plants fraud and data-quality cases (resold
// packs, reused codes, substitution, empty swipes, expired packs, scanner noise,
// malformed messages, and the claims scenarios) at rates set by [Params], and writes one
// [Label] per case to labels.jsonl: the ground truth the detectors are measured
// against. [Params.NoPlanted] turns them all off.
//
// The output is a pure function of the Options: same seed and options, byte-identical
// files (no clock, no map iteration in output paths, integer arithmetic only, PCG
// streams of math/rand/v2). Memory stays flat in the number of days and sale lines:
// messages are rendered as the simulation runs and written in time order, one file
// per day; persons are derived from their number instead of being stored.
//
// docs/synthetic-data.md describes the layout, every distribution and default, and how
// to regenerate.
package synth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"tracewatch"
	"tracewatch/internal/idno"
)

// Format names the layout and content version of the output.
const Format = "tracewatch-synth/5"

// Summary describes what Generate wrote; manifest.json holds it.
type Summary struct {
	Format  string         `json:"format"`
	Options SummaryOptions `json:"options"`
	Params  Params         `json:"params"`
	World   WorldSummary   `json:"world"`
	Counts  Counts         `json:"counts"`
	Files   []File         `json:"files"` // every file but manifest.json, by path
}

// SummaryOptions are the resolved options.
type SummaryOptions struct {
	Seed      uint64 `json:"seed"`
	Scale     string `json:"scale"`
	SaleLines int    `json:"sale_lines"`
	Days      int    `json:"days"`
	Start     string `json:"start"`

	// The province shapes, written only when set (so that the default manifest stays
	// as it was).
	CodemapLevels  string `json:"codemap_levels,omitempty"`           // "absent"
	InboundCartons int    `json:"inbound_cartons_permille,omitempty"` // ‰ of coded purchases
	SalesOnly      bool   `json:"sales_only,omitempty"`
	LateUploads    int    `json:"late_uploads_permille,omitempty"` // ‰ of messages
}

// Counts are the numbers of rows and messages written.
type Counts struct {
	SaleLines        int            `json:"sale_lines"`         // 3505 rows (that decode)
	Messages         map[string]int `json:"messages"`           // per infno (messages that decode)
	Malformed        int            `json:"malformed"`          // planted messages that do not decode (malformed_message)
	MessageLines     int            `json:"message_lines"`      // all lines of the message files
	Reference        map[string]int `json:"reference"`          // rows per kind
	Cartons          int            `json:"cartons"`            // cartons shipped (with package links)
	Packs            int            `json:"packs"`              // coded sales packs in them
	Destroyed        int            `json:"destroyed"`          // packs destroyed after expiry (3502 105)
	Labels           map[string]int `json:"labels"`             // planted cases in labels.jsonl, per scenario (every scenario listed)
	LabelsTotal      int            `json:"labels_total"`       // all planted cases
	PlantedSaleLines int            `json:"planted_sale_lines"` // sale lines written or altered by planted acts

	// The province shapes (0 unless set).
	CartonPurchases int `json:"carton_purchases,omitempty"` // 3503 listing every carton by its carton code (--inbound-cartons)
	LateMessages    int `json:"late_messages,omitempty"`    // messages written to the file of a later day (--late-uploads)
	Withdrawn       int `json:"withdrawn,omitempty"`        // 3505 rows withdrawn by a 3507 and uploaded again (--late-uploads)
}

// WorldSummary describes the world's size.
type WorldSummary struct {
	Institutions  map[string]int `json:"institutions"` // per type
	Persons       int            `json:"persons"`
	Practitioners int            `json:"practitioners"`
	Drugs         int            `json:"drugs"`
	Regions       int            `json:"regions"`
}

// Generate writes a synthetic province to out:
//
//	reference/{regions,institutions,persons,practitioners,drugs,codemap,packages,drug_limits}.csv
//	messages/NNNN-yyyy-mm-dd.jsonl   one file per day, NHSA request envelopes in time order
//	labels.jsonl                      planted cases, one Label per line
//	manifest.json                     the Summary: options, counts, SHA-256 of every file
//
// The error is a *tracewatch.Error: of kind invalid for bad options, internal when a
// file cannot be written.
func Generate(o Options, out Sink) (Summary, error) {
	const op = "synth.Generate"
	r, err := o.resolve()
	if err != nil {
		return Summary{}, err
	}
	cat, err := buildCatalog(r.Seed, &r.params)
	if err != nil {
		return Summary{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	w, err := buildWorld(r, cat)
	if err != nil {
		return Summary{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	g := &generator{w: w, sink: out, refCounts: map[string]int{}, fr: newPlanter(w)}
	sum, err := g.run()
	if err != nil {
		return Summary{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return sum, nil
}

type generator struct {
	w         *world
	sink      Sink
	files     []File
	refCounts map[string]int
	fr        *planter
	err       error
}

func (g *generator) create(path string) *fileOut {
	if g.err != nil {
		return nil
	}
	f, err := createFile(g.sink, path)
	if err != nil {
		g.err = err
		return nil
	}
	return f
}

func (g *generator) close(f *fileOut) {
	if f == nil {
		return
	}
	rec, err := f.close()
	if err != nil && g.err == nil {
		g.err = err
	}
	g.files = append(g.files, rec)
}

// writeCSV writes a reference file from rows produced by each.
func (g *generator) writeCSV(kind string, header []string, each func(emit func(fields ...string))) {
	f := g.create("reference/" + kind + ".csv")
	if f == nil {
		return
	}
	b := csvRow(nil, header...)
	n := 0
	each(func(fields ...string) {
		b = csvRow(b, fields...)
		n++
		if len(b) > 64<<10 {
			f.write(b)
			b = b[:0]
		}
	})
	f.write(b)
	g.close(f)
	g.refCounts[kind] = n
}

func (g *generator) run() (Summary, error) {
	w := g.w
	o := &w.o
	g.writeReference()
	pkg := g.create("reference/packages.csv")
	if g.err != nil {
		return Summary{}, g.err
	}
	pkg.write([]byte("parent_code,child_code\n"))
	msgs := &messages{sink: g.sink, days: o.Days, name: func(day int) string {
		return fmt.Sprintf("messages/%04d-%s.jsonl", day+1, appendDate(nil, o.startDay+int32(day)))
	}}
	if o.LateUploads > 0 {
		msgs.late = newLateUploads(o)
	}
	s := newSim(w, msgs, pkg, g.fr)
	if msgs.late != nil {
		msgs.late.offline = g.fr.offlineCode
	}
	g.writePersons(s)
	if g.err != nil {
		return Summary{}, g.err
	}
	s.run()
	files, err := msgs.finish()
	g.files = append(g.files, files...)
	if err != nil && g.err == nil {
		g.err = err
	}
	g.refCounts["packages"] = s.rd.stats.Packs
	g.close(pkg)
	labels := finishLabels(g.fr.labels, w)
	if o.SalesOnly {
		// A split stay is seen only in 2301/2304, which a sales-only province does not
		// send: the case does not exist in the data. Nor does a bed holding or phantom
		// stay (no stay to hold a purchase elsewhere against).
		labels = slices.DeleteFunc(labels, func(l *plantLabel) bool {
			return l.sc == scSplitStay || l.sc == scBedHolding || l.sc == scPhantomStay
		})
		for i, l := range labels {
			l.ID = string(appendPadded([]byte("L"), uint64(i+1), 6))
		}
	}
	lf := g.create("labels.jsonl")
	if lf != nil {
		b, err := encodeLabels(labels)
		if err != nil && g.err == nil {
			g.err = err
		}
		lf.write(b)
		g.close(lf)
	}
	if g.err != nil {
		return Summary{}, g.err
	}

	sum := Summary{
		Format: Format,
		Options: SummaryOptions{Seed: o.Seed, Scale: o.Scale, SaleLines: o.saleLines, Days: o.Days,
			Start: string(appendDate(nil, o.startDay)), InboundCartons: o.InboundCartons, SalesOnly: o.SalesOnly,
			LateUploads: o.LateUploads},
		Params: o.params,
		Counts: Counts{
			SaleLines: s.rd.stats.SaleLines,
			Messages:  map[string]int{},
			Reference: g.refCounts,
			Cartons:   s.rd.stats.Cartons,
			Packs:     s.rd.stats.Packs,
			Destroyed: s.rd.stats.Destroyed,
			Malformed: s.rd.stats.Malformed,
			Labels:    map[string]int{},

			LabelsTotal:      len(labels),
			PlantedSaleLines: g.fr.lines,
			CartonPurchases:  s.cartonPurchases,
		},
		World: WorldSummary{Institutions: map[string]int{}, Persons: w.persons, Practitioners: len(w.pracs),
			Drugs: len(w.cat.drugs), Regions: len(w.regions)},
	}
	for i, n := range s.rd.stats.Messages {
		if n > 0 {
			sum.Counts.Messages[infnos[i]] = n
		}
		sum.Counts.MessageLines += n
	}
	sum.Counts.MessageLines += s.rd.stats.Malformed
	if o.CodemapLevels == CodemapLevelsAbsent {
		sum.Options.CodemapLevels = o.CodemapLevels
	}
	if lu := msgs.late; lu != nil {
		sum.Counts.LateMessages, sum.Counts.Withdrawn = lu.late, lu.withdrawn
		if lu.withdrawn > 0 {
			sum.Counts.Messages["3505"] += lu.withdrawn
			sum.Counts.Messages["3507"] = lu.withdrawn
			sum.Counts.SaleLines += lu.withdrawn
			sum.Counts.MessageLines += 2 * lu.withdrawn
		}
	}
	for _, sc := range Scenarios {
		sum.Counts.Labels[sc.Name] = 0
	}
	for _, l := range labels {
		sum.Counts.Labels[l.Scenario]++
	}
	for _, in := range w.insts {
		sum.World.Institutions[typeNames[in.typ]]++
	}
	sortFiles(g.files)
	sum.Files = g.files
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	mf := g.create("manifest.json")
	if mf != nil {
		mf.write(append(b, '\n'))
		if _, err := mf.close(); err != nil && g.err == nil {
			g.err = err
		}
	}
	return sum, g.err
}

func sortFiles(fs []File) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Path < fs[j-1].Path; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// writeReference writes every reference file but persons and packages.
func (g *generator) writeReference() {
	w := g.w
	g.writeCSV("regions", []string{"admdvs", "name", "parent"}, func(emit func(...string)) {
		for _, rg := range w.regions {
			emit(rg.code, rg.name, rg.parent)
		}
	})
	g.writeCSV("institutions", []string{"fixmedins_code", "fixmedins_name", "fixmedins_type", "admdvs", "hosp_lv", "chain", "agreements"},
		func(emit func(...string)) {
			for _, in := range w.insts {
				chain := ""
				if in.chain >= 0 {
					chain = chainNames[in.chain]
				}
				emit(in.code, in.name, typeNames[in.typ], w.regions[in.county].code, in.level, chain, g.fr.agreement[in.idx])
			}
		})
	g.writeCSV("practitioners", []string{"prac_id", "name", "kind", "fixmedins_code", "status"}, func(emit func(...string)) {
		for _, p := range w.pracs {
			emit(p.id, p.name, p.kind, w.insts[p.inst].code, "normal")
		}
	})
	g.writeCSV("drugs", []string{"med_list_codg", "drug_name", "spec", "pack_content", "price", "reimbursable", "drug_kind",
		"gender_limit", "min_age", "max_age", "max_days", "restriction"}, func(emit func(...string)) {
		for _, d := range w.cat.drugs {
			reimb := "0"
			if d.reimb {
				reimb = "1"
			}
			gl := ""
			if d.gender != 0 {
				gl = strconv.Itoa(int(d.gender))
			}
			emit(d.code, d.name, d.spec, strconv.Itoa(d.pack), string(appendYuan(nil, d.price)), reimb, kindNames[d.kind],
				gl, zeroEmpty(d.minAge), zeroEmpty(d.maxAge), zeroEmpty(d.maxDays), restriction(d))
		}
	})
	header := []string{"product_id", "med_list_codg", "commodity_code", "pack_level"}
	levels := w.o.CodemapLevels != CodemapLevelsAbsent
	if !levels {
		header = header[:3] // the column is absent, not empty: many provinces' tables have none
	}
	g.writeCSV("codemap", header, func(emit func(...string)) {
		row := func(pid, code, commodity, level string) {
			if levels {
				emit(pid, code, commodity, level)
			} else {
				emit(pid, code, commodity)
			}
		}
		for _, d := range w.cat.drugs {
			switch {
			case d.coded:
				commodity := d.gtin13
				row(d.boxPID.s, d.code, commodity, "1")
				row(d.cartonPID.s, d.code, "", "3")
			case d.gtin13 != "":
				row(d.gtin13, d.code, d.gtin13, "1")
			}
		}
	})
	g.writeDrugLimits()
}

// Policy texts (政策依据) of the knowledge base's rows.
const (
	basisCatalog = "医保药品目录限定支付范围：" // followed by the catalog's restriction
	basisChronic = "门诊慢特病用药处方量原则上不超过4周（长处方不超过12周），按日剂量计算用药天数"
	basisPrice   = "药品集中采购平台挂网价（元/盒，拆零按最小单位折算）"
)

// writeDrugLimits writes the knowledge base of drug limits (drug_limits.csv): every drug
// with a gender or age limit, as drugs.csv states it, and every chronic drug with the
// daily dose the simulation gives its patients and a month's supply (30 days) as the
// most a person may hold. The antibiotics' max_days of drugs.csv is not repeated: their
// daily dose is not modelled, and a limit of days without a dose cannot be judged.
func (g *generator) writeDrugLimits() {
	g.writeCSV("drug_limits", []string{"med_list_codg", "gend", "min_age", "max_age", "max_days", "daily_dose", "max_qty",
		"period_days", "hosp_lv", "scenes", "basis", "price_ceiling", "key_drug"}, func(emit func(...string)) {
		kb := priceKB(g.w.o.Seed, g.w.cat)
		for _, d := range g.w.cat.drugs {
			limited := d.gender != 0 || d.minAge > 0 || d.maxAge > 0
			ceiling, key := priceLimits(kb, d)
			if !limited && d.chronic == 0 && ceiling == "" && key == "" {
				continue
			}
			var gl, maxDays, dose string
			var basis []string
			if d.gender != 0 {
				gl = strconv.Itoa(int(d.gender))
			}
			if limited {
				basis = append(basis, basisCatalog+restriction(d))
			}
			if d.chronic != 0 {
				maxDays, dose = strconv.Itoa(monthDays), d.dose.String()
				basis = append(basis, basisChronic)
			}
			if ceiling != "" {
				basis = append(basis, basisPrice)
			}
			emit(d.code, gl, zeroEmpty(d.minAge), zeroEmpty(d.maxAge), maxDays, dose, "", "", "", "", strings.Join(basis, "；"), ceiling, key)
		}
	})
}

func zeroEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// restriction is the 限定支付范围 text of a drug.
func restriction(d *drug) string {
	var parts []string
	switch d.gender {
	case 1:
		parts = append(parts, "限男性")
	case 2:
		parts = append(parts, "限女性")
	}
	switch {
	case d.maxAge > 0:
		parts = append(parts, fmt.Sprintf("限%d岁及以下儿童", d.maxAge))
	case d.minAge > 0:
		parts = append(parts, fmt.Sprintf("限%d岁及以上", d.minAge))
	}
	for _, c := range chronicCodes {
		if d.chronic&c.bit != 0 {
			parts = append(parts, "门慢特病("+c.code+")用药")
		}
	}
	if d.hospOnly {
		parts = append(parts, "限医疗机构使用")
	}
	return strings.Join(parts, "；")
}

// writePersons writes persons.csv, deriving each person in turn, and registers the
// chronic patients with the simulation. ID numbers (GB 11643) encode the person's
// county, birth date and gender; the sequence code makes them unique.
func (g *generator) writePersons(s *sim) {
	w := g.w
	minBirth := w.o.startDay - 100*366
	span := int(w.o.startDay-minBirth) + 1
	seq := make([]uint16, len(w.regions)*span*2)
	var nr rng
	g.writeCSV("persons", []string{"psn_no", "certno", "psn_name", "gend", "brdy", "admdvs", "insutype", "death_date", "chronic"},
		func(emit func(...string)) {
			var b []byte
			for i := range w.persons {
				p := w.person(i)
				s.collectChronic(&p)
				rc := w.regions[p.region].code
				k := (p.region*span+int(p.birth-minBirth))*2 + int(p.gender) - 1
				seq[k]++
				sq := int(seq[k])*2 - 1 // odd: male
				if p.gender == 2 {
					sq++ // even: female
				}
				b = append(b[:0], rc...)
				b = appendCompact(b, p.birth)
				b = appendPadded(b, uint64(sq%1000), 3)
				check, _ := idno.CheckDigit(string(b))
				b = append(b, check)
				certno := string(b)
				nr.reseed(mix(w.o.Seed^0x6e616d65), mix(uint64(i)))
				death := ""
				if p.death != 0 {
					death = string(appendDate(nil, p.death))
				}
				var chronic []string
				for _, c := range chronicCodes {
					if p.chronic&c.bit != 0 {
						chronic = append(chronic, c.code)
					}
				}
				emit(w.psnNo(&p), certno, personName(&nr, p.gender), strconv.Itoa(int(p.gender)),
					string(appendDate(nil, p.birth)), rc, p.insu, death, strings.Join(chronic, ";"))
			}
		})
}
