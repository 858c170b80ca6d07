package sqliteledger_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/avstudio/credits"
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

// buildLedger writes accounts accounts of perAccount entries each.
func buildLedger(path string, accounts, perAccount int) error {
	ctx := context.Background()
	be, err := sqliteledger.Open(ctx, path, sqliteledger.Options{Synchronous: sqliteledger.SynchronousNormal})
	if err != nil {
		return err
	}
	l := credits.NewLedger(be, credits.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprint("acct-", a)
			n := 0
			for n < perAccount {
				key := fmt.Sprint("k", n)
				var err error
				switch {
				case n%10 == 0:
					_, err = l.Grant(ctx, account, credits.GrantRequest{Key: key, Amount: 100 * credits.Credit, Source: credits.SourceTopUp})
					n++
				case n%10 == 5 && n+2 <= perAccount:
					var h credits.Entry
					if h, err = l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: credits.Credit}); err == nil {
						_, err = l.Capture(ctx, account, credits.CaptureRequest{Key: key + "c", Hold: h.ID, Amount: credits.Credit / 2})
					}
					n += 2
				default:
					_, err = l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: credits.Credit / 10})
					n++
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		be.Close()
		return err
	}
	return be.Close()
}
