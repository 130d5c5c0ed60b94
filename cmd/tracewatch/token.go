package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"tracewatch/internal/token"
)

func init() {
	register("token", "operator API tokens: token {create|revoke|list} [--data-dir D] …", func(e env) int {
		return subcommand(e, "token", map[string]func(env) int{"create": runTokenCreate, "revoke": runTokenRevoke, "list": runTokenList})
	})
}

// runTokenCreate makes a bearer token for the operator API and prints it once. It
// edits DATA/keys/tokens.json only (not the store), so it works while serve runs.
func runTokenCreate(e env) int {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	name := fs.String("name", "", "the token's name, unique among tokens not revoked (letters, digits, '.', '_', '-'; at most 64)")
	role := fs.String("role", string(token.RoleViewer), "viewer (reads, personal data masked) or admin (also resubmits, sees personal data)")
	asJSON := fs.Bool("json", false, `print exactly {"token": "…"}`)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch token create --name NAME [--role admin|viewer] [--json] [--data-dir D]")
		fmt.Fprintln(e.stderr, "Makes a bearer token for the operator API (/api/v1). The token is shown once; only its hash is kept.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() > 0 || *name == "" {
		fs.Usage()
		return exitUsage
	}
	r, err := token.ParseRole(*role)
	if err != nil {
		return fail(e.stderr, "token create", err)
	}
	// The tokens belong to a store: a misspelt --data-dir must not get a tokens file.
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "token create", err)
	}
	tok, err := token.Create(*dir, *name, r, time.Now())
	if err != nil {
		return fail(e.stderr, "token create", err)
	}
	if *asJSON {
		b, _ := json.Marshal(tok)
		fmt.Fprintf(e.stdout, "{\"token\": %s}\n", b)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "token  %s\nname   %s\nrole   %s\nsend it as: Authorization: Bearer %s\nkeep the token: it is not shown again\n", tok, *name, r, tok)
	return exitOK
}

// runTokenRevoke revokes a token by name; a running server refuses it within a second
// or two.
func runTokenRevoke(e env) int {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch token revoke [--data-dir D] NAME")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "token revoke", err)
	}
	t, err := token.Revoke(*dir, fs.Arg(0), time.Now())
	if err != nil {
		return fail(e.stderr, "token revoke", err)
	}
	fmt.Fprintf(e.stdout, "revoked %s (%s)\n", t.Name, t.Role)
	return exitOK
}

// runTokenList lists the tokens: name, role, created, revoked; never a token.
func runTokenList(e env) int {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON: [{name, role, user, created, revoked, revoked_at}]")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch token list [--json] [--data-dir D]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "token list", err)
	}
	ts, err := token.List(*dir)
	if err != nil {
		return fail(e.stderr, "token list", err)
	}
	type row struct {
		Name      string    `json:"name"`
		Role      string    `json:"role"`           // admin or viewer; user:NAME for a user's token
		User      string    `json:"user,omitempty"` // the user a user's token acts as
		Created   time.Time `json:"created"`
		Revoked   bool      `json:"revoked"`
		RevokedAt time.Time `json:"revoked_at,omitzero"`
	}
	rows := make([]row, 0, len(ts))
	for _, t := range ts {
		role := string(t.Role)
		if t.User != "" {
			role = "user:" + t.User
		}
		rows = append(rows, row{t.Name, role, t.User, t.Created, t.Revoked, t.RevokedAt})
	}
	if *asJSON {
		b, _ := json.Marshal(rows)
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%-24s %-16s %-20s %s\n", "NAME", "ROLE", "CREATED (UTC)", "REVOKED (UTC)")
	for _, r := range rows {
		revoked := "-"
		if r.Revoked {
			revoked = r.RevokedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(e.stdout, "%-24s %-16s %-20s %s\n", r.Name, r.Role, r.Created.UTC().Format(time.DateTime), revoked)
	}
	return exitOK
}
