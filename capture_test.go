package credits_test

import (
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// TestMultiCapture: a multi-capture hold is captured several times, each
// at most what is left, and closes when a capture takes all that is left,
// when a capture is Final (the rest goes back), when it is released, or
// when it lapses; a hold without MultiCapture closes at any capture, as
// holds always did.
func TestMultiCapture(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("a", "g", 100*credits.Credit)
	hold := func(key string, amount credits.Credits, deadline time.Duration) credits.Entry {
		h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: key, Amount: amount, MultiCapture: true, Deadline: f.clock.Now().Add(deadline)}))
		if !h.MultiCapture {
			t.Fatalf("hold %+v is not multi-capture", h)
		}
		return h
	}
	capture := func(key string, h int64, amount credits.Credits, final bool) credits.Entry {
		t.Helper()
		return f.must(f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: key, Hold: h, Amount: amount, Final: final}))
	}

	// Captured in three parts: the last takes all that is left and closes it.
	h := hold("h1", 10*credits.Credit, time.Hour)
	c1 := capture("c1", h.ID, 3*credits.Credit, false)
	if c1.Amount != -3*credits.Credit || c1.Held != -3*credits.Credit || c1.BalanceAfter != 97*credits.Credit {
		t.Fatalf("first capture %+v: want 3 spent, 3 off the hold", c1)
	}
	f.balance("a", 97*credits.Credit, 7*credits.Credit)
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "over", Hold: h.ID, Amount: 7*credits.Credit + 1})
	})
	capture("c2", h.ID, 4*credits.Credit, false)
	f.balance("a", 93*credits.Credit, 3*credits.Credit)
	capture("c3", h.ID, 3*credits.Credit, false)
	f.balance("a", 90*credits.Credit, 0)
	f.refused("a", credits.ErrHoldClosed, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "c4", Hold: h.ID, Amount: 1})
	})
	// A retry of a capture replays it, though the hold has closed since.
	if again := capture("c1", h.ID, 3*credits.Credit, false); again.ID != c1.ID {
		t.Fatalf("a retried capture made entry %d", again.ID)
	}
	f.refused("a", credits.ErrIdempotencyConflict, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "c1", Hold: h.ID, Amount: 3 * credits.Credit, Final: true})
	})

	// Final: the rest goes back.
	h2 := hold("h2", 10*credits.Credit, time.Hour)
	capture("d1", h2.ID, 2*credits.Credit, false)
	fin := capture("d2", h2.ID, credits.Credit, true)
	if fin.Held != -8*credits.Credit || fin.Amount != -credits.Credit {
		t.Fatalf("final capture %+v: want 1 spent, the 8 left off the hold", fin)
	}
	f.balance("a", 87*credits.Credit, 0)

	// Released after a capture: the rest goes back.
	h3 := hold("h3", 10*credits.Credit, time.Hour)
	capture("e1", h3.ID, 6*credits.Credit, false)
	rel := f.must(f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "e2", Hold: h3.ID}))
	if rel.Held != -4*credits.Credit {
		t.Fatalf("release of a captured hold %+v: want the 4 left", rel)
	}
	f.balance("a", 81*credits.Credit, 0)

	// Lapsed after a capture: the rest goes back at the deadline.
	h4 := hold("h4", 10*credits.Credit, time.Minute)
	capture("f1", h4.ID, 5*credits.Credit, false)
	f.clock.Advance(time.Minute)
	f.balance("a", 76*credits.Credit, 0)
	swept := f.must1(f.l.Sweep(f.ctx, "a"))
	if len(swept) != 1 || swept[0].Hold != h4.ID || swept[0].Held != -5*credits.Credit {
		t.Fatalf("the lapse of a captured hold: %+v, want the 5 left", swept)
	}

	// A hold without MultiCapture closes at its first capture, Final or not.
	plain := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "p", Amount: 10 * credits.Credit}))
	pc := capture("p1", plain.ID, 2*credits.Credit, false)
	if pc.Held != -10*credits.Credit {
		t.Fatalf("capture of a plain hold %+v: want it closed", pc)
	}
	f.balance("a", 74*credits.Credit, 0)
	f.refused("a", credits.ErrHoldClosed, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "p2", Hold: plain.ID, Amount: 1})
	})
	f.rebuilds("a")
}

// TestMultiCaptureSpendsDrawsInOrder: the parts of a multi-capture hold
// come from its lots in spending order, and what the overdraft covered
// becomes debt only as it is captured.
func TestMultiCaptureSpendsDrawsInOrder(t *testing.T) {
	f := newBudgetFixture(t)
	f.l = credits.NewLedger(f.b, credits.Options{Now: f.clock.Now, Overdraft: func(string) credits.Credits { return 10 * credits.Credit }})
	f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "soon", Amount: 3 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(2 * time.Hour)}))
	f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "never", Amount: 4 * credits.Credit, Source: credits.SourceTopUp}))
	// 3 from the lot that expires, 4 from the other, 3 on overdraft.
	h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h", Amount: 10 * credits.Credit, MultiCapture: true, Deadline: t0.Add(5 * time.Hour)}))
	f.must(f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "c1", Hold: h.ID, Amount: 2 * credits.Credit}))
	f.clock.Advance(3 * time.Hour) // the first lot's expiry: its reserved credit stays reserved
	f.balance("a", 5*credits.Credit, 8*credits.Credit)
	f.must(f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "c2", Hold: h.ID, Amount: 6 * credits.Credit}))
	f.balance("a", -credits.Credit, 2*credits.Credit)
	f.must(f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "r", Hold: h.ID}))
	// 8 spent: 3 + 4 from the lots, 1 of debt; the 2 of overdraft not
	// captured were never debt.
	f.balance("a", -credits.Credit, 0)
	f.rebuilds("a")
}
