package tracecode

import (
	"fmt"
	"strconv"
	"strings"
)

// The GS1 Application Identifier table (facts from the GS1 General Specifications).
// Each row: the AI or a range of AIs; "*" when the AI has a predefined length and needs
// no FNC1 after it; the value's components; Digital Link roles; a title.
//
// Component syntax: N numeric, X character set 82, Y character set 39; "N14" exactly 14,
// "X..20" 1 to 20; "[…]" an optional last component; ",name" a content check.
// Digital Link: "key" a primary key without qualifiers, "key=22,10,21|235" a primary key
// with ordered optional qualifier sequences (alternatives separated by "|").
//
// AIs absent from this table are refused with ErrUnknownAI. Not decoded here, although
// defined by GS1: 43nn (ship-to and return-to details), 7241, 8007 (IBAN), 8013 (GMN),
// 8030 (digital signature) and 8110/8112 (coupons).
var aiRows = []struct {
	ai, flag, spec, dl, title string
}{
	{"00", "*", "N18,csum", "key", "SSCC"},
	{"01", "*", "N14,csum", "key=22,10,21|235", "GTIN"},
	{"02", "*", "N14,csum", "", "CONTENT"},
	{"10", "", "X..20", "", "BATCH/LOT"},
	{"11", "*", "N6,yymmd0", "", "PROD DATE"},
	{"12", "*", "N6,yymmd0", "", "DUE DATE"},
	{"13", "*", "N6,yymmd0", "", "PACK DATE"},
	{"15", "*", "N6,yymmd0", "", "BEST BEFORE"},
	{"16", "*", "N6,yymmd0", "", "SELL BY"},
	{"17", "*", "N6,yymmd0", "", "USE BY OR EXPIRY"},
	{"20", "*", "N2", "", "VARIANT"},
	{"21", "", "X..20", "", "SERIAL"},
	{"22", "", "X..20", "", "CPV"},
	{"235", "", "X..28", "", "TPX"},
	{"240", "", "X..30", "", "ADDITIONAL ID"},
	{"241", "", "X..30", "", "CUST. PART No."},
	{"242", "", "N..6", "", "MTO VARIANT"},
	{"243", "", "X..20", "", "PCN"},
	{"250", "", "X..30", "", "SECONDARY SERIAL"},
	{"251", "", "X..30", "", "REF. TO SOURCE"},
	{"253", "", "N13,csum [X..17]", "key", "GDTI"},
	{"254", "", "X..20", "", "GLN EXTENSION COMPONENT"},
	{"255", "", "N13,csum [N..12]", "key", "GCN"},
	{"30", "", "N..8", "", "VAR. COUNT"},
	{"3100-3165", "*", "N6", "", "MEASURE (metric, trade)"},
	{"3200-3375", "*", "N6", "", "MEASURE (imperial trade / logistic metric)"},
	{"3400-3575", "*", "N6", "", "MEASURE (logistic imperial / area)"},
	{"3600-3695", "*", "N6", "", "MEASURE (volume)"},
	{"37", "", "N..8", "", "COUNT"},
	{"3900-3909", "", "N..15", "", "AMOUNT"},
	{"3910-3919", "", "N3,iso4217 N..15", "", "AMOUNT (ISO currency)"},
	{"3920-3929", "", "N..15", "", "PRICE"},
	{"3930-3939", "", "N3,iso4217 N..15", "", "PRICE (ISO currency)"},
	{"3940-3943", "", "N4", "", "PRCNT OFF"},
	{"3950-3955", "", "N6", "", "PRICE/UoM"},
	{"400", "", "X..30", "", "ORDER NUMBER"},
	{"401", "", "X..30", "key", "GINC"},
	{"402", "", "N17,csum", "key", "GSIN"},
	{"403", "", "X..30", "", "ROUTE"},
	{"410", "*", "N13,csum", "", "SHIP TO LOC"},
	{"411", "*", "N13,csum", "", "BILL TO"},
	{"412", "*", "N13,csum", "", "PURCHASE FROM"},
	{"413", "*", "N13,csum", "", "SHIP FOR LOC"},
	{"414", "*", "N13,csum", "key=254|7040", "LOC No."},
	{"415", "*", "N13,csum", "key=8020", "PAY TO"},
	{"416", "*", "N13,csum", "", "PROD/SERV LOC"},
	{"417", "*", "N13,csum", "key=7040", "PARTY"},
	{"420", "", "X..20", "", "SHIP TO POST"},
	{"421", "", "N3,iso3166 X..9", "", "SHIP TO POST (ISO country)"},
	{"422", "", "N3,iso3166", "", "ORIGIN"},
	{"423", "", "N..15,iso3166list", "", "COUNTRY - INITIAL PROCESS"},
	{"424", "", "N3,iso3166", "", "COUNTRY - PROCESS"},
	{"425", "", "N..15,iso3166list", "", "COUNTRY - DISASSEMBLY"},
	{"426", "", "N3,iso3166", "", "COUNTRY - FULL PROCESS"},
	{"427", "", "X..3", "", "ORIGIN SUBDIVISION"},
	{"7001", "", "N13", "", "NSN"},
	{"7002", "", "X..30", "", "MEAT CUT"},
	{"7003", "", "N6,yymmdd N4,hhmm", "", "EXPIRY TIME"},
	{"7004", "", "N..4", "", "ACTIVE POTENCY"},
	{"7005", "", "X..12", "", "CATCH AREA"},
	{"7006", "", "N6,yymmdd", "", "FIRST FREEZE DATE"},
	{"7007", "", "N6,yymmdd [N6,yymmdd]", "", "HARVEST DATE"},
	{"7008", "", "X..3", "", "AQUATIC SPECIES"},
	{"7009", "", "X..10", "", "FISHING GEAR TYPE"},
	{"7010", "", "X..2", "", "PROD METHOD"},
	{"7011", "", "N6,yymmdd [N4,hhmm]", "", "TEST BY DATE"},
	{"7020", "", "X..20", "", "REFURB LOT"},
	{"7021", "", "X..20", "", "FUNC STAT"},
	{"7022", "", "X..20", "", "REV STAT"},
	{"7023", "", "X..30", "", "GIAI - ASSEMBLY"},
	{"7030-7039", "", "N3,iso3166999 X..27", "", "PROCESSOR # s"},
	{"7040", "", "N1 X1 X1 X1,importeridx", "", "UIC+EXT"},
	{"710-715", "", "X..20", "", "NHRN (national healthcare reimbursement number)"},
	{"7230-7239", "", "X2 X..28", "", "CERT # s"},
	{"7240", "", "X..20", "", "PROTOCOL"},
	{"7242", "", "X..25", "", "VCN"},
	{"8001", "", "N4,nonzero N5,nonzero N3,nonzero N1,winding N1", "", "DIMENSIONS"},
	{"8002", "", "X..20", "", "CMT No."},
	{"8003", "", "N1,zero N13,csum [X..16]", "key", "GRAI"},
	{"8004", "", "X..30", "key=7040", "GIAI"},
	{"8005", "", "N6", "", "PRICE PER UNIT"},
	{"8006", "", "N14,csum N4,pieceoftotal", "key=22,10,21", "ITIP"},
	{"8008", "", "N8,yymmddhh [N..4,mmoptss]", "", "PROD TIME"},
	{"8009", "", "X..50", "", "OPTSEN"},
	{"8010", "", "Y..30", "key=8011", "CPID"},
	{"8011", "", "N..12,nozeroprefix", "", "CPID SERIAL"},
	{"8012", "", "X..20", "", "VERSION"},
	{"8017", "", "N18,csum", "key=8019", "GSRN - PROVIDER"},
	{"8018", "", "N18,csum", "key=8019", "GSRN - RECIPIENT"},
	{"8019", "", "N..10", "", "SRIN"},
	{"8020", "", "X..25", "", "REF No."},
	{"8026", "", "N14,csum N4,pieceoftotal", "", "ITIP CONTENT"},
	{"8111", "", "N4", "", "POINTS"},
	{"8200", "", "X..70", "", "PRODUCT URL"},
	{"90", "", "X..30", "", "INTERNAL"},
	{"91-99", "", "X..90", "", "INTERNAL"},
}

// The measure ranges above are sparse: only these third digits exist (31n0–31n5 etc.).
var measureStems = map[string]bool{}

func init() {
	for _, r := range [][2]int{{310, 316}, {320, 337}, {340, 357}, {360, 369}} {
		for s := r[0]; s <= r[1]; s++ {
			measureStems[strconv.Itoa(s)] = true
		}
	}
}

var linters = map[string]linter{
	"csum":         lintCsum,
	"yymmd0":       lintYYMMD0,
	"yymmdd":       lintYYMMDD,
	"hhmm":         lintHHMM,
	"yymmddhh":     lintYYMMDDHH,
	"mmoptss":      lintMMOptSS,
	"zero":         lintZero,
	"nonzero":      lintNonZero,
	"winding":      lintWinding,
	"pieceoftotal": lintPieceOfTotal,
	"nozeroprefix": lintNoZeroPrefix,
	"importeridx":  lintImporterIdx,
	"iso3166list":  lintCountryList,
	"iso3166":      nil, // form only: 3 digits (checked by N3)
	"iso4217":      nil, // form only: 3 digits (checked by N3)
	"iso3166999":   nil,
}

// component is one part of an AI's value.
type component struct {
	cset     byte // 'N', 'X' or 'Y'
	min, max int
	optional bool
	lint     []linter
}

// aiSpec describes one Application Identifier.
type aiSpec struct {
	ai         string
	predefined bool // predefined length: no FNC1 needed after it
	comps      []component
	minLen     int
	maxLen     int
	title      string
	dlKey      bool
	dlQuals    [][]string // allowed ordered qualifier sequences (for a DL primary key)
}

// aiTable maps an AI (2–4 digits) to its spec.
var aiTable = map[string]*aiSpec{}

// dlQualifier reports whether the AI is a Digital Link qualifier of some key.
var dlQualifier = map[string]bool{}

func init() {
	for _, row := range aiRows {
		lo, hi := row.ai, row.ai
		if i := strings.IndexByte(row.ai, '-'); i > 0 {
			lo, hi = row.ai[:i], row.ai[i+1:]
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		for n := a; n <= b; n++ {
			ai := fmt.Sprintf("%0*d", len(lo), n)
			if ai[0] == '3' && len(ai) == 4 && row.spec == "N6" && row.flag == "*" {
				if !measureStems[ai[:3]] || ai[3] > '5' {
					continue
				}
			}
			aiTable[ai] = mustSpec(ai, row.flag, row.spec, row.dl, row.title)
		}
	}
	for _, s := range aiTable {
		for _, seq := range s.dlQuals {
			for _, q := range seq {
				dlQualifier[q] = true
			}
		}
	}
}

func mustSpec(ai, flag, spec, dl, title string) *aiSpec {
	if t, ok := strings.CutSuffix(title, "# s"); ok { // numbered ranges: "CERT # 3"
		title = t + "# " + ai[len(ai)-1:]
	}
	s := &aiSpec{ai: ai, predefined: flag == "*", title: title}
	for _, f := range strings.Fields(spec) {
		var c component
		if strings.HasPrefix(f, "[") {
			c.optional = true
			f = strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")
		}
		parts := strings.Split(f, ",")
		t := parts[0]
		c.cset = t[0]
		if strings.HasPrefix(t[1:], "..") {
			c.min = 1
			c.max, _ = strconv.Atoi(t[3:])
		} else {
			c.min, _ = strconv.Atoi(t[1:])
			c.max = c.min
		}
		for _, l := range parts[1:] {
			fn, ok := linters[l]
			if !ok {
				panic("tracecode: unknown linter " + l + " for AI " + ai)
			}
			if fn != nil {
				c.lint = append(c.lint, fn)
			}
		}
		s.comps = append(s.comps, c)
		if !c.optional {
			s.minLen += c.min
		}
		s.maxLen += c.max
	}
	if dl == "key" || strings.HasPrefix(dl, "key=") {
		s.dlKey = true
		if q, ok := strings.CutPrefix(dl, "key="); ok {
			for _, alt := range strings.Split(q, "|") {
				s.dlQuals = append(s.dlQuals, strings.Split(alt, ","))
			}
		}
	}
	return s
}

// lookupAI finds the AI at the start of s (2, 3 or 4 digits). GS1 AIs are prefix-free, so
// at most one length matches.
func lookupAI(s string) *aiSpec {
	for n := 2; n <= 4 && n <= len(s); n++ {
		if s[n-1]-'0' > 9 {
			return nil
		}
		if spec, ok := aiTable[s[:n]]; ok {
			return spec
		}
	}
	return nil
}

// extendsKnownAI reports whether a known AI is a proper prefix of ai: such a string can
// never be an AI, since GS1 AIs are prefix-free.
func extendsKnownAI(ai string) bool {
	for n := 2; n < len(ai); n++ {
		if _, ok := aiTable[ai[:n]]; ok {
			return true
		}
	}
	return false
}

// unknownSpec describes an AI accepted under PermitUnknownAIs.
var unknownSpec = &aiSpec{comps: []component{{cset: 'X', min: 1, max: 90}}, minLen: 1, maxLen: 90, title: "UNKNOWN AI"}

// checkValue validates v against the AI's components. off is v's offset for positions.
func (s *aiSpec) checkValue(v string) *lintErr {
	if len(v) < s.minLen || len(v) > s.maxLen {
		if s.minLen == s.maxLen {
			return &lintErr{ErrBadLength, 0, len(v), fmt.Sprintf("AI (%s) %s takes %d characters, got %d", s.ai, s.title, s.minLen, len(v))}
		}
		return &lintErr{ErrBadLength, 0, len(v), fmt.Sprintf("AI (%s) %s takes %d to %d characters, got %d", s.ai, s.title, s.minLen, s.maxLen, len(v))}
	}
	off := 0
	for i, c := range s.comps {
		rest := len(v) - off
		if rest == 0 && c.optional {
			break
		}
		n := c.max
		if c.min == c.max {
			if rest < n {
				return &lintErr{ErrBadLength, off, rest, fmt.Sprintf("AI (%s) %s: component %d needs %d characters", s.ai, s.title, i+1, n)}
			}
		} else {
			// A variable component takes what the later fixed ones leave.
			later := 0
			for _, lc := range s.comps[i+1:] {
				if !lc.optional {
					later += lc.min
				}
			}
			n = min(rest-later, c.max)
			if n < c.min {
				return &lintErr{ErrBadLength, off, rest, fmt.Sprintf("AI (%s) %s: component %d is missing", s.ai, s.title, i+1)}
			}
		}
		part := v[off : off+n]
		var e *lintErr
		switch c.cset {
		case 'N':
			e = lintNumeric(part)
		case 'X':
			e = lintCset82(part)
		case 'Y':
			e = lintCset39(part)
		}
		for _, l := range c.lint {
			if e != nil {
				break
			}
			e = l(part)
		}
		if e != nil {
			e.off += off
			if e.msg != "" {
				e.msg = fmt.Sprintf("AI (%s) %s: %s", s.ai, s.title, e.msg)
			}
			return e
		}
		off += n
	}
	if off != len(v) {
		return &lintErr{ErrBadLength, off, len(v) - off, fmt.Sprintf("AI (%s) %s: %d characters too many", s.ai, s.title, len(v)-off)}
	}
	return nil
}
