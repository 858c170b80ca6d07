package credits

// The fixture of the in-package tests of periods, subscriptions, rollover
// and statements.
//
// About instants: the ledger keeps time to the microsecond (Ledger.Now
// truncates its clock), so "one nanosecond before a boundary" is, to the
// ledger, one microsecond before it, and "one nanosecond after" is the
// boundary itself. The boundary tests say so where it matters.

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// testingTB is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type testingTB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func testZone(t testingTB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func testDate(y int, m time.Month, d, hh, mm int, loc *time.Location) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

// subFixture is a memory ledger with a clock the test moves, and one
// account.
type subFixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *testClock
	l       *Ledger
	account string
	keys    int
}

func newSubFixture(t *testing.T, now time.Time) *subFixture {
	c := &testClock{t: now}
	return &subFixture{t: t, ctx: context.Background(), clock: c, l: NewMemoryLedger(Options{Now: c.Now}), account: "acct"}
}

func (f *subFixture) at(t time.Time) *subFixture { f.clock.Set(t); return f }

func (f *subFixture) renew(sub Subscription) []Entry {
	f.t.Helper()
	es, err := f.l.Renew(f.ctx, f.account, sub)
	if err != nil {
		f.t.Fatalf("renew at %s: %v", f.clock.Now(), err)
	}
	return es
}

func (f *subFixture) total() Credits {
	f.t.Helper()
	b, err := f.l.Balance(f.ctx, f.account)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.Total
}

func (f *subFixture) wantTotal(want Credits) {
	f.t.Helper()
	if got := f.total(); got != want {
		f.t.Fatalf("at %s: balance %s, want %s", f.clock.Now().Format(time.RFC3339Nano), got, want)
	}
}

func (f *subFixture) charge(amount Credits) error {
	f.keys++
	_, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: fmt.Sprintf("c%d", f.keys), Amount: amount})
	return err
}

func (f *subFixture) mustCharge(amount Credits) {
	f.t.Helper()
	if err := f.charge(amount); err != nil {
		f.t.Fatalf("charge %s at %s: %v", amount, f.clock.Now(), err)
	}
}

func (f *subFixture) history() []Entry {
	f.t.Helper()
	return wholeHistory(f.t, f.ctx, f.l, f.account)
}

// wholeHistory reads every entry of account through l, page by page.
func wholeHistory(tb testing.TB, ctx context.Context, l *Ledger, account string) []Entry {
	tb.Helper()
	var out []Entry
	q := HistoryQuery{Limit: 1000}
	for {
		p, err := l.History(ctx, account, q)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p.Entries...)
		if p.Next == 0 {
			return out
		}
		q.After = p.Next
	}
}

// state returns the account's stored state settled at the clock's now, as
// a read sees it.
func (f *subFixture) state() *AccountState {
	f.t.Helper()
	s, err := f.l.backend.Load(f.ctx, f.account)
	if err != nil {
		f.t.Fatal(err)
	}
	settle(s, f.account, f.l.Now())
	return s
}

func (f *subFixture) statement(p Period) Statement {
	f.t.Helper()
	st, err := f.l.Statement(f.ctx, f.account, p)
	if err != nil {
		f.t.Fatal(err)
	}
	checkAddsUp(f.t, st)
	return st
}

func checkAddsUp(t testingTB, st Statement) {
	t.Helper()
	if got := st.Opening + st.TotalGranted() + st.Refunded - st.TotalSpent() - st.Expired; got != st.Closing {
		t.Fatalf("statement does not add up: %s + %s + %s - %s - %s = %s, closing %s",
			st.Opening, st.TotalGranted(), st.Refunded, st.TotalSpent(), st.Expired, got, st.Closing)
	}
}

func testPlan(name string, credits Credits, iv Interval, pol RolloverPolicy) Plan {
	return Plan{Name: name, Credits: credits, Interval: iv, Rollover: pol}
}

func testSub(id string, p Plan, anchor time.Time, loc *time.Location) Subscription {
	return Subscription{ID: id, Anchor: anchor, Location: loc, Plan: p}
}

// grantsOf sums the subscription grants by period start (in Unix
// microseconds).
func grantsOf(es []Entry) map[int64]Credits {
	out := map[int64]Credits{}
	for _, e := range es {
		if e.Kind == KindGrant && e.Source == SourceSubscription {
			out[e.Period.UnixMicro()] += e.Amount
		}
	}
	return out
}

// ---- Benchmarks (each with its baseline, measured in the same run) ----

// rolloverCPUMeter reports, next to the wall-clock ns/op, the process's CPU time
// per operation (cpu-ns/op): on a machine shared with other work, the
// wall clock measures the other work too.
type rolloverCPUMeter struct{ start time.Duration }

func startRolloverCPU(b *testing.B) rolloverCPUMeter {
	b.ReportAllocs()
	b.ResetTimer()
	return rolloverCPUMeter{rolloverProcessCPU()}
}

func (m rolloverCPUMeter) stop(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(rolloverProcessCPU()-m.start)/float64(b.N), "cpu-ns/op")
}

func rolloverProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
