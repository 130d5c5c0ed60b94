package facts

import (
	"context"
	"time"

	"tracewatch"
)

// Reader is what the rules read: reference data and the fact reads of docs/facts.md.
// The embedded DuckDB store satisfies it; the conformance suite
// (internal/store/storetest) checks every store's reads against the same cases.
type Reader interface {
	Institutions(ctx context.Context) ([]tracewatch.Institution, error)
	Drugs(ctx context.Context) ([]tracewatch.Drug, error)
	Regions(ctx context.Context) ([]tracewatch.RegionInfo, error)
	// DrugLimits is the knowledge base (知识库) of drug limits, by drug.
	DrugLimits(ctx context.Context) ([]tracewatch.DrugLimit, error)
	// SaleLineCounts counts the window's sale-side lines per institution (the measure of
	// a rule's fire rate).
	SaleLineCounts(ctx context.Context, w tracewatch.Window) (map[string]int64, error)
	Timeline(ctx context.Context, key string) ([]tracewatch.TimelineEntry, error)

	DuplicateHistories(ctx context.Context, w tracewatch.Window, fn func(*CodeHistory) error) error
	Repeats(ctx context.Context, w tracewatch.Window, fn func(Repeat) error) error
	MismatchedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	// UnsourcedLines streams the lines of q's itemized institutions to fn, ordered by
	// institution, time and line, and gives tally the tally of each other institution
	// that has such lines, in institution order (docs/facts.md).
	UnsourcedLines(ctx context.Context, q UnsourcedQuery, fn func(l *tracewatch.TimelineEntry, siblingReceived bool) error, tally func(UnsourcedTally) error) error
	RemovedLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	InboundCoverage(ctx context.Context, w tracewatch.Window) ([]InboundCoverage, error)
	AnomalousLines(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry) error) error
	CodeQuality(ctx context.Context, w tracewatch.Window) ([]CodeQuality, error)
	PackageConflicts(ctx context.Context, w tracewatch.Window, fn func(PackagePair, []tracewatch.TimelineEntry) error) error
	LevelConflicts(ctx context.Context, w tracewatch.Window, fn func(LevelConflict) error) error
	CollectionDays(ctx context.Context, w tracewatch.Window) ([]CollectionDay, error)
	// UploadDays counts each institution's events per day (接入率: who uploaded).
	UploadDays(ctx context.Context, w tracewatch.Window) ([]UploadDay, error)
	// LastEvent is the time of the latest event stored (zero when there is none): where
	// a dashboard's default period ends.
	LastEvent(ctx context.Context) (time.Time, error)
	StockPeriods(ctx context.Context, w tracewatch.Window) ([]StockPeriod, error)

	// The claims reads: event lines with the person of the reference data (an empty
	// PsnNo when unknown), net of cancellations and withdrawals.
	// InsuredLines streams the insured sale lines a LineQuery selects, in time order, net
	// of cancellations and withdrawals, with the person of the reference data. Each call
	// hands over a line of its own, which the caller may keep, unless q.Transient.
	InsuredLines(ctx context.Context, q LineQuery, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	DeceasedSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	AgreementSettlements(ctx context.Context, w tracewatch.Window, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	// FrequentSettlements is a named pruning fact: the settlements of the persons with
	// dense spells (q.MinCount settlements within q.SpanDays days), so that at 10^8 lines
	// only they leave the store.
	FrequentSettlements(ctx context.Context, q DenseSettlementQuery, fn func(*tracewatch.TimelineEntry, tracewatch.Person) error) error
	// Stays streams the standing inpatient stays admitted in the window, by person and
	// admission.
	Stays(ctx context.Context, q StayQuery, fn func(Stay) error) error
	// CoPurchases is a named pruning fact: pairs of persons who bought the same drug at
	// the same institution within q.Within on q.MinDays days or more.
	CoPurchases(ctx context.Context, q CoPurchaseQuery, fn func(CoPurchase) error) error
	// ResoldHistories is a named pruning fact (C12): the sale-side histories, as
	// DuplicateHistories gives them, of the codes sold at two or more institutions with a
	// sale in the window, so that only the codes that may have reappeared elsewhere leave
	// the store (double scans and split packs sold at one counter stay behind).
	ResoldHistories(ctx context.Context, w tracewatch.Window, fn func(*CodeHistory) error) error
	// StayCares streams the standing inpatient stays admitted in the window (as Stays,
	// in its order) with their fee lines per day and the person's settlements while
	// admitted (C6, C13).
	StayCares(ctx context.Context, q StayQuery, fn func(StayCare) error) error
	// TravelSettlements is a named pruning fact (C9): the standing outpatient and
	// pharmacy settlements in the window of the persons who settled at two institutions
	// in different cities (first four digits of the reference data's regions) within
	// q.Within of each other, ordered by person, time, institution and setl_id.
	TravelSettlements(ctx context.Context, q TravelQuery, fn func(PersonSettlement) error) error
}

// LineQuery selects lines for InsuredLines: typed filters a store pushes down, never a
// rule's threshold.
type LineQuery struct {
	Window tracewatch.Window
	// Drugs keeps the lines of these drugs (med_list_codg) only; nil keeps every drug,
	// an empty non-nil list none.
	Drugs []string
	// KnownPerson keeps only the lines of persons in the reference data.
	KnownPerson bool
	// NoPerson: the reader need not look the person up; fn gets an empty Person
	// (without KnownPerson: with it, the lines are still those of known persons).
	NoPerson bool
	// Transient: fn keeps neither the line nor its pointer once it returns, so the
	// reader may hand over the same entry every time (a rule that keeps a few of 10^6
	// lines copies those).
	Transient bool
}

// DenseSettlementQuery selects FrequentSettlements: a person's standing outpatient and
// pharmacy settlements, when MinCount of them fall within SpanDays days.
type DenseSettlementQuery struct {
	Window   tracewatch.Window
	SpanDays int
	MinCount int
}

// StayQuery selects Stays: those admitted in the window.
type StayQuery struct {
	Window tracewatch.Window
}

// CoPurchaseQuery selects CoPurchases: two persons' purchases of one drug at one
// institution within Within of each other, on at least MinDays distinct days.
type CoPurchaseQuery struct {
	Window  tracewatch.Window
	Within  time.Duration
	MinDays int
}
