package duckdb

// Quarantine payloads are kept once per distinct content: in the quarantine_payloads
// table (keyed by the hex SHA-256 of the bytes, quarantine rows refer to it) and in a
// journal record (the payloads listed once, rows refer to them by position). A 3505A
// with 240 bad rows thus stores its megabyte once, not 240 times.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"tracewatch"
)

// payloadHasher hashes payloads, each distinct slice once: the rows of one message
// share their payload slice.
type payloadHasher struct {
	bySlice map[payloadSlice]string
}

type payloadSlice struct {
	p *byte
	n int
}

// hash returns the hex SHA-256 of p, "" for an empty payload.
func (h *payloadHasher) hash(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	k := payloadSlice{&p[0], len(p)}
	if s, ok := h.bySlice[k]; ok {
		return s
	}
	sum := sha256.Sum256(p)
	s := hex.EncodeToString(sum[:])
	if h.bySlice == nil {
		h.bySlice = map[payloadSlice]string{}
	}
	h.bySlice[k] = s
	return s
}

// recordBatch is a Batch as a journal record holds it: each distinct quarantine
// payload once in Payloads. Records written before payloads were shared carry them in
// each row (PayloadRef 0); both decode.
type recordBatch struct {
	Messages   []tracewatch.MessageRecord `json:",omitempty"`
	Events     []tracewatch.Event         `json:",omitempty"`
	Quarantine []recordQuarantine         `json:",omitempty"`
	Payloads   [][]byte                   `json:",omitempty"`
}

type recordQuarantine struct {
	tracewatch.QuarantineRow
	PayloadRef int `json:",omitempty"` // 1 + the index of the row's payload in Payloads
}

// encodeBatch encodes b as a journal record's payload.
func encodeBatch(b *tracewatch.Batch) ([]byte, error) {
	r := recordBatch{Messages: b.Messages, Events: b.Events}
	if len(b.Quarantine) > 0 {
		var h payloadHasher
		at := map[string]int{}
		r.Quarantine = make([]recordQuarantine, len(b.Quarantine))
		for i, q := range b.Quarantine {
			if k := h.hash(q.Payload); k != "" {
				ref, ok := at[k]
				if !ok {
					r.Payloads = append(r.Payloads, q.Payload)
					ref = len(r.Payloads)
					at[k] = ref
				}
				q.Payload = nil
				r.Quarantine[i].PayloadRef = ref
			}
			r.Quarantine[i].QuarantineRow = q
		}
	}
	return json.Marshal(&r)
}

// decodeBatch decodes a journal record's payload; the rows of a shared payload share
// one slice.
func decodeBatch(buf []byte) (*tracewatch.Batch, error) {
	var r recordBatch
	if err := json.Unmarshal(buf, &r); err != nil {
		return nil, err
	}
	b := &tracewatch.Batch{Messages: r.Messages, Events: r.Events}
	if len(r.Quarantine) > 0 {
		b.Quarantine = make([]tracewatch.QuarantineRow, len(r.Quarantine))
		for i, q := range r.Quarantine {
			if q.PayloadRef > 0 && q.PayloadRef <= len(r.Payloads) {
				q.Payload = r.Payloads[q.PayloadRef-1]
			}
			b.Quarantine[i] = q.QuarantineRow
		}
	}
	return b, nil
}
