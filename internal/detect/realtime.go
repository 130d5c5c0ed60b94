package detect

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"tracewatch"
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
	last    int64 // unix seconds of the last sale
	receipt uint32
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
	held     map[tracewatch.CodeID]holding
	heldKey  map[string]holding // codes without a packed id
	recv     map[tracewatch.CodeID]int32
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
}

// IndexSource is what building an index reads.
type IndexSource interface {
	Source
	CodeMappings(ctx context.Context) (map[string]tracewatch.CodeMapping, error)
	Holdings(ctx context.Context, fn func(key string, h tracewatch.Holding) error) error
	Receipts(ctx context.Context, fn func(key, institution string) error) error
}

// NewIndex returns an empty index (not ready).
func NewIndex() *Index {
	return &Index{instIdx: map[string]int32{}, held: map[tracewatch.CodeID]holding{}, heldKey: map[string]holding{},
		recv: map[tracewatch.CodeID]int32{}, recvKey: map[string]int32{}, recvMany: map[string][]int32{},
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
	return len(x.held) + len(x.heldKey), len(x.recv) + len(x.recvKey)
}

func hash32(s string) uint32 {
	if s == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32() | 1
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
	nx := NewIndex()
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
	x.insts, x.instIdx, x.held, x.heldKey = nx.insts, nx.instIdx, nx.held, nx.heldKey
	x.recv, x.recvKey, x.recvMany = nx.recv, nx.recvKey, nx.recvMany
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
	err = src.Holdings(ctx, func(key string, h tracewatch.Holding) error {
		x.setHolding(key, holding{inst: x.inst(h.Institution), units: h.Units, last: h.Last.Unix(), receipt: hash32(h.Receipt),
			person: hash32(h.Person), setl: hash32(h.Settlement), others: h.Others})
		return nil
	})
	if err != nil {
		return err
	}
	return src.Receipts(ctx, func(key, in string) error {
		x.addReceipt(key, x.inst(in))
		return nil
	})
}

func (x *Index) holdingOf(key string) (holding, bool) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		h, ok := x.held[id]
		return h, ok
	}
	h, ok := x.heldKey[key]
	return h, ok
}

func (x *Index) setHolding(key string, h holding) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		if h.inst < 0 {
			delete(x.held, id)
			return
		}
		x.held[id] = h
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
		if old, ok := x.recv[id]; ok && old != in {
			x.recvMany[key] = appendUnique(x.recvMany[key], old, in)
			return
		}
		x.recv[id] = in
		return
	}
	if old, ok := x.recvKey[key]; ok && old != in {
		x.recvMany[key] = appendUnique(x.recvMany[key], old, in)
		return
	}
	x.recvKey[key] = in
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
		if r, ok := x.recv[id]; ok && r == in {
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
				same := h.inst == in && ((e.Settlement != "" && h.setl == hash32(e.Settlement)) ||
					(e.Receipt != "" && h.receipt == hash32(e.Receipt)))
				switch {
				case !same:
					h.units += q
				case e.SplitPack && q > 1 && h.units < q:
					h.units = q // the 3505 brings the quantity its 2207 lacked
				}
				if e.Settlement != "" {
					h.setl = hash32(e.Settlement)
				}
				h.inst, h.last = in, e.Time.Unix()
				if e.Receipt != "" {
					h.receipt = hash32(e.Receipt)
				}
				if e.Person != "" {
					h.person = hash32(e.Person)
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

// Check answers a check request. It reads the index only.
func (x *Index) Check(req CheckRequest) []Violation {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Violation
	env := x.env
	in, known := x.instIdx[req.Institution]
	if inst, ok := env.Institutions[req.Institution]; ok {
		if st := inst.AgreementAt(req.Time); st != tracewatch.AgreementNormal {
			name := map[tracewatch.AgreementStatus]string{tracewatch.AgreementSuspended: "中止", tracewatch.AgreementTerminated: "解除"}[st]
			out = append(out, Violation{RuleID: "claims.suspended@1", RuleName: "协议状态异常", Rule: string(st),
				Severity: tracewatch.SeverityViolation, Behavior: "5",
				Content:  fmt.Sprintf("%s 的医保协议处于%s状态，不得医保结算", env.instName(req.Institution), name),
				Evidence: fmt.Sprintf("协议状态 %s（%s）", st, req.Time.In(cst).Format("2006-01-02"))})
		}
	}
	for li, line := range req.Lines {
		n := li + 1
		for _, raw := range line.Codes {
			v := Violation{Line: n, Code: raw}
			code, err := tracecode.Parse(raw)
			if err != nil {
				ec := tracecode.CodeOf(err)
				v.RuleID, v.RuleName, v.Severity, v.Behavior = "trace.anomaly@1", "追溯码异常", tracewatch.SeverityNotice, "4"
				v.Rule = "malformed"
				if ec == tracecode.ErrNotTraceCode {
					v.Rule = "commodity_barcode"
				}
				v.Content = "请重新扫描药盒上的追溯码并与实物核对：" + anomalyText[v.Rule]
				v.Evidence = err.Error()
				out = append(out, v)
				if m, ok := x.goods[strings.TrimSpace(raw)]; ok && line.DrugCode != "" {
					if r, sev, ok := substitution(env, m.DrugCode, line.DrugCode); ok {
						out = append(out, x.substitutionViolation(n, raw, "", m.DrugCode, line.DrugCode, r, sev))
					}
				}
				continue
			}
			v.Key = code.Key
			m, mapped := x.mapping[code.ProductID]
			switch {
			case !mapped:
				v.RuleID, v.RuleName, v.Severity, v.Behavior, v.Rule = "trace.anomaly@1", "追溯码异常", tracewatch.SeverityNotice, "4", "unknown_product"
				v.Content = "请重新扫描药盒上的追溯码并与实物核对：" + anomalyText["unknown_product"]
				v.Evidence = "药品标识码 " + code.ProductID
				out = append(out, v)
			case line.DrugCode != "":
				if r, sev, ok := substitution(env, m.DrugCode, line.DrugCode); ok {
					out = append(out, x.substitutionViolation(n, raw, code.Key, m.DrugCode, line.DrugCode, r, sev))
				}
			}
			if !code.Expiry.IsZero() && !req.Time.Before(code.Expiry.In(cst).AddDate(0, 0, 1)) {
				out = append(out, Violation{Line: n, Code: raw, Key: code.Key, RuleID: "trace.anomaly@1", RuleName: "追溯码异常",
					Rule: "expired", Severity: tracewatch.SeverityHighlySuspicious, Behavior: "4",
					Content:  "该盒药品已过有效期，不得销售",
					Evidence: "追溯码有效期至 " + code.Expiry.String()})
			}
			// T1: the box is held elsewhere, or beyond its content here.
			drug := m.DrugCode
			if drug == "" {
				drug = line.DrugCode
			}
			content := x.content[drug]
			if content <= 0 {
				content = 1
			}
			if h, ok := x.holdingOf(code.Key); ok && h.inst >= 0 && h.units > 0 {
				holder := x.insts[h.inst]
				at := time.Unix(h.last, 0)
				q := tracewatch.Qty(content) * tracewatch.QtyScale
				if line.Split {
					q = line.Qty
				}
				switch {
				case holder != req.Institution:
					cls, where := pairClass(env, holder, req.Institution)
					out = append(out, Violation{Line: n, Code: raw, Key: code.Key, RuleID: "trace.duplicate@1", RuleName: "重复销售",
						Rule: cls, Severity: tracewatch.SeverityHighlySuspicious, Behavior: "1",
						Content:  fmt.Sprintf("追溯码 %s 对应的药品已于 %s 在 %s 销售（%s），同一盒药不能再次销售", code.Key, when(at), env.instName(holder), where),
						Evidence: fmt.Sprintf("已售机构 %s，销售时间 %s", holder, at.In(cst).Format("2006-01-02 15:04:05"))})
				case (req.Receipt != "" && hash32(req.Receipt) == h.receipt) || (req.Person != "" && hash32(req.Person) == h.person):
					out = append(out, Violation{Line: n, Code: raw, Key: code.Key, RuleID: "trace.duplicate@1", RuleName: "重复销售",
						Rule: "double_scan", Severity: tracewatch.SeverityNotice, Behavior: "1",
						Content:  fmt.Sprintf("追溯码 %s 已在本单据或本参保人的销售中扫描（%s），如为同一笔销售请勿重复上传", code.Key, when(at)),
						Evidence: fmt.Sprintf("本机构销售时间 %s", at.In(cst).Format("2006-01-02 15:04:05"))})
				case h.units+q > tracewatch.Qty(content)*tracewatch.QtyScale:
					out = append(out, Violation{Line: n, Code: raw, Key: code.Key, RuleID: "trace.duplicate@1", RuleName: "重复销售",
						Rule: "over_content", Severity: tracewatch.SeveritySuspicious, Behavior: "1",
						Content:  fmt.Sprintf("追溯码 %s 已于 %s 在本机构售出，本次销售将超过一盒的装量（%d 个最小单位）", code.Key, when(at), content),
						Evidence: fmt.Sprintf("本机构销售时间 %s", at.In(cst).Format("2006-01-02 15:04:05"))})
				}
			}
			// T3: never received here, where the institution scans its inbound codes.
			if known && x.coverage[req.Institution] >= 0.95 && !x.received(code.Key, in) {
				out = append(out, Violation{Line: n, Code: raw, Key: code.Key, RuleID: "trace.nosource@1", RuleName: "无进货来源",
					Rule: "no_source", Severity: tracewatch.SeveritySuspicious, Behavior: "3",
					Content:  fmt.Sprintf("追溯码 %s 没有本机构的采购、调入或盘存记录", code.Key),
					Evidence: fmt.Sprintf("本机构进货追溯码采集率 %.1f%%", x.coverage[req.Institution]*100)})
			}
		}
	}
	return out
}

func (x *Index) substitutionViolation(line int, raw, key, mapped, billed, rule string, sev tracewatch.Severity) Violation {
	env := x.env
	return Violation{Line: line, Code: raw, Key: key, RuleID: "trace.substitution@1", RuleName: "串换", Rule: rule,
		Severity: sev, Behavior: "2",
		Content:  fmt.Sprintf("扫描的追溯码对应 %s，与结算的 %s 不符（%s）", env.drugName(mapped), env.drugName(billed), substitutionRuleText[rule]),
		Evidence: fmt.Sprintf("追溯码产品 %s，结算项目 %s", mapped, billed)}
}
