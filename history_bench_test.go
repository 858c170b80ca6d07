package credits_test

import (
	"fmt"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
)

// BenchmarkHistoryPage reads a page of 100 entries of one account of 10,
// 10,000 and 100,000 entries on the memory backend (see
// benchkit.HistoryPage): the largest should cost at most twice the
// smallest.
func BenchmarkHistoryPage(b *testing.B) {
	be := credits.NewMemoryBackend()
	l := credits.NewLedger(be, credits.Options{})
	for _, n := range benchkit.HistorySizes {
		account := fmt.Sprintf("acct-%d", n)
		benchkit.HistoryPage(b, l, account, n, benchkit.BuildHistory(b, be, account, n))
	}
}
