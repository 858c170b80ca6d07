package sqliteledger_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/sqliteledger"
)

// BenchmarkHistoryPage reads a page of 100 entries of one account of 10,
// 10,000 and 100,000 entries on a SQLite file (see benchkit.HistoryPage):
// the largest should cost at most twice the smallest.
func BenchmarkHistoryPage(b *testing.B) {
	ctx := context.Background()
	be, err := sqliteledger.Open(ctx, filepath.Join(b.TempDir(), "history.db"), sqliteledger.Options{Synchronous: sqliteledger.SynchronousNormal})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	l := credits.NewLedger(be, credits.Options{})
	for _, n := range benchkit.HistorySizes {
		account := fmt.Sprintf("acct-%d", n)
		benchkit.HistoryPage(b, l, account, n, benchkit.BuildHistory(b, be, account, n))
	}
}
