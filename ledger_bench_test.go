package credits_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
)

// The charge benchmarks: the memory ledger against a baseline that does
// the least a correct charge must. Figures and the command are in
// BENCHMARKS.md, "Ledger (memory)".
//
// Every charge uses a new idempotency key, formatted before the timer
// starts (keys repeat only across accounts). An account takes batch
// charges, then the benchmark moves to a new one: both sides keep every
// entry, so this bounds the history a charge appends to, and the memory a
// run holds, whatever b.N is. Both sides append the same credits.Entry
// and key their maps by the same strings, so what differs is the ledger's
// work: validation, the request fingerprint, the per-account lock, lots
// and the available-balance check.

const batch = 1 << 16

var benchKeys = sync.OnceValue(func() []string {
	keys := make([]string, batch)
	for i := range keys {
		keys[i] = fmt.Sprintf("charge-%08d", i)
	}
	return keys
})

var benchNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seed is what each benchmark account starts with: more than any run
// spends.
const seed = 1_000_000_000 * credits.Credit

// newBenchLedger is a memory ledger whose account "acct" has the seed;
// with a spender, also a budget that caps it (per day, in a zone, so that
// the check reads a window) at more than any run spends.
func newBenchLedger(b *testing.B, spender string) *credits.Ledger {
	ctx := context.Background()
	l := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return benchNow }})
	if _, err := l.Grant(ctx, "acct", credits.GrantRequest{Key: "seed", Amount: seed, Source: credits.SourceTopUp}); err != nil {
		b.Fatal(err)
	}
	if spender != "" {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.SetBudget(ctx, "acct", credits.BudgetRequest{Key: "budget", Spender: spender, Cap: seed, Window: credits.Day(loc)}); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkCharge/memory-budget is a charge with a spender held to a
// budget: against BenchmarkCharge/memory, what spenders and budgets cost
// (BENCHMARKS.md, "Spenders and budgets").
func BenchmarkCharge(b *testing.B) {
	keys := benchKeys()
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		spender string // the charges' spender, with a budget ("" for none)
	}{{"memory", ""}, {"memory-budget", "key_live_7"}} {
		b.Run(c.name, func(b *testing.B) {
			var l *credits.Ledger
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					// A new ledger every batch, outside the timer, so the
					// figures do not depend on b.N through the history's size.
					b.StopTimer()
					l = newBenchLedger(b, c.spender)
					b.StartTimer()
				}
				if _, err := l.Charge(ctx, "acct", credits.ChargeRequest{Key: keys[i%batch], Amount: credits.Credit, Spender: c.spender}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("baseline", func(b *testing.B) {
		var l *baseline
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%batch == 0 {
				b.StopTimer()
				l = newBaseline()
				l.open("acct", seed)
				b.StartTimer()
			}
			if _, err := l.charge("acct", keys[i%batch], credits.Credit, benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChargeParallel charges from every P (run with -cpu 1,2), each
// goroutine on accounts of its own: on the memory ledger they should not
// wait for each other; the baseline's one mutex makes them.
func BenchmarkChargeParallel(b *testing.B) {
	keys := benchKeys()
	ctx := context.Background()
	b.Run("memory", func(b *testing.B) {
		l := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return benchNow }})
		var accounts atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var account string
			for i := 0; pb.Next(); i++ {
				if i%batch == 0 {
					account = fmt.Sprintf("acct-%d", accounts.Add(1))
					if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: seed, Source: credits.SourceTopUp}); err != nil {
						b.Error(err)
						return
					}
				}
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: keys[i%batch], Amount: credits.Credit}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("baseline", func(b *testing.B) {
		l := newBaseline()
		var accounts atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var account string
			for i := 0; pb.Next(); i++ {
				if i%batch == 0 {
					account = fmt.Sprintf("acct-%d", accounts.Add(1))
					l.open(account, seed)
				}
				if _, err := l.charge(account, keys[i%batch], credits.Credit, benchNow); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// baseline is the least a correct charge must do: one mutex-guarded map of
// accounts, each with an int64 balance, a slice of entries and a map of
// idempotency keys. A charge looks up the key, checks the balance, debits,
// appends the entry and records the key. It has none of the ledger's
// rules (lots, holds, expiry, request fingerprints, overdrafts).
type baseline struct {
	mu       sync.Mutex
	accounts map[string]*baselineAccount
}

type baselineAccount struct {
	balance int64
	entries []credits.Entry
	keys    map[string]int
}

func newBaseline() *baseline {
	return &baseline{accounts: make(map[string]*baselineAccount)}
}

func (l *baseline) open(account string, balance credits.Credits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts[account] = &baselineAccount{balance: int64(balance), keys: make(map[string]int)}
}

func (l *baseline) charge(account, key string, amount credits.Credits, now time.Time) (credits.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil {
		return credits.Entry{}, credits.ErrUnknownAccount
	}
	if i, ok := a.keys[key]; ok {
		return a.entries[i], nil
	}
	if a.balance < int64(amount) {
		return credits.Entry{}, credits.ErrInsufficientCredits
	}
	a.balance -= int64(amount)
	e := credits.Entry{Account: account, ID: int64(len(a.entries)) + 1, Kind: credits.KindCharge, Time: now,
		Amount: -amount, BalanceAfter: credits.Credits(a.balance), Key: key}
	a.entries = append(a.entries, e)
	a.keys[key] = len(a.entries) - 1
	return e, nil
}

// BenchmarkFeed measures the memory backend's feed: a consumer reading
// while 16 writers charge (entries/s), and the time from a charge's commit
// to its low_balance notice in a consumer's handler (p50-ns, p99-ns).
// BENCHMARKS.md, "Feed", has the figures and the command.
func BenchmarkFeed(b *testing.B) {
	b.Run("throughput/writers=16", func(b *testing.B) { benchkit.Throughput(b, credits.NewMemoryBackend(), 16) })
	b.Run("latency", func(b *testing.B) { benchkit.Latency(b, credits.NewMemoryBackend()) })
}

// BenchmarkVerify measures VerifyAll of a memory ledger of 100,000
// entries (100 accounts of 1,000) against reading the same histories.
// BENCHMARKS.md, "Verify", has the figures and the command.
func BenchmarkVerify(b *testing.B) {
	backend := credits.NewMemoryBackend()
	if err := benchkit.Fill(context.Background(), credits.NewLedger(backend, credits.Options{}), 100, 1000); err != nil {
		b.Fatal(err)
	}
	benchkit.Verify(b, backend, 100_000)
}
