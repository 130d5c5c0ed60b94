// Package ingest turns received NHSA messages into durable facts: decode (internal/nhsa),
// validate, identify every trace code (internal/tracecode), map it to its drug (三码合一),
// expand scanned parent packages into their children (级联), and hand the store one batch.
// Refused rows and messages go to the quarantine with their reason; nothing accepted is
// lost and a replayed msgid changes nothing.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/tracecode"
)

// Codes is what identification needs from the store: the code mapping, the package
// links, and what the links prove about product ids. tracewatch.Store satisfies it.
type Codes interface {
	CodeMappings(ctx context.Context) (map[string]tracewatch.CodeMapping, error)
	PackageChildren(ctx context.Context, parents []string) (map[string][]string, error)
	PackOrders(ctx context.Context) ([]tracewatch.PackOrder, error)
}

// Ingester prepares messages for the store. It caches the code mapping and the product
// ids that package others; call Reload after the mapping or the package links change.
type Ingester struct {
	codes   Codes
	mu      sync.RWMutex
	maps    map[string]tracewatch.CodeMapping
	goods   map[string]tracewatch.CodeMapping // by commodity barcode (商品码)
	parents map[string]bool                   // product ids whose codes contain others (tracewatch.ParentProducts)
}

// New returns an Ingester that identifies codes with the mapping of codes.
func New(ctx context.Context, codes Codes) (*Ingester, error) {
	in := &Ingester{codes: codes}
	return in, in.Reload(ctx)
}

// Reload re-reads the code mapping and the product ids the package links prove to be
// packages of others.
func (in *Ingester) Reload(ctx context.Context) error {
	m, err := in.codes.CodeMappings(ctx)
	if err != nil {
		return err
	}
	orders, err := in.codes.PackOrders(ctx)
	if err != nil {
		return err
	}
	goods := map[string]tracewatch.CodeMapping{}
	for _, cm := range m {
		if cm.CommodityCode != "" {
			goods[cm.CommodityCode] = cm
		}
	}
	parents := tracewatch.ParentProducts(orders)
	in.mu.Lock()
	in.maps, in.goods, in.parents = m, goods, parents
	in.mu.Unlock()
	return nil
}

// isParent reports whether codes of a product id may contain others, so that their
// children are looked up: its codemap row states a level above 1, or the package links
// prove it above another product id. A code of any other product is not looked up (the
// lookup costs a query per batch), even if the codemap states no level for it.
func isParent(productID string, maps map[string]tracewatch.CodeMapping, parents map[string]bool) bool {
	return maps[productID].PackLevel > 1 || parents[productID]
}

// Prepared is one message ready to commit, with the answer to give once it is durable.
type Prepared struct {
	Message    tracewatch.MessageRecord
	Events     []tracewatch.Event
	Quarantine []tracewatch.QuarantineRow
	Response   nhsa.Response
	Refused    bool // the whole message was refused (infcode -1)
}

// Prepare decodes and identifies one message. raw is the message as received (kept in
// the quarantine when something is refused). A message-level problem or, for the
// single-row interfaces, any bad row refuses the whole message; the batch (…A)
// interfaces keep the good rows and report the bad ones in output.
func (in *Ingester) Prepare(ctx context.Context, req nhsa.Request, raw []byte, source string, received, now time.Time) (*Prepared, error) {
	p, parents, err := in.prepare(req, false, raw, source, received, now)
	if err != nil || len(parents) == 0 {
		return p, err
	}
	kids, err := in.children(ctx, parents)
	if err != nil {
		return nil, err
	}
	in.expand(p.Events, kids)
	return p, nil
}

// prepare is Prepare without the package links: it returns the parent codes whose
// children the message's events still need (children, then expand). checked says that
// req came from nhsa.DecodeRequest without an error (nhsa.DecodeChecked).
func (in *Ingester) prepare(req nhsa.Request, checked bool, raw []byte, source string, received, now time.Time) (*Prepared, []string, error) {
	p := &Prepared{Message: tracewatch.MessageRecord{MsgID: req.MsgID, Infno: req.Infno, Institution: req.FixmedinsCode, Source: source, Received: received}}
	quarantine := func(row int, field, reason string) {
		p.Quarantine = append(p.Quarantine, tracewatch.QuarantineRow{MsgID: req.MsgID, Infno: req.Infno, Institution: req.FixmedinsCode,
			Source: source, Row: row, Field: field, Reason: reason, Payload: raw, Received: received})
	}
	decode := nhsa.Decode
	if checked {
		decode = nhsa.DecodeChecked
	}
	events, rowErrs, err := decode(req)
	if err != nil {
		p.Refused = true
		p.Response = nhsa.Fail(req, nhsa.Reason(err), received, now)
		quarantine(0, fieldOf(err), nhsa.Reason(err))
		p.Message.Rejected = 1
		return p, nil, p.finish()
	}
	batch := strings.HasSuffix(req.Infno, "A")
	if len(rowErrs) > 0 && !batch {
		p.Refused = true
		msgs := make([]string, len(rowErrs))
		for i, e := range rowErrs {
			msgs[i] = e.Field + ": " + e.Msg
			quarantine(e.Row, e.Field, e.Msg)
		}
		p.Response = nhsa.Fail(req, strings.Join(msgs, "; "), received, now)
		p.Message.Rejected = len(rowErrs)
		return p, nil, p.finish()
	}
	for _, e := range rowErrs {
		quarantine(e.Row, e.Field, e.Msg)
	}
	parents := in.identify(events)
	p.Events = events
	p.Message.Accepted = len(events)
	p.Message.Rejected = len(rowErrs)
	var output any
	if batch {
		output = nhsa.BatchOutput(req.Infno, len(events), rowErrs)
	}
	p.Response = nhsa.OK(req, output, received, now)
	return p, parents, p.finish()
}

func (p *Prepared) finish() error {
	b, err := json.Marshal(p.Response)
	if err != nil {
		return tracewatch.E("ingest.Prepare", tracewatch.KindInternal, err)
	}
	p.Message.Response = b
	return nil
}

// fieldOf extracts the field a message-level error names, when it names one.
func fieldOf(err error) string {
	var e *tracewatch.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// identify parses every code and maps it to its drug, and returns the codes that are
// parent packages: a code with children in the package links is recorded with them
// (children, then expand: each child with Parent set), whether the codemap states its
// level or the links prove it (isParent).
func (in *Ingester) identify(events []tracewatch.Event) []string {
	in.mu.RLock()
	maps, goods, pars := in.maps, in.goods, in.parents
	in.mu.RUnlock()
	var parents []string
	for i := range events {
		e := &events[i]
		for j := range e.Codes {
			c := &e.Codes[j]
			code, err := tracecode.Parse(c.Raw)
			if err != nil {
				c.Error = string(tracecode.CodeOf(err))
				if c.Error == "" {
					c.Error = "bad_format"
				}
				// A commodity barcode scanned instead of the trace code still says
				// which product was handed over: keep its mapping for the
				// substitution check (a cosmetic's barcode billed as a drug).
				if m, ok := goods[strings.TrimSpace(c.Raw)]; ok && c.Error == string(tracecode.ErrNotTraceCode) {
					c.ProductID, c.DrugCode = m.CommodityCode, m.DrugCode
				}
				continue
			}
			c.Key, c.Kind, c.ProductID = code.Key, code.Kind.String(), code.ProductID
			if !code.Expiry.IsZero() {
				c.Expires = code.Expiry.In(nhsa.CST)
			}
			if m, ok := maps[code.ProductID]; ok {
				c.DrugCode, c.Level = m.DrugCode, m.PackLevel
			}
			if isParent(code.ProductID, maps, pars) {
				parents = append(parents, code.Key)
			}
		}
	}
	return parents
}

// children fetches the children of parents level by level: a carton (3) holds boxes
// (2) holding packs (1).
func (in *Ingester) children(ctx context.Context, parents []string) (map[string][]string, error) {
	in.mu.RLock()
	maps, pars := in.maps, in.parents
	in.mu.RUnlock()
	kids := map[string][]string{}
	slices.Sort(parents) // the same carton may come in many messages of a chunk
	parents = slices.Compact(parents)
	for depth := 0; len(parents) > 0 && depth < 3; depth++ {
		got, err := in.codes.PackageChildren(ctx, parents)
		if err != nil {
			return nil, err
		}
		parents = parents[:0]
		for p, ks := range got {
			kids[p] = ks
			for _, k := range ks {
				if code, err := tracecode.Parse(k); err == nil && isParent(code.ProductID, maps, pars) {
					if _, done := kids[k]; !done {
						parents = append(parents, k)
					}
				}
			}
		}
	}
	return kids, nil
}

// expand adds to events the children kids gives their codes (each with Parent set).
func (in *Ingester) expand(events []tracewatch.Event, kids map[string][]string) {
	in.mu.RLock()
	maps := in.maps
	in.mu.RUnlock()
	for i := range events {
		e := &events[i]
		n := len(e.Codes)
		for j := 0; j < n; j++ {
			c := e.Codes[j]
			for _, k := range expand(kids, c.Key, 0) {
				child := tracewatch.EventCode{Raw: k, Key: k, Parent: c.Key}
				if code, err := tracecode.Parse(k); err == nil {
					child.Kind, child.ProductID = code.Kind.String(), code.ProductID
					if m, ok := maps[code.ProductID]; ok {
						child.DrugCode, child.Level = m.DrugCode, m.PackLevel
					}
				}
				e.Codes = append(e.Codes, child)
			}
		}
	}
}

// expand returns the sales-pack descendants of key (children of children, for a level-3
// carton holding level-2 boxes), depth-limited against cyclic links.
func expand(kids map[string][]string, key string, depth int) []string {
	if depth > 3 {
		return nil
	}
	var out []string
	for _, k := range kids[key] {
		if sub := expand(kids, k, depth+1); len(sub) > 0 {
			out = append(out, k)
			out = append(out, sub...)
			continue
		}
		out = append(out, k)
	}
	return out
}
