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

// Open refuses a file whose applied migration differs from the embedded
// one (its recorded checksum is not the SQL's), whichever step it is, and
// leaves the file as it was: the record is not overwritten, no step is
// applied again, and the file opens once the record matches again. A
// file from a newer release (a migration this package does not know) is
// refused too.
func TestMigrateRefusesAnEditedStep(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 7 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	db := rawDB(t, path)
	type record struct {
		version   int
		name      string
		appliedAt int64
		checksum  string
	}
	records := func() []record {
		t.Helper()
		rows, err := db.Query(`SELECT version, name, applied_at, checksum FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []record
		for rows.Next() {
			var r record
			if err := rows.Scan(&r.version, &r.name, &r.appliedAt, &r.checksum); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.Exec(query, args...); err != nil {
			t.Fatal(err)
		}
	}
	before := records()
	if len(before) < 2 {
		t.Fatalf("%d migrations recorded", len(before))
	}
	for _, r := range before {
		if len(r.checksum) != 64 {
			t.Fatalf("migration %d (%s) recorded with checksum %q", r.version, r.name, r.checksum)
		}
	}

	for _, r := range []record{before[0], before[len(before)/2], before[len(before)-1]} {
		exec(`UPDATE schema_migrations SET checksum = ? WHERE version = ?`, "edited", r.version)
		b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
		if err == nil {
			b.Close()
			t.Fatalf("Open over an edited migration %s: no error", r.name)
		}
		if !strings.Contains(err.Error(), "differs") || !strings.Contains(err.Error(), r.name) {
			t.Fatalf("Open over an edited migration %s: %v, want an error naming it", r.name, err)
		}
		after := records()
		want := append([]record(nil), before...)
		want[r.version-1].checksum = "edited"
		if len(after) != len(want) {
			t.Fatalf("after the refusal: %+v, want %+v", after, want)
		}
		for i := range want {
			if after[i] != want[i] {
				t.Fatalf("the refusal changed the record of migration %d: %+v, was %+v", want[i].version, after[i], want[i])
			}
		}
		exec(`UPDATE schema_migrations SET checksum = ? WHERE version = ?`, r.checksum, r.version)
	}

	// The record matching again, the file opens, its data as it was.
	b, err = sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatalf("Open once the records match again: %v", err)
	}
	if bal, err := credits.NewLedger(b, credits.Options{}).Balance(ctx, "a"); err != nil || bal.Total != 7*credits.Credit {
		t.Fatalf("balance %+v (%v), want 7", bal, err)
	}
	b.Close()

	// A migration from a newer release.
	exec(`INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, 0, ?)`, len(before)+1, "9999_future.sql", "future")
	if b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if err == nil {
			b.Close()
		}
		t.Fatalf("Open of a file from a newer release: %v, want an error", err)
	}
}
