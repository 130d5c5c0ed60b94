package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
	"tracewatch/internal/store/duckdb"
)

// rulesProvince writes a data directory where pharmacy P36010200001 received 20 packs
// of one drug and scanned 18 of them (inbound coverage 0.9), then sold 5 codes it never
// received: below the default min_coverage 0.95, T3 gives the institution a 提示 only;
// at 0.85 it judges the codes.
func rulesProvince(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	os.MkdirAll(ref, 0o755)
	files := map[string]string{
		"regions.csv":      "admdvs,name,parent\n360000,江西省,\n360100,南昌市,360000\n360102,东湖区,360100\n",
		"institutions.csv": "fixmedins_code,fixmedins_name,fixmedins_type,admdvs\nP36010200001,一号大药房,pharmacy,360102\n",
		"drugs.csv":        "med_list_codg,drug_name,pack_content,price,reimbursable,drug_kind\nXJ01CAA040A001010100001,阿莫西林胶囊,24,12.50,1,western\n",
		"codemap.csv":      "product_id,med_list_codg,pack_level\n8385793,XJ01CAA040A001010100001,1\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ref, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimSuffix(name, ".csv")
		if code, _, stderr := runCLI(t, "", "load", "--data-dir", dir, kind, filepath.Join(ref, name)); code != 0 {
			t.Fatalf("load %s: %s", kind, stderr)
		}
	}
	var msgs strings.Builder
	var codes []string
	for i := range 18 {
		codes = append(codes, fmt.Sprintf(`{"drug_trac_codg": "838579300087%08d"}`, i))
	}
	fmt.Fprintf(&msgs, `{"infno": "3503", "msgid": "P36010200001202503010900000001", "mdtrtarea_admvs": "360102", "opter": "Y1", "opter_name": "王丽", "inf_time": "2025-03-01 09:00:00", "fixmedins_code": "P36010200001", "input": {"purcinfo": {"med_list_codg": "XJ01CAA040A001010100001", "fixmedins_hilist_id": "YP00001", "fixmedins_hilist_name": "阿莫西林胶囊", "rx_flag": "1", "fixmedins_bchno": "B1", "manu_lotnum": "240801", "manu_date": "2024-08-01", "expy_end": "2026-07-31", "spler_name": "江西南华医药有限公司", "prodentp_name": "华北制药股份有限公司", "aprvno": "国药准字H13023964", "finl_trns_pric": "10.00", "purc_retn_cnt": 20, "purc_retn_stoin_time": "2025-03-01 09:00:00", "purc_retn_opter_name": "王丽", "drugtracinfo": [%s]}}}`+"\n", strings.Join(codes, ", "))
	for i := range 5 {
		code := fmt.Sprintf("838579300099%08d", i)
		fmt.Fprintf(&msgs, `{"infno": "3505", "msgid": "P3601020000120250302100000%04d", "mdtrtarea_admvs": "360102", "opter": "Y1", "opter_name": "王丽", "inf_time": "2025-03-02 10:00:00", "fixmedins_code": "P36010200001", "input": {"selinfo": {"med_list_codg": "XJ01CAA040A001010100001", "fixmedins_hilist_id": "YP00001", "fixmedins_hilist_name": "阿莫西林胶囊", "rx_flag": "1", "fixmedins_bchno": "B%d", "manu_lotnum": "240801", "manu_date": "2024-08-01", "expy_end": "2026-07-31", "prsc_dr_name": "张明", "phar_name": "王丽", "sel_retn_opter_name": "王丽", "hi_feesetl_type": "0", "mdtrt_setl_type": "2", "psn_cert_type": "01", "trdn_flag": "0", "finl_trns_pric": "12.50", "rtal_docno": "R%d", "stoout_no": "R%d-1", "sel_retn_cnt": 1, "sel_retn_time": "2025-03-02 10:%02d:00", "drugtracinfo": [{"drug_trac_codg": "%s"}]}}}`+"\n", i+2, i+2, i, i, i, code)
	}
	in := filepath.Join(dir, "m.jsonl")
	os.WriteFile(in, []byte(msgs.String()), 0o644)
	if code, _, stderr := runCLI(t, "", "ingest", "--data-dir", dir, in); code != 0 {
		t.Fatalf("ingest: %s", stderr)
	}
	return dir
}

// screenClues runs tracewatch screen with args and returns the stored clues of T3.
func screenT3(t *testing.T, dir string, args ...string) (perCode, notices int) {
	t.Helper()
	if code, _, stderr := runCLI(t, "", append([]string{"screen", "--data-dir", dir, "--at", "2025-04-01T00:00:00+08:00"}, args...)...); code != 0 {
		t.Fatalf("screen %v: %s", args, stderr)
	}
	st, err := duckdb.Open(context.Background(), dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clues, err := st.Clues(context.Background(), tracewatch.ClueFilter{Detector: "trace.nosource", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clues {
		if c.Subject == tracewatch.SubjectCode {
			perCode++
		} else {
			notices++
		}
	}
	return perCode, notices
}

// TestRulesFileChangesScreenAndCheck (issue 12, acceptance 2): T3's min_coverage set in a
// rules file passed to screen --rules changes the clues, and the same file changes the
// counter's answer (the index runs the rule base's T3); a rule disabled there raises no
// clue.
func TestRulesFileChangesScreenAndCheck(t *testing.T) {
	dir := rulesProvince(t)
	text := filepath.Join(dir, "province.rules")
	os.WriteFile(text, []byte("# 本省规则库\n[T3]\nmin_coverage = 0.85\n"), 0o644)
	js := filepath.Join(dir, "province.json")
	os.WriteFile(js, []byte(`{"rules": [{"id": "trace.nosource@1", "params": {"min_coverage": 0.85}}]}`), 0o644)
	off := filepath.Join(dir, "off.rules")
	os.WriteFile(off, []byte("[trace.nosource]\nenabled = false\n"), 0o644)

	// The default: coverage 0.9 < 0.95, one 提示 about the institution's coverage.
	if perCode, notices := screenT3(t, dir, "--detector", "T3"); perCode != 0 || notices != 1 {
		t.Errorf("default rule base: %d per-code clues and %d notices, want 0 and 1", perCode, notices)
	}
	// The province's file, in either form: the codes are judged.
	for _, f := range []string{text, js} {
		if perCode, _ := screenT3(t, dir, "--detector", "T3", "--rules", f); perCode == 0 {
			t.Errorf("--rules %s (min_coverage 0.85): no per-code T3 clue", filepath.Base(f))
		}
	}
	// Disabled: the default set leaves T3 out.
	if code, stdout, stderr := runCLI(t, "", "screen", "--data-dir", dir, "--rules", off, "--json"); code != 0 {
		t.Fatalf("screen --rules off.rules: %s", stderr)
	} else if strings.Contains(stdout, "trace.nosource") {
		t.Errorf("a rule disabled by the rules file ran:\n%s", stdout)
	}

	// The counter reads the same rule values.
	ctx := context.Background()
	st, err := duckdb.Open(ctx, dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check := func(file string) int {
		t.Helper()
		b, err := rules.LoadBase(file)
		if err != nil {
			t.Fatal(err)
		}
		idx := rules.NewIndex()
		idx.SetRules(b.All())
		if err := idx.Load(ctx, st); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range idx.Check(rules.CheckRequest{Institution: "P36010200001", Receipt: "RX", Time: time.Date(2025, 3, 2, 12, 0, 0, 0, cstZone),
			Lines: []rules.CheckLine{{DrugCode: "XJ01CAA040A001010100001", Qty: tracewatch.QtyScale, Codes: []string{"83857930008700999999"}}}}) {
			if v.RuleID == "trace.nosource@1" {
				n++
			}
		}
		return n
	}
	if n := check(""); n != 0 {
		t.Errorf("default rule base: %d no-source violations at coverage 0.9, want 0", n)
	}
	for _, f := range []string{text, js} {
		if n := check(f); n != 1 {
			t.Errorf("rules file %s: %d no-source violations at coverage 0.9, want 1", filepath.Base(f), n)
		}
	}
	if n := check(off); n != 0 {
		t.Errorf("T3 disabled: %d no-source violations, want 0", n)
	}
}

// TestRulesCommands: list --json has every rule with its keys, export --json is accepted
// by --rules and gives the same rule base back, show names a rule's basis, and a bad
// rules file names its line and field.
func TestRulesCommands(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "rules", "list", "--json")
	if code != 0 {
		t.Fatalf("rules list: %s", stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != len(rules.Registry()) {
		t.Errorf("rules list: %d rules, want %d", len(list), len(rules.Registry()))
	}
	for _, r := range list {
		for _, k := range []string{"id", "version", "title", "type", "stage", "enabled", "severity", "params"} {
			if _, ok := r[k]; !ok {
				t.Errorf("rules list: %v has no %q", r["id"], k)
			}
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.json")
	os.WriteFile(file, []byte(`{"rules": [{"id": "claims.oversupply", "enabled": true, "severity": "可疑", "params": {"tolerance": 0.2, "lookback_days": 60}, "regions": ["360100"]}]}`), 0o644)
	_, exported, stderr := runCLI(t, "", "rules", "export", "--json", "--rules", file)
	os.WriteFile(filepath.Join(dir, "exported.json"), []byte(exported), 0o644)
	_, again, _ := runCLI(t, "", "rules", "export", "--json", "--rules", filepath.Join(dir, "exported.json"))
	if exported == "" || again != exported {
		t.Errorf("export --json is not a fixed point of --rules (%s):\n%s\n---\n%s", stderr, exported, again)
	}
	if !strings.Contains(exported, `"tolerance": 0.2`) || !strings.Contains(exported, `"360100"`) {
		t.Errorf("export does not show the file's settings:\n%s", exported)
	}
	_, text, _ := runCLI(t, "", "rules", "export", "--rules", file)
	os.WriteFile(filepath.Join(dir, "exported.rules"), []byte(text), 0o644)
	_, again, _ = runCLI(t, "", "rules", "export", "--json", "--rules", filepath.Join(dir, "exported.rules"))
	if again != exported {
		t.Errorf("the text export does not give the same rule base back:\n%s", rules.DefaultBase().Text())
	}
	if code, out, _ := runCLI(t, "", "rules", "show", "C3"); code != 0 || !strings.Contains(out, "处方管理办法") {
		t.Errorf("rules show C3: %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.rules")
	os.WriteFile(bad, []byte("[T3]\nmin_coverage = 1.5\n"), 0o644)
	if code, _, stderr := runCLI(t, "", "screen", "--data-dir", dir, "--rules", bad); code == 0 || !strings.Contains(stderr, "bad.rules:2") || !strings.Contains(stderr, "min_coverage") {
		t.Errorf("a bad rules file: exit %d, stderr %q; want its line and parameter named", code, stderr)
	}
}
