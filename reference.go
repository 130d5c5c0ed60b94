package tracewatch

import "time"

// InstitutionType is the kind of designated institution (定点医药机构).
type InstitutionType string

// The institution types (national fixmedins_type spellings in docs/data-formats.md).
const (
	InstitutionHospital      InstitutionType = "hospital"       // 医院
	InstitutionClinic        InstitutionType = "clinic"         // 诊所 / 门诊部
	InstitutionVillageClinic InstitutionType = "village_clinic" // 村卫生室
	InstitutionPharmacy      InstitutionType = "pharmacy"       // 零售药店
)

// Valid reports whether t is one of the known types.
func (t InstitutionType) Valid() bool {
	switch t {
	case InstitutionHospital, InstitutionClinic, InstitutionVillageClinic, InstitutionPharmacy:
		return true
	}
	return false
}

// AgreementStatus is the state of an institution's contract with the fund (医保协议).
type AgreementStatus string

// The agreement states.
const (
	AgreementNormal     AgreementStatus = "normal"     // 正常
	AgreementSuspended  AgreementStatus = "suspended"  // 中止
	AgreementTerminated AgreementStatus = "terminated" // 解除
)

// Agreement is one period of an institution's agreement timeline. To is exclusive; the
// zero To means open-ended.
type Agreement struct {
	Status AgreementStatus
	From   time.Time
	To     time.Time
}

// Region is defined in region.go; RegionInfo is a row of the region list.
type RegionInfo struct {
	Code   Region
	Name   string
	Parent Region // empty for a province
}

// Institution is a designated hospital, clinic, village clinic or pharmacy.
type Institution struct {
	Code       string // fixmedins_code, 12 characters (H… hospital, P… pharmacy)
	Name       string
	Type       InstitutionType
	Region     Region
	Level      string      // hospital level, free text (三级甲等 …)
	Chain      string      // pharmacy chain, when one
	Agreements []Agreement // the agreement timeline, oldest first; empty means normal throughout
}

// AgreementAt returns the agreement status at t.
func (in Institution) AgreementAt(t time.Time) AgreementStatus {
	st := AgreementNormal
	for _, a := range in.Agreements {
		if !t.Before(a.From) && (a.To.IsZero() || t.Before(a.To)) {
			st = a.Status
		}
	}
	return st
}

// Person is an insured person (参保人). The ID number is kept only masked, plus a keyed
// hash for matching (never the number itself).
type Person struct {
	PsnNo        string
	CertnoMasked string
	CertnoHash   string
	Name         string
	Gender       string    // national code: 1 male, 2 female, 9 unknown
	Birth        time.Time // date
	Region       Region
	InsuType     string    // 310 employees, 390 residents, …
	Death        time.Time // zero when alive
	Chronic      []string  // 门慢特病 qualifications (disease codes)
}

// Practitioner is a doctor, pharmacist, nurse or pharmacy principal whose payment
// qualification is scored.
type Practitioner struct {
	ID          string // national practitioner code
	Name        string
	Kind        string // doctor, pharmacist, nurse, principal
	Institution string // fixmedins_code
	Status      string // normal, suspended, terminated
}

// Drug is an entry of the drug catalog (医保目录).
type Drug struct {
	Code         string // med_list_codg
	Name         string
	Spec         string
	PackContent  int64 // minimum units (e.g. tablets) in one sales pack
	Price        Fen   // price of one pack
	Reimbursable bool
	Kind         string // western, patent (中成药), herbal (中药饮片), granule (中药颗粒), consumable, other
	GenderLimit  string // "1" male only, "2" female only, "" none
	MinAge       int    // 0: none
	MaxAge       int    // 0: none
	MaxDays      int    // maximum days of supply per sale; 0: none
	Restriction  string // the catalog's restriction text (限定支付范围)
}

// DrugLimit is one entry of the knowledge base (知识库) of drug limits: who may be given the
// drug, how much and where (docs/data-formats.md#drug_limits). A zero field sets no limit.
type DrugLimit struct {
	DrugCode         string   // med_list_codg
	Gender           string   // "1" male only, "2" female only, "" none
	MinAge, MaxAge   int      // years; 0: none
	MaxDays          int      // maximum days of supply a person may hold at once; 0: none
	DailyDose        Qty      // minimum units taken per day (for days of supply); 0: unknown
	MaxQty           Qty      // maximum minimum units per period; 0: none
	PeriodDays       int      // the period of MaxQty, days
	InstitutionLevel string   // lowest hosp_lv allowed to prescribe it; "": any
	Scenes           []string // where it may be paid: outpatient, inpatient, pharmacy; empty: anywhere
	Basis            string   // 政策依据: the rule or catalog note the limit comes from
	// PriceCeiling is the drug's price ceiling (挂网价 / 最高销售限价) in fen per sales pack
	// (the pack of the catalog's pack_content); 0: none known. A 拆零 line is held to
	// PriceCeiling ÷ pack_content per minimum unit.
	PriceCeiling Fen
	// KeyDrug is the drug's key-drug category (重点监测药品): KeyDrugResale, KeyDrugHighValue
	// or KeyDrugVBPAlternative; "": not a key drug.
	KeyDrug string
}

// The key-drug categories of DrugLimit.KeyDrug (重点药品监测, C11).
const (
	KeyDrugResale         = "resale"          // 易倒卖: often resold (chronic, insulin, ...)
	KeyDrugHighValue      = "high_value"      // 高值: high-priced
	KeyDrugVBPAlternative = "vbp_alternative" // 集采替代: a non-selected product of a drug whose 集采 (VBP) product exists
)

// KeyDrugChinese names a key-drug category in Chinese ("" when it is none).
func KeyDrugChinese(c string) string {
	switch c {
	case KeyDrugResale:
		return "易倒卖"
	case KeyDrugHighValue:
		return "高值"
	case KeyDrugVBPAlternative:
		return "集采替代"
	}
	return c
}

// CodeMapping maps the product identifier inside a trace code (7-digit 药品标识码 or GTIN)
// to the drug, the commodity barcode and the package level (三码合一).
type CodeMapping struct {
	ProductID     string
	DrugCode      string
	CommodityCode string
	PackLevel     int // 1 小码 (sales pack), 2 中码, 3 大码; 0 unknown (the row states none)
}

// PackageLink says that a parent code (a carton) contains a child code (级联).
// Both are trace-code keys.
type PackageLink struct {
	Parent string
	Child  string
}

// PackOrder is what the package links prove about two product ids: codes of Parent
// contain codes of Child, so Parent's package level is above Child's whatever the code
// mapping states (docs/trace-codes.md). Link is the least packages row (by parent, then
// child key) that proves it; Links counts the rows that do. The product id of a code is
// the one tracecode gives it (the 7-digit 药品标识码 of an NMPA code, the GTIN of a GS1
// code, the object class of an MA code); codes without one prove nothing.
type PackOrder struct {
	Parent, Child string // product ids
	Link          PackageLink
	Links         int64
}

// ParentProducts returns the product ids the package links prove to be packages of
// others: a product id P with an order P above Q that more rows prove than the reverse
// (a single row linking a box above its carton among many linking cartons above boxes
// proves nothing about the box; it is a conflict, T5).
func ParentProducts(orders []PackOrder) map[string]bool {
	rows := make(map[[2]string]int64, len(orders))
	for _, o := range orders {
		rows[[2]string{o.Parent, o.Child}] += o.Links
	}
	out := map[string]bool{}
	for _, o := range orders {
		if o.Links > rows[[2]string{o.Child, o.Parent}] {
			out[o.Parent] = true
		}
	}
	return out
}
