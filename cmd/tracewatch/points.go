package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tracewatch"
	"tracewatch/internal/workflow"
)

// tracewatch points list: practitioners' points this year and their payment
// qualification (驾照式记分, docs/workflow.md "Points").

func init() {
	register("points", "practitioner points (驾照式记分): points list [--practitioner P] [--institution I] [--json] [--data-dir D | --server URL]", func(e env) int {
		return subcommand(e, "points", map[string]func(env) int{"list": runPointsList})
	})
}

func runPointsList(e env) int {
	fs := flag.NewFlagSet("points list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	practitioner := fs.String("practitioner", "", "only this practitioner (医保医师/药师代码)")
	inst := fs.String("institution", "", "only points given at this institution (fixmedins_code)")
	rf := addRemoteFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON array: practitioner, points (this year), status (active|suspended|terminated), until, institutions, awards")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch points list [--practitioner P] [--institution I] [--json] [--data-dir D | --server URL [--token T]]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, e.args, e.stderr); !ok {
		return code
	}
	var st []workflow.Standing
	c, err := remoteOf(fs, rf, "data-dir")
	if err != nil {
		return failRemote(e, "points list", err)
	}
	if c != nil {
		q := url.Values{}
		if *practitioner != "" {
			q.Set("practitioner", *practitioner)
		}
		if *inst != "" {
			q.Set("institution", *inst)
		}
		b, err := c.call(context.Background(), http.MethodGet, "/api/v1/points", q, nil, nil, false, nil)
		if err != nil {
			return fail(e.stderr, "points list", err)
		}
		var out struct {
			Practitioners []workflow.Standing `json:"practitioners"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return fail(e.stderr, "points list", fmt.Errorf("the server answered something else than points: %v", err))
		}
		st = out.Practitioners
	} else {
		ctx := context.Background()
		cfg, err := workflow.Load(workflowPath(*dir))
		if err != nil {
			return fail(e.stderr, "points list", err)
		}
		s, err := openStore(ctx, *dir)
		if err != nil {
			return fail(e.stderr, "points list", err)
		}
		defer s.Close()
		awards, err := s.Points(ctx, tracewatch.PointFilter{Practitioner: *practitioner, Institution: *inst})
		if err != nil {
			return fail(e.stderr, "points list", err)
		}
		st = workflow.Standings(awards, cfg, "", time.Now())
		if err := auditCLI(*dir, "read_person", "points", map[string]any{"practitioner": *practitioner, "institution": *inst}); err != nil {
			return fail(e.stderr, "points list", err)
		}
	}
	if st == nil {
		st = []workflow.Standing{}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%-16s %6s  %-10s %-10s %s\n", "PRACTITIONER", "POINTS", "STATUS", "UNTIL", "INSTITUTIONS")
	for _, s := range st {
		until := "-"
		if !s.Until.IsZero() {
			until = s.Until.In(tracewatch.Beijing).Format(time.DateOnly)
		}
		fmt.Fprintf(e.stdout, "%-16s %6d  %-10s %-10s %s\n", s.Practitioner, s.Points, s.Status, until, strings.Join(s.Institutions, ","))
	}
	return exitOK
}
