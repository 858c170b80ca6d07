package pgledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/avstudio/credits"
)

// Rows changed behind the library's back (the append-only triggers and
// the kind check disabled) that it cannot trust make every read and write
// of their account fail with ErrCorrupt, naming it, and leave the other
// accounts working. Ledger.Verify finds every case, those the backend
// cannot tell on its own too (an entry before the last changed so that it
// still decodes), and reports nothing on the healthy ledger or of the
// other account.
func TestCorruptRowsAreRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		sql     string // $1: the account
		reads   bool   // Load and Update fail (the state is at fault), not only the entries' reads
		history bool   // an unfiltered history read fails (the entries are at fault)
	}{
		{"state bytes", `UPDATE %[1]s.accounts SET state = '{"format": 2, "last_id": ' WHERE id = $1`, true, false},
		{"state version", `UPDATE %[1]s.accounts SET version = version + 1 WHERE id = $1`, true, false},
		{"state of an older version", `UPDATE %[1]s.accounts SET version = version - 1 WHERE id = $1`, true, false},
		{"unknown kind", `UPDATE %[1]s.entries SET kind = 'gift' WHERE account = $1 AND id = 2`, false, true},
		{"metadata not strings", `UPDATE %[1]s.entries SET metadata = '{"note": 1}' WHERE account = $1 AND id = 2`, false, true},
		{"missing entry", `DELETE FROM %[1]s.entries WHERE account = $1 AND id = 2`, false, true},
		{"an entry's amount changed", `UPDATE %[1]s.entries SET amount = amount - 1000000 WHERE account = $1 AND id = 2`, false, false},
		{"an entry's metadata changed", `UPDATE %[1]s.entries SET metadata = '{"note": "y"}' WHERE account = $1 AND id = 2`, false, false},
		{"the last entry changed", `UPDATE %[1]s.entries SET amount = amount - 1000000 WHERE account = $1 AND id = 3`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, pool := newBackend(t)
			l := credits.NewLedger(b, credits.Options{})
			for _, account := range []string{"victim", "bystander"} {
				if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "c", Amount: credits.Credit, Metadata: map[string]string{"note": "x"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "d", Amount: credits.Credit}); err != nil {
					t.Fatal(err)
				}
			}
			verify := func() map[string]error {
				t.Helper()
				found := make(map[string]error)
				for _, account := range []string{"victim", "bystander"} {
					c, err := l.Verify(ctx, account)
					if err != nil {
						t.Fatalf("Verify(%s): %v", account, err)
					}
					found[account] = c.Err()
				}
				return found
			}
			if found := verify(); found["victim"] != nil || found["bystander"] != nil {
				t.Fatalf("Verify on the healthy ledger: %v", found)
			}
			tamper(t, pool, b.Schema(), tc.sql, "victim", "ALTER TABLE %[1]s.entries DROP CONSTRAINT entries_kind_check")

			found := verify()
			var vce *credits.CorruptError
			if !errors.As(found["victim"], &vce) || vce.Account != "victim" {
				t.Errorf("Verify(victim): %v, want a *CorruptError naming it", found["victim"])
			}
			if found["bystander"] != nil {
				t.Errorf("Verify(bystander): %v, want nothing", found["bystander"])
			}

			corrupt := func(what string, err error) {
				t.Helper()
				var ce *credits.CorruptError
				if !errors.Is(err, credits.ErrCorrupt) || !errors.As(err, &ce) || ce.Account != "victim" {
					t.Errorf("%s: %v, want ErrCorrupt naming the account", what, err)
				}
			}
			_, berr := l.Balance(ctx, "victim")
			_, werr := l.Charge(ctx, "victim", credits.ChargeRequest{Key: "e", Amount: credits.Credit})
			_, herr := b.Entries(ctx, "victim", credits.HistoryQuery{Limit: 100})
			if tc.reads {
				corrupt("balance", berr)
			}
			if tc.reads || tc.name == "the last entry changed" {
				corrupt("charge", werr)
			}
			if tc.history {
				corrupt("history", herr)
			}
			if tc.name == "unknown kind" || tc.name == "metadata not strings" {
				_, err := b.Entry(ctx, "victim", 2)
				corrupt("entry 2", err)
				_, err = l.Charge(ctx, "victim", credits.ChargeRequest{Key: "c", Amount: credits.Credit, Metadata: map[string]string{"note": "x"}})
				corrupt("the retry of entry 2's charge", err)
			}

			// The other account is untouched.
			if _, err := l.Charge(ctx, "bystander", credits.ChargeRequest{Key: "e", Amount: credits.Credit}); err != nil {
				t.Fatalf("bystander's charge: %v", err)
			}
			all, err := b.Entries(ctx, "bystander", credits.HistoryQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if s := checkHistory(t, b, "bystander", all); s.Version() != 4 {
				t.Errorf("bystander at version %d, want 4", s.Version())
			}
		})
	}
}
