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
// applied migration is recorded in schema_migrations with the SHA-256 of
// its SQL; an applied migration whose recorded checksum differs from the
// embedded one (an edited migration) is refused, as is a file whose schema
// is newer than this package knows, untouched. (A file migrated before
// checksums were recorded gets them recorded now.)
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
		applied_at INTEGER NOT NULL, -- unix microseconds
		checksum   TEXT    NOT NULL DEFAULT '' -- hex SHA-256 of the migration's SQL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var hasChecksum bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'`).Scan(&hasChecksum); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !hasChecksum {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN checksum TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT version, name, checksum FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var applied []sqlmigrate.Applied
	for rows.Next() {
		var a sqlmigrate.Applied
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied = append(applied, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pending, err := sqlmigrate.Pending(applied, all, "github.com/avstudio/credits/sqliteledger")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, a := range applied {
		if a.Checksum == "" {
			if _, err := tx.ExecContext(ctx, `UPDATE schema_migrations SET checksum = ? WHERE version = ?`, all[a.Version-1].Checksum, a.Version); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro(), m.Checksum); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
