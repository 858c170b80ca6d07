package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

// The ledger's limits on what it stores, as its documentation gives them.
const (
	maxAccountBytes  = 200
	maxKeyBytes      = 255
	maxMetadataKeys  = 16
	maxMetadataKey   = 64
	maxMetadataValue = 512
)

// fullMetadata is metadata at every limit: 16 keys of 64 bytes, values of
// 512 bytes, in several scripts.
func fullMetadata(tag string) map[string]string {
	md := make(map[string]string, maxMetadataKeys)
	for i := range maxMetadataKeys {
		k := fmt.Sprintf("%s-ключ-%02d-", tag, i)
		k += strings.Repeat("k", maxMetadataKey-len(k))
		md[k] = strings.Repeat("ü", maxMetadataValue/2) // 2 bytes each
	}
	return md
}

// testRoundTrip makes one entry with every field of every kind set, under
// long Unicode names, keys and metadata at their limits, and checks that
// what the backend gives back is exactly what the operations returned.
func testRoundTrip(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	clock := NewClock(start) // has nanoseconds the ledger must drop
	l := newLedger(b, clock, nil)
	accounts := []string{
		strings.Repeat("é", maxAccountBytes/2),
		"名前 with spaces, 'quotes', \"double\", back\\slash; DROP TABLE entries; -- 🙂",
	}
	for _, account := range accounts {
		t.Run("", func(t *testing.T) { roundTrip(ctx, t, l, clock, b, account) })
	}
}

func roundTrip(ctx context.Context, t *testing.T, l *credits.Ledger, clock *Clock, b credits.Backend, account string) {
	longKey := strings.Repeat("k", maxKeyBytes-len("🔑")) + "🔑"
	var made []credits.Entry
	do := func(e credits.Entry, err error) credits.Entry {
		t.Helper()
		if err != nil {
			t.Fatalf("operation %d: %v", len(made)+1, err)
		}
		made = append(made, e)
		return e
	}
	expiry := clock.Now().Add(36*time.Hour + 999*time.Nanosecond)
	do(l.Grant(ctx, account, credits.GrantRequest{Key: longKey, Amount: 100*credits.Credit + 1, Source: credits.SourceSubscription,
		ExpiresAt: expiry, Priority: -7, Period: time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), Metadata: fullMetadata("grant")}))
	do(l.Grant(ctx, account, credits.GrantRequest{Key: "grant 2", Amount: 5 * credits.Credit, Source: credits.SourceTopUp, ExpiresAt: clock.Now().Add(time.Hour), Priority: -9}))
	charge := do(l.Charge(ctx, account, credits.ChargeRequest{Key: "video ✓", Action: credits.VideoGeneration, Resolution: credits.Res4K, Quantity: 2,
		PriceVersion: v1Name, Metadata: map[string]string{"job": "42", "emoji": "🎬", "empty": ""}}))
	do(l.Charge(ctx, account, credits.ChargeRequest{Key: "raw", Amount: credits.Credit / 7}))
	hold := do(l.Hold(ctx, account, credits.HoldRequest{Key: "hold", Amount: 9 * credits.Credit, Deadline: clock.Now().Add(2*time.Hour + 1), Metadata: fullMetadata("hold")}))
	capture := do(l.Capture(ctx, account, credits.CaptureRequest{Key: "capture", Hold: hold.ID, Amount: 4*credits.Credit + 3, Metadata: map[string]string{"why": "done"}}))
	hold2 := do(l.Hold(ctx, account, credits.HoldRequest{Key: "hold 2", Amount: credits.Credit}))
	do(l.Release(ctx, account, credits.ReleaseRequest{Key: "release", Hold: hold2.ID}))
	do(l.Refund(ctx, account, credits.RefundRequest{Key: "refund part", Entry: charge.ID, Amount: 3 * credits.Credit}))
	do(l.Refund(ctx, account, credits.RefundRequest{Key: "refund rest", Entry: capture.ID}))
	do(l.ClaimFreeTier(ctx, account, "claim of "+account))
	do(l.Hold(ctx, account, credits.HoldRequest{Key: "hold 3", Amount: credits.Credit, Deadline: clock.Now().Add(30 * time.Minute)}))

	// Spenders, budgets, multi-capture holds and job runs: every field
	// they add.
	doAll := func(es []credits.Entry, err error) []credits.Entry {
		t.Helper()
		if err != nil {
			t.Fatalf("operation %d: %v", len(made)+1, err)
		}
		made = append(made, es...)
		return es
	}
	do(l.Grant(ctx, account, credits.GrantRequest{Key: "for jobs", Amount: 200 * credits.Credit, Source: credits.SourceTopUp}))
	loc := newYork()
	do(l.SetBudget(ctx, account, credits.BudgetRequest{Key: "budget key", Spender: "clé ✓", Cap: 90*credits.Credit + 7, Window: credits.Week(loc),
		Metadata: map[string]string{"why": "a team's key"}}))
	do(l.SetBudget(ctx, account, credits.BudgetRequest{Key: "budget group", Spender: "clé*", Cap: 100 * credits.Credit, Window: credits.BillingPeriod("round trip ✓")}))
	do(l.SetBudget(ctx, account, credits.BudgetRequest{Key: "budget default", Cap: 0, Window: credits.Day(nil)}))
	do(l.Charge(ctx, account, credits.ChargeRequest{Key: "spender charge", Action: credits.ChatMessage, Spender: "clé ✓"}))
	multi := do(l.Hold(ctx, account, credits.HoldRequest{Key: "multi", Amount: 6 * credits.Credit, Spender: "clé ✓", MultiCapture: true, Deadline: clock.Now().Add(3 * time.Hour)}))
	do(l.Capture(ctx, account, credits.CaptureRequest{Key: "multi 1", Hold: multi.ID, Amount: 2 * credits.Credit}))
	do(l.Capture(ctx, account, credits.CaptureRequest{Key: "multi 2", Hold: multi.ID, Amount: credits.Credit, Final: true}))
	do(l.SetBudget(ctx, account, credits.BudgetRequest{Key: "budget removed", Remove: true}))
	run, err := l.StartJob(ctx, account, credits.JobRequest{Key: "job ✓", Estimate: jobEstimates()[0], Spender: "clé ✓",
		Deadline: clock.Now().Add(2 * time.Hour), Metadata: map[string]string{"job": "42"}})
	if err != nil {
		t.Fatal(err)
	}
	do(l.Entry(ctx, account, run.Holds[0]))
	doAll(run.Complete(ctx, credits.StepUploads))
	doAll(run.Complete(ctx, credits.StepAICreation))
	doAll(run.Complete(ctx, credits.StepRender))
	doAll(run.Fail(ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender, Metadata: map[string]string{"why": "broken file"}}))
	cancelled, err := l.StartJob(ctx, account, credits.JobRequest{Key: "job ✗", Estimate: jobEstimates()[1]})
	if err != nil {
		t.Fatal(err)
	}
	do(l.Entry(ctx, account, cancelled.Holds[0]))
	doAll(cancelled.Fail(ctx, credits.JobFailure{Kind: credits.FailureUserCancel, Step: credits.StepUploads}))

	clock.Advance(time.Hour + 1500*time.Nanosecond)
	swept, err := l.Sweep(ctx, account)
	if err != nil || len(swept) != 2 {
		t.Fatalf("Sweep after a lot expired and a hold lapsed: %d entries, %v; want 2", len(swept), err)
	}
	kinds := map[credits.Kind]bool{}
	var sawLines, sawFailure, sawMulti, sawZone bool
	for _, e := range made {
		kinds[e.Kind] = true
		sawLines = sawLines || len(e.Lines) > 0
		sawFailure = sawFailure || e.Failure != 0
		sawMulti = sawMulti || e.MultiCapture
		sawZone = sawZone || e.Zone != ""
	}
	if !kinds[credits.KindBudget] || !sawLines || !sawFailure || !sawMulti || !sawZone {
		t.Fatalf("the round trip does not cover every field: budget %v, lines %v, failure %v, multi-capture %v, zone %v", kinds[credits.KindBudget], sawLines, sawFailure, sawMulti, sawZone)
	}
	made = append(made, swept...)

	for _, e := range made {
		if e.Time.Location() != time.UTC || !e.Time.Equal(e.Time.Truncate(time.Microsecond)) {
			broke(t, ruleUTC, "the ledger returned entry %d at %s", e.ID, e.Time)
		}
		got, err := l.Entry(ctx, account, e.ID)
		if err != nil {
			broke(t, ruleReadBack, "Entry(%d): %v", e.ID, err)
		}
		if diff := cmp.Diff(e, got, entryCmp...); diff != "" {
			broke(t, ruleReadBack, "entry %d (%s) (-returned +read back):\n%s", e.ID, e.Kind, diff)
		}
		for _, tm := range []time.Time{got.Time, got.ExpiresAt, got.Period} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				broke(t, ruleUTC, "entry %d (%s) reads back a time in %s: %s", e.ID, e.Kind, tm.Location(), tm)
			}
		}
	}
	hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(made, hist, entryCmp...); diff != "" {
		broke(t, ruleReadBack, "the history differs from the entries returned (-returned +history):\n%s", diff)
	}
	checkHistory(t, account, hist, 0)

	// Requests over a limit are refused and change nothing.
	big := fullMetadata("big")
	big["one too many"] = "x"
	longValue := map[string]string{"k": strings.Repeat("v", maxMetadataValue+1)}
	longMetaKey := map[string]string{strings.Repeat("k", maxMetadataKey+1): "v"}
	badUTF8 := map[string]string{"k": "\xff\xfe"}
	for i, md := range []map[string]string{big, longValue, longMetaKey, badUTF8} {
		_, err := l.Grant(ctx, account, credits.GrantRequest{Key: fmt.Sprintf("too big %d", i), Amount: credits.Credit, Source: credits.SourceTopUp, Metadata: md})
		if !errors.Is(err, credits.ErrInvalidInput) {
			broke(t, ruleOutcome, "a grant with metadata over the limits (%d): got %v, want ErrInvalidInput", i, err)
		}
	}
	for _, key := range []string{longKey + "x", "", "\x00nul"} {
		if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: credits.Credit}); !errors.Is(err, credits.ErrInvalidInput) {
			broke(t, ruleOutcome, "a charge under key %q: got %v, want ErrInvalidInput", key, err)
		}
	}
	if _, err := l.Grant(ctx, account+"x", credits.GrantRequest{Key: "k", Amount: credits.Credit, Source: credits.SourceTopUp}); len(account) >= maxAccountBytes && !errors.Is(err, credits.ErrInvalidInput) {
		broke(t, ruleOutcome, "a grant to an account name over %d bytes: got %v, want ErrInvalidInput", maxAccountBytes, err)
	}
	after, err := history(ctx, t, l, account, credits.HistoryQuery{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(hist) {
		broke(t, ruleFailedChangesNone, "refused requests added %d entries", len(after)-len(hist))
	}

	// What the caller gets is the caller's: changing it, or the request's
	// metadata afterwards, changes no stored entry.
	md := map[string]string{"mine": "before"}
	e, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "aliasing", Amount: credits.Credit, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	md["mine"] = "changed by the caller"
	e.Metadata["mine"] = "changed by the caller"
	replay, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "aliasing", Amount: credits.Credit, Metadata: map[string]string{"mine": "before"}})
	if err != nil {
		t.Fatal(err)
	}
	replay.Metadata["mine"] = "changed by the caller"
	p, err := l.History(ctx, account, credits.HistoryQuery{After: e.ID - 1, Limit: 1})
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("History: %v", err)
	}
	p.Entries[0].Metadata["mine"] = "changed by the caller"
	claimed, err := l.ClaimFreeTier(ctx, account, "claim of "+account)
	if err != nil {
		t.Fatalf("ClaimFreeTier, again: %v", err)
	}
	if got, err := l.Entry(ctx, account, claimed.ID); err != nil || got.Claim != "claim of "+account || got.Metadata != nil {
		broke(t, ruleReadBack, "the free-tier grant reads back with claim %q and metadata %v (%v); want the claim key, and no metadata: Metadata is the caller's", got.Claim, got.Metadata, err)
	}
	for range 2 {
		got, err := l.Entry(ctx, account, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Metadata["mine"] != "before" {
			broke(t, ruleAliasing, "entry %d's metadata reads back %q after the caller changed its copy", e.ID, got.Metadata["mine"])
		}
		got.Metadata["mine"] = "changed by the caller"
	}

	renewalRoundTrip(ctx, t, l, account)
	noticeRoundTrip(ctx, t, b)
	loadIsCallers(ctx, t, b, account)
}

// loadIsCallers changes the whole of a state Load returned (it decodes the
// zero state over it), and loads the account again: a backend that keeps
// decoded states must hand out copies.
func loadIsCallers(ctx context.Context, t *testing.T, b credits.Backend, account string) {
	mine, err := b.Load(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	version := mine.Version()
	want, err := mine.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	zero, err := new(credits.AccountState).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := mine.UnmarshalBinary(zero); err != nil {
		t.Fatal(err)
	}
	again, err := b.Load(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.MarshalBinary(); err != nil || string(got) != string(want) {
		broke(t, ruleLoadIsCallers, "after the caller changed the state Load returned, Load returns version %d, was %d (%v)", again.Version(), version, err)
	}
}

// noticeRoundTrip writes both notices of their own (low balance and
// expiring) and reads them back exactly.
func noticeRoundTrip(ctx context.Context, t *testing.T, b credits.Backend) {
	clock := NewClock(start)
	l := credits.NewLedger(b, credits.Options{Prices: priceBook(), Now: clock.Now, ExpiringNotice: 48 * time.Hour,
		LowBalance: func(string) credits.Credits { return 5 * credits.Credit }})
	const account = "notices 🔔"
	if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 3*credits.Credit + 7, Source: credits.SourceAdjustment,
		ExpiresAt: clock.Now().Add(24 * time.Hour)}); err != nil {
		broke(t, ruleOutcome, "a grant under key %q with its notices after it (the second round trip replays it): %v", "g", err)
	}
	hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []credits.NoticeKind
	for _, e := range hist {
		if e.Kind == credits.KindNotice {
			kinds = append(kinds, e.Notice)
			got, err := l.Entry(ctx, account, e.ID)
			if err != nil || !cmp.Equal(e, got, entryCmp...) {
				broke(t, ruleReadBack, "notice %d reads back as %+v (%v)", e.ID, got, err)
			}
		}
	}
	if len(kinds) != 2 || kinds[0] != credits.NoticeLowBalance || kinds[1] != credits.NoticeExpiring ||
		hist[1].Value != 5*credits.Credit || hist[2].Value != 3*credits.Credit+7 || hist[2].Lot != 1 {
		broke(t, ruleReadBack, "a grant under the low-balance threshold, expiring within the notice window, left:\n%s", describe(hist))
	}
	checkHistory(t, account, hist, 0)
}

// renewalRoundTrip renews a cancelled subscription whose two periods have
// ended: grants in two lots with a period and a priority, rollovers that
// drop and carry into a lot of their own (priority, expiry, Carried),
// the keyed rollover at the subscription's end, and the expirations on
// the way all read back exactly as Renew returned them, in UTC.
func renewalRoundTrip(ctx context.Context, t *testing.T, l *credits.Ledger, account string) {
	before, err := history(ctx, t, l, account, credits.HistoryQuery{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	loc := newYork()
	sub := credits.Subscription{ID: "round trip ✓", Anchor: time.Date(2025, 12, 31, 23, 30, 0, 0, loc), Location: loc,
		Plan: credits.Plan{Name: "carry ✓", Credits: 10*credits.Credit + 1, Interval: credits.Monthly, Priority: 3,
			Rollover: credits.RolloverPolicy{Mode: credits.RollOverCarry, Max: 4 * credits.Credit, Min: credits.Credit, CarryPriority: -2, CarryPeriods: 2}}}
	sub, err = sub.Cancel(time.Date(2026, 2, 15, 0, 0, 0, 0, loc))
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := l.Renew(ctx, account, sub)
	if err != nil {
		broke(t, ruleRenewOnce, "Renew: %v", err)
	}
	after, err := history(ctx, t, l, account, credits.HistoryQuery{After: int64(len(before))}, 3)
	if err != nil {
		t.Fatal(err)
	}
	var written, carries []credits.Entry
	for _, e := range after {
		if e.Kind == credits.KindExpire {
			continue
		}
		written = append(written, e)
		if e.Kind == credits.KindRollover && e.Lot != 0 {
			carries = append(carries, e)
		}
	}
	if diff := cmp.Diff(renewed, written, entryCmp...); diff != "" {
		broke(t, ruleReadBack, "the grants and rollovers of a renewal (-returned +history):\n%s", diff)
	}
	if n := len(renewed); len(carries) != 2 || n == 0 || renewed[n-1].Kind != credits.KindRollover || renewed[n-1].Key == "" {
		broke(t, ruleRenewShape, "a renewal of two ended periods under a carry wrote:\n%swant two carries, the last one keyed", describe(renewed))
	}
	for _, e := range after {
		got, err := l.Entry(ctx, account, e.ID)
		if err != nil {
			broke(t, ruleReadBack, "Entry(%d): %v", e.ID, err)
		}
		if diff := cmp.Diff(e, got, entryCmp...); diff != "" {
			broke(t, ruleReadBack, "entry %d (%s): (-history +entry):\n%s", e.ID, e.Kind, diff)
		}
		for _, tm := range []time.Time{got.Time, got.ExpiresAt, got.Period} {
			if !tm.IsZero() && (tm.Location() != time.UTC || !tm.Equal(tm.Truncate(time.Microsecond))) {
				broke(t, ruleUTC, "entry %d (%s) reads back a time in %s: %s", e.ID, e.Kind, tm.Location(), tm)
			}
		}
	}
	checkHistory(t, account, append(before, after...), 0)
}

// testContext checks that a cancelled context fails every call and
// changes nothing.
func testContext(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	const account = "context ⌛"
	if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]func() error{
		"Grant": func() error {
			_, err := l.Grant(cancelled, account, credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp})
			return err
		},
		"Charge": func() error {
			_, err := l.Charge(cancelled, account, credits.ChargeRequest{Key: "c", Amount: credits.Credit})
			return err
		},
		"Hold": func() error {
			_, err := l.Hold(cancelled, account, credits.HoldRequest{Key: "h", Amount: credits.Credit})
			return err
		},
		"Refund": func() error {
			_, err := l.Refund(cancelled, account, credits.RefundRequest{Key: "r", Entry: 1})
			return err
		},
		"ClaimFreeTier": func() error { _, err := l.ClaimFreeTier(cancelled, account, "ctx"); return err },
		"Balance":       func() error { _, err := l.Balance(cancelled, account); return err },
		"History":       func() error { _, err := l.History(cancelled, account, credits.HistoryQuery{}); return err },
		"Entry":         func() error { _, err := l.Entry(cancelled, account, 1); return err },
		"Sweep":         func() error { _, err := l.Sweep(cancelled, account); return err },
		"Renew": func() error {
			_, err := l.Renew(cancelled, account, credits.Subscription{ID: "ctx", Anchor: start.Add(-time.Hour), Plan: credits.Plan{Name: "ctx", Credits: credits.Credit, Interval: credits.Monthly}})
			return err
		},
		"Statement": func() error {
			_, err := l.Statement(cancelled, account, credits.Period{Start: start.Add(-time.Hour), End: start.Add(time.Hour)})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			broke(t, ruleCancelled, "%s with a cancelled context: got %v, want an error matching context.Canceled", name, err)
		}
	}
	hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 10)
	if err != nil || len(hist) != 1 {
		broke(t, ruleCancelled, "after calls with a cancelled context the history has %d entries (%v), want 1", len(hist), err)
	}
	if _, err := l.ClaimFreeTier(ctx, "context other", "ctx"); err != nil {
		broke(t, ruleCancelled, "a claim key tried with a cancelled context is taken: %v", err)
	}
}
