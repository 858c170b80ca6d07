package benchkit

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/avstudio/credits"
)

// Fill writes accounts accounts of perAccount entries each through l, one
// goroutine an account: a grant every tenth entry, a hold and its partial
// capture every tenth, charges between. It is the history the verify and
// backup benchmarks read.
func Fill(ctx context.Context, l *credits.Ledger, accounts, perAccount int) error {
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fillAccount(ctx, l, fmt.Sprint("acct-", a), perAccount); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func fillAccount(ctx context.Context, l *credits.Ledger, account string, perAccount int) error {
	for n := 0; n < perAccount; {
		key := fmt.Sprint("k", n)
		var err error
		switch {
		case n%10 == 0:
			_, err = l.Grant(ctx, account, credits.GrantRequest{Key: key, Amount: 100 * credits.Credit, Source: credits.SourceTopUp})
			n++
		case n%10 == 5 && n+2 <= perAccount:
			var h credits.Entry
			if h, err = l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: credits.Credit}); err == nil {
				_, err = l.Capture(ctx, account, credits.CaptureRequest{Key: key + "c", Hold: h.ID, Amount: credits.Credit / 2})
			}
			n += 2
		default:
			_, err = l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: credits.Credit / 10})
			n++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Verify measures [credits.Ledger.VerifyAll] of the ledger on backend,
// which holds entries entries in all (see [Fill]), against a baseline in
// the same run: reading every account's history, page by page, which is
// the least any check of the history must do. It reports s/100k-entries
// for both, and the ratio is what verifying adds to reading.
//
//	verify          VerifyAll: every account rebuilt, its chain and state checked
//	baseline/read   Accounts and History of every account, nothing checked
func Verify(b *testing.B, backend credits.Backend, entries int) {
	ctx := context.Background()
	l := credits.NewLedger(backend, credits.Options{})
	per100k := func(b *testing.B) {
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/float64(entries)*100_000, "s/100k-entries")
	}
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := l.VerifyAll(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Problems) > 0 || r.Entries < int64(entries) {
				b.Fatalf("verified %d entries of %d, problems: %v", r.Entries, entries, r.Problems)
			}
		}
		per100k(b)
	})
	b.Run("baseline/read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n, err := readAll(ctx, l)
			if err != nil {
				b.Fatal(err)
			}
			if n < entries {
				b.Fatalf("read %d entries of %d", n, entries)
			}
		}
		per100k(b)
	})
}

// readAll reads every account's whole history and returns how many
// entries it read.
func readAll(ctx context.Context, l *credits.Ledger) (int, error) {
	n, after := 0, ""
	for {
		names, err := l.Accounts(ctx, after, 1000)
		if err != nil {
			return n, err
		}
		for _, name := range names {
			q := credits.HistoryQuery{Limit: 1000}
			for {
				page, err := l.History(ctx, name, q)
				if err != nil {
					return n, err
				}
				n += len(page.Entries)
				if page.Next == 0 {
					break
				}
				q.After = page.Next
			}
		}
		if len(names) < 1000 {
			return n, nil
		}
		after = names[len(names)-1]
	}
}
