package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"tracewatch/internal/refload"
)

func init() {
	register("load", "load reference data: load [--data-dir D | --server URL [--token T]] KIND FILE (kinds: "+refload.KindNames()+")", runLoad)
}

func runLoad(e env) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	rf := addRemoteFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch load [--data-dir D | --server URL [--token T]] KIND FILE")
		fmt.Fprintln(e.stderr, "KIND: "+refload.KindNames()+".")
		fmt.Fprintln(e.stderr, "FILE: CSV with a header row, or JSONL (.jsonl, .ndjson); .gz too. Columns: docs/data-formats.md.")
		fmt.Fprintln(e.stderr, "Re-loading upserts: a row replaces the stored row with the same key.")
		fmt.Fprintln(e.stderr, "With --server, a running tracewatch serve loads the file (sent as it is), all or nothing as here.")
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
	rc, err := remoteOf(fs, rf, "data-dir")
	if err != nil {
		return failRemote(e, "load", err)
	}
	if rc != nil {
		return remoteLoad(e, rc, kind, format, name)
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
	if err := refload.Upsert(ctx, st, rows); err != nil {
		return fail(e.stderr, "load", err)
	}
	fmt.Fprintf(e.stdout, "loaded %d %s from %s\n", rows.Len(), kind, name)
	return exitOK
}

// remoteLoad is load --server: the file goes as it is to the server, which reads,
// checks and stores it as load does here (with the data directory's hash key).
func remoteLoad(e env, rc *remote, kind refload.Kind, format refload.Format, name string) int {
	f, err := os.Open(name)
	if err != nil {
		return fail(e.stderr, "load", err)
	}
	defer f.Close()
	n, err := rc.load(context.Background(), kind, format, newUpload(f))
	if err != nil {
		var re *refload.RowErrors
		if errors.As(err, &re) {
			fmt.Fprintf(e.stderr, "tracewatch load: %s: nothing loaded:\n%v\n", name, re)
			return exitFail
		}
		return fail(e.stderr, "load", fmt.Errorf("%s: %w", name, err))
	}
	fmt.Fprintf(e.stdout, "loaded %d %s from %s\n", n, kind, name)
	return exitOK
}

// provinceFile is one reference file of a province directory.
type provinceFile struct {
	kind refload.Kind
	path string
}

// provinceFiles lists the reference files of a province directory as `tracewatch gen`
// writes them (DIR/reference/KIND.csv), one per kind in the order of refload.Kinds, which
// is the order they load in. The file of an optional kind (the knowledge base of drug
// limits) may be absent: it is left out. Any other missing file is an error.
func provinceFiles(dir string) ([]provinceFile, error) {
	var out []provinceFile
	for _, k := range refload.Kinds() {
		path := filepath.Join(dir, "reference", string(k)+".csv")
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) && k.Optional() {
				continue
			}
			return nil, fmt.Errorf("province %s: %w", dir, err)
		}
		out = append(out, provinceFile{k, path})
	}
	return out, nil
}
