package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command in-process and returns its exit status and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not one JSON object per line: %q: %v", line, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestCodeParseJSON(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		status int
		want   []map[string]any
	}{
		{"nmpa20 three forms", []string{"code", "parse", "--json", "83857930000879766660", fullWidth("83857930000879766660"), "8385793 0000879766660"}, "", 0,
			[]map[string]any{
				{"kind": "nmpa20", "product_id": "8385793", "serial": "000087976", "key": "83857930000879766660"},
				{"kind": "nmpa20", "key": "83857930000879766660"},
				{"kind": "nmpa20", "key": "83857930000879766660"},
			}},
		{"gs1 from stdin", []string{"code", "parse", "--json"}, "]d2010690487900012021ABC123\x1d17250100\n", 0,
			[]map[string]any{{"kind": "gs1", "gtin": "06904879000120", "serial": "ABC123", "expiry": "2025-01-31", "key": "(01)06904879000120(21)ABC123"}}},
		{"gs1 bracketed and digital link", []string{"code", "parse", "--json", "(01)06904879000120(17)250100(21)ABC123", "https://id.example.com/01/06904879000120/21/ABC123?17=250100"}, "", 0,
			[]map[string]any{{"key": "(01)06904879000120(21)ABC123"}, {"key": "(01)06904879000120(21)ABC123"}}},
		{"commodity barcode", []string{"code", "parse", "--json", "6901234567892"}, "", 1,
			[]map[string]any{{"input": "6901234567892", "error": "not_trace_code"}}},
		{"bad GTIN check digit", []string{"code", "parse", "--json", "(01)06904879000126(21)X"}, "", 1,
			[]map[string]any{{"error": "bad_check_digit", "position": float64(18)}}},
		{"stdin one object per line, CRLF, empty line", []string{"code", "parse", "--json"}, "83857930000879766660\r\n\nMA.156.M0.100043.1\n", 1,
			[]map[string]any{{"input": "83857930000879766660", "kind": "nmpa20"}, {"input": "", "error": "empty"}, {"kind": "ma"}}},
		{"stdin without final newline", []string{"code", "parse", "--json"}, "ABC-2024-000123", 0,
			[]map[string]any{{"kind": "enterprise", "verified": false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out, errOut := runCLI(t, tc.stdin, tc.args...)
			if status != tc.status {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tc.status, errOut)
			}
			rows := decodeLines(t, out)
			if len(rows) != len(tc.want) {
				t.Fatalf("%d output lines, want %d:\n%s", len(rows), len(tc.want), out)
			}
			for i, w := range tc.want {
				for k, v := range w {
					if rows[i][k] != v {
						t.Errorf("line %d: %s = %#v, want %#v", i+1, k, rows[i][k], v)
					}
				}
				if _, ok := rows[i]["input"]; !ok {
					t.Errorf("line %d has no input key", i+1)
				}
				if (rows[i]["error"] != nil) == (rows[i]["key"] != nil) {
					t.Errorf("line %d: exactly one of key and error must be set: %v", i+1, rows[i])
				}
			}
		})
	}
}

func TestCodeParseText(t *testing.T) {
	status, out, _ := runCLI(t, "", "code", "parse", "83857930000879766660", "6901234567892")
	if status != exitFail {
		t.Errorf("status %d, want %d", status, exitFail)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "nmpa20 key=83857930000879766660") || !strings.Contains(lines[1], "ERROR not_trace_code") {
		t.Errorf("text output:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	if status, _, errOut := runCLI(t, "", "frobnicate"); status != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: status %d, stderr %q", status, errOut)
	}
	if status, _, _ := runCLI(t, "", "code"); status != exitUsage {
		t.Errorf("code without subcommand: status %d", status)
	}
	if status, _, _ := runCLI(t, "", "code", "parse", "--bogus"); status != exitUsage {
		t.Errorf("unknown flag: status %d", status)
	}
	if status, out, _ := runCLI(t, "", "help"); status != exitOK || !strings.Contains(out, "code") || !strings.Contains(out, "version") {
		t.Errorf("help: status %d, out %q", status, out)
	}
	if status, out, _ := runCLI(t, "", "version"); status != exitOK || !strings.HasPrefix(out, "tracewatch ") {
		t.Errorf("version: status %d, out %q", status, out)
	}
}

// TestBinary builds the real binary and drives it as an operator would, through a pipe.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tracewatch")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	cmd := exec.Command(bin, "code", "parse", "--json")
	cmd.Stdin = strings.NewReader("]d2010690487900012021ABC123\x1d17250100\n6901234567892\n")
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	rows := decodeLines(t, string(out))
	if len(rows) != 2 || rows[0]["gtin"] != "06904879000120" || rows[0]["expiry"] != "2025-01-31" || rows[1]["error"] != "not_trace_code" {
		t.Errorf("output:\n%s", out)
	}
}

// fullWidth writes s in full-width forms, as some Chinese input methods type it.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r + 0xfee0)
	}
	return b.String()
}
