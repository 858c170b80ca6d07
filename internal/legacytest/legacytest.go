// Package legacytest makes a ledger as releases before v0.1.0 stored it,
// for the SQL backends' migration tests: the ledger's own data in entry
// metadata ("claim", "account", "subscription", "plan", "carried"), no
// period ends, and account states in format 1. A backend's test writes
// these rows into a database at its first schema version, migrates, and
// checks that the ledger reads and goes on from them.
package legacytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Account is one account of the legacy ledger.
type Account struct {
	Name    string
	Entries []credits.Entry // as the old release stored them
	State   []byte          // the old release's stored state
	Want    []credits.Entry // the entries as the migrated ledger must read them
}

// Start is the legacy ledger's clock when it was made; it was last
// written at After.
var (
	Start = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	After = Start.AddDate(0, 1, 1)
)

// Claim is the free-tier claim key alice took.
const Claim = "alice@example.com"

// Sub is alice's subscription: 100 credits a month, leftovers up to 40
// carried into a lot of their own.
var Sub = credits.Subscription{ID: "alice-pro", Anchor: Start,
	Plan: credits.Plan{Name: "Pro", Credits: 100 * credits.Credit, Interval: credits.Monthly,
		Rollover: credits.RolloverPolicy{Mode: credits.RollOverCarry, Max: 40 * credits.Credit}}}

// Ledger returns the accounts of a ledger in which alice claimed her free
// tier under Claim, subscribed to Sub on Start, spent 70.5 credits and
// renewed at After (a carry of 40, the rest expired, February granted).
func Ledger() ([]Account, error) {
	ctx := context.Background()
	now := Start
	m := credits.NewMemoryBackend()
	l := credits.NewLedger(m, credits.Options{Now: func() time.Time { return now }})
	if _, err := l.ClaimFreeTier(ctx, "alice", Claim); err != nil {
		return nil, err
	}
	if _, err := l.Renew(ctx, "alice", Sub); err != nil {
		return nil, err
	}
	if _, err := l.Charge(ctx, "alice", credits.ChargeRequest{Key: "spend", Amount: credits.MustParse("70.5"), Metadata: map[string]string{"job": "j1"}}); err != nil {
		return nil, err
	}
	now = After
	if _, err := l.Renew(ctx, "alice", Sub); err != nil {
		return nil, err
	}
	var out []Account
	for _, name := range []string{"alice", "$claim:" + Claim} {
		want, err := m.Entries(ctx, name, credits.HistoryQuery{Limit: 1000})
		if err != nil {
			return nil, err
		}
		a := Account{Name: name}
		for _, e := range want {
			e.Hash = credits.Hash{} // the old release had no chain
			a.Entries = append(a.Entries, legacy(e))
			e.PeriodEnd = time.Time{} // the old release did not record it
			a.Want = append(a.Want, e)
		}
		if a.State, err = legacyState(a.Entries); err != nil {
			return nil, fmt.Errorf("legacytest: %s: %w", name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// legacy returns e as the old release stored it.
func legacy(e credits.Entry) credits.Entry {
	md := map[string]string{}
	for k, v := range e.Metadata {
		md[k] = v
	}
	switch {
	case e.Kind == credits.KindClaim:
		md["account"] = e.Claim
	case e.Claim != "":
		md["claim"] = e.Claim
	}
	if e.Subscription != "" {
		md["subscription"] = e.Subscription
	}
	if e.Plan != "" {
		md["plan"] = e.Plan
	}
	if e.Carried != 0 {
		md["carried"] = e.Carried.String()
	}
	if len(md) == 0 {
		md = nil
	}
	e.Metadata = md
	e.Claim, e.Subscription, e.Plan, e.Carried, e.PeriodEnd = "", "", "", 0, time.Time{}
	return e
}

// legacyState is the state the old release stored for entries: format 1,
// without what later formats added.
func legacyState(entries []credits.Entry) ([]byte, error) {
	s, err := credits.Rebuild(entries)
	if err != nil {
		return nil, err
	}
	b, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	j["format"] = 1
	delete(j, "subscriptions")
	delete(j, "claimed_by")
	return json.Marshal(j)
}

// Check checks a ledger on backend b, migrated from the accounts of
// Ledger: its entries read back as Want; the claim key is still alice's;
// alice's claim and her subscription's renewals go on from where they
// were (nothing granted twice); and the state the backend stores after
// alice's writes is the fold of her history. (The claim record, which no
// write touched, keeps its format-1 state until one does.)
func Check(t testing.TB, b credits.Backend, accounts []Account) {
	t.Helper()
	ctx := context.Background()
	for _, a := range accounts {
		got, err := b.Entries(ctx, a.Name, credits.HistoryQuery{Limit: 1000})
		if err != nil {
			t.Fatalf("Entries(%q): %v", a.Name, err)
		}
		if diff := cmp.Diff(a.Want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("account %q after the migration (-want +got):\n%s", a.Name, diff)
		}
	}
	now := After.Add(time.Hour)
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return now }})
	if _, err := l.ClaimFreeTier(ctx, "bob", Claim); !errors.Is(err, credits.ErrAlreadyClaimed) {
		t.Errorf("bob claiming alice's claim key after the migration: %v, want ErrAlreadyClaimed", err)
	}
	if e, err := l.ClaimFreeTier(ctx, "alice", Claim); err != nil || e.ID != 1 || e.Claim != Claim {
		t.Errorf("alice's claim again after the migration: %+v, %v; want her first grant", e, err)
	}
	if es, err := l.Renew(ctx, "alice", Sub); err != nil || len(es) != 0 {
		t.Errorf("Renew of the up-to-date subscription after the migration: %v, %v", es, err)
	}
	// 30 free, 100 a month of which 40 carry: 19.5 free + 40 carried +
	// February's 100.
	if bal, err := l.Balance(ctx, "alice"); err != nil || bal.Total != credits.MustParse("159.5") {
		t.Errorf("alice's balance after the migration: %+v, %v; want 159.5", bal, err)
	}
	now = After.AddDate(0, 1, 0)
	es, err := l.Renew(ctx, "alice", Sub)
	if err != nil || len(es) < 2 || es[0].Kind != credits.KindRollover || es[0].Carried != 40*credits.Credit {
		t.Fatalf("Renew of the next period after the migration: %+v, %v; want its rollover and grants", es, err)
	}
	var granted credits.Credits
	for _, e := range es[1:] {
		if e.Kind != credits.KindGrant || e.Subscription != Sub.ID || e.Plan != Sub.Plan.Name || e.PeriodEnd.IsZero() {
			t.Errorf("March's grant after the migration: %+v", e)
		}
		granted += e.Amount
	}
	if bal, err := l.Balance(ctx, "alice"); err != nil || granted != 100*credits.Credit || bal.Total != credits.MustParse("199.5") {
		t.Errorf("after March's renewal: granted %s, balance %+v, %v; want 100 and 199.5", granted, bal, err)
	}
	for _, a := range accounts[:1] {
		hist, err := b.Entries(ctx, a.Name, credits.HistoryQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := credits.Rebuild(hist)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := b.Load(ctx, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !rebuilt.Equal(stored) {
			t.Errorf("account %q: the stored state differs from its rebuilt history after a write", a.Name)
		}
	}
}
