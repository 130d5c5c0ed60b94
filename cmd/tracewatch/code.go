package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"tracewatch/internal/tracecode"
)

func init() {
	register("code", "identify trace codes: code parse [--json] [CODE…]", func(e env) int {
		return subcommand(e, "code", map[string]func(env) int{"parse": runCodeParse})
	})
}

// codeResult is one line of `tracewatch code parse --json`. The keys are a public
// contract (docs/trace-codes.md): add, never rename.
type codeResult struct {
	Input          string        `json:"input"`
	Kind           string        `json:"kind,omitempty"`
	Key            string        `json:"key,omitempty"`
	ProductID      string        `json:"product_id,omitempty"`
	Serial         string        `json:"serial,omitempty"`
	Check          string        `json:"check,omitempty"`
	GTIN           string        `json:"gtin,omitempty"`
	Batch          string        `json:"batch,omitempty"`
	Expiry         string        `json:"expiry,omitempty"`
	ProductionDate string        `json:"production_date,omitempty"`
	Symbology      string        `json:"symbology,omitempty"`
	Verified       *bool         `json:"verified,omitempty"`
	Elements       []elementJSON `json:"elements,omitempty"`
	Warning        string        `json:"warning,omitempty"`
	Error          string        `json:"error,omitempty"`
	Position       int           `json:"position,omitempty"`
	Message        string        `json:"message,omitempty"`
}

type elementJSON struct {
	AI    string `json:"ai"`
	Value string `json:"value"`
}

func newCodeResult(in string, c tracecode.Code, err error) codeResult {
	r := codeResult{
		Input:          in,
		ProductID:      c.ProductID,
		Serial:         c.Serial,
		Check:          c.Check,
		GTIN:           c.GTIN,
		Batch:          c.Batch,
		Expiry:         c.Expiry.String(),
		ProductionDate: c.Produced.String(),
		Symbology:      c.Symbology.String(),
		Warning:        c.Warning,
	}
	for _, el := range c.Elements {
		r.Elements = append(r.Elements, elementJSON{el.AI, el.Value})
	}
	if err != nil {
		var e *tracecode.Error
		if errors.As(err, &e) {
			r.Error, r.Position, r.Message = string(e.Code), e.Pos, e.Msg
		} else {
			r.Error, r.Message = "internal", err.Error()
		}
		return r
	}
	r.Kind, r.Key = c.Kind.String(), c.Key
	r.Verified = &c.Verified
	return r
}

func runCodeParse(e env) int {
	fs := flag.NewFlagSet("code parse", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per input (keys: input, kind, key, product_id, serial, gtin, batch, expiry, production_date, error, message, …)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch code parse [--json] [CODE…]")
		fmt.Fprintln(e.stderr, "Identifies each CODE, or each line of standard input when no CODE is given.")
		fmt.Fprintln(e.stderr, "Exit status: 0 when every input parsed, 1 when any was refused, 2 on a usage error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	status := exitOK
	handle := func(in string) {
		c, err := tracecode.Parse(in)
		if err != nil {
			status = exitFail
		}
		r := newCodeResult(in, c, err)
		if *asJSON {
			_ = enc.Encode(r) // a write error surfaces at Flush
			return
		}
		writeCodeText(out, r)
	}
	if fs.NArg() > 0 {
		for _, in := range fs.Args() {
			handle(in)
		}
	} else {
		rd := bufio.NewReaderSize(e.stdin, 64<<10)
		for {
			line, err := rd.ReadString('\n')
			if line != "" || err == nil {
				handle(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "tracewatch code parse: reading standard input: %v\n", err)
				return exitFail
			}
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(e.stderr, "tracewatch code parse: %v\n", err)
		return exitFail
	}
	return status
}

// writeCodeText prints one result as a line of text: the input, then either the kind and
// parts, or the error.
func writeCodeText(w io.Writer, r codeResult) {
	in := r.Input
	if strings.ContainsFunc(in, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		in = strconv.Quote(in)
	}
	if r.Error != "" {
		pos := ""
		if r.Position > 0 {
			pos = " at " + strconv.Itoa(r.Position)
		}
		fmt.Fprintf(w, "%s\tERROR %s%s: %s\n", in, r.Error, pos, r.Message)
		return
	}
	var b strings.Builder
	for _, kv := range [][2]string{
		{"key", r.Key}, {"product_id", r.ProductID}, {"serial", r.Serial}, {"check", r.Check},
		{"gtin", r.GTIN}, {"batch", r.Batch}, {"expiry", r.Expiry}, {"production_date", r.ProductionDate},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if r.Verified != nil && !*r.Verified {
		b.WriteString(" (unverified format)")
	}
	if r.Warning != "" {
		b.WriteString(" WARNING: " + r.Warning)
	}
	fmt.Fprintf(w, "%s\t%s%s\n", in, r.Kind, b.String())
}
