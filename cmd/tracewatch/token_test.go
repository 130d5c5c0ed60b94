package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTokenCLI(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"token"},
		{"token", "create", "--data-dir", dir}, // no name
		{"token", "create", "--data-dir", dir, "--name", "a", "extra"},   // an argument
		{"token", "revoke", "--data-dir", dir},                           // no name
		{"token", "list", "--data-dir", dir, "x"},                        // an argument
		{"token", "create", "--data-dir", dir, "--name", "a", "--bogus"}, // an unknown flag
	} {
		if status, _, _ := runCLI(t, "", args...); status != exitUsage {
			t.Errorf("%v: status %d, want %d", args, status, exitUsage)
		}
	}
	// Tokens belong to a store: a directory without one (a misspelt --data-dir) is refused.
	if status, _, errOut := runCLI(t, "", "token", "create", "--data-dir", dir, "--name", "alice"); status != exitFail || !strings.Contains(errOut, "no store there") {
		t.Errorf("create without a store: status %d, %q", status, errOut)
	}
	loadInstitution(t, dir)
	status, out, errOut := runCLI(t, "", "token", "create", "--data-dir", dir, "--name", "alice", "--role", "admin", "--json")
	var tok struct{ Token string }
	if status != exitOK || json.Unmarshal([]byte(out), &tok) != nil || !strings.HasPrefix(out, `{"token": "twt_`) || len(tok.Token) != 36 {
		t.Fatalf("create --json: status %d, %q, %q", status, out, errOut)
	}
	status, out, _ = runCLI(t, "", "token", "create", "--data-dir", dir, "--name", "bob")
	if status != exitOK || !strings.Contains(out, "role   viewer") || !strings.Contains(out, "Authorization: Bearer twt_") {
		t.Errorf("create (default role viewer): status %d, %q", status, out)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"create", "--name", "alice"}, "a token named alice exists"},
		{[]string{"create", "--name", "carol", "--role", "root"}, `unknown role "root"`},
		{[]string{"create", "--name", "../x"}, "name: want 1 to 64 letters"},
		{[]string{"revoke", "nobody"}, "no token named nobody"},
	} {
		args := append([]string{"token", tc.args[0], "--data-dir", dir}, tc.args[1:]...)
		if status, out, errOut := runCLI(t, "", args...); status != exitFail || out != "" || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: status %d, out %q, err %q; want %q", tc.args, status, out, errOut, tc.msg)
		}
	}
	if status, out, _ := runCLI(t, "", "token", "revoke", "--data-dir", dir, "alice"); status != exitOK || out != "revoked alice (admin)\n" {
		t.Errorf("revoke: %d %q", status, out)
	}
	if status, _, errOut := runCLI(t, "", "token", "revoke", "--data-dir", dir, "alice"); status != exitFail || !strings.Contains(errOut, "already revoked") {
		t.Errorf("revoke twice: %d %q", status, errOut)
	}
	status, out, _ = runCLI(t, "", "token", "list", "--data-dir", dir, "--json")
	var list []map[string]any
	if status != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0]["revoked"] != true || list[1]["role"] != "viewer" {
		t.Errorf("list --json: %d %q", status, out)
	}
	if strings.Contains(out, "twt_") || strings.Contains(out, "sha256") {
		t.Errorf("list shows a token or its hash: %s", out)
	}
	if status, out, _ := runCLI(t, "", "token", "list", "--data-dir", dir); status != exitOK || !strings.Contains(out, "alice") || strings.Contains(out, tok.Token) {
		t.Errorf("list: %d %q", status, out)
	}
}

// TestServeTokensAndShutdown drives the binary: the service listener answers probes
// without a token while the main one wants one for /readyz; a token revoked while serve
// runs is refused within a few seconds; SIGTERM with a client stuck in the middle of a
// body stops the server after the grace, not never.
func TestServeTokensAndShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	loadInstitution(t, dir)
	out, err := exec.Command(bin, "token", "create", "--name", "ops", "--role", "admin", "--json", "--data-dir", dir).Output()
	var tok struct{ Token string }
	if err != nil || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("token create: %q %v", out, err)
	}
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--shutdown-grace", "2s", "--max-conns", "16")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrs := make(chan string, 2)
	logs := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				addrs <- a
			} else if _, a, ok := strings.Cut(line, "(/healthz, /readyz, /metrics) on "); ok {
				addrs <- a
			}
			b.WriteString(line + "\n")
		}
		logs <- b.String()
	}()
	var base, svc string
	for range 2 {
		select {
		case a := <-addrs:
			if base == "" {
				base = "http://" + a
			} else {
				svc = "http://" + a
			}
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not say where it listens")
		}
	}
	get := func(url, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for url, want := range map[string]int{base + "/healthz": 200, base + "/readyz": 401, base + "/metrics": 401,
		svc + "/healthz": 200, svc + "/metrics": 200, base + "/api/v1/stats": 401, svc + "/api/v1/stats": 404} {
		if got := get(url, ""); got != want {
			t.Errorf("GET %s without a token: %d, want %d", url, got, want)
		}
	}
	if got := get(base+"/api/v1/stats", tok.Token); got != 200 {
		t.Errorf("stats with the token: %d", got)
	}
	if out, err := exec.Command(bin, "token", "revoke", "--data-dir", dir, "ops").CombinedOutput(); err != nil {
		t.Fatalf("token revoke while serve runs: %v %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(base+"/api/v1/stats", tok.Token) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked token is still accepted after 10 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A client that sends half a body and waits.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /fsi/api/3505 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"infno\":")
	time.Sleep(200 * time.Millisecond) // let the server start reading it
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	type exit struct {
		log string
		err error
	}
	waited := make(chan exit, 1)
	go func() {
		log := <-logs // the pipe is read to its end before Wait closes it
		waited <- exit{log, cmd.Wait()}
	}()
	select {
	case x := <-waited:
		log, err := x.log, x.err
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, log)
		}
		if !strings.Contains(log, "grace of 2s over") || !strings.Contains(log, "stopped") {
			t.Errorf("log:\n%s", log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60 s of SIGTERM with a 2 s grace")
	}
}
