package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"tracewatch/internal/synth"
)

func init() {
	register("gen", "generate a synthetic province: gen --seed N --out DIR [--scale tiny|small|medium|large | --sale-lines N] [--days D] [--start YYYY-MM-DD] [--no-fraud] [--codemap-levels given|absent] [--inbound-cartons RATE] [--sales-only] [--late-uploads RATE]", runGen)
}

func runGen(e env) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "generator seed: the same seed and options give byte-identical files")
	out := fs.String("out", "", "output directory (created; must be empty or absent)")
	scale := fs.String("scale", "small", "size: "+scaleList()+" sale lines")
	lines := fs.Int("sale-lines", 0, "sale lines (3505 rows) to generate; overrides --scale")
	days := fs.Int("days", 90, "days simulated")
	start := fs.String("start", synth.DefaultStart.Format("2006-01-02"), "first day (YYYY-MM-DD, Asia/Shanghai)")
	noFraud := fs.Bool("no-fraud", false, "plant no fraud scenario: honest data only and an empty labels.jsonl")
	levels := fs.String("codemap-levels", synth.CodemapLevelsGiven, "given: codemap.csv has its pack_level column; absent: it has none, as many provinces' tables")
	inCartons := fs.Float64("inbound-cartons", 0, "share (0 to 1) of the coded purchases (3503) that list the carton codes (大码) instead of the boxes")
	salesOnly := fs.Bool("sales-only", false, "sales (3505/3506) without fee detail or settlements: no 2204, 2207, 2301, 2304")
	late := fs.Float64("late-uploads", 0, "share (0 to 1) of the messages written to the file of a day 1 to 3 days after their event; some sales withdrawn (3507) and uploaded again")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: tracewatch gen --seed N --out DIR [--scale tiny|small|medium|large | --sale-lines N] [--days D] [--start YYYY-MM-DD] [--no-fraud] [--codemap-levels given|absent] [--inbound-cartons RATE] [--sales-only] [--late-uploads RATE]")
		fmt.Fprintln(e.stderr, "Writes DIR/reference/<kind>.csv (load each with `tracewatch load KIND FILE`; drug_limits.csv is")
		fmt.Fprintln(e.stderr, "the knowledge base of drug limits),")
		fmt.Fprintln(e.stderr, "DIR/messages/NNNN-YYYY-MM-DD.jsonl (ingest them in name order), DIR/labels.jsonl (the")
		fmt.Fprintln(e.stderr, "planted cases) and DIR/manifest.json (options, counts, SHA-256 of every file).")
		fmt.Fprintln(e.stderr, "See docs/synthetic-data.md.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, e.args, e.stderr); !ok {
		return code
	}
	if fs.NArg() != 0 || *out == "" {
		fs.Usage()
		return exitUsage
	}
	if *days < 1 {
		fmt.Fprintf(e.stderr, "tracewatch gen: --days %d: want at least 1\n", *days)
		return exitUsage
	}
	first, err := time.ParseInLocation("2006-01-02", *start, cstZone)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracewatch gen: --start %q: want a date YYYY-MM-DD\n", *start)
		return exitUsage
	}
	if *levels != synth.CodemapLevelsGiven && *levels != synth.CodemapLevelsAbsent {
		fmt.Fprintf(e.stderr, "tracewatch gen: --codemap-levels %q: want given or absent\n", *levels)
		return exitUsage
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"inbound-cartons", *inCartons}, {"late-uploads", *late}} {
		if !(r.v >= 0 && r.v <= 1) {
			fmt.Fprintf(e.stderr, "tracewatch gen: --%s %v: want a share from 0 to 1\n", r.name, r.v)
			return exitUsage
		}
	}
	o := synth.Options{Seed: *seed, SaleLines: *lines, Days: *days, Start: first,
		CodemapLevels: *levels, InboundCartons: permille(*inCartons), SalesOnly: *salesOnly, LateUploads: permille(*late)}
	if *noFraud {
		p := synth.DefaultParams()
		p.NoPlanted()
		o.Params = &p
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if *lines == 0 || explicit["scale"] {
		o.Scale = *scale
	}
	if *lines != 0 && explicit["scale"] {
		fmt.Fprintln(e.stderr, "tracewatch gen: give --scale or --sale-lines, not both")
		return exitUsage
	}
	if err := emptyDir(*out); err != nil {
		return fail(e.stderr, "gen", err)
	}
	began := time.Now()
	sum, err := synth.Generate(o, synth.Dir(*out))
	if err != nil {
		return fail(e.stderr, "gen", err)
	}
	took := time.Since(began)
	var size int64
	for _, f := range sum.Files {
		size += f.Bytes
	}
	w := sum.World
	fmt.Fprintf(e.stdout, "generated %s: seed %d, scale %s, %d days from %s\n", *out, sum.Options.Seed, sum.Options.Scale, sum.Options.Days, sum.Options.Start)
	fmt.Fprintf(e.stdout, "  world: %d institutions (%d hospitals, %d clinics, %d village clinics, %d pharmacies), %d persons, %d practitioners, %d drugs, %d regions\n",
		w.Institutions["hospital"]+w.Institutions["clinic"]+w.Institutions["village_clinic"]+w.Institutions["pharmacy"],
		w.Institutions["hospital"], w.Institutions["clinic"], w.Institutions["village_clinic"], w.Institutions["pharmacy"],
		w.Persons, w.Practitioners, w.Drugs, w.Regions)
	var parts []string
	for _, infno := range []string{"3501", "3502", "3503", "3504", "3505", "3506", "3507", "2204", "2207", "2208", "2301", "2304"} {
		if n := sum.Counts.Messages[infno]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", infno, n))
		}
	}
	fmt.Fprintf(e.stdout, "  messages: %d (%s); sale lines %d\n", sum.Counts.MessageLines, strings.Join(parts, ", "), sum.Counts.SaleLines)
	fmt.Fprintf(e.stdout, "  packages: %d cartons of %d coded packs\n", sum.Counts.Cartons, sum.Counts.Packs)
	fmt.Fprintf(e.stdout, "  knowledge base: %d drug limits (reference/drug_limits.csv)\n", sum.Counts.Reference["drug_limits"])
	if c := sum.Counts; c.CartonPurchases > 0 || c.LateMessages > 0 || c.Withdrawn > 0 {
		fmt.Fprintf(e.stdout, "  shapes: %d purchases by carton code, %d messages uploaded late, %d sales withdrawn and uploaded again\n",
			c.CartonPurchases, c.LateMessages, c.Withdrawn)
	}
	fmt.Fprintf(e.stdout, "  labels: %d planted cases (%d sale lines)", sum.Counts.LabelsTotal, sum.Counts.PlantedSaleLines)
	if sum.Counts.Malformed > 0 {
		fmt.Fprintf(e.stdout, ", %d malformed messages", sum.Counts.Malformed)
	}
	fmt.Fprintln(e.stdout)
	for _, sc := range synth.Scenarios {
		if n := sum.Counts.Labels[sc.Name]; n > 0 {
			fmt.Fprintf(e.stdout, "    %-24s %5d  %s\n", sc.Name, n, sc.Detector)
		}
	}
	fmt.Fprintf(e.stdout, "  %d files, %.1f MB, in %s: %.0f sale lines/s\n", len(sum.Files)+1, float64(size)/1e6,
		took.Round(time.Millisecond), float64(sum.Counts.SaleLines)/max(took.Seconds(), 1e-9))
	return exitOK
}

// permille turns a share from 0 to 1 into per mille, rounded.
func permille(share float64) int { return int(math.Round(share * 1000)) }

func scaleList() string {
	var parts []string
	for _, n := range synth.ScaleNames() {
		parts = append(parts, fmt.Sprintf("%s (%d)", n, synth.Scales[n]))
	}
	return strings.Join(parts, ", ")
}

// emptyDir checks that dir is absent or empty, so that no file of an earlier run (a day
// file of a longer window) is mistaken for part of this one.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("--out %s is not empty: give a new or empty directory", dir)
	}
	return nil
}
