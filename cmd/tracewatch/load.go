package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"tracewatch"
	"tracewatch/internal/refload"
)

func init() {
	register("load", "load reference data: load [--data-dir D] KIND FILE (kinds: regions, institutions, persons, practitioners, drugs, codemap, packages)", runLoad)
}

func runLoad(e env) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch load [--data-dir D] KIND FILE")
		fmt.Fprintln(e.stderr, "KIND: regions, institutions, persons, practitioners, drugs, codemap, packages.")
		fmt.Fprintln(e.stderr, "FILE: CSV with a header row, or JSONL (.jsonl, .ndjson); .gz too. Columns: docs/data-formats.md.")
		fmt.Fprintln(e.stderr, "Re-loading upserts: a row replaces the stored row with the same key.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitUsage
	}
	kind, err := refload.ParseKind(fs.Arg(0))
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	name := fs.Arg(1)
	format, err := refload.FormatOf(name)
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	hashKey, err := loadOrCreateKey(*dir, "certno-hash.key")
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	in, err := openInput(name)
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	defer in.Close()
	rows, err := refload.Read(kind, format, in, refload.Options{HashKey: hashKey})
	if err != nil {
		var re *refload.RowErrors
		if errors.As(err, &re) {
			fmt.Fprintf(e.stderr, "tracewatch load: %s: nothing loaded:\n%v\n", name, re)
			return exitFail
		}
		return fail(e.stderr, "load", fmt.Errorf("%s: %w", name, err))
	}
	ctx := context.Background()
	st, err := createStore(ctx, *dir, e.stderr)
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	defer st.Close()
	if err := upsertRows(ctx, st, rows); err != nil {
		return fail(e.stderr, "load", err)
	}
	fmt.Fprintf(e.stdout, "loaded %d %s from %s\n", rows.Len(), kind, name)
	return exitOK
}

func upsertRows(ctx context.Context, st tracewatch.Store, r *refload.Rows) error {
	for _, f := range []func() error{
		func() error { return st.UpsertRegions(ctx, r.Regions) },
		func() error { return st.UpsertInstitutions(ctx, r.Institutions) },
		func() error { return st.UpsertPersons(ctx, r.Persons) },
		func() error { return st.UpsertPractitioners(ctx, r.Practitioners) },
		func() error { return st.UpsertDrugs(ctx, r.Drugs) },
		func() error { return st.UpsertCodeMappings(ctx, r.CodeMaps) },
		func() error { return st.UpsertPackageLinks(ctx, r.Packages) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}
