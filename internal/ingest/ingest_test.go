package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/nhsa"
	"tracewatch/internal/store/duckdb"
)

const (
	inst   = "P36010200001"
	drug   = "XA11DAW036A001010104127"
	codeA  = "83857930000879766660"
	carton = "83857940000000012345"
)

var now = time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) *duckdb.Store { return openWith(t, duckdb.Options{Threads: 2}) }

func openWith(t testing.TB, o duckdb.Options) *duckdb.Store {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must(t, st.UpsertInstitutions(ctx, []tracewatch.Institution{{Code: inst, Name: "药店甲", Type: tracewatch.InstitutionPharmacy, Region: "360102"}}))
	must(t, st.UpsertDrugs(ctx, []tracewatch.Drug{{Code: drug, Name: "维生素B1片", PackContent: 100, Price: 350, Reimbursable: true}}))
	must(t, st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: "8385793", DrugCode: drug, PackLevel: 1}, {ProductID: "8385794", DrugCode: drug, PackLevel: 3}}))
	must(t, st.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: carton, Child: codeA}, {Parent: carton, Child: "83857930000879766677"}}))
	return st
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func saleRow(receipt string, codes ...string) map[string]any {
	var dti []map[string]string
	for _, c := range codes {
		dti = append(dti, map[string]string{"drug_trac_codg": c})
	}
	return map[string]any{"med_list_codg": drug, "fixmedins_hilist_id": "H1", "fixmedins_hilist_name": "维生素B1片", "fixmedins_bchno": "B1",
		"prsc_dr_name": "李", "phar_name": "王", "phar_prac_cert_no": "X", "hi_feesetl_type": "1", "mdtrt_sn": "M1", "psn_cert_type": "01",
		"manu_lotnum": "L1", "manu_date": "2024-01-01", "rx_flag": "0", "trdn_flag": "0", "rtal_docno": receipt, "sel_retn_cnt": 1,
		"sel_retn_time": "2025-03-02 10:00:00", "sel_retn_opter_name": "王", "mdtrt_setl_type": "2", "drugtracinfo": dti}
}

func envelope(t *testing.T, infno, msgid, node string, rows any) []byte {
	b, err := json.Marshal(map[string]any{"infno": infno, "msgid": msgid, "fixmedins_code": inst, "inf_time": "2025-03-02 10:00:00", "input": map[string]any{node: rows}})
	must(t, err)
	return b
}

func prepare(t *testing.T, in *ingest.Ingester, body []byte) *ingest.Prepared {
	t.Helper()
	req, err := nhsa.DecodeRequest(body)
	must(t, err)
	p, err := in.Prepare(context.Background(), req, body, "test", now, now)
	must(t, err)
	return p
}

func TestPrepareSingleRefusedWhole(t *testing.T) {
	st := open(t)
	in, err := ingest.New(context.Background(), st)
	must(t, err)
	row := saleRow("", codeA)
	delete(row, "rtal_docno")
	p := prepare(t, in, envelope(t, "3505", "M1", "selinfo", row))
	if !p.Refused || p.Response.Infcode != "-1" || !strings.Contains(p.Response.ErrMsg, "rtal_docno") || len(p.Events) != 0 {
		t.Fatalf("refused = %v, response %+v, events %d", p.Refused, p.Response, len(p.Events))
	}
	if len(p.Quarantine) != 1 || p.Quarantine[0].Field == "" || !strings.Contains(string(p.Quarantine[0].Payload), `"3505"`) {
		t.Errorf("quarantine = %+v", p.Quarantine)
	}
	var back nhsa.Response
	must(t, json.Unmarshal(p.Message.Response, &back))
	if back.Infcode != "-1" || back.InfRefmsgid != "M1" {
		t.Errorf("stored response = %s", p.Message.Response)
	}
}

func TestPrepareBatchKeepsGoodRows(t *testing.T) {
	st := open(t)
	in, err := ingest.New(context.Background(), st)
	must(t, err)
	bad := saleRow("", codeA)
	delete(bad, "rtal_docno")
	p := prepare(t, in, envelope(t, "3505A", "M2", "selinfoDetail", []any{saleRow("R1", codeA), bad, saleRow("R3", "83857930000879766677")}))
	if p.Refused || p.Response.Infcode != "0" || len(p.Events) != 2 || len(p.Quarantine) != 1 || p.Quarantine[0].Row != 2 {
		t.Fatalf("refused %v, infcode %s, events %d, quarantine %+v", p.Refused, p.Response.Infcode, len(p.Events), p.Quarantine)
	}
	out, _ := json.Marshal(p.Response.Output)
	if !strings.Contains(string(out), `"retRslt":"0"`) || !strings.Contains(string(out), "rtal_docno") {
		t.Errorf("batch output = %s", out)
	}
}

func TestIdentifyMapsAndExpands(t *testing.T) {
	st := open(t)
	in, err := ingest.New(context.Background(), st)
	must(t, err)
	p := prepare(t, in, envelope(t, "3503", "M3", "purcinfo", map[string]any{
		"med_list_codg": drug, "fixmedins_hilist_id": "H1", "fixmedins_hilist_name": "维生素B1片", "fixmedins_bchno": "B1", "spler_name": "国药",
		"manu_lotnum": "L1", "prodentp_name": "厂", "aprvno": "H1", "manu_date": "2024-01-01", "expy_end": "2026-12-31", "purc_retn_cnt": 1,
		"rx_flag": "0", "purc_retn_stoin_time": "2025-03-01 09:00:00", "purc_retn_opter_name": "张",
		"drugtracinfo": []any{map[string]string{"drug_trac_codg": "8385794 0000000012345"}, map[string]string{"drug_trac_codg": "6901234567892"}},
	}))
	if len(p.Events) != 1 {
		t.Fatalf("events = %d", len(p.Events))
	}
	got := map[string]tracewatch.EventCode{}
	for _, c := range p.Events[0].Codes {
		got[c.Raw] = c
	}
	if c := got["8385794 0000000012345"]; c.Key != carton || c.Level != 3 || c.DrugCode != drug {
		t.Errorf("carton = %+v", c)
	}
	if c := got[codeA]; c.Key != codeA || c.Parent != carton || c.Level != 1 {
		t.Errorf("expanded child = %+v", c)
	}
	if c := got["6901234567892"]; c.Key != "" || c.Error != "not_trace_code" {
		t.Errorf("commodity barcode = %+v", c)
	}
	if len(p.Events[0].Codes) != 4 {
		t.Errorf("codes = %d, want carton + 2 children + the bad scan", len(p.Events[0].Codes))
	}
}

// lookups records the parents identification asks the store for.
type lookups struct {
	*duckdb.Store
	asked []string
}

func (l *lookups) PackageChildren(ctx context.Context, parents []string) (map[string][]string, error) {
	l.asked = append(l.asked, parents...)
	return l.Store.PackageChildren(ctx, parents)
}

func purchaseRow(qty int, codes ...string) map[string]any {
	var dti []any
	for _, c := range codes {
		dti = append(dti, map[string]string{"drug_trac_codg": c})
	}
	return map[string]any{
		"med_list_codg": drug, "fixmedins_hilist_id": "H1", "fixmedins_hilist_name": "维生素B1片", "fixmedins_bchno": "B1", "spler_name": "国药",
		"manu_lotnum": "L1", "prodentp_name": "厂", "aprvno": "H1", "manu_date": "2024-01-01", "expy_end": "2026-12-31", "purc_retn_cnt": qty,
		"rx_flag": "0", "purc_retn_stoin_time": "2025-03-01 09:00:00", "purc_retn_opter_name": "张", "drugtracinfo": dti,
	}
}

// TestIdentifyExpandsUnknownLevels: with a codemap that states no levels (as many
// provinces' tables), a carton scanned at purchase is still expanded into its packs,
// because the package links prove its product id a parent; a pack's code is not looked
// up (its product id packages nothing), and links loaded later count after Reload.
func TestIdentifyExpandsUnknownLevels(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	must(t, st.UpsertCodeMappings(ctx, []tracewatch.CodeMapping{{ProductID: "8385793", DrugCode: drug}, {ProductID: "8385794", DrugCode: drug}}))
	rec := &lookups{Store: st}
	in, err := ingest.New(ctx, rec)
	must(t, err)
	const other = "83857940000000099999" // a carton of the same product whose links come later
	p := prepare(t, in, envelope(t, "3503", "M9", "purcinfo", purchaseRow(4, carton, other, "83857930000000055555")))
	got := map[string]tracewatch.EventCode{}
	for _, c := range p.Events[0].Codes {
		got[c.Key] = c
	}
	if c := got[carton]; c.Level != 0 || c.DrugCode != drug || c.Parent != "" {
		t.Errorf("carton = %+v, want level 0 (unknown), mapped, scanned", c)
	}
	for _, k := range []string{codeA, "83857930000879766677"} {
		if c := got[k]; c.Parent != carton || c.Level != 0 || c.DrugCode != drug {
			t.Errorf("child %s = %+v, want expanded from the carton", k, c)
		}
	}
	if n := len(p.Events[0].Codes); n != 5 {
		t.Errorf("codes = %d, want the 3 scanned and the carton's 2 packs", n)
	}
	if want := []string{carton, other}; strings.Join(rec.asked, ",") != strings.Join(want, ",") {
		t.Errorf("children looked up for %v, want %v (the cartons only)", rec.asked, want)
	}

	// The other carton's links arrive: after Reload its scan is expanded too.
	must(t, st.UpsertPackageLinks(ctx, []tracewatch.PackageLink{{Parent: other, Child: "83857930000000088888"}}))
	must(t, in.Reload(ctx))
	p = prepare(t, in, envelope(t, "3503", "M10", "purcinfo", purchaseRow(1, other)))
	if cs := p.Events[0].Codes; len(cs) != 2 || cs[1].Key != "83857930000000088888" || cs[1].Parent != other {
		t.Errorf("codes = %+v, want the carton and its pack", cs)
	}
}

func TestIngestFileTwice(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	in, err := ingest.New(ctx, st)
	must(t, err)
	var b strings.Builder
	for i := 0; i < 500; i++ {
		b.Write(envelope(t, "3505", fmt.Sprintf("F%04d", i), "selinfo", saleRow(fmt.Sprintf("R%d", i), fmt.Sprintf("838579300%011d", i))))
		b.WriteByte('\n')
	}
	b.WriteString("{broken\n\n")
	b.Write(envelope(t, "3505", "", "selinfo", saleRow("RX", "83857930000000099999"))) // no msgid: derived
	b.WriteByte('\n')
	file := b.String()
	s1, err := in.IngestFile(ctx, st, strings.NewReader(file), ingest.FileOptions{Name: "t.jsonl", BatchLines: 120})
	must(t, err)
	if s1.Lines != 502 || s1.Accepted != 501 || s1.Unreadable != 1 || s1.Events != 501 || s1.Quarantined != 1 {
		t.Errorf("first run = %+v", s1)
	}
	s2, err := in.IngestFile(ctx, st, strings.NewReader(file), ingest.FileOptions{Name: "t.jsonl", BatchLines: 77})
	must(t, err)
	if s2.Accepted != 0 || s2.Replayed != 501 || s2.Events != 0 || s2.Quarantined != 0 {
		t.Errorf("second run = %+v", s2)
	}
	stats, err := st.Stats(ctx)
	must(t, err)
	if stats.Tables["sale_lines"] != 501 || stats.Tables["quarantine"] != 1 || stats.LedgerCodes != 501 {
		t.Errorf("store = %+v", stats)
	}
}

// TestIngestFileHostileBytes: lines of any bytes ingest and re-ingest: a line that is not
// JSON (`\xff\xfe x`) is quarantined as its bytes; a refused 3505 carrying invalid UTF-8
// in a string is quarantined with the message's bytes as received; a 3505A with 240 bad
// rows stores its payload once; two institutions may use the same msgid. Running the
// file again changes nothing.
func TestIngestFileHostileBytes(t *testing.T) {
	for _, journal := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) { testHostileBytes(t, openWith(t, duckdb.Options{Threads: 2, Journal: journal})) })
	}
}

func testHostileBytes(t *testing.T, st *duckdb.Store) {
	ctx := context.Background()
	in, err := ingest.New(ctx, st)
	must(t, err)
	for _, c := range []struct {
		name, file   string
		quarantined  int // at least, for the refused 3505: the decoder may name more than one field
		payloads     int64
		unreadable   int
		accepted     int
		refused      int
		wantPayloads []string // of every row quarantined
	}{
		{name: "not json", file: "\xff\xfe x", quarantined: 1, payloads: 1, unreadable: 1, wantPayloads: []string{"\xff\xfe x"}},
		{name: "refused 3505 with bad bytes", quarantined: 1, payloads: 1, refused: 1},
		{name: "3505A with 240 bad rows", quarantined: 240, payloads: 1, accepted: 1},
		{name: "the same msgid at two institutions", accepted: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := c.file
			switch c.name {
			case "refused 3505 with bad bytes":
				row := saleRow("", codeA)
				delete(row, "rtal_docno")
				row["fixmedins_hilist_name"] = "BADNAME"
				file = strings.Replace(string(envelope(t, "3505", "H1", "selinfo", row)), "BADNAME", "\xff\xfe", 1)
				c.wantPayloads = []string{file}
			case "3505A with 240 bad rows":
				var rows []any
				for i := range 240 {
					r := saleRow("", fmt.Sprintf("838579300%011d", i))
					delete(r, "rtal_docno")
					rows = append(rows, r)
				}
				rows = append(rows, saleRow("R-ok", codeA))
				file = string(envelope(t, "3505A", "H2", "selinfoDetail", rows))
			case "the same msgid at two institutions":
				a := envelope(t, "3505", "SAME", "selinfo", saleRow("RA", "83857930000000011111"))
				b := strings.Replace(string(envelope(t, "3505", "SAME", "selinfo", saleRow("RB", "83857930000000022222"))), inst, "P36010200002", 1)
				file = string(a) + "\n" + b + "\n"
			}
			before, err := st.Stats(ctx)
			must(t, err)
			s1, err := in.IngestFile(ctx, st, strings.NewReader(file), ingest.FileOptions{Name: "h.jsonl"})
			must(t, err)
			if s1.Quarantined < c.quarantined || s1.Unreadable != c.unreadable || s1.Accepted != c.accepted || s1.Refused != c.refused || s1.DeadLettered != 0 {
				t.Errorf("first run = %+v", s1)
			}
			after, err := st.Stats(ctx)
			must(t, err)
			if n := after.Tables["quarantine_payloads"] - before.Tables["quarantine_payloads"]; n != c.payloads {
				t.Errorf("%d payloads stored, want %d", n, c.payloads)
			}
			if n := after.Tables["quarantine"] - before.Tables["quarantine"]; n != int64(s1.Quarantined) || n < int64(c.quarantined) {
				t.Errorf("%d quarantine rows, want %d (at least %d)", n, s1.Quarantined, c.quarantined)
			}
			s2, err := in.IngestFile(ctx, st, strings.NewReader(file), ingest.FileOptions{Name: "h.jsonl"})
			must(t, err)
			if s2.Quarantined != 0 || s2.Accepted != 0 || s2.Events != 0 {
				t.Errorf("second run = %+v", s2)
			}
			again, err := st.Stats(ctx)
			must(t, err)
			if again.Tables["quarantine"] != after.Tables["quarantine"] || again.Tables["messages"] != after.Tables["messages"] {
				t.Errorf("the second run changed the store: %v → %v", after.Tables, again.Tables)
			}
			if len(c.wantPayloads) > 0 {
				rows, err := st.Quarantine(ctx, tracewatch.QuarantineFilter{AfterID: int64(before.Tables["quarantine"])})
				must(t, err)
				for _, r := range rows {
					if string(r.Payload) != c.wantPayloads[0] {
						t.Errorf("row %d %s: payload of %d bytes, want the %d bytes received", r.ID, r.Reason, len(r.Payload), len(c.wantPayloads[0]))
					}
				}
				if len(rows) == 0 {
					t.Error("nothing quarantined")
				}
			}
		})
	}
}

// TestIngestFileSameMsgIDTwice: a file carrying the same message twice stores it once and
// says so, whether the two lines fall in one commit batch or in two: 1 accepted, 1
// already stored, its one row stored. A bad line twice is quarantined once.
func TestIngestFileSameMsgIDTwice(t *testing.T) {
	ctx := context.Background()
	msg := string(envelope(t, "3505", "TWICE", "selinfo", saleRow("R-TWICE", "83857930000000033333")))
	for _, c := range []struct {
		name       string
		file       string
		batchLines int
		want       ingest.FileStats
	}{
		{name: "one batch", file: msg + "\n" + msg + "\n", batchLines: 50_000,
			want: ingest.FileStats{Lines: 2, Messages: 2, Accepted: 1, Replayed: 1, Events: 1, Codes: 1,
				ByInfno: map[string]*ingest.InfnoStats{"3505": {Messages: 2, Accepted: 1, Replayed: 1, Rows: 1}}}},
		{name: "two batches", file: msg + "\n" + msg + "\n", batchLines: 1,
			want: ingest.FileStats{Lines: 2, Messages: 2, Accepted: 1, Replayed: 1, Events: 1, Codes: 1,
				ByInfno: map[string]*ingest.InfnoStats{"3505": {Messages: 2, Accepted: 1, Replayed: 1, Rows: 1}}}},
		{name: "unreadable line twice in one batch", file: "not json\nnot json\n", batchLines: 50_000,
			want: ingest.FileStats{Lines: 2, Unreadable: 2, Quarantined: 1, ByInfno: map[string]*ingest.InfnoStats{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := open(t)
			in, err := ingest.New(ctx, st)
			must(t, err)
			before, err := st.Stats(ctx)
			must(t, err)
			got, err := in.IngestFile(ctx, st, strings.NewReader(c.file), ingest.FileOptions{Name: "twice.jsonl", BatchLines: c.batchLines, Workers: 1})
			must(t, err)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(c.want)
			if string(gb) != string(wb) {
				t.Errorf("stats\n got %s\nwant %s", gb, wb)
			}
			after, err := st.Stats(ctx)
			must(t, err)
			for table, n := range map[string]int64{"messages": 1, "events": int64(c.want.Events), "quarantine": int64(c.want.Quarantined)} {
				if d := after.Tables[table] - before.Tables[table]; d != n {
					t.Errorf("%s: %d rows stored, want %d", table, d, n)
				}
			}
			// Again: everything already stored.
			again, err := in.IngestFile(ctx, st, strings.NewReader(c.file), ingest.FileOptions{Name: "twice.jsonl", BatchLines: c.batchLines, Workers: 1})
			must(t, err)
			if again.Accepted != 0 || again.Events != 0 || again.Quarantined != 0 || again.Replayed != c.want.Messages {
				t.Errorf("second run = %+v", again)
			}
		})
	}
}

// failingCommitter fails every commit after the first n.
type failingCommitter struct {
	ingest.Committer
	n int
}

func (f *failingCommitter) Commit(ctx context.Context, b *tracewatch.Batch) (tracewatch.CommitResult, error) {
	if f.n == 0 {
		return tracewatch.CommitResult{}, tracewatch.Errorf("test.Commit", tracewatch.KindInternal, "disk full")
	}
	f.n--
	return f.Committer.Commit(ctx, b)
}

// TestIngestFilesInOrder: the files of one IngestFiles are committed in order, though
// the next is decoded while the one before commits: a msgid sent in two files is stored
// from the first and reported as already stored in the second, and each file's stats
// arrive once, in order. A failed commit stops the ingest and names its file.
func TestIngestFilesInOrder(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	in, err := ingest.New(ctx, st)
	must(t, err)
	file := func(from, to int, receipt string) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			b.Write(envelope(t, "3505", fmt.Sprintf("G%04d", i), "selinfo", saleRow(receipt+fmt.Sprint(i), fmt.Sprintf("838579301%011d", i))))
			b.WriteByte('\n')
		}
		return b.String()
	}
	texts := []string{file(0, 300, "A"), file(200, 500, "B"), file(500, 520, "C")}
	src := func(text string) ingest.Source {
		return ingest.Source{Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil },
			Options: ingest.FileOptions{Name: "f.jsonl", BatchLines: 70}}
	}
	var order []int
	var got []ingest.FileStats
	_, err = in.IngestFiles(ctx, st, []ingest.Source{src(texts[0]), src(texts[1]), src(texts[2])}, func(i int, s ingest.FileStats) {
		order = append(order, i)
		got = append(got, s)
	})
	must(t, err)
	if !slices.Equal(order, []int{0, 1, 2}) {
		t.Fatalf("done called for %v, want 0, 1, 2", order)
	}
	if got[0].Accepted != 300 || got[1].Accepted != 200 || got[1].Replayed != 100 || got[2].Accepted != 20 {
		t.Errorf("stats = %+v", got)
	}
	tl, err := st.Timeline(ctx, "83857930100000000250")
	must(t, err)
	if len(tl) != 1 || tl[0].Receipt != "A250" {
		t.Errorf("G0250 sent in files 1 and 2: stored %+v, want the first file's (receipt A250)", tl)
	}
	tl, err = st.Timeline(ctx, "83857930100000000450")
	must(t, err)
	if len(tl) != 1 || tl[0].Receipt != "B450" {
		t.Errorf("G0450 of the second file: stored %+v, want receipt B450", tl)
	}

	fc := &failingCommitter{Committer: st, n: 1}
	more := []ingest.Source{src(file(600, 650, "D")), src(file(700, 800, "E")), src(file(800, 900, "F"))}
	var finished []int
	failed, err := in.IngestFiles(ctx, fc, more, func(i int, _ ingest.FileStats) { finished = append(finished, i) })
	if tracewatch.KindOf(err) != tracewatch.KindInternal || failed != 1 {
		t.Errorf("a commit failing in the second file: failed = %d, err = %v; want 1 and the commit's error", failed, err)
	}
	if !slices.Equal(finished, []int{0}) {
		t.Errorf("files reported done: %v, want only the first", finished)
	}
}
