package credits

import (
	"encoding/json"
	"fmt"
	"time"
)

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
