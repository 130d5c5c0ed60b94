package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

// startServe starts the binary's server on dir and returns its base URL.
func startServe(t *testing.T, bin, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not say it was listening")
	}
	return nil, ""
}

// TestServeSurvivesSIGKILL: 3505 sales posted by 8 clients; the server is killed with
// SIGKILL in the middle; after a restart every sale answered infcode "0" is in the store,
// and the restarted server's check sees those sales.
func TestServeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	loadInstitution(t, dir)
	out, err := exec.Command(bin, "institution", "key", "create", "--json", "--data-dir", dir, serveInst).Output()
	if err != nil {
		t.Fatalf("key create: %v", err)
	}
	var key struct{ PaasID, Secret string }
	if err := json.Unmarshal(out, &key); err != nil {
		t.Fatal(err)
	}
	cmd, base := startServe(t, bin, dir)

	sign := func(req *http.Request, n int) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := fmt.Sprintf("n%d-%d", n, time.Now().UnixNano())
		req.Header.Set("x-tif-paasid", key.PaasID)
		req.Header.Set("x-tif-timestamp", ts)
		req.Header.Set("x-tif-nonce", nonce)
		req.Header.Set("x-tif-signature", server.Sign(ts, key.Secret, nonce))
	}
	codeOf := func(n int) string { return fmt.Sprintf("838579300%011d", n) }
	var mu sync.Mutex
	var answered []int // sales answered infcode "0"
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := c*100_000 + i
				body := serveEnvelope("3505", fmt.Sprintf("K%07d", n), fmt.Sprintf(`{"selinfo":{"med_list_codg":"XA11DAW036A001010104127",
"fixmedins_hilist_id":"YP0001","fixmedins_hilist_name":"维生素B1片","fixmedins_bchno":"B2","rtal_docno":"R%d","sel_retn_cnt":1,
"sel_retn_time":"2025-03-01 09:29:58","trdn_flag":"0","mdtrt_setl_type":"2","drugtracinfo":[{"drug_trac_codg":%q}]}}`, n, codeOf(n)))
				req, _ := http.NewRequest("POST", base+"/fsi/api/3505", strings.NewReader(body))
				sign(req, n)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(b), `"infcode":"0"`) {
					mu.Lock()
					answered = append(answered, n)
					mu.Unlock()
				}
			}
		}(c)
	}
	// Kill once a good number of sales were answered.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		k := len(answered)
		mu.Unlock()
		if k >= 150 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	cmd.Wait()
	mu.Lock()
	got := append([]int(nil), answered...)
	mu.Unlock()
	if len(got) < 50 {
		t.Fatalf("only %d sales answered before the kill", len(got))
	}

	// Every answered sale is in the store (Open applies what the journal holds).
	var journalBytes int64
	if ents, err := os.ReadDir(filepath.Join(dir, "journal")); err == nil {
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				journalBytes += fi.Size()
			}
		}
	}
	t.Logf("journal left by the killed server: %d bytes", journalBytes)
	st, err := duckdb.Open(context.Background(), dir, duckdb.Options{Threads: 1})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	for _, n := range got {
		if _, err := st.Message(context.Background(), serveInst, fmt.Sprintf("K%07d", n)); err != nil {
			t.Errorf("sale K%07d was answered infcode 0 but is not stored: %v", n, err)
		}
	}
	st.Close()
	t.Logf("%d sales answered before SIGKILL, all stored", len(got))

	// The restarted server's check sees an answered sale as sold.
	_, base = startServe(t, bin, dir)
	var ready bool
	for i := 0; i < 600 && !ready; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
		if !ready {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatal("restarted server never ready")
	}
	body := fmt.Sprintf(`{"fixmedins_code":%q,"psn_no":"X","rtal_docno":"OTHER","lines":[{"med_list_codg":"XA11DAW036A001010104127","codes":[%q]}]}`,
		serveInst, codeOf(got[0]))
	req, _ := http.NewRequest("POST", base+"/api/v1/check", strings.NewReader(body))
	sign(req, 9_999_999)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "trace.duplicate@1") {
		t.Errorf("check after restart: %d %s", resp.StatusCode, b)
	}
}
