package synth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/refload"
	"tracewatch/internal/synth"
	"tracewatch/internal/tracecode"
)

// The province shapes of issue 11 (Options.CodemapLevels, InboundCartons, SalesOnly,
// LateUploads): each changes what it says and nothing else. The tests compare a
// province generated with one shape against the same seed without it.

// shapeLines is 2×10^4 sale lines: enough purchases and cancels for the shares.
const shapeLines = 20_000

// rawLine is one line of a message file.
type rawLine struct {
	file int // day of the file (0 = the first)
	raw  []byte
}

// rawLines reads every message line in file order.
func rawLines(t *testing.T, dir string) []rawLine {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "messages", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []rawLine
	for day, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if len(l) > 0 {
				out = append(out, rawLine{file: day, raw: l})
			}
		}
	}
	return out
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFiles checks that the files of a and b are equal but those named in differ.
func sameFiles(t *testing.T, a, b synth.Summary, differ ...string) {
	t.Helper()
	digests := map[string]string{}
	for _, f := range a.Files {
		digests[f.Path] = f.SHA256
	}
	for _, f := range b.Files {
		if slices.ContainsFunc(differ, func(p string) bool { return strings.HasPrefix(f.Path, p) }) {
			continue
		}
		if digests[f.Path] != f.SHA256 {
			t.Errorf("%s differs from the province without the option", f.Path)
		}
	}
	if len(a.Files) != len(b.Files) {
		t.Errorf("%d files, %d without the option", len(b.Files), len(a.Files))
	}
}

var (
	shapeBase struct {
		dir string
		sum synth.Summary
	}
	infnoField = regexp.MustCompile(`^\{"infno":"(\d+)"`)
)

// base is the province of seed 7 with shapeLines sale lines and no shape option.
func base(t *testing.T) (string, synth.Summary) {
	t.Helper()
	if shapeBase.dir == "" {
		dir, err := os.MkdirTemp("", "synth-shapes-")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := synth.Generate(synth.Options{Seed: 7, SaleLines: shapeLines}, synth.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		shapeBase.dir, shapeBase.sum = dir, sum
	}
	return shapeBase.dir, shapeBase.sum
}

func infnoOf(raw []byte) string {
	if m := infnoField.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

// TestShapeCodemapAbsent: codemap.csv has no pack_level column (absent, not empty), the
// same rows otherwise, and it loads; nothing else changes.
func TestShapeCodemapAbsent(t *testing.T) {
	dir0, sum0 := tiny(t)
	dir, sum := generate(t, synth.Options{Seed: 7, Scale: "tiny", CodemapLevels: synth.CodemapLevelsAbsent})
	sameFiles(t, sum0, sum, "reference/codemap.csv")
	was, now := readCSV(t, filepath.Join(dir0, "reference", "codemap.csv")), readCSV(t, filepath.Join(dir, "reference", "codemap.csv"))
	if strings.Join(now[0], ",") != "product_id,med_list_codg,commodity_code" {
		t.Errorf("header %v", now[0])
	}
	if len(was) != len(now) {
		t.Fatalf("%d rows, %d with levels", len(now), len(was))
	}
	for i := range was {
		if len(now[i]) != 3 || strings.Join(now[i], ",") != strings.Join(was[i][:3], ",") {
			t.Errorf("row %d: %v, with levels %v", i, now[i], was[i])
		}
	}
	if sum.Options.CodemapLevels != "absent" || sum0.Options.CodemapLevels != "" {
		t.Errorf("manifest options: %+v / without: %+v", sum.Options, sum0.Options)
	}
	checkReferenceLoads(t, dir)
	if _, err := synth.Generate(synth.Options{Seed: 7, Scale: "tiny", CodemapLevels: "empty"}, synth.Discard); err == nil {
		t.Errorf("codemap levels \"empty\" accepted")
	}
}

// checkReferenceLoads reads codemap.csv with the loader: every line a row.
func checkReferenceLoads(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "reference", "codemap.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := refload.Read(refload.KindCodeMap, refload.CSV, f, refload.Options{HashKey: []byte("k")})
	if err != nil {
		t.Fatalf("codemap: %v", err)
	}
	if lines := len(readCSV(t, path)) - 1; rows.Len() != lines || lines == 0 {
		t.Errorf("codemap: loaded %d rows from %d lines", rows.Len(), lines)
	}
}

// TestShapeInboundCartons: about the share asked of the coded purchases list every
// carton by its carton code (a parent in packages.csv), with the same quantity; the
// other messages, the reference and the labels are as without the option, and the
// planted cases still stand (an empty swipe's pack was received by nobody, its carton
// neither).
func TestShapeInboundCartons(t *testing.T) {
	dir0, sum0 := base(t)
	dir, sum := generate(t, synth.Options{Seed: 7, SaleLines: shapeLines, InboundCartons: 300})
	sameFiles(t, sum0, sum, "messages/", "manifest.json")
	if !bytes.Equal(readFile(t, dir0, "labels.jsonl"), readFile(t, dir, "labels.jsonl")) {
		t.Errorf("labels.jsonl differs")
	}
	parents := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "packages.csv"))[1:] {
		parents[r[0]] = true
	}
	coded := map[string]bool{} // drugs with a carton code
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "codemap.csv"))[1:] {
		if r[3] == "3" {
			coded[r[1]] = true
		}
	}
	was, now := rawLines(t, dir0), rawLines(t, dir)
	if len(was) != len(now) {
		t.Fatalf("%d messages, %d without the option", len(now), len(was))
	}
	purchases, changed := 0, 0
	for i := range now {
		if bytes.Equal(was[i].raw, now[i].raw) && was[i].file == now[i].file {
			if infnoOf(now[i].raw) == "3503" && cartonsOnly(t, now[i].raw, parents) {
				changed++ // listed by carton code without the option too: no change to see
			}
			if infnoOf(now[i].raw) == "3503" && coded[drugOf(now[i].raw)] {
				purchases++
			}
			continue
		}
		if infnoOf(now[i].raw) != "3503" {
			t.Fatalf("message %d (%s) changed:\n%s\n%s", i, infnoOf(now[i].raw), was[i].raw, now[i].raw)
		}
		purchases++
		changed++
		ev0, ev := decodeOne(t, was[i].raw), decodeOne(t, now[i].raw)
		if ev.Qty != ev0.Qty || ev.DrugCode != ev0.DrugCode || !cartonsOnly(t, now[i].raw, parents) {
			t.Errorf("purchase %d: qty %v (was %v), codes %v", i, ev.Qty, ev0.Qty, ev.Codes)
		}
	}
	if sum.Counts.CartonPurchases == 0 || sum.Counts.CartonPurchases > changed {
		t.Errorf("manifest: %d carton purchases, %d seen", sum.Counts.CartonPurchases, changed)
	}
	share := float64(sum.Counts.CartonPurchases) / float64(purchases)
	t.Logf("%d of %d coded purchases by carton code (%.3f); %d listed by carton codes in all", sum.Counts.CartonPurchases, purchases, share, changed)
	if share < 0.25 || share > 0.35 {
		t.Errorf("share of purchases by carton code %.3f, want about 0.3", share)
	}
	checkPlanted(t, dir)
}

// cartonsOnly reports whether the purchase raw lists codes, all of them carton codes.
func cartonsOnly(t *testing.T, raw []byte, parents map[string]bool) bool {
	ev := decodeOne(t, raw)
	if len(ev.Codes) == 0 {
		return false
	}
	for _, c := range ev.Codes {
		k, err := tracecode.Parse(c.Raw)
		if err != nil || !parents[k.Key] {
			return false
		}
	}
	return true
}

var drugField = regexp.MustCompile(`"med_list_codg":"([^"]*)"`)

func drugOf(raw []byte) string {
	if m := drugField.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

// decodeOne decodes a message of one row.
func decodeOne(t *testing.T, raw []byte) tracewatch.Event {
	t.Helper()
	req, err := nhsa.DecodeRequest(raw)
	if err != nil {
		t.Fatalf("%v: %.300s", err, raw)
	}
	evs, rowErrs, err := nhsa.Decode(req)
	if err != nil || len(rowErrs) > 0 || len(evs) == 0 {
		t.Fatalf("%v %v: %.300s", err, rowErrs, raw)
	}
	return evs[0]
}

// TestShapeSalesOnly: the messages are those of the province without the option, in
// the same order, less every 2204, 2207, 2301 and 2304; the labels are the same less
// the split stays (seen only in 2301/2304).
func TestShapeSalesOnly(t *testing.T) {
	dir0, sum0 := base(t)
	dir, sum := generate(t, synth.Options{Seed: 7, SaleLines: shapeLines, SalesOnly: true})
	sameFiles(t, sum0, sum, "messages/", "labels.jsonl", "manifest.json")
	dropped := map[string]bool{"2204": true, "2207": true, "2301": true, "2304": true}
	var want []rawLine
	for _, l := range rawLines(t, dir0) {
		if !dropped[infnoOf(l.raw)] {
			want = append(want, l)
		}
	}
	got := rawLines(t, dir)
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].file != want[i].file || !bytes.Equal(got[i].raw, want[i].raw) {
			t.Fatalf("message %d:\n%s\nwant\n%s", i, got[i].raw, want[i].raw)
		}
	}
	for infno := range dropped {
		if sum.Counts.Messages[infno] != 0 || sum0.Counts.Messages[infno] == 0 {
			t.Errorf("%s: %d messages counted, %d without the option", infno, sum.Counts.Messages[infno], sum0.Counts.Messages[infno])
		}
	}
	if sum.Counts.Messages["2208"] == 0 || sum.Counts.SaleLines != sum0.Counts.SaleLines {
		t.Errorf("counts %+v", sum.Counts)
	}
	var wantLabels []synth.Label
	for _, l := range readLabels(t, dir0) {
		if l.Scenario != "split_hospitalisation" {
			l.ID = ""
			wantLabels = append(wantLabels, l)
		}
	}
	gotLabels := readLabels(t, dir)
	for i := range gotLabels {
		gotLabels[i].ID = ""
	}
	if len(gotLabels) != len(wantLabels) || sum.Counts.Labels["split_hospitalisation"] != 0 || sum0.Counts.Labels["split_hospitalisation"] == 0 {
		t.Fatalf("%d labels, want %d", len(gotLabels), len(wantLabels))
	}
	for i := range gotLabels {
		if !slices.Equal(gotLabels[i].Codes, wantLabels[i].Codes) || gotLabels[i].Scenario != wantLabels[i].Scenario ||
			!slices.Equal(gotLabels[i].Settlements, wantLabels[i].Settlements) || !slices.Equal(gotLabels[i].Persons, wantLabels[i].Persons) {
			t.Errorf("label %d: %+v, want %+v", i, gotLabels[i], wantLabels[i])
		}
	}
}

// TestShapeLateUploads: about the share asked of the messages is in the file of a later
// day (1 to 3 days) than its event, never an earlier one; some cancels (2208) come in a
// file before the sale they cancel; a few sale rows are withdrawn by a 3507 and the same
// row is uploaded again under a new msgid, after the original. Without the withdrawals
// and re-uploads, the messages are those of the province without the option.
func TestShapeLateUploads(t *testing.T) {
	dir0, sum0 := base(t)
	dir, sum := generate(t, synth.Options{Seed: 7, SaleLines: shapeLines, LateUploads: 200})
	sameFiles(t, sum0, sum, "messages/", "manifest.json")
	if !bytes.Equal(readFile(t, dir0, "labels.jsonl"), readFile(t, dir, "labels.jsonl")) {
		t.Errorf("labels.jsonl differs")
	}
	start := time.Date(2025, 7, 1, 0, 0, 0, 0, synth.CST)
	fileEnd := func(file int) time.Time { return start.AddDate(0, 0, file+1) }
	infTime := regexp.MustCompile(`"inf_time":"([^"]*)"`)
	withdrawnMsg := regexp.MustCompile(`"msgid":"\w{26}[DR]\d{3}"`)
	ownBchno := regexp.MustCompile(`("fixmedins_bchno":"[^"]*)-W\d+"`)

	malformed := map[string]bool{}
	for _, l := range readLabels(t, dir) {
		if l.Scenario == "malformed_message" {
			malformed[l.MsgIDs[0]] = true
		}
	}
	lines := rawLines(t, dir)
	var kept [][]byte
	late, saleFile, cancelFile := 0, map[string]int{}, map[string]int{}
	seen := map[string]bool{}  // the rows (input) uploaded so far
	bchnos := map[string]int{} // 3507 deletions by fixmedins_bchno not yet followed by their re-upload
	withdrawals := 0
	var deleted []string       // the fixmedins_bchno of every 3507
	rowsOf := map[string]int{} // sale rows (not re-uploads) per fixmedins_bchno
	for i, l := range lines {
		infno := infnoOf(l.raw)
		m := infTime.FindSubmatch(l.raw)
		if m == nil {
			kept = append(kept, l.raw) // a planted malformed line cut short
			continue
		}
		at, err := time.ParseInLocation(time.DateTime, string(m[1]), synth.CST)
		if err != nil || !at.Before(fileEnd(l.file)) {
			t.Errorf("message %d: inf_time %s after its file's day %d", i, m[1], l.file+1)
		}
		input := l.raw[bytes.Index(l.raw, []byte(`"input":`)):]
		if withdrawnMsg.Match(l.raw) {
			switch infno {
			case "3507":
				ev := decodeOne(t, l.raw)
				if ev.Kind != tracewatch.EventDeletion || ev.DataType != "4" {
					t.Errorf("message %d: a 3507 of kind %s data type %s", i, ev.Kind, ev.DataType)
				}
				bchnos[ev.BatchNo]++
				deleted = append(deleted, ev.BatchNo)
				withdrawals++
			case "3505":
				ev := decodeOne(t, l.raw)
				if !seen[string(input)] || bchnos[ev.BatchNo] == 0 {
					t.Errorf("message %d: a re-upload of a row not uploaded before, or not withdrawn", i)
				}
				bchnos[ev.BatchNo]--
			default:
				t.Errorf("message %d: infno %s with a withdrawal msgid", i, infno)
			}
			continue
		}
		seen[string(input)] = true
		// A row withdrawn later carries a fixmedins_bchno of its own (batch-W<n>); without
		// the option it has the batch's.
		kept = append(kept, ownBchno.ReplaceAll(l.raw, []byte(`$1"`)))
		// The envelope keeps the time the message was made at, its event's (a fee line
		// can be older: 2301 lines carry the admission).
		day := int(at.Sub(start).Hours() / 24)
		if m := msgidField.FindSubmatch(l.raw); m == nil || malformed[string(m[1])] {
			if day > l.file {
				t.Errorf("message %d: made on day %d, in the file of day %d", i, day+1, l.file+1)
			}
			if day < l.file {
				late++ // a planted malformed message uploaded late counts as late too
			}
			continue
		}
		ev := decodeOne(t, l.raw)
		if !ev.Time.IsZero() && !ev.Time.Before(fileEnd(l.file)) {
			t.Errorf("message %d: event at %s, after its file's day %d", i, ev.Time, l.file+1)
		}
		switch {
		case day > l.file:
			t.Errorf("message %d: event on day %d in the file of day %d", i, day+1, l.file+1)
		case day < l.file:
			late++
			if l.file-day > 3 {
				t.Errorf("message %d: %d days late", i, l.file-day)
			}
		}
		switch {
		case infno == "3505" && ev.Settlement != "":
			saleFile[ev.Settlement] = l.file
		}
		if infno == "3505" {
			rowsOf[ev.BatchNo]++
		}
		switch {
		case infno == "2208":
			cancelFile[ev.Settlement] = l.file
		}
	}
	earlier := 0
	for setl, f := range cancelFile {
		if sf, ok := saleFile[setl]; ok && f < sf {
			earlier++
		}
	}
	share := float64(late) / float64(len(kept))
	t.Logf("%d of %d messages late (%.3f); %d cancels in a file before their sale's; %d withdrawn and uploaded again",
		late, len(kept), share, earlier, withdrawals)
	if share < 0.17 || share > 0.22 || late != sum.Counts.LateMessages {
		t.Errorf("%d late messages (%.3f), manifest %d: want about 0.2 of them", late, share, sum.Counts.LateMessages)
	}
	if earlier == 0 {
		t.Errorf("no cancel comes in a file before its sale")
	}
	if withdrawals == 0 || withdrawals != sum.Counts.Withdrawn || sum.Counts.Messages["3507"] != withdrawals {
		t.Errorf("%d withdrawals, manifest %d (3507: %d)", withdrawals, sum.Counts.Withdrawn, sum.Counts.Messages["3507"])
	}
	for _, b := range deleted {
		if rowsOf[b] != 1 {
			t.Errorf("a 3507 deletes fixmedins_bchno %s, which %d sale rows carry: want the one it withdraws", b, rowsOf[b])
		}
	}
	for b, n := range bchnos {
		if n != 0 {
			t.Errorf("batch %s: %d withdrawals without their re-upload", b, n)
		}
	}
	// The same messages as without the option, in another order.
	var want [][]byte
	for _, l := range rawLines(t, dir0) {
		want = append(want, l.raw)
	}
	sortBytes := func(a [][]byte) { slices.SortFunc(a, bytes.Compare) }
	sortBytes(kept)
	sortBytes(want)
	if !slices.EqualFunc(kept, want, bytes.Equal) {
		t.Errorf("the messages (less withdrawals and re-uploads) are not those of the province without the option")
	}
}

// TestShapesCombined: every shape together on the small scale, twice: the same bytes.
func TestShapesCombined(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 2×10^5 sale lines")
	}
	o := synth.Options{Seed: 11, Scale: "small", CodemapLevels: synth.CodemapLevelsAbsent, InboundCartons: 300, SalesOnly: true, LateUploads: 200}
	a, err := synth.Generate(o, synth.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := synth.Generate(o, synth.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Files, b.Files) {
		t.Errorf("two runs of the same options differ")
	}
	if a.Counts.CartonPurchases == 0 || a.Counts.LateMessages == 0 || a.Counts.Withdrawn == 0 || a.Counts.Messages["2207"] != 0 {
		t.Errorf("counts %+v", a.Counts)
	}
}
