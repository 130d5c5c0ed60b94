package synth

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// Scales are the named sizes: the number of sale lines (3505 rows) generated.
var Scales = map[string]int{
	"tiny":   1_000,
	"small":  100_000,
	"medium": 1_000_000,
	"large":  10_000_000,
}

// ScaleNames lists the scales from the smallest.
func ScaleNames() []string {
	names := make([]string, 0, len(Scales))
	for n := range Scales {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return Scales[names[i]] < Scales[names[j]] })
	return names
}

// CST is the business time zone (Asia/Shanghai, UTC+8, no daylight saving).
var CST = tracewatch.Beijing

// DefaultStart is the first day generated unless Options.Start says otherwise: the day
// scanning before settlement became mandatory.
var DefaultStart = time.Date(2025, 7, 1, 0, 0, 0, 0, CST)

// Options choose what Generate produces. The same Options (and the same version of this
// package) give byte-identical output.
type Options struct {
	Seed      uint64    // every random choice derives from it
	Scale     string    // tiny, small, medium or large (default small); see Scales
	SaleLines int       // sale lines (3505 rows) to generate; overrides Scale when > 0
	Days      int       // days simulated (default 90)
	Start     time.Time // first day; only its date in Asia/Shanghai counts (default 2025-07-01)
	Params    *Params   // realism parameters; nil means DefaultParams()

	// The shapes real provinces send (docs/synthetic-data.md, "Province shapes"). Their
	// zero values give the generator's own shape; each changes the output only when set.
	CodemapLevels  string // "given" (default) or "absent": codemap.csv without its pack_level column
	InboundCartons int    // ‰ of the coded purchases (3503) that list every carton by its carton code
	SalesOnly      bool   // no fee detail or settlement messages (2204, 2207, 2301, 2304)
	LateUploads    int    // ‰ of the messages written to the file of a later day; some sales withdrawn (3507) and uploaded again
}

// Codemap levels (Options.CodemapLevels).
const (
	CodemapLevelsGiven  = "given"
	CodemapLevelsAbsent = "absent"
)

// Params are the realism parameters, each documented in docs/synthetic-data.md with its
// default. Rates are in permille (‰) of what they apply to, or (Per100k) in cases per
// 100,000 sale lines.
type Params struct {
	// Size of the world, from the number of sale lines.
	SaleLinesPerInstitution int `json:"sale_lines_per_institution"` // institutions = max(10, sale lines / this)
	SaleLinesPerPerson      int `json:"sale_lines_per_person"`      // persons = max(400, sale lines / this)

	// Institution mix (‰ of home-province institutions; the rest are retail pharmacies).
	HospitalPermille int `json:"hospital_permille"`
	ClinicPermille   int `json:"clinic_permille"`
	VillagePermille  int `json:"village_permille"`
	ChainPermille    int `json:"chain_permille"`   // pharmacies that belong to a chain
	Open24hPermille  int `json:"open24h_permille"` // pharmacies open at night

	// The neighbouring province (湖南 / 长沙).
	NeighbourPermille      int `json:"neighbour_permille"`       // institutions and persons located there
	NeighbourBuyerPermille int `json:"neighbour_buyer_permille"` // home baskets bought by a neighbour-province person

	// Code collection (采集率): each institution scans a share of its inbound codes drawn
	// uniformly from [CollectMinPermille, CollectMaxPermille]; CollectFullPermille of the
	// institutions scan everything.
	CollectMinPermille  int `json:"collect_min_permille"`
	CollectMaxPermille  int `json:"collect_max_permille"`
	CollectFullPermille int `json:"collect_full_permille"`
	CartonScanPermille  int `json:"carton_scan_permille"` // of fully scanned cartons, those scanned by the carton code

	// Sales, by institution type (hospital, clinic, village clinic, pharmacy).
	SelfPayPermille       [4]int `json:"self_pay_permille"` // baskets paid out of pocket (mdtrt_setl_type 2)
	SplitPermille         [4]int `json:"split_permille"`    // eligible items sold split (拆零)
	NonDrugBasketPermille int    `json:"non_drug_basket_permille"`
	ReturnPermille        int    `json:"return_permille"`      // self-pay baskets with an item returned later (3506)
	CancelPermille        int    `json:"cancel_permille"`      // insured baskets whose settlement is cancelled (2208)
	ResettlePermille      int    `json:"resettle_permille"`    // of the cancels, re-settled within minutes
	DoubleScanPermille    int    `json:"double_scan_permille"` // sale lines with their code scanned twice

	// Supply.
	ShortDatedPermille int `json:"short_dated_permille"` // shipments of a lot close to its expiry
	ImportedPermille   int `json:"imported_permille"`    // western products imported with GS1 codes

	// Persons: multipliers (percent) of the prevalence tables in docs/synthetic-data.md.
	ChronicPercent int `json:"chronic_percent"`
	DeathPercent   int `json:"death_percent"`

	// Chronic patients' monthly purchases (the honest look-alikes of over_supply).
	ChronicEarlyPermille    int `json:"chronic_early_permille"`     // monthly purchases made 1–7 days before the patient's day
	ChronicTwoHomesPermille int `json:"chronic_two_homes_permille"` // chronic patients who buy at a pharmacy of theirs every other month

	// Honest flows beyond the counter.
	InpatientPer100k        int `json:"inpatient_per_100k"`        // inpatient stays (2301 + 2304) per 100,000 sale lines
	ReadmitPermille         int `json:"readmit_permille"`          // of the stays, honest readmissions (> 15 days later, or another diagnosis)
	TransferPermille        int `json:"transfer_permille"`         // chain pharmacies' reorders served by a sister store's carton (3502 102/101)
	PurchaseReturnPermille  int `json:"purchase_return_permille"`  // deliveries of which a carton goes back to the distributor the next day (3504)
	SuspendedHonestPermille int `json:"suspended_honest_permille"` // institutions with a suspended agreement they respect (no insured sales meanwhile)

	// Planted cases (labels.jsonl; docs/synthetic-data.md, "Planted scenarios"). Rates
	// are cases per 100,000 sale lines (Per100k) or per mille of the institutions
	// (Permille); a rate above 0 plants at least one case. 0 turns a scenario off.
	ResaleSameCityPer100k      int `json:"resale_same_city_per_100k"`
	ResaleOtherCityPer100k     int `json:"resale_other_city_per_100k"`
	ResaleOtherProvincePer100k int `json:"resale_other_province_per_100k"`
	PhotoReusePer100k          int `json:"photo_reuse_per_100k"`
	SubstitutionDrugPer100k    int `json:"substitution_drug_per_100k"`
	SubstitutionNonDrugPer100k int `json:"substitution_nondrug_per_100k"`
	EmptySwipePer100k          int `json:"empty_swipe_per_100k"`
	ExpiredSalePer100k         int `json:"expired_sale_per_100k"`
	ParentChildPer100k         int `json:"parent_child_sold_per_100k"`
	StopScanningPermille       int `json:"stop_scanning_permille"`
	ScanWrongBarcodePer100k    int `json:"scan_wrong_barcode_per_100k"`
	ScanTypoPer100k            int `json:"scan_typo_per_100k"`
	ScanLostGSPer100k          int `json:"scan_lost_gs_per_100k"`
	MalformedPer100k           int `json:"malformed_message_per_100k"`
	GenderRestrictedPer100k    int `json:"gender_restricted_per_100k"`
	AgeRestrictedPer100k       int `json:"age_restricted_per_100k"`
	OverSupplyPer100k          int `json:"over_supply_per_100k"`
	HighFrequencyPer100k       int `json:"high_frequency_per_100k"`
	AfterDeathPer100k          int `json:"after_death_per_100k"`
	SuspendedPermille          int `json:"suspended_institution_permille"`
	SplitStayPer100k           int `json:"split_hospitalisation_per_100k"`
	GangPer100k                int `json:"gang_per_100k"`
	// ResaleRingPer100k plants resale rings (C12); each ring's boxes sold again are also
	// labelled resale_ring_box for T1.
	ResaleRingPer100k       int `json:"resale_ring_per_100k"`
	BedHoldingPer100k       int `json:"bed_holding_per_100k"`
	PhantomStayPer100k      int `json:"phantom_stay_per_100k"`
	ImpossibleTravelPer100k int `json:"impossible_travel_per_100k"`
	UploadOutagePer100k     int `json:"upload_outage_per_100k"`

	// Honest trips (plant_travel.go): a purchase at home, then at a hospital of the
	// capital or of the neighbouring province 5–8 hours later or the next day, per
	// 100,000 sale lines (C9's look-alikes; kept with --no-fraud).
	TravelTripPer100k int `json:"travel_trip_per_100k"`

	// Issue 15 (plant_price.go): the planted key-drug rises (C11) and over-priced drugs
	// (C14), and the honest key-drug rises that look like them: the seasonal rise (percent)
	// of the clinics of one city and the pharmacies (‰) whose key-drug sales grow by 60 %
	// in that month.
	KeyDrugRisePer100k    int `json:"key_drug_rise_per_100k"`
	OverPricePer100k      int `json:"over_price_per_100k"`
	KeyDrugSeasonPercent  int `json:"key_drug_season_percent"`
	KeyDrugGrowthPermille int `json:"key_drug_growth_permille"`
}

// NoPlanted turns every planted scenario off (`tracewatch gen --no-fraud`): the output
// is honest data only and labels.jsonl is empty. The honest flows stay as they are.
func (p *Params) NoPlanted() {
	for _, f := range p.planted() {
		*f.v = 0
	}
}

// namedRate is a rate parameter and its JSON name.
type namedRate struct {
	name string
	v    *int
}

// planted lists the planted-case rates.
func (p *Params) planted() []namedRate {
	return []namedRate{
		{"resale_same_city_per_100k", &p.ResaleSameCityPer100k}, {"resale_other_city_per_100k", &p.ResaleOtherCityPer100k},
		{"resale_other_province_per_100k", &p.ResaleOtherProvincePer100k}, {"photo_reuse_per_100k", &p.PhotoReusePer100k},
		{"substitution_drug_per_100k", &p.SubstitutionDrugPer100k}, {"substitution_nondrug_per_100k", &p.SubstitutionNonDrugPer100k},
		{"empty_swipe_per_100k", &p.EmptySwipePer100k}, {"expired_sale_per_100k", &p.ExpiredSalePer100k},
		{"parent_child_sold_per_100k", &p.ParentChildPer100k}, {"stop_scanning_permille", &p.StopScanningPermille},
		{"scan_wrong_barcode_per_100k", &p.ScanWrongBarcodePer100k}, {"scan_typo_per_100k", &p.ScanTypoPer100k},
		{"scan_lost_gs_per_100k", &p.ScanLostGSPer100k}, {"malformed_message_per_100k", &p.MalformedPer100k},
		{"gender_restricted_per_100k", &p.GenderRestrictedPer100k}, {"age_restricted_per_100k", &p.AgeRestrictedPer100k},
		{"over_supply_per_100k", &p.OverSupplyPer100k}, {"high_frequency_per_100k", &p.HighFrequencyPer100k},
		{"after_death_per_100k", &p.AfterDeathPer100k}, {"suspended_institution_permille", &p.SuspendedPermille},
		{"split_hospitalisation_per_100k", &p.SplitStayPer100k}, {"gang_per_100k", &p.GangPer100k},
		{"resale_ring_per_100k", &p.ResaleRingPer100k},
		{"bed_holding_per_100k", &p.BedHoldingPer100k}, {"phantom_stay_per_100k", &p.PhantomStayPer100k},
		{"impossible_travel_per_100k", &p.ImpossibleTravelPer100k}, {"upload_outage_per_100k", &p.UploadOutagePer100k},
		{"key_drug_rise_per_100k", &p.KeyDrugRisePer100k}, {"over_price_per_100k", &p.OverPricePer100k},
	}
}

// DefaultParams returns the defaults documented in docs/synthetic-data.md.
func DefaultParams() Params {
	return Params{
		SaleLinesPerInstitution: 2000,
		SaleLinesPerPerson:      10,
		HospitalPermille:        80,
		ClinicPermille:          170,
		VillagePermille:         220,
		ChainPermille:           450,
		Open24hPermille:         100,
		NeighbourPermille:       20,
		NeighbourBuyerPermille:  5,
		CollectMinPermille:      350,
		CollectMaxPermille:      1000,
		CollectFullPermille:     300,
		CartonScanPermille:      500,
		SelfPayPermille:         [4]int{80, 250, 150, 300},
		SplitPermille:           [4]int{150, 300, 300, 60},
		NonDrugBasketPermille:   60,
		ReturnPermille:          5,
		CancelPermille:          10,
		ResettlePermille:        600,
		DoubleScanPermille:      3,
		ShortDatedPermille:      20,
		ImportedPermille:        50,
		ChronicPercent:          100,
		DeathPercent:            100,
		ChronicEarlyPermille:    150,
		ChronicTwoHomesPermille: 150,

		InpatientPer100k:        1000,
		ReadmitPermille:         100,
		TransferPermille:        150,
		PurchaseReturnPermille:  5,
		SuspendedHonestPermille: 40,

		ResaleSameCityPer100k:      40,
		ResaleOtherCityPer100k:     40,
		ResaleOtherProvincePer100k: 35,
		PhotoReusePer100k:          32,
		SubstitutionDrugPer100k:    40,
		SubstitutionNonDrugPer100k: 35,
		EmptySwipePer100k:          35,
		ExpiredSalePer100k:         35,
		ParentChildPer100k:         35,
		StopScanningPermille:       60,
		ScanWrongBarcodePer100k:    80,
		ScanTypoPer100k:            80,
		ScanLostGSPer100k:          35,
		MalformedPer100k:           5,
		GenderRestrictedPer100k:    12,
		AgeRestrictedPer100k:       12,
		OverSupplyPer100k:          12,
		HighFrequencyPer100k:       12,
		AfterDeathPer100k:          12,
		SuspendedPermille:          60,
		SplitStayPer100k:           12,
		GangPer100k:                12,
		ResaleRingPer100k:          12,
		BedHoldingPer100k:          12,
		PhantomStayPer100k:         12,
		ImpossibleTravelPer100k:    12,
		UploadOutagePer100k:        10,
		TravelTripPer100k:          40,

		KeyDrugRisePer100k:    12,
		OverPricePer100k:      12,
		KeyDrugSeasonPercent:  150,
		KeyDrugGrowthPermille: 100,
	}
}

// resolved are Options with the defaults applied and checked.
type resolved struct {
	Options
	params    Params
	startDay  int32 // day number (days since 1970-01-01) of the first day
	saleLines int
}

func (o Options) resolve() (resolved, error) {
	const op = "synth.Generate"
	r := resolved{Options: o}
	switch {
	case o.SaleLines > 0:
		r.saleLines = o.SaleLines
		if r.Scale == "" {
			r.Scale = "custom"
		}
	case o.SaleLines < 0:
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "sale lines %d: want a positive number", o.SaleLines)
	default:
		if r.Scale == "" {
			r.Scale = "small"
		}
		n, ok := Scales[r.Scale]
		if !ok {
			return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "unknown scale %q: want one of %s", o.Scale, strings.Join(ScaleNames(), ", ")).WithField("scale")
		}
		r.saleLines = n
	}
	if r.Days == 0 {
		r.Days = 90
	}
	if r.Days < 1 || r.Days > 3660 {
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "days %d: want 1 to 3660", o.Days).WithField("days")
	}
	if r.Start.IsZero() {
		r.Start = DefaultStart
	}
	y, m, d := r.Start.In(CST).Date()
	r.Start = time.Date(y, m, d, 0, 0, 0, 0, CST)
	if y < 2000 || y > 2100 {
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "start %s: want a date between 2000 and 2100", r.Start.Format("2006-01-02")).WithField("start")
	}
	r.startDay = daysFromCivil(y, int(m), d)
	switch r.CodemapLevels {
	case "":
		r.CodemapLevels = CodemapLevelsGiven
	case CodemapLevelsGiven, CodemapLevelsAbsent:
	default:
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "codemap levels %q: want given or absent", o.CodemapLevels).WithField("codemap_levels")
	}
	if o.InboundCartons < 0 || o.InboundCartons > 1000 {
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "inbound cartons %d‰: want 0 to 1000", o.InboundCartons).WithField("inbound_cartons")
	}
	if o.LateUploads < 0 || o.LateUploads > 1000 {
		return r, tracewatch.Errorf(op, tracewatch.KindInvalid, "late uploads %d‰: want 0 to 1000", o.LateUploads).WithField("late_uploads")
	}
	if o.Params != nil {
		r.params = *o.Params
	} else {
		r.params = DefaultParams()
	}
	if err := r.params.check(); err != nil {
		return r, tracewatch.E(op, tracewatch.KindInvalid, err)
	}
	return r, nil
}

func (p *Params) check() error {
	if p.SaleLinesPerInstitution < 1 || p.SaleLinesPerPerson < 1 {
		return fmt.Errorf("sale lines per institution and per person must be at least 1")
	}
	pm := []struct {
		name string
		v    int
	}{
		{"hospital_permille", p.HospitalPermille}, {"clinic_permille", p.ClinicPermille},
		{"village_permille", p.VillagePermille}, {"chain_permille", p.ChainPermille},
		{"open24h_permille", p.Open24hPermille}, {"neighbour_permille", p.NeighbourPermille},
		{"neighbour_buyer_permille", p.NeighbourBuyerPermille}, {"collect_min_permille", p.CollectMinPermille},
		{"collect_max_permille", p.CollectMaxPermille}, {"collect_full_permille", p.CollectFullPermille},
		{"carton_scan_permille", p.CartonScanPermille}, {"non_drug_basket_permille", p.NonDrugBasketPermille},
		{"return_permille", p.ReturnPermille}, {"cancel_permille", p.CancelPermille},
		{"resettle_permille", p.ResettlePermille}, {"double_scan_permille", p.DoubleScanPermille},
		{"short_dated_permille", p.ShortDatedPermille}, {"imported_permille", p.ImportedPermille},
	}
	for i := range 4 {
		pm = append(pm, struct {
			name string
			v    int
		}{"self_pay_permille", p.SelfPayPermille[i]}, struct {
			name string
			v    int
		}{"split_permille", p.SplitPermille[i]})
	}
	for _, x := range pm {
		if x.v < 0 || x.v > 1000 {
			return fmt.Errorf("%s %d: want 0 to 1000", x.name, x.v)
		}
	}
	if p.HospitalPermille+p.ClinicPermille+p.VillagePermille > 900 {
		return fmt.Errorf("hospital, clinic and village permilles add up to more than 900: leave room for pharmacies")
	}
	if p.CollectMinPermille > p.CollectMaxPermille {
		return fmt.Errorf("collect_min_permille %d is above collect_max_permille %d", p.CollectMinPermille, p.CollectMaxPermille)
	}
	for _, x := range []namedRate{{"readmit_permille", &p.ReadmitPermille}, {"transfer_permille", &p.TransferPermille},
		{"purchase_return_permille", &p.PurchaseReturnPermille}, {"suspended_honest_permille", &p.SuspendedHonestPermille},
		{"stop_scanning_permille", &p.StopScanningPermille}, {"suspended_institution_permille", &p.SuspendedPermille},
		{"chronic_early_permille", &p.ChronicEarlyPermille}, {"chronic_two_homes_permille", &p.ChronicTwoHomesPermille}} {
		if *x.v < 0 || *x.v > 1000 {
			return fmt.Errorf("%s %d: want 0 to 1000", x.name, *x.v)
		}
	}
	if p.StopScanningPermille+p.SuspendedPermille+p.SuspendedHonestPermille > 500 {
		return fmt.Errorf("stop_scanning_permille, suspended_institution_permille and suspended_honest_permille add up to more than 500")
	}
	if p.TravelTripPer100k < 0 || p.TravelTripPer100k > 2000 {
		return fmt.Errorf("travel_trip_per_100k %d: want 0 to 2000", p.TravelTripPer100k)
	}
	if p.InpatientPer100k < 0 || p.InpatientPer100k > 20000 {
		return fmt.Errorf("inpatient_per_100k %d: want 0 to 20000", p.InpatientPer100k)
	}
	for _, x := range p.planted() {
		if strings.HasSuffix(x.name, "_per_100k") && (*x.v < 0 || *x.v > 2000) {
			return fmt.Errorf("%s %d: want 0 to 2000", x.name, *x.v)
		}
	}
	if p.ChronicPercent < 0 || p.ChronicPercent > 300 || p.DeathPercent < 0 || p.DeathPercent > 1000 {
		return fmt.Errorf("chronic_percent want 0 to 300, death_percent 0 to 1000")
	}
	return nil
}

// daysFromCivil returns the day number (days since 1970-01-01) of a proleptic Gregorian
// date (H. Hinnant's algorithm; integer only).
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int32) (y, m, d int) {
	zz := int(z) + 719468
	era := zz / 146097
	if zz < 0 && zz%146097 != 0 {
		era = (zz - 146096) / 146097
	}
	doe := zz - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// weekday returns 0 for Sunday … 6 for Saturday.
func weekday(day int32) int {
	w := (int(day) + 4) % 7
	if w < 0 {
		w += 7
	}
	return w
}

// ageAt returns the age in completed years on day of a person born on birth.
func ageAt(birth, day int32) int {
	by, bm, bd := civilFromDays(birth)
	y, m, d := civilFromDays(day)
	a := y - by
	if m < bm || m == bm && d < bd {
		a--
	}
	return a
}
