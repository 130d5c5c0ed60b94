package synth_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/refload"
	"tracewatch/internal/synth"
	"tracewatch/internal/tracecode"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny.sha256 with the digest of the current tiny output")

// generate writes a province into a temporary directory.
func generate(t testing.TB, o synth.Options) (string, synth.Summary) {
	t.Helper()
	dir := t.TempDir()
	sum, err := synth.Generate(o, synth.Dir(dir))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir, sum
}

var tinyOnce struct {
	dir string
	sum synth.Summary
}

// tiny is the tiny province of seed 7, generated once for the tests that only read it.
func tiny(t *testing.T) (string, synth.Summary) {
	t.Helper()
	if tinyOnce.dir == "" {
		dir, err := os.MkdirTemp("", "synth-tiny-")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := synth.Generate(synth.Options{Seed: 7, Scale: "tiny"}, synth.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		tinyOnce.dir, tinyOnce.sum = dir, sum
	}
	return tinyOnce.dir, tinyOnce.sum
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyOnce.dir != "" {
		os.RemoveAll(tinyOnce.dir)
	}
	if shapeBase.dir != "" {
		os.RemoveAll(shapeBase.dir)
	}
	os.Exit(code)
}

// files lists the files under dir (slash paths relative to it).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestDeterminism generates the tiny province twice and compares every file byte for
// byte, then compares the digest of its manifest (which holds the SHA-256 of every
// other file) with the pinned one in testdata/tiny.sha256.
//
// When a change to the generator is meant to change its output, run
//
//	go test ./internal/synth -run TestDeterminism -update
//
// and commit the new testdata/tiny.sha256 with the change (and say why in the commit).
func TestDeterminism(t *testing.T) {
	a, _ := tiny(t)
	b, _ := generate(t, synth.Options{Seed: 7, Scale: "tiny"})
	fa, fb := files(t, a), files(t, b)
	if strings.Join(fa, "\n") != strings.Join(fb, "\n") {
		t.Fatalf("the two runs wrote different files:\n%v\n%v", fa, fb)
	}
	for _, f := range fa {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same options", f)
		}
	}

	// The manifest lists every other file with its digest.
	m, err := os.ReadFile(filepath.Join(a, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum synth.Summary
	if err := json.Unmarshal(m, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) != len(fa)-1 {
		t.Errorf("manifest lists %d files, want %d (all but manifest.json)", len(sum.Files), len(fa)-1)
	}
	for _, f := range sum.Files {
		data, err := os.ReadFile(filepath.Join(a, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if got := hex.EncodeToString(h[:]); got != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("manifest: %s: sha256 %s, %d bytes; the file has %s, %d bytes", f.Path, f.SHA256, f.Bytes, got, len(data))
		}
	}

	h := sha256.Sum256(m)
	got := hex.EncodeToString(h[:])
	const pin = "testdata/tiny.sha256"
	if *update {
		if err := os.WriteFile(pin, []byte(got+"  manifest.json of `tracewatch gen --seed 7 --scale tiny`\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(pin)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if w := strings.Fields(string(want)); len(w) == 0 || w[0] != got {
		t.Errorf("the tiny output changed: manifest digest %s, pinned %s.\n"+
			"If the change is intended, run: go test ./internal/synth -run TestDeterminism -update", got, strings.Fields(string(want) + " ?")[0])
	}
}

// TestSeedsDiffer: another seed gives another province.
func TestSeedsDiffer(t *testing.T) {
	_, a := tiny(t)
	_, b := generate(t, synth.Options{Seed: 8, Scale: "tiny"})
	same := 0
	for i := range a.Files {
		if a.Files[i].SHA256 == b.Files[i].SHA256 {
			same++
		}
	}
	if same > len(a.Files)/10 {
		t.Errorf("seeds 7 and 8 share %d of %d files", same, len(a.Files))
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    synth.Options
	}{
		{"unknown scale", synth.Options{Scale: "huge"}},
		{"negative sale lines", synth.Options{SaleLines: -1}},
		{"too many days", synth.Options{Scale: "tiny", Days: 5000}},
		{"bad permille", synth.Options{Scale: "tiny", Params: &synth.Params{SaleLinesPerInstitution: 1, SaleLinesPerPerson: 1, CancelPermille: 2000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := synth.Generate(tc.o, synth.Discard)
			if tracewatch.KindOf(err) != tracewatch.KindInvalid {
				t.Errorf("error %v, want one of kind invalid", err)
			}
		})
	}
}

// readCSV reads a reference file as records (header first).
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestReferenceLoads reads every reference file with the loader `tracewatch load` uses.
// Keys must be unique: the loader would silently keep the last of two rows.
func TestReferenceLoads(t *testing.T) {
	dir, sum := tiny(t)
	for _, kind := range refload.Kinds() {
		path := filepath.Join(dir, "reference", string(kind)+".csv")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := refload.Read(kind, refload.CSV, f, refload.Options{HashKey: []byte("k")})
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		lines := len(readCSV(t, path)) - 1
		if rows.Len() != lines {
			t.Errorf("%s: loaded %d rows from %d lines: duplicate keys", kind, rows.Len(), lines)
		}
		if sum.Counts.Reference[string(kind)] != lines {
			t.Errorf("%s: manifest counts %d rows, the file has %d", kind, sum.Counts.Reference[string(kind)], lines)
		}
		switch kind {
		case refload.KindDrugs:
			kinds := map[string]int{}
			gender, age, nonReimb := 0, 0, 0
			for _, d := range rows.Drugs {
				kinds[d.Kind]++
				if d.GenderLimit != "" {
					gender++
				}
				if d.MinAge > 0 || d.MaxAge > 0 {
					age++
				}
				if !d.Reimbursable {
					nonReimb++
				}
				if (d.Kind == "western" || d.Kind == "patent") && len(d.Code) != 23 {
					t.Errorf("drug %s: national code of %d characters, want 23", d.Code, len(d.Code))
				}
			}
			if len(rows.Drugs) < 500 || kinds["herbal"] == 0 || kinds["other"] == 0 || kinds["patent"] == 0 || gender == 0 || age == 0 || nonReimb == 0 {
				t.Errorf("catalog: %d drugs, kinds %v, %d gender-limited, %d age-limited, %d not reimbursable", len(rows.Drugs), kinds, gender, age, nonReimb)
			}
		case refload.KindPersons:
			hashes := map[string]bool{}
			for _, p := range rows.Persons {
				if hashes[p.CertnoHash] {
					t.Errorf("person %s: ID number shared with another person", p.PsnNo)
				}
				hashes[p.CertnoHash] = true
			}
		case refload.KindCodeMap:
			gtin, levels := 0, map[int]int{}
			for _, m := range rows.CodeMaps {
				if len(m.ProductID) == 14 && m.PackLevel == 1 && m.CommodityCode != "" && !strings.HasPrefix(m.CommodityCode, "69") {
					gtin++
				}
				levels[m.PackLevel]++
			}
			if gtin == 0 || levels[1] == 0 || levels[3] == 0 {
				t.Errorf("codemap: %d imported GTIN products, levels %v", gtin, levels)
			}
		case refload.KindRegions:
			names := map[tracewatch.Region]string{}
			for _, r := range rows.Regions {
				names[r.Code] = r.Name
			}
			for code, name := range map[tracewatch.Region]string{"360000": "江西省", "360100": "南昌市", "360102": "东湖区", "361100": "上饶市", "430100": "长沙市"} {
				if names[code] != name {
					t.Errorf("region %s = %q, want %q", code, names[code], name)
				}
			}
		}
	}
}

// line is one message of the output.
type line struct {
	file string
	n    int
	req  nhsa.Request
	evs  []tracewatch.Event
	raw  []byte
}

// readLabels reads labels.jsonl.
func readLabels(t *testing.T, dir string) []synth.Label {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []synth.Label
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" {
			continue
		}
		var x synth.Label
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("labels.jsonl:%d: %v", i+1, err)
		}
		out = append(out, x)
	}
	return out
}

var msgidField = regexp.MustCompile(`"msgid":"([^"]*)"`)

// readMessages decodes every message line; any malformed message or row fails the
// test, except the planted malformed_message lines (found by the msgids of their
// labels), which must fail as their label says.
func readMessages(t *testing.T, dir string) []line {
	t.Helper()
	bad := map[string]bool{}
	for _, l := range readLabels(t, dir) {
		if l.Scenario == "malformed_message" {
			for _, id := range l.MsgIDs {
				bad[id] = true
			}
		}
	}
	seenBad := map[string]bool{}
	defer func() {
		for id := range bad {
			if !seenBad[id] {
				t.Errorf("malformed_message label names msgid %s, which no line carries", id)
			}
		}
	}()
	names, err := filepath.Glob(filepath.Join(dir, "messages", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []line
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			raw := sc.Bytes()
			where := filepath.Base(name) + ":" + strconv.Itoa(n)
			if m := msgidField.FindSubmatch(raw); m != nil && bad[string(m[1])] {
				// A planted malformed message: it must not decode, and a line that is not
				// JSON is known to ingest by the msgid it derives.
				seenBad[string(m[1])] = true
				if !json.Valid(raw) {
					id := ingest.DerivedMsgID(raw)
					if !bad[id] {
						t.Errorf("%s: malformed line: its label does not name ingest's msgid %s", where, id)
					}
					seenBad[id] = true
					continue
				}
				req, err := nhsa.DecodeRequest(raw)
				if err == nil {
					if _, rowErrs, err := nhsa.Decode(req); err == nil && len(rowErrs) == 0 {
						t.Errorf("%s: planted malformed message decodes without error", where)
					}
				}
				continue
			}
			if !json.Valid(raw) {
				t.Fatalf("%s: not valid JSON: %.300s", where, raw)
			}
			req, err := nhsa.DecodeRequest(raw)
			if err != nil {
				t.Fatalf("%s: DecodeRequest: %v", where, err)
			}
			evs, rowErrs, err := nhsa.Decode(req)
			if err != nil || len(rowErrs) > 0 {
				t.Fatalf("%s: Decode: %v %v\n%.2000s", where, err, rowErrs, raw)
			}
			out = append(out, line{file: filepath.Base(name), n: n, req: req, evs: evs, raw: append([]byte(nil), raw...)})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestMessagesValid: every message decodes and validates, carries a unique 30-character
// msgid built from its institution and time, and the files in name order are in time
// order, one day each; every scanned code is identified.
func TestMessagesValid(t *testing.T) {
	dir, sum := tiny(t)
	lines := readMessages(t, dir)
	// Codes that do not parse are the planted scanner noise and non-drug goods only.
	noisy := map[string]bool{}
	for _, l := range readLabels(t, dir) {
		switch l.Scenario {
		case "scan_wrong_barcode", "scan_typo", "scan_lost_gs", "substitution_nondrug":
			for _, k := range append(l.Receipts, l.Settlements...) {
				noisy[k] = true
			}
		}
	}
	unparsed := 0
	seen := map[string]bool{}
	perInfno := map[string]int{}
	sales := 0
	prev := ""
	for _, l := range lines {
		r := l.req
		perInfno[r.Infno]++
		where := l.file + ":" + strconv.Itoa(l.n)
		if len(r.MsgID) != 30 || !strings.HasPrefix(r.MsgID, r.FixmedinsCode) {
			t.Errorf("%s: msgid %q: want fixmedins_code + time + 4 digits", where, r.MsgID)
		}
		stamp := strings.NewReplacer("-", "", " ", "", ":", "").Replace(r.InfTime)
		if !strings.HasPrefix(r.MsgID[12:], stamp) {
			t.Errorf("%s: msgid %q does not carry inf_time %s", where, r.MsgID, r.InfTime)
		}
		if seen[r.MsgID] {
			t.Errorf("%s: msgid %s repeated", where, r.MsgID)
		}
		seen[r.MsgID] = true
		if r.InfTime < prev {
			t.Errorf("%s: inf_time %s before the previous message's %s", where, r.InfTime, prev)
		}
		prev = r.InfTime
		if !strings.HasPrefix(l.file[5:], r.InfTime[:10]) {
			t.Errorf("%s: inf_time %s in the file of another day", where, r.InfTime)
		}
		if len(r.FixmedinsCode) != 12 || r.FixmedinsCode[0] != 'H' && r.FixmedinsCode[0] != 'P' {
			t.Errorf("%s: fixmedins_code %q", where, r.FixmedinsCode)
		}
		for _, ev := range l.evs {
			if ev.Kind == tracewatch.EventSale {
				sales++
			}
			for _, c := range ev.Codes {
				if _, err := tracecode.Parse(c.Raw); err != nil {
					unparsed++
					if !noisy[ev.Receipt] && !noisy[ev.Settlement] {
						t.Errorf("%s: code %q: %v", where, c.Raw, err)
					}
				}
			}
		}
	}
	if unparsed == 0 {
		t.Error("no planted code fails to parse: the scanner noise is missing")
	}
	if len(lines)+sum.Counts.Malformed != sum.Counts.MessageLines {
		t.Errorf("%d messages and %d malformed lines, manifest says %d lines", len(lines), sum.Counts.Malformed, sum.Counts.MessageLines)
	}
	if sales != sum.Counts.SaleLines || sales != 1000 {
		t.Errorf("%d sale rows, manifest says %d, want 1000", sales, sum.Counts.SaleLines)
	}
	for infno, n := range sum.Counts.Messages {
		if perInfno[infno] != n {
			t.Errorf("%s: %d messages, manifest says %d", infno, perInfno[infno], n)
		}
	}
	for _, infno := range []string{"3501", "3503", "3505", "2204", "2207", "2208", "2301", "2304"} {
		if perInfno[infno] == 0 {
			t.Errorf("no %s message", infno)
		}
	}
}

// stress turns the rare paths up, so that a tiny province exercises all of them:
// returns and resales, cancels, double scans, expired stock, split packs.
func stress(full bool) *synth.Params {
	p := synth.DefaultParams()
	p.ReturnPermille = 300
	p.CancelPermille = 150
	p.ResettlePermille = 400
	p.DoubleScanPermille = 100
	p.ShortDatedPermille = 250
	p.SplitPermille = [4]int{400, 500, 500, 300}
	p.TransferPermille = 800
	p.ChainPermille = 1000
	p.SaleLinesPerInstitution = 50 // more pharmacies, so that chains have sister stores
	p.PurchaseReturnPermille = 200
	if full {
		p.CollectMinPermille, p.CollectMaxPermille, p.CollectFullPermille = 1000, 1000, 1000
	}
	return &p
}

// TestHonest replays a province through a small ledger keyed by code identity and
// checks that the data are honest: every pack sold was received by its seller (all
// institutions scan every inbound code here), never sold beyond its content or after
// its expiry or destruction, only to living persons of the right gender and age.
func TestHonest(t *testing.T) {
	dir, sum := generate(t, synth.Options{Seed: 11, Scale: "tiny", Params: stress(true)})
	for _, infno := range []string{"3502", "3504", "3506", "2208"} {
		if sum.Counts.Messages[infno] == 0 {
			t.Errorf("stress run without %s: the check would not cover it", infno)
		}
	}
	checkHonest(t, dir, true)
}

// TestHonestPartialCollection: the default rates (institutions scanning 35–100 % of
// their inbound codes); the received check covers fully scanning institutions only.
func TestHonestPartialCollection(t *testing.T) {
	dir, _ := tiny(t)
	checkHonest(t, dir, false)
}

type refData struct {
	children map[string][]string  // carton key → pack keys
	product  map[string]string    // product id → drug code
	drugs    map[string][4]int    // drug code → pack content, gender limit, min age, max age
	persons  map[string][3]string // psn_no → gender, birth, death
}

func loadRef(t *testing.T, dir string) refData {
	t.Helper()
	rd := refData{children: map[string][]string{}, product: map[string]string{}, drugs: map[string][4]int{}, persons: map[string][3]string{}}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "packages.csv"))[1:] {
		rd.children[r[0]] = append(rd.children[r[0]], r[1])
	}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "codemap.csv"))[1:] {
		id := r[0]
		if len(id) == 13 {
			id = "0" + id
		}
		rd.product[id] = r[1]
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "drugs.csv"))[1:] {
		rd.drugs[r[0]] = [4]int{atoi(r[3]), atoi(r[7]), atoi(r[8]), atoi(r[9])}
	}
	for _, r := range readCSV(t, filepath.Join(dir, "reference", "persons.csv"))[1:] {
		rd.persons[r[0]] = [3]string{r[3], r[4], r[7]}
	}
	return rd
}

func ageOn(birth string, day time.Time) int {
	b, _ := time.Parse("2006-01-02", birth)
	a := day.Year() - b.Year()
	if day.Month() < b.Month() || day.Month() == b.Month() && day.Day() < b.Day() {
		a--
	}
	return a
}

// exemptions are what the honesty check leaves to the planted cases: the sales of
// fraudulent code use (a resold pack, fabricated codes, an expired pack, a carton and
// its pack, a photographed code), codes the scanner mangled, and the persons of the
// claims cases. Everything else stays under the strict check.
type exemptions struct {
	codeSales map[string]bool // settlements and receipts whose codes are not checked
	codes     map[string]bool // code keys not checked anywhere
	unparsed  map[string]bool // settlements and receipts whose codes may fail to parse
	persons   map[string]bool // settlements whose person is not checked
	expiry    map[string]bool // settlements sold after expiry on purpose
}

func planted(t *testing.T, dir string) exemptions {
	x := exemptions{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
	for _, l := range readLabels(t, dir) {
		keys := append(append([]string(nil), l.Settlements...), l.Receipts...)
		set := func(m map[string]bool, ks []string) {
			for _, k := range ks {
				m[k] = true
			}
		}
		switch l.Scenario {
		case "resale_same_city", "resale_other_city", "resale_other_province", "empty_swipe", "resale_ring_box":
			set(x.codeSales, keys)
		case "expired_sale":
			set(x.codeSales, keys)
			set(x.expiry, keys)
		case "photo_reuse", "parent_child_sold":
			set(x.codes, l.Codes)
		case "scan_wrong_barcode", "scan_typo", "scan_lost_gs", "substitution_nondrug":
			set(x.unparsed, keys)
		case "gender_restricted", "age_restricted", "after_death":
			set(x.persons, keys)
		}
	}
	return x
}

func checkHonest(t *testing.T, dir string, full bool) {
	rd := loadRef(t, dir)
	lines := readMessages(t, dir)
	ex := planted(t, dir)
	type saleRec struct {
		inst, setl string
		units      map[string]int64 // code key → minimum units
	}
	received := map[string]bool{} // institution|key
	destroyed := map[string]bool{}
	scanned := map[string]int{} // institution → inbound codes listed
	sales := map[string]*saleRec{}
	net := map[string]int64{} // key → net units sold
	content := func(key string) int64 {
		c, _ := tracecode.Parse(key)
		return int64(rd.drugs[rd.product[c.ProductID]][0])
	}
	// Institutions that list every inbound pack (their purchases and opening stocktake
	// name as many packs as they count): the received check applies to them whatever the
	// collection rates.
	fullInst := map[string]bool{}
	{
		listed, counted := map[string]int64{}, map[string]int64{}
		first := ""
		for _, l := range lines {
			for _, ev := range l.evs {
				if first == "" {
					first = ev.Time.Format("2006-01-02")
				}
				coded := strings.HasPrefix(ev.DrugCode, "X") || strings.HasPrefix(ev.DrugCode, "Z")
				opening := ev.Kind == tracewatch.EventStocktake && ev.Time.Format("2006-01-02") == first
				if !coded || ev.Kind != tracewatch.EventPurchase && !opening {
					continue
				}
				counted[ev.Institution] += int64(ev.Qty / tracewatch.QtyScale)
				for _, c := range ev.Codes {
					k, _ := tracecode.Parse(c.Raw)
					if kids := rd.children[k.Key]; len(kids) > 0 {
						listed[ev.Institution] += int64(len(kids))
					} else {
						listed[ev.Institution]++
					}
				}
			}
		}
		for inst, n := range counted {
			fullInst[inst] = n > 0 && listed[inst] == n
		}
	}
	checked, transfers := 0, 0
	for _, l := range lines {
		where := l.file + ":" + strconv.Itoa(l.n)
		for _, ev := range l.evs {
			keys := map[string]bool{}
			var order []string
			for _, c := range ev.Codes {
				k, err := tracecode.Parse(c.Raw)
				if err != nil {
					if ex.unparsed[ev.Settlement] || ex.unparsed[ev.Receipt] {
						continue
					}
					t.Fatalf("%s: %v", where, err)
				}
				if ex.codes[k.Key] || ex.codeSales[ev.Settlement] || ex.codeSales[ev.Receipt] {
					continue
				}
				if !keys[k.Key] {
					keys[k.Key] = true
					order = append(order, k.Key)
				}
			}
			inst := ev.Institution
			switch ev.Kind {
			case tracewatch.EventStocktake, tracewatch.EventPurchase:
				for _, k := range order {
					scanned[inst]++
					received[inst+"|"+k] = true
					for _, kid := range rd.children[k] {
						received[inst+"|"+kid] = true
					}
				}
			case tracewatch.EventStockChange, tracewatch.EventPurchaseReturn:
				switch {
				case ev.ChangeType == tracewatch.ChangeTransferIn:
					// A carton sent to a sister store may come back: it is here again.
					transfers++
					for _, k := range order {
						received[inst+"|"+k] = true
						delete(destroyed, inst+"|"+k)
						for _, kid := range rd.children[k] {
							received[inst+"|"+kid] = true
							delete(destroyed, inst+"|"+kid)
						}
					}
				case ev.ChangeType == tracewatch.ChangeDestroyed, ev.ChangeType == tracewatch.ChangeTransferOut,
					ev.Kind == tracewatch.EventPurchaseReturn:
					// Gone from the institution: never sold there afterwards.
					for _, k := range order {
						destroyed[inst+"|"+k] = true
						for _, kid := range rd.children[k] {
							destroyed[inst+"|"+kid] = true
						}
					}
				}
			case tracewatch.EventSale, tracewatch.EventSettlement:
				id := tracewatch.SaleOf(&ev).String()
				rec := sales[id]
				if rec == nil {
					rec = &saleRec{inst: inst, setl: ev.Settlement, units: map[string]int64{}}
					sales[id] = rec
				}
				day := ev.Time
				if ev.Kind == tracewatch.EventSale {
					if !ev.Expires.IsZero() && !day.Before(ev.Expires) && !ex.expiry[ev.Settlement] {
						t.Errorf("%s: sold on %s, expiry %s", where, day.Format("2006-01-02"), ev.Expires.Format("2006-01-02"))
					}
					if ev.SettleType == "1" && ev.Settlement == "" {
						t.Errorf("%s: insured sale without setl_id", where)
					}
					if ev.Person != "" && !ex.persons[ev.Settlement] {
						p, ok := rd.persons[ev.Person]
						lim := rd.drugs[ev.DrugCode]
						switch {
						case !ok:
							t.Errorf("%s: unknown person %s", where, ev.Person)
						case p[2] != "" && day.Format("2006-01-02") >= p[2]:
							t.Errorf("%s: sold to %s, who died on %s", where, ev.Person, p[2])
						case lim[1] != 0 && strconv.Itoa(lim[1]) != p[0]:
							t.Errorf("%s: %s limited to gender %d sold to gender %s", where, ev.DrugCode, lim[1], p[0])
						case lim[2] > 0 && ageOn(p[1], day) < lim[2], lim[3] > 0 && ageOn(p[1], day) > lim[3]:
							t.Errorf("%s: %s (ages %d–%d) sold to a person of %d", where, ev.DrugCode, lim[2], lim[3], ageOn(p[1], day))
						}
					}
				}
				for _, k := range order {
					if full || fullInst[inst] {
						checked++
						if !received[inst+"|"+k] {
							t.Errorf("%s: %s sold %s, which it never received", where, inst, k)
						}
					}
					if destroyed[inst+"|"+k] {
						t.Errorf("%s: %s sold %s after destroying it, sending it to a sister store or returning it", where, inst, k)
					}
					units := content(k)
					if ev.SplitPack {
						if ev.Kind == tracewatch.EventSettlement {
							units = 0 // 2207 carries no quantity; the 3505 of the same sale does
						} else {
							units = int64(ev.Qty / tracewatch.QtyScale)
						}
					}
					if old, ok := rec.units[k]; !ok || ev.Kind == tracewatch.EventSale {
						net[k] += units - old
						rec.units[k] = units
					}
					if c := content(k); net[k] > c {
						t.Errorf("%s: %s sold %d units of a pack of %d", where, k, net[k], c)
					}
				}
			case tracewatch.EventSaleReturn:
				for _, k := range order {
					net[k] -= content(k)
					if net[k] < 0 {
						t.Errorf("%s: %s returned more than sold", where, k)
					}
				}
			case tracewatch.EventSettlementCancel:
				found := false
				for _, rec := range sales {
					if rec.inst == inst && rec.setl == ev.Settlement {
						found = true
						for k, u := range rec.units {
							net[k] -= u
							if net[k] < 0 {
								t.Errorf("%s: %s cancelled below zero", where, k)
							}
						}
						rec.units = map[string]int64{}
					}
				}
				if !found {
					t.Errorf("%s: cancel of an unknown settlement %s", where, ev.Settlement)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no sale was checked against receipts")
	}
	if full && transfers == 0 {
		t.Error("no transfer between chain stores: the check would not cover them")
	}
	if !full {
		// Partial collection: institutions below 100 % list fewer inbound codes than
		// packs; the data must show it.
		partial := 0
		for inst, ok := range fullInst {
			if !ok && scanned[inst] > 0 {
				partial++
			}
		}
		if partial == 0 {
			t.Error("no institution scans only part of its inbound codes")
		}
	}
	t.Logf("%d sale codes checked against receipts, %d sales", checked, len(sales))
}

// TestSmall generates a small province (10^5 sale lines): the counts, and memory that
// stays flat. Skipped with -short.
func TestSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 10^5 sale lines")
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	sum, err := synth.Generate(synth.Options{Seed: 7, Scale: "small"}, synth.Discard)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if sum.Counts.SaleLines < 99_000 || sum.Counts.SaleLines > 100_000 {
		t.Errorf("%d sale lines, want about 100,000", sum.Counts.SaleLines)
	}
	if len(sum.Files) != 90+8+1 {
		t.Errorf("%d files, want 90 days + 8 reference + labels", len(sum.Files))
	}
	// The planted cases: enough of each to measure a detector, few against the data.
	for _, sc := range synth.Scenarios {
		n, want := sum.Counts.Labels[sc.Name], 30
		switch {
		case sc.Name == "stop_scanning" || sc.Name == "suspended_institution": // per institution: 60 ‰ of 50
			want = 3
		case sc.Name == "malformed_message":
			want = 5
		case sc.Name == "upload_outage": // a few per county, the small province has about ten fit
			want = 10
		case sc.Name == "key_drug_rise": // at most a quarter of a type in a city (C11's peers)
			want = 5
		case sc.Claims:
			want = 10
		}
		if n < want {
			t.Errorf("%s: %d cases, want at least %d", sc.Name, n, want)
		}
	}
	if sum.Counts.LabelsTotal*100 >= sum.Counts.SaleLines {
		t.Errorf("%d cases for %d sale lines: want well under 1 %%", sum.Counts.LabelsTotal, sum.Counts.SaleLines)
	}
	t.Logf("small: %d cases (%.2f %% of sale lines), %d planted sale lines (%.2f %%)", sum.Counts.LabelsTotal,
		float64(sum.Counts.LabelsTotal)*100/float64(sum.Counts.SaleLines), sum.Counts.PlantedSaleLines,
		float64(sum.Counts.PlantedSaleLines)*100/float64(sum.Counts.SaleLines))
	t.Logf("small: %d sale lines, %d messages in %s (%.0f sale lines/s); heap in use %d MB",
		sum.Counts.SaleLines, sum.Counts.MessageLines, took.Round(time.Millisecond),
		float64(sum.Counts.SaleLines)/took.Seconds(), after.HeapInuse>>20)
}

// BenchmarkGenerate measures generation (to a sink that discards, hashing included)
// in sale lines per second.
func BenchmarkGenerate(b *testing.B) {
	const lines = 100_000
	var n int
	for b.Loop() {
		sum, err := synth.Generate(synth.Options{Seed: 1, SaleLines: lines}, synth.Discard)
		if err != nil {
			b.Fatal(err)
		}
		n += sum.Counts.SaleLines
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sale_lines/s")
}
