// Command notify wires the ledger's notices to a service, on the embedded
// default, a ledger in one SQLite file:
//
//   - a low-balance email: a consumer of the feed that "emails" (prints)
//     the user when a write leaves their credits under 10;
//   - an expiring-credits warning, a week before promotional credits
//     expire (a scheduler's SweepAll writes it on time);
//   - an automatic top-up: credits.AutoTopUp charges a (fake) card for 50
//     credits after the low balance, and grants them, once.
//
// Each consumer keeps its position in the ledger's file, so a consumer
// restarted goes on where it stopped, and the top-up is never granted
// twice. The ledger's clock is fixed and moved by hand, so every run
// prints the same thing:
//
//	go run ./examples/notify
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

func main() {
	dir, err := os.MkdirTemp("", "credits-notify-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, filepath.Join(dir, "credits.db")); err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		os.Exit(1)
	}
}

// card is a fake payment provider with idempotency keys, as real ones
// have: a second charge under a key charges nothing.
type card struct {
	mu      sync.Mutex
	charged map[string]credits.Credits
}

func (c *card) pay(_ context.Context, account string, amount credits.Credits, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.charged[key]; !ok {
		c.charged[key] = amount
	}
	return nil
}

// clock is the ledger's clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func run(ctx context.Context, w io.Writer, path string) error {
	backend, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		return err
	}
	defer backend.Close()

	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	pays := &card{charged: map[string]credits.Credits{}}
	// The top-up policy: under 10 credits, buy 50; at most 3 a month.
	topup := &credits.AutoTopUp{Pay: pays.pay, Policy: func(account string) (credits.TopUpPolicy, bool) {
		return credits.TopUpPolicy{Threshold: 10 * credits.Credit, Amount: 50 * credits.Credit, MaxPerMonth: 3}, true
	}}
	ledger := credits.NewLedger(backend, credits.Options{Now: clk.now,
		LowBalance:     topup.Threshold,    // the notices the top-up acts on
		ExpiringNotice: 7 * 24 * time.Hour, // warn a week before credits expire
	})
	topup.Ledger = ledger

	// Two consumers of the feed, each with its own position: the mailer
	// and the top-up.
	mail := make(chan credits.Notice, 16)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	opts := credits.ConsumeOptions{Poll: 5 * time.Millisecond}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = ledger.Consume(ctx, "emails", func(_ context.Context, es []credits.Entry) error {
			for _, e := range es {
				if n, ok := credits.NoticeOf(e); ok && (n.Kind == credits.NoticeLowBalance || n.Kind == credits.NoticeExpiring) {
					mail <- n
				}
			}
			return nil
		}, opts)
	}()
	go func() {
		defer wg.Done()
		_ = ledger.Consume(ctx, "auto-topup", topup.Handle, opts)
	}()
	defer wg.Wait()
	defer stop()

	say := func(format string, args ...any) {
		fmt.Fprintf(w, "%s  "+format+"\n", append([]any{clk.now().Format("Mon 2006-01-02 15:04")}, args...)...)
	}
	balance := func() credits.Balance {
		b, _ := ledger.Balance(ctx, "alice")
		return b
	}
	email := func() error {
		select {
		case n := <-mail:
			switch n.Kind {
			case credits.NoticeLowBalance:
				say("email to %s: your balance is under %s credits (%s left)", n.Entry.Account, n.Entry.Value, n.Entry.BalanceAfter)
			case credits.NoticeExpiring:
				say("email to %s: %s credits expire on %s", n.Entry.Account, n.Entry.Value, n.Entry.ExpiresAt.Format("2006-01-02"))
			}
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("no email within 10 s")
		}
	}

	if _, err := ledger.Grant(ctx, "alice", credits.GrantRequest{Key: "order-1", Amount: 20 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		return err
	}
	if _, err := ledger.Grant(ctx, "alice", credits.GrantRequest{Key: "promo-june", Amount: 5 * credits.Credit, Source: credits.SourceAdjustment,
		ExpiresAt: clk.now().AddDate(0, 0, 20), Priority: -1}); err != nil {
		return err
	}
	say("alice buys 20 credits and gets 5 promotional ones, expiring in 20 days: %s", balance().Available)

	clk.add(2 * time.Hour)
	clip, err := ledger.Charge(ctx, "alice", credits.ChargeRequest{Key: "clip-1", Action: credits.VideoGeneration, Resolution: credits.Res1080p})
	if err != nil {
		return err
	}
	say("alice generates a 1080p clip (20): %s left", clip.BalanceAfter)
	if err := email(); err != nil {
		return err
	}
	// The top-up consumer acts on the same notice: it charges the card,
	// then grants 50, under a key derived from the notice.
	for deadline := time.Now().Add(10 * time.Second); balance().Available < 50*credits.Credit; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no top-up within 10 s")
		}
	}
	say("auto top-up: the card is charged %s, and alice has %s", charged(pays), balance().Available)

	// Two weeks later a scheduler's sweep writes the warning, a week
	// before the promotional credits expire.
	clk.add(14 * 24 * time.Hour)
	if n, err := ledger.SweepAll(ctx); err != nil {
		return err
	} else if n > 0 {
		say("the scheduler sweeps the ledger: %d notice", n)
	}
	if err := email(); err != nil {
		return err
	}
	clk.add(7 * 24 * time.Hour)
	if _, err := ledger.SweepAll(ctx); err != nil {
		return err
	}
	say("the promotional credits expired; alice has %s", balance().Available)
	say("the card was charged %s in all: one top-up, once", charged(pays))
	return nil
}

func charged(c *card) credits.Credits {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t credits.Credits
	for _, a := range c.charged {
		t += a
	}
	return t
}
