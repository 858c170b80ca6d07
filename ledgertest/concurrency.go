package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

func testConcurrency(t *testing.T, open func(*testing.T) credits.Backend) {
	t.Run("one account", func(t *testing.T) {
		concurrentOps(t, open(t), []string{"solo ☂"}, 2000*credits.Credit, 0)
	})
	t.Run("many accounts", func(t *testing.T) {
		accounts := make([]string, 16)
		for i := range accounts {
			accounts[i] = fmt.Sprintf("many-%02d-ü", i)
		}
		concurrentOps(t, open(t), accounts, 150*credits.Credit, 7*credits.Credit)
	})
	t.Run("same key", func(t *testing.T) { sameKey(t, open(t)) })
	t.Run("same claim key", func(t *testing.T) { sameClaim(t, open(t)) })
	t.Run("two claim keys", func(t *testing.T) { twoClaims(t, open(t)) })
}

const (
	workers      = 64
	opsPerWorker = 12
	instances    = 4 // Ledgers on one backend, as instances of a service
)

// concurrentOps runs 64 goroutines of charges, holds with captures and
// holds with releases over the accounts (the first with an overdraft),
// then checks that the end state is that of the serial order the history
// records: every success is in it once, nothing else is, and replaying it
// one request at a time through the model gives the same entries.
func concurrentOps(t *testing.T, b credits.Backend, accounts []string, seed, overdraft credits.Credits) {
	ctx := context.Background()
	clock := NewClock(start)
	// Four Ledgers on the one backend, as four instances of a service:
	// each batches its own writes (group commit), and the backend must
	// serialize theirs.
	ledgers := make([]*credits.Ledger, instances)
	for i := range ledgers {
		ledgers[i] = newLedger(b, clock, func(a string) credits.Credits {
			if a == accounts[0] {
				return overdraft
			}
			return 0
		})
	}
	l := ledgers[0]
	for _, a := range accounts {
		if _, err := l.Grant(ctx, a, credits.GrantRequest{Key: "seed", Amount: seed, Source: credits.SourceTopUp}); err != nil {
			t.Fatalf("seed %q: %v", a, err)
		}
	}
	var (
		mu       sync.Mutex
		returned = make(map[string][]credits.Entry) // account -> entries the operations returned
	)
	keep := func(e credits.Entry) {
		mu.Lock()
		returned[e.Account] = append(returned[e.Account], e)
		mu.Unlock()
	}
	atOnce(workers, func(g int) {
		l := ledgers[g%len(ledgers)]
		for i := range opsPerWorker {
			account := accounts[(g+i)%len(accounts)]
			key := fmt.Sprintf("w%d-op%d", g, i)
			amount := credits.Credits(1+(g*7+i*3)%9)*credits.Credit + credits.Credits(g)
			var e credits.Entry
			var err error
			switch (g + i) % 4 {
			case 0:
				e, err = l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: amount})
			case 1:
				e, err = l.Charge(ctx, account, credits.ChargeRequest{Key: key, Action: credits.ChatMessage})
			default:
				e, err = l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: amount})
				if err != nil {
					break
				}
				keep(e)
				if (g+i)%4 == 2 {
					e, err = l.Capture(ctx, account, credits.CaptureRequest{Key: key + "-capture", Hold: e.ID, Amount: amount/2 + 1})
				} else {
					e, err = l.Release(ctx, account, credits.ReleaseRequest{Key: key + "-release", Hold: e.ID})
				}
				if err != nil {
					brokeOn(t, ruleSerial, "closing hold %s of %q: %v", key, account, err)
					return
				}
			}
			if errors.Is(err, credits.ErrInsufficientCredits) {
				continue
			}
			if err != nil {
				brokeOn(t, ruleSerial, "%s on %q: %v", key, account, err)
				return
			}
			keep(e)
		}
	})
	if t.Failed() {
		return
	}
	for i, account := range accounts {
		od := credits.Credits(0)
		if i == 0 {
			od = overdraft
		}
		checkSerial(t, l, b, account, returned[account], od)
	}
}

// checkSerial checks that an account's history after concurrent
// operations is a serial order of exactly the operations that succeeded.
func checkSerial(t *testing.T, l *credits.Ledger, b credits.Backend, account string, returned []credits.Entry, overdraft credits.Credits) {
	t.Helper()
	ctx := context.Background()
	hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 100)
	if err != nil {
		t.Fatalf("History(%q): %v", account, err)
	}
	checkHistory(t, account, hist, overdraft)
	byID := make(map[int64]credits.Entry)
	for _, e := range returned {
		if prev, ok := byID[e.ID]; ok {
			broke(t, ruleSerial, "account %q: operations %q and %q both returned entry %d", account, prev.Key, e.Key, e.ID)
		}
		byID[e.ID] = e
		if e.ID < 1 || e.ID > int64(len(hist)) {
			broke(t, ruleSerial, "account %q: operation %q returned entry %d, not in the history of %d entries", account, e.Key, e.ID, len(hist))
		}
		if diff := cmp.Diff(e, hist[e.ID-1], entryCmp...); diff != "" {
			broke(t, ruleSerial, "account %q, entry %d: (-returned +history):\n%s", account, e.ID, diff)
		}
	}
	if len(hist) != len(returned)+1 {
		broke(t, ruleSerial, "account %q: %d operations succeeded after the seed grant, the history has %d entries\n%s", account, len(returned), len(hist), describe(hist))
	}

	// Replay the history, one request at a time, through the model: each
	// must succeed there too and give the same entry.
	m := newModel(map[string]credits.Credits{account: overdraft})
	for _, e := range hist {
		want := m.do(requestOf(e), e.Time)
		if want.err != nil {
			broke(t, ruleSerial, "account %q: entry %d (%s %s) would fail in this serial order: %v\n%s", account, e.ID, e.Kind, e.Key, want.err, describe(hist))
		}
		if diff := cmp.Diff(want.entry, e, entryCmpNoRH...); diff != "" {
			broke(t, ruleSerial, "account %q: entry %d differs from a serial replay (-serial +history):\n%s", account, e.ID, diff)
		}
	}
	a := m.account(account)
	bal, err := l.Balance(ctx, account)
	if err != nil {
		t.Fatalf("Balance(%q): %v", account, err)
	}
	if bal.Total != a.balance() || bal.Held != a.held() || bal.Held != 0 {
		broke(t, ruleSerial, "account %q: balance total %s held %s; the serial order leaves %s and %s (and every hold was closed)", account, bal.Total, bal.Held, a.balance(), a.held())
	}
	if bal.Available < -overdraft {
		broke(t, ruleNoOverdraw, "account %q: available %s with an overdraft of %s", account, bal.Available, overdraft)
	}
	rebuilt, err := credits.Rebuild(hist)
	if err != nil {
		broke(t, ruleRebuild, "account %q: %v", account, err)
	}
	stored, err := b.Load(ctx, account)
	if err != nil {
		broke(t, ruleRebuild, "account %q: Load: %v", account, err)
	}
	if !rebuilt.Equal(stored) {
		broke(t, ruleRebuild, "account %q: the stored state (version %d) differs from Rebuild of its %d entries", account, stored.Version(), len(hist))
	}
}

// requestOf is the request that made an entry of the concurrency tests.
func requestOf(e credits.Entry) request {
	r := request{account: e.Account, key: e.Key}
	switch e.Kind {
	case credits.KindGrant:
		r.op, r.amount, r.source, r.expiresAt, r.priority, r.period = opGrant, e.Amount, e.Source, e.ExpiresAt, e.Priority, e.Period
	case credits.KindCharge:
		r.op = opCharge
		if e.Action != 0 {
			r.action, r.resolution, r.quantity, r.version = e.Action, e.Resolution, e.Quantity, e.PriceVersion
		} else {
			r.amount = -e.Amount
		}
	case credits.KindHold:
		r.op, r.amount, r.expiresAt = opHold, e.Held, e.ExpiresAt
	case credits.KindCapture:
		r.op, r.target, r.amount = opCapture, e.Hold, -e.Amount
	case credits.KindRelease:
		r.op, r.target = opRelease, e.Hold
	case credits.KindRefund:
		r.op, r.target, r.amount = opRefund, e.Reverses, e.Amount
	}
	return r
}

// sameKey sends one request under one key from 16 goroutines at once, for
// a grant, a charge and a hold: one entry is made, and every sender gets
// it.
func sameKey(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	clock := NewClock(start)
	ledgers := make([]*credits.Ledger, instances)
	for i := range ledgers {
		ledgers[i] = newLedger(b, clock, nil)
	}
	const account, senders = "same-key ⚷", 16
	l := ledgers[0]
	ops := []struct {
		name string
		do   func(l *credits.Ledger) (credits.Entry, error)
	}{
		{"grant", func(l *credits.Ledger) (credits.Entry, error) {
			return l.Grant(ctx, account, credits.GrantRequest{Key: "grant ⚷", Amount: 100 * credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"n": "1"}})
		}},
		{"charge", func(l *credits.Ledger) (credits.Entry, error) {
			return l.Charge(ctx, account, credits.ChargeRequest{Key: "charge ⚷", Action: credits.Render, Quantity: 2})
		}},
		{"hold", func(l *credits.Ledger) (credits.Entry, error) {
			return l.Hold(ctx, account, credits.HoldRequest{Key: "hold ⚷", Amount: 7 * credits.Credit})
		}},
	}
	for _, op := range ops {
		got := make([]credits.Entry, senders)
		errs := make([]error, senders)
		atOnce(senders, func(i int) {
			got[i], errs[i] = op.do(ledgers[i%len(ledgers)])
		})
		for i := range senders {
			if errs[i] != nil {
				broke(t, ruleSameKeyConcurrent, "%s: sender %d: %v", op.name, i, errs[i])
			}
			if diff := cmp.Diff(got[0], got[i], entryCmp...); diff != "" {
				broke(t, ruleSameKeyConcurrent, "%s: senders 0 and %d got different entries (-0 +%d):\n%s", op.name, i, i, diff)
			}
		}
	}
	hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, account, hist, 0)
	if len(hist) != len(ops) {
		broke(t, ruleSameKeyConcurrent, "%d requests under %d keys made %d entries:\n%s", len(ops)*senders, len(ops), len(hist), describe(hist))
	}
	bal, err := l.Balance(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	if want := 100*credits.Credit - 2*unitPrice(v1Name, credits.Render, 0); bal.Total != want || bal.Held != 7*credits.Credit {
		broke(t, ruleSameKeyConcurrent, "balance total %s held %s, want %s and 7", bal.Total, bal.Held, want)
	}
}

// sameClaim claims the free tier under one claim key from 16 accounts at
// once (one wins), then from 16 goroutines of the winner (all get its
// grant).
func sameClaim(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	const senders, claim = 16, "someone@example.com"
	errs := make([]error, senders)
	got := make([]credits.Entry, senders)
	account := func(i int) string { return fmt.Sprintf("claimant-%d-✉", i) }
	atOnce(senders, func(i int) {
		got[i], errs[i] = l.ClaimFreeTier(ctx, account(i), claim)
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			broke(t, ruleClaimOnce, "claim key %q taken by %q and %q", claim, account(winner), account(i))
		case err == nil:
			winner = i
		case !errors.Is(err, credits.ErrAlreadyClaimed):
			broke(t, ruleClaimOnce, "claim by %q: got %v, want success or ErrAlreadyClaimed", account(i), err)
		}
	}
	if winner < 0 {
		broke(t, ruleClaimOnce, "16 accounts claimed %q and none got it", claim)
	}
	for i := range senders {
		bal, err := l.Balance(ctx, account(i))
		switch {
		case i == winner && (err != nil || bal.Total != 30*credits.Credit):
			broke(t, ruleClaimOnce, "the winner %q has %s (%v), want 30", account(i), bal.Total, err)
		case i != winner && (err != nil || bal.Version != 0 || bal.Total != 0):
			broke(t, ruleClaimOnce, "the loser %q has a balance of %s at version %d (%v), want no entries", account(i), bal.Total, bal.Version, err)
		}
	}

	// The winner, again and again at once: the same grant every time.
	first := got[winner]
	atOnce(senders, func(i int) {
		got[i], errs[i] = l.ClaimFreeTier(ctx, account(winner), claim)
	})
	for i := range senders {
		if errs[i] != nil {
			broke(t, ruleReplay, "claim retried by the winner: %v", errs[i])
		}
		if diff := cmp.Diff(first, got[i], entryCmp...); diff != "" {
			broke(t, ruleReplay, "claim retried by the winner: (-first +retry):\n%s", diff)
		}
	}
	hist, err := history(ctx, t, l, account(winner), credits.HistoryQuery{}, 10)
	if err != nil || len(hist) != 1 {
		broke(t, ruleKeyOnce, "the winner's history has %d entries (%v), want the one grant", len(hist), err)
	}
}

// twoClaims sends the free-tier claim of one account under two claim keys
// at once, 8 goroutines each: one key wins the account's one grant, and
// the other is not used up: another account then claims it.
func twoClaims(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	const senders, account = 16, "two claims ✌"
	claims := [2]string{"first@example.com", "second@example.com"}
	errs := make([]error, senders)
	got := make([]credits.Entry, senders)
	atOnce(senders, func(i int) {
		got[i], errs[i] = l.ClaimFreeTier(ctx, account, claims[i%2])
	})
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0 && claims[i%2] != claims[won]:
			broke(t, ruleClaimOnce, "account %q was granted its free tier under %q and under %q", account, claims[won], claims[i%2])
		case err == nil:
			won = i % 2
		case !errors.Is(err, credits.ErrAlreadyClaimed):
			broke(t, ruleClaimOnce, "claim of %q under %q: got %v, want success or ErrAlreadyClaimed", account, claims[i%2], err)
		}
	}
	if won < 0 {
		broke(t, ruleClaimOnce, "16 claims of %q under two keys and none got the free tier", account)
	}
	if bal, err := l.Balance(ctx, account); err != nil || bal.Total != 30*credits.Credit {
		broke(t, ruleClaimOnce, "account %q has %s (%v) after its claims, want 30", account, bal.Total, err)
	}
	lost := claims[1-won]
	other := "the key's owner"
	e, err := l.ClaimFreeTier(ctx, other, lost)
	if err != nil || e.Amount != 30*credits.Credit || e.Claim != lost {
		broke(t, ruleClaimKeyFree, "after %q lost the race under %q, %q claiming it got %+v, %v; want the free tier", account, lost, other, e, err)
	}
	// And the winning key stays the winner's.
	if _, err := l.ClaimFreeTier(ctx, "a third account", claims[won]); !errors.Is(err, credits.ErrAlreadyClaimed) {
		broke(t, ruleClaimOnce, "a third account claiming %q, which %q was granted under: got %v, want ErrAlreadyClaimed", claims[won], account, err)
	}
}

// atOnce runs f(0), ..., f(n-1) in n goroutines released together, so
// that they reach the backend at the same moment, and waits for them all.
func atOnce(n int, f func(i int)) {
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			f(i)
		}()
	}
	close(ready)
	wg.Wait()
}
