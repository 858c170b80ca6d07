package sqliteledger_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/legacytest"
	"github.com/avstudio/credits/internal/sqlentry"
	"github.com/avstudio/credits/sqliteledger"
)

// A file written by a release before v0.1.0 (schema version 1, the
// ledger's own data in metadata, states in format 1, no migration
// checksums) opens: the migration moves that data into its columns, the
// states are rebuilt from the history when next used, and the ledger goes
// on from where it was.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawDB(t, path)
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(init)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;
		INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	accounts, err := legacytest.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	const columns = `account, id, kind, time, amount, held, balance_after, source, action, resolution, quantity,
		price_version, hold, lot, reverses, priority, expires_at, period, key, request_hash, metadata`
	for _, a := range accounts {
		if _, err := db.Exec(`INSERT INTO accounts (id, version, state) VALUES (?, ?, ?)`, a.Name, len(a.Entries), a.State); err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Entries {
			args, err := legacyArgs(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO entries (`+columns+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", 21), ", ")+`)`, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	b, err := sqliteledger.Open(context.Background(), path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	legacytest.Check(t, b, accounts)

	var missing int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM schema_migrations WHERE checksum = ''`).Scan(&missing); err != nil || missing != 0 {
		t.Errorf("%d migrations without a checksum after Open (%v)", missing, err)
	}
}

// legacyArgs are e's values for the 21 columns of schema version 1.
func legacyArgs(e credits.Entry) ([]any, error) {
	r, err := sqlentry.Encode(&e)
	if err != nil {
		return nil, err
	}
	us := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	}
	var md any
	if r.Metadata != nil {
		md = string(r.Metadata)
	}
	return []any{r.Account, r.ID, r.Kind, us(r.Time), r.Amount, r.Held, r.BalanceAfter, r.Source, r.Action, r.Resolution, r.Quantity,
		r.PriceVersion, r.Hold, r.Lot, r.Reverses, int64(r.Priority), us(r.ExpiresAt), us(r.Period), r.Key, r.RequestHash, md}, nil
}
