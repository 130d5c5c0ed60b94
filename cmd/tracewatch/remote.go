package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/ingest"
	"tracewatch/internal/refload"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
)

// --server: ingest, load and screen sent to a running `tracewatch serve`, which holds the
// store (DuckDB lets one process open it), through its operator API
// (docs/api.md#one-running-service), with an admin token. The output is the local
// command's.

// tokenEnv is the environment variable holding the operator token for --server.
const tokenEnv = "TRACEWATCH_TOKEN"

// remoteFlags are --server and --token.
type remoteFlags struct{ server, token *string }

func addRemoteFlags(fs *flag.FlagSet) remoteFlags {
	return remoteFlags{
		server: fs.String("server", "", "send the work to a running `tracewatch serve` at this URL (http://127.0.0.1:8080) instead of opening the store"),
		token:  fs.String("token", "", "with --server: a user's token (for ingest, load and screen an admin's); default: $"+tokenEnv),
	}
}

// given reports whether --server was given.
func (f remoteFlags) given() bool { return *f.server != "" }

// remoteUsage is a command line that mixes --server with what only a local run takes.
type remoteUsage struct{ msg string }

func (u *remoteUsage) Error() string { return u.msg }

// remoteOf returns the client of --server (nil without it). The flags named local are
// those of a local run (--data-dir, --rules): given with --server they are refused, as is
// --token without --server.
func remoteOf(fs *flag.FlagSet, f remoteFlags, local ...string) (*remote, error) {
	if !f.given() {
		if *f.token != "" {
			return nil, &remoteUsage{"--token: only with --server"}
		}
		return nil, nil
	}
	var clash []string
	fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(local, fl.Name) {
			clash = append(clash, "--"+fl.Name)
		}
	})
	if len(clash) > 0 {
		return nil, &remoteUsage{strings.Join(clash, ", ") + ": not with --server (the server uses its own)"}
	}
	raw := *f.server
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &remoteUsage{fmt.Sprintf("--server %q: want the URL of a tracewatch serve, such as http://127.0.0.1:8080", *f.server)}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	tok := strings.TrimSpace(*f.token)
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv(tokenEnv))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Bodies go with Expect: 100-continue: a refusal (a token missing or refused) comes
	// before a file of gigabytes is sent.
	tr.ExpectContinueTimeout = 10 * time.Second
	return &remote{base: u, token: tok, hc: &http.Client{Transport: tr}}, nil
}

// failRemote reports an error of remoteOf: a usage error, or another.
func failRemote(e env, cmd string, err error) int {
	var u *remoteUsage
	if errors.As(err, &u) {
		fmt.Fprintf(e.stderr, "tracewatch %s: %v\n", cmd, err)
		return exitUsage
	}
	return fail(e.stderr, cmd, err)
}

// remote is a client of a running serve's operator API.
type remote struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// remoteError is a request the server refused or failed, said in the operator's terms.
type remoteError struct {
	status int
	msg    string
	body   []byte // the answer, when it is JSON
}

func (e *remoteError) Error() string { return e.msg }

// apiErrorBody is the operator API's error.
type apiErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// call sends a request (method, path) and returns the result: the JSON answer, or with stream
// the "result" of a streamed answer (application/x-ndjson), after handing each
// "progress" to progress.
func (c *remote) call(ctx context.Context, method, path string, q url.Values, body io.Reader, hdr http.Header, stream bool, progress func(json.RawMessage)) (json.RawMessage, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Expect", "100-continue")
	}
	if stream {
		req.Header.Set("Accept", "application/x-ndjson")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("cannot reach the server at %s: %v (is tracewatch serve running there?)", c.base, op.Err)
		}
		return nil, fmt.Errorf("the connection to the server at %s failed: %v", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK {
		return nil, c.refusal(resp, mt)
	}
	switch mt {
	case "application/json":
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("the server's answer was cut off: %v", err)
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("the server's answer is not valid JSON: %.100q", b)
		}
		return b, nil
	case "application/x-ndjson":
		return c.lines(resp.Body, progress)
	}
	return nil, c.notJSON(resp, mt)
}

// download sends a GET for a file (path) and copies a 200 answer's body to w; any other
// answer is a refusal.
func (c *remote) download(ctx context.Context, path string, q url.Values, w io.Writer) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %v", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		return c.refusal(resp, mt)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("the server's answer was cut off: %v", err)
	}
	return nil
}

// lines reads a streamed answer: progress lines, then a result or an error.
func (c *remote) lines(r io.Reader, progress func(json.RawMessage)) (json.RawMessage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var line struct {
			Progress json.RawMessage `json:"progress"`
			Result   json.RawMessage `json:"result"`
			Error    *apiErrorBody   `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("the server's answer is not JSON lines: %.100q", sc.Bytes())
		}
		switch {
		case line.Error != nil:
			return nil, &remoteError{status: http.StatusOK, msg: line.Error.Message}
		case line.Result != nil:
			return line.Result, nil
		case line.Progress != nil && progress != nil:
			progress(line.Progress)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the server's answer was cut off: %v", err)
	}
	return nil, errors.New("the server ended its answer before the result (did it stop?)")
}

// refusal turns an answer other than 200 into an error.
func (c *remote) refusal(resp *http.Response, mt string) error {
	if mt != "application/json" {
		return c.notJSON(resp, mt)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var a apiErrorBody
	if err := json.Unmarshal(b, &a); err != nil || a.Message == "" {
		return &remoteError{status: resp.StatusCode, msg: fmt.Sprintf("the server answered %s: %.200s", resp.Status, b)}
	}
	e := &remoteError{status: resp.StatusCode, body: b}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if c.token == "" {
			e.msg = fmt.Sprintf("the server wants an operator token: give --token TOKEN or set %s (an admin token: tracewatch token create --role admin)", tokenEnv)
		} else {
			e.msg = fmt.Sprintf("the server refused the token (%s): check --token or %s", a.Message, tokenEnv)
		}
	case http.StatusForbidden:
		e.msg = "the server refused: " + a.Message
	case http.StatusConflict:
		e.msg = "the server refused: " + a.Message
	case http.StatusNotFound:
		e.msg = fmt.Sprintf("the server has no such endpoint (%s): is %s a tracewatch serve of this version?", a.Message, c.base)
	default:
		if resp.StatusCode >= 500 {
			e.msg = fmt.Sprintf("the server failed (%s): %s", resp.Status, a.Message)
		} else {
			e.msg = "the server refused the request: " + a.Message
		}
	}
	return e
}

// notJSON is the error of an answer that is not the operator API's.
func (c *remote) notJSON(resp *http.Response, mt string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
	if mt == "" {
		mt = "no content type"
	}
	return &remoteError{status: resp.StatusCode, msg: fmt.Sprintf("the server at %s answered %s with %s, not JSON: is it a tracewatch serve? (%q)", c.base, resp.Status, mt, b)}
}

// upload is a file sent as a request body, as it is on disk: a compressed file is sent
// compressed (Content-Encoding: gzip), the server decompresses it.
type upload struct {
	io.Reader
	gzip bool // by gzip's magic bytes
}

func newUpload(r io.Reader) *upload {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(2)
	return &upload{Reader: br, gzip: len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b}
}

func (u *upload) header(contentType string) http.Header {
	h := http.Header{"Content-Type": {contentType}}
	if u.gzip {
		h.Set("Content-Encoding", "gzip")
	}
	return h
}

// ingest sends one bulk file (POST /api/v1/ingest) and returns its summary, handing the
// server's progress (a batch committed) to o.Progress.
func (c *remote) ingest(ctx context.Context, u *upload, o ingest.FileOptions) (ingest.FileStats, error) {
	q := url.Values{"name": {o.Name}}
	if o.BatchLines > 0 {
		q.Set("batch_lines", strconv.Itoa(o.BatchLines))
	}
	var last ingest.FileStats
	progress := func(p json.RawMessage) {
		var s ingest.FileStats
		if json.Unmarshal(p, &s) == nil {
			last = s
			if o.Progress != nil {
				o.Progress(s)
			}
		}
	}
	raw, err := c.call(ctx, http.MethodPost, "/api/v1/ingest", q, u, u.header("application/x-ndjson"), true, progress)
	if err != nil {
		return last, err
	}
	var s ingest.FileStats
	if err := json.Unmarshal(raw, &s); err != nil {
		return last, fmt.Errorf("the server's summary: %v", err)
	}
	return s, nil
}

// load sends one reference file (POST /api/v1/reference/{kind}) and returns the rows
// loaded. Rows the server refused come back as *refload.RowErrors, as refload.Read
// gives them.
func (c *remote) load(ctx context.Context, kind refload.Kind, format refload.Format, u *upload) (int, error) {
	ct := "text/csv"
	if format == refload.JSONL {
		ct = "application/x-ndjson"
	}
	raw, err := c.call(ctx, http.MethodPost, "/api/v1/reference/"+url.PathEscape(string(kind)), url.Values{"format": {format.String()}}, u, u.header(ct), false, nil)
	if err != nil {
		var re *remoteError
		if errors.As(err, &re) && re.status == http.StatusBadRequest {
			var rows struct {
				RowErrors []refload.RowError `json:"row_errors"`
				Truncated bool               `json:"truncated"`
			}
			if json.Unmarshal(re.body, &rows) == nil && len(rows.RowErrors) > 0 {
				return 0, tracewatch.E("load", tracewatch.KindInvalid, &refload.RowErrors{Kind: kind, Errors: rows.RowErrors, Truncated: rows.Truncated})
			}
		}
		return 0, err
	}
	var a struct {
		Rows int `json:"rows"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, fmt.Errorf("the server's answer: %v", err)
	}
	return a.Rows, nil
}

// remoteScreen runs tracewatch screen --server: the request is checked here as a local
// screen checks its flags (the server checks it again, with its rule base), sent to POST
// /api/v1/screen, and its summary printed as a local screen prints it, the server's
// progress lines on stderr.
func remoteScreen(e env, fs *flag.FlagSet, rf remoteFlags, req server.ScreenRequest, asJSON bool) int {
	c, err := remoteOf(fs, rf, "data-dir", "rules")
	if err != nil {
		return failRemote(e, "screen", err)
	}
	if _, err := planScreen(rules.DefaultBase(), req, time.Now()); err != nil {
		return fail(e.stderr, "screen", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fail(e.stderr, "screen", err)
	}
	progress := func(p json.RawMessage) {
		var line string
		if json.Unmarshal(p, &line) == nil {
			fmt.Fprintln(e.stderr, line)
		}
	}
	raw, err := c.call(context.Background(), http.MethodPost, "/api/v1/screen", nil, bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}}, true, progress)
	if err != nil {
		return fail(e.stderr, "screen", err)
	}
	var sum screenSummary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fail(e.stderr, "screen", fmt.Errorf("the server's summary: %v", err))
	}
	return writeScreen(e.stdout, e.stderr, sum, asJSON)
}
