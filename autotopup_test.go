package credits_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// fakeProvider is a payment provider with idempotency keys, as real ones
// have: a second charge under a key charges nothing and succeeds.
type fakeProvider struct {
	mu      sync.Mutex
	calls   int
	charged map[string]credits.Credits
	fail    bool
	after   func() // called after a charge, before Pay returns
}

func (p *fakeProvider) pay(_ context.Context, account string, amount credits.Credits, key string) error {
	p.mu.Lock()
	p.calls++
	if p.fail {
		p.mu.Unlock()
		return errors.New("card declined")
	}
	if _, ok := p.charged[key]; !ok {
		p.charged[key] = amount
	}
	after := p.after
	p.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

func (p *fakeProvider) total() (credits.Credits, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t credits.Credits
	for _, a := range p.charged {
		t += a
	}
	return t, p.calls
}

func autoTopUpLedger(t *testing.T, p *fakeProvider, policy credits.TopUpPolicy) (*credits.Ledger, *credits.AutoTopUp, *ledgertest.Clock) {
	clock := ledgertest.NewClock(t0)
	at := &credits.AutoTopUp{Pay: p.pay, Policy: func(string) (credits.TopUpPolicy, bool) { return policy, true }}
	l := credits.NewMemoryLedger(credits.Options{Now: clock.Now, LowBalance: at.Threshold})
	at.Ledger = l
	return l, at, clock
}

// consumeUntil runs the auto top-up consumer until cond holds (or fails
// the test after 10 s), then stops it.
func consumeUntil(t *testing.T, l *credits.Ledger, at *credits.AutoTopUp, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- l.Consume(ctx, "auto-topup", at.Handle, credits.ConsumeOptions{Poll: time.Millisecond, Retry: time.Millisecond})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("the consumer did not get there in 10 s")
		}
		select {
		case err := <-errc:
			cancel()
			return err
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	return <-errc
}

func grantsOf(t *testing.T, l *credits.Ledger, account string, src credits.Source) []credits.Entry {
	t.Helper()
	p, err := l.History(context.Background(), account, credits.HistoryQuery{Kinds: []credits.Kind{credits.KindGrant}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []credits.Entry
	for _, e := range p.Entries {
		if e.Source == src {
			out = append(out, e)
		}
	}
	return out
}

// The consumer dies after the payment and before the grant: started
// again, it is handed the notice again, pays again under the same key
// (which charges nothing), and grants once.
func TestAutoTopUpGrantsOnceThroughACrash(t *testing.T) {
	p := &fakeProvider{charged: map[string]credits.Credits{}}
	l, at, _ := autoTopUpLedger(t, p, credits.TopUpPolicy{Threshold: 10 * credits.Credit, Amount: 50 * credits.Credit})
	ctx := context.Background()
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 20 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: 15 * credits.Credit}); err != nil {
		t.Fatal(err)
	}
	// First run: killed right after the charge went through.
	crashed := make(chan struct{})
	ctx1, kill := context.WithCancel(ctx)
	var once sync.Once
	p.after = func() { once.Do(func() { close(crashed) }); kill() }
	errc := make(chan error, 1)
	go func() {
		// The handler runs under the consumer's context: killing it
		// between Pay and Grant is a crash between the two steps.
		errc <- l.Consume(ctx1, "auto-topup", at.Handle, credits.ConsumeOptions{Poll: time.Millisecond, Retry: time.Millisecond})
	}()
	<-crashed
	<-errc
	if g := grantsOf(t, l, "a", credits.SourceAutoTopUp); len(g) != 0 {
		t.Fatalf("granted %d auto top-ups before the crash's restart; the test wanted the crash before the grant", len(g))
	}
	p.mu.Lock()
	p.after = nil
	p.mu.Unlock()
	// Second run: the notice again, the grant once.
	if err := consumeUntil(t, l, at, func() bool { return len(grantsOf(t, l, "a", credits.SourceAutoTopUp)) == 1 }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	charged, calls := p.total()
	if g := grantsOf(t, l, "a", credits.SourceAutoTopUp); len(g) != 1 || g[0].Amount != 50*credits.Credit || charged != 50*credits.Credit || calls != 2 {
		t.Fatalf("after a crash between the charge and the grant: %d grants, %s charged in %d calls; want 1 grant of 50, 50 charged, 2 calls", len(g), charged, calls)
	}
	if b, _ := l.Balance(ctx, "a"); b.Total != 55*credits.Credit {
		t.Fatalf("balance %s, want 55", b.Total)
	}
}

// A declined card is a topup_failed notice; after MaxFailures in a row the
// account is not charged again until it tops up some other way.
func TestAutoTopUpStopsAfterFailures(t *testing.T) {
	p := &fakeProvider{charged: map[string]credits.Credits{}, fail: true}
	l, at, _ := autoTopUpLedger(t, p, credits.TopUpPolicy{Threshold: 10 * credits.Credit, Amount: 50 * credits.Credit, MaxFailures: 2})
	ctx := context.Background()
	failures := func() int {
		n := 0
		pg, _ := l.History(ctx, "a", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindNotice}, Limit: 1000})
		for _, e := range pg.Entries {
			if e.Notice == credits.NoticeTopUpFailed {
				n++
			}
		}
		return n
	}
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceAdjustment}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // low, re-armed by a grant back over 10, low again
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "up" + string(rune('0'+i)), Amount: 10 * credits.Credit, Source: credits.SourceAdjustment}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "down" + string(rune('0'+i)), Amount: 10 * credits.Credit}); err != nil {
			t.Fatal(err)
		}
	}
	consumeUntil(t, l, at, func() bool { return failures() >= 2 })
	time.Sleep(20 * time.Millisecond)
	consumeUntil(t, l, at, func() bool { return true })
	if _, calls := p.total(); failures() != 2 || calls != 2 {
		t.Fatalf("%d failures recorded, %d charges tried; want 2 and 2 (off after MaxFailures)", failures(), calls)
	}
}

// The safety rail: at most MaxPerMonth automatic top-ups in a calendar
// month (UTC), however many low_balance notices the month has; the count
// starts over the next month; and a notice handed over again is never
// charged or granted twice. The notices are given to Handle directly, in
// the order the feed has them, so that what the rail decides does not
// depend on the consumer's timing.
func TestAutoTopUpMaxPerMonth(t *testing.T) {
	p := &fakeProvider{charged: map[string]credits.Credits{}}
	l, at, clock := autoTopUpLedger(t, p, credits.TopUpPolicy{Threshold: 10 * credits.Credit, Amount: 20 * credits.Credit, MaxPerMonth: 2})
	ctx := context.Background()
	seq := 0
	write := func(kind string, amount credits.Credits) {
		t.Helper()
		seq++
		var err error
		if kind == "grant" {
			_, err = l.Grant(ctx, "a", credits.GrantRequest{Key: fmt.Sprint("up", seq), Amount: amount, Source: credits.SourceAdjustment})
		} else {
			_, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: fmt.Sprint("down", seq), Amount: amount})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// lowNotices returns the account's low_balance notices, oldest first.
	lowNotices := func() []credits.Entry {
		t.Helper()
		pg, err := l.History(ctx, "a", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindNotice}, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var out []credits.Entry
		for _, e := range pg.Entries {
			if e.Notice == credits.NoticeLowBalance {
				out = append(out, e)
			}
		}
		return out
	}
	// lowTimes makes n low balances: a grant back over the threshold
	// re-arms the notice, a charge goes under it again.
	lowTimes := func(n int) {
		t.Helper()
		for range n {
			write("grant", 10*credits.Credit)
			write("charge", 10*credits.Credit)
		}
	}
	// check handles the notices (again), and checks the top-ups: want
	// grants of 20 in all, each for a distinct notice, charged once each.
	check := func(when string, notices []credits.Entry, want int) {
		t.Helper()
		if err := at.Handle(ctx, notices); err != nil {
			t.Fatalf("%s: Handle: %v", when, err)
		}
		grants := grantsOf(t, l, "a", credits.SourceAutoTopUp)
		charged, calls := p.total()
		if len(grants) != want || calls != want || charged != credits.Credits(want)*20*credits.Credit {
			t.Fatalf("%s: %d top-ups granted, %d charges of the card for %s; want %d, %d and %d",
				when, len(grants), calls, charged, want, want, want*20)
		}
		keys := map[string]bool{}
		for _, g := range grants {
			if g.Amount != 20*credits.Credit || keys[g.Key] {
				t.Fatalf("%s: top-up %+v granted twice or for the wrong amount", when, g)
			}
			keys[g.Key] = true
		}
	}

	// March: five low balances, two top-ups (for the first two notices).
	clock.Advance(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC).Sub(clock.Now()))
	write("grant", 5*credits.Credit) // under the threshold: the first low balance
	lowTimes(4)
	march := lowNotices()
	if len(march) != 5 {
		t.Fatalf("%d low_balance notices in March, want 5", len(march))
	}
	check("March", march, 2)
	for i, g := range grantsOf(t, l, "a", credits.SourceAutoTopUp) {
		if want := fmt.Sprint("auto-topup/", march[i].ID); g.Key != want {
			t.Fatalf("top-up %d has key %q, want %q (the notice it answers)", i, g.Key, want)
		}
	}
	// The same notices handed over again, late in the month: nothing more.
	clock.Advance(time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC).Sub(clock.Now()))
	check("March, the notices again", march, 2)

	// April: the rail starts over. The top-ups left 45 available; a
	// charge goes low, and three more low balances follow: two top-ups.
	clock.Advance(time.Date(2026, 4, 1, 0, 1, 0, 0, time.UTC).Sub(clock.Now()))
	write("charge", 40*credits.Credit)
	lowTimes(3)
	april := lowNotices()[len(march):]
	if len(april) != 4 {
		t.Fatalf("%d low_balance notices in April, want 4", len(april))
	}
	check("April", april, 4)
	// Every notice of both months handed over again: nothing granted or
	// charged twice, and March's refused notices stay refused.
	check("April, every notice again", append(march, april...), 4)
	if b, err := l.Balance(ctx, "a"); err != nil || b.Total != 45*credits.Credit {
		t.Fatalf("balance %+v (%v), want 45: 5, four top-ups of 20, April's charge of 40", b, err)
	}
}
