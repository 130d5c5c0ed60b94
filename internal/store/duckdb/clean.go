package duckdb

// Text at the store boundary. DuckDB's Appender turns a VARCHAR value that is not valid
// UTF-8 into NULL (a NOT NULL column then fails the whole transaction, a nullable one
// silently loses the value) and refuses to bind it as a query parameter; NUL bytes it
// keeps, PostgreSQL refuses them. So every text the store writes or looks up goes
// through tracewatch.StoredText first; the bytes as received survive only in the
// quarantine's payload BLOBs.

import (
	"database/sql/driver"
	"slices"
	"unicode/utf8"

	"tracewatch"
)

// text is tracewatch.StoredText.
func text(s string) string { return tracewatch.StoredText(s) }

func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

// textArgs returns vals with every string made storable (a copy when one changes).
func textArgs(vals []driver.Value) []driver.Value {
	out := vals
	for i, v := range vals {
		if s, ok := v.(string); ok && !clean(s) {
			if &out[0] == &vals[0] {
				out = slices.Clone(vals)
			}
			out[i] = text(s)
		}
	}
	return out
}

// The text fields of the batch types, by pointer: one list serves the check and the
// fix (TestCleanCoversEveryText keeps it complete).

func messageTexts(m *tracewatch.MessageRecord) [4]*string {
	return [...]*string{&m.MsgID, &m.Infno, &m.Institution, &m.Source}
}

func eventTexts(e *tracewatch.Event) [23]*string {
	return [...]*string{&e.MsgID, &e.Infno, (*string)(&e.Kind), (*string)(&e.Setting), &e.ChangeType, &e.Institution, &e.DrugCode, &e.ItemID, &e.ItemName,
		&e.BatchNo, &e.LotNo, &e.Receipt, &e.Settlement, &e.Visit, &e.FeeLine, &e.Person, &e.CertnoMasked, &e.SettleType,
		&e.Supplier, &e.Prescriber, &e.Pharmacist, &e.DataType, &e.Diagnosis}
}

func codeTexts(c *tracewatch.EventCode) [7]*string {
	return [...]*string{&c.Raw, &c.Key, &c.Kind, &c.ProductID, &c.Error, &c.Parent, &c.DrugCode}
}

func quarantineTexts(q *tracewatch.QuarantineRow) [6]*string {
	return [...]*string{&q.MsgID, &q.Infno, &q.Institution, &q.Source, &q.Field, &q.Reason}
}

func allClean(ps []*string) bool {
	for _, p := range ps {
		if p != nil && !clean(*p) {
			return false
		}
	}
	return true
}

func fixAll(ps []*string) {
	for _, p := range ps {
		if p != nil {
			*p = text(*p)
		}
	}
}

func eventClean(e *tracewatch.Event) bool {
	ts := eventTexts(e)
	if !allClean(ts[:]) {
		return false
	}
	for i := range e.Codes {
		cs := codeTexts(&e.Codes[i])
		if !allClean(cs[:]) {
			return false
		}
	}
	return true
}

func messageClean(m *tracewatch.MessageRecord) bool {
	ts := messageTexts(m)
	return allClean(ts[:]) && clean(string(m.Response))
}

// cleanBatch returns b with every text storable: b itself when it already is, else a
// copy whose lists are new (the caller's batch is never changed).
func cleanBatch(b *tracewatch.Batch) *tracewatch.Batch {
	dirtyM, dirtyE, dirtyQ := false, false, false
	for i := range b.Messages {
		if !messageClean(&b.Messages[i]) {
			dirtyM = true
			break
		}
	}
	for i := range b.Events {
		if !eventClean(&b.Events[i]) {
			dirtyE = true
			break
		}
	}
	for i := range b.Quarantine {
		ts := quarantineTexts(&b.Quarantine[i])
		if !allClean(ts[:]) {
			dirtyQ = true
			break
		}
	}
	if !dirtyM && !dirtyE && !dirtyQ {
		return b
	}
	c := tracewatch.Batch{Messages: slices.Clone(b.Messages), Events: slices.Clone(b.Events), Quarantine: slices.Clone(b.Quarantine)}
	if dirtyM {
		for i := range c.Messages {
			m := &c.Messages[i]
			ts := messageTexts(m)
			fixAll(ts[:])
			if r := string(m.Response); !clean(r) {
				m.Response = []byte(text(r))
			}
		}
	}
	if dirtyE {
		for i := range c.Events {
			e := &c.Events[i]
			if eventClean(e) {
				continue
			}
			ts := eventTexts(e)
			fixAll(ts[:])
			e.Codes = slices.Clone(e.Codes)
			for j := range e.Codes {
				cs := codeTexts(&e.Codes[j])
				fixAll(cs[:])
			}
		}
	}
	if dirtyQ {
		for i := range c.Quarantine {
			ts := quarantineTexts(&c.Quarantine[i])
			fixAll(ts[:])
		}
	}
	return &c
}
