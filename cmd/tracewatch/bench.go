package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
)

func init() {
	benchCommands["ingest"] = runBenchIngest
	register("bench", "measure: bench ingest --lines N (P1 bulk ingest); bench http --clients C (signed 3505 over HTTP); bench inbox --clues N (the web inbox)", func(e env) int {
		return subcommand(e, "bench", benchCommands)
	})
}

// benchCommands are the `tracewatch bench` subcommands, one file each.
var benchCommands = map[string]func(env) int{}

func runBenchIngest(e env) int {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	lines := fs.Int("lines", 1_000_000, "3505 sale messages to generate and ingest (1–2 codes each)")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards)")
	seed := fs.Uint64("seed", 1, "generator seed")
	batch := fs.Int("batch-lines", 50_000, "lines per durable commit")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the ingest to this file")
	ledgerMode := ledgerFlag(fs)
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if err := checkLedgerMode(*ledgerMode); err != nil {
		fmt.Fprintln(e.stderr, "tracewatch bench ingest:", err)
		return exitUsage
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "tracewatch-bench-")
		if err != nil {
			return fail(e.stderr, "bench ingest", err)
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o750); err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	file := filepath.Join(work, "sales-3505.jsonl")
	start := time.Now()
	size, codes, err := writeSalesFile(file, *lines, *seed)
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	fmt.Fprintf(e.stdout, "generated %d 3505 lines (%d codes, %.1f MB) in %s\n", *lines, codes, float64(size)/1e6, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	dataDir := filepath.Join(work, "data")
	os.RemoveAll(dataDir)
	start = time.Now()
	st, err := createStore(ctx, dataDir, io.Discard)
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	if err := st.UpsertInstitutions(ctx, benchInstitutions()); err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	f, err := openInput(file)
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(e.stderr, "bench ingest", err)
		}
		pprof.StartCPUProfile(pf)
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	defer bulkGC()()
	ingestStart := time.Now()
	deferred, err := deferLedger(ctx, st, *ledgerMode, inputLines([]string{file}))
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	s, err := in.IngestFile(ctx, st, f, ingest.FileOptions{Name: "sales-3505.jsonl", BatchLines: *batch})
	f.Close()
	if err != nil {
		return fail(e.stderr, "bench ingest", err)
	}
	ledgerAt := "at every commit"
	if deferred {
		t := time.Now()
		if _, err := st.CatchUpLedger(ctx); err != nil {
			return fail(e.stderr, "bench ingest", err)
		}
		ledgerAt = fmt.Sprintf("rebuilt after the load in %s", time.Since(t).Round(time.Millisecond))
	}
	if err := st.Close(); err != nil { // durable: every batch committed, the ledger current, the store closed
		return fail(e.stderr, "bench ingest", err)
	}
	took := time.Since(ingestStart)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(e.stdout, "ingested %d lines (%d events, %d codes, %d quarantined) in %s: %.0f sale lines/s, durable (store closed; ledger %s)\n",
		s.Lines, s.Events, s.Codes, s.Quarantined, took.Round(time.Millisecond), float64(s.Lines)/took.Seconds(), ledgerAt)
	fmt.Fprintf(e.stdout, "total with store open and setup: %s; Go heap peak ~%d MB; cores %d\n",
		time.Since(start).Round(time.Millisecond), ms.Sys>>20, runtime.NumCPU())
	if s.Events != *lines {
		fmt.Fprintf(e.stderr, "bench ingest: stored %d events, want %d\n", s.Events, *lines)
		return exitFail
	}
	return exitOK
}

const benchInstitutionCount = 200

// benchInstitutionCode is the fixmedins_code of the benchmarks' i-th pharmacy.
func benchInstitutionCode(i int) string { return fmt.Sprintf("P360102%05d", i) }

func benchInstitutions() []tracewatch.Institution {
	out := make([]tracewatch.Institution, benchInstitutionCount)
	for i := range out {
		out[i] = tracewatch.Institution{Code: benchInstitutionCode(i), Name: fmt.Sprintf("药店%d", i), Type: tracewatch.InstitutionPharmacy, Region: "360102"}
	}
	return out
}

// writeSalesFile writes n single-row 3505 messages, each with one or two distinct
// 20-digit codes, and returns the file size and the number of codes.
func writeSalesFile(path string, n int, seed uint64) (int64, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	codes, err := writeSales(w, n, seed)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	st, _ := f.Stat()
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	return st.Size(), codes, nil
}

func writeSales(w io.Writer, n int, seed uint64) (int, error) {
	r := rand.New(rand.NewPCG(seed, 0x3505))
	base := time.Date(2025, 7, 1, 8, 0, 0, 0, cstZone)
	var b []byte
	codes := 0
	serial := uint64(0)
	for i := 0; i < n; i++ {
		inst := benchInstitutionCode(r.IntN(benchInstitutionCount))
		t := base.Add(time.Duration(i) * 3 * time.Second)
		msgid := inst + t.Format("20060102150405") + fmt.Sprintf("%010d", i)
		b = b[:0]
		b = append(b, `{"infno":"3505","msgid":"`...)
		b = append(b, msgid...)
		b = append(b, `","fixmedins_code":"`...)
		b = append(b, inst...)
		b = append(b, `","inf_time":"`...)
		b = t.AppendFormat(b, "2006-01-02 15:04:05")
		b = append(b, `","opter_type":"1","input":{"selinfo":{"med_list_codg":"XA11DAW036A001010104127","fixmedins_hilist_id":"H`...)
		b = strconv.AppendInt(b, int64(r.IntN(5000)), 10)
		b = append(b, `","fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B`...)
		b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
		b = append(b, `","prsc_dr_name":"李医生","phar_name":"王药师","phar_prac_cert_no":"YS0001","hi_feesetl_type":"1","setl_id":"S`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","mdtrt_sn":"MD`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","psn_no":"PSN`...)
		b = strconv.AppendInt(b, int64(r.IntN(1_000_000)), 10)
		b = append(b, `","psn_cert_type":"01","manu_lotnum":"L2024","manu_date":"2024-05-01","expy_end":"2027-04-30","rx_flag":"0","trdn_flag":"0","finl_trns_pric":3.5,"rtal_docno":"R`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","sel_retn_cnt":1,"sel_retn_time":"`...)
		b = t.AppendFormat(b, "2006-01-02 15:04:05")
		b = append(b, `","sel_retn_opter_name":"王药师","mdtrt_setl_type":"1","drugtracinfo":[`...)
		k := 1 + r.IntN(2)
		for j := 0; j < k; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			serial++
			b = append(b, `{"drug_trac_codg":"8385793`...)
			b = append(b, fmt.Sprintf("%013d", serial)...)
			b = append(b, `"}`...)
			codes++
		}
		b = append(b, "]}}}\n"...)
		if _, err := w.Write(b); err != nil {
			return codes, err
		}
	}
	return codes, nil
}
