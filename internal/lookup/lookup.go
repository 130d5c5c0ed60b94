// Package lookup answers "what happened to this box?" (追溯信息查询): the identity of a
// scanned code, its drug, the ordered timeline of every event, and the ledger figures.
// The CLI (tracewatch trace) and the API (GET /api/v1/codes/{code}) print the same View.
package lookup

import (
	"context"
	"errors"
	"sort"
	"time"

	"tracewatch"
	"tracewatch/internal/tracecode"
)

// Store is what a lookup reads.
type Store interface {
	Timeline(ctx context.Context, key string) ([]tracewatch.TimelineEntry, error)
	Ledger(ctx context.Context, key string) (tracewatch.LedgerEntry, error)
	Drug(ctx context.Context, code string) (tracewatch.Drug, error)
	CodeMappings(ctx context.Context) (map[string]tracewatch.CodeMapping, error)
}

// View is the JSON answer of a trace lookup. Keys are a public contract: add, never
// rename (docs/api.md).
type View struct {
	Input        string   `json:"input"`
	Key          string   `json:"key"`
	Kind         string   `json:"kind"`
	Normalized   string   `json:"normalized"` // the canonical printable form (GS1: the bracketed element string)
	ProductID    string   `json:"product_id,omitempty"`
	Serial       string   `json:"serial,omitempty"`
	PackLevel    int      `json:"pack_level,omitempty"` // 1 小码 (sales pack), 2 中码, 3 大码; 0 unknown
	Drug         *Drug    `json:"drug,omitempty"`
	SoldNet      float64  `json:"sold_net"`
	SaleEvents   int      `json:"sale_events"`
	Sales        int      `json:"sales"`
	Returns      int      `json:"returns"`
	FirstSeller  string   `json:"first_seller,omitempty"`
	FirstSale    string   `json:"first_sale,omitempty"`
	Institutions []string `json:"institutions"`
	ReceivedAt   []string `json:"received_at"`
	Timeline     []Entry  `json:"timeline"`
}

// Drug is the drug a code maps to.
type Drug struct {
	Code        string `json:"med_list_codg"`
	Name        string `json:"name,omitempty"`
	Spec        string `json:"spec,omitempty"`
	PackContent int64  `json:"pack_content,omitempty"`
}

// Entry is one event of the timeline. Person data is masked.
type Entry struct {
	Time        string `json:"time"`
	Kind        string `json:"kind"`
	Infno       string `json:"infno"`
	MsgID       string `json:"msgid"`
	Line        int    `json:"line"`
	Institution string `json:"institution"`
	DrugCode    string `json:"med_list_codg,omitempty"`
	Quantity    string `json:"quantity"`
	SplitPack   bool   `json:"split_pack,omitempty"`
	Receipt     string `json:"receipt,omitempty"`
	Settlement  string `json:"settlement,omitempty"`
	Person      string `json:"person,omitempty"`
	Certno      string `json:"certno_masked,omitempty"`
	Scanned     string `json:"scanned"`
	Via         string `json:"via_parent,omitempty"`
	ChangeType  string `json:"inv_chg_type,omitempty"`
	// WithdrawnBy is the msgid of the 3507 that withdrew this row: kept for audit, it
	// counts for nothing (docs/ledger.md).
	WithdrawnBy string `json:"withdrawn_by,omitempty"`
}

// ErrNotTraceCode wraps the identification error of an input that is not a trace code.
var ErrNotTraceCode = errors.New("not a trace code")

// Lookup identifies input (any printed form) and gathers its history. An input that
// does not identify a code is a KindInvalid error; a code never seen gives a View with
// an empty timeline.
func Lookup(ctx context.Context, st Store, input string) (View, error) {
	code, err := tracecode.Parse(input)
	if err != nil {
		return View{}, tracewatch.E("lookup.Lookup", tracewatch.KindInvalid, err)
	}
	v := View{Input: input, Key: code.Key, Kind: code.Kind.String(), Normalized: code.Normalized(), ProductID: code.ProductID, Serial: code.Serial,
		Institutions: []string{}, ReceivedAt: []string{}, Timeline: []Entry{}}
	tl, err := st.Timeline(ctx, code.Key)
	if err != nil {
		return v, err
	}
	insts := map[string]bool{}
	recv := map[string]bool{}
	var drugCode string
	for _, t := range tl {
		e := Entry{Time: formatTime(t.Time), Kind: string(t.Kind), Infno: t.Infno, MsgID: t.MsgID, Line: t.Line, Institution: t.Institution,
			DrugCode: t.DrugCode, Quantity: t.Qty.String(), SplitPack: t.SplitPack, Receipt: t.Receipt, Settlement: t.Settlement,
			Person: t.Person, Certno: t.CertnoMasked, Scanned: t.Code.Raw, Via: t.Code.Parent, ChangeType: t.ChangeType,
			WithdrawnBy: t.WithdrawnBy}
		v.Timeline = append(v.Timeline, e)
		if t.WithdrawnBy != "" {
			continue // withdrawn: shown, not counted
		}
		insts[t.Institution] = true
		if t.Inbound() {
			recv[t.Institution] = true
		}
		if t.SaleSide() > 0 {
			v.SaleEvents++
		}
		if drugCode == "" {
			drugCode = t.Code.DrugCode
		}
		if v.PackLevel == 0 {
			v.PackLevel = t.Code.Level
		}
	}
	v.Institutions, v.ReceivedAt = sorted(insts), sorted(recv)
	if l, err := st.Ledger(ctx, code.Key); err == nil {
		v.SoldNet, v.Sales, v.Returns, v.FirstSeller = l.SoldNet(), l.Sales, l.Returns, l.FirstSeller
		v.FirstSale = formatTime(l.FirstSale)
	} else if tracewatch.KindOf(err) != tracewatch.KindNotFound {
		return v, err
	}
	if drugCode == "" || v.PackLevel == 0 {
		if maps, err := st.CodeMappings(ctx); err == nil {
			m := maps[code.ProductID]
			if drugCode == "" {
				drugCode = m.DrugCode
			}
			if v.PackLevel == 0 {
				v.PackLevel = m.PackLevel
			}
		}
	}
	if drugCode != "" {
		v.Drug = &Drug{Code: drugCode}
		if d, err := st.Drug(ctx, drugCode); err == nil {
			v.Drug.Name, v.Drug.Spec, v.Drug.PackContent = d.Name, d.Spec, d.PackContent
		}
	}
	return v, nil
}

var cst = tracewatch.Beijing

// formatTime prints an instant in the business time zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02 15:04:05")
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
