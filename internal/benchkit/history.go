package benchkit

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// HistorySizes are the history lengths the BenchmarkHistoryPage of every
// backend reads a page of.
var HistorySizes = []int{10, 10_000, 100_000}

// BuildHistory stores n entries of account in dst, as a Ledger on the
// memory backend made them (a grant first, then charges of one unit,
// every 100th entry a grant, so that a grant filter matches 1 entry in
// 100; the clock one second on after each), copied by CopyAccount every
// 1,000 entries. It returns the time of the middle entry.
func BuildHistory(tb testing.TB, dst credits.Backend, account string, n int) time.Time {
	tb.Helper()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mem := credits.NewMemoryBackend()
	l := credits.NewLedger(mem, credits.Options{Now: func() time.Time { return now }})
	var mid time.Time
	var copied int64
	flush := func() { copied = CopyAccount(tb, mem, dst, account, copied) }
	for i := 1; i <= n; i++ {
		var err error
		if i == 1 || i%100 == 50 {
			_, err = l.Grant(ctx, account, credits.GrantRequest{Key: "g" + strconv.Itoa(i), Amount: 1_000_000 * credits.Credit, Source: credits.SourceTopUp})
		} else {
			_, err = l.Charge(ctx, account, credits.ChargeRequest{Key: "c" + strconv.Itoa(i), Amount: 1})
		}
		if err != nil {
			tb.Fatal(err)
		}
		if i == n/2 {
			mid = now
		}
		now = now.Add(time.Second)
		if i%1000 == 0 {
			flush()
		}
	}
	flush()
	return mid
}

// CopyAccount copies to dst, in one Update, the entries of account on
// the memory backend src after the ID after, at most 1,000 of them and
// the last ones src has, with the state they lead to, and returns the ID
// of the last one. The entries and states are the Ledger's own, and this
// is much faster than one Update per entry.
func CopyAccount(tb testing.TB, src *credits.MemoryBackend, dst credits.Backend, account string, after int64) int64 {
	tb.Helper()
	ctx := context.Background()
	entries, err := src.Entries(ctx, account, credits.HistoryQuery{After: after, Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) == 0 {
		return after
	}
	state, err := src.Load(ctx, account)
	if err != nil {
		tb.Fatal(err)
	}
	if last := entries[len(entries)-1].ID; state.Version() != last {
		tb.Fatalf("benchkit: account %q has entries after %d: copy at most 1,000 at a time", account, last)
	}
	err = dst.Update(ctx, []credits.Write{{Account: account, Ops: []credits.WriteOp{{Decide: func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
		*s = *state.Clone()
		return entries, nil
	}}}}})
	if err != nil {
		tb.Fatal(err)
	}
	return state.Version()
}

// HistoryPage measures three pages of 100 entries on an account of n
// entries built by BuildHistory, whose middle entry is at mid: since mid,
// of one kind that is 1 entry in 100 (grants, from the start: 100 of them
// span 10,000 entries), and unfiltered from a cursor in the middle. Run
// on accounts of each of HistorySizes, the largest should cost at most
// twice the smallest.
func HistoryPage(b *testing.B, l *credits.Ledger, account string, n int, mid time.Time) {
	ctx := context.Background()
	cases := []struct {
		name string
		q    credits.HistoryQuery
	}{
		{"since", credits.HistoryQuery{Since: mid, Limit: 100}},
		{"kind", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindGrant}, Limit: 100}},
		{"cursor", credits.HistoryQuery{After: int64(n / 2), Limit: 100}},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := l.History(ctx, account, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Entries) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}
