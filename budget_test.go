package credits_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

// The rules of spenders and budgets, one operation at a time, on the
// memory backend. (ledgertest.Run checks them in random combination, and
// under concurrency, on every backend.)

// budgetFixture is a fixture whose backend the test can read.
type budgetFixture struct {
	*fixture
	b *credits.MemoryBackend
}

func newBudgetFixture(t *testing.T) *budgetFixture {
	f := newFixture(t, credits.Options{})
	b := credits.NewMemoryBackend()
	f.l = credits.NewLedger(b, credits.Options{Now: f.clock.Now})
	return &budgetFixture{f, b}
}

func (f *budgetFixture) budget(account, key, spender string, capped credits.Credits, w credits.Window) credits.Entry {
	f.t.Helper()
	return f.must(f.l.SetBudget(f.ctx, account, credits.BudgetRequest{Key: key, Spender: spender, Cap: capped, Window: w}))
}

func (f *budgetFixture) charge(account, key, spender string, amount credits.Credits) (credits.Entry, error) {
	return f.l.Charge(f.ctx, account, credits.ChargeRequest{Key: key, Amount: amount, Spender: spender})
}

// usage returns the first (binding) usage of spender.
func (f *budgetFixture) usage(account, spender string) credits.Usage {
	f.t.Helper()
	us, err := f.l.Usage(f.ctx, account, spender)
	if err != nil || len(us) == 0 {
		f.t.Fatalf("Usage(%q, %q) = %v, %v; want a usage", account, spender, us, err)
	}
	return us[0]
}

// rebuilds checks that the stored state is what the history folds into.
func (f *budgetFixture) rebuilds(account string) {
	f.t.Helper()
	p, err := f.l.History(f.ctx, account, credits.HistoryQuery{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	rebuilt, err := credits.Rebuild(p.Entries)
	if err != nil {
		f.t.Fatal(err)
	}
	stored, err := f.b.Load(f.ctx, account)
	if err != nil {
		f.t.Fatal(err)
	}
	if !rebuilt.Equal(stored) {
		a, _ := rebuilt.MarshalBinary()
		b, _ := stored.MarshalBinary()
		f.t.Fatalf("the stored state differs from Rebuild of the history:\nrebuilt %s\nstored  %s", a, b)
	}
	// And the state survives its encoding.
	blob, _ := stored.MarshalBinary()
	var back credits.AccountState
	if err := back.UnmarshalBinary(blob); err != nil || !back.Equal(stored) {
		f.t.Fatalf("the state does not survive MarshalBinary: %v", err)
	}
}

func TestSpenderIsValidatedAndRecorded(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 100*credits.Credit)
	e := f.must(f.charge("team", "c1", "key_live_7", credits.Credit))
	if e.Spender != "key_live_7" {
		t.Fatalf("charge's spender %q", e.Spender)
	}
	h := f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "h1", Amount: 2 * credits.Credit, Spender: "agent ✓"}))
	c := f.must(f.l.Capture(f.ctx, "team", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: credits.Credit}))
	r := f.must(f.l.Refund(f.ctx, "team", credits.RefundRequest{Key: "ref", Entry: c.ID}))
	h2 := f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "h2", Amount: credits.Credit, Spender: "agent ✓"}))
	rel := f.must(f.l.Release(f.ctx, "team", credits.ReleaseRequest{Key: "rel", Hold: h2.ID}))
	h3 := f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "h3", Amount: credits.Credit, Spender: "agent ✓", Deadline: t0.Add(time.Minute)}))
	for _, e := range []credits.Entry{h, c, r, h2, rel, h3} {
		if e.Spender != "agent ✓" {
			t.Errorf("%s %d carries spender %q, want the hold's", e.Kind, e.ID, e.Spender)
		}
	}
	f.clock.Advance(time.Hour)
	swept := f.must1(f.l.Sweep(f.ctx, "team"))
	if len(swept) != 1 || swept[0].Hold != h3.ID || swept[0].Spender != "agent ✓" {
		t.Fatalf("the lapse of a spender's hold: %+v", swept)
	}
	for _, bad := range []string{"$ledger", "key_*", "a\x00b", string(make([]byte, 256))} {
		f.refused("team", credits.ErrInvalidInput, func() (credits.Entry, error) { return f.charge("team", "bad", bad, credits.Credit) })
		f.refused("team", credits.ErrInvalidInput, func() (credits.Entry, error) {
			return f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "bad", Amount: credits.Credit, Spender: bad})
		})
	}
	// The spender is part of the request: the same key with another
	// spender is a conflict.
	f.refused("team", credits.ErrIdempotencyConflict, func() (credits.Entry, error) { return f.charge("team", "c1", "key_live_8", credits.Credit) })
	f.refused("team", credits.ErrIdempotencyConflict, func() (credits.Entry, error) { return f.charge("team", "c1", "", credits.Credit) })
	if again := f.must(f.charge("team", "c1", "key_live_7", credits.Credit)); again.ID != e.ID {
		t.Fatalf("a retry made entry %d", again.ID)
	}

	// History by spender: the spender's charges, holds and what closed
	// them, refunds of them.
	p, err := f.l.History(f.ctx, "team", credits.HistoryQuery{Spender: "agent ✓"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range p.Entries {
		ids = append(ids, e.ID)
	}
	if want := []int64{h.ID, c.ID, r.ID, h2.ID, rel.ID, h3.ID, swept[0].ID}; !cmp.Equal(ids, want) {
		t.Fatalf("History of agent ✓: %v, want %v", ids, want)
	}
	if _, err := f.l.History(f.ctx, "team", credits.HistoryQuery{Spender: "$x"}); !errors.Is(err, credits.ErrInvalidInput) {
		t.Fatalf("History of a reserved spender: %v", err)
	}
	f.rebuilds("team")
}

func TestBudgetCapsASpenderPerDay(t *testing.T) {
	f := newBudgetFixture(t)
	ny := testLocation(t, "America/New_York")
	f.grant("team", "seed", 1000*credits.Credit)
	f.clock.Advance(20 * time.Hour) // 2026-01-01 20:00 UTC, 15:00 in New York
	set := f.budget("team", "b1", "key_live_7", 10*credits.Credit, credits.Day(ny))
	if set.Kind != credits.KindBudget || set.Amount != 0 || set.Cap != 10*credits.Credit || set.Window != credits.WindowDay || set.Zone != "America/New_York" {
		t.Fatalf("the budget entry: %+v", set)
	}
	f.must(f.charge("team", "c1", "key_live_7", 4*credits.Credit))
	f.must(f.charge("team", "c2", "key_live_7", 6*credits.Credit))
	// Another spender, and no spender, are not held to it.
	f.must(f.charge("team", "other", "key_live_8", 50*credits.Credit))
	f.must(f.charge("team", "none", "", 50*credits.Credit))

	err := f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c3", "key_live_7", 1) })
	var be *credits.BudgetExceededError
	resets := time.Date(2026, 1, 2, 0, 0, 0, 0, ny).UTC()
	if !errors.As(err, &be) || be.Spender != "key_live_7" || be.Budget != "key_live_7" || be.Cap != 10*credits.Credit || be.Spent != 10*credits.Credit ||
		be.Held != 0 || be.Requested != 1 || be.Window.Unit != credits.WindowDay || be.Window.Location.String() != "America/New_York" || !be.ResetsAt.Equal(resets) {
		t.Fatalf("got %#v, want a *BudgetExceededError of key_live_7: 10 of 10 spent, resetting at %s", err, resets)
	}
	u := f.usage("team", "key_live_7")
	if u.Spent != 10*credits.Credit || u.Held != 0 || u.Remaining != 0 || !u.ResetsAt.Equal(resets) ||
		!u.Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, ny).UTC()) || u.Budget.Cap != 10*credits.Credit || u.Budget.Entry != set.ID {
		t.Fatalf("Usage: %+v", u)
	}
	if us, err := f.l.Usage(f.ctx, "team", "key_live_8"); err != nil || len(us) != 0 {
		t.Fatalf("Usage of a spender no budget covers: %v, %v", us, err)
	}

	// Midnight in New York: the count starts over.
	f.clock.Advance(resets.Sub(f.clock.Now()) - time.Microsecond)
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c3", "key_live_7", 1) })
	f.clock.Advance(time.Microsecond)
	f.must(f.charge("team", "c3", "key_live_7", 10*credits.Credit))
	if u := f.usage("team", "key_live_7"); u.Spent != 10*credits.Credit || !u.Start.Equal(resets) {
		t.Fatalf("Usage the next day: %+v", u)
	}
	f.rebuilds("team")
}

func TestBudgetCountsOpenHolds(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 1000*credits.Credit)
	f.budget("team", "b", "bot", 10*credits.Credit, credits.Month(nil))
	hold := func(key string, amount credits.Credits, multi bool) credits.Entry {
		return f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: key, Amount: amount, Spender: "bot", MultiCapture: multi, Deadline: f.clock.Now().Add(time.Hour)}))
	}
	h1 := hold("h1", 6*credits.Credit, true)
	h2 := hold("h2", 4*credits.Credit, false)
	// Held in full: nothing more.
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c", "bot", 1) })
	if u := f.usage("team", "bot"); u.Held != 10*credits.Credit || u.Spent != 0 || u.Remaining != 0 {
		t.Fatalf("Usage with two holds: %+v", u)
	}
	// A release gives back what it held.
	f.must(f.l.Release(f.ctx, "team", credits.ReleaseRequest{Key: "r2", Hold: h2.ID}))
	if u := f.usage("team", "bot"); u.Held != 6*credits.Credit || u.Remaining != 4*credits.Credit {
		t.Fatalf("Usage after a release: %+v", u)
	}
	// A partial capture: spent, the rest still held; the final capture of
	// less gives the rest back.
	f.must(f.l.Capture(f.ctx, "team", credits.CaptureRequest{Key: "c1", Hold: h1.ID, Amount: 2 * credits.Credit}))
	if u := f.usage("team", "bot"); u.Spent != 2*credits.Credit || u.Held != 4*credits.Credit || u.Remaining != 4*credits.Credit {
		t.Fatalf("Usage after a partial capture: %+v", u)
	}
	f.must(f.l.Capture(f.ctx, "team", credits.CaptureRequest{Key: "c2", Hold: h1.ID, Amount: credits.Credit, Final: true}))
	if u := f.usage("team", "bot"); u.Spent != 3*credits.Credit || u.Held != 0 || u.Remaining != 7*credits.Credit {
		t.Fatalf("Usage after the final capture: %+v", u)
	}
	// A lapse gives it all back.
	h3 := hold("h3", 7*credits.Credit, false)
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c3", "bot", 1) })
	f.clock.Advance(time.Hour)
	if u := f.usage("team", "bot"); u.Held != 0 || u.Remaining != 7*credits.Credit {
		t.Fatalf("Usage once hold %d lapsed: %+v", h3.ID, u)
	}
	c3 := f.must(f.charge("team", "c3", "bot", 7*credits.Credit))
	// A refund gives nothing back.
	f.must(f.l.Refund(f.ctx, "team", credits.RefundRequest{Key: "ref", Entry: c3.ID}))
	if u := f.usage("team", "bot"); u.Spent != 10*credits.Credit {
		t.Fatalf("Usage after a refund: %+v", u)
	}
	f.rebuilds("team")
}

func TestBudgetGroupsAndDefault(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 1000*credits.Credit)
	f.budget("team", "keys", "key_*", 15*credits.Credit, credits.Day(nil))
	f.budget("team", "own", "key_a", 10*credits.Credit, credits.Day(nil))
	f.budget("team", "default", "", 3*credits.Credit, credits.Week(nil))

	// key_a: its own 10 and the group's 15; key_b: the group's 15 only.
	f.must(f.charge("team", "a1", "key_a", 8*credits.Credit))
	err := f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "a2", "key_a", 3*credits.Credit) })
	var be *credits.BudgetExceededError
	if !errors.As(err, &be) || be.Budget != "key_a" {
		t.Fatalf("key_a over its own cap: %v", err)
	}
	f.must(f.charge("team", "b1", "key_b", 6*credits.Credit))
	err = f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "b2", "key_b", 2*credits.Credit) })
	if !errors.As(err, &be) || be.Budget != "key_*" || be.Spent != 14*credits.Credit || be.Cap != 15*credits.Credit {
		t.Fatalf("key_b over the group's cap: %v", err)
	}
	us, err := f.l.Usage(f.ctx, "team", "key_a")
	if err != nil || len(us) != 2 || us[0].Budget.Spender != "key_a" || us[0].Spent != 8*credits.Credit || us[1].Budget.Spender != "key_*" || us[1].Remaining != credits.Credit {
		t.Fatalf("Usage(key_a) = %+v, %v", us, err)
	}
	if g := f.usage("team", "key_*"); g.Spent != 14*credits.Credit || g.Budget.Spender != "key_*" {
		t.Fatalf("Usage of the group: %+v", g)
	}

	// Spenders no other budget covers get the default, each on its own.
	f.must(f.charge("team", "m1", "member-1", 3*credits.Credit))
	f.must(f.charge("team", "m2", "member-2", 3*credits.Credit))
	err = f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "m3", "member-1", 1) })
	if !errors.As(err, &be) || be.Budget != "" || be.Window.Unit != credits.WindowWeek {
		t.Fatalf("member-1 over the default: %v", err)
	}
	// The week resets on Monday (2026-01-05; the first day was a Thursday).
	f.clock.Advance(4*24*time.Hour - time.Microsecond)
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "m3", "member-1", 1) })
	f.clock.Advance(time.Microsecond)
	f.must(f.charge("team", "m3", "member-1", 3*credits.Credit))

	// Listing.
	bs, err := f.l.Budgets(f.ctx, "team")
	if err != nil || len(bs) != 3 || bs[0].Spender != "" || bs[1].Spender != "key_*" || bs[2].Spender != "key_a" {
		t.Fatalf("Budgets = %+v, %v", bs, err)
	}
	f.rebuilds("team")
}

func TestBudgetChanges(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 1000*credits.Credit)
	f.budget("team", "b1", "k", 10*credits.Credit, credits.Day(nil))
	f.must(f.charge("team", "c1", "k", 6*credits.Credit))
	// A new cap keeps the count.
	f.budget("team", "b2", "k", 8*credits.Credit, credits.Day(nil))
	if u := f.usage("team", "k"); u.Spent != 6*credits.Credit || u.Remaining != 2*credits.Credit {
		t.Fatalf("after a new cap: %+v", u)
	}
	// A new window carries the count of the window it was in.
	f.budget("team", "b3", "k", 20*credits.Credit, credits.Month(nil))
	if u := f.usage("team", "k"); u.Spent != 6*credits.Credit || u.Remaining != 14*credits.Credit || !u.ResetsAt.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after a new window: %+v", u)
	}
	// Idempotent: a retry replays; another request under the key conflicts.
	again := f.must(f.l.SetBudget(f.ctx, "team", credits.BudgetRequest{Key: "b3", Spender: "k", Cap: 20 * credits.Credit, Window: credits.Month(nil)}))
	if again.ID != 5 {
		t.Fatalf("a retried budget made entry %d", again.ID)
	}
	f.refused("team", credits.ErrIdempotencyConflict, func() (credits.Entry, error) {
		return f.l.SetBudget(f.ctx, "team", credits.BudgetRequest{Key: "b3", Spender: "k", Cap: 21 * credits.Credit, Window: credits.Month(nil)})
	})
	// Removed: k spends freely; removing again is refused.
	f.must(f.l.SetBudget(f.ctx, "team", credits.BudgetRequest{Key: "rm", Spender: "k", Remove: true}))
	f.must(f.charge("team", "c2", "k", 100*credits.Credit))
	if us, err := f.l.Usage(f.ctx, "team", "k"); err != nil || len(us) != 0 {
		t.Fatalf("Usage after removal: %v, %v", us, err)
	}
	f.refused("team", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.SetBudget(f.ctx, "team", credits.BudgetRequest{Key: "rm2", Spender: "k", Remove: true})
	})
	// Set again: counting starts anew.
	f.budget("team", "b4", "k", 5*credits.Credit, credits.Day(nil))
	if u := f.usage("team", "k"); u.Spent != 0 {
		t.Fatalf("a budget set again counts %s", u.Spent)
	}
	// A cap of zero: nothing may be spent.
	f.budget("team", "b5", "k", 0, credits.Day(nil))
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c3", "k", 1) })

	fixed := time.FixedZone("UTC+2", 2*3600)
	for name, r := range map[string]credits.BudgetRequest{
		"no key":              {Spender: "k", Cap: 1, Window: credits.Day(nil)},
		"negative cap":        {Key: "x", Spender: "k", Cap: -1, Window: credits.Day(nil)},
		"no window":           {Key: "x", Spender: "k", Cap: 1},
		"fixed zone":          {Key: "x", Spender: "k", Cap: 1, Window: credits.Day(fixed)},
		"local zone":          {Key: "x", Spender: "k", Cap: 1, Window: credits.Day(time.Local)},
		"billing no sub":      {Key: "x", Spender: "k", Cap: 1, Window: credits.Window{Unit: credits.WindowBillingPeriod}},
		"day with a sub":      {Key: "x", Spender: "k", Cap: 1, Window: credits.Window{Unit: credits.WindowDay, Subscription: "s"}},
		"two stars":           {Key: "x", Spender: "key_**", Cap: 1, Window: credits.Day(nil)},
		"star inside":         {Key: "x", Spender: "key_*x", Cap: 1, Window: credits.Day(nil)},
		"reserved":            {Key: "x", Spender: "$k", Cap: 1, Window: credits.Day(nil)},
		"removal with a cap":  {Key: "x", Spender: "k", Cap: 1, Remove: true},
		"unknown window unit": {Key: "x", Spender: "k", Cap: 1, Window: credits.Window{Unit: 9}},
	} {
		t.Run(name, func(t *testing.T) {
			f.refused("team", credits.ErrInvalidInput, func() (credits.Entry, error) { return f.l.SetBudget(f.ctx, "team", r) })
		})
	}
	f.rebuilds("team")
}

func TestBudgetPerBillingPeriod(t *testing.T) {
	f := newBudgetFixture(t)
	sub := credits.Subscription{ID: "team-pro", Anchor: t0.Add(9 * time.Hour),
		Plan: credits.Plan{Name: "Pro", Credits: 100 * credits.Credit, Interval: credits.Monthly}}
	// Before the first period: the window has no start and no reset.
	f.budget("team", "b", "key_*", 30*credits.Credit, credits.BillingPeriod("team-pro"))
	f.grant("team", "seed", 10*credits.Credit)
	f.must(f.charge("team", "c0", "key_1", 5*credits.Credit))
	if u := f.usage("team", "key_1"); u.Spent != 5*credits.Credit || !u.Start.IsZero() || !u.ResetsAt.IsZero() {
		t.Fatalf("Usage before the first period: %+v", u)
	}
	f.clock.Advance(9 * time.Hour)
	f.must1(f.l.Renew(f.ctx, "team", sub))
	if u := f.usage("team", "key_1"); u.Spent != 0 || !u.Start.Equal(t0.Add(9*time.Hour)) || !u.ResetsAt.Equal(t0.AddDate(0, 1, 0).Add(9*time.Hour)) {
		t.Fatalf("Usage in the first period: %+v", u)
	}
	f.must(f.charge("team", "c1", "key_1", 20*credits.Credit))
	f.must(f.charge("team", "c2", "key_2", 10*credits.Credit))
	f.refused("team", credits.ErrBudgetExceeded, func() (credits.Entry, error) { return f.charge("team", "c3", "key_2", 1) })
	// The period ends; until Renew grants the next, the window goes on
	// from its end: nothing spent in it yet, its reset not known.
	f.clock.Advance(t0.AddDate(0, 1, 0).Add(10 * time.Hour).Sub(f.clock.Now()))
	if u := f.usage("team", "key_2"); u.Spent != 0 || !u.Start.Equal(t0.AddDate(0, 1, 0).Add(9*time.Hour)) || !u.ResetsAt.IsZero() {
		t.Fatalf("Usage after the period's end: %+v", u)
	}
	f.must(f.charge("team", "c3", "key_2", 4*credits.Credit))
	// Renewing does not reset what the new period has counted so far.
	f.must1(f.l.Renew(f.ctx, "team", sub))
	if u := f.usage("team", "key_2"); u.Spent != 4*credits.Credit || !u.ResetsAt.Equal(t0.AddDate(0, 2, 0).Add(9*time.Hour)) {
		t.Fatalf("Usage once renewed: %+v", u)
	}
	f.rebuilds("team")
}

// TestBudgetUnderConcurrency: 64 goroutines charging and holding for one
// spender never take more than its cap. (ledgertest runs this on every
// backend.)
func TestBudgetUnderConcurrency(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 10_000*credits.Credit)
	f.budget("team", "b", "hot", 50*credits.Credit, credits.Day(nil))
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				key := fmt.Sprintf("g%d-%d", g, i)
				var err error
				if (g+i)%2 == 0 {
					_, err = f.charge("team", key, "hot", credits.Credit)
				} else {
					var h credits.Entry
					h, err = f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: key, Amount: 2 * credits.Credit, Spender: "hot"})
					if err == nil {
						_, err = f.l.Capture(f.ctx, "team", credits.CaptureRequest{Key: key + "c", Hold: h.ID, Amount: credits.Credit})
					}
				}
				if err != nil && !errors.Is(err, credits.ErrBudgetExceeded) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	p, err := f.l.History(f.ctx, "team", credits.HistoryQuery{Spender: "hot", Limit: 1000, Kinds: []credits.Kind{credits.KindCharge, credits.KindCapture}})
	if err != nil {
		t.Fatal(err)
	}
	var spent credits.Credits
	for _, e := range p.Entries {
		spent -= e.Amount
	}
	if spent > 50*credits.Credit || spent < 40*credits.Credit {
		t.Fatalf("64 goroutines spent %s against a cap of 50", spent)
	}
	if u := f.usage("team", "hot"); u.Spent != spent || u.Held != 0 {
		t.Fatalf("Usage %+v, history says %s spent", u, spent)
	}
	f.rebuilds("team")
}

func TestStatementBySpender(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 100*credits.Credit)
	f.must(f.charge("team", "c1", "key_b", 3*credits.Credit))
	c := f.must(f.charge("team", "c2", "key_a", 2*credits.Credit))
	f.must(f.charge("team", "c3", "", 5*credits.Credit))
	h := f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "h", Amount: 4 * credits.Credit, Spender: "key_b"}))
	f.must(f.l.Capture(f.ctx, "team", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: 4 * credits.Credit}))
	f.must(f.l.Refund(f.ctx, "team", credits.RefundRequest{Key: "r", Entry: c.ID, Amount: credits.Credit}))
	st, err := f.l.Statement(f.ctx, "team", credits.Period{Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []credits.SpenderLine{
		{Spender: "key_a", Entries: 1, Spent: 2 * credits.Credit, Refunded: credits.Credit},
		{Spender: "key_b", Entries: 2, Spent: 7 * credits.Credit},
	}
	if diff := cmp.Diff(want, st.Spenders); diff != "" {
		t.Fatalf("Statement.Spenders (-want +got):\n%s", diff)
	}
	if st.TotalSpent() != 14*credits.Credit {
		t.Fatalf("spent %s", st.TotalSpent())
	}
}

func TestWindowJSON(t *testing.T) {
	paris := testLocation(t, "Europe/Paris")
	for _, w := range []credits.Window{credits.Day(paris), credits.Month(nil), credits.BillingPeriod("sub ✓")} {
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		var back credits.Window
		if err := json.Unmarshal(b, &back); err != nil || back.String() != w.String() {
			t.Errorf("%s: %s read back as %s (%v)", w, b, back, err)
		}
	}
	var w credits.Window
	if err := json.Unmarshal([]byte(`{"unit":"day","zone":"Mars/Olympus"}`), &w); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("an unknown zone: %v", err)
	}
}

// TestStateFormat2IsRebuilt: a state stored before budgets (format 2) is
// rebuilt from the history, so that the holds' spenders are known.
func TestStateFormat2IsRebuilt(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("team", "seed", 100*credits.Credit)
	h := f.must(f.l.Hold(f.ctx, "team", credits.HoldRequest{Key: "h", Amount: 5 * credits.Credit, Spender: "bot"}))
	old := &staleBackend{MemoryBackend: f.b}
	l := credits.NewLedger(old, credits.Options{Now: f.clock.Now})
	if _, err := l.SetBudget(f.ctx, "team", credits.BudgetRequest{Key: "b", Spender: "bot", Cap: 6 * credits.Credit, Window: credits.Day(nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(f.ctx, "team", credits.ChargeRequest{Key: "c", Amount: 2 * credits.Credit, Spender: "bot"}); !errors.Is(err, credits.ErrBudgetExceeded) {
		t.Fatalf("a charge with hold %d open, on a format 2 state: %v; want ErrBudgetExceeded (the hold's spender rebuilt)", h.ID, err)
	}
	if !old.stale {
		t.Fatal("the test served no format 2 state")
	}
}

// staleBackend serves every state as format 2 once.
type staleBackend struct {
	*credits.MemoryBackend
	stale bool
}

func (b *staleBackend) Update(ctx context.Context, writes []credits.Write) error {
	for i := range writes {
		for k := range writes[i].Ops {
			op := &writes[i].Ops[k]
			op.Err = credits.UpdateOne(ctx, b.MemoryBackend, writes[i].Account, op.Key, b.decide(op.Decide))
		}
	}
	return nil
}

// decide serves the first state decide sees as format 2.
func (b *staleBackend) decide(decide credits.Decision) credits.Decision {
	return func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
		if !b.stale {
			b.stale = true
			blob, _ := s.MarshalBinary()
			var j map[string]any
			_ = json.Unmarshal(blob, &j)
			j["format"] = 2
			for _, h := range j["holds"].([]any) {
				delete(h.(map[string]any), "spender")
			}
			blob, _ = json.Marshal(j)
			var old credits.AccountState
			if err := old.UnmarshalBinary(blob); err != nil {
				return nil, err
			}
			*s = old
		}
		return decide(s, existing)
	}
}

func testLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
