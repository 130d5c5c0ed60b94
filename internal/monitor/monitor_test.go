package monitor

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/facts"
)

var (
	day0 = time.Date(2025, 8, 1, 0, 0, 0, 0, tracewatch.Beijing)
	regs = []tracewatch.RegionInfo{{Code: "360000", Name: "江西省"}, {Code: "360100", Name: "南昌市", Parent: "360000"},
		{Code: "360102", Name: "东湖区", Parent: "360100"}, {Code: "360300", Name: "萍乡市", Parent: "360000"}, {Code: "360302", Name: "安源区", Parent: "360300"}}
	insts = []tracewatch.Institution{
		{Code: "P36010200001", Name: "一号药房", Region: "360102"},
		{Code: "P36010200002", Name: "二号药房", Region: "360102"},
		{Code: "P36030200001", Name: "三号药房", Region: "360302"},
		// Terminated before the period: not designated, its uploads not counted.
		{Code: "P36030200009", Name: "已解除", Region: "360302", Agreements: []tracewatch.Agreement{{Status: tracewatch.AgreementTerminated, From: day0.AddDate(0, -1, 0)}}},
		{Code: "P44010000001", Name: "外省", Region: "440100"},
	}
)

// days builds n days of one institution's lines from day0 + offset, coded of lines each.
func days(inst string, offset, n int, lines, coded int64) []facts.CollectionDay {
	var out []facts.CollectionDay
	for i := range n {
		out = append(out, facts.CollectionDay{Institution: inst, Day: day0.AddDate(0, 0, offset+i), Lines: lines, Coded: coded})
	}
	return out
}

func ups(inst string, offset, n int) []facts.UploadDay {
	var out []facts.UploadDay
	for i := range n {
		out = append(out, facts.UploadDay{Institution: inst, Day: day0.AddDate(0, 0, offset+i), Events: 3})
	}
	return out
}

func TestBuildProvince(t *testing.T) {
	var coll []facts.CollectionDay
	coll = append(coll, days("P36010200001", 0, 14, 10, 10)...) // 100 %
	// 二号 scans every line for 7 days, then 3 in 10: a drop of 70 points.
	coll = append(coll, days("P36010200002", 0, 7, 10, 10)...)
	coll = append(coll, days("P36010200002", 7, 7, 10, 3)...)
	// 三号 falls by 15 points only: no drop at the default 20.
	coll = append(coll, days("P36030200001", 0, 7, 20, 20)...)
	coll = append(coll, days("P36030200001", 7, 7, 20, 17)...)
	coll = append(coll, days("P36030200009", 0, 14, 10, 0)...)                                                              // terminated: left out
	coll = append(coll, days("P44010000001", 0, 14, 10, 0)...)                                                              // another province: left out
	coll = append(coll, facts.CollectionDay{Institution: "P36010200001", Day: day0.AddDate(0, 0, 14), Lines: 99, Coded: 0}) // after the period
	var up []facts.UploadDay
	up = append(up, ups("P36010200001", 0, 14)...)
	up = append(up, ups("P36010200002", 0, 7)...) // stops uploading after a week
	up = append(up, ups("P36030200001", 0, 14)...)
	up = append(up, ups("P36030200009", 0, 14)...)
	clues := []tracewatch.ClueGroup{
		{Detector: "trace.duplicate@1", Severity: tracewatch.SeverityHighlySuspicious, State: tracewatch.ClueNew, Region: "360102", Clues: 4, AmountFen: 4000},
		{Detector: "trace.duplicate@1", Severity: tracewatch.SeverityHighlySuspicious, State: tracewatch.ClueClosed, Region: "360102", Clues: 1, AmountFen: 1000, RecoveredFen: 800, PenaltyFen: 100},
		{Detector: "claims.gender@1", Severity: tracewatch.SeveritySuspicious, State: tracewatch.ClueTriaged, Region: "360302", Clues: 2, AmountFen: 50},
		{Detector: "trace.collection@1", Severity: tracewatch.SeverityNotice, State: tracewatch.ClueNew, Region: "", Clues: 1},
	}
	overdue := []tracewatch.ClueGroup{{Region: "360102", Clues: 4}}
	d := Build(Config{}, Input{Region: "360000", From: day0, To: day0.AddDate(0, 0, 14), Regions: regs, Institutions: insts,
		Collection: coll, Uploads: up, Clues: clues, Overdue: overdue, Titles: map[string]string{"trace.duplicate@1": "T1 重复销售"}})

	if d.RegionName != "江西省" || d.From != "2025-08-01" || d.To != "2025-08-14" || d.AreaLevel != "city" || len(d.Days) != 14 {
		t.Fatalf("dashboard: %s %s..%s level %s, %d days", d.RegionName, d.From, d.To, d.AreaLevel, len(d.Days))
	}
	// Lines: 140 + 140 + 280 = 560; coded: 140 + 70 + 21 + 140 + 119 = 490.
	if d.Rates.Lines != 560 || d.Rates.Coded != 490 || *d.Rates.Collection != 490.0/560 {
		t.Errorf("rates: %+v", d.Rates)
	}
	if d.Rates.Designated != 3 || d.Rates.Uploading != 3 || *d.Rates.Access != 1 {
		t.Errorf("access: designated %d uploading %d", d.Rates.Designated, d.Rates.Uploading)
	}
	if last := d.Days[13]; last.Uploading != 2 || last.Designated != 3 || last.Lines != 40 || last.Coded != 30 {
		t.Errorf("last day: %+v", last)
	}
	areas := map[string]Area{}
	for _, a := range d.Areas {
		areas[a.Code] = a
	}
	nc, px, unknown := areas["360100"], areas["360300"], areas[""]
	if nc.Name != "南昌市" || nc.Rates.Lines != 280 || nc.Rates.Coded != 231 || nc.Clues != 5 || nc.Open != 4 || nc.Overdue != 4 ||
		nc.RecoveredFen != 800 || nc.PenaltyFen != 100 || nc.AmountFen != 5000 {
		t.Errorf("南昌: %+v", nc)
	}
	// 南昌: 82.5 % collected and every open clue overdue: 告警. 萍乡: 259 of 280 lines, 92.5 %: 良好.
	if nc.Grade != GradeAlert || px.Grade != GradeGood {
		t.Errorf("grades: 南昌 %s, 萍乡 %s (%.3f)", nc.Grade, px.Grade, *px.Rates.Collection)
	}
	if unknown.Name != "未知地区" || unknown.Clues != 1 || unknown.Grade != GradeNoData {
		t.Errorf("unknown region's area: %+v", unknown)
	}
	if d.Clues.Clues != 8 || d.Clues.Open != 7 || d.Clues.Overdue != 4 || d.Clues.RecoveredFen != 800 {
		t.Errorf("clue figures: %+v", d.Clues)
	}
	if len(d.ByModel) != 3 || d.ByModel[0].Label != "T1 重复销售" || d.ByModel[0].Clues != 5 {
		t.Errorf("by model: %+v", d.ByModel)
	}
	if d.BySeverity[0].Key != "highly_suspicious" || d.ByState[0].Key != "new" || d.ByState[0].Clues != 5 {
		t.Errorf("by severity %+v, by state %+v", d.BySeverity, d.ByState)
	}
	// Drops: 二号's collection (100 → 30 %), 南昌's collection (100 → 65 %) and access
	// (2 → 1 of 2 institutions); not 三号's 15 points.
	var got []string
	for _, x := range d.Drops {
		got = append(got, x.Kind+":"+x.Code+":"+x.Rate)
	}
	want := map[string]bool{"institution:P36010200002:collection": true, "city:360100:collection": true, "city:360100:access": true}
	if len(got) != len(want) {
		t.Errorf("drops: %v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected drop %s (all: %v)", g, got)
		}
	}
	if d.Drops[0].Code != "P36010200002" || d.Drops[0].Since != "2025-08-08" {
		t.Errorf("largest drop first: %+v", d.Drops[0])
	}
	if len(d.Lowest) != 3 || d.Lowest[0].Code != "P36010200002" || d.Lowest[0].Grade != GradeAlert || d.Lowest[2].Code != "P36010200001" ||
		d.Lowest[2].Grade != GradeExcellent || *d.Lowest[2].Rates.Access != 1 {
		t.Errorf("lowest: %+v", d.Lowest)
	}
	// A lower drop threshold catches 三号 too.
	d2 := Build(Config{DropPoints: 10}, Input{Region: "360000", From: day0, To: day0.AddDate(0, 0, 14), Regions: regs, Institutions: insts, Collection: coll, Uploads: up})
	found := false
	for _, x := range d2.Drops {
		found = found || x.Code == "P36030200001"
	}
	if !found {
		t.Errorf("drop_points 10 misses 三号: %+v", d2.Drops)
	}
}

func TestBuildCountyAndNoData(t *testing.T) {
	// A county's areas are its institutions; a county without lines or institutions has
	// no grade, never 告警.
	coll := days("P36010200001", 0, 3, 10, 10)
	d := Build(Config{}, Input{Region: "360102", From: day0, To: day0.AddDate(0, 0, 3), Regions: regs, Institutions: insts, Collection: coll,
		Uploads: ups("P36010200001", 0, 3), Clues: []tracewatch.ClueGroup{{Institution: "P36010200002", State: tracewatch.ClueNew, Clues: 2}}})
	if d.AreaLevel != "institution" || len(d.Areas) != 2 {
		t.Fatalf("county areas: %s %+v", d.AreaLevel, d.Areas)
	}
	if a := d.Areas[1]; a.Code != "P36010200002" || a.Clues != 2 || a.Rates.Collection != nil || *a.Rates.Access != 0 {
		t.Errorf("二号 in its county: %+v", a)
	}
	empty := Build(Config{}, Input{Region: "360900", From: day0, To: day0.AddDate(0, 0, 3), Regions: regs, Institutions: insts})
	if empty.Grade != GradeNoData || empty.Rates.Collection != nil || empty.Rates.Access != nil || len(empty.Days) != 3 {
		t.Errorf("no data: %+v", empty)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if c, err := Load(filepath.Join(dir, "none.json")); err != nil || c.DropPoints != 20 || c.Excellent.Collection != 0.95 {
		t.Errorf("missing file: %+v %v", c, err)
	}
	p := filepath.Join(dir, FileName)
	os.WriteFile(p, []byte(`{"drop_points": 10, "good": {"collection": 0.7, "access": 0.6, "overdue": 0.3}}`), 0o644)
	c, err := Load(p)
	if err != nil || c.DropPoints != 10 || c.DropDays != 7 || c.Good.Access != 0.6 || c.Excellent.Access != 0.95 {
		t.Errorf("file: %+v %v", c, err)
	}
	os.WriteFile(p, []byte(`{"excellent": {"collection": 95}}`), 0o644)
	if _, err := Load(p); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("a percentage instead of a share: %v", err)
	}
	if from, to, err := Month("2025-08"); err != nil || !from.Equal(day0) || !to.Equal(day0.AddDate(0, 1, 0)) {
		t.Errorf("month: %v %v %v", from, to, err)
	}
	if _, _, err := Month("2025-13"); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("bad month: %v", err)
	}
	from, to := Period(time.Date(2025, 9, 28, 15, 50, 0, 0, time.UTC), 30) // 23:50 Beijing
	if from.Format("2006-01-02") != "2025-08-30" || to.Format("2006-01-02") != "2025-09-29" {
		t.Errorf("period: %v %v", from, to)
	}
}
