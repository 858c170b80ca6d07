package pgledger_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// pgr0ss is BenchmarkPostgresCharge's side-by-side implementation, when
// PGR0SS_PGLEDGER_SQL names a copy of pgledger.sql from
// github.com/pgr0ss/pgledger (not part of this repository: a charge
// there is a transfer, pgledger_create_transfer, from the customer's
// account, which may not go negative, to a revenue account of its own,
// so that spread customers do not share one). The SQL is loaded into a
// fresh schema, its type MONEY read as NUMERIC (the copy measured, of
// commit 0aeade1, compares a MONEY with an integer in a CHECK, which
// PostgreSQL 15 refuses), with the function it needs from a vendored extension,
// uuid_to_ulid, written here (a ULID's 26 characters of Crockford base32
// from the UUID's 128 bits), and run on a pool of 20 connections of its
// own whose search_path is that schema:
//
//	PGR0SS_PGLEDGER_SQL=/path/to/pgledger.sql /tmp/pgledger.test -test.run '^$' -test.bench PostgresCharge ...
func pgr0ss(b *testing.B, path string) impl {
	sql, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("PGR0SS_PGLEDGER_SQL: %v", err)
	}
	ctx := context.Background()
	schema := pgledgertest.Schema(b, "pgr0ss_")
	cfg := poolConfig(b)
	cfg.MaxConns = 20
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool := newPool(b, cfg)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, uuidToULID); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, strings.ReplaceAll(string(sql), "MONEY", "NUMERIC")); err != nil {
		b.Fatalf("load %s: %v", path, err)
	}
	var funding string
	if err := pool.QueryRow(ctx, "SELECT id FROM pgledger_create_account('funding', 'USD', allow_negative_balance => true)").Scan(&funding); err != nil {
		b.Fatal(err)
	}
	type pair struct{ customer, revenue string }
	var mu sync.Mutex
	pairs := map[string]pair{}
	return impl{
		name: "pgr0ss-pgledger",
		setup: func(accounts []string) error {
			for _, a := range accounts {
				var p pair
				if err := pool.QueryRow(ctx, "SELECT id FROM pgledger_create_account($1, 'USD', allow_negative_balance => false)", a).Scan(&p.customer); err != nil {
					return err
				}
				if err := pool.QueryRow(ctx, "SELECT id FROM pgledger_create_account($1, 'USD')", a+" revenue").Scan(&p.revenue); err != nil {
					return err
				}
				if _, err := pool.Exec(ctx, "SELECT id FROM pgledger_create_transfer($1, $2, 1000000000)", funding, p.customer); err != nil {
					return err
				}
				mu.Lock()
				pairs[a] = p
				mu.Unlock()
			}
			return nil
		},
		charge: func(ctx context.Context, account string) error {
			mu.Lock()
			p, ok := pairs[account]
			mu.Unlock()
			if !ok {
				return fmt.Errorf("pgr0ss: no accounts for %q", account)
			}
			_, err := pool.Exec(ctx, "SELECT id FROM pgledger_create_transfer($1, $2, 1)", p.customer, p.revenue)
			return err
		},
	}
}

// uuidToULID is uuid_to_ulid for pgr0ss's SQL: the UUID's 128 bits,
// two zero bits ahead, read five at a time into Crockford's base32.
const uuidToULID = `CREATE FUNCTION uuid_to_ulid(id uuid) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    bits bit(130) := B'00' || ('x' || replace(id::text, '-', ''))::bit(128);
    digits constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    ulid text := '';
BEGIN
    FOR i IN 0..25 LOOP
        ulid := ulid || substr(digits, substring(bits FROM i * 5 + 1 FOR 5)::int + 1, 1);
    END LOOP;
    RETURN ulid;
END
$$`
