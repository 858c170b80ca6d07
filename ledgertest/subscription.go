package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // America/New_York wherever the suite runs

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// Subscriptions in the state machine. An account of a case may have one
// subscription (drawn when the case starts, or later by the subscribe
// action): a random plan (every rollover mode, caps, carries with a
// minimum, a maximum, a priority and a lifetime, grants that expire after
// some periods or at an instant, a spending priority), an anchor on the
// 1st, 8th, 15th or 28th to 31st of a month or on Feb 29, monthly or
// yearly, in UTC or America/New_York. The actions move the clock across
// period ends, renew (now and then from several goroutines at once),
// change the plan, cancel and resume, renew with a changed past, and read
// statements.
//
// The model does not compute what a renewal grants under a cap: it checks
// what the backend returns against the rules that must hold whatever the
// arithmetic (each period granted once with its plan's credits, at the
// renewal's instant, expiring as its policy says; rollovers that add no
// credits, leave at most the cap, carry within [Min, Max]; a cap that
// holds once the period has ended), then folds those entries into the
// model's lots, so that every later operation is predicted exactly again.
// The expirations a renewal records on the way are the model's own.

// subscription is one account's subscription and what renewals did with
// it so far.
type subscription struct {
	account string
	sub     credits.Subscription
	granted []planPeriod   // the periods granted so far, in order
	ended   map[int64]bool // final rollovers written, by the start of the last period (Unix µs)
	watch   *capWatch      // what the cap of the last period granted lets survive its end
}

// planPeriod is a period of a subscription and the plan in force in it.
type planPeriod struct {
	period credits.Period
	plan   credits.Plan
}

// capWatch is the cap rule for the last period granted under a cap: once
// the period has ended, the unexpired subscription credits (reserved or
// not) are at most bound. bound is the cap plus what holds had reserved of
// subscription credits when the period was granted (a hold released later
// gives those back), plus subscription credits granted since by other
// means. If more than the cap was left over before the grant (a plan
// change lowered the cap, or credits of source subscription were granted
// by hand), the cap cannot take those until the period's rollover: then
// the leftover replaces the cap in the bound.
type capWatch struct {
	period   credits.Period
	cap      credits.Credits
	leftover credits.Credits // unreserved subscription credits just before the grant
	held     credits.Credits // reserved subscription credits then
	since    credits.Credits // subscription credits granted since, not by a renewal
}

func (w *capWatch) bound() credits.Credits { return max(w.cap, w.leftover) + w.held + w.since }

// renewalStep is one step a renewal must make: the rollover at the end of
// prev (if its plan's policy writes one) and the grant of next; or, for a
// final step (next nil), the rollover at the subscription's end.
type renewalStep struct {
	prev, next *planPeriod
}

// steps lists what a renewal at now must write: a step for each period
// that has started and is not granted yet, then the final rollover if the
// subscription has ended and its last plan caps or carries.
func (s *subscription) steps(t *rapid.T, now time.Time) []renewalStep {
	life := s.sub.Periods(s.sub.Start(), now.Add(time.Microsecond))
	for i, g := range s.granted {
		if i >= len(life) || !life[i].Equal(g.period) {
			t.Fatalf("ledgertest: the machine changed the past of subscription %q: period %s was granted", s.sub.ID, g.period)
		}
	}
	var out []renewalStep
	var prev *planPeriod
	if n := len(s.granted); n > 0 {
		prev = &s.granted[n-1]
	}
	for _, p := range life[len(s.granted):] {
		next := &planPeriod{period: p, plan: s.sub.PlanAt(p.Start)}
		out = append(out, renewalStep{prev: prev, next: next})
		prev = next
	}
	if prev != nil && !s.sub.Ends.IsZero() && !now.Before(s.sub.Ends) && rollsOver(prev.plan) && !s.ended[prev.period.Start.UnixMicro()] {
		out = append(out, renewalStep{prev: prev})
	}
	return out
}

// rollsOver reports whether a plan's policy writes rollover entries.
func rollsOver(p credits.Plan) bool {
	return p.Rollover.Mode == credits.RollOverCapped || p.Rollover.Mode == credits.RollOverCarry
}

// capOf returns the cap on what a plan lets roll over, if it has one.
func capOf(p credits.Plan) (credits.Credits, bool) {
	switch {
	case p.Rollover.Mode == credits.RollOverCapped:
		return p.Rollover.Max, true
	case p.Rollover.Mode == credits.RollOverCarry && p.Rollover.Max > 0:
		return p.Rollover.Max, true
	}
	return 0, false
}

// periodsEnd is the end of the n-th period of an interval, counting the
// one that starts at p.Start as the first. Every period of a subscription
// starts on a boundary of the monthly calendar of its anchor (the anchor's
// day, clamped, at its wall-clock time), so this is counted on that
// calendar: n months, or 12n.
func periodsEnd(sub credits.Subscription, p credits.Period, iv credits.Interval, n int) time.Time {
	months := n
	if iv == credits.Yearly {
		months *= 12
	}
	cal := credits.Schedule{Anchor: sub.Anchor, Interval: credits.Monthly, Location: sub.Location}
	ps := cal.Periods(p.Start, p.Start.AddDate(0, 0, 32*months))
	if len(ps) < months || !ps[0].Start.Equal(p.Start) {
		panic(fmt.Sprintf("ledgertest: period %s is not on the monthly calendar of anchor %s", p, sub.Anchor))
	}
	return ps[months-1].End
}

// keepUntil is when the part of a period's grant that may roll over
// expires (zero: never), as the plan's policy says.
func keepUntil(sub credits.Subscription, pp *planPeriod) time.Time {
	pol := pp.plan.Rollover
	var keep time.Time
	switch {
	case pol.Mode == credits.RollOverNone:
		keep = pp.period.End
	case pol.ExpireAfterPeriods > 0:
		keep = periodsEnd(sub, pp.period, pp.plan.Interval, pol.ExpireAfterPeriods)
	}
	if !pol.ExpiresAt.IsZero() && (keep.IsZero() || pol.ExpiresAt.Before(keep)) {
		keep = pol.ExpiresAt
	}
	return utc(keep)
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Drawing subscriptions.

var newYork = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic("ledgertest: " + err.Error())
	}
	return loc
})

// drawAnchor draws the start of a subscription's first period: Feb 29,
// 2024, or a day of the months around the suite's start (the 29th to 31st
// clamped where the month is shorter), at a wall-clock time that is
// sometimes one America/New_York skips or repeats.
func drawAnchor(t *rapid.T, loc *time.Location) time.Time {
	hour := rapid.SampledFrom([]int{0, 1, 2, 9, 23}).Draw(t, "anchor hour")
	minute := rapid.SampledFrom([]int{0, 30}).Draw(t, "anchor minute")
	if rapid.IntRange(0, 7).Draw(t, "leap-day anchor") == 0 {
		return time.Date(2024, time.February, 29, hour, minute, 0, 0, loc)
	}
	month := time.Month(int(start.Month()) + rapid.IntRange(-3, 1).Draw(t, "anchor month"))
	first := time.Date(start.Year(), month, 1, 0, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	day := min(rapid.SampledFrom([]int{1, 8, 15, 28, 29, 30, 31}).Draw(t, "anchor day"), last)
	return time.Date(first.Year(), first.Month(), day, hour, minute, 0, 0, loc)
}

// drawPlan draws a plan of any rollover policy.
func drawPlan(t *rapid.T) credits.Plan {
	p := credits.Plan{
		Name:     rapid.SampledFrom([]string{"basic", "pro ✓", "équipe", "工作室"}).Draw(t, "plan name"),
		Credits:  credits.Credits(rapid.IntRange(0, 100).Draw(t, "plan credits")) * credits.Credit,
		Interval: rapid.SampledFrom([]credits.Interval{credits.Monthly, credits.Monthly, credits.Monthly, credits.Yearly}).Draw(t, "interval"),
		Priority: rapid.SampledFrom([]int32{0, 0, 1, -1}).Draw(t, "plan priority"),
	}
	if rapid.IntRange(0, 3).Draw(t, "fractional credits") == 0 {
		p.Credits += credits.Credit / 3
	}
	pol := &p.Rollover
	upTo := func(label string, n int) credits.Credits {
		return credits.Credits(rapid.IntRange(1, n).Draw(t, label)) * credits.Credit
	}
	switch rapid.IntRange(0, 4).Draw(t, "rollover mode") {
	case 0:
		pol.Mode = credits.RollOverAll
	case 1:
		pol.Mode = credits.RollOverNone
	case 2, 3:
		pol.Mode, pol.Max = credits.RollOverCapped, upTo("cap", 60)
	default:
		pol.Mode = credits.RollOverCarry
		if rapid.Bool().Draw(t, "carry max") {
			pol.Max = upTo("carry max", 60)
		}
		if rapid.Bool().Draw(t, "carry min") {
			pol.Min = upTo("carry min", 15)
			if pol.Max > 0 {
				pol.Min = min(pol.Min, pol.Max)
			}
		}
		pol.CarryPriority = int32(rapid.IntRange(-1, 2).Draw(t, "carry priority"))
		pol.CarryPeriods = rapid.IntRange(0, 2).Draw(t, "carry periods")
	}
	if rapid.IntRange(0, 2).Draw(t, "expire after periods") == 0 {
		pol.ExpireAfterPeriods = rapid.IntRange(1, 3).Draw(t, "lifetime")
		if pol.Mode == credits.RollOverNone {
			pol.ExpireAfterPeriods = 1
		}
	}
	if rapid.IntRange(0, 4).Draw(t, "expires at") == 0 {
		pol.ExpiresAt = time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rapid.IntRange(-20, 100).Draw(t, "expires on day"))
	}
	return p
}

// addSubscription gives account a new subscription.
func (m *machine) addSubscription(t *rapid.T, account string) {
	m.subCount++
	var loc *time.Location
	if rapid.Bool().Draw(t, "new york") {
		loc = newYork()
	}
	sub := credits.Subscription{
		ID:       fmt.Sprintf("sub %d ✓", m.subCount),
		Anchor:   drawAnchor(t, locationOr(loc)),
		Location: loc,
		Plan:     drawPlan(t),
	}
	if err := sub.Validate(); err != nil {
		t.Fatalf("ledgertest: drew an invalid subscription: %v", err)
	}
	m.subs[account] = &subscription{account: account, sub: sub, ended: make(map[int64]bool)}
}

func locationOr(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// subscribeSome draws, as a case starts, which accounts subscribe.
func (m *machine) subscribeSome(t *rapid.T) {
	for _, a := range m.accounts {
		if rapid.IntRange(0, 2).Draw(t, "subscribed") == 0 {
			m.addSubscription(t, a)
		}
	}
}

// subscribed lists the accounts with a subscription, in a fixed order.
func (m *machine) subscribed() []*subscription {
	var out []*subscription
	for _, a := range m.accounts {
		if s := m.subs[a]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (m *machine) pickSubscription(t *rapid.T) *subscription {
	subs := m.subscribed()
	if len(subs) == 0 {
		t.Skip("no subscription")
	}
	return subs[rapid.IntRange(0, len(subs)-1).Draw(t, "subscription")]
}

// Actions.

func (m *machine) subscribe(t *rapid.T) {
	var free []string
	for _, a := range m.accounts {
		if m.subs[a] == nil {
			free = append(free, a)
		}
	}
	if len(free) == 0 {
		t.Skip("every account has a subscription")
	}
	m.addSubscription(t, rapid.SampledFrom(free).Draw(t, "account"))
}

// grantSubscriptionCredits grants credits of source subscription by hand
// (as a service might for a plan of its own) to a subscribed account:
// they join the credits a cap counts, so the next capped rollover may
// have more than the cap to drop.
func (m *machine) grantSubscriptionCredits(t *rapid.T) {
	s := m.pickSubscription(t)
	r := request{op: opGrant, account: s.account, key: m.key(t), amount: amountUpTo(t, "amount", 80), source: credits.SourceSubscription, note: note(t)}
	if rapid.IntRange(0, 3).Draw(t, "expires") == 0 {
		r.expiresAt = m.later(t, "expires in")
	}
	m.step(t, r)
}

// clockToPeriodEnd moves the clock to a subscription's next period end,
// exactly or a microsecond either side, or some hours after it; or some
// days on.
func (m *machine) clockToPeriodEnd(t *rapid.T) {
	now := m.ledger.Now()
	var target time.Time
	if s := m.subscribed(); len(s) > 0 && rapid.IntRange(0, 3).Draw(t, "days instead") != 0 {
		sub := s[rapid.IntRange(0, len(s)-1).Draw(t, "subscription")]
		target = sub.sub.PeriodAt(now).End
		switch rapid.IntRange(0, 3).Draw(t, "around the end") {
		case 0:
		case 1:
			target = target.Add(-time.Microsecond)
		case 2:
			target = target.Add(time.Microsecond)
		default:
			target = target.Add(time.Duration(rapid.IntRange(1, 72).Draw(t, "hours after")) * time.Hour)
		}
	} else {
		target = now.Add(time.Duration(rapid.IntRange(1, 35).Draw(t, "days")) * 24 * time.Hour)
	}
	d := target.Sub(now)
	if d <= 0 || d > 62*24*time.Hour {
		t.Skip("the period ends too far ahead")
	}
	m.clock.Advance(d)
}

func (m *machine) changePlan(t *rapid.T) {
	s := m.pickSubscription(t)
	plan := drawPlan(t)
	changed, err := s.sub.ChangePlan(plan, m.ledger.Now())
	if errors.Is(err, credits.ErrInvalidInput) && !s.sub.Ends.IsZero() {
		t.Skip("the subscription ends before the next period")
	}
	if err != nil {
		broke(t, ruleOutcome, "Subscription.ChangePlan(%+v) of %+v: %v", plan, s.sub, err)
	}
	s.sub = changed
}

// cancel ends the subscription with the current period, or resumes one
// that was cancelled.
func (m *machine) cancel(t *rapid.T) {
	s := m.pickSubscription(t)
	if !s.sub.Ends.IsZero() && rapid.Bool().Draw(t, "resume") {
		s.sub.Ends = time.Time{}
		return
	}
	cancelled, err := s.sub.Cancel(m.ledger.Now())
	if err != nil {
		broke(t, ruleOutcome, "Subscription.Cancel of %+v: %v", s.sub, err)
	}
	s.sub = cancelled
}

func (m *machine) renew(t *rapid.T) {
	s := m.pickSubscription(t)
	callers := 1
	if rapid.IntRange(0, 3).Draw(t, "at once") == 0 {
		callers = rapid.IntRange(2, 4).Draw(t, "callers")
	}
	now := m.ledger.Now()
	before := int64(len(m.model.account(s.account).entries))
	steps := s.steps(t, now)
	results := make([][]credits.Entry, callers)
	errs := make([]error, callers)
	if callers == 1 {
		results[0], errs[0] = m.ledger.Renew(m.ctx, s.account, s.sub)
	} else {
		atOnce(callers, func(i int) {
			results[i], errs[i] = m.ledger.Renew(m.ctx, s.account, s.sub)
		})
	}
	m.failed = false
	for i, err := range errs {
		if err != nil {
			broke(t, ruleRenewOnce, "Renew(%q, %q) at %s, caller %d of %d: %v\n%s", s.account, s.sub.ID, now, i+1, callers, err, m.historyOf(s.account))
		}
	}
	// Each entry goes back to the one caller that wrote it.
	var returned []credits.Entry
	by := make(map[int64]int)
	for i, es := range results {
		for _, e := range es {
			if first, ok := by[e.ID]; ok {
				broke(t, ruleRenewOnce, "Renew(%q, %q): callers %d and %d both wrote entry %d", s.account, s.sub.ID, first+1, i+1, e.ID)
			}
			by[e.ID] = i
			returned = append(returned, e)
		}
	}
	slices.SortFunc(returned, func(x, y credits.Entry) int { return int(x.ID - y.ID) })

	written := m.foldRenewal(t, s, steps, m.entriesAfter(t, s.account, before), now)
	if diff := cmp.Diff(written, returned, entryCmp...); diff != "" {
		broke(t, ruleRenewOnce, "Renew(%q, %q) at %s by %d callers: the grants and rollovers returned are not those written (-written +returned):\n%s",
			s.account, s.sub.ID, now, callers, diff)
	}
	for _, e := range returned {
		m.remember(e)
	}
}

// renewConflict renews with a copy of a subscription whose plan differs
// in the last period already renewed: the ledger must refuse it, with
// ErrIdempotencyConflict, and write nothing.
func (m *machine) renewConflict(t *rapid.T) {
	s := m.pickSubscription(t)
	if len(s.granted) == 0 {
		t.Skip("nothing renewed yet")
	}
	last := s.granted[len(s.granted)-1].period.Start
	changed := s.sub
	changed.Changes = slices.Clone(s.sub.Changes)
	plan := &changed.Plan
	for i := range changed.Changes {
		if !changed.Changes[i].From.After(last) {
			plan = &changed.Changes[i].Plan
		}
	}
	what := rapid.SampledFrom([]string{"credits", "name", "priority"}).Draw(t, "changed")
	switch what {
	case "credits":
		plan.Credits += credits.Credit
	case "name":
		plan.Name += " (renamed)"
	default:
		plan.Priority++
	}
	account := s.account
	before, err := m.ledger.Balance(m.ctx, account)
	if err != nil {
		broke(t, ruleBalanceIsModel, "Balance(%q): %v", account, err)
	}
	n := int64(len(m.model.account(account).entries))
	es, err := m.ledger.Renew(m.ctx, account, changed)
	m.failed = true
	var ie *credits.IdempotencyConflictError
	if !errors.Is(err, credits.ErrIdempotencyConflict) || !errors.As(err, &ie) {
		broke(t, rulePastConflict, "Renew(%q) with the %s of the plan of period %s changed: got %v, want an *IdempotencyConflictError", account, what, last, err)
	}
	if len(es) != 0 {
		broke(t, rulePastConflict, "Renew(%q) with a changed past returned %d entries with its error", account, len(es))
	}
	if after := m.entriesAfter(t, account, n); len(after) != 0 {
		broke(t, rulePastConflict, "Renew(%q) with a changed past wrote:\n%s", account, describe(after))
	}
	after, err := m.ledger.Balance(m.ctx, account)
	if err != nil || after.Total != before.Total || after.Held != before.Held || after.Version != before.Version {
		broke(t, rulePastConflict, "Renew(%q) with a changed past: balance %+v before, %+v (%v) after", account, before, after, err)
	}
}

// entriesAfter reads the account's entries after the given ID.
func (m *machine) entriesAfter(t *rapid.T, account string, after int64) []credits.Entry {
	hist, err := history(m.ctx, t, m.ledger, account, credits.HistoryQuery{After: after}, 50)
	if err != nil {
		broke(t, ruleOutcome, "History(%q) after entry %d: %v", account, after, err)
	}
	return hist
}

// foldRenewal checks the entries a renewal at now wrote (hist, in order)
// step by step, and folds them into the model. It returns the grants and
// rollovers among them: what Renew must have returned.
func (m *machine) foldRenewal(t *rapid.T, s *subscription, steps []renewalStep, hist []credits.Entry, now time.Time) []credits.Entry {
	a := m.model.account(s.account)
	what := fmt.Sprintf("Renew(%q, %q) at %s", s.account, s.sub.ID, now)
	var written []credits.Entry
	i := 0
	for _, st := range steps {
		// Each step first records what is due.
		for _, due := range a.settle(now) {
			if i >= len(hist) {
				broke(t, ruleRenewShape, "%s: the renewal did not record expiration %s of lot %d, hold %d\nhistory since:\n%s", what, due.Amount, due.Lot, due.Hold, describe(hist))
			}
			if diff := cmp.Diff(due, hist[i], entryCmpNoRH...); diff != "" {
				broke(t, ruleForDiff(due, hist[i], ruleRenewShape), "%s: entry %d is not the expiration due (-want +got):\n%s\nhistory since:\n%s", what, due.ID, diff, describe(hist))
			}
			i++
		}
		if i < len(hist) && isLotExpiry(hist[i]) {
			broke(t, ruleSpendFirst, "%s: the renewal expired %s of lot %d, which the model had spent or expired already (lots pay in spending order)\nhistory since:\n%s\n%s",
				what, -hist[i].Amount, hist[i].Lot, describe(hist), m.historyOf(s.account))
		}
		if w := s.watch; w != nil && st.prev != nil && w.period.Equal(st.prev.period) && !now.Before(w.period.End) {
			left, reserved := a.subscriptionCredits(now)
			if left+reserved > w.bound() {
				broke(t, ruleCap, "%s: when period %s (cap %s) had ended, %s subscription credits were left (and %s reserved); at most %s may be (leftover before its grant %s, reserved then %s, granted since %s)\n%s",
					what, w.period, w.cap, left, reserved, w.bound(), w.leftover, w.held, w.since, m.historyOf(s.account))
			}
		}
		var body []credits.Entry
		if st.prev != nil && rollsOver(st.prev.plan) {
			var e *credits.Entry
			if i < len(hist) && hist[i].Kind == credits.KindRollover {
				e = &hist[i]
				i++
			}
			if r, ok := m.foldRollover(t, s, st, e, now, what); ok {
				body = append(body, r)
			}
		}
		if st.next != nil {
			var grants []credits.Entry
			for i < len(hist) && len(grants) < 2 && hist[i].Kind == credits.KindGrant && hist[i].Period.Equal(st.next.period.Start) {
				grants = append(grants, hist[i])
				i++
			}
			body = append(body, m.foldGrants(t, s, st.next, grants, now, what)...)
		} else {
			s.ended[st.prev.period.Start.UnixMicro()] = true
		}
		// One entry of each step carries its key: the first grant, or the
		// rollover at the subscription's end.
		keyedAt := 0
		if st.next != nil {
			keyedAt = slices.IndexFunc(body, func(e credits.Entry) bool { return e.Kind == credits.KindGrant })
		}
		for j, e := range body {
			keyed := j == keyedAt
			switch {
			case keyed && (!strings.HasPrefix(e.Key, "$") || !strings.Contains(e.Key, s.sub.ID)):
				broke(t, ruleRenewShape, "%s: entry %d (%s of period %s) has key %q; want the ledger's own key for the step, naming subscription %q",
					what, e.ID, e.Kind, e.Period, e.Key, s.sub.ID)
			case !keyed && e.Key != "":
				broke(t, ruleRenewShape, "%s: entry %d (%s) has key %q; only the step's first grant (or its final rollover) has one", what, e.ID, e.Kind, e.Key)
			}
		}
		written = append(written, body...)
	}
	if i != len(hist) {
		rule := ruleRenewShape
		for _, e := range hist[i:] {
			if e.Kind == credits.KindGrant && e.Subscription == s.sub.ID {
				rule = ruleRenewOnce // a period granted again
			}
		}
		broke(t, rule, "%s: entries %d on are none of the steps due (%d steps, %d periods granted before):\n%s",
			what, hist[i].ID, len(steps), len(s.granted), describe(hist[i:]))
	}
	return written
}

// foldRollover checks the rollover at the end of st.prev (e, or nil if the
// renewal wrote none) against its plan's policy, and folds it into the
// model. It reports the entry, and whether there was one.
func (m *machine) foldRollover(t *rapid.T, s *subscription, st renewalStep, e *credits.Entry, now time.Time, what string) (credits.Entry, bool) {
	a := m.model.account(s.account)
	pol := st.prev.plan.Rollover
	left, _ := a.subscriptionCredits(now)
	final := st.next == nil
	rule := ruleRolloverCap
	if pol.Mode == credits.RollOverCarry {
		rule = ruleCarry
	}
	if e == nil {
		switch {
		case final:
			broke(t, ruleRenewShape, "%s: the subscription ended with period %s; no rollover was written\n%s", what, st.prev.period, m.historyOf(s.account))
		case pol.Mode == credits.RollOverCapped && left > pol.Max:
			broke(t, ruleRolloverCap, "%s: %s subscription credits were left when period %s ended, over the cap of %s, and no rollover dropped them\n%s",
				what, left, st.prev.period, pol.Max, m.historyOf(s.account))
		case pol.Mode == credits.RollOverCarry && left > 0:
			broke(t, ruleCarry, "%s: %s subscription credits were left when period %s ended, and no rollover carried or dropped them\n%s",
				what, left, st.prev.period, m.historyOf(s.account))
		}
		return credits.Entry{}, false
	}
	if e.Amount > 0 {
		broke(t, ruleRolloverNoCredits, "%s: rollover %d adds %s", what, e.ID, e.Amount)
	}
	drop := -e.Amount
	if drop > left {
		broke(t, rule, "%s: rollover %d drops %s; only %s unreserved subscription credits were left", what, e.ID, drop, left)
	}
	carried := e.Carried
	if carried < 0 {
		broke(t, ruleCarry, "%s: rollover %d says it carried %s", what, e.ID, carried)
	}
	var carryExpires time.Time
	switch pol.Mode {
	case credits.RollOverCapped:
		if carried != 0 {
			broke(t, ruleCarry, "%s: the capped rollover %d carries %s", what, e.ID, carried)
		}
		if want := min(left, pol.Max); left-drop != want {
			broke(t, ruleRolloverCap, "%s: with %s left and a cap of %s, rollover %d drops %s, leaving %s; want %s left",
				what, left, pol.Max, e.ID, drop, left-drop, want)
		}
	default:
		want := left
		if pol.Max > 0 {
			want = min(want, pol.Max)
		}
		if want < pol.Min {
			want = 0
		}
		if carried > 0 && (carried < pol.Min || pol.Max > 0 && carried > pol.Max) {
			broke(t, ruleCarry, "%s: rollover %d carries %s, outside [%s, %s]", what, e.ID, carried, pol.Min, pol.Max)
		}
		if carried != want || drop+carried != left {
			broke(t, ruleCarry, "%s: with %s left (min %s, max %s), rollover %d carries %s and drops %s; want %s carried and the rest dropped",
				what, left, pol.Min, pol.Max, e.ID, carried, drop, want)
		}
		if carried > 0 && pol.CarryPeriods > 0 {
			carryExpires = utc(periodsEnd(s.sub, st.prev.period, st.prev.plan.Interval, 1+pol.CarryPeriods))
		}
	}
	if drop == 0 && carried == 0 && !final {
		broke(t, ruleRenewShape, "%s: rollover %d at the end of period %s moves nothing", what, e.ID, st.prev.period)
	}
	id := a.nextID()
	want := credits.Entry{Kind: credits.KindRollover, Amount: -drop, Source: credits.SourceSubscription, Period: utc(st.prev.period.Start),
		PeriodEnd: utc(st.prev.period.End), Subscription: s.sub.ID, Key: e.Key}
	if carried > 0 {
		want.Lot, want.Priority, want.ExpiresAt, want.Carried = id, pol.CarryPriority, carryExpires, carried
	}
	if got := a.rollover(drop, carried > 0, want.Priority, want.ExpiresAt, now); got != carried {
		broke(t, ruleCarry, "%s: rollover %d says it carried %s; the lots it emptied held %s", what, e.ID, carried, got)
	}
	want = a.record(want, now)
	if diff := cmp.Diff(want, *e, entryCmpNoRH...); diff != "" {
		broke(t, rule, "%s: the rollover at the end of period %s (%s left, policy %+v) differs (-want +got):\n%s", what, st.prev.period, left, pol, diff)
	}
	return *e, true
}

// foldGrants checks the grant of period pp (one lot, or two under a cap:
// the part that may be over the cap at the period's end, expiring then,
// first) and folds it into the model.
func (m *machine) foldGrants(t *rapid.T, s *subscription, pp *planPeriod, grants []credits.Entry, now time.Time, what string) []credits.Entry {
	a := m.model.account(s.account)
	plan := pp.plan
	if len(grants) == 0 {
		broke(t, ruleRenewOnce, "%s: period %s (plan %q, %s credits) was not granted\n%s", what, pp.period, plan.Name, plan.Credits, m.historyOf(s.account))
	}
	var sum credits.Credits
	for _, g := range grants {
		sum += g.Amount
	}
	if sum != plan.Credits {
		broke(t, ruleRenewOnce, "%s: period %s was granted %s in %d lots; its plan %q gives %s\n%s", what, pp.period, sum, len(grants), plan.Name, plan.Credits, describe(grants))
	}
	keep := keepUntil(s.sub, pp)
	riskEnd := utc(pp.period.End)
	if !keep.IsZero() && keep.Before(riskEnd) {
		riskEnd = keep
	}
	cp, capped := capOf(plan)
	var ok bool
	switch len(grants) {
	case 1:
		g := grants[0]
		ok = g.ExpiresAt.Equal(keep) || capped && g.Amount > 0 && g.ExpiresAt.Equal(riskEnd)
	case 2:
		ok = capped && grants[0].Amount > 0 && grants[1].Amount > 0 && grants[0].ExpiresAt.Equal(riskEnd) && grants[1].ExpiresAt.Equal(keep)
	}
	if !ok {
		broke(t, ruleGrantExpiry, "%s: period %s (policy %+v) was granted as:\n%sthe part that rolls over must expire at %s (zero: never), the part over the cap of %s (if any, first) at %s",
			what, pp.period, plan.Rollover, describe(grants), keep, cp, riskEnd)
	}
	left, reserved := a.subscriptionCredits(now)
	for _, g := range grants {
		want := credits.Entry{Kind: credits.KindGrant, Amount: g.Amount, Source: credits.SourceSubscription, ExpiresAt: g.ExpiresAt,
			Priority: plan.Priority, Period: utc(pp.period.Start), PeriodEnd: utc(pp.period.End), Subscription: s.sub.ID, Plan: plan.Name, Key: g.Key}
		want.Lot = a.creditsIn(mLot{id: a.nextID(), source: credits.SourceSubscription, priority: want.Priority, expiresAt: want.ExpiresAt, remaining: want.Amount}, now)
		want = a.record(want, now)
		if diff := cmp.Diff(want, g, entryCmpNoRH...); diff != "" {
			broke(t, ruleHistoryIsModel, "%s: the grant of period %s differs (-want +got):\n%s", what, pp.period, diff)
		}
	}
	s.granted = append(s.granted, *pp)
	s.watch = nil
	if capped {
		s.watch = &capWatch{period: pp.period, cap: cp, leftover: left, held: reserved}
	}
	return grants
}

// sawGrant tells the cap rule about subscription credits granted by hand.
func (m *machine) sawGrant(r request, e credits.Entry) {
	if s := m.subs[r.account]; s != nil && s.watch != nil && r.op == opGrant && r.source == credits.SourceSubscription {
		s.watch.since += e.Amount
	}
}

// checkSubscription checks, after every step, the rules of an account's
// subscription that its history must keep: each period renewed so far
// granted once, with its plan's credits, and no other; and the cap of the
// last period granted, once that period has ended.
func (m *machine) checkSubscription(t *rapid.T, s *subscription, hist []credits.Entry) {
	type sums struct {
		amount credits.Credits
		lots   int
	}
	byPeriod := make(map[int64]*sums)
	for _, e := range hist {
		if e.Kind != credits.KindGrant || e.Subscription != s.sub.ID {
			continue
		}
		k := e.Period.UnixMicro()
		if byPeriod[k] == nil {
			byPeriod[k] = new(sums)
		}
		byPeriod[k].amount += e.Amount
		byPeriod[k].lots++
	}
	for _, g := range s.granted {
		got := byPeriod[g.period.Start.UnixMicro()]
		if got == nil || got.amount != g.plan.Credits || got.lots > 2 {
			broke(t, ruleRenewOnce, "account %q: period %s of subscription %q was granted %+v; its plan gives %s\n%s", s.account, g.period, s.sub.ID, got, g.plan.Credits, describe(hist))
		}
		delete(byPeriod, g.period.Start.UnixMicro())
	}
	for k, got := range byPeriod {
		broke(t, ruleRenewOnce, "account %q: subscription %q granted %s for a period starting %s, which was never renewed", s.account, s.sub.ID, got.amount, time.UnixMicro(k).UTC())
	}
	now := m.ledger.Now()
	if w := s.watch; w != nil && !now.Before(w.period.End) {
		left, reserved := m.model.account(s.account).settled(now).subscriptionCredits(now)
		if left+reserved > w.bound() {
			broke(t, ruleCap, "account %q at %s: period %s (cap %s) has ended and %s subscription credits are left (and %s reserved); at most %s may be (leftover before its grant %s, reserved then %s, granted since %s)\n%s",
				s.account, now, w.period, w.cap, left, reserved, w.bound(), w.leftover, w.held, w.since, m.historyOf(s.account))
		}
	}
}
