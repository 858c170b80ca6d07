package credits

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// lotsFixture is a memory ledger on one account, at a clock the test moves.
type lotsFixture struct {
	t     testing.TB
	ctx   context.Context
	clock *testClock
	l     *Ledger
	n     int
}

func newLotsFixture(t testing.TB) *lotsFixture {
	clock := &testClock{}
	clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &lotsFixture{t: t, ctx: context.Background(), clock: clock,
		l: NewLedger(NewMemoryBackend(), Options{Now: clock.Now, Overdraft: func(string) Credits { return 5 * Credit }})}
}

func (f *lotsFixture) key() string { f.n++; return fmt.Sprint("k", f.n) }

func (f *lotsFixture) state() *AccountState {
	f.t.Helper()
	s, err := f.l.backend.Load(f.ctx, "acct")
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *lotsFixture) history() []Entry {
	f.t.Helper()
	return wholeHistory(f.t, f.ctx, f.l, "acct")
}

func (f *lotsFixture) must(e Entry, err error) Entry {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// Refunds go into one lot: 10,000 of them on one account leave one refund
// lot, and the stored state does not grow with them.
func TestRefundsShareOneLot(t *testing.T) {
	f := newLotsFixture(t)
	f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 20000 * Credit, Source: SourceTopUp}))
	c := f.must(f.l.Charge(f.ctx, "acct", ChargeRequest{Key: f.key(), Amount: 20000 * Credit}))
	var size int
	for i := 1; i <= 10000; i++ {
		e := f.must(f.l.Refund(f.ctx, "acct", RefundRequest{Key: f.key(), Entry: c.ID, Amount: Credit}))
		if i > 1 && e.Lot != c.ID+1 {
			t.Fatalf("refund %d went into lot %d, not the first refund's lot %d", i, e.Lot, c.ID+1)
		}
		if i == 100 {
			b, _ := f.state().MarshalBinary()
			size = len(b)
		}
	}
	s := f.state()
	if len(s.lots) != 1 || s.lots[0].ID != c.ID+1 || s.lots[0].Remaining != 10000*Credit || s.lots[0].Source != SourceRefund {
		t.Fatalf("after 10,000 refunds the lots are %+v", s.lots)
	}
	b, _ := s.MarshalBinary()
	if len(b) > size+8 { // a few more digits in the sums
		t.Fatalf("the state is %d bytes after 100 refunds and %d after 10,000", size, len(b))
	}
	if rebuilt, err := Rebuild(f.history()); err != nil || !rebuilt.Equal(s) {
		t.Fatalf("Rebuild of the history differs from the stored state (%v)", err)
	}
}

// Only lots no rule tells apart merge: another source, priority or
// expiry, or a lot already warned of, makes a lot of its own.
func TestGrantsMergeOnlyAlikeLots(t *testing.T) {
	f := newLotsFixture(t)
	exp := f.clock.Now().Add(48 * time.Hour)
	g1 := f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 10 * Credit, Source: SourceTopUp, ExpiresAt: exp}))
	g2 := f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 5 * Credit, Source: SourceTopUp, ExpiresAt: exp}))
	if g1.Lot != 0 || g2.Lot != g1.ID {
		t.Fatalf("grants record lots %d and %d, want 0 and %d", g1.Lot, g2.Lot, g1.ID)
	}
	for _, r := range []GrantRequest{
		{Amount: Credit, Source: SourceAdjustment, ExpiresAt: exp},
		{Amount: Credit, Source: SourceTopUp, ExpiresAt: exp, Priority: 1},
		{Amount: Credit, Source: SourceTopUp, ExpiresAt: exp.Add(time.Second)},
		{Amount: Credit, Source: SourceTopUp},
	} {
		r.Key = f.key()
		if e := f.must(f.l.Grant(f.ctx, "acct", r)); e.Lot != 0 {
			t.Fatalf("grant %+v went into lot %d", r, e.Lot)
		}
	}
	if s := f.state(); len(s.lots) != 5 {
		t.Fatalf("lots %+v", s.lots)
	}
	// A lot warned of as expiring takes no fresh credits.
	f.l.expiringNotice = 72 * time.Hour
	f.must(f.l.Charge(f.ctx, "acct", ChargeRequest{Key: f.key(), Amount: Credit}))
	s := f.state()
	if i := s.lotIndex(g1.ID); i < 0 || !s.lots[i].Warned {
		t.Fatalf("lot %d not warned of: %+v", g1.ID, s.lots)
	}
	if g := f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: Credit, Source: SourceTopUp, ExpiresAt: exp})); g.Lot != 0 {
		t.Fatalf("a grant went into lot %d, which was warned of", g.Lot)
	}
}

// A hold drawn from a merged lot gives back to it when released, and
// the lot expires as one.
func TestHoldFromMergedLot(t *testing.T) {
	f := newLotsFixture(t)
	f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 10 * Credit, Source: SourceTopUp}))
	c := f.must(f.l.Charge(f.ctx, "acct", ChargeRequest{Key: f.key(), Amount: 10 * Credit}))
	r1 := f.must(f.l.Refund(f.ctx, "acct", RefundRequest{Key: f.key(), Entry: c.ID, Amount: 3 * Credit}))
	r2 := f.must(f.l.Refund(f.ctx, "acct", RefundRequest{Key: f.key(), Entry: c.ID, Amount: 4 * Credit}))
	if r2.Lot != r1.ID {
		t.Fatalf("second refund went into lot %d, want %d", r2.Lot, r1.ID)
	}
	h := f.must(f.l.Hold(f.ctx, "acct", HoldRequest{Key: f.key(), Amount: 5 * Credit}))
	s := f.state()
	if len(s.lots) != 1 || s.lots[0].Remaining != 2*Credit || s.lots[0].Reserved != 5*Credit || len(s.holds) != 1 ||
		len(s.holds[0].Draws) != 1 || s.holds[0].Draws[0] != (draw{Lot: r1.ID, Amount: 5 * Credit}) {
		t.Fatalf("after the hold: lots %+v, holds %+v", s.lots, s.holds)
	}
	f.must(f.l.Release(f.ctx, "acct", ReleaseRequest{Key: f.key(), Hold: h.ID}))
	s = f.state()
	if len(s.lots) != 1 || s.lots[0].ID != r1.ID || s.lots[0].Remaining != 7*Credit || s.lots[0].Reserved != 0 || s.balance() != 7*Credit {
		t.Fatalf("after the release: lots %+v", s.lots)
	}

	// Grants that merged expire together, in one entry naming the lot.
	exp := f.clock.Now().Add(time.Hour)
	g1 := f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 2 * Credit, Source: SourceAdjustment, ExpiresAt: exp}))
	f.must(f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: 3 * Credit, Source: SourceAdjustment, ExpiresAt: exp}))
	f.clock.Set(exp.Add(time.Minute))
	swept, err := f.l.Sweep(f.ctx, "acct")
	if err != nil || len(swept) != 1 || swept[0].Lot != g1.ID || swept[0].Amount != -5*Credit {
		t.Fatalf("sweep: %+v, %v", swept, err)
	}
}

// A history written before lots merged, each refund and grant its lot and
// an expiry naming one of them, rebuilds to the state it always did.
func TestOldHistoryRebuildsAsBefore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	es := []Entry{
		{Kind: KindGrant, Amount: 100 * Credit, Source: SourceTopUp},
		{Kind: KindCharge, Amount: -60 * Credit},
		{Kind: KindRefund, Amount: 10 * Credit, Reverses: 2},
		{Kind: KindRefund, Amount: 5 * Credit, Reverses: 2},
		{Kind: KindGrant, Amount: 20 * Credit, Source: SourceAdjustment, ExpiresAt: exp},
		{Kind: KindGrant, Amount: 30 * Credit, Source: SourceAdjustment, ExpiresAt: exp},
		{Kind: KindExpire, Amount: -30 * Credit, Lot: 6, Time: exp},
		{Kind: KindExpire, Amount: -20 * Credit, Lot: 5, Time: exp},
		{Kind: KindRefund, Amount: 7 * Credit, Reverses: 2, Time: exp},
	}
	bal := Credits(0)
	for i := range es {
		es[i].Account, es[i].ID = "acct", int64(i+1)
		if es[i].Time.IsZero() {
			es[i].Time = t0
		}
		bal += es[i].Amount
		es[i].BalanceAfter = bal
	}
	s, err := Rebuild(es)
	if err != nil {
		t.Fatal(err)
	}
	want := []lot{
		{ID: 1, Source: SourceTopUp, Remaining: 40 * Credit},
		{ID: 3, Source: SourceRefund, Remaining: 10 * Credit},
		{ID: 4, Source: SourceRefund, Remaining: 5 * Credit},
		{ID: 9, Source: SourceRefund, Remaining: 7 * Credit},
	}
	if len(s.lots) != len(want) {
		t.Fatalf("lots %+v, want %+v", s.lots, want)
	}
	for i := range want {
		if s.lots[i] != want[i] {
			t.Fatalf("lots %+v, want %+v", s.lots, want)
		}
	}
	if s.balance() != 62*Credit || s.refunded[2] != 22*Credit {
		t.Fatalf("balance %s, refunded %s", s.balance(), s.refunded[2])
	}
	// And a new refund on that state joins the oldest refund lot.
	if id := s.mergeTarget(SourceRefund, 0, time.Time{}, exp); id != 3 {
		t.Fatalf("a refund would go into lot %d, want 3", id)
	}
}

// The kept totals and soonest expiry are what the lots and holds add up
// to after every step of random sequences, and the state is Rebuild's.
func TestTotalsAddUp(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		f := newLotsFixture(t)
		base := f.clock.Now()
		var charges, holds []int64
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			now := f.clock.Now()
			var err error
			var e Entry
			switch rapid.IntRange(0, 6).Draw(rt, fmt.Sprint("op", step)) {
			case 0:
				var exp time.Time
				if h := rapid.IntRange(0, 3).Draw(rt, "exp"); h > 0 {
					exp = base.Add(time.Duration(h) * 2 * time.Hour)
				}
				_, err = f.l.Grant(f.ctx, "acct", GrantRequest{Key: f.key(), Amount: Credits(rapid.IntRange(1, 20).Draw(rt, "amount")) * Credit,
					Source: rapid.SampledFrom([]Source{SourceTopUp, SourceAdjustment}).Draw(rt, "source"), ExpiresAt: exp,
					Priority: int32(rapid.IntRange(0, 1).Draw(rt, "priority"))})
			case 1:
				e, err = f.l.Charge(f.ctx, "acct", ChargeRequest{Key: f.key(), Amount: Credits(rapid.IntRange(1, 15).Draw(rt, "amount")) * Credit})
				if err == nil {
					charges = append(charges, e.ID)
				}
			case 2:
				e, err = f.l.Hold(f.ctx, "acct", HoldRequest{Key: f.key(), Amount: Credits(rapid.IntRange(1, 15).Draw(rt, "amount")) * Credit,
					Deadline: now.Add(time.Duration(rapid.IntRange(1, 5).Draw(rt, "ttl")) * time.Hour), MultiCapture: rapid.Bool().Draw(rt, "multi")})
				if err == nil {
					holds = append(holds, e.ID)
				}
			case 3, 4:
				if len(holds) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(holds)-1).Draw(rt, "hold")
				if rapid.Bool().Draw(rt, "release") {
					_, err = f.l.Release(f.ctx, "acct", ReleaseRequest{Key: f.key(), Hold: holds[i]})
				} else {
					e, err = f.l.Capture(f.ctx, "acct", CaptureRequest{Key: f.key(), Hold: holds[i], Amount: Credits(rapid.IntRange(1, 5).Draw(rt, "amount")) * Credit})
					if err == nil {
						charges = append(charges, e.ID)
					}
				}
			case 5:
				if len(charges) == 0 {
					continue
				}
				_, err = f.l.Refund(f.ctx, "acct", RefundRequest{Key: f.key(), Entry: rapid.SampledFrom(charges).Draw(rt, "entry"),
					Amount: Credits(rapid.IntRange(0, 3).Draw(rt, "amount")) * Credit})
			case 6:
				f.clock.Set(now.Add(time.Duration(rapid.IntRange(1, 150).Draw(rt, "minutes")) * time.Minute))
			}
			_ = err // refused requests are part of the sequence
			s := f.state()
			if d := s.checkTotals(); d != "" {
				rt.Fatalf("step %d: %s", step, d)
			}
			if s.Version() == 0 {
				continue
			}
			rebuilt, err := Rebuild(f.history())
			if err != nil || !rebuilt.Equal(s) || rebuilt.checkTotals() != "" {
				rt.Fatalf("step %d: Rebuild differs from the stored state (%v)", step, err)
			}
			b, _ := s.MarshalBinary()
			var decoded AccountState
			if err := decoded.UnmarshalBinary(b); err != nil || !decoded.Equal(s) || decoded.hasDue(f.clock.Now()) != s.hasDue(f.clock.Now()) ||
				decoded.spendable(f.clock.Now()) != s.spendable(f.clock.Now()) {
				rt.Fatalf("step %d: the decoded state differs (%v)", step, err)
			}
		}
	})
}
