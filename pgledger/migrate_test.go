package pgledger_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestMigrateConcurrently: several instances, on two pools, migrate one
// new schema at once, then again; every step is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	cfg := poolConfig(t)
	pools := [2]*pgxpool.Pool{newPool(t, cfg), newPool(t, cfg)}
	schema := pgledgertest.Schema(t, "credits_test_")
	opts := pgledger.Options{Schema: schema}
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- pgledger.Migrate(ctx, pools[i%2], opts)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	pool := pools[0]
	rows, err := pool.Query(ctx, "SELECT version FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) == 0 || versions[0] != 1 {
		t.Fatalf("applied versions %v, want 1, 2, ...", versions)
	}
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("applied versions %v, want each once, in order", versions)
		}
	}
	var tables int
	err = pool.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('accounts', 'entries')", schema).Scan(&tables)
	if err != nil || tables != 2 {
		t.Fatalf("tables accounts and entries: found %d, %v", tables, err)
	}
}

// TestMigrateRefusesAnEditedStep: a schema whose recorded step differs
// from the embedded one is not silently "upgraded".
func TestMigrateRefusesAnEditedStep(t *testing.T) {
	b, pool := newBackend(t)
	ctx := context.Background()
	table := pgx.Identifier{b.Schema(), "schema_migrations"}.Sanitize()
	if _, err := pool.Exec(ctx, "UPDATE "+table+" SET checksum = 'edited' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	err := pgledger.Migrate(ctx, pool, pgledger.Options{Schema: b.Schema()})
	if err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("Migrate over an edited step: %v, want an error", err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+table+" SET checksum = 'x', version = 999 WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	err = pgledger.Migrate(ctx, pool, pgledger.Options{Schema: b.Schema()})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate of a schema from a newer release: %v, want an error", err)
	}
}
