package credits_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// tampered is a memory backend whose stored data someone changed behind
// the ledger's back: entries rewrites an account's whole history as it is
// read, state its stored state.
type tampered struct {
	*credits.MemoryBackend
	entries func([]credits.Entry) []credits.Entry
	state   func(*credits.AccountState) *credits.AccountState
}

func (b *tampered) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	all, err := b.MemoryBackend.Entries(ctx, account, credits.HistoryQuery{Limit: 1000})
	if err != nil || b.entries == nil || account != "a" {
		return b.MemoryBackend.Entries(ctx, account, q)
	}
	all = b.entries(all)
	var out []credits.Entry
	for _, e := range all {
		if e.ID > q.After && q.Match(&e) && len(out) < q.Limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *tampered) Load(ctx context.Context, account string) (*credits.AccountState, error) {
	s, err := b.MemoryBackend.Load(ctx, account)
	if err != nil || b.state == nil || account != "a" {
		return s, err
	}
	return b.state(s), nil
}

// verifyLedger is a ledger with a varied history on account "a" (grants,
// a subscription, charges, a hold captured, a refund, a notice) and a
// free-tier claim record.
func verifyLedger(t *testing.T) (*credits.Ledger, *tampered) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	b := &tampered{MemoryBackend: credits.NewMemoryBackend()}
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return now }, LowBalance: func(string) credits.Credits { return 5 * credits.Credit }})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.ClaimFreeTier(ctx, "a", "a@example.com"))
	must(l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 20 * credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"invoice": "F-1"}}))
	sub := credits.Subscription{ID: "pro", Anchor: now, Plan: credits.Plan{Name: "Pro", Credits: 10 * credits.Credit, Interval: credits.Monthly}}
	must(l.Renew(ctx, "a", sub))
	c, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c1", Amount: 7 * credits.Credit})
	must(c, err)
	h, err := l.Hold(ctx, "a", credits.HoldRequest{Key: "h", Amount: 5 * credits.Credit})
	must(h, err)
	must(l.Capture(ctx, "a", credits.CaptureRequest{Key: "cap", Hold: h.ID, Amount: 4 * credits.Credit}))
	must(l.Refund(ctx, "a", credits.RefundRequest{Key: "r", Entry: c.ID, Amount: 2 * credits.Credit}))
	now = now.AddDate(0, 1, 0)
	must(l.Renew(ctx, "a", sub))
	must(l.Charge(ctx, "a", credits.ChargeRequest{Key: "c2", Amount: 57 * credits.Credit}))
	return l, b
}

func TestVerifySound(t *testing.T) {
	l, _ := verifyLedger(t)
	ctx := context.Background()
	c, err := l.Verify(ctx, "a")
	if err != nil || c.Err() != nil {
		t.Fatalf("Verify of a sound account: %v, %v", err, c.Err())
	}
	page, err := l.History(ctx, "a", credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	hist := page.Entries
	if c.Entries != int64(len(hist)) || c.Chained != c.Entries || c.Head != hist[len(hist)-1].Hash || c.Head.IsZero() {
		t.Fatalf("Verify: %+v; want %d entries, all chained, head %s", c, len(hist), hist[len(hist)-1].Hash)
	}
	if !slices.ContainsFunc(hist, func(e credits.Entry) bool { return e.Kind == credits.KindNotice }) {
		t.Fatal("the fixture wrote no notice")
	}
	var seen []string
	r, err := l.VerifyAll(ctx, func(c credits.AccountCheck) { seen = append(seen, c.Account) })
	if err != nil || r.Err() != nil || r.Accounts != 2 || !slices.Equal(seen, []string{"$claim:a@example.com", "a"}) {
		t.Fatalf("VerifyAll: %+v, %v; progress saw %q", r, err, seen)
	}
	if r.Entries != c.Entries+1 {
		t.Fatalf("VerifyAll read %d entries, want %d", r.Entries, c.Entries+1)
	}
}

// TestVerifyFindsTampering changes a sound history, or its state, in every
// way the chain and the rebuild are there to catch, and checks that
// Verify reports each at the entry where it happened.
func TestVerifyFindsTampering(t *testing.T) {
	rehash := func(es []credits.Entry, from int) {
		prev := credits.Hash{}
		if from > 0 {
			prev = es[from-1].Hash
		}
		for i := from; i < len(es); i++ {
			es[i].Hash = credits.HashEntry(prev, &es[i])
			prev = es[i].Hash
		}
	}
	for _, tc := range []struct {
		name    string
		entries func([]credits.Entry) []credits.Entry
		state   func(*credits.AccountState) *credits.AccountState
		entry   int64  // the entry a problem must name (0: the state)
		reason  string // a word of its reason
	}{
		{name: "an amount changed", entry: 4, reason: "hash", entries: func(es []credits.Entry) []credits.Entry {
			es[3].Amount--
			return es
		}},
		{name: "metadata changed", entry: 2, reason: "hash", entries: func(es []credits.Entry) []credits.Entry {
			es[1].Metadata = map[string]string{"invoice": "F-2"}
			return es
		}},
		{name: "a changed entry rehashed", entry: 5, reason: "hash", entries: func(es []credits.Entry) []credits.Entry {
			es[3].Key = "other"
			es[3].Hash = credits.HashEntry(es[2].Hash, &es[3])
			return es
		}},
		{name: "an entry removed", entry: 5, reason: "missing", entries: func(es []credits.Entry) []credits.Entry {
			return slices.Delete(es, 3, 4)
		}},
		{name: "the last entry removed", entry: 0, reason: "version", entries: func(es []credits.Entry) []credits.Entry {
			return es[:len(es)-1]
		}},
		{name: "two entries swapped", entry: 4, reason: "order", entries: func(es []credits.Entry) []credits.Entry {
			es[3], es[4] = es[4], es[3]
			return es
		}},
		{name: "an entry inserted", entry: 3, reason: "order", entries: func(es []credits.Entry) []credits.Entry {
			return slices.Insert(es, 3, es[2])
		}},
		{name: "a hash removed", entry: 3, reason: "no hash", entries: func(es []credits.Entry) []credits.Entry {
			es[2].Hash = credits.Hash{}
			return es
		}},
		{name: "an entry of another account", entry: 2, reason: "account", entries: func(es []credits.Entry) []credits.Entry {
			es[1].Account = "b"
			return es
		}},
		{name: "the whole chain rewritten", entry: 0, reason: "chain tail", entries: func(es []credits.Entry) []credits.Entry {
			es[1].Amount += credits.Credit
			for i := 1; i < len(es); i++ {
				es[i].BalanceAfter += credits.Credit
			}
			rehash(es, 1)
			return es
		}},
		{name: "a balance after changed", entry: 6, reason: "balance", entries: func(es []credits.Entry) []credits.Entry {
			es[5].BalanceAfter++
			rehash(es, 5)
			return es
		}},
		{name: "the state's credits changed", entry: 0, reason: "balance", state: func(*credits.AccountState) *credits.AccountState {
			return otherState(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, b := verifyLedger(t)
			b.entries, b.state = tc.entries, tc.state
			c, err := l.Verify(context.Background(), "a")
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(c.Err(), credits.ErrCorrupt) {
				t.Fatalf("Verify found nothing: %+v", c)
			}
			found := false
			for _, p := range c.Problems {
				if p.Account != "a" {
					t.Errorf("a problem names account %q: %v", p.Account, p)
				}
				if p.Entry == tc.entry && strings.Contains(p.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem at entry %d saying %q; found:\n%v", tc.entry, tc.reason, c.Err())
			}
		})
	}
}

// otherState is the state of another account: one grant of a credit.
func otherState(t *testing.T) *credits.AccountState {
	t.Helper()
	b := credits.NewMemoryBackend()
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(context.Background(), "x", credits.GrantRequest{Key: "x", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	s, err := b.Load(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyChainAfterOldEntries: entries written before the chain (no
// hash) followed by chained ones, the first linked to the zero hash, are
// sound; an unhashed entry after a hashed one is not.
func TestVerifyChainAfterOldEntries(t *testing.T) {
	l, b := verifyLedger(t)
	b.entries = func(es []credits.Entry) []credits.Entry {
		for i := range 3 {
			es[i].Hash = credits.Hash{}
		}
		prev := credits.Hash{}
		for i := 3; i < len(es); i++ {
			es[i].Hash = credits.HashEntry(prev, &es[i])
			prev = es[i].Hash
		}
		return es
	}
	b.state = func(s *credits.AccountState) *credits.AccountState { return s }
	c, err := l.Verify(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// The chain head differs from the stored state's (which the ledger
	// wrote with the original hashes), and nothing else.
	if len(c.Problems) != 1 || c.Problems[0].Entry != 0 || !strings.Contains(c.Problems[0].Reason, "chain tail") {
		t.Fatalf("Verify of a history whose chain begins at entry 4: %v", c.Err())
	}
	if c.Chained != c.Entries-3 {
		t.Fatalf("Chained %d of %d, want all but 3", c.Chained, c.Entries)
	}
}
