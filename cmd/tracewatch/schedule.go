package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/rules"
	"tracewatch/internal/server"
	"tracewatch/internal/store/duckdb"
)

// serve's screenings: a daily one at --screen-at, and those asked for by POST
// /api/v1/screen (tracewatch screen --server), one at a time, over the store serve holds,
// with the rule base of serve --rules.

// openRuleFile opens the rule base file serve runs with: path (it must exist), or the
// data directory's rules.txt when path is empty (missing: the default rule base, until
// an admin edits a rule in the web workplace, which creates it).
func openRuleFile(dir, path string) (*rules.File, error) {
	if path == "" {
		return rules.OpenFile(filepath.Join(dir, rules.FileName))
	}
	if _, err := os.Stat(path); err != nil {
		return nil, tracewatch.Errorf("rules", tracewatch.KindInvalid, "%v", err).WithField("rules")
	}
	return rules.OpenFile(path)
}

// dataRulesFile is the rule base file a command that opens a data directory uses: the
// one --rules names, else the directory's rules.txt when it exists (what serve runs
// with and the web workplace edits), else none (the default).
func dataRulesFile(dir, path string) string {
	if path != "" {
		return path
	}
	if p := filepath.Join(dir, rules.FileName); fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// screener runs serve's screenings one at a time.
type screener struct {
	st   *duckdb.Store
	base func() (*rules.Base, error)
	log  *slog.Logger
	now  func() time.Time

	run     sync.Mutex // held while a screening runs
	mu      sync.Mutex // guards current
	current string     // who runs the screening under way, and since when
}

func newScreener(st *duckdb.Store, base func() (*rules.Base, error), log *slog.Logger) *screener {
	return &screener{st: st, base: base, log: log, now: time.Now}
}

// screen runs the screening req asks for, as tracewatch screen runs it (planScreen), when
// no other runs; with wait it waits for the one under way to end, otherwise that is an
// error of kind conflict. Its start and end are logged with their counts; an error is
// returned, not logged.
func (s *screener) screen(ctx context.Context, req server.ScreenRequest, progress io.Writer, wait bool) (screenSummary, error) {
	base, err := s.base()
	if err != nil {
		return screenSummary{}, err
	}
	plan, err := planScreen(base, req, s.now())
	if err != nil {
		return screenSummary{}, err
	}
	if wait {
		s.run.Lock()
	} else if !s.run.TryLock() {
		s.mu.Lock()
		cur := s.current
		s.mu.Unlock()
		return screenSummary{}, tracewatch.Errorf("serve.screen", tracewatch.KindConflict, "a screening is already running (%s): ask again when it has finished", cur)
	}
	defer s.run.Unlock()
	start := s.now()
	s.mu.Lock()
	s.current = fmt.Sprintf("asked by %s, since %s", req.By, start.In(tracewatch.Beijing).Format(time.RFC3339))
	s.mu.Unlock()
	s.log.Info("screening started", "by", req.By, "from", req.From, "to", req.To, "region", req.Region,
		"at", plan.at.Format(time.RFC3339), "detectors", len(plan.rules))
	sum, err := plan.run(ctx, s.st, progress)
	attrs := []any{"by", req.By, "detectors", len(sum.Detectors), "clues", sum.Clues, "new", sum.New, "failed", sum.Failed,
		"seconds", s.now().Sub(start).Seconds()}
	if err != nil && sum.Failed == 0 {
		attrs = append(attrs, "stopped", true) // could not start, or cancelled
	}
	s.log.Info("screening finished", attrs...)
	return sum, err
}

// serve is the screener as server.Config.Screen: a screening with failed detectors is
// still a summary (the others' clues are stored; the summary names the failures).
func (s *screener) serve(ctx context.Context, req server.ScreenRequest, progress io.Writer) (any, error) {
	sum, err := s.screen(ctx, req, progress, false)
	if err != nil && sum.Failed == 0 {
		return nil, err
	}
	return sum, nil
}

// schedule is serve --screen-at: a screening every day at a time of day, Beijing time,
// of the whole days before the day of the run (--screen-window), evaluated at the
// scheduled instant: at 02:00 on 2 March with the default window, what `tracewatch
// screen --from 2025-03-01 --to 2025-03-01 --at 2025-03-02T02:00:00+08:00` screens.
type schedule struct {
	hour, minute int
	days         int           // the window, in days
	first        time.Duration // for tests (--screen-test-delay): the first run this long after the start
}

// parseSchedule reads --screen-at HH:MM and --screen-window (whole days, as screen's
// --from and --to); at "" means no schedule (nil).
func parseSchedule(at string, window, first time.Duration) (*schedule, error) {
	if at == "" {
		return nil, nil
	}
	h, m, ok := strings.Cut(at, ":")
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hour > 23 || minute > 59 || hour < 0 || minute < 0 {
		return nil, tracewatch.Errorf("serve", tracewatch.KindInvalid, "--screen-at %q: want HH:MM (Beijing time), such as 02:00", at).WithField("screen-at")
	}
	if window < 24*time.Hour || window%(24*time.Hour) != 0 {
		return nil, tracewatch.Errorf("serve", tracewatch.KindInvalid, "--screen-window %v: want whole days (24h, 48h, …): a screening window is made of days", window).WithField("screen-window")
	}
	return &schedule{hour: hour, minute: minute, days: int(window / (24 * time.Hour)), first: first}, nil
}

// next returns the first scheduled instant after t.
func (s *schedule) next(t time.Time) time.Time {
	b := t.In(tracewatch.Beijing)
	n := time.Date(b.Year(), b.Month(), b.Day(), s.hour, s.minute, 0, 0, tracewatch.Beijing)
	if !n.After(t) {
		n = n.AddDate(0, 0, 1)
	}
	return n
}

// request returns what the run at instant t screens.
func (s *schedule) request(t time.Time) server.ScreenRequest {
	b := t.In(tracewatch.Beijing)
	day := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, tracewatch.Beijing)
	return server.ScreenRequest{From: day.AddDate(0, 0, -s.days).Format("2006-01-02"), To: day.AddDate(0, 0, -1).Format("2006-01-02"),
		At: t.Format(time.RFC3339), By: "schedule"}
}

// firstRun returns the instant of the first run after a start at t.
func (s *schedule) firstRun(t time.Time) time.Time {
	if s.first > 0 {
		return t.Add(s.first).Truncate(time.Second)
	}
	return s.next(t)
}

// loop calls run at every scheduled instant until ctx ends; now is the clock, and wait
// returns when the clock has reached an instant (false: ctx ended first). A run that
// overruns the next instant makes that day's run late, never two at once; a run missed
// while serve was down is not made up.
func (s *schedule) loop(ctx context.Context, now func() time.Time, wait func(context.Context, time.Time) bool, run func(context.Context, time.Time)) {
	t := s.firstRun(now())
	for wait(ctx, t) {
		run(ctx, t)
		if ctx.Err() != nil {
			return
		}
		t = s.next(t)
		if n := now(); n.After(t) { // overran: the next run is the next instant from now
			t = s.next(n)
		}
	}
}

// sleepUntil waits until the wall clock reaches t, looking at it every minute (a clock
// set forward, or a machine that slept, does not delay the run by the time it lost).
func sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer := time.NewTimer(min(d, time.Minute))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// start runs the schedule in the background until ctx ends; the channel is closed when
// it has stopped (a screening under way is cancelled with ctx). A nil schedule does
// nothing.
func (s *schedule) start(ctx context.Context, sc *screener) <-chan struct{} {
	done := make(chan struct{})
	if s == nil {
		close(done)
		return done
	}
	sc.log.Info("screening scheduled", "every_day_at", fmt.Sprintf("%02d:%02d", s.hour, s.minute), "zone", "Asia/Shanghai",
		"window_days", s.days, "first", s.firstRun(time.Now()).In(tracewatch.Beijing).Format(time.RFC3339))
	go func() {
		defer close(done)
		s.loop(ctx, time.Now, sleepUntil, func(ctx context.Context, t time.Time) {
			progress := &logLines{log: sc.log}
			if _, err := sc.screen(ctx, s.request(t), progress, true); err != nil {
				sc.log.Error("scheduled screening", "err", err.Error())
			}
		})
	}()
	return done
}

// logLines logs each line written to it (a scheduled screening's progress).
type logLines struct {
	log *slog.Logger
	buf []byte
}

func (l *logLines) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.log.Info("screening", "progress", string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
