package credits_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
)

// BenchmarkLots measures Balance and a Charge on a memory ledger whose
// account has 1, 100 or 10,000 lots' worth of credits in: grants of
// distinct expiries (so many lots: benchkit.Lots, which the durable
// backends run too), or refunds of one charge (one lot each before
// refunds merged, one in all since). state-bytes is the size of the
// account's stored state, what a durable backend rewrites on every write.
func BenchmarkLots(b *testing.B) {
	b.Run("expiries", func(b *testing.B) { benchkit.Lots(b, credits.NewMemoryBackend()) })
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, n := range benchkit.LotCounts {
		mem := credits.NewMemoryBackend()
		l := credits.NewLedger(mem, credits.Options{Now: func() time.Time { return t0 }})
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 1000000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			b.Fatal(err)
		}
		c, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: 100000 * credits.Credit})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if _, err := l.Refund(ctx, "a", credits.RefundRequest{Key: fmt.Sprint("r", i), Entry: c.ID, Amount: credits.Credit}); err != nil {
				b.Fatal(err)
			}
		}
		s, err := mem.Load(ctx, "a")
		if err != nil {
			b.Fatal(err)
		}
		state, _ := s.MarshalBinary()
		benchkit.BalanceAndCharge(b, l, "a", fmt.Sprintf("refunds=%d", n), len(state))
	}
}
