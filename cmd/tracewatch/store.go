package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"tracewatch/internal/store/duckdb"
)

// defaultDataDir is where the embedded store lives unless --data-dir says otherwise.
const defaultDataDir = "./tracewatch-data"

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir, "directory of the embedded store (load, ingest, serve and institution key create create it when missing; other commands refuse a directory without a store)")
}

// openStore opens the embedded DuckDB store in dir for a command that reads an existing
// store: a directory that holds none (a misspelt --data-dir) is refused before anything
// is created. TRACEWATCH_MEMORY_LIMIT (e.g. 4GB) bounds DuckDB's memory (default:
// DuckDB's own, 80 % of RAM); beyond it, large joins and sorts spill to dir.
func openStore(ctx context.Context, dir string) (*duckdb.Store, error) {
	if err := storeExists(dir); err != nil {
		return nil, err
	}
	return duckdb.Open(ctx, dir, duckdb.Options{MemoryLimit: os.Getenv("TRACEWATCH_MEMORY_LIMIT")})
}

// createStore opens the store in dir for a command that writes (load, ingest,
// institution key create), creating it when there is none and saying so on stderr.
func createStore(ctx context.Context, dir string, stderr io.Writer) (*duckdb.Store, error) {
	announceNew(dir, stderr)
	return duckdb.Open(ctx, dir, duckdb.Options{MemoryLimit: os.Getenv("TRACEWATCH_MEMORY_LIMIT")})
}

// storeExists refuses a data directory that holds no store.
func storeExists(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, duckdb.FileName)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--data-dir %s: no store there (no %s): check the path, or create one with 'tracewatch load' or 'tracewatch ingest'", dir, duckdb.FileName)
		}
		return fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	return nil
}

// announceNew says on stderr that dir holds no store yet and one is being created there.
func announceNew(dir string, stderr io.Writer) {
	if _, err := os.Stat(filepath.Join(dir, duckdb.FileName)); errors.Is(err, fs.ErrNotExist) {
		abs, aerr := filepath.Abs(dir)
		if aerr != nil {
			abs = dir
		}
		fmt.Fprintf(stderr, "tracewatch: creating a new store in %s\n", abs)
	}
}

// journalFlag is the servers' choice of write path (docs/adr/0003-write-path.md).
func journalFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("journal", true, "acknowledge each message once it is fsync'd to the data directory's journal and apply it to the store in the background in large transactions; false: one store transaction per group of requests (slower, for comparison)")
}

// openServeStore opens the store for a server: many small commits, so, unless told
// otherwise, acknowledged from the journal.
func openServeStore(ctx context.Context, dir string, journal bool) (*duckdb.Store, error) {
	announceNew(dir, os.Stderr)
	return duckdb.Open(ctx, dir, duckdb.Options{MemoryLimit: os.Getenv("TRACEWATCH_MEMORY_LIMIT"), Journal: journal})
}

// parseFlagsOnly is parseFlags for a command that takes no positional argument: one given
// prints the usage and is a usage error.
func parseFlagsOnly(fset *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if code, ok := parseFlags(fset, args, stderr); !ok {
		return code, false
	}
	if fset.NArg() > 0 {
		fset.Usage()
		return exitUsage, false
	}
	return 0, true
}

// parseFlags parses a subcommand's flags; it returns false (and the exit status) when the
// command should stop. Flags may come before, between or after the positional arguments
// (`ingest FILE --data-dir D` means what it says); after `--` everything is positional.
func parseFlags(fset *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fset.SetOutput(stderr)
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return exitOK, false
			}
			return exitUsage, false
		}
		rest := fset.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // the flag package stopped at "--"
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// Leave the positional arguments as the flag set's Args.
	if err := fset.Parse(append([]string{"--"}, pos...)); err != nil {
		return exitUsage, false
	}
	return 0, true
}

// fail prints a command error and returns the exit status for it.
func fail(w io.Writer, cmd string, err error) int {
	fmt.Fprintf(w, "tracewatch %s: %v\n", cmd, err)
	return exitFail
}
