package credits

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A refused request on a name that has no entries leaves no record of it
// in the memory backend: a million refused charges on random names must
// not grow the heap.
func TestMemoryBackendKeepsNoRecordOfRefusedRequests(t *testing.T) {
	m := NewMemoryBackend()
	l := NewLedger(m, Options{})
	ctx := context.Background()
	for i := range 1000 {
		account := fmt.Sprint("nobody-", i)
		if _, err := l.Charge(ctx, account, ChargeRequest{Key: "k", Amount: Credit}); !errors.Is(err, ErrInsufficientCredits) {
			t.Fatalf("charge: %v", err)
		}
		if _, err := l.Release(ctx, account, ReleaseRequest{Key: "k", Hold: 3}); !errors.Is(err, ErrHoldNotFound) {
			t.Fatalf("release: %v", err)
		}
		if _, err := l.Renew(ctx, account, Subscription{ID: "s", Anchor: l.Now().AddDate(1, 0, 0), Plan: Plan{Name: "p", Interval: Monthly}}); err != nil {
			t.Fatalf("renew of a subscription that has not started: %v", err)
		}
	}
	if _, err := l.Grant(ctx, "somebody", GrantRequest{Key: "g", Amount: Credit, Source: SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range m.shards {
		n += len(m.shards[i].accounts)
	}
	if n != 1 {
		t.Fatalf("the backend keeps %d account records, want 1 (the account with an entry)", n)
	}
}

// A decision whose entries would not continue the account's history is
// refused by the ledger before any backend stores it.
func TestLedgerRefusesMisshapenDecisions(t *testing.T) {
	ctx := context.Background()
	for name, decide := range map[string]Decision{
		"other account": func(s *AccountState, _ *Entry) ([]Entry, error) {
			return []Entry{{Account: "b", ID: s.Version() + 1, Kind: KindClaim}}, nil
		},
		"ID gap": func(s *AccountState, _ *Entry) ([]Entry, error) {
			return []Entry{{Account: "a", ID: s.Version() + 2, Kind: KindClaim}}, nil
		},
		"state left behind": func(s *AccountState, _ *Entry) ([]Entry, error) {
			return []Entry{{Account: "a", ID: s.Version() + 1, Kind: KindClaim}}, nil
		},
		"state moved without entries": func(s *AccountState, _ *Entry) ([]Entry, error) {
			return nil, nil
		},
	} {
		m := NewMemoryBackend()
		l := NewLedger(m, Options{})
		if _, err := l.Grant(ctx, "a", GrantRequest{Key: "g", Amount: Credit, Source: SourceTopUp}); err != nil {
			t.Fatal(err)
		}
		wrapped := decide
		if name != "state left behind" {
			// Leave the state where the entries say it should be, so that
			// only their shape is wrong.
			wrapped = func(s *AccountState, e *Entry) ([]Entry, error) {
				es, err := decide(s, e)
				if len(es) > 0 {
					s.lastID = es[len(es)-1].ID
				} else {
					s.lastID++
				}
				return es, err
			}
		}
		if err := l.update(ctx, OpGrant, "a", "", wrapped); err == nil {
			t.Errorf("%s: stored", name)
		}
		if es, _ := m.Entries(ctx, "a", HistoryQuery{Limit: 10}); len(es) != 1 {
			t.Errorf("%s: the account has %d entries after the refused decision, want 1", name, len(es))
		}
	}
}
