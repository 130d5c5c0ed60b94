package workflow

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracewatch"
)

// Band is a range of points for one degree of responsibility (驾照式记分).
type Band struct {
	Responsibility string `json:"responsibility"`
	Chinese        string `json:"zh"`
	Min, Max       int
}

// Bands are the points bands by responsibility.
var Bands = []Band{
	{"minor", "次要责任", 1, 3},
	{"general", "一般责任", 4, 6},
	{"important", "重要责任", 7, 9},
	{"main", "主要责任", 10, 12},
}

// agreementActions and referrals are the values an outcome may name.
var (
	agreementActions = []string{"interview", "rectify", "suspend", "terminate"} // 约谈, 限期整改, 暂停, 解除
	referralKinds    = []string{"police", "discipline"}                         // 公安, 纪检
)

// checkOutcome validates an outcome and fills in each award's clue, institution, time and
// actor.
func checkOutcome(o tracewatch.Outcome, c tracewatch.Clue, u tracewatch.User, now time.Time) (tracewatch.Outcome, error) {
	const op = "workflow.Outcome"
	switch o.Result {
	case tracewatch.OutcomeConfirmed, tracewatch.OutcomePartial, tracewatch.OutcomeDismissed:
	case "":
		return o, invalid(op, "outcome", "closing needs an outcome: confirmed (违规属实), partial (部分属实) or dismissed (排除)")
	default:
		return o, invalid(op, "outcome", fmt.Sprintf("unknown outcome %q: want confirmed, partial or dismissed", o.Result))
	}
	if o.RecoveredFen < 0 || o.PenaltyFen < 0 || o.FineFen < 0 {
		return o, invalid(op, "recovered_fen", "amounts cannot be negative")
	}
	if o.AgreementAction != "" && !slices.Contains(agreementActions, o.AgreementAction) {
		return o, invalid(op, "agreement_action", fmt.Sprintf("unknown agreement action %q: want %s", o.AgreementAction, strings.Join(agreementActions, ", ")))
	}
	for _, r := range o.Referrals {
		if !slices.Contains(referralKinds, r) {
			return o, invalid(op, "referrals", fmt.Sprintf("unknown referral %q: want %s", r, strings.Join(referralKinds, ", ")))
		}
	}
	if o.Result == tracewatch.OutcomeDismissed && (len(o.Points) > 0 || o.RecoveredFen > 0 || o.PenaltyFen > 0 || o.FineFen > 0) {
		return o, invalid(op, "outcome", "a dismissed outcome recovers nothing and gives no points")
	}
	out := o
	out.Points = make([]tracewatch.PointAward, 0, len(o.Points))
	seen := map[string]bool{}
	for i, p := range o.Points {
		field := fmt.Sprintf("points[%d]", i)
		p.Practitioner = strings.TrimSpace(p.Practitioner)
		if p.Practitioner == "" {
			return o, invalid(op, field+".practitioner", "name the practitioner (医保医师/药师代码)")
		}
		if len(p.Practitioner) > 64 || !utf8.ValidString(p.Practitioner) || strings.ContainsFunc(p.Practitioner, unicode.IsControl) {
			return o, invalid(op, field+".practitioner", "a practitioner code is at most 64 bytes of text")
		}
		if seen[p.Practitioner] {
			return o, invalid(op, field+".practitioner", "practitioner "+p.Practitioner+" is named twice")
		}
		seen[p.Practitioner] = true
		b, ok := band(p.Responsibility)
		if !ok {
			return o, invalid(op, field+".responsibility", fmt.Sprintf("unknown responsibility %q: want minor (1–3), general (4–6), important (7–9) or main (10–12)", p.Responsibility))
		}
		if p.Points < b.Min || p.Points > b.Max {
			return o, invalid(op, field+".points", fmt.Sprintf("%d points: %s responsibility (%s) gives %d to %d", p.Points, b.Responsibility, b.Chinese, b.Min, b.Max))
		}
		if p.Institution == "" {
			p.Institution = c.Institution
		}
		p.ClueID, p.Time, p.Actor = c.ID, now.UTC(), u.Name
		out.Points = append(out.Points, p)
	}
	return out, nil
}

func band(resp string) (Band, bool) {
	for _, b := range Bands {
		if b.Responsibility == resp {
			return b, true
		}
	}
	return Band{}, false
}

// PointStatus is a practitioner's payment qualification (医保支付资格).
type PointStatus string

// The statuses.
const (
	StatusActive     PointStatus = "active"     // 正常
	StatusSuspended  PointStatus = "suspended"  // 暂停
	StatusTerminated PointStatus = "terminated" // 终止
)

// Standing is a practitioner's points this year and the status they give.
type Standing struct {
	Practitioner string      `json:"practitioner"`
	Institutions []string    `json:"institutions"`
	Points       int         `json:"points"` // this calendar year (Beijing)
	Status       PointStatus `json:"status"`
	// Until is when a suspension ends, or from when a terminated practitioner may register
	// again (zero while active).
	Until  time.Time               `json:"until,omitzero"`
	Awards []tracewatch.PointAward `json:"awards"`
}

// Standings adds up awards per practitioner at now: the points of the current calendar
// year (they reset on 1 January, Beijing time); reaching SuspendAt suspends payment
// qualification for SuspendMonths, TerminateAt terminates it, with registration again
// after one year, or three when 12 points came at once. A suspension or termination
// reached last year runs on into this one. region picks the province's thresholds.
func Standings(awards []tracewatch.PointAward, cfg Config, region tracewatch.Region, now time.Time) []Standing {
	cfg = cfg.For(region)
	by := map[string]*Standing{}
	var order []string
	sorted := slices.Clone(awards)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	type yearKey struct {
		who  string
		year int
	}
	total := map[yearKey]int{}
	for _, a := range sorted {
		s := by[a.Practitioner]
		if s == nil {
			s = &Standing{Practitioner: a.Practitioner, Status: StatusActive}
			by[a.Practitioner] = s
			order = append(order, a.Practitioner)
		}
		if a.Institution != "" && !slices.Contains(s.Institutions, a.Institution) {
			s.Institutions = append(s.Institutions, a.Institution)
		}
		s.Awards = append(s.Awards, a)
		t := a.Time.In(tracewatch.Beijing)
		k := yearKey{a.Practitioner, t.Year()}
		before := total[k]
		total[k] += a.Points
		after := total[k]
		switch {
		case after >= cfg.TerminateAt && before < cfg.TerminateAt:
			years := 1
			if a.Points >= cfg.TerminateAt {
				years = 3 // 12 points at once
			}
			s.Status, s.Until = StatusTerminated, t.AddDate(years, 0, 0)
		case after >= cfg.SuspendAt && before < cfg.TerminateAt && s.Status != StatusTerminated:
			months := 0
			for p := after; p >= cfg.SuspendAt && months == 0; p-- {
				months = cfg.SuspendMonths[p]
			}
			if months == 0 {
				months = 1
			}
			if u := t.AddDate(0, months, 0); u.After(s.Until) {
				s.Status, s.Until = StatusSuspended, u
			}
		}
	}
	year := now.In(tracewatch.Beijing).Year()
	out := make([]Standing, 0, len(order))
	for _, who := range order {
		s := by[who]
		s.Points = total[yearKey{who, year}]
		if s.Status != StatusActive && !now.Before(s.Until) {
			s.Status, s.Until = StatusActive, time.Time{}
		}
		if s.Until.IsZero() {
			s.Status = StatusActive
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Points != out[j].Points {
			return out[i].Points > out[j].Points
		}
		return out[i].Practitioner < out[j].Practitioner
	})
	return out
}
