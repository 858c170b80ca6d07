package ledgertest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// Spenders and budgets in the model and the state machine: what the
// ledger's doc says a budget is (see the credits package doc, "Spenders and
// budgets"), written again with plain slices and maps.

// mBudget is a budget in force.
type mBudget struct {
	scope string // a spender, a group "prefix*", or "" (the default)
	cap   credits.Credits
	unit  credits.WindowUnit
	zone  string
	sub   string
	entry int64
}

// mSum is what one budget counted in a window.
type mSum struct {
	start, end time.Time
	spent      credits.Credits
}

func group(scope string) (prefix string, ok bool) { return strings.CutSuffix(scope, "*") }

func (a *mAccount) budgetIndex(scope string) int {
	return slices.IndexFunc(a.budgets, func(b mBudget) bool { return b.scope == scope })
}

// covers lists the budgets that hold spender: its own, or else the
// default if no group holds it either; then its groups, by scope.
func (a *mAccount) covers(spender string) []mBudget {
	if spender == "" {
		return nil
	}
	var own, def *mBudget
	var groups []mBudget
	for i := range a.budgets {
		b := a.budgets[i]
		if p, ok := group(b.scope); ok && strings.HasPrefix(spender, p) {
			groups = append(groups, b)
		} else if b.scope == spender {
			own = &a.budgets[i]
		} else if b.scope == "" {
			def = &a.budgets[i]
		}
	}
	slices.SortFunc(groups, func(x, y mBudget) int { return strings.Compare(x.scope, y.scope) })
	var out []mBudget
	switch {
	case own != nil:
		out = append(out, *own)
	case def != nil && len(groups) == 0:
		out = append(out, *def)
	}
	return append(out, groups...)
}

// sumOf is the name of the sum b keeps for spender.
func sumOf(b mBudget, spender string) string {
	if _, ok := group(b.scope); ok {
		return b.scope
	}
	return spender
}

// budgetOfSum is the budget whose sum is named name, if any.
func (a *mAccount) budgetOfSum(name string) (mBudget, bool) {
	if _, ok := group(name); ok {
		i := a.budgetIndex(name)
		if i < 0 {
			return mBudget{}, false
		}
		return a.budgets[i], true
	}
	for _, b := range a.covers(name) {
		if _, ok := group(b.scope); !ok {
			return b, true
		}
	}
	return mBudget{}, false
}

var zoneCache sync.Map

func zoneNamed(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if loc, ok := zoneCache.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("ledgertest: " + err.Error())
	}
	zoneCache.Store(name, loc)
	return loc
}

// window is b's window that contains t: its start and end (zero: not
// known). A billing period is the last the account's history granted of
// the subscription, going on from its end until the next is granted.
func (a *mAccount) window(b mBudget, t time.Time) (start, end time.Time) {
	if b.unit == credits.WindowBillingPeriod {
		var last *credits.Entry
		for i := range a.entries {
			if e := &a.entries[i]; e.Kind == credits.KindGrant && e.Subscription == b.sub && !e.Period.IsZero() {
				last = e
			}
		}
		switch {
		case last == nil:
			return time.Time{}, time.Time{}
		case !last.PeriodEnd.IsZero() && !t.Before(last.PeriodEnd):
			return last.PeriodEnd, time.Time{}
		}
		return last.Period, last.PeriodEnd
	}
	loc := zoneNamed(b.zone)
	local := t.In(loc)
	y, m, d := local.Date()
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC() }
	switch b.unit {
	case credits.WindowDay:
		return at(y, m, d), at(y, m, d+1)
	case credits.WindowWeek:
		monday := d
		for wd := local.Weekday(); wd != time.Monday; wd = (wd + 6) % 7 {
			monday--
		}
		return at(y, m, monday), at(y, m, monday+7)
	}
	return at(y, m, 1), at(y, m+1, 1)
}

// counts reports whether sum s counts for b's window that contains t.
func (a *mAccount) counts(b mBudget, s mSum, t time.Time) bool {
	if b.unit == credits.WindowBillingPeriod {
		start, _ := a.window(b, t)
		return start.Equal(s.start)
	}
	return !t.Before(s.start) && t.Before(s.end)
}

func (a *mAccount) spentIn(b mBudget, name string, t time.Time) credits.Credits {
	if s, ok := a.sums[name]; ok && a.counts(b, s, t) {
		return s.spent
	}
	return 0
}

func (a *mAccount) heldFor(b mBudget, spender string) credits.Credits {
	var held credits.Credits
	for _, h := range a.holds {
		p, isGroup := group(b.scope)
		if h.spender == spender || isGroup && h.spender != "" && strings.HasPrefix(h.spender, p) {
			held += h.amount
		}
	}
	return held
}

func (a *mAccount) wantWindow(b mBudget) credits.Window {
	w := credits.Window{Unit: b.unit, Subscription: b.sub}
	if b.zone != "" {
		w.Location = zoneNamed(b.zone)
	}
	return w
}

// overBudget is the error a charge or hold of need by spender at t must
// fail with, or nil: the first budget that covers it and cannot take need.
func (a *mAccount) overBudget(spender string, need credits.Credits, t time.Time) *credits.BudgetExceededError {
	for _, b := range a.covers(spender) {
		spent, held := a.spentIn(b, sumOf(b, spender), t), a.heldFor(b, spender)
		if spent+held+need > b.cap {
			_, end := a.window(b, t)
			return &credits.BudgetExceededError{Account: a.name, Spender: spender, Budget: b.scope, Cap: b.cap, Window: a.wantWindow(b),
				Spent: spent, Held: held, Requested: need, ResetsAt: end}
		}
	}
	return nil
}

// addSpent counts amount spent by spender at t in every budget that
// covers it, starting a sum over where its window has moved on.
func (a *mAccount) addSpent(spender string, amount credits.Credits, t time.Time) {
	for _, b := range a.covers(spender) {
		name := sumOf(b, spender)
		s, ok := a.sums[name]
		if !ok || !a.counts(b, s, t) {
			s.start, s.end = a.window(b, t)
			s.spent = 0
		}
		s.spent += amount
		a.sums[name] = s
	}
}

// applyBudget sets (or removes) the budget of e.Spender, made as entry id
// at t; every sum then counts for the budget that now covers its name,
// carrying what it counted at t into a new window if its window changed,
// or is dropped if no budget covers its name any more.
func (a *mAccount) applyBudget(e credits.Entry, id int64, t time.Time) {
	type was struct {
		b     mBudget
		spent credits.Credits
	}
	before := make(map[string]was)
	for name := range a.sums {
		if b, ok := a.budgetOfSum(name); ok {
			before[name] = was{b, a.spentIn(b, name, t)}
		}
	}
	if i := a.budgetIndex(e.Spender); i >= 0 {
		a.budgets = slices.Delete(a.budgets, i, i+1)
	}
	if e.Window != 0 {
		a.budgets = append(a.budgets, mBudget{scope: e.Spender, cap: e.Cap, unit: e.Window, zone: e.Zone, sub: e.Subscription, entry: id})
	}
	for name, s := range a.sums {
		b, ok := a.budgetOfSum(name)
		w, had := before[name]
		switch {
		case !ok || !had:
			delete(a.sums, name)
		case b.unit != w.b.unit || b.zone != w.b.zone || b.sub != w.b.sub:
			s.start, s.end = a.window(b, t)
			s.spent = w.spent
			a.sums[name] = s
		}
	}
}

// usage is what Ledger.Usage must report for spender (or a group's scope)
// at now, the account settled.
func (a *mAccount) usage(spender string, now time.Time) []credits.Usage {
	var bs []mBudget
	if _, ok := group(spender); ok {
		if i := a.budgetIndex(spender); i >= 0 {
			bs = append(bs, a.budgets[i])
		}
	} else {
		bs = a.covers(spender)
	}
	var out []credits.Usage
	for _, b := range bs {
		u := credits.Usage{Budget: credits.Budget{Spender: b.scope, Cap: b.cap, Window: a.wantWindow(b), Entry: b.entry},
			Spent: a.spentIn(b, sumOf(b, spender), now), Held: a.heldFor(b, spender)}
		u.Start, u.ResetsAt = a.window(b, now)
		u.Remaining = max(b.cap-u.Spent-u.Held, 0)
		out = append(out, u)
	}
	return out
}

// windowCmp compares windows by what they mean: a zone by its name.
var windowCmp = cmp.Transformer("window", func(w credits.Window) string { return w.String() })

// The machine's spenders and budgets.

// spenders are the spenders a case's charges and holds name, "" (none)
// the most often; scopes are what its budgets cap.
var (
	spenders = []string{"", "", "key_1", "key_2", "agent-ü"}
	scopes   = []string{"key_1", "key_2", "agent-ü", "key_*", "*", ""}
	zoneList = []string{"", "America/New_York", "Asia/Kolkata"}
)

func (m *machine) spender(t *rapid.T) string {
	return rapid.SampledFrom(spenders).Draw(t, "spender")
}

// budget sets, changes or removes a budget of one of the case's scopes.
func (m *machine) budget(t *rapid.T) {
	account := m.account(t)
	r := request{op: opBudget, account: account, key: m.key(t), spender: rapid.SampledFrom(scopes).Draw(t, "scope"), note: note(t)}
	if rapid.IntRange(0, 5).Draw(t, "remove") == 0 {
		r.remove = true
		m.step(t, r)
		return
	}
	r.capped = amountUpTo(t, "cap", 30)
	if rapid.IntRange(0, 9).Draw(t, "zero cap") == 0 {
		r.capped = 0
	}
	r.window = rapid.SampledFrom([]credits.WindowUnit{credits.WindowDay, credits.WindowDay, credits.WindowWeek, credits.WindowMonth, credits.WindowBillingPeriod}).Draw(t, "window")
	if r.window == credits.WindowBillingPeriod {
		r.sub = "no such subscription"
		if s := m.subs[account]; s != nil && rapid.IntRange(0, 4).Draw(t, "other subscription") != 0 {
			r.sub = s.sub.ID
		}
	} else {
		r.zone = rapid.SampledFrom(zoneList).Draw(t, "zone")
	}
	m.step(t, r)
}

// usage compares Ledger.Usage of a spender, or of a group, with the
// model's.
func (m *machine) usage(t *rapid.T) {
	account := m.account(t)
	spender := rapid.SampledFrom([]string{"key_1", "key_2", "agent-ü", "key_*", "*", "nobody"}).Draw(t, "spender")
	now := m.ledger.Now()
	want := m.model.account(account).settled(now).usage(spender, now)
	got, err := m.ledger.Usage(m.ctx, account, spender)
	if err != nil {
		broke(t, ruleUsage, "Usage(%q, %q): %v", account, spender, err)
	}
	if diff := cmp.Diff(want, got, windowCmp); diff != "" {
		broke(t, ruleUsage, "Usage(%q, %q) at %s (-want +got):\n%s\n%s", account, spender, now, diff, m.historyOf(account))
	}
}

// checkOver compares a *BudgetExceededError with the model's.
func checkOver(t failer, r request, err error, want *credits.BudgetExceededError) {
	t.Helper()
	var got *credits.BudgetExceededError
	if !errors.As(err, &got) {
		broke(t, ruleBudgetError, "%s: got %v, want a *credits.BudgetExceededError", r, err)
	}
	if diff := cmp.Diff(want, got, windowCmp); diff != "" {
		broke(t, ruleBudgetError, "%s: the *BudgetExceededError differs (-want +got):\n%s", r, diff)
	}
}
