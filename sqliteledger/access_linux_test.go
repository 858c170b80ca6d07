package sqliteledger_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// rofsChildEnv marks the child process of TestReadOnlyFileSystem, which
// runs in a mount namespace of its own.
const rofsChildEnv = "SQLITELEDGER_ROFS_CHILD"

// A ledger on a read-only medium (a tmpfs remounted read-only, so that
// every write fails with EROFS, root's included): Open says so, and
// Options.ReadOnly reads it. Mounting needs CAP_SYS_ADMIN, so the test
// runs in a child process in a mount namespace of its own, whose mounts
// vanish with it; where it may not (not root, or a container without the
// capability), it is skipped.
func TestReadOnlyFileSystem(t *testing.T) {
	if os.Getenv(rofsChildEnv) == "" {
		if os.Geteuid() != 0 {
			t.Skip("mounting a read-only file system needs root")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyFileSystem$", "-test.count=1", "-test.v", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), rofsChildEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		switch {
		case err != nil && strings.Contains(err.Error(), "operation not permitted"):
			t.Skipf("no mount namespace of its own for the child: %v", err)
		case strings.Contains(out.String(), "--- SKIP: TestReadOnlyFileSystem"):
			t.Skipf("the child skipped:\n%s", out.String())
		case err != nil || !strings.Contains(out.String(), "--- PASS: TestReadOnlyFileSystem"):
			t.Fatalf("the child: %v\n%s", err, out.String())
		}
		t.Logf("the child, in a mount namespace of its own:\n%s", out.String())
		return
	}

	ctx := context.Background()
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(mnt, syscall.MNT_DETACH)
	path := filepath.Join(mnt, "ledger.db")
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
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "size=16m"); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a write on the read-only tmpfs: %v, want EROFS", err)
	}

	_, err = sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if want := "the file is not writable by this process (read-only file system): open it with Options.ReadOnly to read it"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open on a read-only file system: %v, want it to say: %s", err, want)
	}
	ro, err := sqliteledger.Open(ctx, path, sqliteledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open with ReadOnly on a read-only file system: %v", err)
	}
	defer ro.Close()
	rl := credits.NewLedger(ro, credits.Options{})
	if bal, err := rl.Balance(ctx, "a"); err != nil || bal.Total != 5*credits.Credit {
		t.Errorf("balance: %+v, %v", bal, err)
	}
	if p, err := rl.History(ctx, "a", credits.HistoryQuery{}); err != nil || len(p.Entries) != 1 {
		t.Errorf("history: %+v, %v", p, err)
	}
	if _, err := rl.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit}); !errors.Is(err, sqliteledger.ErrReadOnly) {
		t.Errorf("charge: %v, want ErrReadOnly", err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := ro.Backup(ctx, backup); err != nil {
		t.Fatalf("Backup from a read-only file system: %v", err)
	}
	checkConsistent(t, openFile(t, backup, sqliteledger.Options{}), "a")
}
