package pgledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
)

// BenchmarkHistoryPage reads a page of 100 entries of one account of 10,
// 10,000 and 100,000 entries on PostgreSQL (see benchkit.HistoryPage),
// after ANALYZE, with pgx's default statement cache (so the server may
// switch to the generic plan of each query): the largest should cost at
// most twice the smallest.
func BenchmarkHistoryPage(b *testing.B) {
	ctx := context.Background()
	be, pool := newBackend(b)
	l := credits.NewLedger(be, credits.Options{})
	mids := make([]time.Time, len(benchkit.HistorySizes))
	for i, n := range benchkit.HistorySizes {
		mids[i] = benchkit.BuildHistory(b, be, fmt.Sprintf("acct-%d", n), n)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+be.Schema()+".entries"); err != nil {
		b.Fatal(err)
	}
	for i, n := range benchkit.HistorySizes {
		benchkit.HistoryPage(b, l, fmt.Sprintf("acct-%d", n), n, mids[i])
	}
}
