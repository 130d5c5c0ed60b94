// Package detect is the detector engine: detectors registered explicitly, each with an
// id@version and documented parameters, run over a window of the store's facts and
// turned into fingerprinted clues (DESIGN §6, docs/detectors.md).
//
// The store selects candidates in SQL (Source); the detectors apply their rules in Go,
// so the same rules can serve the real-time check.
package detect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"tracewatch"
)

// Source is what the detectors read. The embedded DuckDB store satisfies it.
type Source interface {
	Institutions(ctx context.Context) ([]tracewatch.Institution, error)
	Drugs(ctx context.Context) ([]tracewatch.Drug, error)
	Regions(ctx context.Context) ([]tracewatch.RegionInfo, error)
	Timeline(ctx context.Context, key string) ([]tracewatch.TimelineEntry, error)

	DuplicateHistories(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.CodeHistory) error) error
	Repeats(ctx context.Context, w tracewatch.Window, fn func(tracewatch.Repeat) error) error
	MismatchedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	UnsourcedLines(ctx context.Context, w tracewatch.Window, fn func(l *tracewatch.TimelineEntry, siblingReceived bool) error) error
	RemovedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	InboundCoverage(ctx context.Context, w tracewatch.Window) ([]tracewatch.InboundCoverage, error)
	AnomalousLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	CodeQuality(ctx context.Context, w tracewatch.Window) ([]tracewatch.CodeQuality, error)
	PackageConflicts(ctx context.Context, w tracewatch.Window, fn func(tracewatch.PackagePair, []tracewatch.TimelineEntry) error) error
	LevelConflicts(ctx context.Context, w tracewatch.Window, fn func(tracewatch.LevelConflict) error) error
	CollectionDays(ctx context.Context, w tracewatch.Window) ([]tracewatch.CollectionDay, error)
	StockPeriods(ctx context.Context, w tracewatch.Window) ([]tracewatch.StockPeriod, error)

	// The claims detectors' reads (C1, C2, C4, C5, C7, C8, C10): event lines with the person of the
	// reference data (an empty PsnNo when unknown).
	RestrictedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	DeceasedSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	AgreementSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	FrequentSettlements(ctx context.Context, w tracewatch.Window, days, min int, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	Readmissions(ctx context.Context, w tracewatch.Window, maxGap time.Duration, fn func(first, second tracewatch.Stay) error) error
	CoPurchases(ctx context.Context, w tracewatch.Window, within time.Duration, minDays int, fn func(tracewatch.CoPurchase) error) error
}

// Param documents one detector parameter.
type Param struct {
	Name    string
	Default string
	Doc     string
}

// Detector finds clues of one kind.
type Detector interface {
	ID() string    // name@version, e.g. trace.duplicate@1
	Title() string // Chinese name, e.g. 重复销售
	Params() []Param
	// Set changes a parameter from its text form.
	Set(name, value string) error
	Run(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error
}

// Env is what a run gives every detector: the source, the window, the evaluation time
// and the reference data.
type Env struct {
	Src          Source
	Window       tracewatch.Window
	At           time.Time // the evaluation time: first_seen of new clues
	Institutions map[string]tracewatch.Institution
	Drugs        map[string]tracewatch.Drug
	Regions      map[tracewatch.Region]tracewatch.RegionInfo
}

// NewEnv loads the reference data a run needs.
func NewEnv(ctx context.Context, src Source, w tracewatch.Window, at time.Time) (*Env, error) {
	env := &Env{Src: src, Window: w, At: at, Institutions: map[string]tracewatch.Institution{},
		Drugs: map[string]tracewatch.Drug{}, Regions: map[tracewatch.Region]tracewatch.RegionInfo{}}
	ins, err := src.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		env.Institutions[in.Code] = in
	}
	ds, err := src.Drugs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		env.Drugs[d.Code] = d
	}
	rs, err := src.Regions(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		env.Regions[r.Code] = r
	}
	return env, nil
}

// Registry returns a fresh instance of every detector, in their canonical order: the
// trace detectors T1–T6, T3C, the claims detectors C1, C2, C4, C5, C7, C8 and C10, then the naive
// baseline B0 (not run by default).
func Registry() []Detector {
	return []Detector{
		NewDuplicate(), NewSubstitution(), NewNoSource(), NewStockBalance(), NewAnomaly(), NewPackage(), NewCollection(),
		NewGender(), NewAge(), NewFrequency(), NewSplitStay(), NewAfterDeath(), NewSuspended(), NewGang(),
		NewBaseline(),
	}
}

// Default reports whether a screen runs the detector when none is named.
func Default(d Detector) bool { return !strings.HasPrefix(d.ID(), "baseline.") }

// Select returns the detectors named (by name, with or without version, or by the
// short names T1–T6, T3C, C1, C2, C4, C5, C7, C8, C10 and B0); none named means the default set.
func Select(names []string) ([]Detector, error) {
	all := Registry()
	if len(names) == 0 {
		var out []Detector
		for _, d := range all {
			if Default(d) {
				out = append(out, d)
			}
		}
		return out, nil
	}
	short := map[string]string{"T1": "trace.duplicate", "T2": "trace.substitution", "T3": "trace.nosource", "T3C": "trace.stock",
		"T4": "trace.anomaly", "T5": "trace.package", "T6": "trace.collection", "B0": "baseline.repeat",
		"C1": "claims.gender", "C2": "claims.age", "C4": "claims.frequency", "C5": "claims.split_stay", "C7": "claims.after_death", "C8": "claims.suspended", "C10": "claims.gang"}
	var out []Detector
	for _, n := range names {
		if s, ok := short[strings.ToUpper(n)]; ok {
			n = s
		}
		found := false
		for _, d := range all {
			name, _, _ := strings.Cut(d.ID(), "@")
			if n == d.ID() || n == name {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			return nil, tracewatch.Errorf("detect.Select", tracewatch.KindInvalid, "unknown detector %q", n).WithField("detector")
		}
	}
	return out, nil
}

// Result is what one detector produced in a run.
type Result struct {
	Detector Detector
	Clues    []tracewatch.Clue
	Elapsed  time.Duration
	Err      error // the detector failed (Clues is then empty); the others still ran
}

// Run runs the detectors one after another over env and returns their clues, each
// detector's in a deterministic order. progress, when not nil, is told when each starts.
//
// One failing detector does not stop the others: its Result carries the error (prefixed
// with the detector's id) and no clues, even if it emitted some before failing, and a
// panic inside a detector is recovered as such an error. Run returns a Result for every
// detector and, when any failed, their errors joined. A cancelled ctx stops the run: Run
// returns the results so far and the context's error.
func Run(ctx context.Context, env *Env, ds []Detector, progress func(d Detector, i, n int)) ([]Result, error) {
	out := make([]Result, 0, len(ds))
	var failed []error
	for i, d := range ds {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if progress != nil {
			progress(d, i, len(ds))
		}
		start := time.Now()
		clues, err := runOne(ctx, env, d)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			err = fmt.Errorf("%s: %w", d.ID(), err)
			failed = append(failed, err)
			out = append(out, Result{Detector: d, Elapsed: time.Since(start), Err: err})
			continue
		}
		sort.SliceStable(clues, func(i, j int) bool { return clues[i].Fingerprint < clues[j].Fingerprint })
		out = append(out, Result{Detector: d, Clues: clues, Elapsed: time.Since(start)})
	}
	return out, errors.Join(failed...)
}

// runOne runs one detector, turning a panic into an error.
func runOne(ctx context.Context, env *Env, d Detector) (clues []tracewatch.Clue, err error) {
	defer func() {
		if p := recover(); p != nil {
			clues, err = nil, tracewatch.Errorf("detect.Run", tracewatch.KindInternal, "panic: %v", p)
		}
	}()
	err = d.Run(ctx, env, func(c tracewatch.Clue) {
		if c.Detector == "" {
			c.Detector = d.ID()
		}
		if c.Region == "" {
			c.Region = env.Institutions[c.Institution].Region
		}
		if !env.Window.InRegion(c.Region) {
			return
		}
		c.State = tracewatch.ClueNew
		c.FirstSeen, c.LastSeen = env.At, env.At
		c.Normalize()
		clues = append(clues, c)
	})
	if err != nil {
		return nil, err
	}
	return clues, nil
}

// --- helpers shared by the detectors ---

var cst = time.FixedZone("CST", 8*3600)

// when formats an instant for an explanation (business time zone).
func when(t time.Time) string {
	if t.IsZero() {
		return "(时间不详)"
	}
	return t.In(cst).Format("2006-01-02 15:04")
}

func day(t time.Time) string { return t.In(cst).Format("2006-01-02") }

// instName returns "名称(编码)" for an institution.
func (env *Env) instName(code string) string {
	if in, ok := env.Institutions[code]; ok && in.Name != "" {
		return in.Name + "(" + code + ")"
	}
	return code
}

// place returns the city (and province when it is not the reference's) of an institution.
func (env *Env) place(code string) string {
	in, ok := env.Institutions[code]
	if !ok || in.Region == "" {
		return ""
	}
	if r, ok := env.Regions[in.Region.City()]; ok {
		return r.Name
	}
	return string(in.Region)
}

func (env *Env) drugName(code string) string {
	if d, ok := env.Drugs[code]; ok {
		return d.Name
	}
	if code == "" {
		return "(未知药品)"
	}
	return code
}

func yuan(f tracewatch.Fen) string { return f.String() }

func ref(e *tracewatch.Event) string { return e.MsgID + "#" + strconv.Itoa(e.Line) }

// codeOf names a scanned code in text: its identity when it has one, else the raw scan.
func codeOf(c *tracewatch.EventCode) string {
	if c.Key != "" {
		return c.Key
	}
	return c.Raw
}

// qtyText describes a sale line's quantity.
func qtyText(e *tracewatch.Event) string {
	if e.SplitPack {
		return "拆零 " + e.Qty.String() + " 个最小单位"
	}
	if e.Qty == 0 {
		return ""
	}
	return e.Qty.String() + " 盒"
}

// saleVerb names a sale-side event in Chinese.
func saleVerb(k tracewatch.EventKind) string {
	switch k {
	case tracewatch.EventSale:
		return "销售"
	case tracewatch.EventSettlement:
		return "医保结算"
	case tracewatch.EventSaleReturn:
		return "销售退货"
	case tracewatch.EventSettlementCancel:
		return "结算撤销"
	case tracewatch.EventPurchase:
		return "采购入库"
	case tracewatch.EventStocktake:
		return "盘存"
	case tracewatch.EventStockChange:
		return "库存变更"
	case tracewatch.EventPurchaseReturn:
		return "采购退货"
	}
	return string(k)
}

// lineEvidence describes one event line as evidence.
func (env *Env) lineEvidence(t *tracewatch.TimelineEntry) tracewatch.Evidence {
	note := when(t.Time) + " " + env.instName(t.Institution) + " " + saleVerb(t.Kind)
	if t.DrugCode != "" {
		note += " " + env.drugName(t.DrugCode)
	}
	if q := qtyText(&t.Event); q != "" {
		note += " " + q
	}
	if t.Settlement != "" {
		note += "，结算号 " + t.Settlement
	} else if t.Receipt != "" {
		note += "，单据号 " + t.Receipt
	}
	return tracewatch.Evidence{Time: t.Time, What: string(t.Kind), Institution: t.Institution, Ref: ref(&t.Event), Note: note}
}

// --- the amount at risk (涉及金额, docs/detectors.md) ---

// saleAmount is the sale amount of an event line: finl_trns_pric × quantity for a 3505
// line, the fee line's own amount (det_item_fee_sumamt) for a 2204/2301 line (else its
// price × quantity); 0 for the other events (a settlement states the fund's payment
// itself) or when the price is unknown.
//
// The quantity of a 拆零 line counts minimum units. Its price is taken as the price of
// one minimum unit (the synthetic province writes it so, and the fund share of the line
// is computed so) unless it is nearer the catalog's pack price than to its unit price:
// then it is a pack price and the amount is price × units / pack content.
func (env *Env) saleAmount(e *tracewatch.Event) tracewatch.Fen {
	switch e.Kind {
	case tracewatch.EventSale:
	case tracewatch.EventFeeLine:
		if e.Amount > 0 {
			return e.Amount
		}
	default:
		return 0
	}
	if e.UnitPrice <= 0 || e.Qty <= 0 {
		return 0
	}
	qty := float64(e.Qty) / float64(tracewatch.QtyScale)
	if d, ok := env.Drugs[e.DrugCode]; ok && e.SplitPack && packPriced(e.UnitPrice, d) {
		qty /= float64(d.PackContent)
	}
	f := math.Floor(float64(e.UnitPrice) * qty)
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return tracewatch.Fen(f)
}

// packPriced reports whether a 拆零 line's price is nearer the drug's pack price than
// its unit price (pack price / pack content). An unknown catalog price says no.
func packPriced(price tracewatch.Fen, d tracewatch.Drug) bool {
	if d.PackContent <= 1 || d.Price <= 0 {
		return false
	}
	p, pack := float64(price), float64(d.Price)
	return math.Abs(p-pack) < math.Abs(p-pack/float64(d.PackContent))
}

// saleSum adds up the sale amounts of the lines of a clue, each line (msgid#line) once:
// a line with several codes is read once per code.
type saleSum struct {
	total tracewatch.Fen
	seen  map[string]bool
}

func (s *saleSum) add(env *Env, e *tracewatch.Event) {
	a := env.saleAmount(e)
	if a == 0 {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	k := ref(e)
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	s.total += a
}

// lineAmount is the amount at risk of one sale seen on several lines (its 3505 line and
// the 2207 settlement carrying the same code, a code scanned twice): the largest fund
// payment and the largest sale amount of its lines, so that the sale counts once and a
// line that knows the amount is not hidden by one that does not.
type lineAmount struct {
	fund, sale tracewatch.Fen
}

func (a *lineAmount) add(env *Env, t *tracewatch.TimelineEntry) {
	a.fund, a.sale = max(a.fund, t.FundPaid), max(a.sale, env.saleAmount(&t.Event))
}

// setAmount sets a clue's amount and its basis: the fund's payment when the settlement
// is known (fund > 0), else the sale amount of the lines concerned, else 0 with no basis
// (neither is known).
func setAmount(c *tracewatch.Clue, fund, sale tracewatch.Fen) {
	switch {
	case fund > 0:
		c.AmountFen, c.AmountBasis = fund, tracewatch.AmountFund
	case sale > 0:
		c.AmountFen, c.AmountBasis = sale, tracewatch.AmountSale
	default:
		c.AmountFen, c.AmountBasis = 0, ""
	}
}

// amountText states a clue's amount for its explanation, naming its basis.
func amountText(c *tracewatch.Clue) string {
	switch c.AmountBasis {
	case tracewatch.AmountFund:
		return "基金支付 " + yuan(c.AmountFen) + " 元"
	case tracewatch.AmountSale:
		return "销售金额 " + yuan(c.AmountFen) + " 元（未见结算明细，按销售单价 × 数量计）"
	}
	return "金额不详（未见结算明细，销售单价未知）"
}
