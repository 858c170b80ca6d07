package credits_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The rules of the Ledger, one operation at a time, on the memory backend.
// (ledgertest.Run checks them in random combination, on every backend.)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	clock *ledgertest.Clock
	l     *credits.Ledger
}

func newFixture(t *testing.T, opts credits.Options) *fixture {
	f := &fixture{t: t, ctx: context.Background(), clock: ledgertest.NewClock(t0)}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.l = credits.NewMemoryLedger(opts)
	return f
}

func (f *fixture) must(e credits.Entry, err error) credits.Entry {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) grant(account string, key string, amount credits.Credits) credits.Entry {
	f.t.Helper()
	return f.must(f.l.Grant(f.ctx, account, credits.GrantRequest{Key: key, Amount: amount, Source: credits.SourceTopUp}))
}

// balance checks the account's total and held credits.
func (f *fixture) balance(account string, total, held credits.Credits) {
	f.t.Helper()
	b, err := f.l.Balance(f.ctx, account)
	if err != nil {
		f.t.Fatalf("Balance(%q): %v", account, err)
	}
	if b.Total != total || b.Held != held || b.Available != total-held {
		f.t.Fatalf("Balance(%q) = total %s, held %s, available %s; want %s, %s, %s", account, b.Total, b.Held, b.Available, total, held, total-held)
	}
}

// snapshot is what a failed operation must leave as it was.
type snapshot struct {
	entries []credits.Entry
	bal     credits.Balance
	err     string // the Balance error, if any
}

func (f *fixture) snap(account string) snapshot {
	f.t.Helper()
	var s snapshot
	var err error
	if s.bal, err = f.l.Balance(f.ctx, account); err != nil {
		s.err = err.Error()
	}
	if p, err := f.l.History(f.ctx, account, credits.HistoryQuery{Limit: 1000}); err == nil {
		s.entries = p.Entries
	}
	return s
}

// refused runs op, which must fail with an error matching want and leave
// the account as it was.
func (f *fixture) refused(account string, want error, op func() (credits.Entry, error)) error {
	f.t.Helper()
	before := f.snap(account)
	_, err := op()
	if !errors.Is(err, want) {
		f.t.Fatalf("got error %v, want one matching %v", err, want)
	}
	after := f.snap(account)
	if diff := cmp.Diff(before, after, cmpopts.EquateEmpty(), cmp.AllowUnexported(snapshot{})); diff != "" {
		f.t.Fatalf("a failed operation (%v) changed the account (-before +after):\n%s", err, diff)
	}
	return err
}

func TestLedgerNowIsUTCMicroseconds(t *testing.T) {
	f := newFixture(t, credits.Options{Now: func() time.Time {
		return time.Date(2026, 1, 1, 3, 0, 0, 123_456_789, time.FixedZone("UTC+3", 3*3600))
	}})
	got := f.l.Now()
	if want := time.Date(2026, 1, 1, 0, 0, 0, 123_456_000, time.UTC); got != want {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	e := f.grant("a", "g", credits.Credit)
	if e.Time != got {
		t.Fatalf("entry time %v, want %v", e.Time, got)
	}
}

func TestGrant(t *testing.T) {
	f := newFixture(t, credits.Options{})
	md := map[string]string{"invoice": "F-1"}
	e := f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g1", Amount: 12 * credits.Credit, Source: credits.SourceSubscription,
		ExpiresAt: t0.Add(time.Hour + 5*time.Nanosecond), Priority: 2, Period: t0, Metadata: md}))
	want := credits.Entry{Account: "a", ID: 1, Kind: credits.KindGrant, Time: t0, Amount: 12 * credits.Credit, BalanceAfter: 12 * credits.Credit,
		Source: credits.SourceSubscription, ExpiresAt: t0.Add(time.Hour), Priority: 2, Period: t0, Key: "g1", Metadata: md}
	if diff := cmp.Diff(want, e, cmpopts.IgnoreFields(credits.Entry{}, "RequestHash")); diff != "" {
		t.Fatalf("grant entry (-want +got):\n%s", diff)
	}
	f.balance("a", 12*credits.Credit, 0)

	bad := []credits.GrantRequest{
		{Key: "x", Amount: 0, Source: credits.SourceTopUp},
		{Key: "x", Amount: -credits.Credit, Source: credits.SourceTopUp},
		{Key: "x", Amount: credits.Credit},
		{Key: "x", Amount: credits.Credit, Source: 99},
		{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0},
		{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(-time.Second)},
		{Key: "", Amount: credits.Credit, Source: credits.SourceTopUp},
		{Key: "$reserved", Amount: credits.Credit, Source: credits.SourceTopUp},
		{Key: "tab\tkey", Amount: credits.Credit, Source: credits.SourceTopUp},
		{Key: strings.Repeat("k", 256), Amount: credits.Credit, Source: credits.SourceTopUp},
		{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"": "empty key"}},
		{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"k": strings.Repeat("v", 513)}},
	}
	for _, r := range bad {
		err := f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) { return f.l.Grant(f.ctx, "a", r) })
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field == "" {
			t.Errorf("grant %+v: %v is not an *InputError naming its field", r, err)
		}
	}
	for _, account := range []string{"", "$ledger", strings.Repeat("a", 201), "new\nline", "bad \xff utf-8"} {
		f.refused(account, credits.ErrInvalidInput, func() (credits.Entry, error) {
			return f.l.Grant(f.ctx, account, credits.GrantRequest{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp})
		})
	}
}

func TestGrantOverflowIsAnError(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g1", credits.MaxCredits-credits.Credit)
	f.refused("a", credits.ErrOverflow, func() (credits.Entry, error) {
		return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g2", Amount: 2 * credits.Credit, Source: credits.SourceTopUp})
	})
	f.refused("a", credits.ErrOverflow, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "a", "") })
	f.balance("a", credits.MaxCredits-credits.Credit, 0)
}

func TestCharge(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g", 100*credits.Credit)
	table, err := f.l.Prices().At(t0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res1080p, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c1", Action: credits.VideoGeneration, Resolution: credits.Res1080p, Quantity: 2}))
	if e.Kind != credits.KindCharge || e.Amount != -q.Total || e.Action != credits.VideoGeneration || e.Resolution != credits.Res1080p ||
		e.Quantity != 2 || e.PriceVersion != table.Version() || e.BalanceAfter != 100*credits.Credit-q.Total {
		t.Fatalf("charge entry %+v does not record the quote %+v", e, q)
	}
	raw := f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c2", Amount: credits.Credit / 4}))
	if raw.Amount != -credits.Credit/4 || raw.Action != 0 || raw.PriceVersion != "" {
		t.Fatalf("raw charge entry %+v", raw)
	}
	f.balance("a", 100*credits.Credit-q.Total-credits.Credit/4, 0)

	for _, r := range []credits.ChargeRequest{
		{Key: "x"},
		{Key: "x", Amount: -1},
		{Key: "x", Action: credits.ChatMessage, Amount: credits.Credit},
		{Key: "x", Resolution: credits.Res4K, Amount: credits.Credit},
		{Key: "x", Quantity: 2, Amount: credits.Credit},
		{Key: "x", PriceVersion: "v1", Amount: credits.Credit},
		{Key: "x", Action: credits.ChatMessage, Resolution: credits.Res4K},
		{Key: "x", Action: credits.ChatMessage, Quantity: -1},
		{Key: "x", Action: credits.Action(200)},
	} {
		f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) { return f.l.Charge(f.ctx, "a", r) })
	}
	f.refused("a", credits.ErrUnknownPriceVersion, func() (credits.Entry, error) {
		return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "x", Action: credits.ChatMessage, PriceVersion: "v0"})
	})

	// Insufficient: the shortfall is reachable, and nothing changes.
	b, _ := f.l.Balance(f.ctx, "a")
	err = f.refused("a", credits.ErrInsufficientCredits, func() (credits.Entry, error) {
		return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "big", Amount: b.Available + 3})
	})
	var ie *credits.InsufficientCreditsError
	if !errors.As(err, &ie) || ie.Shortfall != 3 || ie.Available != b.Available || ie.Requested != b.Available+3 || ie.Account != "a" {
		t.Fatalf("insufficient credits error %#v", err)
	}
	// All of it is fine.
	f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "all", Amount: b.Available}))
	f.balance("a", 0, 0)
}

func TestOverdraft(t *testing.T) {
	f := newFixture(t, credits.Options{Overdraft: func(account string) credits.Credits {
		if account == "trusted" {
			return 10 * credits.Credit
		}
		return 0
	}})
	f.grant("trusted", "g", 5*credits.Credit)
	f.must(f.l.Charge(f.ctx, "trusted", credits.ChargeRequest{Key: "c1", Amount: 12 * credits.Credit}))
	f.balance("trusted", -7*credits.Credit, 0)
	h := f.must(f.l.Hold(f.ctx, "trusted", credits.HoldRequest{Key: "h", Amount: 3 * credits.Credit}))
	f.refused("trusted", credits.ErrInsufficientCredits, func() (credits.Entry, error) {
		return f.l.Charge(f.ctx, "trusted", credits.ChargeRequest{Key: "c2", Amount: 1})
	})
	f.must(f.l.Capture(f.ctx, "trusted", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: credits.Credit}))
	f.balance("trusted", -8*credits.Credit, 0)
	// New credits pay the debt first.
	f.grant("trusted", "g2", 20*credits.Credit)
	f.balance("trusted", 12*credits.Credit, 0)
	f.refused("other", credits.ErrInsufficientCredits, func() (credits.Entry, error) {
		return f.l.Charge(f.ctx, "other", credits.ChargeRequest{Key: "c", Amount: 1})
	})
}

func TestHoldCaptureRelease(t *testing.T) {
	f := newFixture(t, credits.Options{HoldTTL: 10 * time.Minute})
	f.grant("a", "g", 20*credits.Credit)
	h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h1", Amount: 8 * credits.Credit}))
	if h.Kind != credits.KindHold || h.Held != 8*credits.Credit || h.Amount != 0 || !h.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("hold entry %+v (want Options.HoldTTL as its deadline)", h)
	}
	f.balance("a", 20*credits.Credit, 8*credits.Credit)
	f.refused("a", credits.ErrInsufficientCredits, func() (credits.Entry, error) {
		return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c", Amount: 12*credits.Credit + 1})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "x", Hold: h.ID, Amount: 8*credits.Credit + 1})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "x", Hold: h.ID})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "x", Hold: 0})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "x", Amount: credits.Credit, Deadline: t0})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "x", Amount: 0})
	})
	f.refused("a", credits.ErrHoldNotFound, func() (credits.Entry, error) {
		return f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "x", Hold: 1}) // the grant
	})
	f.refused("a", credits.ErrHoldNotFound, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "x", Hold: 99, Amount: 1})
	})

	// A partial capture spends part and gives the rest back.
	c := f.must(f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: 5 * credits.Credit}))
	if c.Amount != -5*credits.Credit || c.Held != -8*credits.Credit || c.Hold != h.ID || c.BalanceAfter != 15*credits.Credit {
		t.Fatalf("capture entry %+v", c)
	}
	f.balance("a", 15*credits.Credit, 0)
	for _, op := range []func() (credits.Entry, error){
		func() (credits.Entry, error) {
			return f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "rel", Hold: h.ID})
		},
		func() (credits.Entry, error) {
			return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "cap2", Hold: h.ID, Amount: 1})
		},
	} {
		f.refused("a", credits.ErrHoldClosed, op)
	}

	// A release gives it all back.
	h2 := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h2", Amount: 15 * credits.Credit, Deadline: t0.Add(time.Hour)}))
	r := f.must(f.l.Release(f.ctx, "a", credits.ReleaseRequest{Key: "rel2", Hold: h2.ID}))
	if r.Kind != credits.KindRelease || r.Amount != 0 || r.Held != -15*credits.Credit {
		t.Fatalf("release entry %+v", r)
	}
	f.balance("a", 15*credits.Credit, 0)

	// A hold that passes its deadline lapses by itself.
	h3 := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h3", Amount: 4 * credits.Credit, Deadline: t0.Add(time.Minute)}))
	f.balance("a", 15*credits.Credit, 4*credits.Credit)
	f.clock.Advance(time.Minute)
	f.balance("a", 15*credits.Credit, 0)
	f.refused("a", credits.ErrHoldClosed, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "late", Hold: h3.ID, Amount: credits.Credit})
	})
	swept := f.must1(f.l.Sweep(f.ctx, "a"))
	if len(swept) != 1 || swept[0].Kind != credits.KindExpire || swept[0].Hold != h3.ID || swept[0].Held != -4*credits.Credit {
		t.Fatalf("sweep %+v, want the lapsed hold", swept)
	}
	if again := f.must1(f.l.Sweep(f.ctx, "a")); len(again) != 0 {
		t.Fatalf("second sweep %+v, want nothing", again)
	}
}

func (f *fixture) must1(es []credits.Entry, err error) []credits.Entry {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

func TestRefund(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g", 50*credits.Credit)
	ch := f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c", Amount: 20 * credits.Credit}))
	free := f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "free", Action: credits.UploadImage}))
	if free.Amount != 0 {
		t.Fatalf("upload_image costs %s, the test expects it free", -free.Amount)
	}
	r1 := f.must(f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r1", Entry: ch.ID, Amount: 15 * credits.Credit}))
	if r1.Kind != credits.KindRefund || r1.Reverses != ch.ID || r1.Amount != 15*credits.Credit {
		t.Fatalf("refund entry %+v", r1)
	}
	f.refused("a", credits.ErrNotRefundable, func() (credits.Entry, error) {
		return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r2", Entry: ch.ID, Amount: 5*credits.Credit + 1})
	})
	rest := f.must(f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r3", Entry: ch.ID}))
	if rest.Amount != 5*credits.Credit {
		t.Fatalf("refund of the rest: %s, want 5", rest.Amount)
	}
	f.balance("a", 50*credits.Credit, 0)
	for _, target := range []int64{ch.ID, 1, free.ID, r1.ID} {
		f.refused("a", credits.ErrNotRefundable, func() (credits.Entry, error) {
			return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r4", Entry: target})
		})
	}
	// An entry that does not exist is not found, not "not refundable".
	f.refused("a", credits.ErrEntryNotFound, func() (credits.Entry, error) {
		return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r4", Entry: 99})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r4", Entry: ch.ID, Amount: -1})
	})
	f.refused("a", credits.ErrInvalidInput, func() (credits.Entry, error) {
		return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r4", Entry: 0})
	})
	// A capture is refundable too, up to what it took.
	h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h", Amount: 10 * credits.Credit}))
	c := f.must(f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: 6 * credits.Credit}))
	f.refused("a", credits.ErrNotRefundable, func() (credits.Entry, error) {
		return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r5", Entry: c.ID, Amount: 7 * credits.Credit})
	})
	f.must(f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "r5", Entry: c.ID, Amount: 6 * credits.Credit}))
	f.balance("a", 50*credits.Credit, 0)
}

// TestRefundMissingEntry: a refund of an entry the account does not have
// is ErrEntryNotFound, not ErrNotRefundable (which says the entry exists
// but is not a charge or capture, or has nothing left to refund), and
// changes nothing.
func TestRefundMissingEntry(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("alice", "g", 50*credits.Credit)
	f.must(f.l.Charge(f.ctx, "alice", credits.ChargeRequest{Key: "c", Amount: 20 * credits.Credit}))
	for _, tc := range []struct {
		account string
		entry   int64
		want    string
	}{
		{"alice", 3, `account "alice" has no entry 3: entry not found`},
		{"alice", 99, `account "alice" has no entry 99: entry not found`},
		{"nobody", 1, `account "nobody" has no entry 1: entry not found`},
	} {
		err := f.refused(tc.account, credits.ErrEntryNotFound, func() (credits.Entry, error) {
			return f.l.Refund(f.ctx, tc.account, credits.RefundRequest{Key: "r", Entry: tc.entry})
		})
		if errors.Is(err, credits.ErrNotRefundable) || err.Error() != tc.want {
			t.Errorf("refund of entry %d of %s: %q, want %q (and not ErrNotRefundable)", tc.entry, tc.account, err, tc.want)
		}
	}
	f.balance("alice", 30*credits.Credit, 0)
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g", 50*credits.Credit)
	h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h", Amount: 5 * credits.Credit}))
	ch := f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c", Action: credits.ChatMessage}))
	ops := []struct {
		name        string
		same, other func() (credits.Entry, error)
	}{
		{"grant",
			func() (credits.Entry, error) {
				return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "k-grant", Amount: credits.Credit, Source: credits.SourceTopUp})
			},
			func() (credits.Entry, error) {
				return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "k-grant", Amount: credits.Credit, Source: credits.SourceAdjustment})
			}},
		{"charge",
			func() (credits.Entry, error) {
				return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "k-charge", Action: credits.Render, Metadata: map[string]string{"a": "1", "b": "2"}})
			},
			func() (credits.Entry, error) {
				return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "k-charge", Action: credits.Render, Metadata: map[string]string{"a": "2", "b": "1"}})
			}},
		{"hold",
			func() (credits.Entry, error) {
				return f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "k-hold", Amount: credits.Credit})
			},
			func() (credits.Entry, error) {
				return f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "k-hold", Amount: credits.Credit, Deadline: t0.Add(time.Hour)})
			}},
		{"capture",
			func() (credits.Entry, error) {
				return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "k-capture", Hold: h.ID, Amount: 2 * credits.Credit})
			},
			func() (credits.Entry, error) {
				return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "k-capture", Hold: h.ID, Amount: 3 * credits.Credit})
			}},
		{"refund",
			func() (credits.Entry, error) {
				return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "k-refund", Entry: ch.ID, Amount: credits.Credit})
			},
			func() (credits.Entry, error) {
				return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "k-refund", Entry: ch.ID})
			}},
		{"charge under a refund's key",
			func() (credits.Entry, error) {
				return f.l.Refund(f.ctx, "a", credits.RefundRequest{Key: "k-refund", Entry: ch.ID, Amount: credits.Credit})
			},
			func() (credits.Entry, error) {
				return f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "k-refund", Amount: credits.Credit})
			}},
	}
	for _, op := range ops {
		first := f.must(op.same())
		f.clock.Advance(time.Minute)
		before := f.snap("a")
		again := f.must(op.same())
		if diff := cmp.Diff(first, again); diff != "" {
			t.Fatalf("%s: the retry differs from the first result (-first +retry):\n%s", op.name, diff)
		}
		if diff := cmp.Diff(before, f.snap("a"), cmp.AllowUnexported(snapshot{})); diff != "" {
			t.Fatalf("%s: the retry changed the account:\n%s", op.name, diff)
		}
		err := f.refused("a", credits.ErrIdempotencyConflict, op.other)
		var ce *credits.IdempotencyConflictError
		if !errors.As(err, &ce) || ce.EntryID != first.ID || ce.Account != "a" {
			t.Fatalf("%s: conflict error %#v, want one naming entry %d", op.name, err, first.ID)
		}
	}
	// A key belongs to one account: another account may use it.
	f.grant("b", "g", credits.Credit)
	f.must(f.l.Charge(f.ctx, "b", credits.ChargeRequest{Key: "c", Amount: credits.Credit}))
}

func TestRetryAfterExpiryReplays(t *testing.T) {
	f := newFixture(t, credits.Options{})
	g := credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(time.Hour)}
	h := credits.HoldRequest{Key: "h", Amount: credits.Credit, Deadline: t0.Add(time.Minute)}
	ge := f.must(f.l.Grant(f.ctx, "a", g))
	he := f.must(f.l.Hold(f.ctx, "a", h))
	f.clock.Advance(2 * time.Hour)
	if e, err := f.l.Grant(f.ctx, "a", g); err != nil || e.ID != ge.ID {
		t.Fatalf("grant retried after its lot expired: %+v, %v; want the first result", e, err)
	}
	if e, err := f.l.Hold(f.ctx, "a", h); err != nil || e.ID != he.ID {
		t.Fatalf("hold retried after its deadline: %+v, %v; want the first result", e, err)
	}
}

func TestExpiryAndSpendingOrder(t *testing.T) {
	f := newFixture(t, credits.Options{})
	never := f.grant("a", "never", 10*credits.Credit)
	soon := f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "soon", Amount: 4 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(time.Hour)}))
	later := f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "later", Amount: 4 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(2 * time.Hour)}))
	first := f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "first", Amount: 2 * credits.Credit, Source: credits.SourceTopUp, Priority: 1}))
	// 3 credits: the priority lot (2), then the soonest to expire (1 of 4).
	f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c", Amount: 3 * credits.Credit}))
	f.balance("a", 17*credits.Credit, 0)
	f.clock.Advance(time.Hour)
	f.balance("a", 14*credits.Credit, 0) // soon's 3 expired, before any sweep
	f.clock.Advance(time.Hour)
	f.balance("a", 10*credits.Credit, 0) // later's 4 too
	swept := f.must1(f.l.Sweep(f.ctx, "a"))
	if len(swept) != 2 || swept[0].Lot != soon.ID || swept[0].Amount != -3*credits.Credit || swept[1].Lot != later.ID || swept[1].Amount != -4*credits.Credit {
		t.Fatalf("sweep %+v, want lot %d losing 3 then lot %d losing 4", swept, soon.ID, later.ID)
	}
	_, _ = never, first
	p, err := f.l.History(f.ctx, "a", credits.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := credits.Rebuild(p.Entries); err != nil || s.Version() != int64(len(p.Entries)) {
		t.Fatalf("Rebuild: %v", err)
	}
}

func TestHistoryQueryLimits(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g", credits.Credit)
	for _, q := range []credits.HistoryQuery{{Limit: -1}, {Limit: 1001}, {After: -1}, {Kinds: []credits.Kind{0}}, {Kinds: []credits.Kind{99}}} {
		if _, err := f.l.History(f.ctx, "a", q); !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("History(%+v): %v, want ErrInvalidInput", q, err)
		}
	}
	p, err := f.l.History(f.ctx, "a", credits.HistoryQuery{Limit: 1000, Kinds: []credits.Kind{credits.KindCharge}})
	if err != nil || len(p.Entries) != 0 || p.Next != 0 {
		t.Fatalf("History of no matching entries: %+v, %v", p, err)
	}
	for _, account := range []string{"", "$claim:x"} {
		if _, err := f.l.History(f.ctx, account, credits.HistoryQuery{}); !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("History(%q): %v, want ErrInvalidInput", account, err)
		}
		if _, err := f.l.Balance(f.ctx, account); !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("Balance(%q): %v, want ErrInvalidInput", account, err)
		}
	}
}

func TestHeldCreditsExpireOnlyOnceReleased(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "never", 10*credits.Credit)
	f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "soon", Amount: 7 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: t0.Add(time.Hour)}))
	h := f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h", Amount: 3 * credits.Credit, Deadline: t0.Add(2 * time.Hour)}))
	f.balance("a", 17*credits.Credit, 3*credits.Credit)
	f.clock.Advance(time.Hour)
	f.balance("a", 13*credits.Credit, 3*credits.Credit) // the 4 not held expired
	f.clock.Advance(time.Hour)
	f.balance("a", 10*credits.Credit, 0) // the hold lapsed; its 3 went back to the expired lot
	f.refused("a", credits.ErrHoldClosed, func() (credits.Entry, error) {
		return f.l.Capture(f.ctx, "a", credits.CaptureRequest{Key: "c", Hold: h.ID, Amount: credits.Credit})
	})
	// Each expiry is stamped with the instant it took effect: the lot's 4
	// unreserved credits at its expiry, the hold at its deadline, and the
	// 3 that came back to the expired lot then.
	swept := f.must1(f.l.Sweep(f.ctx, "a"))
	type want struct {
		at           time.Time
		hold         int64
		amount, held credits.Credits
	}
	wants := []want{{t0.Add(time.Hour), 0, -4 * credits.Credit, 0}, {t0.Add(2 * time.Hour), h.ID, 0, -3 * credits.Credit}, {t0.Add(2 * time.Hour), 0, -3 * credits.Credit, 0}}
	if len(swept) != len(wants) {
		t.Fatalf("sweep %+v, want %d entries", swept, len(wants))
	}
	for i, w := range wants {
		if e := swept[i]; !e.Time.Equal(w.at) || e.Hold != w.hold || e.Amount != w.amount || e.Held != w.held || e.Kind != credits.KindExpire {
			t.Errorf("swept entry %d: %s at %s hold %d amount %s held %s; want at %s hold %d amount %s held %s",
				i, e.Kind, e.Time, e.Hold, e.Amount, e.Held, w.at, w.hold, w.amount, w.held)
		}
	}
}

// A clock that steps back (another instance's, or NTP's) never makes an
// entry older than the one before it: history is in time order too.
func TestEntryTimesNeverGoBack(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g1", 10*credits.Credit)
	f.clock.Advance(-time.Hour)
	e := f.grant("a", "g2", 10*credits.Credit)
	if !e.Time.Equal(t0) {
		t.Fatalf("entry after the clock stepped back: time %s, want %s (the previous entry's)", e.Time, t0)
	}
	f.clock.Advance(2 * time.Hour)
	if e := f.grant("a", "g3", 10*credits.Credit); !e.Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("entry after the clock moved on: time %s, want %s", e.Time, t0.Add(time.Hour))
	}
}

// An overdraft of MaxCredits means "no limit": the available balance it
// adds saturates instead of wrapping around to a refusal.
func TestUnlimitedOverdraft(t *testing.T) {
	f := newFixture(t, credits.Options{Overdraft: func(string) credits.Credits { return credits.MaxCredits }})
	f.grant("a", "g", 5*credits.Credit)
	f.must(f.l.Charge(f.ctx, "a", credits.ChargeRequest{Key: "c1", Amount: 1000 * credits.Credit}))
	f.must(f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h1", Amount: 1000 * credits.Credit}))
	f.balance("a", -995*credits.Credit, 1000*credits.Credit)
	// A negative overdraft is none.
	g := newFixture(t, credits.Options{Overdraft: func(string) credits.Credits { return -credits.Credit }})
	g.grant("a", "g", credits.Credit)
	g.must(g.l.Charge(g.ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit}))
	g.refused("a", credits.ErrInsufficientCredits, func() (credits.Entry, error) {
		return g.l.Charge(g.ctx, "a", credits.ChargeRequest{Key: "c2", Amount: 1})
	})
}

// Options a ledger cannot run with are refused when it is made, naming
// the field, instead of, say, writing a free tier of -5 credits.
func TestNegativeOptionsAreRefused(t *testing.T) {
	for name, opts := range map[string]credits.Options{
		"free_tier": {FreeTier: -5 * credits.Credit},
		"hold_ttl":  {HoldTTL: -time.Minute},
	} {
		err := opts.Validate()
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != name {
			t.Errorf("%s: Validate = %v, want an *InputError naming %s", name, err, name)
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), name) {
					t.Errorf("%s: NewLedger did not panic naming the field (recovered %v)", name, r)
				}
			}()
			credits.NewMemoryLedger(opts)
		}()
	}
	if err := (credits.Options{}).Validate(); err != nil {
		t.Errorf("the zero Options: %v", err)
	}
}

// Instants the durable backends cannot store exactly (JSON and SQL keep
// the years 1 to 9999) are refused by the ledger, as bad input naming the
// field, on every backend alike.
func TestInstantsOutOfRangeAreRefused(t *testing.T) {
	f := newFixture(t, credits.Options{})
	f.grant("a", "g", 10*credits.Credit)
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		field string
		op    func() (credits.Entry, error)
	}{
		{"expires_at", func() (credits.Entry, error) {
			return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g1", Amount: 1, Source: credits.SourceTopUp, ExpiresAt: far})
		}},
		{"period", func() (credits.Entry, error) {
			return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g2", Amount: 1, Source: credits.SourceSubscription, Period: early})
		}},
		{"period", func() (credits.Entry, error) {
			return f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g3", Amount: 1, Source: credits.SourceSubscription, Period: time.Unix(1<<62, 0)})
		}},
		{"deadline", func() (credits.Entry, error) {
			return f.l.Hold(f.ctx, "a", credits.HoldRequest{Key: "h", Amount: 1, Deadline: far})
		}},
	} {
		err := f.refused("a", credits.ErrInvalidInput, tc.op)
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("got %v, want an *InputError naming %s", err, tc.field)
		}
	}
	if _, err := f.l.History(f.ctx, "a", credits.HistoryQuery{Since: far}); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("History since year 10000: %v, want ErrInvalidInput", err)
	}
	if _, err := f.l.Statement(f.ctx, "a", credits.Period{Start: t0, End: far}); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("Statement to year 10000: %v, want ErrInvalidInput", err)
	}
	// The last microsecond of 9999 is fine.
	f.must(f.l.Grant(f.ctx, "a", credits.GrantRequest{Key: "g4", Amount: 1, Source: credits.SourceTopUp, ExpiresAt: far.Add(-time.Microsecond)}))
}

// A backend's failure comes back as a *BackendError naming the operation
// and the account, matching ErrBackend and the backend's own error.
func TestBackendErrorsAreWrapped(t *testing.T) {
	failing := errors.New("disk on fire")
	l := credits.NewLedger(brokenBackend{credits.NewMemoryBackend(), failing}, credits.Options{})
	_, err := l.Charge(context.Background(), "a", credits.ChargeRequest{Key: "k", Amount: 1})
	var be *credits.BackendError
	if !errors.As(err, &be) || be.Op != credits.OpCharge || be.Account != "a" || !errors.Is(err, credits.ErrBackend) || !errors.Is(err, failing) {
		t.Fatalf("charge on a failing backend: %v (%#v)", err, be)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Balance(ctx, "a"); !errors.Is(err, context.Canceled) || !errors.Is(err, credits.ErrBackend) {
		t.Errorf("balance with a cancelled context on a failing backend: %v, want context.Canceled and ErrBackend", err)
	}
}

// A backend's ErrCorrupt shows through the *BackendError of a read and
// of a write, with the *CorruptError's details.
func TestCorruptErrorsShowThrough(t *testing.T) {
	corrupt := &credits.CorruptError{Account: "a", Reason: "the stored state does not match its checksum", Err: errors.New("crc 1 != 2")}
	l := credits.NewLedger(brokenBackend{credits.NewMemoryBackend(), corrupt}, credits.Options{})
	ctx := context.Background()
	_, werr := l.Charge(ctx, "a", credits.ChargeRequest{Key: "k", Amount: 1})
	_, rerr := l.Balance(ctx, "a")
	for _, err := range []error{werr, rerr} {
		var ce *credits.CorruptError
		if !errors.Is(err, credits.ErrCorrupt) || !errors.Is(err, credits.ErrBackend) || !errors.As(err, &ce) || ce.Account != "a" {
			t.Errorf("%v: want ErrCorrupt and ErrBackend, with the *CorruptError", err)
		}
		if want := `account "a": corrupt: the stored state does not match its checksum: crc 1 != 2`; !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want it to say %s", err, want)
		}
	}
	for _, tc := range []struct {
		err  *credits.CorruptError
		want string
	}{
		{&credits.CorruptError{Account: "a", Entry: 7, Reason: "unknown kind"}, `account "a": entry 7: corrupt: unknown kind`},
		{&credits.CorruptError{Reason: "database disk image is malformed"}, `ledger data: corrupt: database disk image is malformed`},
	} {
		if got := tc.err.Error(); got != tc.want || !errors.Is(tc.err, credits.ErrCorrupt) {
			t.Errorf("Error() = %q, want %q, matching ErrCorrupt", got, tc.want)
		}
	}
}

// brokenBackend fails every Update and Load with err.
type brokenBackend struct {
	*credits.MemoryBackend
	err error
}

func (b brokenBackend) Update(context.Context, []credits.Write) error { return b.err }
func (b brokenBackend) Load(context.Context, string) (*credits.AccountState, error) {
	return nil, b.err
}
