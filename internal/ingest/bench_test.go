package ingest_test

import (
	"context"
	"testing"
	"time"

	"tracewatch/internal/ingest"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/store/duckdb"
)

// benchLine is a 3505 line as `tracewatch bench ingest` writes them.
const benchLine = `{"infno":"3505","msgid":"P36010200089202507010800000000000000","fixmedins_code":"P36010200089","inf_time":"2025-07-01 08:00:00","opter_type":"1","input":{"selinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"H2570","fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B18117","prsc_dr_name":"李医生","phar_name":"王药师","phar_prac_cert_no":"YS0001","hi_feesetl_type":"1","setl_id":"S0","mdtrt_sn":"MD0","psn_no":"PSN139462","psn_cert_type":"01","manu_lotnum":"L2024","manu_date":"2024-05-01","expy_end":"2027-04-30","rx_flag":"0","trdn_flag":"0","finl_trns_pric":3.5,"rtal_docno":"R0","sel_retn_cnt":1,"sel_retn_time":"2025-07-01 08:00:00","sel_retn_opter_name":"王药师","mdtrt_setl_type":"1","drugtracinfo":[{"drug_trac_codg":"83857930000000000001"},{"drug_trac_codg":"83857930000000000002"}]}}}`

// BenchmarkPrepare3505 is the per-line cost of bulk ingest before the store: envelope,
// rows, codes identified.
func BenchmarkPrepare3505(b *testing.B) {
	ctx := context.Background()
	st := openWith(b, duckdb.Options{Threads: 2})
	in, err := ingest.New(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(benchLine)
	now := time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		req, err := nhsa.DecodeRequest(line)
		if err != nil {
			b.Fatal(err)
		}
		p, err := in.Prepare(ctx, req, line, "file:x:1", now, now)
		if err != nil || len(p.Events) != 1 || len(p.Quarantine) != 0 {
			b.Fatalf("prepare: %v %d events %d quarantined", err, len(p.Events), len(p.Quarantine))
		}
	}
}
