package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/avstudio/credits"
)

// runQuote: credits quote ACTION [--resolution R] [--quantity N] ...
func runQuote(e *env, args []string) int {
	f := newFlags("quote")
	resolution := f.String("resolution", "", "video `resolution`: 720p, 1080p or 4k (video_generation only; default 720p)")
	quantity := f.String("quantity", "1", "number of units `N`")
	pos, code, done := f.parse(e, args)
	if done {
		return code
	}
	if len(pos) != 1 {
		return e.usageErr("quote", fmt.Sprintf("want one ACTION, got %d arguments", len(pos)))
	}
	action, err := parseAction(pos[0])
	if err != nil {
		return e.fail("quote", err)
	}
	var opts credits.QuoteOptions
	if *resolution != "" {
		if opts.Resolution, err = credits.ParseResolution(*resolution); err != nil {
			return e.fail("quote", err)
		}
	}
	if opts.Quantity, err = parseQuantity(*quantity); err != nil {
		return e.fail("quote", err)
	}
	table, err := f.table(e)
	if err != nil {
		return e.fail("quote", err)
	}
	q, err := table.Quote(action, opts)
	if err != nil {
		return e.fail("quote", err)
	}
	if f.json {
		return e.writeJSON("quote", q)
	}
	what := q.Action.String()
	if q.Resolution != 0 {
		what += " at " + q.Resolution.String()
	}
	return e.write("quote", fmt.Sprintf("%s: %d x %s = %s credits (price table %s)\n", what, q.Quantity, q.UnitPrice, q.Total, q.PriceVersion))
}

// runPrices: credits prices [--at RFC3339] [--prices FILE] [--json]
func runPrices(e *env, args []string) int {
	f := newFlags("prices")
	pos, code, done := f.parse(e, args)
	if done {
		return code
	}
	if len(pos) != 0 {
		return e.usageErr("prices", fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	table, err := f.table(e)
	if err != nil {
		return e.fail("prices", err)
	}
	if f.json {
		return e.writeJSON("prices", table)
	}
	type row struct{ action, res, price string }
	var rows []row
	for _, a := range credits.Actions() {
		if a != credits.VideoGeneration {
			rows = append(rows, row{a.String(), "", table.Price(a).String()})
			continue
		}
		for _, r := range credits.Resolutions() {
			p, err := table.UnitPrice(a, r)
			if err != nil {
				return e.fail("prices", err)
			}
			rows = append(rows, row{a.String(), fmt.Sprintf("%s (%sx)", r, table.Multiplier(r)), p.String()})
		}
	}
	w := [3]int{len("ACTION"), len("RESOLUTION"), len("CREDITS")}
	for _, r := range rows {
		w[0], w[1], w[2] = max(w[0], len(r.action)), max(w[1], len(r.res)), max(w[2], len(r.price))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Price table %s, in force from %s\n\n", table.Version(), table.EffectiveFrom().Format("2006-01-02T15:04:05Z07:00"))
	fmt.Fprintf(&b, "%-*s  %-*s  %*s\n", w[0], "ACTION", w[1], "RESOLUTION", w[2], "CREDITS")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s  %-*s  %*s\n", w[0], r.action, w[1], r.res, w[2], r.price)
	}
	return e.write("prices", b.String())
}

// runEstimate: credits estimate [--json] FILE|-
func runEstimate(e *env, args []string) int {
	f := newFlags("estimate")
	pos, code, done := f.parse(e, args)
	if done {
		return code
	}
	if len(pos) != 1 {
		return e.usageErr("estimate", fmt.Sprintf("want one job FILE (or - for standard input), got %d arguments", len(pos)))
	}
	name := pos[0]
	var in io.Reader = e.stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return e.fail("estimate", err)
		}
		defer file.Close()
		in = file
	} else {
		name = "standard input"
	}
	table, err := f.table(e)
	if err != nil {
		return e.fail("estimate", err)
	}
	job, err := credits.DecodeJob(in)
	if err != nil {
		return e.fail("estimate", fmt.Errorf("%s: %w", name, err))
	}
	est, err := table.EstimateJob(job)
	if err != nil {
		return e.fail("estimate", fmt.Errorf("%s: %w", name, err))
	}
	if f.json {
		return e.writeJSON("estimate", est)
	}
	cells := make([][4]string, 0, len(est.Lines)+2)
	cells = append(cells, [4]string{"ACTION", "QTY", "UNIT", "SUBTOTAL"})
	for _, l := range est.Lines {
		cells = append(cells, [4]string{l.Action.String(), strconv.FormatInt(l.Quantity, 10), l.UnitPrice.String(), l.Subtotal.String()})
	}
	cells = append(cells, [4]string{"TOTAL", "", "", est.Total.String()})
	var w [4]int
	for _, c := range cells {
		for i := range c {
			w[i] = max(w[i], len(c[i]))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Estimate for a %s job, price table %s, in credits\n\n", est.Pipeline, est.PriceVersion)
	for _, c := range cells {
		fmt.Fprintf(&b, "%-*s  %*s  %*s  %*s\n", w[0], c[0], w[1], c[1], w[2], c[2], w[3], c[3])
	}
	return e.write("estimate", b.String())
}

// write prints s; a failed write is an error of the command.
func (e *env) write(cmd, s string) int {
	if _, err := io.WriteString(e.stdout, s); err != nil {
		return e.fail(cmd, err)
	}
	return exitOK
}

// writeJSON prints v as indented JSON.
func (e *env) writeJSON(cmd string, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return e.fail(cmd, err)
	}
	return e.write(cmd, string(b)+"\n")
}
