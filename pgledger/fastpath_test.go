package pgledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
)

// TestFastPathIsTaken runs charges one after another on a pool of one
// connection and counts, in the server's prepared statements, how the
// writes went: after the account's first write, each charge must go the
// fast way (one call of advance), none the slow way (the row lock). A
// fast path that always fell back would pass every other test.
func TestFastPathIsTaken(t *testing.T) {
	ctx := context.Background()
	b, pool, schema := onOneConnection(t)
	l := credits.NewLedger(b, credits.Options{})
	const charges = 20
	chargeOneByOne(t, l, "a", charges)
	rows, err := pool.Query(ctx, "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%'", schema)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for rows.Next() {
		var stmt string
		var n int64
		if err := rows.Scan(&stmt, &n); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(stmt, ".advance("):
			calls["advance"] += n
		case strings.Contains(stmt, "FOR UPDATE"):
			calls["lock"] += n
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The grant locks twice (no row, then the new row).
	if calls["advance"] != charges || calls["lock"] != 2 {
		t.Errorf("advance called %d times, the row locked %d times; want %d and 2", calls["advance"], calls["lock"], charges)
	}
	// A replay answers from the stored entry: the fast path finds the key
	// taken, the slow path returns the entry. (pgx forgets the statements
	// of a failed batch, so this comes after the count.)
	if e, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "c0", Amount: credits.Credit}); err != nil || e.ID != 2 {
		t.Fatalf("replay: entry %d, %v; want entry 2", e.ID, err)
	}
}

// TestFastPathIsAtomic: one Update of two accounts that the Backend
// remembers, the second of which another instance has written since. The
// fast path stores the first account's part, then finds the second's
// state stale: the whole implicit transaction must roll back, and the
// slow path store each account's entry once. Had the first part
// committed on its own, the slow path would have appended it again.
func TestFastPathIsAtomic(t *testing.T) {
	ctx := context.Background()
	cfg := poolConfig(t)
	schema := pgledgertest.Schema(t, "credits_test_")
	var backends [2]*pgledger.Backend
	for i := range backends {
		backends[i] = migrated(t, newPool(t, cfg), schema)
	}
	one, other := backends[0], backends[1]
	// committed holds each account's entries as stored; charge appends a
	// charge of a credit to whatever state it is given, from the entries
	// up to that state's version.
	committed := map[string][]credits.Entry{}
	decided := map[string]int{} // decisions of each account's charges
	charge := func(account string) credits.Decision {
		return func(state *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
			decided[account]++
			prior := committed[account][:state.Version()]
			e := credits.Entry{Account: account, ID: state.Version() + 1, Kind: credits.KindCharge,
				Time: prior[len(prior)-1].Time, Amount: -credits.Credit, BalanceAfter: prior[len(prior)-1].BalanceAfter - credits.Credit}
			next, err := credits.Rebuild(append(append([]credits.Entry(nil), prior...), e))
			if err != nil {
				return nil, err
			}
			*state = *next
			return []credits.Entry{e}, nil
		}
	}
	read := func(account string) []credits.Entry {
		all, err := other.Entries(ctx, account, credits.HistoryQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		committed[account] = all
		return all
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	for _, account := range []string{"a", "b"} {
		g := credits.Entry{Account: account, ID: 1, Kind: credits.KindGrant, Time: at, Amount: 10 * credits.Credit, BalanceAfter: 10 * credits.Credit, Source: credits.SourceTopUp}
		if err := credits.UpdateOne(ctx, one, account, "", appendEntries(t, nil, g)); err != nil {
			t.Fatal(err)
		}
		read(account)
	}
	// The other instance charges b: what one remembers of b is stale.
	if err := credits.UpdateOne(ctx, other, "b", "", charge("b")); err != nil {
		t.Fatal(err)
	}
	read("b")
	writes := []credits.Write{
		{Account: "a", Ops: []credits.WriteOp{{Decide: charge("a")}}},
		{Account: "b", Ops: []credits.WriteOp{{Decide: charge("b")}}},
	}
	if err := one.Update(ctx, writes); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if w.Ops[0].Err != nil {
			t.Fatalf("%s: %v", w.Account, w.Ops[0].Err)
		}
	}
	// Decided twice: on the fast path, then, rolled back, on the slow one.
	// (Once would mean the fast path was never tried, and this test shows
	// nothing.)
	if decided["a"] != 2 {
		t.Fatalf("a's charge was decided %d times, want 2 (fast, then slow)", decided["a"])
	}
	for account, want := range map[string]int{"a": 2, "b": 3} {
		all := read(account)
		if len(all) != want {
			t.Errorf("account %s has %d entries, want %d: the fast path's part was stored apart", account, len(all), want)
		}
		checkHistory(t, other, account, all)
	}
}
