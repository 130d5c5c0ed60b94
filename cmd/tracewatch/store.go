package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"tracewatch/internal/store/duckdb"
)

// defaultDataDir is where the embedded store lives unless --data-dir says otherwise.
const defaultDataDir = "./tracewatch-data"

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir, "directory of the embedded store (created if missing)")
}

// openStore opens the embedded DuckDB store in dir. TRACEWATCH_MEMORY_LIMIT (e.g. 4GB)
// bounds DuckDB's memory (default: DuckDB's own, 80 % of RAM); beyond it, large joins
// and sorts spill to dir.
func openStore(ctx context.Context, dir string) (*duckdb.Store, error) {
	return duckdb.Open(ctx, dir, duckdb.Options{MemoryLimit: os.Getenv("TRACEWATCH_MEMORY_LIMIT")})
}

// journalFlag is the servers' choice of write path (docs/adr/0003-write-path.md).
func journalFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("journal", true, "acknowledge each message once it is fsync'd to the data directory's journal and apply it to the store in the background in large transactions; false: one store transaction per group of requests (slower, for comparison)")
}

// openServeStore opens the store for a server: many small commits, so, unless told
// otherwise, acknowledged from the journal.
func openServeStore(ctx context.Context, dir string, journal bool) (*duckdb.Store, error) {
	return duckdb.Open(ctx, dir, duckdb.Options{MemoryLimit: os.Getenv("TRACEWATCH_MEMORY_LIMIT"), Journal: journal})
}

// parseFlags parses a subcommand's flags; it returns false (and the exit status) when the
// command should stop.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// fail prints a command error and returns the exit status for it.
func fail(w io.Writer, cmd string, err error) int {
	fmt.Fprintf(w, "tracewatch %s: %v\n", cmd, err)
	return exitFail
}
