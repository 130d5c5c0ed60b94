package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"tracewatch"
)

func init() {
	register("quarantine", "refused messages and rows: quarantine list [--data-dir D] [--json] [--institution] [--infno] [--limit]", func(e env) int {
		return subcommand(e, "quarantine", map[string]func(env) int{"list": runQuarantineList})
	})
}

// quarantineJSON is one row of `quarantine list --json`. GET /api/v1/quarantine gives the
// same keys, always present, plus the payload (docs/api.md).
type quarantineJSON struct {
	ID          int64  `json:"id"`
	MsgID       string `json:"msgid,omitempty"`
	Infno       string `json:"infno,omitempty"`
	Institution string `json:"fixmedins_code,omitempty"`
	Source      string `json:"source"`
	Row         int    `json:"row"`
	Field       string `json:"field,omitempty"`
	Reason      string `json:"reason"`
	Received    string `json:"received_at"`
	Resubmitted bool   `json:"resubmitted"`
}

func runQuarantineList(e env) int {
	fs := flag.NewFlagSet("quarantine list", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "one JSON object per row")
	inst := fs.String("institution", "", "only this fixmedins_code")
	msgid := fs.String("msgid", "", "only the rows of this message")
	infno := fs.String("infno", "", "only this interface")
	limit := fs.Int("limit", 100, "at most this many rows")
	after := fs.Int64("after", 0, "rows with an id above this (paging)")
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	ctx := context.Background()
	st, err := openStore(ctx, *dir)
	if err != nil {
		return fail(e.stderr, "quarantine list", err)
	}
	defer st.Close()
	rows, err := st.Quarantine(ctx, tracewatch.QuarantineFilter{MsgID: *msgid, Institution: *inst, Infno: *infno, Limit: *limit, AfterID: *after})
	if err != nil {
		return fail(e.stderr, "quarantine list", err)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		j := quarantineJSON{r.ID, r.MsgID, r.Infno, r.Institution, r.Source, r.Row, r.Field, r.Reason,
			r.Received.In(cstZone).Format("2006-01-02 15:04:05"), r.Resubmitted}
		if *asJSON {
			enc.Encode(j)
			continue
		}
		fmt.Fprintf(e.stdout, "%d\t%s\t%s\t%s\trow %d\t%s\t%s\n", j.ID, j.Received, j.Infno, j.Institution, j.Row, j.Field, j.Reason)
	}
	if len(rows) == 0 && !*asJSON {
		fmt.Fprintln(e.stdout, "the quarantine is empty")
	}
	return exitOK
}
