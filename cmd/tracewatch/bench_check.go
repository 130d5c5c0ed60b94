package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tracewatch/internal/facts"
	"tracewatch/internal/ingest"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

func init() {
	benchCommands["check"] = runBenchCheck
}

// runBenchCheck measures P3: signed real-time checks on loopback against a ledger of N
// codes. With an empty --data-dir it fills one first (the bench screen load: every code
// sold once at its institution).
func runBenchCheck(e env) int {
	fs := flag.NewFlagSet("bench check", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "store to check against (default: a temporary one, filled with --codes sold codes)")
	codes := fs.Int64("codes", 1_000_000, "codes in the ledger when the store is filled here")
	rateFlag := fs.Float64("rate", 5000, "checks per second to offer (open loop)")
	duration := fs.Duration("duration", 60*time.Second, "how long to offer them")
	conc := fs.Int("concurrency", 64, "concurrent clients")
	fraud := fs.Int("fraud-permille", 200, "checks whose code is already sold at another institution")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the load phase to this file")
	endpoint := fs.String("endpoint", "check", "what to call: check (POST /api/v1/check) or 3102 (POST /fsi/api/3102, the national shape)")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "tracewatch-bench-check-")
		if err != nil {
			return fail(e.stderr, "bench check", err)
		}
		defer os.RemoveAll(d)
		work = filepath.Join(d, "data")
	}
	ctx := context.Background()
	st, err := createStore(ctx, work, io.Discard)
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	if stats.Tables["sale_lines"] == 0 {
		start := time.Now()
		if err := st.FillScreenLoad(ctx, *codes); err != nil {
			return fail(e.stderr, "bench check", err)
		}
		fmt.Fprintf(e.stdout, "filled a store of %d sold codes in %s\n", *codes, time.Since(start).Round(time.Millisecond))
	}
	insts, err := st.Institutions(ctx)
	if err != nil || len(insts) < 2 {
		return fail(e.stderr, "bench check", fmt.Errorf("the store needs at least two institutions (%v)", err))
	}
	master, err := server.LoadOrCreateMasterKey(work)
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	type cred struct{ inst, paasid, secret string }
	var creds []cred
	for _, in := range insts[:min(len(insts), 32)] {
		p, s, err := server.CreateKey(ctx, st, master, in.Code, time.Now())
		if err != nil {
			return fail(e.stderr, "bench check", err)
		}
		creds = append(creds, cred{in.Code, p, s})
	}
	// Sold codes to ask about, with their seller: a sample from the store.
	type sold struct{ key, inst string }
	var sample []sold
	err = st.Holdings(ctx, func(key string, h facts.Holding) error {
		if len(sample) < 200_000 {
			sample = append(sample, sold{key, h.Institution})
		}
		return nil
	})
	if err != nil || len(sample) == 0 {
		return fail(e.stderr, "bench check", fmt.Errorf("no sold codes in the store (%v)", err))
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	idx := rules.NewIndex()
	start := time.Now()
	if err := idx.Load(ctx, st); err != nil {
		return fail(e.stderr, "bench check", err)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	held, recv := idx.Size()
	fmt.Fprintf(e.stdout, "index: %d held codes, %d received, loaded in %s, Go heap +%.0f MB\n", held, recv,
		time.Since(start).Round(time.Millisecond), float64(after.HeapInuse-before.HeapInuse)/1e6)

	in, err := ingest.New(ctx, st)
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	srv, err := server.New(server.Config{Store: st, Ingester: in, MasterKey: master, Index: idx})
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(e.stderr, "bench check", err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/api/v1/check"
	switch *endpoint {
	case "check":
	case "3101", "3102":
		url = "http://" + ln.Addr().String() + "/fsi/api/" + *endpoint
	default:
		return fail(e.stderr, "bench check", fmt.Errorf("--endpoint %q: want check, 3101 or 3102", *endpoint))
	}
	drug := drugOfLoad(ctx, st)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}}
	total := int(*rateFlag * duration.Seconds())
	lat := make([]time.Duration, 0, total)
	var mu sync.Mutex
	var errs, findings atomic.Int64
	jobs := make(chan int, *conc*4)
	var wg sync.WaitGroup
	for c := 0; c < *conc; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			nb := make([]byte, 16)
			local := make([]time.Duration, 0, total / *conc + 1)
			for i := range jobs {
				cr := creds[rng.IntN(len(creds))]
				var code string
				if rng.IntN(1000) < *fraud {
					s := sample[rng.IntN(len(sample))]
					code = s.key
				} else {
					code = fmt.Sprintf("8%019d", uint64(1e18)+uint64(1e12)+uint64(i)) // same product, never sold
				}
				body := fmt.Sprintf(`{"fixmedins_code":%q,"psn_no":"PSN%d","rtal_docno":"R%d","lines":[{"med_list_codg":%q,"quantity":"1","trdn_flag":"0","codes":[%q]}]}`,
					cr.inst, i, i, drug, code)
				if *endpoint != "check" {
					body = fmt.Sprintf(`{"infno":%q,"msgid":"B%d","fixmedins_code":%q,"inf_time":"2025-07-01 09:00:00","input":{"data":{"task_id":"T%d","trig_scen":"10",`+
						`"patient_dtos":[{"patn_id":"PSN%d","fsi_encounter_dtos":[{"mdtrt_id":"R%d","medins_id":%q,"fsi_order_dtos":[{"rx_id":"1","hilist_code":%q,"cnt":1,`+
						`"drug_trac_info":[{"drug_trac_codg":%q,"trdn_flag":"0"}]}]}]}]}}}`, *endpoint, i, cr.inst, i, i, i, cr.inst, drug, code)
				}
				fillRandom(nb)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				nonce := hex.EncodeToString(nb)
				req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
				req.Header.Set("content-type", "application/json")
				req.Header.Set(server.HeaderPaasID, cr.paasid)
				req.Header.Set(server.HeaderTimestamp, ts)
				req.Header.Set(server.HeaderNonce, nonce)
				req.Header.Set(server.HeaderSignature, server.Sign(ts, cr.secret, nonce))
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == 200 && bytes.Contains(b, []byte(`"infcode":"0"`))
					if ok && !bytes.Contains(b, []byte(`"result":[]`)) && !bytes.Contains(b, []byte(`"result": []`)) {
						findings.Add(1)
					}
				}
				local = append(local, time.Since(t0))
				if !ok {
					errs.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(c)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(e.stderr, "bench check", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(e.stderr, "bench check", err)
		}
		defer pprof.StopCPUProfile()
	}
	// Open loop: offer the checks at the rate, whatever the answers do.
	interval := time.Duration(float64(time.Second) / *rateFlag)
	t0 := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(e.stdout, "offered %d checks at %.0f/s with %d clients: %d answered in %s = %.0f checks/s; %d with findings; %d errors\n",
		total, *rateFlag, *conc, len(lat), took.Round(time.Millisecond), float64(len(lat))/took.Seconds(), findings.Load(), errs.Load())
	fmt.Fprintf(e.stdout, "latency p50 %s  p95 %s  p99 %s  max %s\n", q(0.50), q(0.95), q(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	fmt.Fprintf(e.stdout, "Go heap in use %.0f MB (DuckDB's memory is outside it: /usr/bin/time -v gives the process)\n", float64(ms.HeapInuse)/1e6)
	if errs.Load() > 0 {
		return exitFail
	}
	return exitOK
}

func fillRandom(b []byte) { _, _ = crand.Read(b) }

// drugOfLoad returns the drug the load's codes map to, for clean lines.
func drugOfLoad(ctx context.Context, st *duckdb.Store) string {
	maps, err := st.CodeMappings(ctx)
	if err == nil {
		for _, m := range maps {
			return m.DrugCode
		}
	}
	return "XA01AAA000A001010100001"
}
