package pgledger_test

import (
	"testing"

	"github.com/avstudio/credits/internal/benchkit"
)

// BenchmarkLots measures Balance and a Charge of an account of 1, 100 and
// 10,000 lots on PostgreSQL (see benchkit.Lots):
//
//	CREDITS_REQUIRE_POSTGRES=1 go test -run '^$' -bench BenchmarkLots -benchtime 200x -count 3 ./pgledger
func BenchmarkLots(b *testing.B) {
	be, _ := newBackend(b)
	benchkit.Lots(b, be)
}
