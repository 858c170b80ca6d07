package sqliteledger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/sqliteledger"
)

// BenchmarkLots measures Balance and a Charge of an account of 1, 100 and
// 10,000 lots on a SQLite file, synchronous NORMAL (see benchkit.Lots):
//
//	go test -run '^$' -bench BenchmarkLots -benchtime 200x -count 3 ./sqliteledger
func BenchmarkLots(b *testing.B) {
	be, err := sqliteledger.Open(context.Background(), filepath.Join(b.TempDir(), "lots.db"), sqliteledger.Options{Synchronous: sqliteledger.SynchronousNormal})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	benchkit.Lots(b, be)
}
