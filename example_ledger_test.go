package credits_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avstudio/credits"
)

// A fixed clock, so the examples print the same every run.
func exampleClock() func() time.Time {
	t := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return t }
}

// The free tier, a charge priced from the price book, and a refused charge.
func ExampleLedger_Charge() {
	ctx := context.Background()
	l := credits.NewMemoryLedger(credits.Options{Now: exampleClock()})

	// Verifying an email claims the one-time 30 credits; the normalized
	// address is the claim key, so a second account cannot claim again.
	if _, err := l.ClaimFreeTier(ctx, "alice", "alice@example.com"); err != nil {
		panic(err)
	}
	_, err := l.ClaimFreeTier(ctx, "alice-2", "alice@example.com")
	fmt.Println(errors.Is(err, credits.ErrAlreadyClaimed))

	// A 1080p clip: 10 credits at 720p, times 2.
	e, err := l.Charge(ctx, "alice", credits.ChargeRequest{
		Key: "clip-1", Action: credits.VideoGeneration, Resolution: credits.Res1080p,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Kind, e.Action, e.Amount, "balance", e.BalanceAfter, "prices", e.PriceVersion)

	// A 4K clip costs 40: refused, and nothing changes.
	_, err = l.Charge(ctx, "alice", credits.ChargeRequest{Key: "clip-2", Action: credits.VideoGeneration, Resolution: credits.Res4K})
	var short *credits.InsufficientCreditsError
	if errors.As(err, &short) {
		fmt.Println("short by", short.Shortfall)
	}
	// Output:
	// true
	// charge video_generation -20 balance 10 prices v1
	// short by 30
}

// A job in flight: hold its estimate, then capture what it cost; the rest
// of the hold goes back.
func ExampleLedger_Hold() {
	ctx := context.Background()
	l := credits.NewMemoryLedger(credits.Options{Now: exampleClock()})
	if _, err := l.Grant(ctx, "studio", credits.GrantRequest{Key: "topup-1", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		panic(err)
	}

	h, err := l.Hold(ctx, "studio", credits.HoldRequest{Key: "job-7/hold", Amount: 21 * credits.Credit})
	if err != nil {
		panic(err)
	}
	b, _ := l.Balance(ctx, "studio")
	fmt.Println("while running: total", b.Total, "held", b.Held, "available", b.Available)

	// The job skipped one 5-credit upload: capture 16 of the 21.
	if _, err := l.Capture(ctx, "studio", credits.CaptureRequest{Key: "job-7/capture", Hold: h.ID, Amount: 16 * credits.Credit}); err != nil {
		panic(err)
	}
	b, _ = l.Balance(ctx, "studio")
	fmt.Println("done: total", b.Total, "held", b.Held, "available", b.Available)

	// A retry with the same key returns the first result and changes nothing.
	again, _ := l.Capture(ctx, "studio", credits.CaptureRequest{Key: "job-7/capture", Hold: h.ID, Amount: 16 * credits.Credit})
	b, _ = l.Balance(ctx, "studio")
	fmt.Println("retried capture: entry", again.ID, "total", b.Total)
	// Output:
	// while running: total 100 held 21 available 79
	// done: total 84 held 0 available 84
	// retried capture: entry 3 total 84
}

// Lots pay in one order: higher priority first, then the soonest expiry,
// then the oldest. Expired credits are never spendable, with or without
// a sweep.
func ExampleLedger_Grant() {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return now }})

	grant := func(key string, amount credits.Credits, expires time.Time) {
		if _, err := l.Grant(ctx, "bob", credits.GrantRequest{Key: key, Amount: amount, Source: credits.SourceTopUp, ExpiresAt: expires}); err != nil {
			panic(err)
		}
	}
	grant("forever", 10*credits.Credit, time.Time{})
	grant("promo", 10*credits.Credit, now.Add(24*time.Hour))

	// The chat message is paid from the promo lot, which expires first.
	if _, err := l.Charge(ctx, "bob", credits.ChargeRequest{Key: "chat-1", Action: credits.ChatMessage}); err != nil {
		panic(err)
	}
	now = now.Add(48 * time.Hour)
	b, _ := l.Balance(ctx, "bob")
	fmt.Println("after the promo expired:", b.Total)
	// Output:
	// after the promo expired: 10
}

// A monthly subscription anchored on January 31: month ends clamp, and
// renewing is idempotent per period, so a service that was down catches
// up each missed period exactly once.
func ExampleLedger_Renew() {
	ctx := context.Background()
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	l := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return now }})
	sub := credits.Subscription{
		ID:     "sub-1",
		Anchor: now,
		Plan:   credits.Plan{Name: "Creator", Credits: 200 * credits.Credit, Interval: credits.Monthly},
	}

	now = time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC) // down since January
	granted, err := l.Renew(ctx, "carol", sub)
	if err != nil {
		panic(err)
	}
	for _, e := range granted {
		fmt.Println(e.Kind, e.Amount, "for the period from", e.Period.Format("Jan 2"))
	}
	again, _ := l.Renew(ctx, "carol", sub)
	b, _ := l.Balance(ctx, "carol")
	fmt.Println("renewed again:", len(again), "new entries; balance", b.Total)
	// Output:
	// grant 200 for the period from Jan 31
	// grant 200 for the period from Feb 28
	// grant 200 for the period from Mar 31
	// renewed again: 0 new entries; balance 600
}
