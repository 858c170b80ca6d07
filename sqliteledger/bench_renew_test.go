package sqliteledger_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/sqliteledger"
)

// BenchmarkSQLiteRenewUpToDate measures Renew of a subscription that is
// already up to date (what a service calls before serving an account),
// against a Balance read of the same account in the same run:
//
//	go test -run '^$' -bench SQLiteRenewUpToDate -benchtime 2s -count 5 ./sqliteledger
func BenchmarkSQLiteRenewUpToDate(b *testing.B) {
	ctx := context.Background()
	backend := openFile(b, filepath.Join(b.TempDir(), "bench.db"), sqliteledger.Options{})
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := ledgertest.NewClock(anchor)
	l := credits.NewLedger(backend, credits.Options{Now: clock.Now})
	sub := credits.Subscription{ID: "s", Anchor: anchor,
		Plan: credits.Plan{Name: "p", Credits: 100 * credits.Credit, Interval: credits.Monthly}}
	for range 24 { // two years of renewals
		if _, err := l.Renew(ctx, "a", sub); err != nil {
			b.Fatal(err)
		}
		clock.Advance(31 * 24 * time.Hour)
	}
	if _, err := l.Renew(ctx, "a", sub); err != nil {
		b.Fatal(err)
	}
	b.Run("renew", func(b *testing.B) {
		cpu := startCPU(b)
		for b.Loop() {
			if es, err := l.Renew(ctx, "a", sub); err != nil || len(es) != 0 {
				b.Fatal(es, err)
			}
		}
		cpu.stop(b)
	})
	b.Run("baseline-balance", func(b *testing.B) {
		cpu := startCPU(b)
		for b.Loop() {
			if _, err := l.Balance(ctx, "a"); err != nil {
				b.Fatal(err)
			}
		}
		cpu.stop(b)
	})
}
