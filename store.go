package tracewatch

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CodeID is the integer identity stores use for a trace-code key (STYLE: integer keys
// are about twice as fast as strings). A 20-digit NMPA code starting with 8 maps
// arithmetically: its 19 trailing digits with the sign bit flipped, so the value fits a
// signed BIGINT in every engine. Every other key (GS1, MA, enterprise, other 20-digit
// codes) gets a dictionary id from FirstDictCodeID up, assigned by the store.
type CodeID int64

// FirstDictCodeID is the first id a store's code dictionary assigns. Packed NMPA codes
// occupy [-2^63, 10^19-2^63), which ends below it.
const FirstDictCodeID CodeID = 1 << 60

// PackedCodeID returns the arithmetic id of a key, or false when the key needs a
// dictionary id.
func PackedCodeID(key string) (CodeID, bool) {
	if len(key) != 20 || key[0] != '8' {
		return 0, false
	}
	var v uint64
	for i := 1; i < 20; i++ {
		d := key[i] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return CodeID(int64(v ^ 1<<63)), true
}

// KeyOfPackedID is the inverse of PackedCodeID.
func KeyOfPackedID(id CodeID) (string, bool) {
	if id >= FirstDictCodeID {
		return "", false
	}
	v := uint64(id) ^ 1<<63
	if v > 9_999_999_999_999_999_999 {
		return "", false
	}
	var b [20]byte
	b[0] = '8'
	for i := 19; i >= 1; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:]), true
}

// SaleKind says what names a sale (SaleID).
type SaleKind uint8

// The kinds of sale identity, in the order SaleOf tries them.
const (
	SaleBySettlement SaleKind = iota + 1 // the settlement id (setl_id)
	SaleByReceipt                        // the receipt number (rtal_docno)
	SaleByLine                           // the message line (msgid, line): nothing else names it
	SaleReturn                           // a sale return (3506), by its line
	SaleCancel                           // a settlement cancel (2208/2305), by the settlement it cancels
)

// Tag is the kind's tag in SaleID's text form: "S", "R", "L", "RET", "CAN".
func (k SaleKind) Tag() string {
	switch k {
	case SaleBySettlement:
		return "S"
	case SaleByReceipt:
		return "R"
	case SaleByLine:
		return "L"
	case SaleReturn:
		return "RET"
	case SaleCancel:
		return "CAN"
	}
	return ""
}

// SaleID identifies the sale a sale-side event belongs to, so that the same box sale
// reported twice (a 3505 and a 2207 carrying the same setl_id, or a code scanned twice on
// one receipt) counts once: the settlement id, else the receipt number, else the line.
// Sale returns and cancels get their own ids. A msgid is unique per institution only,
// so every id carries the institution. Its text form (String) is what stores keep and
// what clue fingerprints hash; stores compute the same text in SQL when they rebuild the
// ledger (docs/ledger.md).
type SaleID struct {
	Kind        SaleKind
	Institution string
	Ref         string // setl_id (SaleBySettlement, SaleCancel), rtal_docno (SaleByReceipt) or msgid (SaleByLine, SaleReturn)
	Line        int    // the message line, for SaleByLine and SaleReturn
}

// SaleOf returns the sale event e belongs to.
func SaleOf(e *Event) SaleID {
	switch e.Kind {
	case EventSaleReturn:
		return SaleID{Kind: SaleReturn, Institution: e.Institution, Ref: e.MsgID, Line: e.Line}
	case EventSettlementCancel:
		return SaleID{Kind: SaleCancel, Institution: e.Institution, Ref: e.Settlement}
	}
	switch {
	case e.Settlement != "":
		return SaleID{Kind: SaleBySettlement, Institution: e.Institution, Ref: e.Settlement}
	case e.Receipt != "":
		return SaleID{Kind: SaleByReceipt, Institution: e.Institution, Ref: e.Receipt}
	}
	return SaleID{Kind: SaleByLine, Institution: e.Institution, Ref: e.MsgID, Line: e.Line}
}

// CancelledSale returns the sale a cancel of settlement setl at institution inst undoes.
func CancelledSale(inst, setl string) SaleID {
	return SaleID{Kind: SaleBySettlement, Institution: inst, Ref: setl}
}

// String returns the text form: "RET|inst|msgid|line", "CAN|inst|setl_id",
// "inst|S|setl_id", "inst|R|rtal_docno", "inst|L|msgid|line".
func (s SaleID) String() string {
	switch s.Kind {
	case SaleReturn:
		return "RET|" + s.Institution + "|" + s.Ref + "|" + itoa(s.Line)
	case SaleCancel:
		return "CAN|" + s.Institution + "|" + s.Ref
	case SaleByLine:
		return s.Institution + "|L|" + s.Ref + "|" + itoa(s.Line)
	}
	return s.Institution + "|" + s.Kind.Tag() + "|" + s.Ref
}

// ParseSaleID reads the text form String writes of a sale at institution inst (stores
// keep the institution beside the id, and knowing it keeps an institution code or a
// reference holding "|" unambiguous).
func ParseSaleID(inst, text string) (SaleID, error) {
	line := func(rest string) (string, int, bool) {
		i := strings.LastIndexByte(rest, '|')
		if i < 0 {
			return "", 0, false
		}
		n, err := strconv.Atoi(rest[i+1:])
		return rest[:i], n, err == nil
	}
	if ref, ok := strings.CutPrefix(text, "CAN|"+inst+"|"); ok {
		return SaleID{Kind: SaleCancel, Institution: inst, Ref: ref}, nil
	}
	if rest, ok := strings.CutPrefix(text, "RET|"+inst+"|"); ok {
		if msgid, n, ok := line(rest); ok {
			return SaleID{Kind: SaleReturn, Institution: inst, Ref: msgid, Line: n}, nil
		}
	}
	if ref, ok := strings.CutPrefix(text, inst+"|S|"); ok {
		return SaleID{Kind: SaleBySettlement, Institution: inst, Ref: ref}, nil
	}
	if ref, ok := strings.CutPrefix(text, inst+"|R|"); ok {
		return SaleID{Kind: SaleByReceipt, Institution: inst, Ref: ref}, nil
	}
	if rest, ok := strings.CutPrefix(text, inst+"|L|"); ok {
		if msgid, n, ok := line(rest); ok {
			return SaleID{Kind: SaleByLine, Institution: inst, Ref: msgid, Line: n}, nil
		}
	}
	return SaleID{}, Errorf("tracewatch.ParseSaleID", KindInvalid,
		"sale id %q of institution %q: want RET|inst|msgid|line, CAN|inst|setl_id, inst|S|setl_id, inst|R|rtal_docno or inst|L|msgid|line", text, inst)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// MessageKey identifies a received message: a msgid is unique per institution
// (fixmedins_code), so that one institution cannot claim another's msgids. Lines of a
// bulk file without an institution have Institution "".
type MessageKey struct {
	Institution string
	MsgID       string
}

// Key returns the message's key.
func (m *MessageRecord) Key() MessageKey { return MessageKey{m.Institution, m.MsgID} }

// StoredText returns s as a store keeps it in a text column: valid UTF-8 without NUL
// bytes, each run of invalid bytes and each NUL replaced by U+FFFD. Stores apply it
// at their boundary to every text they write and every text they look up, so that no
// bytes a client sends can fail a write; the bytes as received survive only in a
// quarantine payload.
func StoredText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// MessageRecord is one received message: kept so that a replayed msgid gets its first
// answer back and changes nothing. Its key is (Institution, MsgID).
type MessageRecord struct {
	MsgID       string
	Infno       string
	Institution string
	Source      string // "http", or "file:<name>" for bulk ingest
	Received    time.Time
	Accepted    int    // rows stored
	Rejected    int    // rows quarantined
	Response    []byte // the answer given, as JSON
}

// QuarantineRow is a message or row refused for a reason: kept, listable and
// re-submittable after correction.
type QuarantineRow struct {
	ID          int64
	MsgID       string
	Infno       string
	Institution string
	Source      string
	Row         int    // 0: the whole message
	Field       string // the national field at fault, when known
	Reason      string
	// Payload is the message as received, any bytes. The rows of one message share it:
	// stores keep each distinct payload once (by content), however many rows refer to it.
	Payload     []byte
	Received    time.Time
	Resubmitted bool
}

// QuarantineFilter narrows a quarantine listing.
type QuarantineFilter struct {
	MsgID       string // only the rows of this message
	Institution string
	Infno       string
	Limit       int // 0: a default of 100
	AfterID     int64
}

// Batch is what ingestion hands a store in one durable step. Messages are keyed by
// (Institution, MsgID); an event or quarantine row belongs to the message with its
// Institution and MsgID. The quarantine rows of one message should share one Payload
// slice (it is then hashed and encoded once).
type Batch struct {
	Messages   []MessageRecord
	Events     []Event // of the messages above; identified codes
	Quarantine []QuarantineRow
}

// CommitResult says what a Commit did.
type CommitResult struct {
	Replayed map[MessageKey][]byte // first answers of the messages already stored (their rows were dropped)
	Events   int                   // events stored
	Codes    int                   // event codes stored
	// DeadLettered lists the messages of this batch that could not be stored on their
	// own and were set aside as dead letters (kept as bytes, listed in the quarantine).
	// Only a store that applies the batch before answering knows them; a journaled
	// store that fails to apply an acknowledged batch later dead-letters it the same way.
	DeadLettered []MessageKey
}

// LedgerEntry is the derived state of one code identity (the code ledger).
type LedgerEntry struct {
	Key         string
	SoldWhole   int64     // net whole packs sold
	SoldSplit   Qty       // net minimum units sold in split-pack (拆零) sales
	PackContent int64     // minimum units per pack, 0 when the drug is unknown
	Sales       int       // distinct sales (a setl_id or receipt counts once)
	Returns     int       // sale returns and settlement cancels
	FirstSeller string    // fixmedins_code of the first sale
	FirstSale   time.Time //
	LastSale    time.Time //
	Received    int       // inbound events (purchase, transfer in, stocktake, …)
}

// SoldNet returns the net quantity sold in packs.
func (l LedgerEntry) SoldNet() float64 {
	n := float64(l.SoldWhole)
	if l.SoldSplit != 0 && l.PackContent > 0 {
		n += float64(l.SoldSplit) / float64(QtyScale) / float64(l.PackContent)
	}
	return n
}

// TimelineEntry is one event in the life of a box.
type TimelineEntry struct {
	Event
	Code EventCode // the code as scanned on this event
	// WithdrawnBy is the msgid of the 3507 (进销存数据删除) that withdrew this row, ""
	// when it stands. A withdrawn row is kept for audit and has no effect (docs/ledger.md).
	WithdrawnBy string
}

// InstitutionKey is an institution's credential for signed requests. The secret is
// stored encrypted; only the store's caller can decrypt it.
type InstitutionKey struct {
	PaasID      string
	Institution string
	SecretEnc   []byte
	Created     time.Time
	Revoked     bool
}

// Stats counts what a store holds.
type Stats struct {
	Tables      map[string]int64 `json:"tables"`
	LedgerCodes int64            `json:"ledger_codes"`
	Quarantined int64            `json:"quarantined"`
}

// Store is the contract both stores (embedded DuckDB, PostgreSQL) satisfy; the
// conformance suite in internal/store/storetest checks it. Commit is durable when it
// returns; the caller may then reuse the Batch and its lists (a store may still hold the
// events' codes and the payload bytes: leave those alone).
type Store interface {
	UpsertRegions(ctx context.Context, rows []RegionInfo) error
	UpsertInstitutions(ctx context.Context, rows []Institution) error
	UpsertPersons(ctx context.Context, rows []Person) error
	UpsertPractitioners(ctx context.Context, rows []Practitioner) error
	UpsertDrugs(ctx context.Context, rows []Drug) error
	UpsertCodeMappings(ctx context.Context, rows []CodeMapping) error
	UpsertPackageLinks(ctx context.Context, rows []PackageLink) error
	// UpsertDrugLimits loads the knowledge base of drug limits: a drug's row replaces its
	// stored row whole (a limit left empty is cleared).
	UpsertDrugLimits(ctx context.Context, rows []DrugLimit) error

	Institution(ctx context.Context, code string) (Institution, error)
	Drug(ctx context.Context, code string) (Drug, error)
	CodeMappings(ctx context.Context) (map[string]CodeMapping, error)
	DrugPackContents(ctx context.Context) (map[string]int64, error)
	PackageChildren(ctx context.Context, parents []string) (map[string][]string, error)
	// PackOrders reads what the package links prove about product ids: which product's
	// codes are parents of which other product's, with the first row that shows it and
	// how many rows do (PackOrder; an unknown pack level is inferred from them).
	PackOrders(ctx context.Context) ([]PackOrder, error)
	// DrugLimits reads the knowledge base of drug limits, sorted by drug code.
	DrugLimits(ctx context.Context) ([]DrugLimit, error)

	// Message returns the stored message of an institution with this msgid.
	Message(ctx context.Context, institution, msgid string) (MessageRecord, error)
	Commit(ctx context.Context, b *Batch) (CommitResult, error)

	Timeline(ctx context.Context, key string) ([]TimelineEntry, error)
	Ledger(ctx context.Context, key string) (LedgerEntry, error)
	RebuildLedger(ctx context.Context) (LedgerRebuild, error)

	// Quarantine lists quarantine rows, the dead letters' included.
	Quarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineRow, error)
	QuarantineRow(ctx context.Context, id int64) (QuarantineRow, error)
	MarkResubmitted(ctx context.Context, ids []int64) error
	// DeadLetters counts the records set aside because they could not be stored on
	// their own (each is also listed in the quarantine with the reason "could not be
	// stored: …" when that could be written).
	DeadLetters(ctx context.Context) (int64, error)

	PutInstitutionKey(ctx context.Context, k InstitutionKey) error
	InstitutionKey(ctx context.Context, paasid string) (InstitutionKey, error)

	// PutClues stores a screening's clues at time now, one per fingerprint: a known
	// fingerprint keeps its id, state and first_seen and takes the rest; it returns the
	// number of new clues.
	PutClues(ctx context.Context, clues []Clue, now time.Time) (int, error)
	Clues(ctx context.Context, f ClueFilter) ([]Clue, error)
	Clue(ctx context.Context, id int64) (Clue, error)
	ClueCounts(ctx context.Context, f ClueFilter) ([]ClueCount, error)
	// ClueGroups summarizes the clues matching f by the columns of by (none: one line
	// for all), in the order of those columns.
	ClueGroups(ctx context.Context, f ClueFilter, by ClueGroupBy) ([]ClueGroup, error)
	WorkflowStore

	// PutCheckFeedback stores 3103 decisions on real-time warnings.
	PutCheckFeedback(ctx context.Context, rows []CheckFeedback) error
	CheckFeedback(ctx context.Context, jrID string) ([]CheckFeedback, error)

	Stats(ctx context.Context) (Stats, error)
	Close() error
}

// LedgerRebuild is what a ledger rebuild did: the codes in the ledger after it, and
// the codes whose row it changed (added, removed or different): 0 when the incremental
// ledger was what the facts give.
type LedgerRebuild struct {
	Codes   int64 `json:"codes"`
	Changed int64 `json:"changed"`
}
