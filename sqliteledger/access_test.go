//go:build unix

package sqliteledger_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// The access tests open ledgers this process may not write. Root ignores
// file permissions, so as root (as in CI) a test runs itself again, in a
// child process of the test binary whose user is nobody (uid and gid
// 65534), where the kernel enforces them.

// unprivilegedChildEnv marks the child process that runs a test as nobody.
const unprivilegedChildEnv = "SQLITELEDGER_UNPRIVILEGED_CHILD"

// asNobody runs the test named test as user nobody, in a copy of the test
// binary that nobody may execute, and fails t if it fails. It reports
// false when the caller should run the test itself: it is not root, or is
// the child already.
func asNobody(t *testing.T, test string) bool {
	t.Helper()
	if os.Geteuid() != 0 || os.Getenv(unprivilegedChildEnv) != "" {
		return false
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sqliteledger-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "sqliteledger.test")
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.count=1", "-test.v", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), unprivilegedChildEnv+"=1", "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil || !strings.Contains(out.String(), "--- PASS: "+test) {
		t.Fatalf("%s as nobody: %v\n%s", test, err, out.String())
	}
	t.Logf("ran as nobody (uid 65534):\n%s", out.String())
	return true
}

// Opening a ledger this process may not write (the file, or its
// directory, where SQLite creates the write-ahead log) fails saying which
// and that Options.ReadOnly reads it; with ReadOnly, reads answer as
// before, writes fail with ErrReadOnly, and Backup works.
func TestReadOnlyPermissions(t *testing.T) {
	if asNobody(t, "TestReadOnlyPermissions") {
		return
	}
	ctx := context.Background()
	// newLedger makes a ledger of one grant in a directory of its own.
	newLedger := func(t *testing.T) (dir, path string) {
		dir = filepath.Join(t.TempDir(), "ledger")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(dir, "ledger.db")
		b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		l := credits.NewLedger(b, credits.Options{})
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // so that the test's directory can be removed
			_ = os.Chmod(dir, 0o755)
			_ = os.Chmod(path, 0o644)
		})
		return dir, path
	}
	dir, path := newLedger(t)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Skip("this process writes a file of mode 0444: it ignores file permissions")
	}

	for _, tc := range []struct {
		name            string
		fileMode, dirMo os.FileMode
		want            string // what Open without ReadOnly says
	}{
		{"read-only file", 0o444, 0o755, "the file is not writable by this process (permission denied): open it with Options.ReadOnly to read it"},
		{"read-only directory", 0o644, 0o555, "/ledger is not writable by this process (permission denied), and SQLite creates ledger.db-wal and ledger.db-shm there: open it with Options.ReadOnly"},
		{"both read-only", 0o444, 0o555, "the file is not writable by this process (permission denied)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := newLedger(t)
			if err := os.Chmod(path, tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMo); err != nil {
				t.Fatal(err)
			}
			if b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{}); err == nil {
				b.Close()
				t.Fatal("Open of a ledger this process may not write: no error")
			} else if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v\nwant it to say: %s", err, tc.want)
			}
			ro, err := sqliteledger.Open(ctx, path, sqliteledger.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("Open with ReadOnly: %v", err)
			}
			defer ro.Close()
			l := credits.NewLedger(ro, credits.Options{})
			if bal, err := l.Balance(ctx, "a"); err != nil || bal.Total != 5*credits.Credit {
				t.Errorf("balance: %+v, %v", bal, err)
			}
			if e, err := l.EntryByKey(ctx, "a", "g"); err != nil || e.Amount != 5*credits.Credit {
				t.Errorf("entry by key: %+v, %v", e, err)
			}
			if p, err := l.History(ctx, "a", credits.HistoryQuery{}); err != nil || len(p.Entries) != 1 {
				t.Errorf("history: %+v, %v", p, err)
			}
			_, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit})
			if !errors.Is(err, sqliteledger.ErrReadOnly) || !errors.Is(err, credits.ErrBackend) {
				t.Errorf("charge: %v, want ErrReadOnly", err)
			}
			backup := filepath.Join(t.TempDir(), "backup.db")
			if err := ro.Backup(ctx, backup); err != nil {
				t.Fatalf("Backup of a read-only ledger: %v", err)
			}
			cb := openFile(t, backup, sqliteledger.Options{})
			checkConsistent(t, cb, "a")
			if tc.dirMo == 0o555 {
				if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
					t.Errorf("the read-only directory after the open: %v, %v; want the ledger alone", entries, err)
				}
			}
		})
	}

	// A read-only open neither creates a file nor reads one that is not a
	// ledger.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.db")
	if _, err := sqliteledger.Open(ctx, missing, sqliteledger.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "a read-only open does not create the file") {
		t.Errorf("ReadOnly Open of a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only open created %s: %v", missing, err)
	}
	other := filepath.Join(dir, "other.db")
	db := rawDB(t, other)
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sqliteledger.Open(ctx, other, sqliteledger.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not a ledger") {
		t.Errorf("ReadOnly Open of a SQLite file that is not a ledger: %v", err)
	}
}
