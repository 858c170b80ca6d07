package credits_test

import (
	"context"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

func noticesOf(t *testing.T, l *credits.Ledger, account string) []credits.Notice {
	t.Helper()
	p, err := l.History(context.Background(), account, credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []credits.Notice
	for _, e := range p.Entries {
		if n, ok := credits.NoticeOf(e); ok {
			out = append(out, n)
		}
	}
	return out
}

// A write that leaves the available credits under the threshold writes one
// low_balance notice in its atomic step; none again while they stay low;
// and one again after they were back at the threshold.
func TestLowBalanceNoticeOnceUntilRearmed(t *testing.T) {
	clock := ledgertest.NewClock(t0)
	m := credits.NewMemoryBackend()
	l := credits.NewLedger(m, credits.Options{Now: clock.Now, LowBalance: func(a string) credits.Credits {
		if a == "quiet" {
			return 0
		}
		return 10 * credits.Credit
	}})
	ctx := context.Background()
	must := func(_ credits.Entry, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 30 * credits.Credit, Source: credits.SourceTopUp}))
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c1", Amount: 15 * credits.Credit}))                           // 15 left
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c2", Amount: 6 * credits.Credit}))                            // 9: crosses
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c3", Amount: 1 * credits.Credit}))                            // 8: still low
	must(l.Hold(ctx, "a", credits.HoldRequest{Key: "h", Amount: credits.Credit}))                                     // 7 available
	must(l.Grant(ctx, "a", credits.GrantRequest{Key: "g2", Amount: 5 * credits.Credit, Source: credits.SourceTopUp})) // 12: re-armed
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c4", Amount: 3 * credits.Credit}))                            // 9: crosses again
	got := noticesOf(t, l, "a")
	if len(got) != 2 {
		t.Fatalf("%d notices, want 2: %+v", len(got), got)
	}
	for i, n := range got {
		if n.Kind != credits.NoticeLowBalance || n.Entry.Kind != credits.KindNotice || n.Entry.Value != 10*credits.Credit || n.Entry.Amount != 0 {
			t.Errorf("notice %d: %+v", i, n)
		}
	}
	// The notice comes right after the entry that caused it, in its step.
	if got[0].Entry.ID != 4 || got[1].Entry.ID != 9 {
		t.Errorf("notices at entries %d and %d, want 4 (after charge 3) and 9 (after charge 8)", got[0].Entry.ID, got[1].Entry.ID)
	}
	// A replayed charge writes nothing, notice included.
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c4", Amount: 3 * credits.Credit}))
	if n := len(noticesOf(t, l, "a")); n != 2 {
		t.Errorf("a replay wrote a notice: %d", n)
	}
	must(l.Grant(ctx, "quiet", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}))
	if n := len(noticesOf(t, l, "quiet")); n != 0 {
		t.Errorf("an account without a threshold got %d notices", n)
	}
	checkRebuild(t, l, m, "a")
}

// A lot expiring within the window gets one expiring notice, from the
// first write or sweep that sees it, and SweepAll finds every account.
func TestExpiringNoticeOncePerLot(t *testing.T) {
	clock := ledgertest.NewClock(t0)
	m := credits.NewMemoryBackend()
	l := credits.NewLedger(m, credits.Options{Now: clock.Now, ExpiringNotice: 7 * 24 * time.Hour})
	ctx := context.Background()
	for _, a := range []string{"a", "b"} {
		if _, err := l.Grant(ctx, a, credits.GrantRequest{Key: "promo", Amount: 5 * credits.Credit, Source: credits.SourceAdjustment,
			ExpiresAt: t0.Add(30 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.SweepAll(ctx); err != nil || n != 0 {
		t.Fatalf("SweepAll 30 days before: %d, %v", n, err)
	}
	clock.Advance(24 * 24 * time.Hour) // 6 days left
	if n, err := l.SweepAll(ctx); err != nil || n != 2 {
		t.Fatalf("SweepAll 6 days before: wrote %d, %v; want a notice for each account", n, err)
	}
	if n, err := l.SweepAll(ctx); err != nil || n != 0 {
		t.Fatalf("SweepAll again: wrote %d, %v; want nothing", n, err)
	}
	got := noticesOf(t, l, "a")
	if len(got) != 1 || got[0].Kind != credits.NoticeExpiring || got[0].Entry.Lot != 1 || got[0].Entry.Value != 5*credits.Credit ||
		!got[0].Entry.ExpiresAt.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("notices of a: %+v", got)
	}
	clock.Advance(7 * 24 * time.Hour)
	if _, err := l.Sweep(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	checkRebuild(t, l, m, "a")
}

// Holds that lapse, free-tier grants and renewals are notices too: the
// entries of the event.
func TestNoticeOfEvents(t *testing.T) {
	clock := ledgertest.NewClock(t0)
	l := credits.NewMemoryLedger(credits.Options{Now: clock.Now, HoldTTL: time.Minute})
	ctx := context.Background()
	if _, err := l.ClaimFreeTier(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Hold(ctx, "a", credits.HoldRequest{Key: "h", Amount: credits.Credit}); err != nil {
		t.Fatal(err)
	}
	sub := credits.Subscription{ID: "s", Anchor: t0, Plan: credits.Plan{Name: "p", Credits: credits.Credit, Interval: credits.Monthly}}
	clock.Advance(time.Hour)
	if _, err := l.Renew(ctx, "a", sub); err != nil {
		t.Fatal(err)
	}
	var kinds []credits.NoticeKind
	for _, n := range noticesOf(t, l, "a") {
		kinds = append(kinds, n.Kind)
	}
	want := []credits.NoticeKind{credits.NoticeFreeTierClaimed, credits.NoticeHoldLapsed, credits.NoticeRenewed}
	if len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("notices %v, want %v", kinds, want)
	}
}

// checkRebuild checks that the account's stored state is the fold of its
// history: notices fold into the state too.
func checkRebuild(t *testing.T, l *credits.Ledger, b credits.Backend, account string) {
	t.Helper()
	p, err := l.History(context.Background(), account, credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := credits.Rebuild(p.Entries)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := b.Load(context.Background(), account)
	if err != nil || !rebuilt.Equal(stored) {
		t.Fatalf("the stored state differs from the fold of the history (%v)", err)
	}
}
