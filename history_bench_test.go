package credits_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// historySizes are the history lengths BenchmarkHistoryPage reads a page
// of: the largest should cost at most twice the smallest.
var historySizes = []int{10, 10_000, 100_000}

// BuildHistory appends n entries to account through l, whose clock must
// be now: a grant first, then charges of one unit, every 100th entry a
// grant (so a grant filter matches 1 entry in 100), the clock one second
// on after each. It returns the time of the middle entry.
func buildHistory(tb testing.TB, l *credits.Ledger, now *time.Time, account string, n int) time.Time {
	tb.Helper()
	ctx := context.Background()
	var mid time.Time
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
			mid = *now
		}
		*now = now.Add(time.Second)
	}
	return mid
}

// BenchmarkHistoryPage reads a page of 100 entries of one account of 10,
// 10,000 and 100,000 entries on the memory backend: since a time in the
// middle, of one kind that is 1 entry in 100 (grants, from the start:
// 100 of them span 10,000 entries), and unfiltered
// from a cursor in the middle.
func BenchmarkHistoryPage(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return now }})
	for _, n := range historySizes {
		account := fmt.Sprintf("acct-%d", n)
		mid := buildHistory(b, l, &now, account, n)
		runHistoryPage(b, l, account, n, mid)
	}
}

// runHistoryPage runs the three pages of BenchmarkHistoryPage on an
// account of n entries whose middle entry is at mid.
func runHistoryPage(b *testing.B, l *credits.Ledger, account string, n int, mid time.Time) {
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
