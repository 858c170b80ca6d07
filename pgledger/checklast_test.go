package pgledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/avstudio/credits"
	"github.com/jackc/pgx/v5"
)

// TestCheckLastRefusesAChangedLastEntry changes or deletes the victim's
// last entry behind the library's back (the append-only triggers
// disabled): a charge of the victim must fail with ErrCorrupt naming it
// and store nothing, while the bystander goes on. Before the backend read
// the last entry with the state and checked it
// (credits.AccountState.CheckLast), the charge went through.
func TestCheckLastRefusesAChangedLastEntry(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, sql string }{
		{"amount", `UPDATE %[1]s.entries SET amount = amount + 1000000 WHERE account = $1 AND id = 3`},
		{"metadata", `UPDATE %[1]s.entries SET metadata = '{"note": "changed"}' WHERE account = $1 AND id = 3`},
		{"hash", `UPDATE %[1]s.entries SET hash = NULL WHERE account = $1 AND id = 3`},
		{"deleted", `DELETE FROM %[1]s.entries WHERE account = $1 AND id = 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, pool := newBackend(t)
			l := credits.NewLedger(b, credits.Options{})
			for _, account := range []string{"victim", "bystander"} {
				if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "c", Amount: credits.Credit}); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Charge(ctx, account, credits.ChargeRequest{Key: "d", Amount: credits.Credit, Metadata: map[string]string{"note": "x"}}); err != nil {
					t.Fatal(err)
				}
			}
			schema := pgx.Identifier{b.Schema()}.Sanitize()
			tamper(t, pool, b.Schema(), tc.sql, "victim")
			rows := func() string {
				var s string
				q := fmt.Sprintf(`SELECT (SELECT string_agg(id || ':' || version || ':' || md5(state), ';' ORDER BY id) FROM %[1]s.accounts) || '|' ||
					(SELECT string_agg(account || ':' || id || ':' || amount, ';' ORDER BY account, id) FROM %[1]s.entries)`, schema)
				if err := pool.QueryRow(ctx, q).Scan(&s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			before := rows()
			_, err := l.Charge(ctx, "victim", credits.ChargeRequest{Key: "e", Amount: credits.Credit})
			var ce *credits.CorruptError
			if !errors.Is(err, credits.ErrCorrupt) || !errors.As(err, &ce) || ce.Account != "victim" {
				t.Errorf("charge of the victim: %v, want ErrCorrupt naming it", err)
			}
			if after := rows(); after != before {
				t.Errorf("the refused charge changed the database:\n\tbefore %s\n\t after %s", before, after)
			}
			if _, err := l.Charge(ctx, "bystander", credits.ChargeRequest{Key: "e", Amount: credits.Credit}); err != nil {
				t.Errorf("charge of the bystander: %v", err)
			}
		})
	}
}
