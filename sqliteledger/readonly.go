package sqliteledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/avstudio/credits/internal/sqlmigrate"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openReadOnly is open for Options.ReadOnly: the read pool only, in
// SQLite's read-only mode, on a file whose schema is up to date. If SQLite
// cannot open the file so because it cannot create the index of the
// write-ahead log (path-shm: a read-only directory or file system), and
// there is no write-ahead log (path-wal), whose frames an immutable
// connection would not see, it opens the file as immutable.
func (b *Backend) openReadOnly(ctx context.Context, readers int) error {
	if _, err := os.Stat(b.path); err != nil {
		return fmt.Errorf("a read-only open does not create the file: %w", err)
	}
	var err error
	for _, immutable := range []bool{false, true} {
		if immutable {
			if !cannotInitWAL(err) {
				return err
			}
			if _, serr := os.Stat(b.path + "-wal"); !errors.Is(serr, fs.ErrNotExist) {
				return fmt.Errorf("SQLite cannot create %s-shm to read the write-ahead log %s-wal beside the file: %w", b.path, b.path, err)
			}
		}
		if b.reader, err = sql.Open("sqlite", readOnlyURL(b.path, b.busy, immutable, true)); err != nil {
			return err
		}
		if err = checkSchema(ctx, b.reader); err == nil {
			b.immutable = immutable
			break
		}
		_ = b.reader.Close()
		b.reader = nil
	}
	if err != nil {
		return err
	}
	b.reader.SetMaxOpenConns(readers)
	b.reader.SetMaxIdleConns(readers)
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&b.readState, sqlLoadState}, {&b.readEntry, sqlReadEntry}, {&b.readKey, sqlReadKey}, {&b.readFeed, sqlFeed}} {
		if *p.stmt, err = b.reader.PrepareContext(ctx, p.query); err != nil {
			return fmt.Errorf("prepare %q: %w", p.query, err)
		}
	}
	return nil
}

// readOnlyURL is the data source name of a read-only connection to the
// file at abs: immutable (no locks, see openReadOnly) or not; query_only,
// or not for VACUUM INTO, which query_only refuses although it writes only
// another file.
func readOnlyURL(abs string, busy time.Duration, immutable, queryOnly bool) string {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)") // of the file VACUUM INTO writes
	if queryOnly {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// cannotInitWAL reports whether err is SQLite failing to open a WAL file
// read-only for want of its shared-memory index: SQLITE_READONLY (in its
// extended forms, such as SQLITE_READONLY_DIRECTORY) or SQLITE_CANTOPEN.
func cannotInitWAL(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_READONLY || code == sqlite3.SQLITE_CANTOPEN
}

// checkSchema checks, without writing, that the file is a ledger whose
// schema this package's migrations have brought up to date.
func checkSchema(ctx context.Context, db *sql.DB) error {
	all, err := sqlmigrate.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	var n, last int
	if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(version), 0) FROM schema_migrations`).Scan(&n, &last); err != nil {
		if se := (*sqlite.Error)(nil); errors.As(err, &se) && se.Code() == sqlite3.SQLITE_ERROR {
			return fmt.Errorf("not a ledger (no schema_migrations table): %w", err)
		}
		return err
	}
	switch {
	case last > len(all):
		return fmt.Errorf("its schema is at version %d, newer than this package's (%d): upgrade github.com/avstudio/credits/sqliteledger", last, len(all))
	case last < len(all) || n != last:
		return fmt.Errorf("its schema is at version %d, this package's is %d: open it once without Options.ReadOnly to bring it up to date", last, len(all))
	}
	return nil
}

// explainBusy adds to SQLite's "database is locked" what it means for a
// Backend: another connection (of this process or another) held the
// file's write lock for longer than Options.BusyTimeout.
func (b *Backend) explainBusy(err error) error {
	if isBusy(err) {
		return fmt.Errorf("another connection (in this process or another) held the file's write lock for longer than the busy timeout (%v): %w", b.busy, err)
	}
	return err
}
