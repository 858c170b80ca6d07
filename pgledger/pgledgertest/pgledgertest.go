// Package pgledgertest gives tests that need a real PostgreSQL server the
// server and a schema of their own, with one rule for a missing server:
// the test is skipped with one line saying how to start one, unless
// CREDITS_REQUIRE_POSTGRES=1 (as in CI), where it fails instead.
//
// The server is CREDITS_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/postgres. pgledger's own tests, the
// credits command's and the examples' use it; so can a service's tests of
// its own code on pgledger.
package pgledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when CREDITS_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres"

// URL returns CREDITS_POSTGRES_URL, or DefaultURL.
func URL() string {
	if u := os.Getenv("CREDITS_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Require checks that the server answers. If it does not, it skips the
// test, or fails it when CREDITS_REQUIRE_POSTGRES=1.
func Require(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		msg := "no PostgreSQL at CREDITS_POSTGRES_URL (default " + DefaultURL + "); start one with `bash .ci/postgres.sh`: " +
			strings.Join(strings.Fields(err.Error()), " ")
		if os.Getenv("CREDITS_REQUIRE_POSTGRES") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	_ = conn.Close(ctx)
}

// Schema requires the server (see Require) and returns the name of a
// schema no other test uses, beginning with prefix; at cleanup the schema
// is dropped with everything in it. The schema itself is not created:
// pgledger.Migrate creates it.
func Schema(tb testing.TB, prefix string) string {
	tb.Helper()
	Require(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := prefix + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, URL())
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
