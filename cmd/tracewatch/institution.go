package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"tracewatch/internal/server"
)

func init() {
	register("institution", "institution credentials: institution key {create|revoke} [--data-dir D] …", func(e env) int {
		return subcommand(e, "institution", map[string]func(env) int{
			"key": func(e env) int {
				return subcommand(e, "institution key", map[string]func(env) int{"create": runKeyCreate, "revoke": runKeyRevoke})
			},
		})
	})
}

// runKeyCreate issues a credential (paasid and secret) for signed requests to
// POST /fsi/api/{infno} (docs/api.md).
func runKeyCreate(e env) int {
	fs := flag.NewFlagSet("institution key create", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, `print exactly {"paasid": "…", "secret": "…"}`)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch institution key create [--json] [--data-dir D] FIXMEDINS_CODE")
		fmt.Fprintln(e.stderr, "Issues a paasid and secret for the institution's signed requests. The secret is shown once.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	ctx := context.Background()
	// The institution must have been loaded, so the store must exist: refuse a misspelt
	// --data-dir before a master key is created in it.
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "institution key create", err)
	}
	defer st.Close()
	master, err := server.LoadOrCreateMasterKey(*dir)
	if err != nil {
		return fail(e.stderr, "institution key create", err)
	}
	paasid, secret, err := server.CreateKey(ctx, st, master, fs.Arg(0), time.Now())
	if err != nil {
		return fail(e.stderr, "institution key create", err)
	}
	if *asJSON {
		p, _ := json.Marshal(paasid)
		s, _ := json.Marshal(secret)
		fmt.Fprintf(e.stdout, "{\"paasid\": %s, \"secret\": %s}\n", p, s)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "paasid  %s\nsecret  %s\nkeep the secret: it is not shown again\n", paasid, secret)
	return exitOK
}

// runKeyRevoke revokes a credential: requests signed with it are refused from then on.
func runKeyRevoke(e env) int {
	fs := flag.NewFlagSet("institution key revoke", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch institution key revoke [--data-dir D] PAASID")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "institution key revoke", err)
	}
	defer st.Close()
	k, err := server.RevokeKey(ctx, st, fs.Arg(0))
	if err != nil {
		return fail(e.stderr, "institution key revoke", err)
	}
	fmt.Fprintf(e.stdout, "revoked %s of %s\n", k.PaasID, k.Institution)
	return exitOK
}
