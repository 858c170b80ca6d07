package sqliteledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// TestCheckLastRefusesAChangedLastEntry changes or deletes alice's last
// entry (entry 6, the refund r1) behind the library's back, the
// append-only triggers dropped, and checks that a charge of alice fails
// with ErrCorrupt naming her and stores nothing, that loading her state
// fails so too, and that bob is untouched. Before the backend checked the
// last entry with the state (credits.AccountState.CheckLast), the charge
// went through.
func TestCheckLastRefusesAChangedLastEntry(t *testing.T) {
	pristine := buildCorruptible(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"amount", `UPDATE entries SET amount = amount + 1000000 WHERE account = 'alice' AND id = 6`},
		{"balance after", `UPDATE entries SET balance_after = balance_after + 1000000 WHERE account = 'alice' AND id = 6`},
		{"metadata", `UPDATE entries SET metadata = '{"note":"changed"}' WHERE account = 'alice' AND id = 6`},
		{"key", `UPDATE entries SET key = 'r2' WHERE account = 'alice' AND id = 6`},
		{"hash", `UPDATE entries SET hash = zeroblob(32) WHERE account = 'alice' AND id = 6`},
		{"hash removed", `UPDATE entries SET hash = NULL WHERE account = 'alice' AND id = 6`},
		{"deleted", `DELETE FROM entries WHERE account = 'alice' AND id = 6`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := copyFile(t, pristine, dir)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []string{`DROP TRIGGER entries_no_update`, `DROP TRIGGER entries_no_delete`, tc.sql} {
				if res, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				} else if n, _ := res.RowsAffected(); stmt == tc.sql && n != 1 {
					t.Fatalf("%s: %d rows", stmt, n)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := fileRows(t, path)

			b := openFile(t, path, sqliteledger.Options{})
			l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return corruptT0 }})
			_, err = l.Charge(ctx, "alice", credits.ChargeRequest{Key: "new", Amount: credits.Credit})
			var ce *credits.CorruptError
			if !errors.Is(err, credits.ErrCorrupt) || !errors.As(err, &ce) || ce.Account != "alice" {
				t.Errorf("charge of alice: %v, want ErrCorrupt naming alice", err)
			}
			if _, err := b.Load(ctx, "alice"); !errors.Is(err, credits.ErrCorrupt) {
				t.Errorf("Load of alice: %v, want ErrCorrupt", err)
			}
			if after := fileRows(t, path); after != before {
				t.Errorf("the refused charge changed the file:\n\tbefore %s\n\t after %s", before, after)
			}
			if _, err := l.Charge(ctx, "bob", credits.ChargeRequest{Key: "new", Amount: credits.Credit}); err != nil {
				t.Errorf("charge of bob: %v", err)
			}
		})
	}
}

// TestCheckLastHealthy charges one account over and over, through one
// Backend (whose cache of states stays warm) and through a second one on
// the same file (which reads what the first wrote): the check of the last
// entry never refuses a healthy account, including one whose last entry
// the other Backend wrote.
func TestCheckLastHealthy(t *testing.T) {
	ctx := context.Background()
	_, path := openTemp(t)
	b1 := openFile(t, path, sqliteledger.Options{})
	b2 := openFile(t, path, sqliteledger.Options{})
	l1 := credits.NewLedger(b1, credits.Options{})
	l2 := credits.NewLedger(b2, credits.Options{})
	if _, err := l1.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 1000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		l := l1
		if i%3 == 0 {
			l = l2
		}
		if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: fmt.Sprint("k", i), Amount: credits.Credit,
			Metadata: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			t.Fatalf("charge %d: %v", i, err)
		}
	}
	if _, err := b2.Load(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	c, err := l2.Verify(ctx, "a")
	if err != nil || c.Err() != nil {
		t.Fatalf("Verify: %v, %v", err, c.Err())
	}
}

// fileRows is every row of the file's accounts and entries, as text.
func fileRows(t *testing.T, path string) string {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	var s string
	err := db.QueryRow(`SELECT (SELECT group_concat(id || ':' || version || ':' || hex(state) || ':' || coalesce(state_check, ''), ';') FROM accounts) ||
		'|' || (SELECT group_concat(account || ':' || id || ':' || amount || ':' || coalesce(metadata, ''), ';') FROM entries)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckLastWithAWarmCache changes the last entry through another
// connection while a Backend that has just written the account (and
// cached its state) holds the file open: the Backend must notice (the
// connection's data_version moved) and check the entry, refusing the
// next charge with ErrCorrupt.
func TestCheckLastWithAWarmCache(t *testing.T) {
	ctx := context.Background()
	b, path := openTemp(t)
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return corruptT0 }})
	// The other connection opens first, and the Backend's reads before
	// the writes: no connection opens between the last write and the
	// next, and only data_version tells.
	db := rawDB(t, path)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`DROP TRIGGER entries_no_update`); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if _, err := b.Load(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: credits.Credit}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE entries SET amount = amount - 1000000 WHERE account = 'a' AND id = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "after", Amount: credits.Credit}); !errors.Is(err, credits.ErrCorrupt) {
		t.Errorf("charge after the last entry changed: %v, want ErrCorrupt", err)
	}
	if _, err := b.Load(ctx, "a"); !errors.Is(err, credits.ErrCorrupt) {
		t.Errorf("Load: %v, want ErrCorrupt", err)
	}
}
