package sqliteledger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/sqliteledger"
)

// BenchmarkSQLiteVerify measures VerifyAll of a ledger file of 100,000
// entries (100 accounts of 1,000, as BenchmarkSQLiteBackup's) against
// reading the same histories in the same run (benchkit.Verify).
// BENCHMARKS.md, "Verify", has the figures and the command. The ledger is
// built first, each -count (about 15 s).
func BenchmarkSQLiteVerify(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "ledger.db")
	if err := buildLedger(path, 100, 1000); err != nil {
		b.Fatal(err)
	}
	be, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	benchkit.Verify(b, be, 100_000)
}
