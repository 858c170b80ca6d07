package benchkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/avstudio/credits"
)

// hotRuns numbers HotAccount's runs, so that each charges a fresh account
// and no run replays another's keys.
var hotRuns atomic.Int64

// HotAccount runs b.N charges of one account from workers goroutines
// through a Ledger on backend (with opts), and reports charges/s. It is
// the case group commit is for: an organisation's pooled balance, one
// busy API customer.
func HotAccount(b *testing.B, backend credits.Backend, opts credits.Options, workers int) {
	ctx := context.Background()
	counted := &countUpdates{Backend: backend}
	var counting credits.Backend = counted
	if ow, ok := backend.(credits.OneWriter); ok && ow.OneWriter() {
		counting = oneWriter{counted}
	}
	l := credits.NewLedger(counting, opts)
	run := hotRuns.Add(1)
	account := fmt.Sprintf("hot-%d-%d", workers, run)
	if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: 1 << 50, Source: credits.SourceTopUp}); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: 1}); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "charges/s")
	if n := counted.updates.Load(); n > 0 {
		b.ReportMetric(float64(counted.ops.Load())/float64(n), "ops/update")
	}
}

// countUpdates counts the Updates of a backend and the operations in
// them: their ratio is the mean size of a batch.
type countUpdates struct {
	credits.Backend
	updates, ops atomic.Int64
}

func (c *countUpdates) Update(ctx context.Context, writes []credits.Write) error {
	c.updates.Add(1)
	for _, w := range writes {
		c.ops.Add(int64(len(w.Ops)))
	}
	return c.Backend.Update(ctx, writes)
}

// oneWriter is a countUpdates of a backend that is a OneWriter.
type oneWriter struct{ *countUpdates }

func (oneWriter) OneWriter() bool { return true }
