package credits

import (
	"testing"
	"time"
)

// The fingerprints are stored with every entry (Entry.RequestHash) and
// compared with the fingerprint of a retry: a change to what they hash, or
// how, makes every stored key conflict with its own retries. These values
// were computed before the hashing moved to internal/fnv; a change that
// breaks them needs a migration, not a new constant.

func pinEntries(at time.Time) []Entry {
	return []Entry{
		{},
		{Kind: KindCharge, Amount: -3 * Credit, Action: ChatMessage, Quantity: 1, PriceVersion: "v1"},
		{Kind: KindGrant, Amount: 30 * Credit, Source: SourceFreeTier, Priority: -1, ExpiresAt: at,
			Metadata: map[string]string{"claim": "bob@example.com", "note": "ünïcode ✓"}},
		{Kind: KindHold, Amount: 0, Held: 40 * Credit, Hold: 7, Lot: 3, Reverses: 2, Action: VideoGeneration,
			Resolution: Res4K, Quantity: 1 << 40, Period: at, ExpiresAt: at.Add(time.Hour)},
	}
}

type pinStep struct {
	id         string
	prev, next *subPeriod
}

func pinSteps(at time.Time) []pinStep {
	plan := &Plan{Name: "pro", Credits: 100 * Credit, Interval: Monthly, Priority: 1,
		Rollover: RolloverPolicy{Mode: RollOverCarry, Max: 50 * Credit, Min: Credit, CarryPriority: 2,
			CarryPeriods: 3, ExpireAfterPeriods: 4, ExpiresAt: at.AddDate(1, 0, 0)}}
	free := &Plan{Name: "free", Interval: Yearly}
	p1 := &subPeriod{Period: Period{Start: at, End: at.AddDate(0, 1, 0)}, plan: plan}
	p2 := &subPeriod{Period: Period{Start: at.AddDate(0, 1, 0), End: at.AddDate(0, 2, 0)}, plan: free}
	return []pinStep{
		{"sub-1", nil, p1},
		{"sub-1", p1, p2},
		{"", p2, nil},
	}
}

func TestFingerprintsPinned(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 30, 0, 5000, time.UTC)
	wantRequest := []uint64{0xde9fa0da6fc22a85, 0xecb8a3dda8c96f6c, 0x093f40a02575b72c, 0x42343c7b885dd95a}
	for i, e := range pinEntries(at) {
		if got := requestHash(&e); got != wantRequest[i] {
			t.Errorf("requestHash(entry %d) = %#x, want %#x", i, got, wantRequest[i])
		}
	}
	wantStep := []uint64{0x318bb4bfcc089146, 0x7d206f04ad42b0f3, 0x5fd0cca561aec164}
	for i, s := range pinSteps(at) {
		if got := stepHash(s.id, s.prev, s.next); got != wantStep[i] {
			t.Errorf("stepHash(step %d) = %#x, want %#x", i, got, wantStep[i])
		}
	}
	// Metadata counts in any order: the same map built the other way round.
	e := pinEntries(at)[2]
	e.Metadata = map[string]string{"note": "ünïcode ✓", "claim": "bob@example.com"}
	if got := requestHash(&e); got != wantRequest[2] {
		t.Errorf("requestHash depends on the order of Metadata: %#x", got)
	}
}

// The fields added with spenders, budgets and job runs are mixed in only
// when set (so the values above stay), each behind a tag of its own: these
// values pin how.
func TestFingerprintsOfNewFieldsPinned(t *testing.T) {
	lines := []EstimateLine{{Action: UploadVideo, Quantity: 2, UnitPrice: 5 * Credit, Subtotal: 10 * Credit}, {Action: Render, Quantity: 1, UnitPrice: 5 * Credit, Subtotal: 5 * Credit}}
	entries := []Entry{
		{Kind: KindCharge, Amount: -Credit, Spender: "key_live_7"},
		{Kind: KindHold, Held: 15 * Credit, Spender: "key_live_7", MultiCapture: true, Lines: lines, PriceVersion: "v1"},
		{Kind: KindBudget, Spender: "key_*", Cap: 50 * Credit, Window: WindowDay, Zone: "Europe/Paris"},
		{Kind: KindBudget, Spender: "", Cap: 0, Window: WindowBillingPeriod, Subscription: "sub-1"},
		{Kind: KindRelease, Failure: FailureProvider, Metadata: map[string]string{"why": "timeout"}},
	}
	want := []uint64{0x7769f801977ee4ae, 0xa1e7b593965188db, 0x5651578677343b32, 0x1eebcdb5be586d1, 0x60ccf9bd9b791776}
	for i, e := range entries {
		if got := requestHash(&e); got != want[i] {
			t.Errorf("requestHash(entry %d) = %#x, want %#x", i, got, want[i])
		}
	}
	// Each field counts: without it, another fingerprint.
	base := entries[0]
	base.Spender = ""
	if requestHash(&base) == requestHash(&entries[0]) {
		t.Error("the spender does not count")
	}
}
