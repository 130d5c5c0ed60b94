package rules

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"tracewatch"
)

// Access is T6A, 接入率: per region (the region code the reference data gives each
// institution, in practice a county) and day, the share of the region's designated
// institutions that uploaded anything that day (any event, by the day it happened:
// stock, purchase, sale, settlement). A region whose rate falls below Floor, or to at
// most DropRatio of its usual rate (the median of its rate over the Baseline days
// before), on MinDays consecutive days or more, while at least MinMissing of its regular
// uploaders are silent, gets one clue per such run of days (提示): many institutions
// stopping at once is a network, interface or platform failure, or a county-wide halt
// of uploading, a matter of data and process to be put right, not the fraud of one
// institution (one institution that stops scanning is T6's).
//
// Designated on a day: an institution of the reference data with a region, whose
// agreement is in force (正常) that day, counted from its agreement's start and from its
// first upload in the data read (an institution the reference data lists that never
// uploaded is not yet connected: no drop of its own). A regular uploader uploaded on at
// least Regular of its designated days among the Baseline days before: a village clinic
// that is shut one day in four is no missing institution when it is shut. The last
// Settle days up to the latest event stored are not judged: their uploads may still
// come (the last day of the data is often partial).
type Access struct {
	Baseline        int
	MinBaseline     int
	Regular         float64
	Floor           float64
	DropRatio       float64
	MinInstitutions int
	MinMissing      int
	MinDays         int
	Settle          int
}

// NewAccess returns T6A with its defaults.
func NewAccess() *Access { return withDefaults(&Access{}) }

// Spec implements Rule.
func (a *Access) Spec() Spec {
	return Spec{Name: "trace.access", Version: 1, Short: "T6A", Title: "接入率", Type: TypeManagement,
		Stages: []Stage{StageAfter}, Scenes: []Scene{SceneOutpatient, SceneInpatient, ScenePharmacy},
		Period: "按日，区划内定点医药机构，基线期与观察日", Severity: tracewatch.SeverityNotice,
		Basis: "国家医保局药品追溯码采集应用要求（定点医药机构按日上传进销存与结算数据）；医保信息平台定点医药机构接入率监测",
		Params: []Param{
			IntParam("baseline", &a.Baseline, 28, 1, 366, "天", "days before a day that set a region's usual rate and who uploads regularly"),
			IntParam("min_baseline", &a.MinBaseline, 7, 1, 366, "天", "baseline days needed before a day is judged (and before an institution counts as a regular uploader)"),
			FloatParam("regular", &a.Regular, 0.8, 0, 1, "比例", "share of its baseline days an institution uploaded on to count as a regular uploader"),
			FloatParam("floor", &a.Floor, 0.5, 0, 1, "比例", "a day's access rate below this is low"),
			FloatParam("drop_ratio", &a.DropRatio, 0.6, 0, 1, "比例", "a day's access rate at most this share of the region's usual rate is low"),
			IntParam("min_institutions", &a.MinInstitutions, 2, 1, 100000, "家", "designated institutions a region needs on a day to be judged"),
			IntParam("min_missing", &a.MinMissing, 2, 1, 100000, "家", "regular uploaders that must be silent on a low day"),
			IntParam("min_days", &a.MinDays, 2, 1, 366, "天", "consecutive low days that make a clue"),
			IntParam("settle", &a.Settle, 1, 0, 30, "天", "last days up to the latest data not judged (uploads may still come)"),
		},
	}
}

// Eval implements Rule.
func (a *Access) Eval(ctx context.Context, env *Env, emit func(tracewatch.Clue)) error {
	last, err := env.Src.LastEvent(ctx)
	if err != nil || last.IsZero() {
		return err
	}
	const dayLen = 24 * time.Hour
	// Judged days: [from, end), whole days in the business time zone.
	end := midnight(last).Add(time.Duration(1-a.Settle) * dayLen)
	if !env.Window.To.IsZero() && midnight(env.Window.To).Before(end) {
		end = midnight(env.Window.To) // the days wholly within the window
	}
	w := tracewatch.Window{To: end}
	var from time.Time
	if !env.Window.From.IsZero() {
		from = midnight(env.Window.From)
		if from.Before(env.Window.From) {
			from = from.Add(dayLen) // judge whole days only
		}
		w.From = from.AddDate(0, 0, -a.Baseline)
	}
	ups, err := env.Src.UploadDays(ctx, w)
	if err != nil || len(ups) == 0 {
		return err
	}
	// Day numbers from the first day read.
	base := midnight(ups[0].Day)
	for _, u := range ups {
		if d := midnight(u.Day); d.Before(base) {
			base = d
		}
	}
	num := func(t time.Time) int { return int(midnight(t).Sub(base).Round(time.Hour) / dayLen) }
	dateOfNum := func(n int) time.Time { return base.AddDate(0, 0, n) }
	if from.IsZero() {
		from = base
	}
	first, nEnd := num(from), num(end)
	if nEnd <= 0 {
		return nil
	}
	uploaded := map[string]map[int]bool{}
	firstUp := map[string]int{}
	for _, u := range ups {
		if u.Events <= 0 {
			continue
		}
		n := num(u.Day)
		if uploaded[u.Institution] == nil {
			uploaded[u.Institution] = map[int]bool{}
			firstUp[u.Institution] = n
		}
		uploaded[u.Institution][n] = true
		firstUp[u.Institution] = min(firstUp[u.Institution], n)
	}
	// The institutions of each region (known regions only).
	byRegion := map[tracewatch.Region][]tracewatch.Institution{}
	for _, in := range env.Institutions {
		if len(in.Region) == 6 {
			byRegion[in.Region] = append(byRegion[in.Region], in)
		}
	}
	regions := make([]tracewatch.Region, 0, len(byRegion))
	for r, ins := range byRegion {
		sort.Slice(ins, func(i, j int) bool { return ins[i].Code < ins[j].Code })
		regions = append(regions, r)
	}
	sort.Slice(regions, func(i, j int) bool { return regions[i] < regions[j] })
	for _, r := range regions {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.region(env, r, byRegion[r], uploaded, firstUp, max(first, 0), nEnd, dateOfNum, emit)
	}
	return nil
}

// midnight returns the start of t's day in the business time zone.
func midnight(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

// accessDay is one judged day of a region.
type accessDay struct {
	n          int
	designated int
	up         int
	rate       float64
	usual      float64
	missing    []string
}

// region judges one region's days [first, end) (day numbers).
func (a *Access) region(env *Env, r tracewatch.Region, ins []tracewatch.Institution, uploaded map[string]map[int]bool,
	firstUp map[string]int, first, end int, date func(int) time.Time, emit func(tracewatch.Clue)) {
	lo := max(0, first-a.Baseline)
	// designated[i][n]: institution i counts on day n.
	des := make([][]bool, len(ins))
	for i, in := range ins {
		des[i] = make([]bool, end)
		f, ok := firstUp[in.Code]
		if !ok {
			continue
		}
		var start time.Time
		if len(in.Agreements) > 0 {
			start = in.Agreements[0].From
			for _, ag := range in.Agreements {
				if ag.From.Before(start) {
					start = ag.From
				}
			}
		}
		for n := max(lo, f); n < end; n++ {
			noon := date(n).Add(12 * time.Hour)
			des[i][n] = !noon.Before(start) && in.AgreementAt(noon) == tracewatch.AgreementNormal
		}
	}
	rates := make([]float64, end)
	counts := make([]int, end)
	for n := lo; n < end; n++ {
		for i, in := range ins {
			if des[i][n] {
				counts[n]++
				if uploaded[in.Code][n] {
					rates[n]++
				}
			}
		}
		if counts[n] > 0 {
			rates[n] /= float64(counts[n])
		}
	}
	var run []accessDay
	flush := func() {
		if len(run) >= a.MinDays {
			a.emitRun(env, r, ins, run, date, emit)
		}
		run = run[:0]
	}
	for n := first; n < end; n++ {
		d, low := a.judge(ins, des, uploaded, rates, counts, n)
		if !low {
			flush()
			continue
		}
		run = append(run, d)
	}
	flush()
}

// judge computes day n of a region and reports whether it is low.
func (a *Access) judge(ins []tracewatch.Institution, des [][]bool, uploaded map[string]map[int]bool, rates []float64, counts []int, n int) (accessDay, bool) {
	d := accessDay{n: n, designated: counts[n], rate: rates[n]}
	if d.designated < a.MinInstitutions {
		return d, false
	}
	b0 := max(0, n-a.Baseline)
	var usual []float64
	for k := b0; k < n; k++ {
		if counts[k] > 0 {
			usual = append(usual, rates[k])
		}
	}
	if len(usual) < a.MinBaseline {
		return d, false
	}
	sort.Float64s(usual)
	d.usual = usual[len(usual)/2]
	if len(usual)%2 == 0 {
		d.usual = (usual[len(usual)/2-1] + usual[len(usual)/2]) / 2
	}
	for i, in := range ins {
		if !des[i][n] {
			continue
		}
		if uploaded[in.Code][n] {
			d.up++
			continue
		}
		var days, up int
		for k := b0; k < n; k++ {
			if des[i][k] {
				days++
				if uploaded[in.Code][k] {
					up++
				}
			}
		}
		if days >= a.MinBaseline && float64(up) >= a.Regular*float64(days) {
			d.missing = append(d.missing, in.Code)
		}
	}
	low := len(d.missing) >= a.MinMissing && (d.rate < a.Floor || d.rate <= d.usual*a.DropRatio)
	return d, low
}

// emitRun writes the clue of a run of low days of region r.
func (a *Access) emitRun(env *Env, r tracewatch.Region, ins []tracewatch.Institution, run []accessDay, date func(int) time.Time, emit func(tracewatch.Clue)) {
	firstDay, lastDay := date(run[0].n), date(run[len(run)-1].n)
	name := string(r)
	if info, ok := env.Regions[r]; ok && info.Name != "" {
		name = info.Name + "（" + string(r) + "）"
	}
	c := tracewatch.Clue{
		Fingerprint: tracewatch.ClueFingerprint(env.RuleID, tracewatch.SubjectRegion, string(r), day(firstDay)),
		Rule:        "access_drop", Severity: tracewatch.SeverityNotice,
		Subject: tracewatch.SubjectRegion, SubjectID: string(r), Region: r,
	}
	silent := map[string][]int{} // institution → its missing days in the run
	lowest := run[0]
	for _, d := range run {
		if d.rate < lowest.rate {
			lowest = d
		}
		names := make([]string, 0, len(d.missing))
		for _, code := range d.missing {
			silent[code] = append(silent[code], d.n)
			names = append(names, env.instName(code))
		}
		c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: date(d.n), What: "access_rate",
			Note: fmt.Sprintf("%s 定点医药机构 %d 家，上传数据 %d 家（接入率 %.1f%%，此前 %d 天中位数 %.1f%%）；平时按日上传而当日未上传：%s",
				day(date(d.n)), d.designated, d.up, d.rate*100, a.Baseline, d.usual*100, strings.Join(names, "、"))})
	}
	codes := make([]string, 0, len(silent))
	for code := range silent {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	names := make([]string, 0, min(len(codes), 6))
	for _, code := range codes {
		ds := silent[code]
		c.Evidence = append(c.Evidence, tracewatch.Evidence{Time: date(ds[0]), What: "no_upload", Institution: code,
			Note: fmt.Sprintf("%s 于 %s 至 %s 间 %d 天未上传任何数据", env.instName(code), day(date(ds[0])), day(date(ds[len(ds)-1])), len(ds))})
		if len(names) < 6 {
			names = append(names, env.instName(code))
		}
	}
	more := ""
	if len(codes) > len(names) {
		more = fmt.Sprintf(" 等 %d 家", len(codes))
	}
	span := fmt.Sprintf("%s 至 %s 连续 %d 天", day(firstDay), day(lastDay), len(run))
	if len(run) == 1 {
		span = day(firstDay) + " "
	}
	c.Explanation = fmt.Sprintf("%s%s定点医药机构接入率偏低：平时（此前 %d 天中位数）%.1f%%，期间最低 %.1f%%（%s %d 家中仅 %d 家上传数据）。平时按日上传的 %s%s 同时中断上传，多为网络、接口或系统故障，也可能是集中停止扫码上传，请督促相关机构排查并补传数据。",
		name, span, a.Baseline, lowest.usual*100, lowest.rate*100, day(date(lowest.n)), lowest.designated, lowest.up, strings.Join(names, "、"), more)
	emit(c)
}
