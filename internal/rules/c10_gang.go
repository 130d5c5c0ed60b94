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

// Gang is C10, 团伙: persons who again and again buy the same drugs together. Two persons
// are linked when, on at least MinDays days, both bought the same drug at the same
// institution within Within of each other; the links weighted by those days make the
// co-purchase graph. A connected group of at least MinMembers and at most MaxMembers
// persons is one gang; a larger one is split into its communities by modularity
// (Louvain, at Resolution), again while a community stays larger than MaxMembers, so
// that honest buyers chained to a gang through one busy counter do not swallow it and
// two gangs bridged by one shared member stay two. Each community of MinMembers or more
// linked persons is 可疑: bought for resale with borrowed cards (团伙倒药), one clue per
// group with its members, drugs, institutions and settlements. A couple buying together
// is two persons, below the default of three; a crowd that modularity cannot split below
// MaxMembers is a busy counter, not a gang.
type Gang struct {
	Within     time.Duration
	MinDays    int
	MinMembers int
	MaxMembers int
	Resolution float64
}

// NewGang returns C10 with its defaults.
func NewGang() *Gang { return withDefaults(&Gang{}) }

// Spec implements Rule.
func (g *Gang) Spec() Spec {
	return Spec{Name: "claims.gang", Version: 2, Short: "C10", Title: "团伙购药", Type: TypeMedical,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, ScenePharmacy},
		Period: "筛查窗口内的共同购药", Severity: tracewatch.SeveritySuspicious,
		Basis: "《医疗保障基金使用监督管理条例》第四十一条（个人骗保、倒卖药品）",
		Params: []Param{
			DurationParam("within", &g.Within, time.Hour, time.Minute, 24*time.Hour, "how close in time two purchases of one drug at one institution count as bought together"),
			IntParam("min_days", &g.MinDays, 3, 1, 366, "天", "days two persons must have bought together to be linked"),
			IntParam("min_members", &g.MinMembers, 3, 2, 10000, "人", "persons a linked group must count"),
			IntParam("max_members", &g.MaxMembers, 50, 3, 100000, "人", "linked groups larger than this are split into communities (Louvain) until each is at most this size; what cannot be split is not a gang"),
			FloatParam("resolution", &g.Resolution, 1, 0.1, 10, "", "modularity resolution of the split: higher splits into smaller communities"),
		},
	}
}

// Eval implements Rule.
func (g *Gang) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	var pairs []facts.CoPurchase
	err := env.Src.CoPurchases(ctx, facts.CoPurchaseQuery{Window: env.Window, Within: g.Within, MinDays: g.MinDays}, func(c facts.CoPurchase) error {
		pairs = append(pairs, c)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	// The co-purchase graph: persons numbered in sorted order, links weighted by the
	// days bought together.
	idx := map[string]int{}
	for _, c := range pairs {
		idx[c.Person1], idx[c.Person2] = 0, 0
	}
	persons := slices.Sorted(maps.Keys(idx))
	for i, p := range persons {
		idx[p] = i
	}
	links := make([]coLink, len(pairs))
	for i, c := range pairs {
		links[i] = coLink{a: idx[c.Person1], b: idx[c.Person2], w: float64(c.Days)}
	}
	groupOf := make([]int, len(persons)) // person → group (the group's smallest member), -1 none
	for i := range groupOf {
		groupOf[i] = -1
	}
	for _, members := range communities(persons, links, g.MinMembers, g.MaxMembers, g.Resolution) {
		for _, m := range members {
			groupOf[m] = members[0]
		}
	}
	type group struct {
		members     map[string]bool
		insts       map[string]int
		drugs       map[string]bool
		settlements map[string]tracewatch.Fen
		lines       map[string]tracewatch.Fen // msgid#line → sale amount
		days        int
		first, last time.Time
		pairs       []facts.CoPurchase
	}
	groups := map[string]*group{}
	for i, c := range pairs {
		gid := groupOf[links[i].a]
		if gid < 0 || groupOf[links[i].b] != gid {
			continue // a link leaving its community, or of no gang
		}
		r := persons[gid]
		gr := groups[r]
		if gr == nil {
			gr = &group{members: map[string]bool{}, insts: map[string]int{}, drugs: map[string]bool{}, settlements: map[string]tracewatch.Fen{}, lines: map[string]tracewatch.Fen{}, first: c.First, last: c.Last}
			groups[r] = gr
		}
		gr.members[c.Person1], gr.members[c.Person2] = true, true
		for _, in := range c.Institutions {
			gr.insts[in]++
		}
		for _, d := range c.Drugs {
			gr.drugs[d] = true
		}
		for s, f := range c.Settlements {
			gr.settlements[s] = f
		}
		for l, a := range c.Lines {
			gr.lines[l] = a
		}
		gr.days = max(gr.days, c.Days)
		if c.First.Before(gr.first) {
			gr.first = c.First
		}
		if c.Last.After(gr.last) {
			gr.last = c.Last
		}
		gr.pairs = append(gr.pairs, c)
	}
	roots := make([]string, 0, len(groups))
	for r, gr := range groups {
		if len(gr.members) >= g.MinMembers {
			roots = append(roots, r)
		}
	}
	sort.Strings(roots)
	for _, r := range roots {
		gr := groups[r]
		members := slices.Sorted(maps.Keys(gr.members))
		insts := byCount(gr.insts)
		drugs := slices.Sorted(maps.Keys(gr.drugs))
		c := tracewatch.Clue{
			// The group is named by its smallest member: stable while it grows.
			Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectPerson, members[0]),
			Rule:        "gang", Severity: tracewatch.SeveritySuspicious,
			Subject: tracewatch.SubjectPerson, SubjectID: members[0], Institution: insts[0], Persons: members,
		}
		var fund, sale tracewatch.Fen
		for s, f := range gr.settlements {
			c.Settlements = append(c.Settlements, s)
			fund += f
		}
		for _, a := range gr.lines {
			sale += a
		}
		setAmount(&c, fund, sale)
		sort.Strings(c.Settlements)
		drugNames := make([]string, len(drugs))
		for i, d := range drugs {
			drugNames[i] = env.drugName(d)
		}
		instNames := make([]string, len(insts))
		for i, in := range insts {
			instNames[i] = env.instName(in)
		}
		c.Explanation = fmt.Sprintf("参保人 %s 等 %d 人在 %s 至 %s 期间多次相约在 %s 购买相同药品（%s）：每次相隔不到 %s，两两同购最多 %d 天，疑为团伙冒名购药倒卖，请核查其关系与药品去向。",
			members[0], len(members), when(gr.first), when(gr.last), strings.Join(instNames, "、"), strings.Join(drugNames, "、"), durationText(g.Within), gr.days)
		sort.Slice(gr.pairs, func(a, b int) bool {
			if gr.pairs[a].Person1 != gr.pairs[b].Person1 {
				return gr.pairs[a].Person1 < gr.pairs[b].Person1
			}
			return gr.pairs[a].Person2 < gr.pairs[b].Person2
		})
		for _, p := range gr.pairs {
			c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: p.First, What: "bought_together", Institution: p.Institutions[0],
				Note: fmt.Sprintf("%s 与 %s 有 %d 天在同一机构一小时内购买同一药品（%s 至 %s）", p.Person1, p.Person2, p.Days, when(p.First), when(p.Last))})
		}
		emit(c)
	}
	return nil
}

// durationText prints a span in Chinese: 1 小时, 30 分钟.
func durationText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d 小时", int(d/time.Hour))
	}
	return fmt.Sprintf("%d 分钟", int(d/time.Minute))
}
