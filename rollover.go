package credits

import (
	"context"
	"fmt"
	"time"

	"github.com/avstudio/credits/internal/fnv"
)

// This file holds the rollover rule and Renew: what a subscription does to
// an account at each period's start and end. (Periods are in period.go,
// plans and subscriptions in subscription.go.)
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

var rolloverModeEnum = newEnum[RolloverMode]("RolloverMode", "rollover.mode", "rollover mode", rolloverModeNames[:], false, false)

// String returns "all", "none", "capped" or "carry", or "RolloverMode(n)"
// for an undefined mode.
func (m RolloverMode) String() string { return rolloverModeEnum.string(m) }

// ParseRolloverMode returns the mode named s, exactly as
// [RolloverMode.String] prints it. An unknown name ("" included: the zero
// mode's name is "all") is an [*InputError] naming it and listing the
// valid names.
func ParseRolloverMode(s string) (RolloverMode, error) { return rolloverModeEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler. An undefined mode is an
// [*InputError].
func (m RolloverMode) MarshalText() ([]byte, error) { return rolloverModeEnum.marshalText(m) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseRolloverMode].
// On error m is left unchanged.
func (m *RolloverMode) UnmarshalText(b []byte) error { return rolloverModeEnum.unmarshalText(m, b) }

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
func (l *Ledger) Renew(ctx context.Context, account string, sub Subscription) (_ []Entry, err error) {
	ob := l.begin(ctx, OpRenew, account, "")
	defer func() { ob.end(Entry{}, err) }()
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
	h := fnv.New().Str(id)
	for _, sp := range []*subPeriod{prev, next} {
		if sp == nil {
			h = h.U64(0)
			continue
		}
		p := sp.plan
		h = h.U64(1).Time(sp.Start).Time(sp.End).Str(p.Name).U64(uint64(p.Credits)).U64(uint64(p.Interval)).U64(uint64(p.Priority))
		r := &p.Rollover
		h = h.U64(uint64(r.Mode)).U64(uint64(r.Max)).U64(uint64(r.Min)).U64(uint64(r.CarryPriority))
		h = h.U64(uint64(r.CarryPeriods)).U64(uint64(r.ExpireAfterPeriods)).Time(r.ExpiresAt)
	}
	return h.Sum64()
}

// stepDone reports whether a step's entries are already written, and
// refuses a step written for another plan. It only reads.
func (l *Ledger) stepDone(ctx context.Context, account string, st *renewStep) (bool, error) {
	existing, done, err := l.entryByKey(ctx, OpRenew, account, st.key)
	if err == nil && done && existing.RequestHash != st.hash {
		err = &IdempotencyConflictError{Account: account, Key: st.key, EntryID: existing.ID}
	}
	return done, err
}

// renewStep runs one step atomically: settle what is due, the rollover at
// the end of st.prev, then the grant of st.next. The step's key goes on
// its first grant (on the rollover, for a final step).
func (l *Ledger) renewStep(ctx context.Context, account string, sub *Subscription, st *renewStep, now time.Time) ([]Entry, error) {
	var made []Entry
	_, err := l.write(ctx, OpRenew, account, st.key, now, false, func(s *AccountState, existing *Entry) ([]Entry, error) {
		made = nil
		if existing != nil {
			if existing.RequestHash != st.hash {
				return nil, &IdempotencyConflictError{Account: account, Key: st.key, EntryID: existing.ID}
			}
			return nil, nil // another caller did this step
		}
		if err := s.checkStep(account, sub.ID, st); err != nil {
			return nil, err
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

// checkStep refuses a renewal step that does not continue what the
// account was granted under the subscription: the first step of a
// subscription grants its first period, and every later one follows the
// period granted last (its prev is that period). A step that does not is
// computed from a subscription whose past changed (another anchor, time
// zone or interval under the same ID), and would grant a period twice.
func (s *AccountState) checkStep(account, id string, st *renewStep) error {
	var m subMark
	i := s.subIndex(id)
	ok := i >= 0
	if ok {
		m = s.subs[i]
	}
	switch {
	case !ok && st.prev == nil:
		return nil
	case ok && st.prev != nil && m.Start.Equal(st.prev.Start) && (m.End.IsZero() || m.End.Equal(st.prev.End)):
		return nil
	}
	conflict := &IdempotencyConflictError{Account: account, Key: st.key, EntryID: m.Entry}
	if !ok {
		// No period was granted: only the first step may be taken.
		conflict.EntryID = 0
	}
	return fmt.Errorf("subscription %q does not continue the periods granted under its ID (was its anchor, zone or plan interval changed?): %w", id, conflict)
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
	e = Entry{Kind: KindRollover, Amount: -drop, Source: SourceSubscription, Period: utcMicro(sp.Start), PeriodEnd: utcMicro(sp.End),
		Subscription: id, Carried: carried}
	if carried > 0 {
		e.Priority = pol.CarryPriority
		if pol.CarryPeriods > 0 {
			e.ExpiresAt = utcMicro(sp.endAfter(1 + pol.CarryPeriods))
		}
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
			Period: utcMicro(sp.Start), PeriodEnd: utcMicro(sp.End), Subscription: id, Plan: plan.Name}
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
