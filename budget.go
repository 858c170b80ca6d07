package credits

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Spenders and budgets: the types, the operations (SetBudget, Budgets,
// Usage) and the state they keep. What a budget counts is in the package
// doc, "Spenders and budgets".

// WindowUnit is the length of a budget's window. The zero value is not a
// window.
type WindowUnit uint8

// The budget windows.
const (
	WindowDay           WindowUnit = iota + 1 // day: midnight to midnight in the window's zone
	WindowWeek                                // week: Monday 00:00 to the next Monday 00:00 in the zone
	WindowMonth                               // month: the 1st 00:00 to the next month's 1st in the zone
	WindowBillingPeriod                       // billing_period: a subscription's billing period, as Renew granted it

	numWindowUnits = iota + 1
)

var windowUnitNames = [numWindowUnits]string{WindowDay: "day", WindowWeek: "week", WindowMonth: "month", WindowBillingPeriod: "billing_period"}

// Valid reports whether u is one of the defined windows.
func (u WindowUnit) Valid() bool { return u > 0 && u < numWindowUnits }

var windowUnitEnum = newEnum[WindowUnit]("WindowUnit", "window", "budget window", windowUnitNames[:], true, false)

// String returns "day", "week", "month" or "billing_period"; "" for the
// zero value.
func (u WindowUnit) String() string { return windowUnitEnum.string(u) }

// ParseWindowUnit returns the window named s, exactly as
// [WindowUnit.String] prints it. An unknown name ("" included) is an
// [*InputError] naming it and listing the valid names.
func ParseWindowUnit(s string) (WindowUnit, error) { return windowUnitEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (u WindowUnit) MarshalText() ([]byte, error) { return windowUnitEnum.marshalText(u) }

// UnmarshalText implements encoding.TextUnmarshaler with
// [ParseWindowUnit]. On error u is left unchanged.
func (u *WindowUnit) UnmarshalText(b []byte) error { return windowUnitEnum.unmarshalText(u, b) }

// Window is what a budget's cap is per: a day, week or month in a time
// zone, or the billing period of one of the account's subscriptions.
//
// A billing-period window is the period [Ledger.Renew] last granted of the
// subscription. Once that period has ended and until Renew grants the next,
// the window goes on from its end (the next period starts there, so
// nothing resets twice); before the subscription's first grant, the window
// has no start. Its reset is unknown (zero) until the period is granted.
type Window struct {
	Unit WindowUnit
	// Location is the zone whose midnight starts a day, week or month
	// window; nil means UTC. It must have a name that time.LoadLocation
	// knows (an IANA zone such as "Europe/Paris"), since the ledger
	// stores the name: not time.Local, not a fixed offset. A service
	// whose system has no zone database imports time/tzdata.
	Location *time.Location
	// Subscription is the ID of the subscription whose billing periods
	// are the windows (WindowBillingPeriod only).
	Subscription string
}

// Day returns the window of a day in loc (nil: UTC).
func Day(loc *time.Location) Window { return Window{Unit: WindowDay, Location: loc} }

// Week returns the window of a week, from Monday, in loc (nil: UTC).
func Week(loc *time.Location) Window { return Window{Unit: WindowWeek, Location: loc} }

// Month returns the window of a calendar month in loc (nil: UTC).
func Month(loc *time.Location) Window { return Window{Unit: WindowMonth, Location: loc} }

// BillingPeriod returns the window of the billing periods of the
// subscription with the given ID.
func BillingPeriod(subscription string) Window {
	return Window{Unit: WindowBillingPeriod, Subscription: subscription}
}

// String describes the window: "day in Europe/Paris", "month in UTC",
// "billing period of sub-7".
func (w Window) String() string {
	if w.Unit == WindowBillingPeriod {
		return "billing period of " + w.Subscription
	}
	return w.Unit.String() + " in " + locationOrUTC(w.Location).String()
}

type windowJSON struct {
	Unit         WindowUnit `json:"unit"`
	Zone         string     `json:"zone,omitempty"`
	Subscription string     `json:"subscription,omitempty"`
}

// MarshalJSON encodes the window as {"unit": "day", "zone":
// "Europe/Paris"} or {"unit": "billing_period", "subscription": "sub-7"}.
func (w Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowJSON{Unit: w.Unit, Zone: zoneName(w.Location), Subscription: w.Subscription})
}

// UnmarshalJSON decodes the form MarshalJSON writes; a zone is loaded
// with time.LoadLocation.
func (w *Window) UnmarshalJSON(b []byte) error {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Window{Unit: j.Unit, Subscription: j.Subscription}
	if j.Zone != "" {
		loc, err := loadZone(j.Zone)
		if err != nil {
			return inputErr("window.zone", j.Zone, "unknown time zone")
		}
		out.Location = loc
	}
	*w = out
	return nil
}

// zoneName is the name the ledger stores for loc: "" for UTC.
func zoneName(loc *time.Location) string {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		return ""
	}
	return loc.String()
}

// zones caches the locations of the zones budgets name (time.LoadLocation
// reads the zone database on every call).
var zones sync.Map // name -> *time.Location

func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// validate checks the window; prefix names its field in errors.
func (w *Window) validate(prefix string) error {
	if !w.Unit.Valid() {
		return inputErr(prefix+"unit", w.Unit.String(), windowUnitEnum.unknown)
	}
	if w.Unit == WindowBillingPeriod {
		if w.Location != nil {
			return inputErr(prefix+"location", w.Location.String(), "a billing period has its subscription's zone: give none")
		}
		return checkText(prefix+"subscription", w.Subscription, maxSubscriptionIDLen)
	}
	if w.Subscription != "" {
		return inputErr(prefix+"subscription", w.Subscription, "only a billing_period window names a subscription")
	}
	if w.Location == time.Local {
		return inputErr(prefix+"location", "Local", "the machine's local zone has no stable name: give an IANA zone")
	}
	if name := zoneName(w.Location); name != "" {
		if _, err := loadZone(name); err != nil {
			return inputErr(prefix+"location", name, "not a zone time.LoadLocation knows (give an IANA zone, not a fixed offset)")
		}
	}
	return nil
}

// BudgetRequest sets, changes or removes the budget of a spender or a
// group of spenders.
type BudgetRequest struct {
	Key string // idempotency key (required)

	// Spender names what the budget caps:
	//
	//	"key_live_7"  that spender;
	//	"key_*"       every spender whose name begins with "key_", together (one cap for all);
	//	"*"           every spender, together;
	//	""            the default: each spender no other budget covers, each on its own.
	//
	// A spender name is what [ChargeRequest.Spender] takes: 1 to 255
	// bytes, no control characters, no '*', not beginning with '$'.
	Spender string

	Cap    Credits // the most the spenders may spend and hold in one window; zero: nothing
	Window Window  // what the cap is per

	// Remove removes the budget instead (Cap and Window must be zero):
	// the spenders are held to the budgets left, if any.
	Remove bool

	Metadata map[string]string
}

// Budget is a budget in force on an account.
type Budget struct {
	Spender string  `json:"spender"` // what it caps, as [BudgetRequest.Spender] names it
	Cap     Credits `json:"cap"`
	Window  Window  `json:"window"`
	Entry   int64   `json:"entry"` // the budget entry that set it
}

// Usage is what the spenders of one budget spent and hold in its current
// window.
type Usage struct {
	Budget    Budget    `json:"budget"`
	Start     time.Time `json:"start,omitzero"`     // the start of the current window (zero: a billing period not granted yet)
	ResetsAt  time.Time `json:"resets_at,omitzero"` // when the window ends and the count starts over (zero: not known yet)
	Spent     Credits   `json:"spent"`              // charged and captured in the window
	Held      Credits   `json:"held"`               // held by their open holds
	Remaining Credits   `json:"remaining"`          // Cap - Spent - Held, at least zero: the most a charge or hold may take now
}

// SetBudget sets the budget of r.Spender (a spender, a group "prefix*", or
// "" for the default), replacing any it had; with r.Remove, removes it.
// The change is an entry of kind budget in the account's history, made
// once per idempotency key. It takes effect for every charge and hold
// decided after it; what a budget counts is in the package doc,
// "Spenders and budgets".
// Removing a budget the account does not have is an [*InputError].
func (l *Ledger) SetBudget(ctx context.Context, account string, r BudgetRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpSetBudget, account, r.Key)
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if err := checkScope("spender", r.Spender); err != nil {
		return Entry{}, err
	}
	e := Entry{Kind: KindBudget, Spender: r.Spender, Metadata: r.Metadata}
	if r.Remove {
		if r.Cap != 0 || r.Window != (Window{}) {
			return Entry{}, inputErr("remove", "", "a removal takes no cap and no window")
		}
	} else {
		if r.Cap < 0 {
			return Entry{}, inputErr("cap", r.Cap.String(), "must not be negative")
		}
		if err := r.Window.validate("window."); err != nil {
			return Entry{}, err
		}
		e.Cap, e.Window, e.Zone, e.Subscription = r.Cap, r.Window.Unit, zoneName(r.Window.Location), r.Window.Subscription
	}
	e.RequestHash = requestHash(&e)
	check := func(s *AccountState, e *Entry) error {
		if r.Remove && s.budgetIndex(e.Spender) < 0 {
			return inputErr("spender", e.Spender, "has no budget to remove")
		}
		return nil
	}
	return l.run(ctx, &ob, OpSetBudget, account, r.Key, l.Now(), e, check)
}

// Budgets returns the account's budgets, in the order of what they cap
// (the default, "", first).
func (l *Ledger) Budgets(ctx context.Context, account string) (_ []Budget, err error) {
	ob := l.begin(ctx, OpBudgets, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	s, err := l.load(ctx, OpBudgets, account)
	if err != nil {
		return nil, err
	}
	out := make([]Budget, 0, len(s.budgets))
	for i := range s.budgets {
		out = append(out, s.budgets[i].public())
	}
	return out, nil
}

// Usage returns, for each budget that covers spender, what its spenders
// spent and hold in its current window, at the ledger's clock: the
// spender's own budget (or the default), then its groups' in the order of
// their names; none if no budget covers it. A spender with several budgets
// may take at most the least Remaining of them. spender may also name a
// group ("key_*"): the usage of that group's budget, if it has one.
func (l *Ledger) Usage(ctx context.Context, account, spender string) (_ []Usage, err error) {
	ob := l.begin(ctx, OpUsage, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	if spender == "" {
		return nil, inputErr("spender", "", "required: a spender, or a group (\"key_*\")")
	}
	if err := checkScope("spender", spender); err != nil {
		return nil, err
	}
	s, err := l.load(ctx, OpUsage, account)
	if err != nil {
		return nil, err
	}
	now := l.Now()
	settle(s, account, s.writeTime(now))
	now = s.writeTime(now)
	var out []Usage
	if isGroup(spender) {
		if i := s.budgetIndex(spender); i >= 0 {
			out = append(out, s.usage(&s.budgets[i], spender, now))
		}
		return out, nil
	}
	s.covering(spender, func(b *budget) bool {
		out = append(out, s.usage(b, spender, now))
		return true
	})
	return out, nil
}

// BudgetExceededError reports a charge or hold that would take a spender
// over a budget's cap. It matches [ErrBudgetExceeded] with errors.Is.
type BudgetExceededError struct {
	Account   string
	Spender   string    // the spender of the charge or hold
	Budget    string    // what the budget caps: the spender, its group ("key_*"), or "" (the default)
	Cap       Credits   // the budget's cap per window
	Window    Window    // the budget's window
	Spent     Credits   // charged and captured in the current window, before this request
	Held      Credits   // held by open holds, before this request
	Requested Credits   // what the charge or hold asked for
	ResetsAt  time.Time // when the window ends and the count starts over (zero: not known yet)
}

// Error names the spender, the budget, and what is spent, held and asked.
func (e *BudgetExceededError) Error() string {
	scope := "its budget"
	switch {
	case e.Budget == "":
		scope = "the default budget"
	case e.Budget != e.Spender:
		scope = fmt.Sprintf("the budget of %q", e.Budget)
	}
	resets := "resets when the next period is granted"
	if !e.ResetsAt.IsZero() {
		resets = "resets at " + e.ResetsAt.Format(time.RFC3339)
	}
	return fmt.Sprintf("account %q: spender %q: %s of %s per %s is exceeded: %s spent and %s held, %s more asked (%s)",
		e.Account, e.Spender, scope, e.Cap, e.Window, e.Spent, e.Held, e.Requested, resets)
}

// Unwrap returns [ErrBudgetExceeded].
func (e *BudgetExceededError) Unwrap() error { return ErrBudgetExceeded }

// checkSpender accepts a spender a charge or hold may name ("" for none).
func checkSpender(field, s string) error {
	if s == "" {
		return nil
	}
	if err := checkText(field, s, maxKeyLen); err != nil {
		return err
	}
	if strings.HasPrefix(s, reservedPrefix) {
		return inputErr(field, s, "names beginning with '$' are reserved")
	}
	if strings.ContainsRune(s, '*') {
		return inputErr(field, s, "must not contain '*' (it names groups in budgets)")
	}
	return nil
}

// checkScope accepts what a budget may cap: "" (the default), a spender,
// or a group, a spender-name prefix followed by '*'.
func checkScope(field, scope string) error {
	if prefix, ok := strings.CutSuffix(scope, "*"); ok {
		if prefix == "" {
			return nil
		}
		if err := checkSpender(field, prefix); err != nil {
			return inputErr(field, scope, "a group is a spender-name prefix followed by one '*'")
		}
		return nil
	}
	return checkSpender(field, scope)
}

func isGroup(scope string) bool { return strings.HasSuffix(scope, "*") }

// The state of budgets. budgets holds the account's budgets, sorted by
// scope; spends the running sums of their current windows, sorted by name:
// one per spender held to its own budget or the default (named by the
// spender) and one per group budget (named by its scope). A sum is made at
// the first charge or capture it counts, and always counts for the window
// of the budget that covers its name (a budget entry moves the sums it
// changes to the new window: see applyBudget).

// budget is one budget in force.
type budget struct {
	Scope  string     `json:"scope"`
	Cap    Credits    `json:"cap"`
	Window WindowUnit `json:"window"`
	Zone   string     `json:"zone,omitempty"`
	Sub    string     `json:"subscription,omitempty"`
	Entry  int64      `json:"entry"`
}

// spend is the running sum of one budget's current window.
type spend struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"` // zero: not known (a billing period not granted yet)
	Spent Credits   `json:"spent"`
}

func (b *budget) public() Budget {
	w := Window{Unit: b.Window, Subscription: b.Sub}
	if b.Zone != "" {
		w.Location, _ = loadZone(b.Zone)
	}
	return Budget{Spender: b.Scope, Cap: b.Cap, Window: w, Entry: b.Entry}
}

func (b *budget) sameWindow(o *budget) bool {
	return b.Window == o.Window && b.Zone == o.Zone && b.Sub == o.Sub
}

// window returns the budget's window that contains t: its start and end
// (a zero end: not known yet).
func (s *AccountState) window(b *budget, t time.Time) (start, end time.Time) {
	if b.Window == WindowBillingPeriod {
		i := s.subIndex(b.Sub)
		if i < 0 {
			return time.Time{}, time.Time{}
		}
		m := &s.subs[i]
		if !m.End.IsZero() && !t.Before(m.End) {
			return m.End, time.Time{}
		}
		return m.Start, m.End
	}
	loc, err := loadZone(b.Zone)
	if err != nil {
		loc = time.UTC // a zone this machine's database lacks (see Window.Location)
	}
	lt := t.In(loc)
	y, mo, d := lt.Date()
	switch b.Window {
	case WindowWeek:
		d -= (int(lt.Weekday()) + 6) % 7 // back to Monday
		start, end = time.Date(y, mo, d, 0, 0, 0, 0, loc), time.Date(y, mo, d+7, 0, 0, 0, 0, loc)
	case WindowMonth:
		start, end = time.Date(y, mo, 1, 0, 0, 0, 0, loc), time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
	default:
		start, end = time.Date(y, mo, d, 0, 0, 0, 0, loc), time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	}
	return start.UTC(), end.UTC()
}

// current reports whether the sum sp counts for the window of b that
// contains t.
func (s *AccountState) current(b *budget, sp *spend, t time.Time) bool {
	if b.Window != WindowBillingPeriod {
		return t.Before(sp.End) && !t.Before(sp.Start)
	}
	start, _ := s.window(b, t)
	return start.Equal(sp.Start)
}

func (s *AccountState) budgetIndex(scope string) int {
	for i := range s.budgets {
		if s.budgets[i].Scope == scope {
			return i
		}
	}
	return -1
}

func (s *AccountState) spendIndex(name string) int {
	for i := range s.spends {
		if s.spends[i].Name == name {
			return i
		}
	}
	return -1
}

// covering calls f with every budget that covers spender, in the order
// they are checked: its own (else the default, if no group covers it
// either), then its groups' in the order of their scopes, until f returns
// false.
func (s *AccountState) covering(spender string, f func(*budget) bool) {
	if len(s.budgets) == 0 || spender == "" {
		return
	}
	own, grouped := -1, false
	for i := range s.budgets {
		b := &s.budgets[i]
		switch {
		case b.Scope == spender:
			own = i
		case isGroup(b.Scope) && strings.HasPrefix(spender, b.Scope[:len(b.Scope)-1]):
			grouped = true
		}
	}
	if own < 0 && !grouped && s.budgets[0].Scope == "" {
		own = 0
	}
	if own >= 0 && !f(&s.budgets[own]) {
		return
	}
	if !grouped {
		return
	}
	for i := range s.budgets {
		b := &s.budgets[i]
		if isGroup(b.Scope) && strings.HasPrefix(spender, b.Scope[:len(b.Scope)-1]) && !f(b) {
			return
		}
	}
}

// sumName is the name of the running sum b keeps for spender: the group's
// scope for a group budget, the spender for its own or the default.
func sumName(b *budget, spender string) string {
	if isGroup(b.Scope) {
		return b.Scope
	}
	return spender
}

// spentIn is what b's sum for name counts in the window that contains t.
func (s *AccountState) spentIn(b *budget, name string, t time.Time) Credits {
	if i := s.spendIndex(name); i >= 0 && s.current(b, &s.spends[i], t) {
		return s.spends[i].Spent
	}
	return 0
}

// heldBy is what the open holds of b's spenders hold: those of spender,
// or, for a group budget, of every spender of the group.
func (s *AccountState) heldBy(b *budget, spender string) Credits {
	var h Credits
	for i := range s.holds {
		hs := s.holds[i].Spender
		if hs == spender || (isGroup(b.Scope) && hs != "" && strings.HasPrefix(hs, b.Scope[:len(b.Scope)-1])) {
			h = h.saturatingAdd(s.holds[i].Amount)
		}
	}
	return h
}

func (s *AccountState) usage(b *budget, spender string, now time.Time) Usage {
	name := sumName(b, spender)
	u := Usage{Budget: b.public(), Spent: s.spentIn(b, name, now), Held: s.heldBy(b, spender)}
	u.Start, u.ResetsAt = s.window(b, now)
	u.Remaining = max(b.Cap-u.Spent.saturatingAdd(u.Held), 0)
	return u
}

// checkBudgets refuses a charge or hold (need credits, by spender) that
// would take the spender over a budget that covers it. The state must be
// settled at now.
func (s *AccountState) checkBudgets(account, spender string, need Credits, now time.Time) error {
	var err error
	s.covering(spender, func(b *budget) bool {
		spent, held := s.spentIn(b, sumName(b, spender), now), s.heldBy(b, spender)
		if need > b.Cap || spent.saturatingAdd(held) > b.Cap-need {
			_, resets := s.window(b, now)
			err = &BudgetExceededError{Account: account, Spender: spender, Budget: b.Scope, Cap: b.Cap, Window: b.public().Window,
				Spent: spent, Held: held, Requested: need, ResetsAt: resets}
			return false
		}
		return true
	})
	return err
}

// addSpent counts amount, spent by spender at t, in the sums of every
// budget that covers it.
func (s *AccountState) addSpent(spender string, amount Credits, t time.Time) {
	s.covering(spender, func(b *budget) bool {
		name := sumName(b, spender)
		i := s.spendIndex(name)
		if i < 0 {
			i = len(s.spends)
			s.spends = append(s.spends, spend{Name: name})
			for ; i > 0 && s.spends[i-1].Name > name; i-- {
				s.spends[i], s.spends[i-1] = s.spends[i-1], s.spends[i]
			}
			s.spends[i].Start, s.spends[i].End = s.window(b, t)
		} else if !s.current(b, &s.spends[i], t) {
			s.spends[i].Start, s.spends[i].End = s.window(b, t)
			s.spends[i].Spent = 0
		}
		s.spends[i].Spent = s.spends[i].Spent.saturatingAdd(amount)
		return true
	})
}

// applyBudget folds a budget entry: the budget of e.Spender is set (or,
// with no window, removed); then every running sum is moved to the budget
// that now covers its name. A sum no budget covers any more is dropped; a
// sum whose budget's window changed carries what it counted in its
// window at e.Time into the new window that contains e.Time.
func (s *AccountState) applyBudget(e *Entry) {
	// What each sum counts now, and under which budget, before the change.
	type was struct {
		b     budget
		spent Credits
		ok    bool
	}
	before := make([]was, len(s.spends))
	for i := range s.spends {
		if b := s.sumBudget(s.spends[i].Name); b != nil {
			before[i] = was{*b, s.spentIn(b, s.spends[i].Name, e.Time), true}
		}
	}
	i := s.budgetIndex(e.Spender)
	switch {
	case e.Window == 0 && i >= 0:
		s.budgets = append(s.budgets[:i], s.budgets[i+1:]...)
	case e.Window != 0:
		b := budget{Scope: e.Spender, Cap: e.Cap, Window: e.Window, Zone: e.Zone, Sub: e.Subscription, Entry: e.ID}
		if i >= 0 {
			s.budgets[i] = b
		} else {
			s.budgets = append(s.budgets, b)
			for j := len(s.budgets) - 1; j > 0 && s.budgets[j-1].Scope > b.Scope; j-- {
				s.budgets[j], s.budgets[j-1] = s.budgets[j-1], s.budgets[j]
			}
		}
	}
	kept := s.spends[:0]
	for k := range s.spends {
		sp := s.spends[k]
		b := s.sumBudget(sp.Name)
		switch {
		case b == nil || !before[k].ok:
			continue
		case !b.sameWindow(&before[k].b):
			sp.Start, sp.End = s.window(b, e.Time)
			sp.Spent = before[k].spent
		}
		kept = append(kept, sp)
	}
	clear(s.spends[len(kept):])
	s.spends = kept
}

// sumBudget returns the budget whose running sum is named name: a group
// budget of that scope, or the spender's own budget, or the default if it
// covers the spender; nil if none.
func (s *AccountState) sumBudget(name string) *budget {
	if isGroup(name) {
		if i := s.budgetIndex(name); i >= 0 {
			return &s.budgets[i]
		}
		return nil
	}
	var found *budget
	s.covering(name, func(b *budget) bool {
		if !isGroup(b.Scope) {
			found = b
		}
		return false
	})
	return found
}
