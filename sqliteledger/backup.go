package sqliteledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/avstudio/credits"
)

// Backup writes a copy of the ledger to a new file at dst, while the
// Backend goes on serving reads and writes: the copy is one consistent
// snapshot of the file, every operation committed before Backup started
// and none half-applied. It is SQLite's VACUUM INTO, run on a read-only
// connection of its own, so it takes no lock that a writer waits for (in
// WAL mode, readers and the writer do not block each other); the copy is
// compact (no free pages), in rollback-journal mode so that it can be read
// from read-only media (see [Options.ReadOnly]), and synced to disk before
// Backup returns. [Open] opens it as a ledger like any other.
//
// dst must not exist (Backup never overwrites a file) and must not be the
// Backend's own file; its directory must exist. The copy is written to a
// temporary file beside dst and renamed into place when complete, so that
// dst is never a partial backup: a failed or cancelled Backup leaves
// nothing behind. ctx bounds the copy.
func (b *Backend) Backup(ctx context.Context, dst string) error {
	if dst == "" || dst == ":memory:" || strings.HasPrefix(dst, "file:") {
		return &credits.InputError{Field: "dst", Value: dst, Reason: "must be the path of a file (not empty, :memory: or a URI)"}
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("sqliteledger: backup to %s: %w", dst, err)
	}
	if abs == b.path {
		return &credits.InputError{Field: "dst", Value: dst, Reason: "is the ledger's own file"}
	}
	if _, err := os.Lstat(abs); err == nil {
		return &credits.InputError{Field: "dst", Value: dst, Reason: "already exists: a backup never overwrites a file"}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqliteledger: backup to %s: %w", dst, err)
	}
	if err := b.backup(ctx, abs); err != nil {
		return fmt.Errorf("sqliteledger: backup %s to %s: %w", b.path, dst, corrupt("", err))
	}
	return nil
}

func (b *Backend) backup(ctx context.Context, dst string) (err error) {
	dir := filepath.Dir(dst)
	// An empty file, which VACUUM INTO accepts, reserves the temporary
	// name.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	if err := tmp.Close(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmpName)
		}
	}()

	db, err := sql.Open("sqlite", readOnlyURL(b.path, b.busy, b.immutable, false))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmpName); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := syncFile(tmpName); err != nil {
		return err
	}
	// A hard link puts the copy at dst only if nothing is there; where
	// hard links are not supported, a rename (which would replace a file
	// created at dst since the check in Backup) does.
	if err := os.Link(tmpName, dst); err == nil {
		err = os.Remove(tmpName)
		if err != nil {
			return err
		}
	} else if errors.Is(err, fs.ErrExist) {
		return &credits.InputError{Field: "dst", Value: dst, Reason: "was created while the backup ran: a backup never overwrites a file"}
	} else if err := os.Rename(tmpName, dst); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil // a directory cannot be synced there
	}
	return syncFile(dir)
}

// syncFile flushes the file or directory at path to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
