package console

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// The burn-down chart: the balance over the last periods, as inline SVG
// that the page's template draws from a chartView.

// The chart's geometry, in SVG user units (it scales to the page's width).
const (
	chartW, chartH                = 640.0, 220.0
	chartLeft, chartRight         = 56.0, 12.0
	chartTop, chartBottom         = 12.0, 30.0
	chartPlotW                    = chartW - chartLeft - chartRight
	chartPlotH                    = chartH - chartTop - chartBottom
	chartPixel            float64 = 1 // entries closer than this along x share a column
)

// chartView is the chart, ready to draw.
type chartView struct {
	W, H     float64
	Left     float64 // x of the plot's left edge
	Bottom   float64 // y of the plot's bottom edge
	Right    float64 // x of the plot's right edge
	Path     string  // the balance, a step line ("M x,y L ...")
	Forecast string  // the forecast, dashed, from now to the run-out (or the chart's end); "" if none
	Now      float64 // x of now
	Zero     float64 // y of a zero balance
	Periods  []chartTick
	Levels   []chartTick // the y axis
	Opening  credits.Credits
	Closing  credits.Credits
	From, To time.Time
	Empty    bool
}

// chartTick is one labelled line of the chart.
type chartTick struct {
	At    float64 // x for a period, y for a level
	Label string
}

// newChart draws the balance over periods (oldest first; the last one is
// the current one) from the entries (oldest first; they may start before
// the first period), ending at now with closing, the balance now.
func newChart(periods []credits.Period, entries []credits.Entry, closing credits.Credits, now time.Time, loc *time.Location, f forecastView) chartView {
	c := chartView{W: chartW, H: chartH, Left: chartLeft, Right: chartW - chartRight, Bottom: chartH - chartBottom, Closing: closing}
	if len(periods) == 0 {
		c.Empty = true
		return c
	}
	c.From, c.To = periods[0].Start, periods[len(periods)-1].End

	// The balance at the chart's start: after the last entry before it,
	// or before the first entry in it; with no entries at all, the
	// balance now.
	in := entries
	c.Opening = closing
	for len(in) > 0 && in[0].Time.Before(c.From) {
		c.Opening = in[0].BalanceAfter
		in = in[1:]
	}
	if len(in) > 0 && len(in) == len(entries) {
		c.Opening = in[0].BalanceAfter - in[0].Amount
	}

	lo, hi := min(c.Opening, closing, 0), max(c.Opening, closing, 0)
	for _, e := range in {
		lo, hi = min(lo, e.BalanceAfter), max(hi, e.BalanceAfter)
	}
	top := niceCeil(hi)
	if top <= lo {
		top = lo + credits.Credit
	}
	span := float64(c.To.Sub(c.From))
	x := func(t time.Time) float64 {
		if t.Before(c.From) {
			t = c.From
		}
		if t.After(c.To) {
			t = c.To
		}
		return chartLeft + chartPlotW*float64(t.Sub(c.From))/span
	}
	y := func(b credits.Credits) float64 {
		return chartTop + chartPlotH*(1-float64(b-lo)/float64(top-lo))
	}
	c.Zero, c.Now = y(0), x(now)

	// A step line; entries that fall in one column of the plot share it.
	var p strings.Builder
	col, colY := x(c.From), y(c.Opening)
	fmt.Fprintf(&p, "M%.1f,%.1f", col, colY)
	for _, e := range in {
		ex, ey := x(e.Time), y(e.BalanceAfter)
		if ex-col >= chartPixel {
			fmt.Fprintf(&p, " L%.1f,%.1f", ex, colY) // the balance held until this entry
			col = ex
		}
		if math.Abs(ey-colY) >= 0.1 {
			fmt.Fprintf(&p, " L%.1f,%.1f", col, ey)
			colY = ey
		}
	}
	fmt.Fprintf(&p, " L%.1f,%.1f", c.Now, colY)
	if yc := y(closing); math.Abs(yc-colY) >= 0.1 {
		fmt.Fprintf(&p, " L%.1f,%.1f", c.Now, yc)
	}
	c.Path = p.String()

	// The forecast: from the available balance now down to zero at the
	// run-out, clipped at the chart's end.
	if f.OK && f.PerDay > 0 && f.RunOut.After(now) && now.Before(c.To) {
		avail := f.Available
		end, endB := f.RunOut, credits.Credits(0)
		if end.After(c.To) {
			left := float64(avail) * (1 - float64(c.To.Sub(now))/float64(f.RunOut.Sub(now)))
			end, endB = c.To, credits.Credits(left)
		}
		c.Forecast = fmt.Sprintf("M%.1f,%.1f L%.1f,%.1f", c.Now, y(avail), x(end), y(endB))
	}

	for _, per := range periods {
		c.Periods = append(c.Periods, chartTick{At: x(per.Start), Label: per.Start.In(loc).Format("Jan 2")})
	}
	for _, b := range []credits.Credits{lo, (lo + top) / 2, top} {
		c.Levels = append(c.Levels, chartTick{At: y(b), Label: b.String()})
	}
	return c
}

// niceCeil rounds a positive amount up to 1, 2 or 5 times a power of ten
// credits, for the chart's top.
func niceCeil(c credits.Credits) credits.Credits {
	if c <= 0 {
		return 0
	}
	for step := credits.Credit; ; step *= 10 {
		for _, m := range []credits.Credits{1, 2, 5} {
			if m*step >= c {
				return m * step
			}
		}
		if step > credits.MaxCredits/100 {
			return c
		}
	}
}
