package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"tracewatch/internal/lookup"
)

func init() {
	register("trace", "the life of one box: trace [--data-dir D] [--json] CODE", runTrace)
}

func runTrace(e env) int {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print the view as JSON (the same document as GET /api/v1/codes/{code})")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: tracewatch trace [--data-dir D] [--json] CODE")
		return exitUsage
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "trace", err)
	}
	defer st.Close()
	v, err := lookup.Lookup(ctx, st, fs.Arg(0))
	if err != nil {
		return fail(e.stderr, "trace", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "code %s (%s)", v.Key, v.Kind)
	if v.Drug != nil {
		fmt.Fprintf(e.stdout, "  drug %s %s %s", v.Drug.Code, v.Drug.Name, v.Drug.Spec)
	}
	fmt.Fprintf(e.stdout, "\nsold_net %g  sale events %d  distinct sales %d  returns %d", v.SoldNet, v.SaleEvents, v.Sales, v.Returns)
	if v.FirstSeller != "" {
		fmt.Fprintf(e.stdout, "  first sold by %s at %s", v.FirstSeller, v.FirstSale)
	}
	fmt.Fprintf(e.stdout, "\ninstitutions: %s\n", strings.Join(v.Institutions, ", "))
	for _, t := range v.Timeline {
		fmt.Fprintf(e.stdout, "  %s  %-17s %-5s %-12s qty %s", t.Time, t.Kind, t.Infno, t.Institution, t.Quantity)
		if t.Receipt != "" {
			fmt.Fprintf(e.stdout, "  receipt %s", t.Receipt)
		}
		if t.Settlement != "" {
			fmt.Fprintf(e.stdout, "  setl_id %s", t.Settlement)
		}
		if t.Certno != "" {
			fmt.Fprintf(e.stdout, "  person %s", t.Certno)
		}
		if t.Via != "" {
			fmt.Fprintf(e.stdout, "  (in parent %s)", t.Via)
		}
		if t.WithdrawnBy != "" {
			fmt.Fprintf(e.stdout, "  [withdrawn by 3507 %s]", t.WithdrawnBy)
		}
		fmt.Fprintln(e.stdout)
	}
	if len(v.Timeline) == 0 {
		fmt.Fprintln(e.stdout, "  no events recorded for this code")
	}
	return exitOK
}
