package pgledger_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits/pgledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// serverURL is the PostgreSQL server the tests use: CREDITS_POSTGRES_URL,
// or the local default.
func serverURL() string {
	if u := os.Getenv("CREDITS_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres"
}

// poolConfig returns a pool configuration for the test server, or skips
// the test (fails it under CREDITS_REQUIRE_POSTGRES=1) if the server does
// not answer.
func poolConfig(tb testing.TB) *pgxpool.Config {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(serverURL())
	if err != nil {
		tb.Fatalf("CREDITS_POSTGRES_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		const how = "no PostgreSQL at CREDITS_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); start one with `bash .ci/postgres.sh`: "
		if os.Getenv("CREDITS_REQUIRE_POSTGRES") == "1" {
			tb.Fatal(how + oneLine(err))
		}
		tb.Skip(how + oneLine(err))
	}
	_ = conn.Close(ctx)
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

// freshSchema returns a schema name no other test uses; cleanup drops it
// with everything in it.
func freshSchema(tb testing.TB, cfg *pgxpool.Config) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "credits_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// newBackend returns a migrated backend in a fresh schema, and its pool.
func newBackend(tb testing.TB) (*pgledger.Backend, *pgxpool.Pool) {
	tb.Helper()
	cfg := poolConfig(tb)
	pool := newPool(tb, cfg)
	schema := freshSchema(tb, cfg)
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(context.Background(), pool, opts); err != nil {
		tb.Fatal(err)
	}
	b, err := pgledger.New(pool, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return b, pool
}

// oneLine is err's message on one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
