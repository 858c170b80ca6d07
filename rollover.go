package credits

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// This file holds billing periods, plans, subscriptions, their renewal and
// the rollover rule: everything a subscription does to an account.
//
// How a plan's rollover policy becomes ledger entries, in one place:
//
//   - Expiry that a policy can fix when credits are granted is put on the
//     granted lot (its ExpiresAt), so it is evaluated at read time like any
//     other expiry: an expired credit is never spendable, whether or not
//     Renew or Sweep has run since. This covers RollOverNone, the credits
//     over a cap (see below), ExpireAfterPeriods and ExpiresAt.
//   - What can only be decided once a period has ended (carrying leftovers
//     into a new lot; a cap that shrank with a plan change) is a KindRollover
//     entry that Renew writes at the first renewal after the period's end.
//
// A cap is exact at read time. When Renew grants a capped period it already
// knows the subscription credits left over from before (K, at most the cap
// C) and the period's credits (N), so it knows the most that could be over
// the cap at the period's end: E = K + N - C (clipped to 0..N). It grants
// the period as two lots: E credits that expire at the period's end, and
// N - E that do not (or that expire as ExpireAfterPeriods or ExpiresAt
// say). The E credits expire sooner, so they are spent first: what is left
// of them at the period's end is exactly what is over the cap, and credits
// spent instead of them could only have been credits that expire sooner or
// have a higher priority. The maximum of a carry is kept the same way.
// (Credits within the cap never expire, so at equal priority they are
// spent after older credits that never expire either; see Plan.Priority.)
//
// Credits reserved by a hold when Renew grants a capped period are not
// counted in K: they are most likely about to be captured. If the hold is
// released instead, what survives the period's end may exceed the cap by
// that much.

// Interval is the length of a billing period. The zero value is not an
// interval.
type Interval uint8

// The billing intervals.
const (
	Monthly Interval = iota + 1 // monthly: one calendar month
	Yearly                      // yearly: twelve calendar months

	numIntervals = iota + 1
)

var intervalNames = [numIntervals]string{Monthly: "monthly", Yearly: "yearly"}

// Valid reports whether i is one of the defined intervals.
func (i Interval) Valid() bool { return i > 0 && i < numIntervals }

// String returns "monthly" or "yearly"; "" for the zero value.
func (i Interval) String() string {
	if i == 0 {
		return ""
	}
	if i.Valid() {
		return intervalNames[i]
	}
	return fmt.Sprintf("Interval(%d)", uint8(i))
}

// months is the length of the interval in calendar months.
func (i Interval) months() int {
	if i == Yearly {
		return 12
	}
	return 1
}

// ParseInterval returns the interval named s ("monthly" or "yearly").
func ParseInterval(s string) (Interval, error) {
	for i := Interval(1); i < numIntervals; i++ {
		if intervalNames[i] == s {
			return i, nil
		}
	}
	return 0, inputErr("interval", s, "unknown interval (want monthly or yearly)")
}

// MarshalText implements encoding.TextMarshaler.
func (i Interval) MarshalText() ([]byte, error) {
	if !i.Valid() {
		return nil, inputErr("interval", i.String(), "unknown interval")
	}
	return []byte(intervalNames[i]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseInterval].
func (i *Interval) UnmarshalText(b []byte) error {
	v, err := ParseInterval(string(b))
	*i = v
	return err
}

// Period is a billing period: the instants t with Start <= t < End. A
// period's boundaries are whole microseconds, like every instant the
// ledger stores, so a period and the ledger agree on which side of a
// boundary an entry falls.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is in the period: Start <= t < End.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// Equal reports whether p and o start and end at the same instants,
// whatever their locations.
func (p Period) Equal(o Period) bool { return p.Start.Equal(o.Start) && p.End.Equal(o.End) }

// String formats the period as an ISO 8601 interval, "start/end".
func (p Period) String() string {
	return p.Start.Format(time.RFC3339Nano) + "/" + p.End.Format(time.RFC3339Nano)
}

// Schedule divides time into billing periods: monthly or yearly from an
// anchor, in a time zone. The zero value is not valid; see
// [Schedule.Validate].
//
// Period k (k = 0 at the anchor, negative before it) starts k intervals
// after the anchor's month, on the anchor's day of the month and at the
// anchor's wall-clock time in Location. A day the month does not have is
// clamped to the month's last day, for that period only: from an anchor on
// January 31, periods start on February 28 (29 in a leap year), then March
// 31 again, never drifting. Because periods start at a wall-clock time,
// a change of daylight-saving time inside a period makes that period an
// hour shorter or longer. A period never starts before its wall-clock
// time: one the zone skips (02:30 on the day clocks go forward) starts
// when the clocks have gone forward by the skip (03:30), as java.time does;
// one the zone repeats (01:30 on the day clocks go back) starts at the
// instant time.Date picks. Instants are kept to the microsecond: the
// anchor's nanoseconds are dropped.
//
// Periods are contiguous and never overlap: each ends where the next starts.
// A Schedule is a plain value; its methods are pure and safe for
// concurrent use.
type Schedule struct {
	Anchor   time.Time      // the start of period 0
	Interval Interval       // Monthly or Yearly
	Location *time.Location // the zone whose wall clock sets boundaries; nil means UTC
}

// Validate reports whether the schedule is usable: an error wrapping
// [ErrInvalidInput] (an [*InputError]) names the field at fault.
func (s Schedule) Validate() error {
	return validateSchedule("", s.Anchor, s.Interval, s.Location)
}

func validateSchedule(prefix string, anchor time.Time, iv Interval, loc *time.Location) error {
	if anchor.IsZero() {
		return inputErr(prefix+"anchor", "", "is required")
	}
	if y := anchor.In(locationOrUTC(loc)).Year(); y < 1 || y > 9999 {
		return inputErr(prefix+"anchor", anchor.String(), "must be in the years 1 to 9999")
	}
	if !iv.Valid() {
		return inputErr(prefix+"interval", iv.String(), "must be monthly or yearly")
	}
	return nil
}

// PeriodAt returns the period that contains t. It panics if the schedule
// is not valid: check it once with [Schedule.Validate].
func (s Schedule) PeriodAt(t time.Time) Period {
	r := s.mustRule()
	_, p := r.find(t)
	return p
}

// Periods returns, in order, the periods that overlap [from, to): the one
// that contains from, then each after it that starts before to. It
// returns nil if to is not after from. It panics if the schedule is not
// valid.
func (s Schedule) Periods(from, to time.Time) []Period {
	r := s.mustRule()
	if !to.After(from) {
		return nil
	}
	var out []Period
	k, p := r.find(from)
	for p.Start.Before(to) {
		out = append(out, p)
		k++
		p = Period{Start: p.End, End: r.start(k + 1)}
	}
	return out
}

func (s Schedule) mustRule() periodRule {
	if err := s.Validate(); err != nil {
		panic("credits: invalid Schedule: " + err.Error())
	}
	return newRule(s.Anchor, s.Anchor, s.Interval, s.Location)
}

func locationOrUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// periodRule computes the starts of periods: period k starts on the
// calendar month (year, month) + k*months, on day (clamped to the month),
// at the wall-clock time hour:min:sec.nsec in loc.
type periodRule struct {
	year           int
	month          time.Month
	day            int
	hour, min, sec int
	nsec           int // whole microseconds
	months         int
	loc            *time.Location
}

// newRule returns the rule whose period 0 starts in the calendar month of
// first, on the day and at the wall-clock time of anchor.
func newRule(anchor, first time.Time, iv Interval, loc *time.Location) periodRule {
	loc = locationOrUTC(loc)
	a := anchor.In(loc)
	f := first.In(loc)
	return periodRule{
		year: f.Year(), month: f.Month(), day: a.Day(),
		hour: a.Hour(), min: a.Minute(), sec: a.Second(), nsec: a.Nanosecond() / 1000 * 1000,
		months: iv.months(), loc: loc,
	}
}

// start returns the start of period k.
func (r *periodRule) start(k int) time.Time {
	m := int(r.month) - 1 + k*r.months
	y := r.year + floorDiv(m, 12)
	mon := time.Month(m - floorDiv(m, 12)*12 + 1)
	d := min(r.day, daysIn(y, mon))
	t := time.Date(y, mon, d, r.hour, r.min, r.sec, r.nsec, r.loc)
	// In a gap, time.Date may read the wall clock with the offset after
	// the change, giving an instant whose wall clock is earlier than asked;
	// move it forward by the difference.
	_, off := t.Zone()
	wall := daysSinceEpoch(y, mon, d)*86400 + int64(r.hour*3600+r.min*60+r.sec)
	if behind := wall - (t.Unix() + int64(off)); behind > 0 {
		t = t.Add(time.Duration(behind) * time.Second)
	}
	return t
}

// index returns the k of the period that contains t.
func (r *periodRule) index(t time.Time) int {
	k, _ := r.find(t)
	return k
}

// find returns the period that contains t, and its k.
func (r *periodRule) find(t time.Time) (int, Period) {
	lt := t.In(r.loc)
	k := floorDiv((lt.Year()-r.year)*12+int(lt.Month())-int(r.month), r.months)
	// The calendar estimate is off by at most one period (t before the
	// day or time of the month's start); step to the right one.
	start := r.start(k)
	for start.After(t) {
		k--
		start = r.start(k)
	}
	end := r.start(k + 1)
	for !end.After(t) {
		k++
		start, end = end, r.start(k+1)
	}
	return k, Period{Start: start, End: end}
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysIn is the number of days in a month of the proleptic Gregorian
// calendar.
func daysIn(year int, m time.Month) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (negative before it), by the days-from-civil
// algorithm (H. Hinnant).
func daysSinceEpoch(y int, m time.Month, d int) int64 {
	yy := int64(y)
	if m <= time.February {
		yy--
	}
	era := yy / 400
	if yy < 0 && yy%400 != 0 {
		era--
	}
	yoe := yy - era*400
	mp := (int64(m) + 9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// RolloverMode says what happens at a period's end to the subscription
// credits the account did not spend. The zero value is RollOverAll.
type RolloverMode uint8

// The rollover modes.
const (
	// RollOverAll: unused credits roll over, all of them (the R-Credits
	// rule, and the default). Nothing expires and no entry is written at
	// the period's end.
	RollOverAll RolloverMode = iota
	// RollOverNone: unused credits of the period expire at its end. The
	// period's grant expires at the period's end, so the expiry holds at
	// read time.
	RollOverNone
	// RollOverCapped: at most Max subscription credits roll over; the rest
	// expires at the period's end, at read time (see the file comment).
	RollOverCapped
	// RollOverCarry: at the period's end, the unused subscription credits
	// are carried into one new lot (Source rollover) with its own priority
	// and expiry; at most Max of them (the rest expires at the period's
	// end, at read time), and none if fewer than Min are left (they expire
	// when the carry is made). The carry is written by the first Renew
	// after the period's end; until then the credits stay where they were,
	// still spendable.
	RollOverCarry

	numRolloverModes = iota
)

var rolloverModeNames = [numRolloverModes]string{
	RollOverAll: "all", RollOverNone: "none", RollOverCapped: "capped", RollOverCarry: "carry",
}

// Valid reports whether m is one of the defined modes.
func (m RolloverMode) Valid() bool { return m < numRolloverModes }

// String returns "all", "none", "capped" or "carry".
func (m RolloverMode) String() string {
	if m.Valid() {
		return rolloverModeNames[m]
	}
	return fmt.Sprintf("RolloverMode(%d)", uint8(m))
}

// ParseRolloverMode returns the mode named s.
func ParseRolloverMode(s string) (RolloverMode, error) {
	for m := RolloverMode(0); m < numRolloverModes; m++ {
		if rolloverModeNames[m] == s {
			return m, nil
		}
	}
	return 0, inputErr("rollover.mode", s, "unknown rollover mode (want all, none, capped or carry)")
}

// MarshalText implements encoding.TextMarshaler.
func (m RolloverMode) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, inputErr("rollover.mode", m.String(), "unknown rollover mode")
	}
	return []byte(rolloverModeNames[m]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseRolloverMode].
func (m *RolloverMode) UnmarshalText(b []byte) error {
	v, err := ParseRolloverMode(string(b))
	*m = v
	return err
}

// RolloverPolicy says what a plan's credits do when a billing period ends,
// and when they expire. The zero value rolls everything over, forever.
//
// Only subscription credits (Source subscription) are subject to it: the
// free tier, top-ups, refunds and adjustments keep their own expiry (none
// unless their grant set one). The subscription credits of an account are
// pooled: if an account has several subscriptions, each one's policy
// applies to all of them.
type RolloverPolicy struct {
	// Mode is what a period's end does with unspent subscription credits.
	Mode RolloverMode `json:"mode"`

	// Max is the most subscription credits that roll over at a period's
	// end: required (more than zero) for RollOverCapped; for RollOverCarry
	// the most carried, zero meaning no maximum.
	Max Credits `json:"max,omitzero"`

	// Min (RollOverCarry only): leftovers smaller than Min are not carried;
	// they expire. Zero carries any leftover.
	Min Credits `json:"min,omitzero"`

	// CarryPriority (RollOverCarry only) is the carried lot's spending
	// priority: lots of higher priority are spent first.
	CarryPriority int32 `json:"carry_priority,omitzero"`

	// CarryPeriods (RollOverCarry only): the carried lot expires at the end
	// of the CarryPeriods-th period after the one it came from (1: at the
	// end of the next period). Zero: it never expires.
	CarryPeriods int `json:"carry_periods,omitzero"`

	// ExpireAfterPeriods: every grant of the plan expires at the end of the
	// ExpireAfterPeriods-th period, counting its own as the first, in
	// periods of the plan that granted it. Zero: no such limit. Not used
	// with RollOverNone, whose grants expire with their period.
	ExpireAfterPeriods int `json:"expire_after_periods,omitzero"`

	// ExpiresAt: every grant of the plan expires at this instant at the
	// latest. Zero: no such limit.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func (p *RolloverPolicy) validate(prefix string) error {
	switch {
	case !p.Mode.Valid():
		return inputErr(prefix+"mode", p.Mode.String(), "unknown rollover mode")
	case p.Max < 0:
		return inputErr(prefix+"max", p.Max.String(), "must not be negative")
	case p.Min < 0:
		return inputErr(prefix+"min", p.Min.String(), "must not be negative")
	case p.CarryPeriods < 0:
		return inputErr(prefix+"carry_periods", fmt.Sprint(p.CarryPeriods), "must not be negative")
	case p.ExpireAfterPeriods < 0:
		return inputErr(prefix+"expire_after_periods", fmt.Sprint(p.ExpireAfterPeriods), "must not be negative")
	case p.ExpireAfterPeriods > 1200:
		return inputErr(prefix+"expire_after_periods", fmt.Sprint(p.ExpireAfterPeriods), "must be at most 1200")
	case p.CarryPeriods > 1200:
		return inputErr(prefix+"carry_periods", fmt.Sprint(p.CarryPeriods), "must be at most 1200")
	}
	switch p.Mode {
	case RollOverCapped:
		if p.Max <= 0 {
			return inputErr(prefix+"max", p.Max.String(), "a capped rollover needs a cap more than zero (for none, use mode none)")
		}
	case RollOverCarry:
		if p.Max > 0 && p.Min > p.Max {
			return inputErr(prefix+"min", p.Min.String(), "must not be more than max ("+p.Max.String()+")")
		}
	case RollOverNone:
		if p.ExpireAfterPeriods > 1 {
			return inputErr(prefix+"expire_after_periods", fmt.Sprint(p.ExpireAfterPeriods), "mode none expires grants with their period")
		}
	}
	if p.Mode != RollOverCarry && (p.Min != 0 || p.CarryPriority != 0 || p.CarryPeriods != 0) {
		return inputErr(prefix+"mode", p.Mode.String(), "min, carry_priority and carry_periods need mode carry")
	}
	if p.Mode != RollOverCapped && p.Mode != RollOverCarry && p.Max != 0 {
		return inputErr(prefix+"max", p.Max.String(), "needs mode capped or carry")
	}
	return nil
}

// capAt returns the cap on the credits that may roll over, if the policy
// has one.
func (p *RolloverPolicy) capAt() (Credits, bool) {
	if (p.Mode == RollOverCapped || p.Mode == RollOverCarry) && p.Max > 0 {
		return p.Max, true
	}
	return 0, false
}

func (p *RolloverPolicy) equal(o *RolloverPolicy) bool {
	return p.Mode == o.Mode && p.Max == o.Max && p.Min == o.Min && p.CarryPriority == o.CarryPriority &&
		p.CarryPeriods == o.CarryPeriods && p.ExpireAfterPeriods == o.ExpireAfterPeriods && p.ExpiresAt.Equal(o.ExpiresAt)
}

// Plan is what a subscription sells: Credits every Interval, with a
// rollover policy.
type Plan struct {
	Name     string         `json:"name"`     // shown in history (the grants' metadata "plan"); 1 to 100 bytes
	Credits  Credits        `json:"credits"`  // granted each period; zero is allowed (a free plan still renews)
	Interval Interval       `json:"interval"` // Monthly or Yearly
	Rollover RolloverPolicy `json:"rollover"` // the zero value rolls everything over

	// Priority is the spending priority of the plan's grants (default 0,
	// like every other grant). Credits are spent in one order: priority,
	// then soonest expiry, then oldest. Under a cap, the credits over it
	// expire at the period's end and so are spent first; the credits
	// within it never expire, so at equal priority they are spent after
	// older credits that never expire either (the free tier, top-ups),
	// and a later period's grant may then push them over the cap. A plan
	// with a cap or a carry that wants its credits spent before those
	// (so that what the cap could take is always used first) sets a
	// priority above theirs, say 1; the cost is that a top-up expiring
	// before the period's end is then spent after them.
	Priority int32 `json:"priority,omitzero"`
}

// Validate reports whether the plan is usable: an error wrapping
// [ErrInvalidInput] names the field at fault.
func (p Plan) Validate() error { return p.validate("plan.") }

func (p *Plan) validate(prefix string) error {
	if err := checkText(prefix+"name", p.Name, 100); err != nil {
		return err
	}
	if p.Credits < 0 {
		return inputErr(prefix+"credits", p.Credits.String(), "must not be negative")
	}
	if !p.Interval.Valid() {
		return inputErr(prefix+"interval", p.Interval.String(), "must be monthly or yearly")
	}
	return p.Rollover.validate(prefix + "rollover.")
}

func (p *Plan) equal(o *Plan) bool {
	return p.Name == o.Name && p.Credits == o.Credits && p.Interval == o.Interval && p.Priority == o.Priority && p.Rollover.equal(&o.Rollover)
}

// PlanChange is a plan taking over from the start of a period.
type PlanChange struct {
	From time.Time `json:"from"` // the start of the first period on Plan
	Plan Plan      `json:"plan"`
}

// Subscription ties an account to a plan, period after period, from an
// anchor. It is a plain value: the caller stores it (it marshals to JSON)
// and passes it to [Ledger.Renew]. ChangePlan and Cancel return changed
// copies; they never change history, only what later periods will be.
//
// The periods follow the plan in force: from Anchor with Plan's interval,
// then from each change's From with its plan's interval, always on the
// anchor's day of the month and wall-clock time (see [Schedule]). A plan
// change takes effect at the start of a period, never in the middle of
// one: there is no proration. Its methods are pure (no I/O, no clock) and
// safe for concurrent use; only [Ledger.Renew] writes.
type Subscription struct {
	// ID names the subscription in the ledger's idempotency keys: it must
	// be unique within the account and never reused for another
	// subscription of it. 1 to 200 bytes.
	ID       string
	Anchor   time.Time      // the start of the first period
	Location *time.Location // the zone of period boundaries; nil means UTC (in JSON, "location": an IANA name)
	Plan     Plan           // the plan from Anchor
	Changes  []PlanChange   // later plans, in order of From
	Ends     time.Time      // the end of the last period; zero: it renews for ever
}

const maxSubscriptionIDLen = 200

// segment is a stretch of a subscription on one plan.
type segment struct {
	from time.Time // the start of its first period (in the subscription's location)
	rule periodRule
	plan *Plan
}

// segments returns the subscription's segments; the subscription must be
// valid.
func (s *Subscription) segments() []segment {
	segs := make([]segment, 0, 1+len(s.Changes))
	r := newRule(s.Anchor, s.Anchor, s.Plan.Interval, s.Location)
	segs = append(segs, segment{from: r.start(0), rule: r, plan: &s.Plan})
	for i := range s.Changes {
		c := &s.Changes[i]
		r := newRule(s.Anchor, c.From, c.Plan.Interval, s.Location)
		segs = append(segs, segment{from: r.start(0), rule: r, plan: &c.Plan})
	}
	return segs
}

// Validate reports whether the subscription is usable: an error wrapping
// [ErrInvalidInput] names the field at fault. Every plan change and the
// end must fall on the start of a period of the plan before them, in
// order; [Subscription.ChangePlan] and [Subscription.Cancel] make sure of it.
func (s Subscription) Validate() error {
	if err := checkText("subscription.id", s.ID, maxSubscriptionIDLen); err != nil {
		return err
	}
	if err := validateSchedule("subscription.", s.Anchor, s.Plan.Interval, s.Location); err != nil {
		return err
	}
	if err := s.Plan.validate("subscription.plan."); err != nil {
		return err
	}
	r := newRule(s.Anchor, s.Anchor, s.Plan.Interval, s.Location)
	prev := segment{from: r.start(0), rule: r}
	for i := range s.Changes {
		c := &s.Changes[i]
		field := fmt.Sprintf("subscription.changes[%d].", i)
		if err := c.Plan.validate(field + "plan."); err != nil {
			return err
		}
		if !c.From.After(prev.from) {
			return inputErr(field+"from", c.From.Format(time.RFC3339Nano), "must be after the start of the plan before it")
		}
		if !onBoundary(&prev.rule, c.From) {
			return inputErr(field+"from", c.From.Format(time.RFC3339Nano), "must be the start of a period")
		}
		nr := newRule(s.Anchor, c.From, c.Plan.Interval, s.Location)
		prev = segment{from: nr.start(0), rule: nr}
	}
	if !s.Ends.IsZero() {
		first := r.start(0)
		if s.Ends.Before(first) {
			return inputErr("subscription.ends", s.Ends.Format(time.RFC3339Nano), "must not be before the first period")
		}
		if !onBoundary(&prev.rule, s.Ends) || s.Ends.Before(prev.from) {
			return inputErr("subscription.ends", s.Ends.Format(time.RFC3339Nano), "must be the end of a period, after the last plan change")
		}
	}
	return nil
}

func onBoundary(r *periodRule, t time.Time) bool {
	return r.start(r.index(t)).Equal(t)
}

func (s *Subscription) mustSegments() []segment {
	if err := s.Validate(); err != nil {
		panic("credits: invalid Subscription: " + err.Error())
	}
	return s.segments()
}

// segmentAt returns the index of the segment in force at t: the last that
// starts at or before t (the first if t is before them all).
func segmentAt(segs []segment, t time.Time) int {
	i := 0
	for j := 1; j < len(segs); j++ {
		if !segs[j].from.After(t) {
			i = j
		}
	}
	return i
}

// Start returns the start of the subscription's first period (Anchor to
// the microsecond, or the instant the zone gives the anchor's wall-clock
// time). It panics if the subscription is not valid.
func (s Subscription) Start() time.Time { return s.mustSegments()[0].from }

// PeriodAt returns the period that contains t, as the plan in force at t
// divides time (before the first period: as the first plan would). It
// panics if the subscription is not valid: check it with Validate.
func (s Subscription) PeriodAt(t time.Time) Period {
	segs := s.mustSegments()
	_, p := segs[segmentAt(segs, t)].rule.find(t)
	return p
}

// PlanAt returns the plan in force at t (before the first period: the
// first plan). It panics if the subscription is not valid.
func (s Subscription) PlanAt(t time.Time) Plan {
	segs := s.mustSegments()
	return *segs[segmentAt(segs, t)].plan
}

// Periods returns, in order, the subscription's periods that overlap
// [from, to): none before its first period or from its end on. It panics
// if the subscription is not valid.
func (s Subscription) Periods(from, to time.Time) []Period {
	var out []Period
	for _, sp := range s.subPeriods(s.mustSegments(), from, to) {
		out = append(out, sp.Period)
	}
	return out
}

// subPeriod is one period of a subscription, with what computes it.
type subPeriod struct {
	Period
	plan *Plan
	rule *periodRule
	k    int // the period's index in rule
}

// endAfter returns the end of the n-th period counting this one as the
// first, in periods of this period's plan.
func (sp *subPeriod) endAfter(n int) time.Time { return sp.rule.start(sp.k + n) }

// subPeriods lists the periods that overlap [from, to), within the
// subscription's life.
func (s *Subscription) subPeriods(segs []segment, from, to time.Time) []subPeriod {
	if from.Before(segs[0].from) {
		from = segs[0].from
	}
	if !s.Ends.IsZero() && s.Ends.Before(to) {
		to = s.Ends
	}
	if !to.After(from) {
		return nil
	}
	// At most one period per calendar month, plus one per segment.
	months := (to.Year()-from.Year())*12 + int(to.Month()) - int(from.Month()) + 2
	out := make([]subPeriod, 0, min(months+len(segs), 1<<16))
	for i := segmentAt(segs, from); i < len(segs); i++ {
		seg := &segs[i]
		segEnd := to
		if i+1 < len(segs) && segs[i+1].from.Before(segEnd) {
			segEnd = segs[i+1].from
		}
		start := from
		if seg.from.After(start) {
			start = seg.from
		}
		if !segEnd.After(start) {
			continue
		}
		k, p := seg.rule.find(start)
		for p.Start.Before(segEnd) {
			out = append(out, subPeriod{Period: p, plan: seg.plan, rule: &seg.rule, k: k})
			k++
			p = Period{Start: p.End, End: seg.rule.start(k + 1)}
		}
	}
	return out
}

// ChangePlan returns a copy of the subscription that moves to plan from
// the next period: the start of the period after the one that contains at
// (the current one, if at is now). The current period keeps its plan and
// its credits; nothing is prorated. If at is before the first period, the
// copy starts on plan. A change already due from a later instant is
// replaced: the last word wins. Changing back to the plan in force before
// the change simply drops the pending change.
//
// It fails with an [*InputError] if the subscription or the plan is not
// valid, or if the subscription ends before the change would take effect.
func (s Subscription) ChangePlan(plan Plan, at time.Time) (Subscription, error) {
	if err := s.Validate(); err != nil {
		return Subscription{}, err
	}
	if err := plan.validate("plan."); err != nil {
		return Subscription{}, err
	}
	segs := s.segments()
	out := s
	if at.Before(segs[0].from) {
		out.Plan, out.Changes = plan, nil
		return out, out.Validate()
	}
	from := s.PeriodAt(at).End
	if !s.Ends.IsZero() && !from.Before(s.Ends) {
		return Subscription{}, inputErr("at", at.Format(time.RFC3339Nano), "the subscription ends before the next period")
	}
	out.Changes = nil
	for _, c := range s.Changes {
		if c.From.Before(from) {
			out.Changes = append(out.Changes, c)
		}
	}
	before := &out.Plan
	if n := len(out.Changes); n > 0 {
		before = &out.Changes[n-1].Plan
	}
	if !before.equal(&plan) {
		out.Changes = append(out.Changes, PlanChange{From: from.In(locationOrUTC(s.Location)), Plan: plan})
	}
	return out, out.Validate()
}

// Cancel returns a copy of the subscription that ends with the period that
// contains at: it renews no period after that one. Credits already granted
// stay, under their plan's policy. If at is before the first period, the
// copy has no periods at all. A subscription already ending sooner keeps
// its end. To undo a cancellation, set Ends back to the zero time.
func (s Subscription) Cancel(at time.Time) (Subscription, error) {
	if err := s.Validate(); err != nil {
		return Subscription{}, err
	}
	segs := s.segments()
	end := segs[0].from
	if !at.Before(end) {
		end = s.PeriodAt(at).End
	}
	out := s
	if !s.Ends.IsZero() && s.Ends.Before(end) {
		return out, nil
	}
	out.Ends = end
	out.Changes = nil
	for _, c := range s.Changes {
		if c.From.Before(end) {
			out.Changes = append(out.Changes, c)
		}
	}
	return out, out.Validate()
}

type subscriptionJSON struct {
	ID       string       `json:"id"`
	Anchor   time.Time    `json:"anchor"`
	Location string       `json:"location,omitempty"`
	Plan     Plan         `json:"plan"`
	Changes  []PlanChange `json:"changes,omitempty"`
	Ends     time.Time    `json:"ends,omitzero"`
}

// MarshalJSON encodes the subscription with its location as an IANA zone
// name ("America/New_York"; omitted for UTC).
func (s Subscription) MarshalJSON() ([]byte, error) {
	j := subscriptionJSON{ID: s.ID, Anchor: s.Anchor, Plan: s.Plan, Changes: s.Changes, Ends: s.Ends}
	if s.Location != nil && s.Location != time.UTC {
		j.Location = s.Location.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes a subscription encoded by MarshalJSON, loading its
// location with time.LoadLocation, and validates it.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	var j subscriptionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Subscription{ID: j.ID, Anchor: j.Anchor, Plan: j.Plan, Changes: j.Changes, Ends: j.Ends}
	if j.Location != "" {
		loc, err := time.LoadLocation(j.Location)
		if err != nil {
			return inputErr("subscription.location", j.Location, "unknown time zone")
		}
		out.Location = loc
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*s = out
	return nil
}

// Keys of the entries Renew writes. A key names the subscription and the
// period, so each is written once per account whatever the number of
// callers.
const (
	subscriptionKeyPrefix = "$sub:"      // on the grant of a period (and the rollover of the period before it)
	rolloverKeyPrefix     = "$rollover:" // on the rollover at a subscription's end
)

func periodKey(prefix, id string, start time.Time) string {
	return prefix + id + ":" + start.UTC().Format(time.RFC3339Nano)
}

// renewStep is one atomic step of a renewal: the rollover at the end of
// prev (if its policy needs one) and the grant of next. A final step has no
// next: it is the rollover at the subscription's end.
type renewStep struct {
	key  string
	hash uint64
	prev *subPeriod // the period that just ended, or nil
	next *subPeriod // the period to grant, or nil
}

// newRenewStep returns the step from prev to next, with its key and
// fingerprint.
func newRenewStep(id string, prev, next *subPeriod) renewStep {
	st := renewStep{prev: prev, next: next, hash: stepHash(id, prev, next)}
	if next != nil {
		st.key = periodKey(subscriptionKeyPrefix, id, next.Start)
	} else {
		st.key = periodKey(rolloverKeyPrefix, id, prev.Start)
	}
	return st
}

// Renew brings a subscription up to date on an account, as of the ledger's
// clock: it grants every period that has started (its start is at or before
// now) and is not granted yet, oldest first, each with its Period, and
// writes each rollover its plan's policy needs at the periods' ends. It
// returns the grant and rollover entries it wrote, in order (none if the
// subscription was up to date); not the expiry entries it recorded on the
// way, though they are in the history.
//
// A service that was down for three periods grants each of them exactly
// once, as if on time: a period that already ended gets its credits and,
// under its policy, has them expire at once. Renewing is idempotent per
// (account, subscription, period): call it as often as you like, from as
// many service instances at once as you like; each period's credits
// arrive once. Call it at each period's start (a scheduler, or before
// serving an account): expiry a policy can put on the grants holds at read
// time whenever Renew runs, but carries (RollOverCarry) and the drop of a
// cap lowered by a plan change happen when Renew writes them.
//
// Each period is one atomic step. If a step fails (a cancelled context, a
// conflict), the periods before it stay renewed and a retry goes on from
// there; Renew returns the entries written so far with the error. A
// subscription's past cannot change: renewing with a subscription whose
// plan differs, for the newest period already renewed (or any period it
// writes), from the plan that period was renewed with is an error wrapping
// [ErrIdempotencyConflict] (an [*IdempotencyConflictError]), and changes
// nothing. An invalid subscription is an [*InputError] and changes nothing.
func (l *Ledger) Renew(ctx context.Context, account string, sub Subscription) ([]Entry, error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	if err := sub.Validate(); err != nil {
		return nil, err
	}
	now := l.Now()
	segs := sub.segments()
	// Usually the subscription is up to date: look at its newest step
	// alone, computed from its last two periods, before listing them all.
	if done, err := l.newestStepDone(ctx, account, &sub, segs, now); done || err != nil {
		return nil, err
	}
	periods := sub.subPeriods(segs, segs[0].from, now.Add(time.Microsecond))
	// Step i grants periods[i] after the rollover at the end of
	// periods[i-1]; a final step rolls over the last period of a
	// subscription that has ended.
	n := len(periods)
	steps := n
	if n > 0 && !sub.Ends.IsZero() && !now.Before(sub.Ends) && needsFinalRollover(periods[n-1].plan) {
		steps++
	}
	step := func(i int) renewStep {
		var prev, next *subPeriod
		if i > 0 {
			prev = &periods[i-1]
		}
		if i < n {
			next = &periods[i]
		}
		return newRenewStep(sub.ID, prev, next)
	}
	// Steps are only ever written in order, so the ones done are a prefix:
	// find where it ends, from the newest but one (the newest was looked
	// at above).
	first := max(steps-1, 0)
	for first > 0 {
		st := step(first - 1)
		done, err := l.stepDone(ctx, account, &st)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		first--
	}
	var made []Entry
	for i := first; i < steps; i++ {
		st := step(i)
		es, err := l.renewStep(ctx, account, &sub, &st, now)
		made = append(made, es...)
		if err != nil {
			return made, err
		}
	}
	return made, nil
}

// newestStepDone reports whether the newest step a renewal at now would
// write is already written (false if there is no step at all).
func (l *Ledger) newestStepDone(ctx context.Context, account string, sub *Subscription, segs []segment, now time.Time) (bool, error) {
	ended := !sub.Ends.IsZero() && !now.Before(sub.Ends)
	at := now
	if ended {
		at = sub.Ends.Add(-time.Microsecond)
	}
	if at.Before(segs[0].from) {
		return false, nil
	}
	_, cur := segs[segmentAt(segs, at)].rule.find(at)
	before := cur.Start.Add(-time.Microsecond)
	_, prev := segs[segmentAt(segs, before)].rule.find(before)
	tail := sub.subPeriods(segs, prev.Start, at.Add(time.Microsecond))
	n := len(tail)
	var st renewStep
	switch {
	case ended && needsFinalRollover(tail[n-1].plan):
		st = newRenewStep(sub.ID, &tail[n-1], nil)
	case n == 1:
		st = newRenewStep(sub.ID, nil, &tail[0])
	default:
		st = newRenewStep(sub.ID, &tail[n-2], &tail[n-1])
	}
	return l.stepDone(ctx, account, &st)
}

// needsFinalRollover reports whether a subscription ending after a period
// of plan p writes a rollover at its end.
func needsFinalRollover(p *Plan) bool {
	return p.Rollover.Mode == RollOverCapped || p.Rollover.Mode == RollOverCarry
}

// stepHash fingerprints what a step asks for: the subscription, the
// periods and the plans (a retry has the same; a step computed from a
// subscription whose past was changed does not).
func stepHash(id string, prev, next *subPeriod) uint64 {
	h := newFNV().str(id)
	for _, sp := range []*subPeriod{prev, next} {
		if sp == nil {
			h = h.u64(0)
			continue
		}
		p := sp.plan
		h = h.u64(1).time(sp.Start).time(sp.End).str(p.Name).u64(uint64(p.Credits)).u64(uint64(p.Interval)).u64(uint64(p.Priority))
		r := &p.Rollover
		h = h.u64(uint64(r.Mode)).u64(uint64(r.Max)).u64(uint64(r.Min)).u64(uint64(r.CarryPriority))
		h = h.u64(uint64(r.CarryPeriods)).u64(uint64(r.ExpireAfterPeriods)).time(r.ExpiresAt)
	}
	return uint64(h)
}

// stepDone reports whether a step's entries are already written, and
// refuses a step written for another plan.
func (l *Ledger) stepDone(ctx context.Context, account string, st *renewStep) (bool, error) {
	var done bool
	err := l.backend.Update(ctx, account, st.key, func(_ *AccountState, existing *Entry) ([]Entry, error) {
		if existing != nil && existing.RequestHash != st.hash {
			return nil, &IdempotencyConflictError{Account: account, Key: st.key, EntryID: existing.ID}
		}
		done = existing != nil
		return nil, nil
	})
	return done, err
}

// renewStep runs one step atomically: settle what is due, the rollover at
// the end of st.prev, then the grant of st.next. The step's key goes on
// its first grant (on the rollover, for a final step).
func (l *Ledger) renewStep(ctx context.Context, account string, sub *Subscription, st *renewStep, now time.Time) ([]Entry, error) {
	var made []Entry
	err := l.backend.Update(ctx, account, st.key, func(s *AccountState, existing *Entry) ([]Entry, error) {
		made = nil
		if existing != nil {
			if existing.RequestHash != st.hash {
				return nil, &IdempotencyConflictError{Account: account, Key: st.key, EntryID: existing.ID}
			}
			return nil, nil // another caller did this step
		}
		now := s.writeTime(now)
		work := s.Clone()
		out := settle(work, account, now)
		keyed := false
		add := func(e Entry, carry bool) {
			stamp(work, &e, account, now)
			if carry {
				e.Lot = e.ID
			}
			if !keyed && (e.Kind == KindGrant || st.next == nil) {
				e.Key, e.RequestHash, keyed = st.key, st.hash, true
			}
			work.apply(&e)
			e.BalanceAfter = work.balance()
			out = append(out, e)
			made = append(made, e)
		}
		if st.prev != nil {
			if e, carry, ok := rolloverEntry(work, sub.ID, st.prev, now, st.next == nil); ok {
				add(e, carry)
			}
		}
		if st.next != nil {
			grants, err := grantEntries(work, sub.ID, st.next, now)
			if err != nil {
				return nil, err
			}
			for _, g := range grants {
				add(g, false)
			}
		}
		*s = *work
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return made, nil
}

// rolloverEntry decides the rollover at the end of period sp under its
// plan's policy, on a state settled at now. It reports false if there is
// nothing to write; a final rollover (always) is written even if it moves
// nothing, to mark the subscription's end as done. carry reports whether
// the entry carries leftovers into a new lot.
func rolloverEntry(s *AccountState, id string, sp *subPeriod, now time.Time, always bool) (e Entry, carry bool, ok bool) {
	pol := &sp.plan.Rollover
	left := s.sourceRemaining(SourceSubscription, now)
	var drop, carried Credits
	switch pol.Mode {
	case RollOverCapped:
		drop = max(0, left-pol.Max)
	case RollOverCarry:
		carried = left
		if pol.Max > 0 {
			carried = min(carried, pol.Max)
		}
		if carried < pol.Min {
			carried = 0
		}
		drop = left - carried
	default:
		return Entry{}, false, false
	}
	if drop == 0 && carried == 0 && !always {
		return Entry{}, false, false
	}
	e = Entry{Kind: KindRollover, Amount: -drop, Source: SourceSubscription, Period: utcMicro(sp.Start),
		Metadata: map[string]string{"subscription": id}}
	if carried > 0 {
		e.Priority = pol.CarryPriority
		if pol.CarryPeriods > 0 {
			e.ExpiresAt = utcMicro(sp.endAfter(1 + pol.CarryPeriods))
		}
		e.Metadata["carried"] = carried.String()
	}
	return e, carried > 0, true
}

// grantEntries decides the grant of period sp on a state settled at now
// (after the rollover before it): one lot, or two under a cap: the credits
// that would be over the cap at the period's end, expiring then, and the
// rest.
func grantEntries(s *AccountState, id string, sp *subPeriod, now time.Time) ([]Entry, error) {
	plan := sp.plan
	pol := &plan.Rollover
	var keep time.Time // when the credits that roll over expire (zero: never)
	switch {
	case pol.Mode == RollOverNone:
		keep = sp.End
	case pol.ExpireAfterPeriods > 0:
		keep = sp.endAfter(pol.ExpireAfterPeriods)
	}
	if !pol.ExpiresAt.IsZero() && (keep.IsZero() || pol.ExpiresAt.Before(keep)) {
		keep = pol.ExpiresAt
	}
	keep = utcMicro(keep)
	entry := func(amount Credits, expires time.Time) Entry {
		return Entry{Kind: KindGrant, Amount: amount, Source: SourceSubscription, ExpiresAt: expires, Priority: plan.Priority,
			Period: utcMicro(sp.Start), Metadata: map[string]string{"subscription": id, "plan": plan.Name}}
	}
	// Credits coming in must not wrap the balance around.
	if _, err := s.balance().Add(plan.Credits); err != nil {
		return nil, fmt.Errorf("renewing subscription %q for %s: %w", id, sp.Period, err)
	}
	var atRisk Credits
	if c, ok := pol.capAt(); ok {
		left := s.sourceRemaining(SourceSubscription, now)
		total, err := left.Add(plan.Credits)
		if err != nil {
			return nil, fmt.Errorf("renewing subscription %q for %s: %w", id, sp.Period, err)
		}
		atRisk = min(max(total-c, 0), plan.Credits)
	}
	riskEnd := utcMicro(sp.End)
	if !keep.IsZero() && keep.Before(riskEnd) {
		riskEnd = keep
	}
	var out []Entry
	if atRisk > 0 {
		out = append(out, entry(atRisk, riskEnd))
	}
	if rest := plan.Credits - atRisk; rest > 0 || plan.Credits == 0 {
		out = append(out, entry(rest, keep))
	}
	return out, nil
}

// sourceRemaining is the unreserved credits of the unexpired lots of one
// source at now.
func (s *AccountState) sourceRemaining(src Source, now time.Time) Credits {
	var sum Credits
	for i := range s.lots {
		if l := &s.lots[i]; l.Source == src && !expired(l.ExpiresAt, now) {
			sum += l.Remaining
		}
	}
	return sum
}

// rollover applies a rollover entry: from the unexpired lots of the
// entry's Source, it removes -e.Amount credits in spending order (what the
// policy let expire); if e.Lot is the entry's own ID, the unreserved
// credits left in those lots are carried into one new lot with the entry's
// expiry and priority. Reserved credits stay in their lots: a hold open at
// a period's end keeps what it drew.
func (s *AccountState) rollover(e *Entry) {
	drop := -e.Amount
	var carry Credits
	for i := range s.lots {
		l := &s.lots[i]
		if l.Source != e.Source || expired(l.ExpiresAt, e.Time) {
			continue
		}
		take := min(l.Remaining, drop)
		l.Remaining -= take
		drop -= take
		if e.Lot == e.ID {
			carry += l.Remaining
			l.Remaining = 0
		}
	}
	s.prune()
	if carry > 0 {
		s.addCredits(lot{ID: e.ID, Source: SourceRollover, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: carry})
	}
}
