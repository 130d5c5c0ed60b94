package monitor

import (
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// InstitutionDay is one day of one institution: its reimbursed drug sale lines, those
// carrying a valid trace code, the 采集率 they give (nil without lines: unknown, not
// zero) and the events it uploaded that day.
type InstitutionDay struct {
	Day        string   `json:"day"` // 2006-01-02
	Lines      int64    `json:"lines"`
	Coded      int64    `json:"coded"`
	Collection *float64 `json:"collection"`
	Events     int64    `json:"events"`
}

// InstitutionFigures are one institution's collection and upload figures over a period
// (机构画像): the totals and every day of the period, days without data included.
type InstitutionFigures struct {
	From       string   `json:"from"` // first day, 2006-01-02
	To         string   `json:"to"`   // last day
	Lines      int64    `json:"lines"`
	Coded      int64    `json:"coded"`
	Collection *float64 `json:"collection"`
	Events     int64    `json:"events"`
	// UploadDays are the days of the period with at least one event uploaded, of
	// PeriodDays.
	UploadDays int `json:"upload_days"`
	PeriodDays int `json:"period_days"`
	// What the lines without a code were paid: the fund's share where the settlement is
	// known, and their sale amount.
	UncodedFundFen tracewatch.Fen   `json:"uncoded_fund_fen"`
	UncodedSaleFen tracewatch.Fen   `json:"uncoded_sale_fen"`
	Days           []InstitutionDay `json:"days"`
}

// ForInstitution computes the figures of institution code over [from, to) (Asia/Shanghai
// midnights) from the period's facts, which may hold other institutions and days: they
// are left out.
func ForInstitution(code string, from, to time.Time, collection []facts.CollectionDay, uploads []facts.UploadDay) InstitutionFigures {
	f := InstitutionFigures{From: day(from), To: day(to.AddDate(0, 0, -1)), Days: []InstitutionDay{}}
	index := map[string]int{}
	for t := from; t.Before(to); t = t.AddDate(0, 0, 1) {
		index[day(t)] = len(f.Days)
		f.Days = append(f.Days, InstitutionDay{Day: day(t)})
	}
	f.PeriodDays = len(f.Days)
	for _, c := range collection {
		i, ok := index[day(c.Day)]
		if c.Institution != code || !ok {
			continue
		}
		f.Days[i].Lines += c.Lines
		f.Days[i].Coded += c.Coded
		f.Lines += c.Lines
		f.Coded += c.Coded
		f.UncodedFundFen += c.UncodedFund
		f.UncodedSaleFen += c.UncodedSale
	}
	for _, u := range uploads {
		i, ok := index[day(u.Day)]
		if u.Institution != code || !ok {
			continue
		}
		f.Days[i].Events += u.Events
		f.Events += u.Events
	}
	for i := range f.Days {
		d := &f.Days[i]
		d.Collection = share(d.Coded, d.Lines)
		if d.Events > 0 {
			f.UploadDays++
		}
	}
	f.Collection = share(f.Coded, f.Lines)
	return f
}
