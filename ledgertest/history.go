package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

func testHistory(t *testing.T, b credits.Backend) {
	t.Run("pages while writing", func(t *testing.T) { pagesWhileWriting(t, b) })
	t.Run("filters", func(t *testing.T) { filters(t, b) })
	t.Run("keys", func(t *testing.T) { keys(t, b) })
	t.Run("unknown", func(t *testing.T) { unknown(t, b) })
}

// pagesWhileWriting follows History's cursor with small pages while four
// goroutines keep appending: every pass sees entries 1..n, each once, in
// order, and n never shrinks; the last pass, after the writes, sees all.
func pagesWhileWriting(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	const account, writers, writes = "pages ¶", 4, 40
	seed, err := l.Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: 1000 * credits.Credit, Source: credits.SourceTopUp})
	if err != nil {
		t.Fatal(err)
	}
	// The state stored with the first entry is that entry's fold.
	want, err := credits.Rebuild([]credits.Entry{seed})
	if err != nil {
		broke(t, ruleRebuild, "account %q: %v", account, err)
	}
	if stored, err := b.Load(ctx, account); err != nil || !want.Equal(stored) {
		broke(t, ruleRebuild, "account %q: after its first entry, Load gives %v (%v), not Rebuild of that entry", account, stored, err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprintf("w%d-%d", w, i), Amount: credits.Credit}); err != nil {
					brokeOn(t, ruleOutcome, "charge: %v", err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	seen := 0
	for pass, finished := 0, false; !finished; pass++ {
		select {
		case <-done:
			finished = true
		default:
		}
		limit := 1 + pass%4
		all, err := history(ctx, t, l, account, credits.HistoryQuery{}, limit)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		for i, e := range all {
			if e.ID != int64(i)+1 {
				broke(t, rulePages, "pass %d with pages of %d: entry %d at position %d (an entry skipped or repeated)", pass, limit, e.ID, i+1)
			}
		}
		if len(all) < seen {
			broke(t, rulePages, "pass %d saw %d entries, an earlier pass %d", pass, len(all), seen)
		}
		seen = len(all)
	}
	if t.Failed() {
		return
	}
	if want := 1 + writers*writes; seen != want {
		broke(t, rulePages, "after the writes, following the cursor visits %d entries, want %d", seen, want)
	}
}

// filters checks History's kind and time filters against the whole
// history filtered here, with pages of 1 and 2.
func filters(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	clock := NewClock(start)
	l := newLedger(b, clock, nil)
	const account = "filters ƒ"
	must := func(e credits.Entry, err error) credits.Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	t0 := l.Now()
	must(l.Grant(ctx, account, credits.GrantRequest{Key: "g1", Amount: 50 * credits.Credit, Source: credits.SourceTopUp}))
	c1 := must(l.Charge(ctx, account, credits.ChargeRequest{Key: "c1", Action: credits.ChatMessage}))
	h1 := must(l.Hold(ctx, account, credits.HoldRequest{Key: "h1", Amount: 5 * credits.Credit}))
	clock.Advance(time.Hour)
	t1 := l.Now()
	must(l.Capture(ctx, account, credits.CaptureRequest{Key: "cap1", Hold: h1.ID, Amount: 2 * credits.Credit}))
	must(l.Refund(ctx, account, credits.RefundRequest{Key: "r1", Entry: c1.ID}))
	must(l.Charge(ctx, account, credits.ChargeRequest{Key: "c2", Amount: credits.Credit / 3}))
	clock.Advance(time.Hour + time.Microsecond)
	t2 := l.Now()
	h2 := must(l.Hold(ctx, account, credits.HoldRequest{Key: "h2", Amount: credits.Credit, Spender: "key ƒ"}))
	must(l.Release(ctx, account, credits.ReleaseRequest{Key: "rel2", Hold: h2.ID}))
	must(l.Grant(ctx, account, credits.GrantRequest{Key: "g2", Amount: credits.Credit, Source: credits.SourceAdjustment}))
	sc := must(l.Charge(ctx, account, credits.ChargeRequest{Key: "c3", Amount: credits.Credit, Spender: "key ƒ"}))
	must(l.Charge(ctx, account, credits.ChargeRequest{Key: "c4", Amount: credits.Credit, Spender: "agent"}))
	must(l.Refund(ctx, account, credits.RefundRequest{Key: "r3", Entry: sc.ID}))
	must(l.SetBudget(ctx, account, credits.BudgetRequest{Key: "b", Spender: "key ƒ", Cap: credits.Credit, Window: credits.Day(nil)}))

	all, err := history(ctx, t, l, account, credits.HistoryQuery{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	queries := []credits.HistoryQuery{
		{Kinds: []credits.Kind{credits.KindCharge}},
		{Kinds: []credits.Kind{credits.KindGrant, credits.KindRefund}},
		{Kinds: []credits.Kind{credits.KindHold, credits.KindCapture, credits.KindRelease}},
		{Kinds: []credits.Kind{credits.KindExpire}},
		{Since: t1},
		{Until: t1},
		{Since: t1, Until: t2},
		{Since: t0, Until: t0.Add(time.Microsecond)},
		{Since: t1, Kinds: []credits.Kind{credits.KindCharge, credits.KindRelease}},
		{Since: t2.Add(time.Microsecond)},
		{After: 3, Kinds: []credits.Kind{credits.KindGrant, credits.KindCharge}},
		// Bounds finer than the microsecond entries are stamped to: an
		// entry at t1 is not at or after t1+1ns, and is before t1+1ns.
		{Since: t1.Add(time.Nanosecond)},
		{Since: t1.Add(-time.Nanosecond)},
		{Until: t1.Add(time.Nanosecond)},
		{Until: t1.Add(-time.Nanosecond)},
		{Since: t0.Add(999 * time.Nanosecond), Until: t2.Add(1)},
		{Since: t1.In(time.FixedZone("UTC-5", -5*3600)), Until: t2.In(time.FixedZone("UTC+9", 9*3600))},
		// Bounds beyond either end of the history, bounds that cross,
		// and bounds with a cursor past where they begin: a backend that
		// takes the time range as a range of IDs (entry times never go
		// back) must find each end exactly.
		{Since: t2.Add(24 * time.Hour)},
		{Until: t0.Add(-time.Hour)},
		{Since: t0.Add(-time.Hour), Until: t2.Add(24 * time.Hour)},
		{Since: t2, Until: t1},
		{Since: t1, After: 7},
		{Since: t1, Until: t2, After: 2},
		{Until: t2, Kinds: []credits.Kind{credits.KindGrant}},
		// One spender's entries: its holds and their release, charges,
		// refunds of them, its budget.
		{Spender: "key ƒ"},
		{Spender: "agent"},
		{Spender: "nobody"},
		{Spender: "key ƒ", Kinds: []credits.Kind{credits.KindCharge, credits.KindRefund}},
		{Spender: "key ƒ", Since: t2, After: 2},
	}
	for _, q := range queries {
		var want []credits.Entry
		for _, e := range all {
			if e.ID > q.After && (len(q.Kinds) == 0 || slices.Contains(q.Kinds, e.Kind)) && (q.Spender == "" || e.Spender == q.Spender) &&
				(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until)) {
				want = append(want, e)
			}
		}
		for _, size := range []int{1, 2} {
			got, err := history(ctx, t, l, account, q, size)
			if err != nil {
				broke(t, ruleFilters, "History(%+v): %v", q, err)
			}
			if diff := cmp.Diff(want, got, entryCmp...); diff != "" {
				broke(t, ruleFilters, "History(kinds %v, since %s, until %s, spender %q, after %d) in pages of %d (-want +got):\n%s",
					q.Kinds, q.Since, q.Until, q.Spender, q.After, size, diff)
			}
		}
	}

	// Entry by ID is the same entry.
	for _, e := range all {
		got, err := l.Entry(ctx, account, e.ID)
		if err != nil {
			broke(t, ruleReadBack, "Entry(%q, %d): %v", account, e.ID, err)
		}
		if diff := cmp.Diff(e, got, entryCmp...); diff != "" {
			broke(t, ruleReadBack, "Entry(%q, %d) differs from History (-history +entry):\n%s", account, e.ID, diff)
		}
	}
	for _, id := range []int64{0, -1, int64(len(all)) + 1, 1 << 40} {
		if _, err := l.Entry(ctx, account, id); !errors.Is(err, credits.ErrEntryNotFound) {
			broke(t, ruleUnknown, "Entry(%q, %d) of %d entries: got %v, want ErrEntryNotFound", account, id, len(all), err)
		}
	}
	// A cursor at or past the end is an empty last page.
	for _, after := range []int64{int64(len(all)), int64(len(all)) + 5} {
		p, err := l.History(ctx, account, credits.HistoryQuery{After: after})
		if err != nil || len(p.Entries) != 0 || p.Next != 0 {
			broke(t, rulePages, "History after %d of %d entries: %d entries, next %d, error %v; want an empty last page", after, len(all), len(p.Entries), p.Next, err)
		}
	}
	p, err := l.History(ctx, account, credits.HistoryQuery{After: int64(len(all)) - 1, Limit: 1})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].ID != int64(len(all)) || p.Next != 0 {
		broke(t, rulePages, "the last page of one entry: %+v, %v", p, err)
	}
}

// keys checks EntryByKey, in the ledger and in the backend: the entry
// stored under a key is the account's own, whatever other accounts store
// under the same key, and a key nobody used is ErrEntryNotFound.
func keys(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	accounts := []string{"keys A", "keys B ✓"}
	var made []credits.Entry
	for i, account := range accounts {
		for j, key := range []string{"shared key", "own key " + account} {
			e, err := l.Grant(ctx, account, credits.GrantRequest{Key: key, Amount: credits.Credits(10*i+j+1) * credits.Credit, Source: credits.SourceTopUp})
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, e)
		}
	}
	claimed, err := l.ClaimFreeTier(ctx, accounts[0], "keys@example.com")
	if err != nil {
		t.Fatal(err)
	}
	made = append(made, claimed)
	for _, e := range made {
		got, err := l.EntryByKey(ctx, e.Account, e.Key)
		if err != nil || !cmp.Equal(e, got, entryCmp...) {
			broke(t, ruleEntryByKey, "EntryByKey(%q, %q) = %+v, %v; want entry %d of that account", e.Account, e.Key, got, err, e.ID)
		}
		raw, err := b.EntryByKey(ctx, e.Account, e.Key)
		if err != nil || !cmp.Equal(e, raw, entryCmp...) {
			broke(t, ruleEntryByKey, "backend EntryByKey(%q, %q) = %+v, %v; want entry %d of that account", e.Account, e.Key, raw, err, e.ID)
		}
	}
	for _, q := range [][2]string{{accounts[1], "own key " + accounts[0]}, {accounts[0], "never used"}, {"keys nobody", "shared key"}, {accounts[1], "$free_tier"}} {
		if e, err := b.EntryByKey(ctx, q[0], q[1]); !errors.Is(err, credits.ErrEntryNotFound) {
			broke(t, ruleEntryByKey, "backend EntryByKey(%q, %q) = entry %d of %q, %v; want ErrEntryNotFound", q[0], q[1], e.ID, e.Account, err)
		}
		if _, err := l.EntryByKey(ctx, q[0], q[1]); q[1][0] != '$' && !errors.Is(err, credits.ErrEntryNotFound) {
			broke(t, ruleEntryByKey, "EntryByKey(%q, %q): got %v, want ErrEntryNotFound", q[0], q[1], err)
		}
	}
}

// unknown checks every read of an account that has no entries, and of
// one that only ever had failed operations.
func unknown(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	l := newLedger(b, NewClock(start), nil)
	// A failed charge must not make the account exist.
	if _, err := l.Charge(ctx, "failed only", credits.ChargeRequest{Key: "c", Amount: credits.Credit}); !errors.Is(err, credits.ErrInsufficientCredits) {
		broke(t, ruleOutcome, "a charge on an account with no credits: got %v, want ErrInsufficientCredits", err)
	}
	if _, err := l.Release(ctx, "failed only", credits.ReleaseRequest{Key: "r", Hold: 1}); !errors.Is(err, credits.ErrHoldNotFound) {
		broke(t, ruleOutcome, "a release on an account with no entries: got %v, want ErrHoldNotFound", err)
	}
	for _, account := range []string{"nobody", "failed only", "Ñoño 🫥"} {
		p, err := l.History(ctx, account, credits.HistoryQuery{})
		checkEmptyAccount(ctx, t, l, b, account, p.Entries, err)
		if es, err := l.Sweep(ctx, account); err != nil || len(es) != 0 {
			broke(t, ruleUnknown, "Sweep(%q): %d entries, %v; want none and no error", account, len(es), err)
		}
		if _, err := l.Entry(ctx, account, 1); !errors.Is(err, credits.ErrEntryNotFound) {
			broke(t, ruleUnknown, "Entry(%q, 1): got %v, want ErrEntryNotFound", account, err)
		}
		if es, err := b.Entries(ctx, account, credits.HistoryQuery{Limit: 10}); err != nil || len(es) != 0 {
			broke(t, ruleUnknown, "backend Entries(%q): %d entries, error %v; want none and no error", account, len(es), err)
		}
	}
}

// checkEmptyAccount checks the reads of an account with no entries, given
// what History returned for it: an empty history, a zero balance, a
// statement of zeros, and the zero state in the backend.
func checkEmptyAccount(ctx context.Context, t failer, l *credits.Ledger, b credits.Backend, account string, hist []credits.Entry, histErr error) {
	t.Helper()
	if histErr != nil || len(hist) != 0 {
		broke(t, ruleUnknown, "History(%q) of an account with no entries: %d entries, error %v; want none", account, len(hist), histErr)
	}
	if bal, err := l.Balance(ctx, account); err != nil || bal.Total != 0 || bal.Held != 0 || bal.Available != 0 || bal.Version != 0 {
		broke(t, ruleUnknown, "Balance(%q) of an account with no entries: %+v, %v; want zero", account, bal, err)
	}
	p := credits.Period{Start: start.Add(-time.Hour), End: start.Add(24 * time.Hour)}
	if st, err := l.Statement(ctx, account, p); err != nil || st.Opening != 0 || st.Closing != 0 || st.First != 0 || len(st.Granted)+len(st.Spent) != 0 {
		broke(t, ruleUnknown, "Statement(%q) of an account with no entries: %+v, %v; want zeros", account, st, err)
	}
	if s, err := b.Load(ctx, account); err != nil || s == nil || s.Version() != 0 || !s.Equal(new(credits.AccountState)) {
		broke(t, ruleUnknown, "backend Load(%q) of an account with no entries: %v, %v; want the zero state", account, s, err)
	}
}
