package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/token"
)

// The users of the workplace and the API (docs/workflow.md "Users"). The commands edit
// DATA/keys/tokens.json only (not the store), so they work while serve runs, and a
// running serve sees the change within a second or two. Each change is audited.

func init() {
	register("user", "workplace users: user {create|list|disable|passwd|token} [--data-dir D] …", func(e env) int {
		return subcommand(e, "user", map[string]func(env) int{"create": runUserCreate, "list": runUserList,
			"disable": runUserDisable, "passwd": runUserPasswd, "token": runUserToken})
	})
}

// readPassword reads the first line of stdin as a password.
func readPassword(in io.Reader) (string, error) {
	if in == nil {
		return "", errors.New("no standard input")
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", tracewatch.Errorf("user", tracewatch.KindInvalid, "standard input held no password").WithField("password")
	}
	return line, nil
}

// newPassword makes a password to show once: 20 letters and digits.
func newPassword() (string, error) { return token.RandomAlnum(20) }

func runUserCreate(e env) int {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	name := fs.String("name", "", "the user's name: letters, digits, '.', '_', '-' (at most 64)")
	role := fs.String("role", "", "admin, reviewer, panel, dispatcher, inspector, viewer or institution")
	region := fs.String("region", "", "the region the user works in: a 6-digit province, city or county code")
	inst := fs.String("institution", "", "for the institution role: its fixmedins_code")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (otherwise one is made and shown once)")
	asJSON := fs.Bool("json", false, "print the user (and a made password) as JSON")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch user create --name N --role R --region CODE [--institution FIXMEDINS_CODE] [--password-stdin] [--json] [--data-dir D]")
		fmt.Fprintln(e.stderr, "Adds a user who signs in to the workplace (POST /api/v1/login) or gets tokens (tracewatch user token N).")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() > 0 || *name == "" || *role == "" || *region == "" {
		fs.Usage()
		return exitUsage
	}
	r, err := tracewatch.ParseRole(*role)
	if err != nil {
		return fail(e.stderr, "user create", err)
	}
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "user create", err)
	}
	pw, made := "", false
	if *stdin {
		if pw, err = readPassword(e.stdin); err != nil {
			return fail(e.stderr, "user create", err)
		}
	} else {
		if pw, err = newPassword(); err != nil {
			return fail(e.stderr, "user create", err)
		}
		made = true
	}
	u := tracewatch.User{Name: *name, Role: r, Region: tracewatch.Region(*region), Institution: *inst}
	if err := token.CreateUser(*dir, u, pw, time.Now()); err != nil {
		return fail(e.stderr, "user create", err)
	}
	if err := auditCLI(*dir, "user_create", "user:"+u.Name, map[string]any{"role": u.Role, "region": u.Region, "institution": u.Institution}); err != nil {
		return fail(e.stderr, "user create", err)
	}
	if *asJSON {
		out := struct {
			tracewatch.User
			Password string `json:"password,omitempty"`
		}{User: u}
		if made {
			out.Password = pw
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "user    %s\nrole    %s (%s)\nregion  %s\n", u.Name, u.Role, u.Role.Chinese(), u.Region)
	if u.Institution != "" {
		fmt.Fprintf(e.stdout, "institution %s\n", u.Institution)
	}
	if made {
		fmt.Fprintf(e.stdout, "password %s\nkeep the password: it is not shown again (tracewatch user passwd %s to change it)\n", pw, u.Name)
	}
	return exitOK
}

func runUserList(e env) int {
	fs := flag.NewFlagSet("user list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line: name, role, region, institution, disabled, created")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, "usage: tracewatch user list [--json] [--data-dir D]")
		return exitUsage
	}
	us, err := token.Users(*dir)
	if err != nil {
		return fail(e.stderr, "user list", err)
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "%-24s %-11s %-7s %-13s %-8s %s\n", "NAME", "ROLE", "REGION", "INSTITUTION", "STATUS", "CREATED (UTC)")
	}
	for _, u := range us {
		if *asJSON {
			b, _ := json.Marshal(struct {
				tracewatch.User
				Disabled bool      `json:"disabled"`
				Created  time.Time `json:"created"`
			}{u.User, u.Disabled, u.Created})
			fmt.Fprintf(e.stdout, "%s\n", b)
			continue
		}
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		inst := u.Institution
		if inst == "" {
			inst = "-"
		}
		fmt.Fprintf(e.stdout, "%-24s %-11s %-7s %-13s %-8s %s\n", u.Name, u.Role, u.Region, inst, status, u.Created.UTC().Format(time.DateTime))
	}
	return exitOK
}

// oneName parses a command that takes flags and one user name.
func oneName(e env, fs *flag.FlagSet, usage string) (string, int, bool) {
	fs.Usage = func() { fmt.Fprintln(e.stderr, "usage: "+usage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return "", code, false
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", exitUsage, false
	}
	return fs.Arg(0), 0, true
}

func runUserDisable(e env) int {
	fs := flag.NewFlagSet("user disable", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	name, code, ok := oneName(e, fs, "tracewatch user disable NAME [--data-dir D]")
	if !ok {
		return code
	}
	if err := token.DisableUser(*dir, name, time.Now()); err != nil {
		return fail(e.stderr, "user disable", err)
	}
	if err := auditCLI(*dir, "user_disable", "user:"+name, nil); err != nil {
		return fail(e.stderr, "user disable", err)
	}
	fmt.Fprintf(e.stdout, "disabled %s: its sessions and tokens are refused from now on\n", name)
	return exitOK
}

func runUserPasswd(e env) int {
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	stdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input (otherwise one is made and shown once)")
	name, code, ok := oneName(e, fs, "tracewatch user passwd NAME [--password-stdin] [--data-dir D]")
	if !ok {
		return code
	}
	var pw string
	var err error
	if *stdin {
		pw, err = readPassword(e.stdin)
	} else {
		pw, err = newPassword()
	}
	if err != nil {
		return fail(e.stderr, "user passwd", err)
	}
	if err := token.SetPassword(*dir, name, pw, time.Now()); err != nil {
		return fail(e.stderr, "user passwd", err)
	}
	if err := auditCLI(*dir, "user_passwd", "user:"+name, nil); err != nil {
		return fail(e.stderr, "user passwd", err)
	}
	if *stdin {
		fmt.Fprintf(e.stdout, "set a new password for %s\n", name)
	} else {
		fmt.Fprintf(e.stdout, "password %s\nkeep the password: it is not shown again\n", pw)
	}
	return exitOK
}

// runUserToken prints a bearer token for a user, once.
func runUserToken(e env) int {
	fs := flag.NewFlagSet("user token", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, `print exactly {"token": "…"}`)
	name, code, ok := oneName(e, fs, "tracewatch user token NAME [--json] [--data-dir D]")
	if !ok {
		return code
	}
	tok, entry, err := token.CreateUserToken(*dir, name, time.Now())
	if err != nil {
		return fail(e.stderr, "user token", err)
	}
	if err := auditCLI(*dir, "token_create", "user:"+name, map[string]any{"token": entry.Name}); err != nil {
		return fail(e.stderr, "user token", err)
	}
	if *asJSON {
		b, _ := json.Marshal(tok)
		fmt.Fprintf(e.stdout, "{\"token\": %s}\n", b)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "token  %s\nname   %s (tracewatch token revoke %s)\nuser   %s\nsend it as: Authorization: Bearer %s\nkeep the token: it is not shown again\n",
		tok, entry.Name, entry.Name, name, tok)
	return exitOK
}
