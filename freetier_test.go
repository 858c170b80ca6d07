package credits_test

import (
	"testing"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

func TestFreeTier(t *testing.T) {
	f := newFixture(t, credits.Options{})
	e := f.must(f.l.ClaimFreeTier(f.ctx, "a", "ana@example.com"))
	if e.Amount != 30*credits.Credit || e.Source != credits.SourceFreeTier || e.Kind != credits.KindGrant {
		t.Fatalf("free tier entry %+v", e)
	}
	f.balance("a", 30*credits.Credit, 0)
	again := f.must(f.l.ClaimFreeTier(f.ctx, "a", "ana@example.com"))
	if diff := cmp.Diff(e, again); diff != "" {
		t.Fatalf("claim retried (-first +retry):\n%s", diff)
	}
	f.refused("a", credits.ErrAlreadyClaimed, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "a", "other@example.com") })
	f.refused("a", credits.ErrAlreadyClaimed, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "a", "") })
	f.refused("b", credits.ErrAlreadyClaimed, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "b", "ana@example.com") })
	f.refused("b", credits.ErrInvalidInput, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "b", "bad\x00claim") })
	f.must(f.l.ClaimFreeTier(f.ctx, "b", ""))
	f.refused("b", credits.ErrAlreadyClaimed, func() (credits.Entry, error) { return f.l.ClaimFreeTier(f.ctx, "b", "bob@example.com") })
	// The refused claim did not take the key.
	f.must(f.l.ClaimFreeTier(f.ctx, "c", "bob@example.com"))

	custom := newFixture(t, credits.Options{FreeTier: 5 * credits.Credit})
	custom.must(custom.l.ClaimFreeTier(custom.ctx, "a", ""))
	custom.balance("a", 5*credits.Credit, 0)
}
