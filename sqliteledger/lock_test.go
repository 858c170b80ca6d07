package sqliteledger_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// While another connection holds the file's write lock for longer than
// the busy timeout, an Update fails saying so and changes nothing, reads
// go on, and once the lock is released the same write succeeds.
func TestWriteLockHeldElsewhere(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	b := openFile(t, path, sqliteledger.Options{BusyTimeout: 100 * time.Millisecond})
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit})
	if want := "another connection (in this process or another) held the file's write lock for longer than the busy timeout (100ms)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("charge while the lock is held elsewhere: %v, want it to say: %s", err, want)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("the charge gave up after %v, before the busy timeout", waited)
	}
	if bal, err := l.Balance(ctx, "a"); err != nil || bal.Total != 5*credits.Credit {
		t.Errorf("balance while the lock is held elsewhere: %+v, %v", bal, err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if e, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit}); err != nil || e.ID != 2 {
		t.Fatalf("the charge once the lock is released: %+v, %v", e, err)
	}
	checkConsistent(t, b, "a")
}
