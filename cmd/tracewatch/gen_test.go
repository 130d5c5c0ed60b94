package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tracewatch/internal/refload"
	"tracewatch/internal/synth"
)

// TestGenTiny runs `tracewatch gen` in-process for the tiny scale and checks the layout
// and the manifest.
func TestGenTiny(t *testing.T) {
	out := filepath.Join(t.TempDir(), "province")
	status, stdout, stderr := runCLI(t, "", "gen", "--seed", "7", "--scale", "tiny", "--out", out)
	if status != exitOK {
		t.Fatalf("exit status %d, stderr %q", status, stderr)
	}
	if !strings.Contains(stdout, "sale lines 1000") {
		t.Errorf("summary does not report the sale lines:\n%s", stdout)
	}

	for _, kind := range refload.Kinds() { // gen writes every kind, the optional knowledge base too
		if st, err := os.Stat(filepath.Join(out, "reference", string(kind)+".csv")); err != nil || st.Size() == 0 {
			t.Errorf("reference/%s.csv: %v", kind, err)
		}
	}
	days, err := filepath.Glob(filepath.Join(out, "messages", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(days)
	if len(days) != 90 || filepath.Base(days[0]) != "0001-2025-07-01.jsonl" || filepath.Base(days[89]) != "0090-2025-09-28.jsonl" {
		t.Errorf("message files: %d, first %v", len(days), days[:min(len(days), 2)])
	}
	labels, err := os.ReadFile(filepath.Join(out, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	perScenario := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(labels)), "\n") {
		var x struct {
			ID, Scenario, Detector string
		}
		if err := json.Unmarshal([]byte(l), &x); err != nil || x.ID == "" || x.Detector == "" {
			t.Fatalf("labels.jsonl line %q: %v", l, err)
		}
		perScenario[x.Scenario]++
	}
	if !strings.Contains(stdout, "planted cases") {
		t.Errorf("summary does not report the planted cases:\n%s", stdout)
	}

	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Options struct {
			Seed      uint64 `json:"seed"`
			Scale     string `json:"scale"`
			SaleLines int    `json:"sale_lines"`
			Days      int    `json:"days"`
			Start     string `json:"start"`
		} `json:"options"`
		Counts struct {
			SaleLines int            `json:"sale_lines"`
			Messages  map[string]int `json:"messages"`
			Reference map[string]int `json:"reference"`
			Labels    map[string]int `json:"labels"`
		} `json:"counts"`
		Files []struct {
			Path   string `json:"path"`
			Bytes  int64  `json:"bytes"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Options.Seed != 7 || m.Options.Scale != "tiny" || m.Options.SaleLines != 1000 || m.Options.Days != 90 || m.Options.Start != "2025-07-01" {
		t.Errorf("manifest options: %+v", m.Options)
	}
	if m.Counts.SaleLines != 1000 || m.Counts.Messages["3505"] != 1000 || m.Counts.Reference["drugs"] < 500 {
		t.Errorf("manifest counts: %+v", m.Counts)
	}
	for _, sc := range synth.Scenarios {
		// upload_outage needs counties with two daily uploaders: the tiny province has none.
		if m.Counts.Labels[sc.Name] != perScenario[sc.Name] || (perScenario[sc.Name] == 0 && sc.Name != "upload_outage") {
			t.Errorf("%s: %d labels, manifest says %d", sc.Name, perScenario[sc.Name], m.Counts.Labels[sc.Name])
		}
	}
	if len(m.Files) != 8+90+1 {
		t.Errorf("manifest lists %d files, want 99", len(m.Files))
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("manifest lists %s: %v", f.Path, err)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("%s: manifest digest or size does not match the file", f.Path)
		}
	}

	// A second run into the same directory is refused: files of an earlier, longer run
	// would otherwise be mistaken for this one's.
	status, _, stderr = runCLI(t, "", "gen", "--seed", "7", "--scale", "tiny", "--out", out)
	if status != exitFail || !strings.Contains(stderr, "not empty") {
		t.Errorf("gen into a non-empty directory: status %d, stderr %q", status, stderr)
	}
}

func TestGenUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		status int
	}{
		{"no --out", []string{"gen", "--scale", "tiny"}, exitUsage},
		{"bad start", []string{"gen", "--out", filepath.Join(dir, "a"), "--start", "2025-13-01"}, exitUsage},
		{"scale and sale lines", []string{"gen", "--out", filepath.Join(dir, "b"), "--scale", "tiny", "--sale-lines", "10"}, exitUsage},
		{"unknown scale", []string{"gen", "--out", filepath.Join(dir, "c"), "--scale", "huge"}, exitFail},
		{"no days", []string{"gen", "--out", filepath.Join(dir, "d"), "--scale", "tiny", "--days", "0"}, exitUsage},
		{"too many days", []string{"gen", "--out", filepath.Join(dir, "e"), "--scale", "tiny", "--days", "9999"}, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, stderr := runCLI(t, "", tc.args...)
			if status != tc.status {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tc.status, stderr)
			}
		})
	}
}

// TestGenSaleLinesAndDays: --sale-lines and --days and --start shape the output.
func TestGenSaleLinesAndDays(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p")
	status, stdout, stderr := runCLI(t, "", "gen", "--seed", "3", "--sale-lines", "300", "--days", "5", "--start", "2025-12-30", "--out", out)
	if status != exitOK {
		t.Fatalf("exit status %d, stderr %q", status, stderr)
	}
	days, _ := filepath.Glob(filepath.Join(out, "messages", "*.jsonl"))
	sort.Strings(days)
	var names []string
	for _, d := range days {
		names = append(names, filepath.Base(d))
	}
	want := "0001-2025-12-30.jsonl 0002-2025-12-31.jsonl 0003-2026-01-01.jsonl 0004-2026-01-02.jsonl 0005-2026-01-03.jsonl"
	if strings.Join(names, " ") != want {
		t.Errorf("day files %v, want %s", names, want)
	}
	if !strings.Contains(stdout, "sale lines 300") {
		t.Errorf("summary:\n%s", stdout)
	}
}

// TestGenNoFraud: --no-fraud writes honest data only, an empty labels.jsonl.
func TestGenNoFraud(t *testing.T) {
	out := filepath.Join(t.TempDir(), "honest")
	status, stdout, stderr := runCLI(t, "", "gen", "--seed", "7", "--scale", "tiny", "--no-fraud", "--out", out)
	if status != exitOK {
		t.Fatalf("exit status %d, stderr %q", status, stderr)
	}
	if st, err := os.Stat(filepath.Join(out, "labels.jsonl")); err != nil || st.Size() != 0 {
		t.Errorf("labels.jsonl: want an empty file: %v", err)
	}
	if !strings.Contains(stdout, "labels: 0 planted cases") || !strings.Contains(stdout, "sale lines 1000") {
		t.Errorf("summary:\n%s", stdout)
	}
}

// TestGenShapes: the province shapes of issue 11 (--codemap-levels absent,
// --inbound-cartons, --sales-only, --late-uploads) together: the same seed gives the
// same bytes, and the province loads and ingests with nothing quarantined but the
// planted malformed messages.
func TestGenShapes(t *testing.T) {
	dir := t.TempDir()
	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, "", args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	shapes := []string{"--seed", "11", "--scale", "tiny", "--codemap-levels", "absent", "--inbound-cartons", "0.3", "--sales-only", "--late-uploads", "0.2"}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	out := mustRun(append([]string{"gen", "--out", a}, shapes...)...)
	mustRun(append([]string{"gen", "--out", b}, shapes...)...)
	ma, _ := os.ReadFile(filepath.Join(a, "manifest.json"))
	mb, _ := os.ReadFile(filepath.Join(b, "manifest.json"))
	if len(ma) == 0 || string(ma) != string(mb) {
		t.Errorf("two runs of the same options differ (or no manifest)")
	}
	if !strings.Contains(out, "shapes: ") || !strings.Contains(out, "3507 ") || strings.Contains(out, "2207 ") {
		t.Errorf("summary:\n%s", out)
	}
	header, _ := os.ReadFile(filepath.Join(a, "reference", "codemap.csv"))
	if first, _, _ := strings.Cut(string(header), "\n"); first != "product_id,med_list_codg,commodity_code" {
		t.Errorf("codemap.csv header %q", first)
	}

	data := filepath.Join(dir, "data")
	// A province without the knowledge base of drug limits (one generated before it
	// existed) loads all the same.
	if err := os.Remove(filepath.Join(a, "reference", "drug_limits.csv")); err != nil {
		t.Fatal(err)
	}
	refs, err := provinceFiles(a)
	if err != nil || len(refs) != len(refload.Kinds())-1 {
		t.Fatalf("%d reference files, %v", len(refs), err)
	}
	for _, f := range refs {
		mustRun("load", "--data-dir", data, string(f.kind), f.path)
	}
	files, _ := filepath.Glob(filepath.Join(a, "messages", "*.jsonl"))
	sort.Strings(files)
	mustRun(append([]string{"ingest", "--data-dir", data}, files...)...)
	var stats struct {
		Quarantined int `json:"quarantined"`
	}
	if err := json.Unmarshal([]byte(mustRun("stats", "--data-dir", data, "--json")), &stats); err != nil {
		t.Fatal(err)
	}
	labels, _ := os.ReadFile(filepath.Join(a, "labels.jsonl"))
	malformed := strings.Count(string(labels), `"scenario":"malformed_message"`)
	if stats.Quarantined != malformed {
		t.Errorf("%d rows quarantined, %d malformed messages planted", stats.Quarantined, malformed)
	}
	if strings.Contains(string(labels), `"scenario":"split_hospitalisation"`) {
		t.Errorf("--sales-only: labels.jsonl has split stays, which only 2301/2304 show")
	}
}

// TestGenShapesUsage: the shape options refuse what they do not know.
func TestGenShapesUsage(t *testing.T) {
	dir := t.TempDir()
	for i, args := range [][]string{
		{"--codemap-levels", "empty"}, {"--inbound-cartons", "1.5"}, {"--late-uploads", "-0.1"}, {"--late-uploads", "NaN"},
	} {
		status, _, stderr := runCLI(t, "", append([]string{"gen", "--scale", "tiny", "--out", filepath.Join(dir, strconv.Itoa(i))}, args...)...)
		if status != exitUsage {
			t.Errorf("%v: exit status %d, want %d (stderr %q)", args, status, exitUsage, stderr)
		}
	}
}
