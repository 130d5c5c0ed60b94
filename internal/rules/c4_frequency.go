package rules

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"tracewatch/internal/facts"

	"tracewatch"
)

// Frequency is C4, 高频就诊/购药: a person with at least Min insured outpatient or
// pharmacy settlements within Days days: the 2207 settlements, and where a province
// uploads no 2207 the settlements its insured 3505 rows name (mdtrt_setl_type 1, one per
// distinct setl_id; a settlement both report counts once). Void settlements (cancelled
// by a 2208 at or after them) do not count. A chronic patient settles about once a
// month; eight settlements in a week are a card lent or sold (冒名), drugs bought for
// resale (倒卖), or visits induced by the institution: 可疑, one clue per person with
// every settlement of its dense spells as evidence and their fund payment as the amount.
type Frequency struct {
	Days int
	Min  int
}

// NewFrequency returns C4 with its defaults.
func NewFrequency() *Frequency { return withDefaults(&Frequency{}) }

// Spec implements Rule.
func (f *Frequency) Spec() Spec {
	return Spec{Name: "claims.frequency", Version: 1, Short: "C4", Title: "高频就诊购药", Type: TypeMedical,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "滑动窗口（天）", Severity: tracewatch.SeveritySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第十五条（实名就医购药）、第四十一条（个人骗保）",
		Params: []Param{
			IntParam("days", &f.Days, 7, 1, 366, "天", "the span of days the settlements are counted in"),
			IntParam("min", &f.Min, 8, 2, 10000, "次", "settlements within the span from which a person is flagged"),
		},
	}
}

// Eval implements Rule.
func (f *Frequency) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	var person string
	var lines []tracewatch.TimelineEntry
	var ref tracewatch.Person
	flush := func() {
		if len(lines) > 0 {
			f.person(env, person, ref, lines, emit)
		}
		lines = lines[:0]
	}
	err := env.Src.FrequentSettlements(ctx, facts.DenseSettlementQuery{Window: env.Window, SpanDays: f.Days, MinCount: f.Min}, func(l *tracewatch.TimelineEntry, p tracewatch.Person) error {
		if l.Person != person {
			flush()
			person, ref = l.Person, p
		}
		lines = append(lines, *l)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// person raises the clue of one person from their settlements in time order: every
// settlement that lies in a span of Days holding at least Min of them. A settlement is
// a run of lines of one institution and setl_id (facts.Reader.FrequentSettlements).
func (f *Frequency) person(env *Env, psn string, p tracewatch.Person, all []tracewatch.TimelineEntry, emit func(tracewatch.Clue)) {
	var sets [][]tracewatch.TimelineEntry
	for i := range all {
		if i == 0 || all[i].Institution != all[i-1].Institution || all[i].Settlement != all[i-1].Settlement {
			sets = append(sets, nil)
		}
		sets[len(sets)-1] = append(sets[len(sets)-1], all[i])
	}
	lines := make([]tracewatch.TimelineEntry, len(sets)) // the first line of each settlement
	for i, set := range sets {
		lines[i] = set[0]
	}
	span := time.Duration(f.Days) * 24 * time.Hour
	in := make([]bool, len(lines))
	most := 0
	for i, j := 0, 0; j < len(lines); j++ {
		for lines[j].Time.Sub(lines[i].Time) > span {
			i++
		}
		if n := j - i + 1; n >= f.Min {
			for k := i; k <= j; k++ {
				in[k] = true
			}
			most = max(most, n)
		}
	}
	if most == 0 {
		return
	}
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, psn),
		Rule:        "frequency", Severity: tracewatch.SeveritySuspicious,
		Subject: tracewatch.SubjectPerson, SubjectID: psn, Persons: []string{psn},
	}
	byInst := map[string]int{}
	var first, last time.Time
	n := 0
	var fund tracewatch.Fen
	var amount saleSum
	for k := range lines {
		if !in[k] {
			continue
		}
		l := &lines[k]
		if n == 0 {
			first = l.Time
		}
		last = l.Time
		n++
		byInst[l.Institution]++
		c.Settlements = append(c.Settlements, l.Settlement)
		fund += l.FundPaid
		for m := range sets[k] {
			amount.add(env, &sets[k][m].Event)
		}
		c.Evidence = append(c.Evidence, env.claimEvidence(l))
	}
	setAmount(&c, fund, amount.total)
	insts := byCount(byInst)
	c.Institution = insts[0] // where most of them happened: its region
	names := make([]string, 0, min(len(insts), 4))
	for _, in := range insts[:min(len(insts), 4)] {
		names = append(names, fmt.Sprintf("%s %d 次", env.instName(in), byInst[in]))
	}
	more := ""
	if len(insts) > 4 {
		more = fmt.Sprintf(" 等 %d 家机构", len(insts))
	}
	who := "参保人 " + psn + " "
	if p.PsnNo != "" && p.Birth.Year() > 1 {
		who = fmt.Sprintf("参保人 %s（%s，%d 岁）", psn, genderText(p.Gender), ageAt(p.Birth, first))
	}
	c.Explanation = fmt.Sprintf("%s在 %s 至 %s 期间医保门诊/购药结算 %d 次（任意 %d 天内最多 %d 次，阈值 %d 次），分布于 %s%s，就诊购药频次异常，疑为冒名就医、倒卖药品或诱导就医，请核查。",
		who, when(first), when(last), n, f.Days, most, f.Min, strings.Join(names, "、"), more)
	emit(c)
}

// byCount returns the keys of counts, the most counted first (ties by key).
func byCount(counts map[string]int) []string {
	keys := slices.Collect(maps.Keys(counts))
	sort.Slice(keys, func(a, b int) bool {
		if counts[keys[a]] != counts[keys[b]] {
			return counts[keys[a]] > counts[keys[b]]
		}
		return keys[a] < keys[b]
	})
	return keys
}
