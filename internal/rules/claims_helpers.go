package rules

import (
	"context"
	"sort"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// The claims detectors of the second wave (DESIGN §6): C1 限性别, C2 限年龄, C7 settlement
// after death and C8 settlement at a suspended institution. They read event lines with
// the person of the reference data; a person missing from it gives no clue.

// --- shared helpers ---

// claimKey names the settlement a line belongs to: its setl_id, else its receipt, else
// the line itself.
func claimKey(l *tracewatch.TimelineEntry) string {
	switch {
	case l.Settlement != "":
		return l.Settlement
	case l.Receipt != "":
		return l.Receipt
	}
	return ref(&l.Event)
}

// claimEvidence describes a line as evidence; fee lines (2204/2301) read as 费用明细.
func (env *Env) claimEvidence(l *tracewatch.TimelineEntry) tracewatch.Evidence {
	ev := env.lineEvidence(l)
	if l.Kind == tracewatch.EventFeeLine {
		ev.Note = strings.Replace(ev.Note, " "+string(tracewatch.EventFeeLine), " 上传费用明细", 1)
	}
	return ev
}

// genderText names a national gender code.
func genderText(g string) string {
	switch g {
	case "1":
		return "男"
	case "2":
		return "女"
	}
	return "性别不详"
}

// dateOf returns the calendar day of a DATE column (stored as midnight UTC).
func dateOf(t time.Time) (int, time.Month, int) {
	return t.UTC().Date()
}

// ageAt returns the age in completed years at t (business time zone) of a person born on
// birth (a date).
func ageAt(birth, t time.Time) int {
	by, bm, bd := dateOf(birth)
	y, m, d := t.In(cst).Date()
	a := y - by
	if m < bm || m == bm && d < bd {
		a--
	}
	return a
}

// personClues gathers the clues of one detector keyed by person × settlement.
type personClues struct {
	id    string
	clues map[string]*tracewatch.Clue
	order []string
	drugs map[string]map[string]tracewatch.Fen // fingerprint → drug → largest fund share
	sales map[string]map[string]tracewatch.Fen // fingerprint → drug → largest sale amount
}

func newPersonClues(id string) *personClues {
	return &personClues{id: id, clues: map[string]*tracewatch.Clue{}, drugs: map[string]map[string]tracewatch.Fen{},
		sales: map[string]map[string]tracewatch.Fen{}}
}

// add returns the clue of the line's person and settlement (new when first seen) after
// adding the line's keys and evidence to it.
func (pc *personClues) add(env *Env, l *tracewatch.TimelineEntry, rule string) (c *tracewatch.Clue, isNew bool) {
	key := claimKey(l)
	fp := tracewatch.ClueFingerprint(pc.id, tracewatch.SubjectPerson, l.Person, key)
	c = pc.clues[fp]
	if c == nil {
		c = &tracewatch.Clue{Fingerprint: fp, Rule: rule, Subject: tracewatch.SubjectPerson, SubjectID: l.Person,
			Institution: l.Institution}
		pc.clues[fp] = c
		pc.drugs[fp] = map[string]tracewatch.Fen{}
		pc.sales[fp] = map[string]tracewatch.Fen{}
		pc.order = append(pc.order, fp)
		isNew = true
	}
	c.Persons = append(c.Persons, l.Person)
	if l.Settlement != "" {
		c.Settlements = append(c.Settlements, l.Settlement)
	}
	if l.Receipt != "" {
		c.Receipts = append(c.Receipts, l.Receipt)
	}
	c.Evidence = append(c.Evidence, env.claimEvidence(l))
	if f, ok := pc.drugs[fp][l.DrugCode]; !ok || l.FundPaid > f {
		pc.drugs[fp][l.DrugCode] = l.FundPaid
	}
	pc.sales[fp][l.DrugCode] = max(pc.sales[fp][l.DrugCode], env.saleAmount(&l.Event))
	return c, isNew
}

// drugList names the drugs of a clue, in catalog-code order, and sums their fund shares
// and their sale amounts (a drug on both its 3505 line and its fee line counts once).
func (pc *personClues) drugList(env *Env, fp string) (names string, fund, sale tracewatch.Fen) {
	var codes []string
	for code, f := range pc.drugs[fp] {
		codes = append(codes, code)
		fund += f
		sale += pc.sales[fp][code]
	}
	sort.Strings(codes)
	list := make([]string, 0, len(codes))
	seen := map[string]bool{}
	for _, code := range codes {
		if n := env.drugName(code); !seen[n] {
			seen[n] = true
			list = append(list, n)
		}
	}
	return strings.Join(list, "、"), fund, sale
}

func (pc *personClues) emit(emit func(tracewatch.Clue)) {
	for _, fp := range pc.order {
		emit(*pc.clues[fp])
	}
}

// settlementText names a clue's settlement for an explanation.
func settlementText(l *tracewatch.TimelineEntry) string {
	switch {
	case l.Settlement != "":
		return "结算号 " + l.Settlement
	case l.Receipt != "":
		return "单据号 " + l.Receipt
	}
	return "报文 " + ref(&l.Event)
}

// --- C1 ---

// saleLines reads the insured lines of w of the drugs given (nil: all) that keep accepts
// (nil: all), those with a time and a positive quantity, each purchase once: a sale both a
// 3505 row and a 2204/2301 fee line report (one institution, settlement and drug) counts
// by its 3505 rows, which state whether it was 拆零; a fee line re-sent under the same
// visit and fee line number (a basket cancelled and settled again) counts once. The
// lines stay in InsuredLines' order (time).
func saleLines(ctx context.Context, env *Env, w tracewatch.Window, drugs []string, keep func(*tracewatch.TimelineEntry) bool) ([]*tracewatch.TimelineEntry, error) {
	// Each line is kept by pointer (InsuredLines hands over a line of its own per call):
	// at a province's scale (10^6 lines of 744 bytes) a slice of values spent more time
	// copying itself as it grew than the rule judging it.
	return saleLinesOf(ctx, env, w, drugs, keep, false, func(l *tracewatch.TimelineEntry) *tracewatch.TimelineEntry { return l })
}

// saleLinesOf is saleLines keeping of each line only what project makes of it, so that
// a rule that needs a few figures of 10^6 lines does not hold the lines. transient says
// that neither keep nor project keeps the line's pointer (a projection that keeps a line
// copies it): the reader then hands over the same entry every time.
func saleLinesOf[T any](ctx context.Context, env *Env, w tracewatch.Window, drugs []string, keep func(*tracewatch.TimelineEntry) bool,
	transient bool, project func(*tracewatch.TimelineEntry) T) ([]T, error) {
	type sale struct{ inst, setl, drug string }
	type feeLine struct{ inst, visit, line, drug string }
	type held struct {
		fee        bool // a fee line: counted unless its purchase is counted otherwise
		sale       sale
		visit, row string
		v          T
	}
	// Held in chunks: one slice of 10^6 lines spent a second copying itself as it grew.
	const chunk = 1 << 14
	var all [][]held
	n := 0
	reported := map[sale]bool{}
	q := facts.LineQuery{Window: w, Drugs: drugs, NoPerson: true, Transient: transient}
	err := env.Src.InsuredLines(ctx, q, func(l *tracewatch.TimelineEntry, _ tracewatch.Person) error {
		if l.Time.IsZero() || l.Qty <= 0 || (keep != nil && !keep(l)) {
			return ctx.Err()
		}
		h := held{fee: l.Kind == tracewatch.EventFeeLine, sale: sale{l.Institution, l.Settlement, l.DrugCode}, v: project(l)}
		if l.Kind == tracewatch.EventSale && l.Settlement != "" {
			reported[h.sale] = true
		}
		if h.fee {
			h.visit, h.row = l.Visit, l.FeeLine
		}
		if len(all) == 0 || len(all[len(all)-1]) == chunk {
			all = append(all, make([]held, 0, chunk))
		}
		all[len(all)-1] = append(all[len(all)-1], h)
		n++
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, n)
	seenFee := map[feeLine]bool{}
	for _, c := range all {
		for i := range c {
			h := &c[i]
			if h.fee {
				if reported[h.sale] {
					continue
				}
				if h.visit != "" && h.row != "" {
					fk := feeLine{h.sale.inst, h.visit, h.row, h.sale.drug}
					if seenFee[fk] {
						continue
					}
					seenFee[fk] = true
				}
			}
			out = append(out, h.v)
		}
	}
	return out, nil
}
