package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"time"

	"tracewatch/internal/ingest"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
)

func init() {
	benchCommands["http"] = runBenchHTTP
}

// runBenchHTTP measures signed 3505 throughput over HTTP on loopback: a real server on
// a fresh store (or the one in --dir), with the check index loaded as serve has it, C clients each posting single-sale messages and waiting for the durable
// answer.
func runBenchHTTP(e env) int {
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	requests := fs.Int("requests", 20_000, "3505 messages to post in all")
	clients := fs.Int("clients", 16, "concurrent clients")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards)")
	journal := journalFlag(fs)
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the posting phase to this file")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "tracewatch-bench-http-")
		if err != nil {
			return fail(e.stderr, "bench http", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	// The messages: the same generator as bench ingest, one per line.
	var buf bytes.Buffer
	if _, err := writeSales(&buf, *requests, 2); err != nil {
		return fail(e.stderr, "bench http", err)
	}
	// A run tag in every msgid: a second run on the same --dir posts new messages, not
	// replays of the first run's.
	tagged := bytes.ReplaceAll(buf.Bytes(), []byte(`"msgid":"`), []byte(`"msgid":"`+strconv.FormatInt(time.Now().Unix()%1e6, 36)))
	msgs := bytes.Split(bytes.TrimSuffix(tagged, []byte("\n")), []byte("\n"))

	ctx := context.Background()
	data := filepath.Join(work, "data")
	st, err := openServeStore(ctx, data, *journal)
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	defer st.Close()
	before, err := st.Stats(ctx) // --dir may hold a store already (e.g. a bench screen load)
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	if err := st.UpsertInstitutions(ctx, benchInstitutions()); err != nil {
		return fail(e.stderr, "bench http", err)
	}
	master, err := server.LoadOrCreateMasterKey(data)
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	type cred struct{ paasid, secret string }
	creds := map[string]cred{}
	for _, in := range benchInstitutions() {
		p, s, err := server.CreateKey(ctx, st, master, in.Code, time.Now())
		if err != nil {
			return fail(e.stderr, "bench http", err)
		}
		creds[in.Code] = cred{p, s}
	}
	in, err := ingest.New(ctx, st)
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	// As serve runs: accepted sales also update the real-time check's index.
	index := rules.NewIndex()
	t0 := time.Now()
	if err := index.Load(ctx, st); err != nil {
		return fail(e.stderr, "bench http", err)
	}
	held, _ := index.Size()
	fmt.Fprintf(e.stdout, "store holds %d sale lines; check index loaded in %s (%d held codes)\n", before.Tables["sale_lines"], time.Since(t0).Round(time.Millisecond), held)
	srv, err := server.New(server.Config{Store: st, Ingester: in, MasterKey: master, Index: index})
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/fsi/api/3505"

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(e.stderr, "bench http", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(e.stderr, "bench http", err)
		}
		defer pprof.StopCPUProfile()
	}
	lat := make([]time.Duration, len(msgs))
	var failures int
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nb := make([]byte, 16)
			for i := range next {
				m := msgs[i]
				inst := string(m[bytes.Index(m, []byte(`"fixmedins_code":"`))+18:][:12])
				cr := creds[inst]
				rand.Read(nb)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				nonce := hex.EncodeToString(nb)
				req, _ := http.NewRequest("POST", url, bytes.NewReader(m))
				req.Header.Set("content-type", "application/json")
				req.Header.Set("x-tif-paasid", cr.paasid)
				req.Header.Set("x-tif-timestamp", ts)
				req.Header.Set("x-tif-nonce", nonce)
				req.Header.Set("x-tif-signature", server.Sign(ts, cr.secret, nonce))
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == 200 && bytes.Contains(body, []byte(`"infcode":"0"`))
				}
				lat[i] = time.Since(t0)
				if !ok {
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	fmt.Fprintf(e.stdout, "posted %d signed 3505 messages with %d clients in %s: %.0f sale lines/s durable; failures %d\n",
		len(msgs), *clients, took.Round(time.Millisecond), float64(len(msgs))/took.Seconds(), failures)
	fmt.Fprintf(e.stdout, "latency p50 %s  p95 %s  p99 %s  max %s\n", q(0.50), q(0.95), q(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	lag, _ := st.JournalStatus()
	t1 := time.Now()
	s, err := st.Stats(ctx) // waits until every acknowledged message is applied
	if *journal {
		fmt.Fprintf(e.stdout, "journal: %d records not yet applied at the last answer, all applied %s later\n", lag, time.Since(t1).Round(time.Millisecond))
	}
	if err != nil {
		return fail(e.stderr, "bench http", err)
	}
	if added := s.Tables["sale_lines"] - before.Tables["sale_lines"]; added != int64(len(msgs)) || failures > 0 {
		fmt.Fprintf(e.stderr, "bench http: stored %d sale lines of %d, %d failures\n", added, len(msgs), failures)
		return exitFail
	}
	return exitOK
}
