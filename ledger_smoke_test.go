package credits_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLedgerSmoke(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := credits.NewMemoryLedger(credits.Options{Now: c.now})
	must := func(e credits.Entry, err error) credits.Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	bal := func(want, held credits.Credits) {
		t.Helper()
		b, err := l.Balance(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if b.Total != want || b.Held != held {
			t.Fatalf("balance %+v, want total %s held %s", b, want, held)
		}
	}
	must(l.ClaimFreeTier(ctx, "a", "a@x"))
	bal(30*credits.Credit, 0)
	if _, err := l.ClaimFreeTier(ctx, "b", "a@x"); !errors.Is(err, credits.ErrAlreadyClaimed) {
		t.Fatalf("second claim: %v", err)
	}
	if _, err := l.ClaimFreeTier(ctx, "a", "other"); !errors.Is(err, credits.ErrAlreadyClaimed) {
		t.Fatalf("second claim same account: %v", err)
	}
	must(l.ClaimFreeTier(ctx, "a", "a@x"))
	bal(30*credits.Credit, 0)
	ch := must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c1", Action: credits.VideoGeneration, Resolution: credits.Res1080p}))
	bal(10*credits.Credit, 0)
	if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c1", Action: credits.ChatMessage}); !errors.Is(err, credits.ErrIdempotencyConflict) {
		t.Fatalf("conflict: %v", err)
	}
	again := must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c1", Action: credits.VideoGeneration, Resolution: credits.Res1080p}))
	if again.ID != ch.ID {
		t.Fatal("replay gave a new entry")
	}
	_, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c2", Action: credits.VideoGeneration, Resolution: credits.Res4K})
	var ie *credits.InsufficientCreditsError
	if !errors.As(err, &ie) || ie.Shortfall != 30*credits.Credit {
		t.Fatalf("insufficient: %v", err)
	}
	h := must(l.Hold(ctx, "a", credits.HoldRequest{Key: "h1", Amount: 8 * credits.Credit}))
	bal(10*credits.Credit, 8*credits.Credit)
	if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c3", Action: credits.ChatMessage}); !errors.Is(err, credits.ErrInsufficientCredits) {
		t.Fatalf("held credits spent: %v", err)
	}
	must(l.Capture(ctx, "a", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: 5 * credits.Credit}))
	bal(5*credits.Credit, 0)
	if _, err := l.Release(ctx, "a", credits.ReleaseRequest{Key: "rel", Hold: h.ID}); !errors.Is(err, credits.ErrHoldClosed) {
		t.Fatalf("release closed: %v", err)
	}
	if _, err := l.Release(ctx, "a", credits.ReleaseRequest{Key: "rel", Hold: ch.ID}); !errors.Is(err, credits.ErrHoldNotFound) {
		t.Fatalf("release non-hold: %v", err)
	}
	must(l.Refund(ctx, "a", credits.RefundRequest{Key: "r1", Entry: ch.ID, Amount: 15 * credits.Credit}))
	bal(20*credits.Credit, 0)
	if _, err := l.Refund(ctx, "a", credits.RefundRequest{Key: "r2", Entry: ch.ID, Amount: 6 * credits.Credit}); !errors.Is(err, credits.ErrNotRefundable) {
		t.Fatalf("over-refund: %v", err)
	}
	must(l.Refund(ctx, "a", credits.RefundRequest{Key: "r3", Entry: ch.ID}))
	bal(25*credits.Credit, 0)
	// expiry
	must(l.Grant(ctx, "a", credits.GrantRequest{Key: "g1", Amount: 7 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: c.t.Add(time.Hour)}))
	h2 := must(l.Hold(ctx, "a", credits.HoldRequest{Key: "h2", Amount: 3 * credits.Credit, Deadline: c.t.Add(2 * time.Hour)}))
	bal(32*credits.Credit, 3*credits.Credit)
	c.t = c.t.Add(time.Hour)
	bal(28*credits.Credit, 3*credits.Credit) // 4 unreserved of the lot expired
	c.t = c.t.Add(time.Hour)
	bal(25*credits.Credit, 0) // hold lapsed; its 3 went back to the expired lot
	if _, err := l.Capture(ctx, "a", credits.CaptureRequest{Key: "cap2", Hold: h2.ID, Amount: credits.Credit}); !errors.Is(err, credits.ErrHoldClosed) {
		t.Fatalf("capture lapsed: %v", err)
	}
	sw, err := l.Sweep(ctx, "a")
	if err != nil || len(sw) != 2 {
		t.Fatalf("sweep: %v %+v", err, sw)
	}
	p, err := l.History(ctx, "a", credits.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var sum credits.Credits
	for _, e := range p.Entries {
		sum += e.Amount
		t.Logf("%d %s amount=%s held=%s after=%s key=%s", e.ID, e.Kind, e.Amount, e.Held, e.BalanceAfter, e.Key)
	}
	if sum != 25*credits.Credit {
		t.Fatalf("sum %s", sum)
	}
	s, err := credits.Rebuild(p.Entries)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := credits.NewMemoryBackend().Load(ctx, "zz")
	_ = stored
	_ = s
}
