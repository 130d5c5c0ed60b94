package rules

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
	"tracewatch/internal/tracecode"
)

// The real-time check (事中审核, DESIGN §7): the trace rules applied to one sale line at
// the counter, before settlement, from an in-memory index of the code ledger. A check
// reads the index and changes nothing; an accepted sale (3505, 2207) updates it through
// Apply before its answer is given, so the next check sees it.

// CheckLine is one line of a check request.
type CheckLine struct {
	DrugCode string         // med_list_codg billed
	Qty      tracewatch.Qty // packs, or minimum units when Split
	Split    bool           // trdn_flag 1 (拆零)
	Codes    []string       // the scans, as typed
}

// CheckRequest is a pharmacy's question before settling.
type CheckRequest struct {
	Institution string
	Person      string
	Receipt     string
	Time        time.Time
	Lines       []CheckLine
}

// Violation is one finding of the check, in the national 3101/3102 output's terms.
type Violation struct {
	Line     int    // 1-based line of the request
	Code     string // the scan it concerns, as typed ("" for a line-level finding)
	Key      string // its identity, when it parsed
	RuleID   string // detector id@version
	RuleName string // Chinese rule name
	Rule     string // the detector's sub-rule
	Severity tracewatch.Severity
	Content  string // vola_cont: what is wrong, for the pharmacist
	Evidence string // vola_evid: the facts behind it
	Behavior string // vola_bhvr_type: 1 重复销售, 2 串换, 3 无进货来源, 4 码异常, 5 协议状态
	Amount   tracewatch.Fen
}

// holding is where one box is, as far as sales say.
type holding struct {
	inst    int32 // institution index; -1: nobody
	units   tracewatch.Qty
	last    int64  // unix seconds of the last sale
	receipt uint32 // idHash of the receipt, person and settlement of the last sale
	person  uint32
	setl    uint32
	others  bool // sold at more than one institution with a positive net
}

// Index is the in-memory state the real-time check reads: per code identity, who holds
// it; per code, who received it; the code mapping, drugs and institutions.
type Index struct {
	mu       sync.RWMutex
	insts    []string
	instIdx  map[string]int32
	codes    codeTable          // holder and receiver per packed code id
	heldKey  map[string]holding // codes without a packed id
	recvKey  map[string]int32
	recvMany map[string][]int32 // key → every receiver, when more than one
	content  map[string]int64   // drug → pack content
	mapping  map[string]tracewatch.CodeMapping
	goods    map[string]tracewatch.CodeMapping // by commodity barcode
	env      *Env
	coverage map[string]float64
	ready    bool
	loading  int                  // loads in progress
	pending  [][]tracewatch.Event // accepted while the index loads
	// The rules the checks run (SetRules): per scan, and per request.
	scanRules, reqRules []counterRule
}

// IndexSource is what building an index reads.
type IndexSource interface {
	facts.Reader
	CodeMappings(ctx context.Context) (map[string]tracewatch.CodeMapping, error)
	Holdings(ctx context.Context, fn func(key string, h facts.Holding) error) error
	Receipts(ctx context.Context, fn func(key, institution string) error) error
}

// NewIndex returns an empty index (not ready) that runs the default rule base.
func NewIndex() *Index {
	x := newIndex()
	x.SetRules(DefaultBase().All())
	return x
}

// newIndex returns an empty index without rules.
func newIndex() *Index {
	return &Index{instIdx: map[string]int32{}, heldKey: map[string]holding{},
		recvKey: map[string]int32{}, recvMany: map[string][]int32{},
		content: map[string]int64{}, mapping: map[string]tracewatch.CodeMapping{}, goods: map[string]tracewatch.CodeMapping{},
		coverage: map[string]float64{}, env: &Env{Institutions: map[string]tracewatch.Institution{}, Drugs: map[string]tracewatch.Drug{},
			Regions: map[tracewatch.Region]tracewatch.RegionInfo{}}}
}

// Ready reports whether Load has finished.
func (x *Index) Ready() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.ready
}

// Size returns the number of codes held and received in the index.
func (x *Index) Size() (held, received int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	held, received = x.codes.counts()
	return held + len(x.heldKey), received + len(x.recvKey)
}

func (x *Index) inst(code string) int32 {
	if i, ok := x.instIdx[code]; ok {
		return i
	}
	i := int32(len(x.insts))
	x.insts = append(x.insts, code)
	x.instIdx[code] = i
	return i
}

// Load fills the index from the store: reference data, holdings and receipts, inbound
// coverage. Checks answer only once it has run (readyz). It builds a fresh index without
// holding the lock, so sales accepted meanwhile are not held up: Apply queues them, and
// they are applied on top when the load is swapped in.
func (x *Index) Load(ctx context.Context, src IndexSource) error {
	x.mu.Lock()
	x.loading++
	x.mu.Unlock()
	nx := newIndex()
	err := nx.build(ctx, src)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.loading--
	if err != nil {
		if x.loading == 0 && x.ready {
			x.pending = nil // already applied to the index in use
		}
		return err
	}
	x.insts, x.instIdx, x.codes, x.heldKey = nx.insts, nx.instIdx, nx.codes, nx.heldKey
	x.recvKey, x.recvMany = nx.recvKey, nx.recvMany
	x.content, x.mapping, x.goods, x.env, x.coverage = nx.content, nx.mapping, nx.goods, nx.env, nx.coverage
	pending := x.pending
	x.pending = nil
	for _, evs := range pending {
		x.applyLocked(evs)
	}
	x.ready = true
	return nil
}

// build fills a private index (no other goroutine sees it yet).
func (x *Index) build(ctx context.Context, src IndexSource) error {
	env, err := NewEnv(ctx, src, tracewatch.Window{}, time.Time{})
	if err != nil {
		return err
	}
	maps, err := src.CodeMappings(ctx)
	if err != nil {
		return err
	}
	covs, err := src.InboundCoverage(ctx, tracewatch.Window{})
	if err != nil {
		return err
	}
	x.env = env
	for _, d := range env.Drugs {
		x.content[d.Code] = d.PackContent
	}
	x.mapping = maps
	for _, m := range maps {
		if m.CommodityCode != "" {
			x.goods[m.CommodityCode] = m
		}
	}
	sums, _ := inboundCoverage(covs)
	for in, v := range sums {
		x.coverage[in] = v.rate()
	}
	// Packed codes are staged per group of the table's shards, then put in group by
	// group, on as many goroutines as the process may run (tableLoad).
	var load tableLoad
	err = src.Holdings(ctx, func(key string, h facts.Holding) error {
		hd := holding{inst: x.inst(h.Institution), units: h.Units, last: h.Last.Unix(), receipt: idHash(h.Receipt),
			person: idHash(h.Person), setl: idHash(h.Settlement), others: h.Others}
		if id, ok := tracewatch.PackedCodeID(key); ok {
			load.holding(id, hd)
		} else {
			x.setHolding(key, hd)
		}
		return nil
	})
	if err != nil {
		return err
	}
	workers := runtime.GOMAXPROCS(0)
	load.flushHoldings(&x.codes, workers)
	err = src.Receipts(ctx, func(key, in string) error {
		if id, ok := tracewatch.PackedCodeID(key); ok {
			load.receipt(id, x.inst(in))
		} else {
			x.addReceipt(key, x.inst(in))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var many sync.Mutex // recvMany, for the flush's workers
	load.flushReceipts(&x.codes, workers, func(id tracewatch.CodeID, in int32) {
		if old, ok := x.codes.addReceiver(id, in); ok {
			many.Lock()
			x.addMany(id, old, in)
			many.Unlock()
		}
	})
	return nil
}

func (x *Index) holdingOf(key string) (holding, bool) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		return x.codes.holding(id)
	}
	h, ok := x.heldKey[key]
	return h, ok
}

func (x *Index) setHolding(key string, h holding) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		x.codes.setHolding(id, h)
		return
	}
	if h.inst < 0 {
		delete(x.heldKey, key)
		return
	}
	x.heldKey[key] = h
}

func (x *Index) addReceipt(key string, in int32) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		x.addPackedReceipt(id, in)
		return
	}
	if old, ok := x.recvKey[key]; ok && old != in {
		x.recvMany[key] = appendUnique(x.recvMany[key], old, in)
		return
	}
	x.recvKey[key] = in
}

// addPackedReceipt records that institution in received the code of packed id.
func (x *Index) addPackedReceipt(id tracewatch.CodeID, in int32) {
	if old, ok := x.codes.addReceiver(id, in); ok {
		x.addMany(id, old, in)
	}
}

// addMany records old and in as receivers of the code of packed id.
func (x *Index) addMany(id tracewatch.CodeID, old, in int32) {
	key, _ := tracewatch.KeyOfPackedID(id)
	x.recvMany[key] = appendUnique(x.recvMany[key], old, in)
}

func appendUnique(s []int32, vs ...int32) []int32 {
	for _, v := range vs {
		found := false
		for _, o := range s {
			if o == v {
				found = true
				break
			}
		}
		if !found {
			s = append(s, v)
		}
	}
	return s
}

func (x *Index) received(key string, in int32) bool {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		if r, ok := x.codes.receiver(id); ok && r == in {
			return true
		}
	} else if r, ok := x.recvKey[key]; ok && r == in {
		return true
	}
	for _, r := range x.recvMany[key] {
		if r == in {
			return true
		}
	}
	return false
}

// Apply brings accepted events into the index: sales and settlements make their seller
// the holder, returns and cancels give the box back, inbound events record a receipt.
// Call it after the events are durable and before answering.
func (x *Index) Apply(events []tracewatch.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.loading > 0 || !x.ready {
		x.pending = append(x.pending, events) // applied again on top of the index being loaded
	}
	if x.ready {
		x.applyLocked(events)
	}
}

func (x *Index) applyLocked(events []tracewatch.Event) {
	for i := range events {
		e := &events[i]
		inbound, side := e.Inbound(), e.SaleSide()
		if !inbound && side == 0 {
			continue
		}
		in := x.inst(e.Institution)
		for _, c := range e.Codes {
			if c.Key == "" {
				continue
			}
			if inbound {
				x.addReceipt(c.Key, in)
				continue
			}
			content := x.content[c.DrugCode]
			if content <= 0 {
				content = x.content[e.DrugCode]
			}
			if content <= 0 {
				content = 1
			}
			q := tracewatch.Qty(content) * tracewatch.QtyScale
			if e.SplitPack {
				q = e.Qty
				if q <= 0 {
					q = 1
				}
			}
			h, ok := x.holdingOf(c.Key)
			if !ok {
				h = holding{inst: -1}
			}
			if side > 0 {
				if h.inst >= 0 && h.inst != in && h.units > 0 {
					h.others = true
				}
				if h.inst != in {
					h.units = 0
				}
				// The same sale reported twice (a 3505 and its 2207, by setl_id; a code
				// listed twice on one receipt) counts once, with the larger quantity.
				same := h.inst == in && ((e.Settlement != "" && h.setl == idHash(e.Settlement)) ||
					(e.Receipt != "" && h.receipt == idHash(e.Receipt)))
				switch {
				case !same:
					h.units += q
				case e.SplitPack && q > 1 && h.units < q:
					h.units = q // the 3505 brings the quantity its 2207 lacked
				}
				if e.Settlement != "" {
					h.setl = idHash(e.Settlement)
				}
				h.inst, h.last = in, e.Time.Unix()
				if e.Receipt != "" {
					h.receipt = idHash(e.Receipt)
				}
				if e.Person != "" {
					h.person = idHash(e.Person)
				}
			} else if h.inst == in {
				h.units -= q
				if h.units <= 0 {
					h = holding{inst: -1}
				}
			}
			x.setHolding(c.Key, h)
		}
	}
}

// Scan is what the index knows of one scan of a check request: the facts the counter
// rules judge it by.
type Scan struct {
	Req      *CheckRequest
	Line     int // 1-based line of the request
	Item     *CheckLine
	Raw      string         // the scan as typed
	Code     tracecode.Code // parsed (ParseErr nil)
	ParseErr error
	// Goods is the code mapping row of a commodity barcode scanned instead of a code
	// (IsGoods); Mapping the row of the code's product id (Mapped).
	Goods, Mapping  tracewatch.CodeMapping
	IsGoods, Mapped bool
	Content         int64 // minimum units per pack of the drug (1 when unknown)
	// Held: the index says another sale holds the box: Holder (institution) with
	// HeldUnits minimum units at HeldAt; SameSale when that sale had this request's
	// receipt or person.
	Held      bool
	Holder    string
	HeldUnits tracewatch.Qty
	HeldAt    time.Time
	SameSale  bool
	// KnownInstitution: the institution has facts in the index; Received: it received
	// the code (or its parent package); Coverage: its inbound code coverage (-1 unknown).
	KnownInstitution bool
	Received         bool
	Coverage         float64
}

// ScanChecker is a rule that also runs at the counter (事中): it judges one scan of a
// check request from the index's facts, with the parameters it screens with.
type ScanChecker interface {
	Rule
	CheckScan(env *Env, s *Scan, emit func(Violation))
}

// RequestChecker is a rule that judges a check request as a whole at the counter (C8:
// the institution's agreement).
type RequestChecker interface {
	Rule
	CheckRequest(env *Env, req *CheckRequest, emit func(Violation))
}

// counterOrder is the order the counter rules judge a scan in: the code itself (T4),
// the drug it maps to (T2), then its history (T1, T3).
var counterOrder = []string{"trace.anomaly", "trace.substitution", "trace.duplicate", "trace.nosource"}

// counterRule is a rule the checks run, with what its violations carry worked out once.
type counterRule struct {
	rule  Rule
	scan  ScanChecker
	req   RequestChecker
	entry *Entry // nil for a rule outside a rule base
	id    string
	title string
}

func newCounterRule(r Rule) counterRule {
	sp := r.Spec()
	e, _ := r.(*Entry)
	return counterRule{rule: r, scan: asScan(r), req: asRequest(r), entry: e, id: sp.ID(), title: sp.Title}
}

// emitTo returns emit for the rule's violations on a request of region: the rule's id
// and title, and a rule base entry's regions and severity cap applied.
func (c *counterRule) emitTo(region tracewatch.Region, out *[]Violation) func(Violation) {
	return func(v Violation) {
		if e := c.entry; e != nil {
			if !e.applies(region) {
				return
			}
			if e.Severity > 0 && v.Severity > e.Severity {
				v.Severity = e.Severity
			}
		}
		if v.RuleID == "" {
			v.RuleID = c.id
		}
		if v.RuleName == "" {
			v.RuleName = c.title
		}
		*out = append(*out, v)
	}
}

// SetRules sets the rules the checks run: those of rs that run at the counter and are
// enabled (rules of a rule base apply their regions and severity). NewIndex starts with
// the default rule base's.
func (x *Index) SetRules(rs []Rule) {
	var scans, reqs []counterRule
	enabled := func(r Rule) bool { e, ok := r.(*Entry); return !ok || e.Enabled }
	for _, name := range counterOrder {
		for _, r := range rs {
			if asScan(r) != nil && Name(r) == name && enabled(r) {
				scans = append(scans, newCounterRule(r))
			}
		}
	}
	for _, r := range rs {
		if asRequest(r) != nil && enabled(r) {
			reqs = append(reqs, newCounterRule(r))
		}
	}
	x.mu.Lock()
	x.scanRules, x.reqRules = scans, reqs
	x.mu.Unlock()
}

// Rules returns the rules the checks run.
func (x *Index) Rules() []Rule {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Rule
	for _, c := range append(append([]counterRule(nil), x.reqRules...), x.scanRules...) {
		out = append(out, c.rule)
	}
	return out
}

// AtCounter reports whether r also runs at the counter (a ScanChecker or a
// RequestChecker).
func AtCounter(r Rule) bool { return asScan(r) != nil || asRequest(r) != nil }

// asScan and asRequest unwrap a rule base entry.
func asScan(r Rule) ScanChecker {
	if e, ok := r.(*Entry); ok {
		r = e.Rule
	}
	c, _ := r.(ScanChecker)
	return c
}

func asRequest(r Rule) RequestChecker {
	if e, ok := r.(*Entry); ok {
		r = e.Rule
	}
	c, _ := r.(RequestChecker)
	return c
}

// Check answers a check request. It reads the index only.
func (x *Index) Check(req CheckRequest) []Violation {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Violation
	env := x.env
	region := env.Institutions[req.Institution].Region
	for i := range x.reqRules {
		c := &x.reqRules[i]
		c.req.CheckRequest(env, &req, c.emitTo(region, &out))
	}
	emits := make([]func(Violation), len(x.scanRules))
	for i := range x.scanRules {
		emits[i] = x.scanRules[i].emitTo(region, &out)
	}
	in, known := x.instIdx[req.Institution]
	cov, hasCov := x.coverage[req.Institution]
	if !hasCov {
		cov = -1
	}
	for li := range req.Lines {
		line := &req.Lines[li]
		for _, raw := range line.Codes {
			s := Scan{Req: &req, Line: li + 1, Item: line, Raw: raw, KnownInstitution: known, Coverage: cov}
			code, err := tracecode.Parse(raw)
			if err != nil {
				s.ParseErr = err
				s.Goods, s.IsGoods = x.goods[strings.TrimSpace(raw)]
			} else {
				s.Code = code
				s.Mapping, s.Mapped = x.mapping[code.ProductID]
				drug := s.Mapping.DrugCode
				if drug == "" {
					drug = line.DrugCode
				}
				s.Content = x.content[drug]
				if s.Content <= 0 {
					s.Content = 1
				}
				if h, ok := x.holdingOf(code.Key); ok && h.inst >= 0 && h.units > 0 {
					s.Held, s.Holder, s.HeldUnits, s.HeldAt = true, x.insts[h.inst], h.units, time.Unix(h.last, 0)
					s.SameSale = (req.Receipt != "" && idHash(req.Receipt) == h.receipt) || (req.Person != "" && idHash(req.Person) == h.person)
				}
				s.Received = known && x.received(code.Key, in)
			}
			for i := range x.scanRules {
				x.scanRules[i].scan.CheckScan(env, &s, emits[i])
			}
		}
	}
	return out
}
