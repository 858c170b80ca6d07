package pgledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/legacytest"
	"github.com/avstudio/credits/internal/sqlentry"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// A schema written by a release before v0.1.0 (migration 1 only, the
// ledger's own data in metadata, states in format 1) migrates: 0002 moves
// that data into its columns, the states are rebuilt from the history
// when next used, and the ledger goes on from where it was.
func TestMigrateFromVersion1(t *testing.T) {
	pool := newPool(t, poolConfig(t))
	schema := pgledgertest.Schema(t, "credits_test_")
	ctx := context.Background()
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(init)
	s := pgx.Identifier{schema}.Sanitize()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []string{"CREATE SCHEMA " + s, "SET LOCAL search_path TO " + s, string(init),
			"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (1, '0001_init.sql', $1)", hex.EncodeToString(sum[:]))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := legacytest.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if _, err := pool.Exec(ctx, "INSERT INTO "+s+".accounts (id, version, state) VALUES ($1, $2, $3)", a.Name, len(a.Entries), a.State); err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Entries {
			r, err := sqlentry.Encode(&e)
			if err != nil {
				t.Fatal(err)
			}
			null := func(t time.Time) any {
				if t.IsZero() {
					return nil
				}
				return t
			}
			var md any
			if r.Metadata != nil {
				md = string(r.Metadata)
			}
			_, err = pool.Exec(ctx, "INSERT INTO "+s+`.entries (account, id, kind, time, amount, held, balance_after, source, action, resolution,
				quantity, price_version, hold, lot, reverses, priority, expires_at, period, key, request_hash, metadata)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
				r.Account, r.ID, r.Kind, r.Time, r.Amount, r.Held, r.BalanceAfter, r.Source, r.Action, r.Resolution,
				r.Quantity, r.PriceVersion, r.Hold, r.Lot, r.Reverses, r.Priority, null(r.ExpiresAt), null(r.Period), r.Key, r.RequestHash, md)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	b, err := pgledger.New(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	var _ credits.Backend = b
	legacytest.Check(t, b, accounts)
}
