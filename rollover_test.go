package credits

// Tests of renewal and rollover. They are in the package (not
// credits_test) so that the properties can look at lots: which lot a
// charge drew from, what is left in the subscription lots after a period's
// end. Their fixture is in fixture_test.go.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests use, whatever the machine has

	"pgregory.net/rapid"
)

// ---- Renewal ----

func TestRenewCatchesUpMissedPeriodsOnce(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	// Down for three periods: February, March and April are granted when
	// it comes back on April 10, each with its period.
	es := f.at(testDate(2026, 4, 10, 0, 0, time.UTC)).renew(s)
	got := grantsOf(es)
	for _, m := range []time.Month{2, 3, 4} {
		if c := got[testDate(2026, m, 1, 0, 0, time.UTC).UnixMicro()]; c != 100*Credit {
			t.Errorf("period %s: granted %s", m, c)
		}
	}
	if len(got) != 3 {
		t.Errorf("granted %d periods, want 3: %+v", len(got), got)
	}
	if again := f.renew(s); len(again) != 0 {
		t.Fatalf("second renewal wrote %+v", again)
	}
	f.wantTotal(400 * Credit)
	all := grantsOf(f.history())
	if len(all) != 4 {
		t.Fatalf("history has %d periods granted", len(all))
	}
	for p, c := range all {
		if c != 100*Credit {
			t.Errorf("period %s granted %s in all", time.UnixMicro(p).UTC(), c)
		}
	}
}

func TestRenewFromManyCallersAtOnce(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	f.renew(s)
	f.at(testDate(2026, 7, 2, 0, 0, time.UTC))
	var wg sync.WaitGroup
	made := make([][]Entry, 8)
	errs := make([]error, 8)
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i], errs[i] = f.l.Renew(f.ctx, f.account, s)
		}()
	}
	wg.Wait()
	var writes []Entry
	for i := range made {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		writes = append(writes, made[i]...)
	}
	got := grantsOf(writes)
	if len(got) != 6 {
		t.Fatalf("8 callers granted %d periods between them, want 6", len(got))
	}
	for p, c := range got {
		if c != 100*Credit {
			t.Errorf("period %s granted %s", time.UnixMicro(p).UTC(), c)
		}
	}
	hist := f.history()
	if all := grantsOf(hist); len(all) != 7 {
		t.Fatalf("history: %d periods granted", len(all))
	}
	s2, err := Rebuild(hist)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.l.backend.Load(f.ctx, f.account)
	if !s2.Equal(stored) {
		t.Fatal("stored state differs from the rebuilt history")
	}
	// Six capped periods in the past with nothing spent: 30 roll over.
	f.wantTotal(30*Credit + 100*Credit)
}

func TestRenewRefusesToRewriteThePast(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	before := f.history()
	changed := s
	changed.Plan.Credits = 200 * Credit // the same period, another plan
	_, err := f.l.Renew(f.ctx, f.account, changed)
	var ce *IdempotencyConflictError
	if !errors.Is(err, ErrIdempotencyConflict) || !errors.As(err, &ce) || ce.EntryID != before[0].ID {
		t.Fatalf("renewing a granted period with another plan: %v", err)
	}
	if after := f.history(); len(after) != len(before) {
		t.Fatal("a refused renewal wrote entries")
	}
}

// A subscription whose past changed under the same ID (another anchor, a
// zone, an interval) would compute periods that overlap those granted:
// renewing it is a conflict, and grants nothing twice.
func TestRenewRefusesAChangedAnchor(t *testing.T) {
	t0 := testDate(2026, 6, 1, 0, 0, time.UTC)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	for name, change := range map[string]func(*Subscription){
		"later anchor":   func(c *Subscription) { c.Anchor = testDate(2026, 6, 15, 0, 0, time.UTC) },
		"earlier anchor": func(c *Subscription) { c.Anchor = testDate(2026, 5, 20, 0, 0, time.UTC) },
		"other zone": func(c *Subscription) {
			c.Location = testZone(t, "Asia/Tokyo")
			c.Anchor = testDate(2026, 6, 1, 0, 0, c.Location) // midnight in Tokyo, not in UTC
		},
		"yearly": func(c *Subscription) { c.Plan.Interval = Yearly },
	} {
		t.Run(name, func(t *testing.T) {
			f := newSubFixture(t, t0)
			f.renew(s)
			before := f.history()
			changed := s
			change(&changed)
			f.at(testDate(2026, 6, 25, 0, 0, time.UTC))
			es, err := f.l.Renew(f.ctx, f.account, changed)
			var ce *IdempotencyConflictError
			if !errors.Is(err, ErrIdempotencyConflict) || !errors.As(err, &ce) || len(es) != 0 {
				t.Fatalf("renewing with the anchor changed: %+v, %v; want an *IdempotencyConflictError", es, err)
			}
			if after := f.history(); len(after) != len(before) {
				t.Fatalf("a refused renewal wrote %d entries", len(after)-len(before))
			}
			f.wantTotal(100 * Credit)
		})
	}
}

func TestRenewFailuresChangeNothing(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	f.at(testDate(2026, 3, 5, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if es, err := f.l.Renew(ctx, f.account, s); !errors.Is(err, context.Canceled) || len(es) != 0 {
		t.Fatalf("cancelled context: %v, %+v", err, es)
	}
	bad := s
	bad.Plan.Interval = 0
	if _, err := f.l.Renew(f.ctx, f.account, bad); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid subscription: %v", err)
	}
	if _, err := f.l.Renew(f.ctx, "$system", s); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("reserved account: %v", err)
	}
	if n := len(f.history()); n != 1 {
		t.Fatalf("failed renewals left %d entries", n)
	}
	// A subscription that has not started renews nothing, and makes no account.
	later := testSub("later", s.Plan, testDate(2027, 1, 1, 0, 0, time.UTC), nil)
	if es, err := f.l.Renew(f.ctx, "newcomer", later); err != nil || len(es) != 0 {
		t.Fatalf("future subscription: %v %+v", err, es)
	}
	if b, err := f.l.Balance(f.ctx, "newcomer"); err != nil || b.Version != 0 {
		t.Fatalf("future subscription made an account: %+v, %v", b, err)
	}
}

// ---- Boundary instants ----

func TestGrantExpiringAtThePeriodEnd(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	end := s.PeriodAt(t0).End
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "promo", Amount: 7 * Credit, Source: SourceTopUp, ExpiresAt: end}); err != nil {
		t.Fatal(err)
	}
	f.at(end.Add(-time.Microsecond)).wantTotal(107 * Credit)
	f.at(end).wantTotal(100 * Credit)
	// The expiry happens at the boundary instant, so it belongs to the next
	// period's statement (periods are half-open), recorded or not.
	jan := f.statement(s.PeriodAt(t0))
	feb := f.statement(s.PeriodAt(end))
	if jan.Expired != 0 || jan.Closing != 107*Credit || feb.Opening != 107*Credit || feb.Expired != 7*Credit || feb.Closing != 100*Credit {
		t.Fatalf("january %+v\nfebruary %+v", jan, feb)
	}
	f.renew(s)
	feb = f.statement(s.PeriodAt(end))
	if feb.Expired != 7*Credit || feb.Closing != 200*Credit {
		t.Fatalf("february after the renewal %+v", feb)
	}
}

func TestRenewalAtThePeriodEndInstant(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("use-it", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	f.renew(s)
	end := s.PeriodAt(t0).End
	if es := f.at(end.Add(-time.Microsecond)).renew(s); len(es) != 0 {
		t.Fatalf("renewed a microsecond early: %+v", es)
	}
	es := f.at(end).renew(s)
	if len(es) != 1 || es[0].Kind != KindGrant || !es[0].Period.Equal(end) || !es[0].Time.Equal(end) || !es[0].ExpiresAt.Equal(testDate(2026, 3, 1, 0, 0, time.UTC)) {
		t.Fatalf("renewal at the boundary: %+v", es)
	}
	f.wantTotal(100 * Credit) // January's credits gone, February's here
	hist := f.history()
	if k := hist[len(hist)-2]; k.Kind != KindExpire || k.Amount != -100*Credit {
		t.Fatalf("January's expiry was not recorded before February's grant: %+v", hist)
	}
}

func TestChargeOneNanosecondAroundThePeriodEnd(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	s := testSub("s", testPlan("use-it", 10*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	end := s.PeriodAt(t0).End

	// One nanosecond before the end is, to the microsecond ledger, one
	// microsecond before it: still inside the period.
	f := newSubFixture(t, t0)
	f.renew(s)
	f.at(end.Add(-time.Nanosecond)).mustCharge(10 * Credit)
	hist := f.history()
	if last := hist[len(hist)-1]; !last.Time.Equal(end.Add(-time.Microsecond)) {
		t.Fatalf("charge stamped %s", last.Time.Format(time.RFC3339Nano))
	}

	// One nanosecond after the end is the end itself: the credits expired.
	g := newSubFixture(t, t0)
	g.renew(s)
	err := g.at(end.Add(time.Nanosecond)).charge(Credit)
	var ie *InsufficientCreditsError
	if !errors.As(err, &ie) || ie.Available != 0 {
		t.Fatalf("charge after the end: %v", err)
	}
	// And the same at microsecond granularity.
	g.at(end.Add(time.Microsecond))
	if err := g.charge(Credit); !errors.Is(err, ErrInsufficientCredits) {
		t.Fatalf("charge a microsecond after the end: %v", err)
	}
	g.renew(s)
	g.mustCharge(10 * Credit) // the new period's credits
}

// ---- Rollover policies ----

func TestRolloverAllIsTheDefault(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	f.mustCharge(40 * Credit)
	f.at(testDate(2027, 1, 1, 0, 0, time.UTC)).renew(s)
	f.wantTotal(13*100*Credit - 40*Credit)
	for _, e := range f.history() {
		if e.Kind == KindRollover || e.Kind == KindExpire || !e.ExpiresAt.IsZero() {
			t.Fatalf("the default policy expired something: %+v", e)
		}
	}
}

func TestRolloverCapped(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		spend  Credits // in January, of 100 subscription credits, a free tier of 30 and a top-up of 20
		left   Credits // what rolls over into February, free tier and top-up included
		expire Credits // at January's end
	}{
		{spend: 0, left: 80 * Credit, expire: 70 * Credit},
		{spend: 50 * Credit, left: 80 * Credit, expire: 20 * Credit},
		{spend: 70 * Credit, left: 80 * Credit, expire: 0},
		{spend: 95 * Credit, left: 55 * Credit, expire: 0},
		{spend: 100 * Credit, left: 50 * Credit, expire: 0},
	} {
		for _, priority := range []int32{0, 1} {
			t.Run(fmt.Sprintf("spend %s priority %d", tc.spend, priority), func(t *testing.T) {
				f := newSubFixture(t, t0)
				capped := testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit})
				capped.Priority = priority
				s := testSub("s", capped, t0, nil)
				// The free tier and a top-up are not subscription credits:
				// the cap never takes them, and the credits over the cap
				// (which expire at the period's end) are spent before them.
				if _, err := f.l.ClaimFreeTier(f.ctx, f.account, ""); err != nil {
					t.Fatal(err)
				}
				f.renew(s)
				if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 20 * Credit, Source: SourceTopUp}); err != nil {
					t.Fatal(err)
				}
				if tc.spend > 0 {
					f.mustCharge(tc.spend)
				}
				feb := testDate(2026, 2, 1, 0, 0, time.UTC)
				f.at(feb).wantTotal(tc.left) // at read time, before any renewal
				f.renew(s)
				f.wantTotal(tc.left + 100*Credit)
				if st := f.statement(s.PeriodAt(feb)); st.Expired != tc.expire {
					t.Fatalf("february statement: expired %s, want %s", st.Expired, tc.expire)
				}
				// March, nothing spent in February: of the subscription
				// credits, 30 roll over. With priority 1 they were spent
				// before the free tier and the top-up, so those 50 are all
				// still there. With priority 0 the free tier (older) was
				// spent before the subscription credits within the cap, and
				// what was left of them then counts against March's cap.
				want := 50*Credit + 30*Credit
				if priority == 0 && tc.spend > 70*Credit {
					want -= tc.spend - 70*Credit
				}
				f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(want)
			})
		}
	}
}

func TestRolloverCapLoweredByAPlanChange(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("big", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 80 * Credit}), t0, nil)
	f.renew(s)
	s, err := testSub("s", testPlan("big", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 80 * Credit}), t0, nil).
		ChangePlan(testPlan("small", 10*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 20 * Credit}), testDate(2026, 1, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// January ends with 80 rolled over under the old cap; February's plan
	// caps at 20, so at February's end 80 + 10 - 20 = 70 are over: the 10
	// of February's grant expire with it, and the 60 of January's credits
	// are dropped by a rollover entry at the next renewal.
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
	f.wantTotal(90 * Credit)
	f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(80 * Credit)
	es := f.renew(s)
	if len(es) != 2 || es[0].Kind != KindRollover || es[0].Amount != -60*Credit || !es[0].Period.Equal(testDate(2026, 2, 1, 0, 0, time.UTC)) {
		t.Fatalf("renewal in March: %+v", es)
	}
	f.wantTotal(20*Credit + 10*Credit)
}

func TestRolloverNoneExpiresUnusedCreditsAtReadTime(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("use-it", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 10 * Credit, Source: SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	f.renew(s)
	f.mustCharge(30 * Credit) // from the subscription lot: it expires sooner
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC))
	f.wantTotal(10 * Credit) // no renewal, no sweep: read time
	if err := f.charge(11 * Credit); !errors.Is(err, ErrInsufficientCredits) {
		t.Fatalf("spent expired credits: %v", err)
	}
}

func TestRolloverCarry(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	pol := RolloverPolicy{Mode: RollOverCarry, Max: 50 * Credit, Min: 5 * Credit, CarryPriority: 10, CarryPeriods: 1}
	t.Run("leftovers move into a lot of their own", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		f.mustCharge(30 * Credit) // 70 left: 50 carried, 20 over the max expire at the end
		feb := testDate(2026, 2, 1, 0, 0, time.UTC)
		f.at(feb).wantTotal(50 * Credit)
		es := f.renew(s)
		// The rollover, then February's grant: 50 that would be over the
		// max at its end (expiring then), and 50 that would be carried.
		if len(es) != 3 || es[0].Kind != KindRollover || es[0].Lot != es[0].ID || es[0].Amount != 0 ||
			es[0].Priority != 10 || !es[0].ExpiresAt.Equal(testDate(2026, 3, 1, 0, 0, time.UTC)) || es[0].Carried != 50*Credit || es[0].Metadata != nil {
			t.Fatalf("carry: %+v", es)
		}
		st := f.state()
		if i := st.lotIndex(es[0].ID); i != 0 || st.lots[i].Source != SourceRollover || st.lots[i].Remaining != 50*Credit {
			t.Fatalf("carried lot is not first in spending order: %+v", st.lots)
		}
		if got := f.statement(s.PeriodAt(feb)); got.Carried != 50*Credit || got.Expired != 20*Credit {
			t.Fatalf("statement: %+v", got)
		}
		f.mustCharge(60 * Credit) // the carried 50 first (priority), then 10 of February's
		f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).renew(s)
		// February's 90 unspent: 50 carried; the carried lot of January was spent.
		f.wantTotal(50*Credit + 100*Credit)
	})
	t.Run("leftovers under the minimum expire", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		f.mustCharge(96 * Credit)
		f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).wantTotal(4 * Credit) // until the carry decides
		es := f.renew(s)
		if len(es) != 3 || es[0].Kind != KindRollover || es[0].Amount != -4*Credit || es[0].Lot != 0 {
			t.Fatalf("dust: %+v", es)
		}
		f.wantTotal(100 * Credit)
	})
	t.Run("a cancelled subscription carries once at its end", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		c, err := s.Cancel(t0)
		if err != nil {
			t.Fatal(err)
		}
		f.at(testDate(2026, 2, 3, 0, 0, time.UTC))
		es := f.renew(c)
		if len(es) != 1 || es[0].Kind != KindRollover || es[0].Key == "" || es[0].Carried != 50*Credit {
			t.Fatalf("final carry: %+v", es)
		}
		if again := f.renew(c); len(again) != 0 {
			t.Fatalf("final carry twice: %+v", again)
		}
		f.wantTotal(50 * Credit)
		f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(0) // the carried lot's own expiry
	})
}

func TestGrantsThatExpire(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	t.Run("after N periods", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("3m", 100*Credit, Monthly, RolloverPolicy{ExpireAfterPeriods: 3}), t0, nil)
		f.renew(s)
		f.at(testDate(2026, 3, 31, 0, 0, time.UTC)).renew(s)
		f.wantTotal(300 * Credit)
		f.at(testDate(2026, 4, 1, 0, 0, time.UTC)).wantTotal(200 * Credit) // January's grant is gone
		f.renew(s)
		f.wantTotal(300 * Credit)
	})
	t.Run("at an instant", func(t *testing.T) {
		f := newSubFixture(t, t0)
		cutoff := testDate(2026, 2, 15, 0, 0, time.UTC)
		s := testSub("s", testPlan("promo", 100*Credit, Monthly, RolloverPolicy{ExpiresAt: cutoff}), t0, nil)
		f.renew(s)
		f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
		f.at(cutoff.Add(-time.Microsecond)).wantTotal(200 * Credit)
		f.at(cutoff).wantTotal(0)
		// A period granted after the instant is granted expired: it is
		// in the history, and never spendable.
		es := f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).renew(s)
		if len(es) != 1 || !es[0].ExpiresAt.Equal(cutoff) {
			t.Fatalf("grant after the cutoff: %+v", es)
		}
		f.wantTotal(0)
	})
}

func TestCatchUpAppliesEachPeriodsPolicyAsIfOnTime(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	f.renew(s)
	f.mustCharge(90 * Credit) // 10 left of January
	f.at(testDate(2026, 4, 15, 0, 0, time.UTC))
	es := f.renew(s)
	if got := grantsOf(es); len(got) != 3 {
		t.Fatalf("catch-up: %+v", got)
	}
	// January leaves 10; February: 10 + 100 capped to 30; March: 30 + 100
	// capped to 30; April's 100 is current.
	f.wantTotal(30*Credit + 100*Credit)
}

// ---- Properties of a ledger with a subscription ----

// subMachine drives random operations on one account with one
// subscription, and checks the invariants of rollover after each.
type subMachine struct {
	ctx     context.Context
	clock   *testClock
	l       *Ledger
	account string
	sub     Subscription
	policy  RolloverPolicy // every plan of the run has it: the cap check is about one cap
	renewed time.Time      // the clock at the last successful Renew (zero: never)
	slack   Credits        // credits on hold at the last renewal that wrote: a release may bring them back over the cap
	charges []int64
	holds   []int64
	keys    int
}

func drawPolicy(t *rapid.T) RolloverPolicy {
	switch rapid.IntRange(0, 5).Draw(t, "policy") {
	case 0:
		return RolloverPolicy{}
	case 1:
		return RolloverPolicy{Mode: RollOverNone}
	case 2:
		return RolloverPolicy{Mode: RollOverCapped, Max: Credits(rapid.IntRange(1, 150).Draw(t, "cap")) * Credit}
	case 3:
		return RolloverPolicy{Mode: RollOverCapped, Max: Credits(rapid.IntRange(1, 150).Draw(t, "cap")) * Credit,
			ExpireAfterPeriods: rapid.IntRange(1, 4).Draw(t, "lifetime")}
	case 4:
		most := Credits(rapid.IntRange(0, 150).Draw(t, "max")) * Credit
		least := Credits(rapid.IntRange(0, 20).Draw(t, "min")) * Credit
		if most > 0 {
			least = min(least, most)
		}
		return RolloverPolicy{Mode: RollOverCarry, Max: most, Min: least,
			CarryPriority: int32(rapid.IntRange(-1, 2).Draw(t, "carry priority")), CarryPeriods: rapid.IntRange(0, 3).Draw(t, "carry periods")}
	default:
		return RolloverPolicy{ExpireAfterPeriods: rapid.IntRange(1, 3).Draw(t, "lifetime"),
			ExpiresAt: time.Date(rapid.IntRange(1995, 2050).Draw(t, "cutoff year"), 6, 1, 0, 0, 0, 0, time.UTC)}
	}
}

// TestPropertyRollover: over any run of operations and period ends, in
// any zone, from any anchor, under any policy:
//   - granted = spent + expired + balance (read-time balance), and the
//     all-time statement says the same; statements of periods chain;
//   - the stored state is the history folded (Rebuild);
//   - each period renewed was granted once, in full, with its Period;
//   - every charge drew from the lots in spending order, so nothing that
//     could have been spent first expires: credits that expire sooner, or
//     that a cap would take, are spent first;
//   - after a period's end, the subscription credits that survive are at
//     most the cap; every carry is within [Min, Max].
func TestPropertyRollover(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		loc := testZone(rt, rapid.SampledFrom([]string{"UTC", "America/New_York", "Australia/Lord_Howe"}).Draw(rt, "zone"))
		anchor := drawAnchor(rt, loc)
		pol := drawPolicy(rt)
		iv := rapid.SampledFrom([]Interval{Monthly, Monthly, Yearly}).Draw(rt, "interval")
		p := testPlan("p", Credits(rapid.IntRange(0, 200).Draw(rt, "credits"))*Credit, iv, pol)
		p.Priority = int32(rapid.IntRange(0, 1).Draw(rt, "plan priority"))
		c := &testClock{t: anchor.Add(-time.Hour)}
		m := &subMachine{ctx: context.Background(), clock: c, l: NewMemoryLedger(Options{Now: c.Now}), account: "acct",
			sub: testSub("s", p, anchor, loc), policy: pol}
		rt.Repeat(map[string]func(*rapid.T){
			"renew":   m.renew,
			"charge":  m.charge,
			"hold":    m.hold,
			"close":   m.closeHold,
			"topup":   m.topup,
			"free":    m.free,
			"refund":  m.refund,
			"advance": m.advance,
			"change":  m.change,
			"cancel":  m.cancel,
			"":        m.check,
		})
	})
}

func (m *subMachine) now() time.Time { return m.l.Now() }

func (m *subMachine) key(prefix string) string {
	m.keys++
	return fmt.Sprint(prefix, m.keys)
}

func (m *subMachine) load(t *rapid.T) *AccountState {
	s, err := m.l.backend.Load(m.ctx, m.account)
	if errors.Is(err, ErrUnknownAccount) {
		return &AccountState{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (m *subMachine) renew(t *rapid.T) {
	held := m.load(t).held()
	es, err := m.l.Renew(m.ctx, m.account, m.sub)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	m.renewed = m.now()
	if len(es) > 0 {
		m.slack = held
	}
}

// charge spends a random amount. It checks that the charge drew from the
// lots in spending order (a lot only once every unexpired lot before it
// is empty), and that a refused charge changed nothing.
func (m *subMachine) charge(t *rapid.T) {
	amount := Credits(rapid.IntRange(1, 120).Draw(t, "amount")) * Credit / Credits(rapid.SampledFrom([]int{1, 3}).Draw(t, "divisor"))
	stored := m.load(t)
	before := stored.Clone()
	settle(before, m.account, m.now())
	e, err := m.l.Charge(m.ctx, m.account, ChargeRequest{Key: m.key("c"), Amount: amount})
	if errors.Is(err, ErrInsufficientCredits) {
		if after := m.load(t); !after.Equal(stored) {
			t.Fatal("a refused charge changed the account")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m.charges = append(m.charges, e.ID)
	after := m.load(t)
	remaining := func(id int64) Credits {
		if j := after.lotIndex(id); j >= 0 {
			return after.lots[j].Remaining
		}
		return 0
	}
	last := -1 // the last lot, in spending order, the charge drew from
	for i, l := range before.lots {
		if !expired(l.ExpiresAt, e.Time) && remaining(l.ID) < l.Remaining {
			last = i
		}
	}
	for i := 0; i < last; i++ {
		l := before.lots[i]
		if !expired(l.ExpiresAt, e.Time) && remaining(l.ID) > 0 {
			t.Fatalf("charge %d drew from lot %d while lot %d, before it in spending order, kept %s: %+v",
				e.ID, before.lots[last].ID, l.ID, remaining(l.ID), before.lots)
		}
	}
}

func (m *subMachine) hold(t *rapid.T) {
	r := HoldRequest{Key: m.key("h"), Amount: Credits(rapid.IntRange(1, 60).Draw(t, "amount")) * Credit,
		Deadline: m.now().Add(time.Duration(rapid.IntRange(1, 24*40).Draw(t, "hours")) * time.Hour)}
	e, err := m.l.Hold(m.ctx, m.account, r)
	if errors.Is(err, ErrInsufficientCredits) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m.holds = append(m.holds, e.ID)
}

func (m *subMachine) closeHold(t *rapid.T) {
	if len(m.holds) == 0 {
		t.Skip("no hold")
	}
	i := rapid.IntRange(0, len(m.holds)-1).Draw(t, "hold")
	id := m.holds[i]
	m.holds = slices.Delete(m.holds, i, i+1)
	var err error
	if rapid.Bool().Draw(t, "capture") {
		_, err = m.l.Capture(m.ctx, m.account, CaptureRequest{Key: m.key("x"), Hold: id, Amount: Credit})
	} else {
		_, err = m.l.Release(m.ctx, m.account, ReleaseRequest{Key: m.key("x"), Hold: id})
	}
	if err != nil && !errors.Is(err, ErrHoldClosed) {
		t.Fatal(err)
	}
}

func (m *subMachine) topup(t *rapid.T) {
	r := GrantRequest{Key: m.key("t"), Amount: Credits(rapid.IntRange(1, 80).Draw(t, "amount")) * Credit, Source: SourceTopUp,
		Priority: int32(rapid.IntRange(-1, 1).Draw(t, "priority"))}
	if rapid.Bool().Draw(t, "expires") {
		r.ExpiresAt = m.now().Add(time.Duration(rapid.IntRange(1, 24*70).Draw(t, "hours")) * time.Hour)
	}
	if _, err := m.l.Grant(m.ctx, m.account, r); err != nil {
		t.Fatal(err)
	}
}

func (m *subMachine) free(t *rapid.T) {
	if _, err := m.l.ClaimFreeTier(m.ctx, m.account, ""); err != nil && !errors.Is(err, ErrAlreadyClaimed) {
		t.Fatal(err)
	}
}

func (m *subMachine) refund(t *rapid.T) {
	if len(m.charges) == 0 {
		t.Skip("no charge")
	}
	id := rapid.SampledFrom(m.charges).Draw(t, "charge")
	_, err := m.l.Refund(m.ctx, m.account, RefundRequest{Key: m.key("r"), Entry: id, Amount: Credit})
	if err != nil && !errors.Is(err, ErrNotRefundable) {
		t.Fatal(err)
	}
}

// advance moves the clock: to a period's end exactly, a microsecond
// either side of it, or hours or days on.
func (m *subMachine) advance(t *rapid.T) {
	now := m.clock.Now()
	end := m.sub.PeriodAt(now).End
	switch rapid.IntRange(0, 3).Draw(t, "to") {
	case 0:
		m.clock.Set(end)
	case 1:
		m.clock.Set(end.Add(time.Duration(rapid.IntRange(-1, 1).Draw(t, "µs")) * time.Microsecond))
	case 2:
		m.clock.Set(now.Add(time.Duration(rapid.IntRange(1, 24*20).Draw(t, "hours")) * time.Hour))
	default:
		m.clock.Set(now.Add(time.Duration(rapid.IntRange(1, 100).Draw(t, "days")) * 24 * time.Hour))
	}
}

// change moves to a plan with another amount (and the same policy) from
// the next period.
func (m *subMachine) change(t *rapid.T) {
	p := m.sub.PlanAt(m.now())
	p.Credits = Credits(rapid.IntRange(0, 200).Draw(t, "credits")) * Credit
	p.Name = "p" + p.Credits.String()
	s, err := m.sub.ChangePlan(p, m.now())
	if errors.Is(err, ErrInvalidInput) && !m.sub.Ends.IsZero() {
		return // ended before the next period
	}
	if err != nil {
		t.Fatal(err)
	}
	m.sub = s
}

func (m *subMachine) cancel(t *rapid.T) {
	if rapid.IntRange(0, 4).Draw(t, "really") != 0 {
		return
	}
	s, err := m.sub.Cancel(m.now())
	if err != nil {
		t.Fatal(err)
	}
	m.sub = s
}

func (m *subMachine) check(t *rapid.T) {
	stored := m.load(t)
	if stored.Version() == 0 {
		return
	}
	var hist []Entry
	q := HistoryQuery{Limit: 1000}
	for {
		p, err := m.l.History(m.ctx, m.account, q)
		if err != nil {
			t.Fatal(err)
		}
		hist = append(hist, p.Entries...)
		if p.Next == 0 {
			break
		}
		q.After = p.Next
	}
	rebuilt, err := Rebuild(hist)
	if err != nil {
		t.Fatal(err)
	}
	if !rebuilt.Equal(stored) {
		t.Fatal("the stored state is not the history folded")
	}

	// Granted = spent + expired + balance, the balance at read time.
	var granted, spent, gone Credits
	for _, e := range hist {
		switch e.Kind {
		case KindGrant, KindRefund:
			granted += e.Amount
		case KindCharge, KindCapture:
			spent -= e.Amount
		case KindExpire, KindRollover:
			if e.Amount > 0 {
				t.Fatalf("entry %d gives credits back: %+v", e.ID, e)
			}
			gone -= e.Amount
		}
	}
	for _, d := range stored.due(m.now()) {
		gone -= d.Amount
	}
	bal, err := m.l.Balance(m.ctx, m.account)
	if err != nil {
		t.Fatal(err)
	}
	if granted != spent+gone+bal.Total {
		t.Fatalf("granted %s != spent %s + expired %s + balance %s", granted, spent, gone, bal.Total)
	}
	all, err := m.l.Statement(m.ctx, m.account, Period{Start: testDate(1990, 1, 1, 0, 0, time.UTC), End: testDate(9000, 1, 1, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	checkAddsUp(t, all)
	if all.Opening != 0 || all.Closing != bal.Total || all.Expired != gone || all.TotalSpent() != spent {
		t.Fatalf("all-time statement %+v; balance %s, expired %s, spent %s", all, bal.Total, gone, spent)
	}

	// Each period renewed was granted once, in full; no other was.
	byPeriod := grantsOf(hist)
	if !m.renewed.IsZero() {
		for _, p := range m.sub.Periods(time.Time{}, m.renewed.Add(time.Microsecond)) {
			want := m.sub.PlanAt(p.Start).Credits
			if got, ok := byPeriod[p.Start.UnixMicro()]; !ok || got != want {
				t.Fatalf("period %s granted %s (%v), want %s", p, got, ok, want)
			}
			delete(byPeriod, p.Start.UnixMicro())
		}
	}
	if len(byPeriod) != 0 {
		t.Fatalf("grants for periods not renewed: %v", byPeriod)
	}

	// The statements of the last periods chain, the current one's closing
	// is the balance.
	ps := m.sub.Periods(time.Time{}, m.now().Add(time.Microsecond))
	var prev *Statement
	for _, p := range ps[max(0, len(ps)-4):] {
		st, err := m.l.Statement(m.ctx, m.account, p)
		if err != nil {
			t.Fatal(err)
		}
		checkAddsUp(t, st)
		if prev != nil && prev.Closing != st.Opening {
			t.Fatalf("period %s closes at %s, the next opens at %s", prev.Period, prev.Closing, st.Opening)
		}
		if p.Contains(m.now()) && st.Closing != bal.Total {
			t.Fatalf("the current period closes at %s, the balance is %s", st.Closing, bal.Total)
		}
		prev = &st
	}

	// A cap holds at read time: once the last renewed period has ended,
	// the subscription credits that survive are at most the cap, plus
	// what holds open at that renewal may have given back.
	if c, ok := m.policy.capAt(); ok && !m.renewed.IsZero() && !m.now().Before(m.sub.PeriodAt(m.renewed).End) {
		var live Credits
		for _, l := range stored.lots {
			if l.Source == SourceSubscription && !expired(l.ExpiresAt, m.now()) {
				live += l.Remaining + l.Reserved
			}
		}
		if live > c+m.slack {
			t.Fatalf("after the period's end, %s subscription credits survive a cap of %s (slack %s): %+v", live, c, m.slack, stored.lots)
		}
	}
	// Every carry is within the policy's bounds.
	for _, e := range hist {
		if e.Kind != KindRollover || e.Metadata["carried"] == "" {
			continue
		}
		c := MustParse(e.Metadata["carried"])
		if m.policy.Mode != RollOverCarry || (m.policy.Max > 0 && c > m.policy.Max) || c < m.policy.Min {
			t.Fatalf("a carry of %s under %+v", c, m.policy)
		}
	}
}

func renewBenchLedger(b *testing.B, periods int) (*Ledger, Subscription, *testClock) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	c.Set(t0.AddDate(0, periods-1, 3))
	if _, err := l.Renew(context.Background(), "a", s); err != nil {
		b.Fatal(err)
	}
	return l, s, c
}

// BenchmarkRenewUpToDate is the common call: a subscription two years old
// that is already renewed.
func BenchmarkRenewUpToDate(b *testing.B) {
	l, s, _ := renewBenchLedger(b, 24)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Renew(ctx, "a", s); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewBaselineBalance is one read of the same account.
func BenchmarkRenewBaselineBalance(b *testing.B) {
	l, _, _ := renewBenchLedger(b, 24)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Balance(ctx, "a"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewPeriod grants one new period (and applies the cap) each
// iteration, on a fresh account each time.
func BenchmarkRenewPeriod(b *testing.B) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	ctx := context.Background()
	i := 0
	cpu := startRolloverCPU(b)
	for b.Loop() {
		i++
		if _, err := l.Renew(ctx, fmt.Sprint("a", i), s); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewBaselineGrant is the same write made by Grant.
func BenchmarkRenewBaselineGrant(b *testing.B) {
	l := NewMemoryLedger(Options{})
	ctx := context.Background()
	i := 0
	cpu := startRolloverCPU(b)
	for b.Loop() {
		i++
		if _, err := l.Grant(ctx, fmt.Sprint("a", i), GrantRequest{Key: "g", Amount: 100 * Credit, Source: SourceSubscription}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}
