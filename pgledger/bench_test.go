package pgledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// BenchmarkPostgresCharge measures charges per second through a
// credits.Ledger on pgledger against a baseline: the least SQL a correct
// debit needs, one transaction of a conditional UPDATE of a balance and
// one INSERT of an entry (baseline: four round trips, as plain pgx code
// writes it; one-round-trip: the same in one statement, the limit). All
// use the same pool (20 connections) and the same number of concurrent
// workers, 1, 16 and 64, on one hot account and on 1,000 accounts. (SERIALIZABLE transactions retried on serialization
// failures, the alternative to the row lock, were measured once and
// rejected: BENCHMARKS.md, "PostgreSQL".)
//
// Each case's implementations run back to back. go test -count repeats
// each one in a row, so to interleave the pairs, so that noise on a
// shared machine hits both, run the test binary several times:
//
//	go test -c -o /tmp/pgledger.test && for i in 1 2 3 4 5; do
//	  /tmp/pgledger.test -test.run '^$' -test.bench PostgresCharge -test.benchtime 2s -test.timeout 900s
//	done
func BenchmarkPostgresCharge(b *testing.B) {
	cfg := poolConfig(b)
	cfg.MaxConns = 20
	pool := newPool(b, cfg)
	schema := pgledgertest.Schema(b, "credits_test_")
	ctx := context.Background()
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(ctx, pool, opts); err != nil {
		b.Fatal(err)
	}
	locked, err := pgledger.New(pool, opts)
	if err != nil {
		b.Fatal(err)
	}
	s := pgx.Identifier{schema}.Sanitize()
	_, err = pool.Exec(ctx, `
CREATE TABLE `+s+`.baseline_accounts (id text PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE `+s+`.baseline_entries (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account       text        NOT NULL,
    amount        bigint      NOT NULL,
    balance_after bigint      NOT NULL,
    time          timestamptz NOT NULL DEFAULT now()
)`)
	if err != nil {
		b.Fatal(err)
	}
	const funds = 1_000_000_000 * credits.Credit
	var keys atomic.Int64

	var decisions atomic.Int64 // calls of Decisions, retries included
	// spender, if not "", is the charges' spender, held to a budget.
	ledgerImpl := func(name string, backend credits.Backend, spender string) impl {
		l := credits.NewLedger(countDecisions{backend, &decisions}, credits.Options{})
		return impl{
			name: name,
			setup: func(accounts []string) error {
				return parallel(16, len(accounts), func(i int) error {
					_, err := l.Grant(ctx, accounts[i], credits.GrantRequest{Key: "funds", Amount: funds, Source: credits.SourceTopUp})
					if err == nil && spender != "" {
						_, err = l.SetBudget(ctx, accounts[i], credits.BudgetRequest{Key: "budget", Spender: spender, Cap: funds, Window: credits.Day(nil)})
					}
					return err
				})
			},
			charge: func(ctx context.Context, account string) error {
				_, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprint("c", keys.Add(1)), Amount: credits.Credit, Spender: spender})
				return err
			},
		}
	}
	baseline := impl{
		name: "baseline",
		setup: func(accounts []string) error {
			_, err := pool.Exec(ctx, "INSERT INTO "+s+".baseline_accounts SELECT unnest($1::text[]), $2 ON CONFLICT (id) DO NOTHING", accounts, int64(funds))
			return err
		},
		charge: func(ctx context.Context, account string) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var balance int64
				err := tx.QueryRow(ctx, "UPDATE "+s+".baseline_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance",
					int64(credits.Credit), account).Scan(&balance)
				if errors.Is(err, pgx.ErrNoRows) {
					return credits.ErrInsufficientCredits
				}
				if err != nil {
					return err
				}
				_, err = tx.Exec(ctx, "INSERT INTO "+s+".baseline_entries (account, amount, balance_after) VALUES ($1, $2, $3)",
					account, -int64(credits.Credit), balance)
				return err
			})
		},
	}
	// oneTrip is the one-round-trip limit: the same debit as baseline in
	// one statement, run as its own transaction (a conditional UPDATE
	// and the entry's INSERT in one CTE), the fewest round trips and
	// statements any correct debit can take.
	oneTrip := impl{
		name:  "one-round-trip",
		setup: baseline.setup,
		charge: func(ctx context.Context, account string) error {
			var balance int64
			err := pool.QueryRow(ctx, `WITH debit AS (
    UPDATE `+s+`.baseline_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance)
INSERT INTO `+s+`.baseline_entries (account, amount, balance_after)
SELECT $2, -$1, balance FROM debit RETURNING balance_after`, int64(credits.Credit), account).Scan(&balance)
			if errors.Is(err, pgx.ErrNoRows) {
				return credits.ErrInsufficientCredits
			}
			return err
		},
	}
	done := map[string]bool{} // the impls and account counts set up in this schema
	// pgledger-budget charges for a spender held to a budget: against
	// pgledger, what spenders and budgets cost (BENCHMARKS.md, "Spenders
	// and budgets").
	//
	// pgledger-slow-path is pgledger with its fast path off: every write
	// reads under the row lock, then stores (two round trips).
	//
	// pgledger-one-lane batches across accounts: the Ledger queues the
	// writes of every account in one lane, as on SQLite, so that one
	// transaction (one commit) stores the charges of many accounts
	// (measured and not adopted: BENCHMARKS.md, "Group commit across
	// accounts").
	slow, err := pgledger.New(pool, opts)
	if err != nil {
		b.Fatal(err)
	}
	pgledger.SlowPathOnly(slow)
	impls := []impl{ledgerImpl("pgledger", locked, ""), ledgerImpl("pgledger-one-lane", oneLane{locked}, ""), ledgerImpl("pgledger-slow-path", slow, ""), ledgerImpl("pgledger-budget", locked, "key_live_7"), baseline, oneTrip}
	if sql := os.Getenv("PGR0SS_PGLEDGER_SQL"); sql != "" {
		impls = append(impls, pgr0ss(b, sql))
	}

	for _, nAccounts := range []int{1, 1000} {
		for _, workers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("accounts=%d/workers=%d", nAccounts, workers), func(b *testing.B) {
				for _, im := range impls {
					b.Run(im.name, func(b *testing.B) {
						accounts := make([]string, nAccounts)
						for i := range accounts {
							accounts[i] = fmt.Sprintf("%s-%d", im.name, i)
						}
						// Accounts are funded once, before their first run.
						if id := fmt.Sprint(im.name, nAccounts); !done[id] {
							if err := im.setup(accounts); err != nil {
								b.Fatal(err)
							}
							done[id] = true
						}
						b.ReportAllocs()
						b.ResetTimer()
						decisions.Store(0)
						err := parallel(workers, b.N, func(i int) error {
							return im.charge(ctx, accounts[i%nAccounts])
						})
						b.StopTimer()
						if err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "charges/s")
						if strings.HasPrefix(im.name, "pgledger") {
							b.ReportMetric(float64(decisions.Load())/float64(b.N), "decisions/op")
						}
					})
				}
			})
		}
	}
}

// impl is one implementation of a charge that BenchmarkPostgresCharge
// measures: setup funds the accounts, once; charge debits one of them
// by one credit.
type impl struct {
	name   string
	setup  func(accounts []string) error
	charge func(ctx context.Context, account string) error
}

// countDecisions is a backend that counts the decisions it runs, so that
// the benchmark shows how often a backend retried.
type countDecisions struct {
	credits.Backend
	n *atomic.Int64
}

func (c countDecisions) Update(ctx context.Context, writes []credits.Write) error {
	for i := range writes {
		for k := range writes[i].Ops {
			decide := writes[i].Ops[k].Decide
			writes[i].Ops[k].Decide = func(s *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
				c.n.Add(1)
				return decide(s, e)
			}
		}
	}
	return c.Backend.Update(ctx, writes)
}

// parallel runs do(0) ... do(n-1) on the given number of goroutines, and
// returns the first error.
func parallel(workers, n int, do func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// BenchmarkPostgresRenewUpToDate measures Renew of a subscription that is
// already up to date (what a service calls before serving an account),
// against a Balance read of the same account in the same run:
//
//	go test -run '^$' -bench PostgresRenewUpToDate -benchtime 2s -count 5 ./pgledger
func BenchmarkPostgresRenewUpToDate(b *testing.B) {
	backend, _ := newBackend(b)
	ctx := context.Background()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := ledgertest.NewClock(anchor)
	l := credits.NewLedger(backend, credits.Options{Now: clock.Now})
	sub := credits.Subscription{ID: "s", Anchor: anchor,
		Plan: credits.Plan{Name: "p", Credits: 100 * credits.Credit, Interval: credits.Monthly}}
	for range 24 {
		if _, err := l.Renew(ctx, "a", sub); err != nil {
			b.Fatal(err)
		}
		clock.Advance(31 * 24 * time.Hour)
	}
	if _, err := l.Renew(ctx, "a", sub); err != nil {
		b.Fatal(err)
	}
	b.Run("renew", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if es, err := l.Renew(ctx, "a", sub); err != nil || len(es) != 0 {
				b.Fatal(es, err)
			}
		}
	})
	b.Run("baseline-balance", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Balance(ctx, "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPostgresFeed measures the feed on PostgreSQL: a consumer
// reading while 16 writers charge (entries/s), and the time from a
// charge's commit to its notice in a consumer's handler.
func BenchmarkPostgresFeed(b *testing.B) {
	b.Run("throughput/writers=16", func(b *testing.B) {
		backend, _ := newBackend(b)
		benchkit.Throughput(b, backend, 16)
	})
	b.Run("latency", func(b *testing.B) {
		backend, _ := newBackend(b)
		benchkit.Latency(b, backend)
	})
}

// BenchmarkPostgresHotAccount measures charges/s of one account from 1,
// 16 and 64 goroutines through one Ledger, with group commit (the
// default) and without (Options.NoBatching, each charge its own
// transaction waiting on the account's row lock). Both use a pool of 20
// connections. Compare each batched case with its unbatched one:
//
//	go test -c -o /tmp/pgledger.test && for i in 1 2 3 4 5; do
//	  /tmp/pgledger.test -test.run '^$' -test.bench PostgresHotAccount -test.benchtime 2s -test.timeout 900s
//	done
func BenchmarkPostgresHotAccount(b *testing.B) {
	cfg := poolConfig(b)
	cfg.MaxConns = 20
	pool := newPool(b, cfg)
	schema := pgledgertest.Schema(b, "credits_test_")
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(context.Background(), pool, opts); err != nil {
		b.Fatal(err)
	}
	backend, err := pgledger.New(pool, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d/batched", workers), func(b *testing.B) {
			benchkit.HotAccount(b, backend, credits.Options{}, workers)
		})
		b.Run(fmt.Sprintf("workers=%d/unbatched", workers), func(b *testing.B) {
			benchkit.HotAccount(b, backend, credits.Options{NoBatching: true}, workers)
		})
	}
}

// oneLane is a pgledger Backend that says it is a OneWriter, so that a
// Ledger batches the writes of every account together.
type oneLane struct{ *pgledger.Backend }

func (oneLane) OneWriter() bool { return true }
