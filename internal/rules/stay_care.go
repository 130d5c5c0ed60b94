package rules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

// Helpers of C6 (bed holding) and C13 (phantom stay): the days of a stay and the care
// its fee lines show on them.
//
// Which rule owns a stay: C13 owns a stay whose care is too little for its length (the
// days with fee lines are at most its max_care_share of the stay's calendar days) or
// whose fees the fee lines mostly do not explain; C6 judges every other stay (days
// without any care line, settlements elsewhere while admitted). C6's phantom_* parameters
// restate C13's thresholds so that one planted case raises one clue.

// maxStayDays bounds the stays C6 and C13 judge: a 2304 whose admission lies more than a
// year before its discharge is a data error (a mistyped year), not a stay, and its empty
// days say nothing about care (unknown is not suspicious).
const maxStayDays = 366

// judgeable reports whether st is a stay C6 and C13 judge in env's window: admitted in
// it, discharged after the admission, at most maxStayDays long.
func judgeable(env *Env, st *facts.StayCare) bool {
	return env.Window.Contains(st.Admitted) && st.Discharged.After(st.Admitted) &&
		st.Discharged.Sub(st.Admitted) <= maxStayDays*24*time.Hour
}

// stayDay is a business day (Asia/Shanghai) as a day number.
func stayDay(t time.Time) int {
	y, m, d := t.In(cst).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dayTime is the midnight (Asia/Shanghai) of a day number.
func dayTime(n int) time.Time {
	y, m, d := time.Unix(int64(n)*86400, 0).UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

// careDays is what a stay's fee lines say about its days.
type careDays struct {
	first, last int          // admission and discharge day
	cared       map[int]bool // days with at least one fee line
	known       bool         // every fee line is dated and the stay has fee lines
}

func newCareDays(st *facts.StayCare) careDays {
	c := careDays{first: stayDay(st.Admitted), last: stayDay(st.Discharged), cared: map[int]bool{}}
	for _, d := range st.Days {
		c.cared[stayDay(d.Day)] = true
	}
	c.known = st.Lines > 0 && st.Undated == 0
	return c
}

// calendar counts the stay's calendar days, admission and discharge day included.
func (c careDays) calendar() int { return max(1, c.last-c.first+1) }

// share is the share of the stay's calendar days with fee lines.
func (c careDays) share() float64 {
	n := 0
	for d := c.first; d <= c.last; d++ {
		if c.cared[d] {
			n++
		}
	}
	return float64(n) / float64(c.calendar())
}

// empty lists the interior days (after the admission day, before the discharge day)
// without any fee line: the admission and discharge days may lack lines honestly.
func (c careDays) empty() []int {
	var out []int
	for d := c.first + 1; d < c.last; d++ {
		if !c.cared[d] {
			out = append(out, d)
		}
	}
	return out
}

// spread reports whether the stay's lines fall on two days or more.
func (c careDays) spread() bool { return len(c.cared) >= 2 }

// unexplained is the share of the stay's medical fees (2304 medfee_sumamt) its fee lines
// do not add up to (0 when the lines cover it or the fees are not stated).
func unexplained(st *facts.StayCare) float64 {
	if st.Amount <= 0 || st.LineAmount >= st.Amount {
		return 0
	}
	return float64(st.Amount-st.LineAmount) / float64(st.Amount)
}

// datedInstitutions tells which hospitals date their inpatient fee lines by day: among
// a hospital's stays of three calendar days or more whose fee lines are all dated, at
// least share of them have lines on two days or more. A hospital that bills a stay in
// one go (every line at the admission or the settlement) says nothing about the days of
// its stays: its stays are not judged on days.
func datedInstitutions(stays []facts.StayCare, share float64) map[string]bool {
	type tally struct{ n, spread int }
	t := map[string]*tally{}
	for i := range stays {
		c := newCareDays(&stays[i])
		if !c.known || c.calendar() < 3 {
			continue
		}
		x := t[stays[i].Institution]
		if x == nil {
			x = &tally{}
			t[stays[i].Institution] = x
		}
		x.n++
		if c.spread() {
			x.spread++
		}
	}
	out := map[string]bool{}
	for in, x := range t {
		out[in] = x.n > 0 && float64(x.spread) >= share*float64(x.n)
	}
	return out
}

// readStays reads the window's stays with their care (C6, C13).
func readStays(ctx context.Context, env *Env) ([]facts.StayCare, error) {
	var out []facts.StayCare
	err := env.Src.StayCares(ctx, facts.StayQuery{Window: env.Window}, func(st facts.StayCare) error {
		out = append(out, st)
		return ctx.Err()
	})
	return out, err
}

// dayRanges writes day numbers as ranges: 03-02至03-04、03-07.
func dayRanges(days []int) string {
	var b strings.Builder
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && days[j+1] == days[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString("、")
		}
		b.WriteString(dayTime(days[i]).Format("01-02"))
		if j > i {
			b.WriteString("至" + dayTime(days[j]).Format("01-02"))
		}
		i = j + 1
	}
	return b.String()
}

// stayEvidence is the evidence entry of the stay itself.
func stayEvidence(env *Env, st *facts.StayCare) tracewatch.Evidence {
	return tracewatch.Evidence{Time: st.Admitted, What: "stay", Institution: st.Institution, Ref: st.Ref,
		Note: fmt.Sprintf("%s 至 %s 在 %s 住院，出院主诊断 %s，结算号 %s，医疗费用 %s 元，基金支付 %s 元，费用明细 %d 条合计 %s 元",
			when(st.Admitted), when(st.Discharged), env.instName(st.Institution), st.Diagnosis, st.Settlement,
			st.Amount, st.FundPaid, st.Lines, st.LineAmount)}
}

// elsewhere returns the settlements of the stay's person at other institutions while
// admitted.
func elsewhere(st *facts.StayCare) []facts.StaySettlement {
	var out []facts.StaySettlement
	for _, x := range st.During {
		if x.Institution != st.Institution && x.Time.After(st.Admitted) && x.Time.Before(st.Discharged) {
			out = append(out, x)
		}
	}
	return out
}

// settlementEvidence is the evidence entry of a settlement made during a stay.
func settlementEvidence(env *Env, x facts.StaySettlement) tracewatch.Evidence {
	how := "门诊/购药结算"
	if x.SalesOnly {
		how = "药店医保购药（3505）"
	}
	amount := ""
	if x.Amount > 0 {
		amount = fmt.Sprintf("，金额 %s 元", x.Amount)
	}
	return tracewatch.Evidence{Time: x.Time, What: "settlement", Institution: x.Institution, Ref: x.Ref,
		Note: fmt.Sprintf("住院期间 %s 在 %s %s，结算号 %s%s", when(x.Time), env.instName(x.Institution), how, x.Settlement, amount)}
}
