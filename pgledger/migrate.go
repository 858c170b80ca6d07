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

	for _, m := range steps {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lockKey); err != nil {
				return err
			}
			// Under the lock, read what is applied: another instance may
			// have applied this step while we waited.
			rows, err := tx.Query(ctx, "SELECT version, name, checksum FROM "+schema+".schema_migrations ORDER BY version")
			if err != nil {
				return err
			}
			applied, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
				Version  int
				Name     string
				Checksum string
			}])
			if err != nil {
				return err
			}
			for _, a := range applied {
				if a.Version > len(steps) {
					return fmt.Errorf("the schema has migration %d (%s), newer than this package knows (up to %d): upgrade github.com/avstudio/credits/pgledger", a.Version, a.Name, len(steps))
				}
				if a.Version == m.Version {
					if a.Checksum != m.Checksum {
						return fmt.Errorf("applied migration %d (%s) differs from the embedded %s (checksum %s, embedded %s)", a.Version, a.Name, m.Name, a.Checksum, m.Checksum)
					}
					return nil // already applied
				}
			}
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", m.Version, m.Name, m.Checksum)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgledger: migrate schema %q: step %s: %w", opts.Schema, m.Name, err)
		}
	}
	return nil
}
