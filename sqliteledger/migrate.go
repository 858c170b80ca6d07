package sqliteledger

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/avstudio/credits/internal/sqlmigrate"
)

// migrationFiles are the schema's migrations: migrations/NNNN_name.sql,
// applied in the order of their numbers, each exactly once per file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate brings the schema up to date in one BEGIN IMMEDIATE transaction
// (db opens its transactions so): the write lock is taken before the
// applied migrations are read, so two processes opening the same file at
// once apply each migration once, the second waiting for the first. Each
// applied migration is recorded in schema_migrations. A file whose schema
// is newer than this package knows is refused, untouched.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	all, err := sqlmigrate.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL -- unix microseconds
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(all) {
		return fmt.Errorf("migrate: the file's schema is at version %d, newer than this package knows (%d): use a newer github.com/avstudio/credits/sqliteledger", current, len(all))
	}
	for _, m := range all[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
