package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/audit"
	"tracewatch/internal/token"
	"tracewatch/internal/workflow"
)

// tracewatch clue transition: the workflow from the command line (docs/workflow.md).
// With --server it goes through a running serve with a user's token; without, it opens
// the store (serve must not be running) and acts as the user named by --as.

func init() {
	register("clue", "work a clue: clue transition ID STATE [--note …] [--as USER | --server URL --token T] [--region --deadline --outcome --point P:N:RESP …]", func(e env) int {
		return subcommand(e, "clue", map[string]func(env) int{"transition": runClueTransition})
	})
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// parsePoint reads PRACTITIONER:POINTS:RESPONSIBILITY.
func parsePoint(s string) (tracewatch.PointAward, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return tracewatch.PointAward{}, fmt.Errorf("--point %q: want PRACTITIONER:POINTS:RESPONSIBILITY, e.g. D001:6:general", s)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return tracewatch.PointAward{}, fmt.Errorf("--point %q: %q is not a number of points", s, parts[1])
	}
	return tracewatch.PointAward{Practitioner: parts[0], Points: n, Responsibility: parts[2]}, nil
}

func runClueTransition(e env) int {
	fs := flag.NewFlagSet("clue transition", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	note := fs.String("note", "", "the note of the step (a reason, a finding)")
	as := fs.String("as", "", "without --server: the user who acts (tracewatch user list)")
	rf := addRemoteFlags(fs)
	region := fs.String("region", "", "dispatched: the city or county to dispatch to")
	deadline := fs.String("deadline", "", "dispatched: when feedback is due (YYYY-MM-DD or RFC 3339)")
	deliberate := fs.Bool("deliberate", false, "ask for 合议 before dispatch")
	outcome := fs.String("outcome", "", "closed: confirmed, partial or dismissed")
	recovered := fs.Int64("recovered-fen", 0, "closed: money recovered (追回金额), in fen")
	penalty := fs.Int64("penalty-fen", 0, "closed: 违约金, in fen")
	fine := fs.Int64("fine-fen", 0, "closed: 罚款, in fen")
	action := fs.String("agreement-action", "", "closed: interview, rectify, suspend or terminate")
	var referrals, points repeated
	fs.Var(&referrals, "referral", "closed: police or discipline (repeat for both)")
	fs.Var(&points, "point", "closed: PRACTITIONER:POINTS:RESPONSIBILITY (minor 1–3, general 4–6, important 7–9, main 10–12); repeat per practitioner")
	asJSON := fs.Bool("json", false, "print the answer as JSON (as POST /api/v1/clues/{id}/transitions answers)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch clue transition ID STATE [--note TEXT] (--as USER [--data-dir D] | --server URL [--token T]) [flags]")
		fmt.Fprintln(e.stderr, "STATE: triaged, reviewed, deliberated, dispatched, investigating, answered, closed, returned, appealed, dismissed.")
		fs.PrintDefaults()
	}
	// Flags may follow the two arguments.
	args := e.args
	var pos []string
	for len(args) > 0 {
		if code, ok := parseFlags(fs, args, e.stderr); !ok {
			return code
		}
		args = fs.Args()
		if len(args) > 0 {
			pos, args = append(pos, args[0]), args[1:]
		}
	}
	if len(pos) != 2 {
		fs.Usage()
		return exitUsage
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return fail(e.stderr, "clue transition", fmt.Errorf("%q is not a clue id", pos[0]))
	}
	body := workflow.Body{To: pos[1], Note: *note, Region: *region, Deadline: *deadline, Deliberate: *deliberate, Outcome: *outcome,
		RecoveredFen: *recovered, PenaltyFen: *penalty, FineFen: *fine, AgreementAction: *action, Referrals: referrals}
	for _, p := range points {
		a, err := parsePoint(p)
		if err != nil {
			return fail(e.stderr, "clue transition", err)
		}
		body.Points = append(body.Points, a)
	}
	var res workflow.Result
	c, err := remoteOf(fs, rf, "data-dir", "as")
	if err != nil {
		return failRemote(e, "clue transition", err)
	}
	if c != nil {
		b, _ := json.Marshal(body)
		out, err := c.call(context.Background(), http.MethodPost, "/api/v1/clues/"+strconv.FormatInt(id, 10)+"/transitions", nil,
			bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, false, nil)
		if err != nil {
			return fail(e.stderr, "clue transition", err)
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return fail(e.stderr, "clue transition", fmt.Errorf("the server answered something else than a transition: %v", err))
		}
	} else {
		if *as == "" {
			return fail(e.stderr, "clue transition", fmt.Errorf("say who acts: --as USER (or go through a running serve with --server URL)"))
		}
		if res, err = transitionLocal(*dir, id, *as, body); err != nil {
			return fail(e.stderr, "clue transition", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
		return exitOK
	}
	if !res.Applied {
		fmt.Fprintf(e.stdout, "clue %d: %s (%s): vote for 合议 recorded, %d of %d (%s); the clue stays %s\n", res.ClueID, res.State, res.State.Chinese(),
			len(res.Votes), res.Quorum, strings.Join(res.Votes, ", "), res.State)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "clue %d: %s (%s) → %s (%s)", res.ClueID, res.From, res.From.Chinese(), res.State, res.State.Chinese())
	if !res.Workflow.Deadline.IsZero() {
		fmt.Fprintf(e.stdout, ", due %s", res.Workflow.Deadline.In(tracewatch.Beijing).Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(e.stdout)
	return exitOK
}

// transitionLocal applies a transition on the store of dir as the named user.
func transitionLocal(dir string, id int64, as string, body workflow.Body) (workflow.Result, error) {
	ctx := context.Background()
	accounts := token.Open(dir, nil)
	u, err := accounts.User(as)
	if err != nil {
		return workflow.Result{}, fmt.Errorf("--as %s: %w", as, err)
	}
	req, err := body.Request(cliHost())
	if err != nil {
		return workflow.Result{}, err
	}
	cfg, err := workflow.Load(workflowPath(dir))
	if err != nil {
		return workflow.Result{}, err
	}
	log, err := audit.Open(auditDir(dir))
	if err != nil {
		return workflow.Result{}, err
	}
	st, err := openStore(ctx, dir)
	if err != nil {
		return workflow.Result{}, err
	}
	defer st.Close()
	c, err := st.Clue(ctx, id)
	if err != nil {
		return workflow.Result{}, err
	}
	res, err := workflow.Apply(ctx, st, log, cfg, u, []tracewatch.Clue{cfg.Present(c)}, req, 0, time.Now())
	if err != nil {
		return workflow.Result{}, err
	}
	return res[0], nil
}

// workflowPath is the workflow configuration of a data directory.
func workflowPath(dir string) string { return filepath.Join(dir, workflow.FileName) }
