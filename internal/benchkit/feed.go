// Package benchkit holds the load benchmarks every backend runs alike
// (memory, SQLite, PostgreSQL), so their figures compare. feed.go measures
// the feed: how fast one consumer reads while writers charge, and how long
// a notice takes from the commit of the write that caused it to a
// consumer's handler. hot.go measures many writers on one account.
package benchkit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// Throughput runs b.N charges from writers goroutines, each on an account
// of its own, while one consumer of the feed reads them, and reports the
// entries per second the consumer handled (entries/s) over the whole run;
// ns/op is per entry read.
func Throughput(b *testing.B, backend credits.Backend, writers int) {
	ctx := context.Background()
	l := credits.NewLedger(backend, credits.Options{})
	for w := range writers {
		if _, err := l.Grant(ctx, fmt.Sprint("writer-", w), credits.GrantRequest{Key: "seed", Amount: 1 << 40, Source: credits.SourceTopUp}); err != nil {
			b.Fatal(err)
		}
	}
	// Read past the seeds, so that the consumer counts charges only.
	start, err := l.Feed(ctx, "", writers)
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := backend.SaveConsumer(ctx, credits.ConsumerRecord{Name: name, Cursor: start.Next, Version: 1}); err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	go func() {
		defer close(done)
		_ = l.Consume(cctx, name, func(_ context.Context, es []credits.Entry) error {
			if seen.Add(int64(len(es))) >= int64(b.N) {
				stop()
			}
			return nil
		}, credits.ConsumeOptions{Batch: 1000, Poll: time.Millisecond})
	}()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprint("writer-", w)
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: 1}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		stop()
		b.Fatalf("the consumer read %d of %d entries in a minute after the writers were done", seen.Load(), b.N)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(seen.Load())/elapsed.Seconds(), "entries/s")
}

// Latency charges one account b.N times, one charge at a time, with a
// low-balance threshold every charge crosses (a top-up puts the account
// back over it in the same loop), and measures, for each low_balance
// notice, the time from the return of the charge that caused it to its
// arrival in a consumer's handler; it reports the median and the 99th
// percentile (p50-ns, p99-ns).
func Latency(b *testing.B, backend credits.Backend) {
	ctx := context.Background()
	l := credits.NewLedger(backend, credits.Options{LowBalance: func(string) credits.Credits { return 10 * credits.Credit }})
	name := fmt.Sprintf("latency-%d", time.Now().UnixNano())
	account := name
	if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: 5 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		b.Fatal(err)
	}
	start, err := l.Feed(ctx, "", 1000)
	if err != nil {
		b.Fatal(err)
	}
	for len(start.Entries) > 0 {
		cursor := start.Next
		if start, err = l.Feed(ctx, cursor, 1000); err != nil {
			b.Fatal(err)
		}
	}
	if err := backend.SaveConsumer(ctx, credits.ConsumerRecord{Name: name, Cursor: start.Next, Version: 1}); err != nil {
		b.Fatal(err)
	}
	arrived := make(chan time.Time, 1)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = l.Consume(cctx, name, func(_ context.Context, es []credits.Entry) error {
			for _, e := range es {
				if e.Kind == credits.KindNotice && e.Notice == credits.NoticeLowBalance {
					arrived <- time.Now()
				}
			}
			return nil
		}, credits.ConsumeOptions{Poll: time.Millisecond})
	}()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Back over the threshold (15), then under it (5): one notice.
		if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: fmt.Sprint("up", i), Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprint("down", i), Amount: 10 * credits.Credit}); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		select {
		case at := <-arrived:
			// The consumer may see the notice before the writer is told
			// (the same commit): that is no latency at all.
			lat = append(lat, max(at.Sub(committed), 0))
		case <-time.After(10 * time.Second):
			b.Fatalf("notice %d did not arrive in 10 s", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
