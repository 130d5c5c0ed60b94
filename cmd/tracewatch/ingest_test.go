package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tracewatch/internal/ingest"
)

// TestIngestSummarySameMessageTwice: the same message twice in one file, in one commit
// batch or in two, is summarized as what happened: 1 accepted, 1 already stored, its row
// stored once (issue 11, item 6).
func TestIngestSummarySameMessageTwice(t *testing.T) {
	line := `{"infno":"3505","msgid":"M-TWICE-1","fixmedins_code":"P36010200001","inf_time":"2025-07-01 10:00:00","input":{"selinfo":{` +
		`"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"H1","fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B1",` +
		`"prsc_dr_name":"李","phar_name":"王","phar_prac_cert_no":"X","hi_feesetl_type":"1","mdtrt_sn":"M1","psn_cert_type":"01",` +
		`"manu_lotnum":"L1","manu_date":"2024-01-01","rx_flag":"0","trdn_flag":"0","rtal_docno":"R1","sel_retn_cnt":1,` +
		`"sel_retn_time":"2025-07-01 10:00:00","sel_retn_opter_name":"王","mdtrt_setl_type":"2","drugtracinfo":[{"drug_trac_codg":"83857930000879766660"}]}}}`
	for _, batch := range []string{"50000", "1"} {
		t.Run("batch-lines="+batch, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "m.jsonl")
			if err := os.WriteFile(file, []byte(line+"\n"+line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "d")
			code, out, stderr := runCLI(t, "", "ingest", "--json", "--batch-lines", batch, "--data-dir", data, file)
			if code != exitOK {
				t.Fatalf("ingest: %d %s", code, stderr)
			}
			var s ingest.FileStats
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if s.Messages != 2 || s.Accepted != 1 || s.Replayed != 1 || s.Events != 1 {
				t.Errorf("summary = %s", out)
			}
			if i := s.ByInfno["3505"]; i == nil || i.Accepted != 1 || i.Replayed != 1 || i.Rows != 1 {
				t.Errorf("3505 = %+v", i)
			}
			code, out, _ = runCLI(t, "", "ingest", "--batch-lines", batch, "--data-dir", data, file)
			if code != exitOK || !strings.Contains(out, "accepted 0, already stored 2") || !strings.Contains(out, "rows stored 0") {
				t.Errorf("second run:\n%s", out)
			}
		})
	}
}
