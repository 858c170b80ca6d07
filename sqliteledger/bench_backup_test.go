package sqliteledger_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/sqliteledger"
)

// BenchmarkSQLiteBackup measures Backup of a ledger of 100,000 entries
// (100 accounts of 1,000: grants, charges, holds and captures), against a
// baseline run in the same process: a plain copy of the same file (read
// and written whole, then synced), which is all a backup of a file that
// nobody writes needs, and which a file in use cannot have.
//
//	BenchmarkSQLiteBackup/backup          Backend.Backup, VACUUM INTO a new file, synced
//	BenchmarkSQLiteBackup/baseline/copy   io.Copy of the file, synced
//
// The ledger is built first, each -count (about 15 s).
func BenchmarkSQLiteBackup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ledger.db")
	if err := buildLedger(path, 100, 1000); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("backup", func(b *testing.B) {
		src, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		dir := b.TempDir()
		i := 0
		b.SetBytes(info.Size())
		m := startCPU(b)
		for b.Loop() {
			i++
			dst := filepath.Join(dir, fmt.Sprint("backup-", i, ".db"))
			if err := src.Backup(ctx, dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.Remove(dst)
			b.StartTimer()
		}
		m.stop(b)
	})
	b.Run("baseline/copy", func(b *testing.B) {
		dir := b.TempDir()
		i := 0
		b.SetBytes(info.Size())
		m := startCPU(b)
		for b.Loop() {
			i++
			dst := filepath.Join(dir, fmt.Sprint("copy-", i, ".db"))
			if err := copyAndSync(path, dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.Remove(dst)
			b.StartTimer()
		}
		m.stop(b)
	})
}

func copyAndSync(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// buildLedger writes accounts accounts of perAccount entries each (see
// benchkit.Fill) to a new file at path.
func buildLedger(path string, accounts, perAccount int) error {
	ctx := context.Background()
	be, err := sqliteledger.Open(ctx, path, sqliteledger.Options{Synchronous: sqliteledger.SynchronousNormal})
	if err != nil {
		return err
	}
	if err := benchkit.Fill(ctx, credits.NewLedger(be, credits.Options{}), accounts, perAccount); err != nil {
		be.Close()
		return err
	}
	return be.Close()
}
