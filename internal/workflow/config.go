package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"tracewatch"
)

// Config is what a province decides about its workflow: the 合议 quorum and threshold,
// the deadline of each step, and the points thresholds. The zero value of any field takes
// its default (Defaults); Provinces override per province (the first two digits of a
// clue's region).
type Config struct {
	// Quorum is how many distinct panel users must vote a clue to deliberated (default 2).
	Quorum int `json:"quorum,omitempty"`
	// DeliberateAboveYuan: a 高度可疑 clue whose amount is above this needs 合议 (default
	// 10,000 yuan). A 明确违规 clue always does.
	DeliberateAboveYuan int64 `json:"deliberate_above_yuan,omitempty"`
	// DeadlineDays is the days a clue may stay in a state before it is overdue, by state
	// (dispatched: the default deadline of a dispatch that names none).
	DeadlineDays map[tracewatch.ClueState]int `json:"deadline_days,omitempty"`
	// SuspendAt and TerminateAt are the yearly points at which a practitioner's payment
	// qualification is suspended (default 9) and terminated (default 12).
	SuspendAt   int `json:"suspend_at,omitempty"`
	TerminateAt int `json:"terminate_at,omitempty"`
	// SuspendMonths is the months of suspension by yearly points reached (default 9: 1,
	// 10: 3, 11: 6).
	SuspendMonths map[int]int `json:"suspend_months,omitempty"`
	// Provinces override the fields above for a province (key: its 6-digit code, 360000).
	Provinces map[tracewatch.Region]Config `json:"provinces,omitempty"`
}

// Defaults is the configuration of a province that set nothing (docs/workflow.md).
var Defaults = Config{
	Quorum:              2,
	DeliberateAboveYuan: 10_000,
	DeadlineDays: map[tracewatch.ClueState]int{
		tracewatch.ClueNew:           10, // 初审 within 10 days of 机审
		tracewatch.ClueTriaged:       10, // 复审
		tracewatch.ClueReviewed:      10, // 合议 or 下发
		tracewatch.ClueDeliberated:   5,  // 下发 after 合议
		tracewatch.ClueDispatched:    30, // 现场核查 and 反馈, unless the dispatch names its deadline
		tracewatch.ClueInvestigating: 30, // (the dispatch's deadline runs on)
		tracewatch.ClueAnswered:      10, // 办结
		tracewatch.ClueReturned:      10, // the work asked for
		tracewatch.ClueAppealed:      15, // the appeal's decision
	},
	SuspendAt:     9,
	TerminateAt:   12,
	SuspendMonths: map[int]int{9: 1, 10: 3, 11: 6},
}

// FileName is the workflow configuration's file in the data directory.
const FileName = "workflow.json"

// Load reads a configuration file; a missing file is the defaults.
func Load(path string) (Config, error) {
	const op = "workflow.Load"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s: %v", path, err)
	}
	if err := c.validate(); err != nil {
		return Config{}, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s: %v", path, err)
	}
	return c, nil
}

func (c Config) validate() error {
	if c.Quorum < 0 || c.DeliberateAboveYuan < 0 || c.SuspendAt < 0 || c.TerminateAt < 0 {
		return errors.New("quorum, deliberate_above_yuan, suspend_at and terminate_at cannot be negative")
	}
	for st, d := range c.DeadlineDays {
		if _, err := tracewatch.ParseClueState(string(st)); err != nil {
			return fmt.Errorf("deadline_days: %v", err)
		}
		if d < 0 {
			return fmt.Errorf("deadline_days.%s: %d days", st, d)
		}
	}
	for r, p := range c.Provinces {
		if pr, err := tracewatch.ParseRegion(string(r)); err != nil || pr.Province() != pr {
			return fmt.Errorf("provinces: %q is not a province code (like 360000)", r)
		}
		if len(p.Provinces) > 0 {
			return fmt.Errorf("provinces.%s: a province cannot hold provinces", r)
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("provinces.%s: %v", r, err)
		}
	}
	return nil
}

// For returns the configuration that applies in a region: the province's overrides over
// the file's settings over the defaults.
func (c Config) For(r tracewatch.Region) Config {
	out := Defaults.merge(c)
	if len(r) == 6 {
		if p, ok := c.Provinces[r.Province()]; ok {
			out = out.merge(p)
		}
	}
	out.Provinces = nil
	return out
}

func (c Config) merge(o Config) Config {
	if o.Quorum > 0 {
		c.Quorum = o.Quorum
	}
	if o.DeliberateAboveYuan > 0 {
		c.DeliberateAboveYuan = o.DeliberateAboveYuan
	}
	if o.SuspendAt > 0 {
		c.SuspendAt = o.SuspendAt
	}
	if o.TerminateAt > 0 {
		c.TerminateAt = o.TerminateAt
	}
	if len(o.DeadlineDays) > 0 {
		m := make(map[tracewatch.ClueState]int, len(c.DeadlineDays))
		for k, v := range c.DeadlineDays {
			m[k] = v
		}
		for k, v := range o.DeadlineDays {
			m[k] = v
		}
		c.DeadlineDays = m
	}
	if len(o.SuspendMonths) > 0 {
		c.SuspendMonths = o.SuspendMonths
	}
	return c
}

// deadline is when a step entered at now in state st is due (zero: no deadline).
func (c Config) deadline(st tracewatch.ClueState, now time.Time) time.Time {
	d := c.DeadlineDays[st]
	if d <= 0 || st.Terminal() {
		return time.Time{}
	}
	return now.Add(time.Duration(d) * 24 * time.Hour)
}

// Present fills in what the store leaves to the configuration: the 初审 deadline of a
// clue nobody has moved yet (its flow is not stored; it is new since first seen).
func (c Config) Present(cl tracewatch.Clue) tracewatch.Clue {
	if cl.State == tracewatch.ClueNew && cl.Flow.Deadline.IsZero() {
		cl.Flow.Since = cl.FirstSeen
		cl.Flow.Deadline = c.For(cl.Region).deadline(tracewatch.ClueNew, cl.FirstSeen)
	}
	return cl
}

// Due narrows f to the clues of region whose step is due before at and not done: those
// past their stored deadline, and those still new that were first seen longer ago than
// the 初审 deadline allows.
func (c Config) Due(f tracewatch.ClueFilter, region tracewatch.Region, at time.Time) tracewatch.ClueFilter {
	f.DueBefore = at
	if days := c.For(region).DeadlineDays[tracewatch.ClueNew]; days > 0 {
		f.NewSeenBefore = at.Add(-time.Duration(days) * 24 * time.Hour)
	}
	return f
}
