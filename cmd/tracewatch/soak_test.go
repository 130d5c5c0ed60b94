package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	sharedBinOnce sync.Once
	sharedBin     string
	sharedBinErr  error
)

// TestMain removes the binary the end-to-end tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBin != "" {
		os.RemoveAll(filepath.Dir(sharedBin))
	}
	os.Exit(code)
}

// testBinary builds the tracewatch binary once for the tests that drive it.
func testBinary(t *testing.T) string {
	t.Helper()
	sharedBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tracewatch-test-bin-")
		if err != nil {
			sharedBinErr = err
			return
		}
		bin := filepath.Join(dir, "tracewatch")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Stderr = os.Stderr
		if sharedBinErr = build.Run(); sharedBinErr == nil {
			sharedBin = bin
		}
	})
	if sharedBinErr != nil {
		t.Fatalf("go build: %v", sharedBinErr)
	}
	return sharedBin
}

// TestBenchSoakShort runs the soak for a short while with two SIGKILL restarts: every
// acknowledged sale must be in the store afterwards (the full 10-minute soak's figures
// are in docs/BENCHMARKS.md).
func TestBenchSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server for half a minute")
	}
	bin := testBinary(t)
	cmd := exec.Command(bin, "bench", "soak", "--duration", "24s", "--kill-every", "8s", "--rate", "60", "--window", "6s",
		"--clients", "8", "--dir", t.TempDir(), "--json")
	var errb []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		errb = ee.Stderr
	}
	if err != nil {
		t.Fatalf("bench soak: %v\n%s\n%s", err, out, errb)
	}
	var s soakSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if s.Restarts < 2 || s.Acknowledged == 0 || s.Lost != 0 || s.Stored != s.Acknowledged || s.Refused != 0 {
		t.Errorf("soak: %d restarts, acknowledged %d, stored %d, lost %d, refused %d", s.Restarts, s.Acknowledged, s.Stored, s.Lost, s.Refused)
	}
	t.Logf("soak: %d restarts, acknowledged %d, stored %d, retried %d, p99 %v, max RSS %.0f MB", s.Restarts, s.Acknowledged, s.Stored, s.Retried, s.P99MS, s.MaxRSSMB)
	if len(s.Windows) < 3 {
		t.Errorf("only %d windows reported", len(s.Windows))
	}
	for _, w := range s.Windows[:len(s.Windows)-1] { // the last one holds the final retries only
		if w.OK["api"] == 0 && w.OK["check"] == 0 && !w.Restart {
			t.Errorf("window %s: no check or operator read succeeded: %+v", w.At, w)
		}
	}
}
