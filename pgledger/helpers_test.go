package pgledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// poolConfig returns a pool configuration for the test server, or skips
// the test (fails it under CREDITS_REQUIRE_POSTGRES=1) if the server does
// not answer.
func poolConfig(tb testing.TB) *pgxpool.Config {
	tb.Helper()
	pgledgertest.Require(tb)
	cfg, err := pgxpool.ParseConfig(pgledgertest.URL())
	if err != nil {
		tb.Fatalf("CREDITS_POSTGRES_URL: %v", err)
	}
	return cfg
}

// newPool returns a pool on the test server, closed at cleanup.
func newPool(tb testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// newBackend returns a migrated backend in a fresh schema, and its pool.
func newBackend(tb testing.TB) (*pgledger.Backend, *pgxpool.Pool) {
	tb.Helper()
	pool := newPool(tb, poolConfig(tb))
	return migrated(tb, pool, pgledgertest.Schema(tb, "credits_test_")), pool
}

// onOneConnection returns a migrated backend in a fresh schema on a pool
// of one connection, the pool, and the schema: the server's view of that
// connection's prepared statements (pg_prepared_statements) is then the
// backend's.
func onOneConnection(tb testing.TB) (*pgledger.Backend, *pgxpool.Pool, string) {
	tb.Helper()
	cfg := poolConfig(tb)
	cfg.MaxConns = 1
	pool := newPool(tb, cfg)
	schema := pgledgertest.Schema(tb, "credits_test_")
	return migrated(tb, pool, schema), pool, schema
}

// migrated migrates schema through pool and returns a backend on it: one
// instance of a service, when several share a schema.
func migrated(tb testing.TB, pool *pgxpool.Pool, schema string) *pgledger.Backend {
	tb.Helper()
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(context.Background(), pool, opts); err != nil {
		tb.Fatal(err)
	}
	b, err := pgledger.New(pool, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// chargeOneByOne grants account 100 credits, then charges it n times, a
// credit each, one after another.
func chargeOneByOne(tb testing.TB, l *credits.Ledger, account string, n int) {
	tb.Helper()
	ctx := context.Background()
	if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: credits.Credit}); err != nil {
			tb.Fatal(err)
		}
	}
}

// tamper runs stmt on the entries of schema behind the library's back:
// in one transaction with the append-only triggers disabled (and after
// the statements in prep, such as dropping a check), with account as its
// $1; stmt must change exactly one row.
func tamper(tb testing.TB, pool *pgxpool.Pool, schema, stmt, account string, prep ...string) {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	s := pgx.Identifier{schema}.Sanitize()
	steps := append(append([]string{"ALTER TABLE %[1]s.entries DISABLE TRIGGER USER"}, prep...), stmt, "ALTER TABLE %[1]s.entries ENABLE TRIGGER USER")
	for i, step := range steps {
		var args []any
		if i == len(steps)-2 {
			args = append(args, account)
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf(step, s), args...)
		if err != nil || (i == len(steps)-2 && tag.RowsAffected() != 1) {
			tb.Fatalf("%s: %v, %v", step, tag, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// seeded returns a migrated backend in a fresh schema whose tables hold
// the rows seed's SQL inserts (seed is given the schema's quoted name; it
// ends with ANALYZE), and a connection of its pool for EXPLAIN, released
// at cleanup.
func seeded(tb testing.TB, seed func(schema string) string) (*pgledger.Backend, *pgxpool.Conn) {
	tb.Helper()
	ctx := context.Background()
	b, pool := newBackend(tb)
	if _, err := pool.Exec(ctx, seed(pgx.Identifier{b.Schema()}.Sanitize())); err != nil {
		tb.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(conn.Release)
	return b, conn
}
