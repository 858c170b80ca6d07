package pgledger

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/avstudio/credits/internal/sqlmigrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate creates or upgrades the ledger's tables in the schema that
// opts.Schema names (creating the schema if needed), by applying the
// package's embedded migrations that the schema has not had yet. Call it
// at start-up, before [New]'s backend is used.
//
// It is idempotent, and safe when several service instances call it at
// once: each step runs in its own transaction, under a transaction-scoped
// advisory lock keyed on the schema name, and is recorded in the table
// schema_migrations (version, name, checksum, applied_at) of that schema,
// in the same transaction. A failed step leaves the schema as the previous
// step left it, and returns an error naming the step. A step recorded with
// another checksum than the embedded one (an edited migration) is an
// error, as is a schema whose recorded versions are newer than this
// package knows (a newer release migrated it; upgrade this one).
//
// The database role needs the CREATE privilege on the database (for a new
// schema) or on the schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts Options) error {
	if pool == nil {
		return errors.New("pgledger: migrate: nil pool")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	steps, err := sqlmigrate.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	schema := pgx.Identifier{opts.Schema}.Sanitize()
	lockKey := "github.com/avstudio/credits/pgledger migrate " + opts.Schema

	// Step 0: the schema and the table that records the steps.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema+`;
CREATE TABLE IF NOT EXISTS `+schema+`.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgledger: migrate schema %q: create the migrations table: %w", opts.Schema, err)
	}

	// Then one step per transaction, each under the lock, reading what is
	// applied (another instance may have applied it while this one
	// waited) and applying the first step still pending.
	for {
		var done bool
		var step sqlmigrate.Step
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lockKey); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "SELECT version, name, checksum FROM "+schema+".schema_migrations ORDER BY version")
			if err != nil {
				return err
			}
			applied, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sqlmigrate.Applied])
			if err != nil {
				return err
			}
			pending, err := sqlmigrate.Pending(applied, steps, "github.com/avstudio/credits/pgledger")
			if err != nil {
				return err
			}
			if len(pending) == 0 {
				done = true
				return nil
			}
			step = pending[0]
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, step.SQL); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", step.Version, step.Name, step.Checksum)
			return err
		})
		if err != nil {
			if step.Name != "" {
				return fmt.Errorf("pgledger: migrate schema %q: step %s: %w", opts.Schema, step.Name, err)
			}
			return fmt.Errorf("pgledger: migrate schema %q: %w", opts.Schema, err)
		}
		if done {
			return nil
		}
	}
}
