package refload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"tracewatch"
	"tracewatch/internal/idno"
	"tracewatch/internal/tracecode"
)

// The columns of each kind: docs/data-formats.md is their contract (add, never rename).
var specs = map[Kind]spec{
	KindRegions: {
		key:      "admdvs",
		required: []string{"admdvs", "name"},
		optional: []string{"parent"},
	},
	KindInstitutions: {
		key:      "fixmedins_code",
		required: []string{"fixmedins_code", "fixmedins_name", "fixmedins_type", "admdvs"},
		optional: []string{"hosp_lv", "chain", "agreements", "agreement_status", "agreement_from", "agreement_to"},
	},
	KindPersons: {
		key:      "psn_no",
		required: []string{"psn_no", "gend", "brdy", "admdvs"},
		optional: []string{"certno", "psn_name", "insutype", "death_date", "chronic"},
	},
	KindPractitioners: {
		key:      "prac_id",
		required: []string{"prac_id", "name", "kind"},
		optional: []string{"fixmedins_code", "status"},
		aliases:  map[string]string{"practitioner_code": "prac_id"},
	},
	KindDrugs: {
		key:      "med_list_codg",
		required: []string{"med_list_codg", "drug_name", "pack_content", "price"},
		optional: []string{"spec", "reimbursable", "drug_kind", "gender_limit", "min_age", "max_age", "max_days", "restriction"},
	},
	KindCodeMap: {
		key:      "product_id",
		required: []string{"product_id", "med_list_codg"},
		optional: []string{"commodity_code", "pack_level"},
	},
	KindPackages: {
		key:      "child_code", // a pack lies in one carton: re-loading a child moves it
		required: []string{"parent_code", "child_code"},
	},
	KindDrugLimits: {
		key:      "med_list_codg",
		required: []string{"med_list_codg"},
		optional: []string{"gend", "min_age", "max_age", "max_days", "daily_dose", "max_qty", "period_days", "hosp_lv", "scenes", "basis",
			"price_ceiling", "key_drug"},
	},
}

// Limits on lengths (characters).
const (
	maxInstitutionCode = 30  // fixmedins_code
	maxCode            = 50  // psn_no, prac_id, med_list_codg
	maxName            = 200 // names, chains, specs
	maxShort           = 50  // levels, disease codes
	maxRestriction     = 2000
	maxAge             = 150
	maxDays            = 3650
	maxPackContent     = 1_000_000
	maxDailyDose       = 1_000_000  // minimum units a day (drug_limits.daily_dose)
	maxLimitQty        = 10_000_000 // minimum units per period (drug_limits.max_qty)
	maxPriceCeiling    = 10_000_000 // yuan a pack (drug_limits.price_ceiling), as nhsa's MaxPrice
)

// ---- regions ----

func parseRegion(r *row) (tracewatch.RegionInfo, string) {
	ri := tracewatch.RegionInfo{
		Code:   r.region("admdvs", true),
		Name:   r.text("name", true, maxName, false),
		Parent: r.region("parent", false),
	}
	if ri.Parent != "" && ri.Parent == ri.Code {
		r.fail("parent", "is the region itself")
	}
	return ri, string(ri.Code)
}

// ---- institutions ----

var institutionTypes = map[string]string{
	"hospital": "hospital", "医院": "hospital",
	"clinic": "clinic", "诊所": "clinic", "门诊部": "clinic",
	"village_clinic": "village_clinic", "卫生室": "village_clinic", "村卫生室": "village_clinic",
	"pharmacy": "pharmacy", "药店": "pharmacy", "零售药店": "pharmacy",
}

var agreementStatuses = map[string]string{
	"normal": "normal", "正常": "normal",
	"suspended": "suspended", "中止": "suspended", "暂停": "suspended",
	"terminated": "terminated", "解除": "terminated", "终止": "terminated",
}

func parseInstitution(r *row) (tracewatch.Institution, string) {
	in := tracewatch.Institution{
		Code:   r.code("fixmedins_code", true, maxInstitutionCode),
		Name:   r.text("fixmedins_name", true, maxName, false),
		Type:   tracewatch.InstitutionType(r.enum("fixmedins_type", true, institutionTypes, "hospital, clinic, village_clinic, pharmacy")),
		Region: r.region("admdvs", true),
		Level:  r.text("hosp_lv", false, maxShort, false),
		Chain:  r.text("chain", false, maxName, false),
	}
	in.Agreements = r.agreements()
	return in, in.Code
}

// agreements reads the timeline from the agreements column or from the one-period
// columns agreement_status, agreement_from and agreement_to. Periods are sorted by
// their start (stably); where periods overlap, the one that started later applies.
func (r *row) agreements() []tracewatch.Agreement {
	list := r.value("agreements")
	st, from, to := r.value("agreement_status"), r.value("agreement_from"), r.value("agreement_to")
	if st == "" && from == "" && to == "" {
		if list == "" {
			return nil
		}
		return r.agreementList(list)
	}
	if list != "" {
		r.fail("agreements", "give the agreement timeline either in agreements or in agreement_status/agreement_from/agreement_to, not both")
		return nil
	}
	if st == "" {
		r.fail("agreement_status", "is required when agreement_from or agreement_to is given")
	}
	if from == "" {
		r.fail("agreement_from", "is required when agreement_status is given")
	}
	a := tracewatch.Agreement{
		Status: tracewatch.AgreementStatus(r.enum("agreement_status", false, agreementStatuses, "normal, suspended, terminated")),
		From:   r.date("agreement_from", false),
		To:     r.date("agreement_to", false),
	}
	if !a.From.IsZero() && !a.To.IsZero() && !a.To.After(a.From) {
		r.fail("agreement_to", "%s is not after agreement_from (the end date is exclusive)", show(to))
	}
	if r.bad {
		return nil
	}
	return []tracewatch.Agreement{a}
}

func (r *row) agreementList(list string) []tracewatch.Agreement {
	const form = "want status:from[:to] entries separated by ;, e.g. normal:2020-01-01;suspended:2025-03-01:2025-06-01"
	list = strings.NewReplacer("；", ";", "：", ":").Replace(list)
	var out []tracewatch.Agreement
	n := 0
	for _, e := range strings.Split(list, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		n++
		parts := strings.Split(e, ":")
		if len(parts) < 2 || len(parts) > 3 {
			r.fail("agreements", "entry %d %s: %s", n, show(e), form)
			return nil
		}
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		st, ok := agreementStatuses[strings.ToLower(parts[0])]
		if !ok {
			r.fail("agreements", "entry %d %s: status %s is not one of normal, suspended, terminated", n, show(e), show(parts[0]))
			return nil
		}
		a := tracewatch.Agreement{Status: tracewatch.AgreementStatus(st)}
		if a.From, ok = parseDate(parts[1]); !ok {
			r.fail("agreements", "entry %d %s: from %s is not a date (yyyy-mm-dd)", n, show(e), show(parts[1]))
			return nil
		}
		if len(parts) == 3 && parts[2] != "" {
			if a.To, ok = parseDate(parts[2]); !ok {
				r.fail("agreements", "entry %d %s: to %s is not a date (yyyy-mm-dd)", n, show(e), show(parts[2]))
				return nil
			}
			if !a.To.After(a.From) {
				r.fail("agreements", "entry %d %s: to is not after from (the end date is exclusive)", n, show(e))
				return nil
			}
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// ---- persons ----

var genders = map[string]string{"1": "1", "2": "2", "9": "9", "男": "1", "女": "2"}

func parsePerson(r *row, key []byte) (tracewatch.Person, string) {
	p := tracewatch.Person{PsnNo: r.code("psn_no", true, maxCode)}
	if r.present("certno") && len(key) == 0 {
		r.fatal = errNoHashKey()
		return p, ""
	}
	// The ID number goes through no helper that could quote it.
	var id idno.Number
	parsed := false
	if certno := r.value("certno"); certno != "" {
		if n, err := idno.Parse(certno); err == nil {
			id, parsed = n, true
			p.CertnoMasked, p.CertnoHash = n.Masked(), certnoHash(key, n.Normalized)
		} else {
			p.CertnoMasked, p.CertnoHash = idno.Mask(certno), certnoHash(key, certno)
		}
		for _, c := range certno {
			if unicode.IsControl(c) {
				r.fail("certno", "contains a control character")
				break
			}
		}
	}
	p.Name = r.text("psn_name", false, maxName, false)
	p.Gender = r.enum("gend", true, genders, "1, 2, 9 (or 男, 女)")
	p.Birth = r.date("brdy", true)
	p.Region = r.region("admdvs", true)
	p.InsuType = r.code("insutype", false, maxShort)
	p.Death = r.date("death_date", false)
	p.Chronic = r.list("chronic", maxShort)

	if !p.Birth.IsZero() && p.Birth.Year() < 1900 {
		r.fail("brdy", "is before 1900")
	}
	if parsed {
		if (p.Gender == "1" || p.Gender == "2") && p.Gender != strconv.Itoa(int(id.Gender)) {
			r.fail("gend", "%s disagrees with the gender encoded in certno", show(r.value("gend")))
		}
		if !p.Birth.IsZero() {
			by, bm, bd := p.Birth.Date()
			iy, im, idd := id.Birth.Date()
			if by != iy || bm != im || bd != idd {
				r.fail("brdy", "disagrees with the birth date encoded in certno")
			}
		}
	}
	if !p.Death.IsZero() && !p.Birth.IsZero() && p.Death.Before(p.Birth) {
		r.fail("death_date", "is before the birth date (brdy)")
	}
	return p, p.PsnNo
}

// certnoHash is the lowercase hex HMAC-SHA256 of the (normalized) ID number.
func certnoHash(key []byte, certno string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(certno))
	return hex.EncodeToString(m.Sum(nil))
}

// ---- practitioners ----

var practitionerKinds = map[string]string{
	"doctor": "doctor", "医师": "doctor",
	"pharmacist": "pharmacist", "药师": "pharmacist",
	"nurse": "nurse", "护士": "nurse",
	"principal": "principal", "主要负责人": "principal",
}

func parsePractitioner(r *row) (tracewatch.Practitioner, string) {
	p := tracewatch.Practitioner{
		ID:          r.code("prac_id", true, maxCode),
		Name:        r.text("name", true, maxName, false),
		Kind:        r.enum("kind", true, practitionerKinds, "doctor, pharmacist, nurse, principal"),
		Institution: r.code("fixmedins_code", false, maxInstitutionCode),
		Status:      r.enum("status", false, agreementStatuses, "normal, suspended, terminated"),
	}
	if p.Status == "" {
		p.Status = "normal"
	}
	return p, p.ID
}

// ---- drugs ----

var (
	booleans = map[string]string{"1": "1", "true": "1", "是": "1", "0": "0", "false": "0", "否": "0"}

	drugKinds = map[string]string{
		"western": "western", "西药": "western",
		"patent": "patent", "中成药": "patent",
		"herbal": "herbal", "中药饮片": "herbal",
		"granule": "granule", "中药颗粒": "granule", "配方颗粒": "granule", "中药配方颗粒": "granule",
		"consumable": "consumable", "耗材": "consumable", "医用耗材": "consumable",
		"other": "other", "其他": "other",
	}

	genderLimits = map[string]string{"1": "1", "2": "2", "男": "1", "女": "2"}
)

func parseDrug(r *row) (tracewatch.Drug, string) {
	d := tracewatch.Drug{
		Code: r.code("med_list_codg", true, maxCode),
		Name: r.text("drug_name", true, maxName, false),
		Spec: r.text("spec", false, maxName, false),
	}
	if v := r.value("pack_content"); r.need("pack_content", v, true) {
		n, ok := digits(v)
		switch {
		case !ok || n == 0:
			r.fail("pack_content", "%s is not a positive whole number (minimum units per sales pack)", show(v))
		case n > maxPackContent:
			r.fail("pack_content", "%s is more than %d", show(v), maxPackContent)
		default:
			d.PackContent = n
		}
	}
	if v := r.value("price"); r.need("price", v, true) {
		f, err := tracewatch.ParseYuan(v)
		switch {
		case err != nil:
			r.fail("price", "%s is not an amount in yuan with at most two decimals", show(v))
		case f < 0:
			r.fail("price", "%s is negative", show(v))
		default:
			d.Price = f
		}
	}
	d.Reimbursable = r.enum("reimbursable", false, booleans, "1, 0, true, false, 是, 否") != "0"
	d.Kind = r.enum("drug_kind", false, drugKinds, "western, patent, herbal, granule, consumable, other")
	d.GenderLimit = r.enum("gender_limit", false, genderLimits, "1, 2 or empty")
	d.MinAge = r.count("min_age", maxAge)
	d.MaxAge = r.count("max_age", maxAge)
	d.MaxDays = r.count("max_days", maxDays)
	d.Restriction = r.text("restriction", false, maxRestriction, true)
	if d.MinAge > 0 && d.MaxAge > 0 && d.MaxAge < d.MinAge {
		r.fail("max_age", "%d is less than min_age %d", d.MaxAge, d.MinAge)
	}
	return d, d.Code
}

// ---- code mapping ----

var packLevels = map[string]string{"1": "1", "2": "2", "3": "3", "小码": "1", "中码": "2", "大码": "3"}

func parseCodeMapping(r *row) (tracewatch.CodeMapping, string) {
	m := tracewatch.CodeMapping{
		ProductID: r.productID("product_id"),
		DrugCode:  r.code("med_list_codg", true, maxCode),
	}
	if v := r.value("commodity_code"); v != "" {
		switch {
		case len(v) != 13 || !allDigits(v):
			r.fail("commodity_code", "%s is not a GTIN-13 commodity barcode (13 digits)", show(v))
		case gs1Check(v) != v[12]:
			r.fail("commodity_code", "%s: the GTIN-13 check digit is wrong (want %c)", show(v), gs1Check(v))
		default:
			m.CommodityCode = v
		}
	}
	// A row that states no level (no pack_level column, or an empty cell) leaves it
	// unknown (0): not 1. T5 then judges the product's links only by what the packages
	// prove (docs/trace-codes.md).
	if lv := r.enum("pack_level", false, packLevels, "1, 2, 3 (小码, 中码, 大码)"); lv != "" {
		m.PackLevel = int(lv[0] - '0')
	}
	return m, m.ProductID
}

// productID returns a 7-digit 药品标识码 as it is, or a GTIN with a valid check digit
// padded to 14 digits.
func (r *row) productID(col string) string {
	v := r.value(col)
	if !r.need(col, v, true) {
		return ""
	}
	const want = "want 7 digits (药品标识码) or a GTIN of 8, 12, 13 or 14 digits"
	if !allDigits(v) {
		r.fail(col, "%s is not a product identifier: %s", show(v), want)
		return ""
	}
	switch n := len(v); n {
	case 7:
		return v
	case 8, 12, 13, 14:
		if c := gs1Check(v); c != v[n-1] {
			r.fail(col, "%s: the %s check digit is wrong (want %c)", show(v), gtinNames[n], c)
			return ""
		}
		return strings.Repeat("0", 14-n) + v
	case 20:
		r.fail(col, "%s is a whole 20-digit trace code: its product identifier is the first 7 digits (%s)", show(v), v[:7])
	default:
		r.fail(col, "%s has %d digits: %s", show(v), n, want)
	}
	return ""
}

// ---- package links ----

func parsePackageLink(r *row) (tracewatch.PackageLink, string) {
	l := tracewatch.PackageLink{Parent: r.traceKey("parent_code"), Child: r.traceKey("child_code")}
	if l.Parent != "" && l.Parent == l.Child {
		r.fail("child_code", "is the same pack as parent_code: a pack cannot contain itself")
	}
	return l, l.Child
}

// traceKey identifies a trace code in any printed form and returns its key.
func (r *row) traceKey(col string) string {
	v := r.value(col)
	if !r.need(col, v, true) {
		return ""
	}
	c, err := tracecode.Parse(v)
	if err != nil {
		var te *tracecode.Error
		if errors.As(err, &te) {
			r.fail(col, "%s is not a trace code: %s: %s", show(v), te.Code, te.Msg)
		} else {
			r.fail(col, "%s is not a trace code: %v", show(v), err)
		}
		return ""
	}
	return c.Key
}

// ---- drug limits (知识库) ----

// scenes maps the names of the scenes a drug may be paid in to the English ones stored,
// in the order a row lists them after reading.
var scenes = map[string]string{
	"outpatient": "outpatient", "门诊": "outpatient",
	"inpatient": "inpatient", "住院": "inpatient",
	"pharmacy": "pharmacy", "购药": "pharmacy", "药店": "pharmacy",
}

var sceneOrder = []string{"outpatient", "inpatient", "pharmacy"}

func parseDrugLimit(r *row) (tracewatch.DrugLimit, string) {
	l := tracewatch.DrugLimit{
		DrugCode:         r.code("med_list_codg", true, maxCode),
		Gender:           r.enum("gend", false, genderLimits, "1, 2 (or 男, 女) or empty"),
		MinAge:           r.count("min_age", maxAge),
		MaxAge:           r.count("max_age", maxAge),
		MaxDays:          r.count("max_days", maxDays),
		DailyDose:        r.qty("daily_dose", maxDailyDose, "minimum units a day"),
		MaxQty:           r.qty("max_qty", maxLimitQty, "minimum units per period"),
		PeriodDays:       r.count("period_days", maxDays),
		InstitutionLevel: r.text("hosp_lv", false, maxShort, false),
		Scenes:           r.scenes("scenes"),
		Basis:            r.text("basis", false, maxRestriction, true),
		PriceCeiling:     r.yuan("price_ceiling", maxPriceCeiling),
		KeyDrug:          r.enum("key_drug", false, keyDrugs, "resale, high_value, vbp_alternative (易倒卖, 高值, 集采替代) or empty"),
	}
	if l.MinAge > 0 && l.MaxAge > 0 && l.MaxAge < l.MinAge {
		r.fail("max_age", "%d is less than min_age %d", l.MaxAge, l.MinAge)
	}
	if v := r.value("period_days"); l.MaxQty > 0 && (v == "" || v == strings.Repeat("0", len(v))) {
		r.fail("period_days", "is required when max_qty is given: the period of the maximum quantity, at least one day")
	}
	return l, l.DrugCode
}

// keyDrugs are the key-drug categories of drug_limits.key_drug (重点监测药品).
var keyDrugs = map[string]string{
	tracewatch.KeyDrugResale: tracewatch.KeyDrugResale, "易倒卖": tracewatch.KeyDrugResale,
	tracewatch.KeyDrugHighValue: tracewatch.KeyDrugHighValue, "高值": tracewatch.KeyDrugHighValue,
	tracewatch.KeyDrugVBPAlternative: tracewatch.KeyDrugVBPAlternative, "集采替代": tracewatch.KeyDrugVBPAlternative,
}

// yuan returns a non-negative amount in yuan (at most two decimals) of at most max yuan,
// in fen; 0 when empty.
func (r *row) yuan(col string, max int64) tracewatch.Fen {
	v := r.value(col)
	if v == "" {
		return 0
	}
	f, err := tracewatch.ParseYuan(v)
	switch {
	case err != nil:
		r.fail(col, "%s is not an amount in yuan with at most two decimals", show(v))
	case f < 0:
		r.fail(col, "%s is negative", show(v))
	case f > tracewatch.Fen(max)*100:
		r.fail(col, "%s is more than %d yuan", show(v), max)
	default:
		return f
	}
	return 0
}

// qty returns a non-negative decimal quantity (at most 4 decimals) of at most max whole
// units; 0 when empty.
func (r *row) qty(col string, max int64, what string) tracewatch.Qty {
	v := r.value(col)
	if v == "" {
		return 0
	}
	q, err := tracewatch.ParseQty(v)
	switch {
	case err != nil:
		r.fail(col, "%s is not a number of %s (a decimal with at most 4 decimals, e.g. 1 or 0.5)", show(v), what)
	case q < 0:
		r.fail(col, "%s is negative", show(v))
	case q > tracewatch.Qty(max)*tracewatch.QtyScale:
		r.fail(col, "%s is more than %d", show(v), max)
	default:
		return q
	}
	return 0
}

// scenes reads a |-separated list of scenes (full-width ｜ too) and returns it in the
// order outpatient, inpatient, pharmacy, each once.
func (r *row) scenes(col string) []string {
	v := r.value(col)
	if v == "" {
		return nil
	}
	have := map[string]bool{}
	for _, e := range strings.FieldsFunc(v, func(c rune) bool { return c == '|' || c == '｜' }) {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		s, ok := scenes[strings.ToLower(e)]
		if !ok {
			r.fail(col, "%s is not one of outpatient, inpatient, pharmacy (门诊, 住院, 购药), separated by |", show(e))
			return nil
		}
		have[s] = true
	}
	var out []string
	for _, s := range sceneOrder {
		if have[s] {
			out = append(out, s)
		}
	}
	return out
}
