package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// This file gathers what the account page shows, from the ledger and
// Options.Subscription: the account view that the account page and the
// support page share.

// maxViewPages bounds the history pages (of 1000 entries) the view reads
// for its chart, forecast and open holds, so that a huge account cannot
// make a page read without end.
const maxViewPages = 100

// accountView is everything the account page shows.
type accountView struct {
	Account string
	Now     time.Time
	Loc     *time.Location

	Balance credits.Balance
	Empty   bool // the account has no entries yet

	Sub       *subView
	Period    credits.Period
	Statement credits.Statement

	Chart    chartView
	Forecast forecastView
	Holds    []credits.Entry // open holds, oldest first
	Partial  bool            // the chart and holds read only the newest maxViewPages pages

	History      []credits.Entry // newest first
	Older, Newer int64           // the before= of the older and newer pages; 0: none
	Latest       bool            // this is the newest page
}

// subView is the account's subscription as the page shows it.
type subView struct {
	ID          string
	Plan        credits.Plan
	NextRenewal time.Time // the end of the current period, when the next one is granted; zero when it ends
	Ends        time.Time // the end of the last period; zero: it renews for ever
	NextPlan    *credits.Plan
	Rollover    string // what rolls over, in words
}

// forecastView is the run-out forecast as the page shows it.
type forecastView struct {
	credits.BurnForecast
	Available credits.Credits // the balance forecast
	OK        bool
	Note      string // why there is no forecast
}

// loadView reads the account view of account, with the history page
// that ends before the entry before (0: the newest page).
func (h *handler) loadView(r *http.Request, account string, loc *time.Location, before int64) (*accountView, error) {
	ctx := r.Context()
	v := &accountView{Account: account, Loc: loc}
	bal, err := h.ledger.Balance(ctx, account)
	if err != nil {
		return nil, err
	}
	v.Balance, v.Now = bal, bal.AsOf

	sub, hasSub, err := h.subscription(r, account)
	if err != nil {
		return nil, err
	}
	if hasSub {
		v.Sub = newSubView(sub, v.Now)
	}
	v.Period = currentPeriod(sub, hasSub, v.Now, loc)
	if bal.Version == 0 {
		v.Empty = true
		v.Statement = credits.Statement{Account: account, Period: v.Period, AsOf: v.Now}
		v.Chart = newChart(nil, nil, 0, v.Now, loc, forecastView{})
		v.Forecast = forecastView{Note: "No history yet."}
		v.Latest = true
		return v, nil
	}
	if v.Statement, err = h.ledger.Statement(ctx, account, v.Period); err != nil {
		return nil, err
	}

	// The chart's periods, the forecast's window and the account's first
	// entry, which dates it.
	periods := chartPeriods(sub, hasSub, v.Period, h.opts.ChartPeriods, loc)
	from := periods[0].Start
	if w := v.Now.Add(-credits.ForecastWindow); w.Before(from) {
		from = w
	}
	first, err := h.ledger.History(ctx, account, credits.HistoryQuery{Limit: 1})
	if err != nil {
		return nil, err
	}
	recent, partial, err := h.entriesSince(r, account, from, bal.Version)
	if err != nil {
		return nil, err
	}
	v.Partial = partial
	forecastHistory := recent
	if len(first.Entries) == 1 && (len(recent) == 0 || first.Entries[0].ID < recent[0].ID) {
		forecastHistory = append([]credits.Entry{first.Entries[0]}, recent...)
	}
	f, ok := credits.Forecast(forecastHistory, bal.Available, v.Now)
	v.Forecast = forecastView{BurnForecast: f, Available: bal.Available, OK: ok}
	if !ok {
		v.Forecast.Note = forecastNote(f)
	}
	v.Chart = newChart(periods, recent, bal.Total, v.Now, loc, v.Forecast)

	if v.Holds, err = h.openHolds(r, account, v.Now); err != nil {
		return nil, err
	}
	return v, h.historyPage(r, v, before)
}

// entriesSince reads the account's entries from since up to version,
// oldest first: at most maxViewPages pages (partial reports that newer
// ones were left out).
func (h *handler) entriesSince(r *http.Request, account string, since time.Time, version int64) ([]credits.Entry, bool, error) {
	var out []credits.Entry
	q := credits.HistoryQuery{Since: since, Limit: 1000}
	for range maxViewPages {
		p, err := h.ledger.History(r.Context(), account, q)
		if err != nil {
			return nil, false, err
		}
		for _, e := range p.Entries {
			if e.ID <= version {
				out = append(out, e)
			}
		}
		if p.Next == 0 || p.Next >= version {
			return out, false, nil
		}
		q.After = p.Next
	}
	return out, true, nil
}

// openHolds derives the account's open holds from its history: holds
// with no capture, release or expiry, whose deadline has not passed.
func (h *handler) openHolds(r *http.Request, account string, now time.Time) ([]credits.Entry, error) {
	q := credits.HistoryQuery{Kinds: []credits.Kind{credits.KindHold, credits.KindCapture, credits.KindRelease, credits.KindExpire}, Limit: 1000}
	var holds []credits.Entry
	closed := map[int64]bool{}
	for range maxViewPages {
		p, err := h.ledger.History(r.Context(), account, q)
		if err != nil {
			return nil, err
		}
		for _, e := range p.Entries {
			switch {
			case e.Kind == credits.KindHold:
				holds = append(holds, e)
			case e.Hold != 0:
				closed[e.Hold] = true
			}
		}
		if p.Next == 0 {
			break
		}
		q.After = p.Next
	}
	return slices.DeleteFunc(holds, func(e credits.Entry) bool {
		return closed[e.ID] || !now.Before(e.ExpiresAt)
	}), nil
}

// historyPage reads the page of history that ends before the entry
// before (0: the newest page), newest first. Entry IDs are the entries'
// positions, 1, 2, 3..., so a page is a range of IDs.
func (h *handler) historyPage(r *http.Request, v *accountView, before int64) error {
	last := v.Balance.Version
	if before <= 0 || before > last+1 {
		before = last + 1
	}
	size := int64(h.opts.HistoryPage)
	after := max(before-1-size, 0)
	p, err := h.ledger.History(r.Context(), v.Account, credits.HistoryQuery{After: after, Limit: int(before - 1 - after)})
	if err != nil {
		return err
	}
	v.History = p.Entries
	slices.Reverse(v.History)
	if after > 0 {
		v.Older = after + 1
	}
	v.Latest = before == last+1
	if !v.Latest {
		v.Newer = min(before+size, last+1)
	}
	return nil
}

// newSubView describes sub as of now.
func newSubView(sub credits.Subscription, now time.Time) *subView {
	p := sub.PeriodAt(now)
	sv := &subView{ID: sub.ID, Plan: sub.PlanAt(now), Ends: sub.Ends}
	if sub.Ends.IsZero() || p.End.Before(sub.Ends) {
		sv.NextRenewal = p.End
		if next := sub.PlanAt(p.End); !planEqual(next, sv.Plan) {
			sv.NextPlan = &next
		}
	}
	if now.Before(sub.Start()) {
		sv.NextRenewal = sub.Start()
	}
	sv.Rollover = rolloverText(sv.Plan.Rollover)
	return sv
}

func planEqual(a, b credits.Plan) bool {
	return a.Name == b.Name && a.Credits == b.Credits && a.Interval == b.Interval && a.Priority == b.Priority &&
		a.Rollover.Mode == b.Rollover.Mode && a.Rollover.Max == b.Rollover.Max && a.Rollover.Min == b.Rollover.Min &&
		a.Rollover.CarryPriority == b.Rollover.CarryPriority && a.Rollover.CarryPeriods == b.Rollover.CarryPeriods &&
		a.Rollover.ExpireAfterPeriods == b.Rollover.ExpireAfterPeriods && a.Rollover.ExpiresAt.Equal(b.Rollover.ExpiresAt)
}

// rolloverText says in words what a policy rolls over.
func rolloverText(p credits.RolloverPolicy) string {
	var s string
	switch p.Mode {
	case credits.RollOverAll:
		s = "Every unused credit rolls over to the next period."
	case credits.RollOverNone:
		s = "Unused credits of the plan expire at the end of each period."
	case credits.RollOverCapped:
		s = fmt.Sprintf("At most %s unused plan credits roll over; the rest expires at the end of the period.", p.Max)
	case credits.RollOverCarry:
		s = "Unused plan credits are carried into a new lot at the end of the period"
		if p.Max > 0 {
			s += fmt.Sprintf(", at most %s", p.Max)
		}
		if p.Min > 0 {
			s += fmt.Sprintf(" (fewer than %s expire)", p.Min)
		}
		if p.CarryPeriods > 0 {
			s += fmt.Sprintf("; a carried lot lasts %d period%s", p.CarryPeriods, plural(p.CarryPeriods))
		}
		s += "."
	}
	if p.ExpireAfterPeriods > 0 {
		s += fmt.Sprintf(" Each period's credits expire after %d period%s.", p.ExpireAfterPeriods, plural(p.ExpireAfterPeriods))
	}
	if !p.ExpiresAt.IsZero() {
		s += " Plan credits expire on " + p.ExpiresAt.UTC().Format(time.DateOnly) + " at the latest."
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// chartPeriods returns the n periods that end with current, oldest
// first: the subscription's (never before its first), or calendar
// months in loc.
func chartPeriods(sub credits.Subscription, hasSub bool, current credits.Period, n int, loc *time.Location) []credits.Period {
	out := []credits.Period{current}
	for len(out) < n {
		prevEnd := out[0].Start
		var p credits.Period
		if hasSub {
			if !prevEnd.After(sub.Start()) {
				break
			}
			p = sub.PeriodAt(prevEnd.Add(-time.Microsecond))
		} else {
			start := prevEnd.In(loc).AddDate(0, -1, 0)
			p = credits.Period{Start: start, End: prevEnd}
		}
		out = slices.Insert(out, 0, p)
	}
	return out
}

// forecastNote says why there is no forecast.
func forecastNote(f credits.BurnForecast) string {
	switch {
	case f.Days < credits.MinForecastDays:
		return fmt.Sprintf("Too little history to forecast: it needs %d days, the account has %d.", credits.MinForecastDays, f.Days)
	case f.PerDay <= 0:
		return fmt.Sprintf("Nothing was spent in the last %d days: at this rate the credits never run out.", f.Days)
	default:
		return fmt.Sprintf("At %s credits a day the credits last more than ten years.", f.PerDay)
	}
}

// The links the pages make. They are relative to the page, so that the
// handler works under any prefix: base is the way from the page back to
// the handler's root ("../" from accounts/alice).

// baseOf returns the relative way from r's page to the handler's root.
func baseOf(r *http.Request) string {
	depth := strings.Count(r.URL.EscapedPath(), "/") - 1
	if depth <= 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// accountPath is the path of an account's page under the root.
func accountPath(account string) string { return "accounts/" + url.PathEscape(account) }

// withParams adds query parameters (name, value pairs; empty values left
// out) to a path.
func withParams(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
