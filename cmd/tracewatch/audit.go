package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/audit"
)

func init() {
	register("audit", "the hash-chained audit log: audit verify [--json] | audit list [--from --to --actor --action --object --json] [--data-dir D]", func(e env) int {
		return subcommand(e, "audit", map[string]func(env) int{"verify": runAuditVerify, "list": runAuditList})
	})
}

// auditDir is where a data directory keeps its audit log (docs/audit.md).
func auditDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// cliActor names the person running a command in the audit log: cli:<OS user>.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// cliHost is where a command runs, for the audit log's from.
func cliHost() string {
	h, _ := os.Hostname()
	return h
}

// auditCLI appends one entry for a command run at the command line.
func auditCLI(dataDir, action, object string, detail map[string]any) error {
	l, err := audit.Open(auditDir(dataDir))
	if err != nil {
		return err
	}
	_, err = l.Append(audit.Entry{Actor: cliActor(), Action: action, Object: object, From: cliHost(), Detail: detail})
	return err
}

func runAuditVerify(e env) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, `print {"ok", "files", "entries", "head", "broken": {"file", "line", "reason"}}`)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch audit verify [--json] [--data-dir D]")
		fmt.Fprintln(e.stderr, "Proves the audit log's hash chain (DATA/audit/*.jsonl and HEAD); exits 1 naming the first line that breaks it.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "audit verify", err)
	}
	s, err := audit.Verify(auditDir(*dir))
	var be *audit.BrokenError
	if err != nil && !errors.As(err, &be) {
		return fail(e.stderr, "audit verify", err)
	}
	if *asJSON {
		out := map[string]any{"ok": be == nil, "files": s.Files, "entries": s.Entries, "head": s.Head}
		if be != nil {
			out["broken"] = map[string]any{"file": be.File, "line": be.Line, "reason": be.Reason}
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(e.stdout, string(b))
	} else if be == nil {
		fmt.Fprintf(e.stdout, "audit log intact: %d entries in %d files, head %s\n", s.Entries, s.Files, s.Head)
	}
	if be != nil {
		fmt.Fprintf(e.stderr, "tracewatch audit verify: the chain breaks at %s (%d entries verified before it)\n", be, s.Entries)
		return exitFail
	}
	return exitOK
}

func runAuditList(e env) int {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	from := fs.String("from", "", "first day, YYYY-MM-DD (Asia/Shanghai); default: the beginning")
	to := fs.String("to", "", "last day, YYYY-MM-DD, inclusive (as screen's); default: open")
	actor := fs.String("actor", "", "only this actor")
	action := fs.String("action", "", "only this action (login, transition, export, read_person, …)")
	object := fs.String("object", "", "only objects starting with this (clue:, clue:123, person:…)")
	asJSON := fs.Bool("json", false, "print the entries as JSON lines, as stored")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch audit list [--from D] [--to D] [--actor A] [--action X] [--object P] [--json] [--data-dir D]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	var f audit.Filter
	var err error
	if f.From, err = parseDay(*from, "from"); err != nil {
		return fail(e.stderr, "audit list", err)
	}
	if f.To, err = parseDay(*to, "to"); err != nil {
		return fail(e.stderr, "audit list", err)
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1)
	}
	f.Actor, f.Action, f.Object = *actor, *action, *object
	if err := storeExists(*dir); err != nil {
		return fail(e.stderr, "audit list", err)
	}
	n := 0
	err = audit.List(auditDir(*dir), f, func(en audit.Entry) error {
		n++
		if *asJSON {
			b, err := json.Marshal(en)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, string(b))
			return err
		}
		var detail []string
		for k, v := range en.Detail {
			detail = append(detail, fmt.Sprintf("%s=%v", k, v))
		}
		_, err := fmt.Fprintf(e.stdout, "%6d  %s  %-16s %-12s %-24s %s %s\n", en.Seq, en.Time.Format("2006-01-02 15:04:05"),
			en.Actor, en.Action, en.Object, en.From, strings.Join(detail, " "))
		return err
	})
	if err != nil {
		return fail(e.stderr, "audit list", err)
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "%d entries\n", n)
	}
	return exitOK
}

// parseDay reads a day YYYY-MM-DD (Asia/Shanghai) given to --field; "" is the zero time.
func parseDay(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, tracewatch.Beijing)
	if err != nil {
		return time.Time{}, tracewatch.Errorf("audit list", tracewatch.KindInvalid, "--%s %q: want YYYY-MM-DD", field, s).WithField(field)
	}
	return t, nil
}
