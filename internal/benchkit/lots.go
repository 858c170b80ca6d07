package benchkit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// LotCounts are the numbers of lots the BenchmarkLots of every backend
// puts in an account.
var LotCounts = []int{1, 100, 10_000}

// Lots measures Balance and a Charge of one credit on backend, on an
// account holding each of LotCounts lots: grants of distinct expiries (an
// hour apart, so that no two merge), built on the memory backend and
// copied by CopyAccount. The clock stands still, so that no lot expires
// while it runs. state-bytes is the size of the account's stored state:
// what a durable backend rewrites on every write.
func Lots(b *testing.B, backend credits.Backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := credits.Options{Now: func() time.Time { return t0 }}
	for _, n := range LotCounts {
		account := "lots-" + strconv.Itoa(n)
		mem := credits.NewMemoryBackend()
		built := credits.NewLedger(mem, opts)
		var copied int64
		for i := range n {
			if _, err := built.Grant(ctx, account, credits.GrantRequest{Key: "g" + strconv.Itoa(i), Amount: 1000 * credits.Credit,
				Source: credits.SourceTopUp, ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)}); err != nil {
				b.Fatal(err)
			}
			if (i+1)%1000 == 0 {
				copied = CopyAccount(b, mem, backend, account, copied)
			}
		}
		CopyAccount(b, mem, backend, account, copied)
		state, err := backend.Load(ctx, account)
		if err != nil {
			b.Fatal(err)
		}
		blob, err := state.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		BalanceAndCharge(b, credits.NewLedger(backend, opts), account, "lots="+strconv.Itoa(n), len(blob))
	}
}

// BalanceAndCharge runs two benchmarks on account through l, name/Balance
// and name/Charge (of one credit, each under a new key), and reports
// stateBytes, the size of the account's stored state, beside the first.
func BalanceAndCharge(b *testing.B, l *credits.Ledger, account, name string, stateBytes int) {
	ctx := context.Background()
	b.Run(name+"/Balance", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Balance(ctx, account); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(stateBytes), "state-bytes")
	})
	b.Run(name+"/Charge", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "c" + strconv.Itoa(i), Amount: credits.Credit}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
