package pgledger_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// appendEntries is a decision that appends entries as given (their IDs
// following the state's version), and leaves the state as credits.Rebuild
// of all of them says. It lets a test store exactly the fields it wants.
func appendEntries(t *testing.T, prior []credits.Entry, entries ...credits.Entry) credits.Decision {
	return func(state *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
		s, err := credits.Rebuild(append(append([]credits.Entry(nil), prior...), entries...))
		if err != nil {
			t.Fatalf("test entries do not rebuild: %v", err)
		}
		*state = *s
		return entries, nil
	}
}

func TestOptionsSchema(t *testing.T) {
	for _, bad := range []string{"Credits", "1credits", "pg_credits", "information_schema", "cred-its", "cred its", `x"y`, strings.Repeat("a", 64)} {
		if _, err := pgledger.New(&pgxpool.Pool{}, pgledger.Options{Schema: bad}); !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("New with schema %q: got %v, want ErrInvalidInput", bad, err)
		}
		if err := pgledger.Migrate(context.Background(), &pgxpool.Pool{}, pgledger.Options{Schema: bad}); !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("Migrate with schema %q: got %v, want ErrInvalidInput", bad, err)
		}
	}
	b, err := pgledger.New(&pgxpool.Pool{}, pgledger.Options{})
	if err != nil || b.Schema() != pgledger.DefaultSchema {
		t.Errorf("New with no schema: %v, schema %q; want %q", err, b.Schema(), pgledger.DefaultSchema)
	}
	if _, err := pgledger.New(nil, pgledger.Options{}); err == nil {
		t.Error("New(nil pool) succeeded")
	}
}

// TestEntryRoundTrip stores entries with every field set (and with zero
// fields) and reads them back exactly: instants in UTC, zero instants as
// the zero time, empty metadata as nil, the request hash's top bit intact.
func TestEntryRoundTrip(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	zone := time.FixedZone("UTC+5", 5*3600)
	at := time.Date(2026, 3, 31, 23, 59, 59, 123456000, zone)
	full := credits.Entry{
		Account: "acct", ID: 1, Kind: credits.KindGrant, Time: at,
		Amount: 10 * credits.Credit, Held: 0, BalanceAfter: 10 * credits.Credit, Source: credits.SourceSubscription,
		Action: credits.VideoGeneration, Resolution: credits.Res4K, Quantity: 7, PriceVersion: "2026-01",
		Hold: 3, Lot: 4, Reverses: 5, Priority: -2,
		ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 1000, zone), Period: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Key: "grant-1 ключ", RequestHash: math.MaxUint64 - 1, Metadata: map[string]string{"note": `quoted "text"`, "empty": "", "nul": "a\x00b", "emoji": "🎬"},
	}
	bare := credits.Entry{Account: "acct", ID: 2, Kind: credits.KindCharge, Time: at.Add(time.Second),
		Amount: -credits.Credit, BalanceAfter: 9 * credits.Credit, Metadata: map[string]string{}}
	if err := credits.UpdateOne(ctx, b, "acct", "", appendEntries(t, nil, full, bare)); err != nil {
		t.Fatal(err)
	}
	wantFull, wantBare := full, bare
	wantFull.Time, wantFull.ExpiresAt = full.Time.UTC(), full.ExpiresAt.UTC()
	wantBare.Time, wantBare.Metadata = bare.Time.UTC(), nil

	got1, err := b.Entry(ctx, "acct", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFull, got1); d != "" {
		t.Errorf("entry 1 (-want +got):\n%s", d)
	}
	if got1.Time.Location() != time.UTC || got1.ExpiresAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %v, %v", got1.Time.Location(), got1.ExpiresAt.Location())
	}
	got2, err := b.Entry(ctx, "acct", 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantBare, got2); d != "" {
		t.Errorf("entry 2 (-want +got):\n%s", d)
	}
	if !got2.ExpiresAt.IsZero() || !got2.Period.IsZero() || got2.Metadata != nil {
		t.Errorf("zero fields read back as %v, %v, %#v", got2.ExpiresAt, got2.Period, got2.Metadata)
	}
	all, err := b.Entries(ctx, "acct", credits.HistoryQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]credits.Entry{wantFull, wantBare}, all); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}

	// The keyed entry handed to a decision is the stored one, too. (The
	// fast path may first decide it speculatively, with nil: the last
	// call is the one that counts.)
	var existing *credits.Entry
	err = credits.UpdateOne(ctx, b, "acct", full.Key, func(_ *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
		existing = e
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if existing == nil {
		t.Error("no entry under the key")
	} else if d := cmp.Diff(wantFull, *existing); d != "" {
		t.Errorf("keyed entry (-want +got):\n%s", d)
	}
	state, err := b.Load(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := credits.Rebuild([]credits.Entry{full, bare})
	if !state.Equal(want) {
		t.Error("stored state differs from Rebuild of the entries")
	}
}

func TestUnknownAccountAndMissingEntry(t *testing.T) {
	b, pool := newBackend(t)
	ctx := context.Background()
	if s, err := b.Load(ctx, "nobody"); err != nil || s.Version() != 0 {
		t.Errorf("Load of a new account: %v, %v; want the zero state", s, err)
	}
	if _, err := b.EntryByKey(ctx, "nobody", "k"); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("EntryByKey of a new account: %v, want ErrEntryNotFound", err)
	}
	// A decision that appends nothing leaves no row behind.
	var seen *credits.AccountState
	err := credits.UpdateOne(ctx, b, "nobody", "k", func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
		if existing != nil {
			t.Errorf("existing entry %v for a new account", existing)
		}
		seen = s
		return nil, nil
	})
	if err != nil || seen == nil || seen.Version() != 0 {
		t.Fatalf("Update of a new account: %v, state %v", err, seen)
	}
	if s, err := b.Load(ctx, "nobody"); err != nil || s.Version() != 0 {
		t.Errorf("Load after an empty decision: %v, %v; want the zero state", s, err)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{b.Schema()}.Sanitize()+".accounts").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("accounts rows after empty decisions: %d, %v; want 0", rows, err)
	}
	if _, err := b.Entry(ctx, "nobody", 1); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("Entry of a new account: %v, want ErrEntryNotFound", err)
	}
	if es, err := b.Entries(ctx, "nobody", credits.HistoryQuery{Limit: 5}); err != nil || len(es) != 0 {
		t.Errorf("Entries of a new account: %v, %v; want none", es, err)
	}
}

// TestDecisionErrorStoresNothing: a failed operation's error is set in
// its Op, nothing of it is stored, not even the account's new row, and
// the operations after it in the batch go on.
func TestDecisionErrorStoresNothing(t *testing.T) {
	b, pool := newBackend(t)
	ctx := context.Background()
	refused := errors.New("refused")
	grant := credits.Entry{Account: "b", ID: 1, Kind: credits.KindGrant, Time: time.Now().UTC().Truncate(time.Microsecond),
		Amount: 5, BalanceAfter: 5, Source: credits.SourceTopUp, Key: "g"}
	refuse := func(*credits.AccountState, *credits.Entry) ([]credits.Entry, error) { return nil, refused }
	if err := credits.UpdateOne(ctx, b, "a", "g", refuse); err != refused {
		t.Fatalf("UpdateOne returned %v, want decide's error itself", err)
	}
	if s, err := b.Load(ctx, "a"); err != nil || s.Version() != 0 {
		t.Errorf("Load after a refused decision: %v, %v; want the zero state", s, err)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{b.Schema()}.Sanitize()+".accounts").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("accounts rows after a refused decision: %d, %v; want 0", rows, err)
	}
	// In a batch: the refused operation and a grant of another account.
	writes := []credits.Write{
		{Account: "a", Ops: []credits.WriteOp{{Key: "x", Decide: refuse}}},
		{Account: "b", Ops: []credits.WriteOp{{Key: "g", Decide: appendEntries(t, nil, grant)}}},
	}
	if err := b.Update(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if writes[0].Ops[0].Err != refused || writes[1].Ops[0].Err != nil {
		t.Fatalf("Op errors: %v, %v; want the refusal, then none", writes[0].Ops[0].Err, writes[1].Ops[0].Err)
	}
	if _, err := b.Entry(ctx, "a", 1); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("Entry after a refused decision: %v, want ErrEntryNotFound", err)
	}
	if e, err := b.Entry(ctx, "b", 1); err != nil || e.Amount != 5 {
		t.Errorf("the other account's grant in the same batch: %+v, %v", e, err)
	}
}

// TestEntriesAreAppendOnly: the database itself refuses to change or
// remove an entry, whoever asks.
func TestEntriesAreAppendOnly(t *testing.T) {
	b, pool := newBackend(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{b.Schema(), "entries"}.Sanitize()
	for _, sql := range []string{
		"UPDATE " + table + " SET amount = amount * 2",
		"DELETE FROM " + table,
		"TRUNCATE " + table,
	} {
		if _, err := pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want an append-only error", sql, err)
		}
	}
	if e, err := b.Entry(ctx, "a", 1); err != nil || e.Amount != credits.Credit {
		t.Errorf("entry after the refused changes: %+v, %v", e, err)
	}
}

// TestLedgerOnPostgres runs the ledger's operations end to end.
func TestLedgerOnPostgres(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.ClaimFreeTier(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ClaimFreeTier(ctx, "u2", "u1@example.com"); !errors.Is(err, credits.ErrAlreadyClaimed) {
		t.Fatalf("second claim with one claim key: %v, want ErrAlreadyClaimed", err)
	}
	charge, err := l.Charge(ctx, "u1", credits.ChargeRequest{Key: "c1", Action: credits.ChatMessage})
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Charge(ctx, "u1", credits.ChargeRequest{Key: "c1", Action: credits.ChatMessage})
	if err != nil || !cmp.Equal(charge, again) {
		t.Fatalf("replayed charge: %v, %v; want %v", again, err, charge)
	}
	if _, err := l.Charge(ctx, "u1", credits.ChargeRequest{Key: "c1", Action: credits.Render}); !errors.Is(err, credits.ErrIdempotencyConflict) {
		t.Fatalf("key reused: %v, want ErrIdempotencyConflict", err)
	}
	hold, err := l.Hold(ctx, "u1", credits.HoldRequest{Key: "h1", Amount: 10 * credits.Credit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(ctx, "u1", credits.ChargeRequest{Key: "c2", Amount: 20 * credits.Credit}); !errors.Is(err, credits.ErrInsufficientCredits) {
		t.Fatalf("charge beyond available: %v, want ErrInsufficientCredits", err)
	}
	if _, err := l.Capture(ctx, "u1", credits.CaptureRequest{Key: "cap1", Hold: hold.ID, Amount: 8 * credits.Credit}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Refund(ctx, "u1", credits.RefundRequest{Key: "r1", Entry: charge.ID}); err != nil {
		t.Fatal(err)
	}
	bal, err := l.Balance(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := 30*credits.Credit - 3*credits.Credit - 8*credits.Credit + 3*credits.Credit; bal.Total != want || bal.Available != want {
		t.Errorf("balance %+v, want total and available %s", bal, want)
	}
	page, err := l.History(ctx, "u1", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindCharge, credits.KindCapture}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || page.Entries[0].ID != charge.ID || page.Entries[1].Kind != credits.KindCapture {
		t.Errorf("charges and captures: %+v", page.Entries)
	}
	all, err := b.Entries(ctx, "u1", credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, b, "u1", all)
}

// checkHistory checks an account's whole history against its stored state:
// IDs 1, 2, 3..., every BalanceAfter adding up, the balance equal to the
// sum of the amounts, and the state equal to Rebuild of the entries.
func checkHistory(t testing.TB, b credits.Backend, account string, all []credits.Entry) *credits.AccountState {
	t.Helper()
	rebuilt, err := credits.Rebuild(all)
	if err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	var sum credits.Credits
	for _, e := range all {
		sum += e.Amount
	}
	if len(all) > 0 && all[len(all)-1].BalanceAfter != sum {
		t.Errorf("account %s: balance %s, sum of entries %s", account, all[len(all)-1].BalanceAfter, sum)
	}
	stored, err := b.Load(context.Background(), account)
	if err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	if !stored.Equal(rebuilt) {
		t.Errorf("account %s: stored state differs from Rebuild of its %d entries", account, len(all))
	}
	return stored
}

// TestQueryExecModes: the backend works whatever query mode the service's
// pool uses, including the simple protocol that poolers may require.
func TestQueryExecModes(t *testing.T) {
	cfg := poolConfig(t)
	schema := pgledgertest.Schema(t, "credits_test_")
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			c := cfg.Copy()
			c.ConnConfig.DefaultQueryExecMode = mode
			b := migrated(t, newPool(t, c), schema)
			l := credits.NewLedger(b, credits.Options{})
			account := "acct-" + mode.String()
			md := map[string]string{"it's": `"quoted"`}
			g, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp, Metadata: md})
			if err != nil {
				t.Fatal(err)
			}
			if again, err := l.Grant(ctx, account, credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp, Metadata: md}); err != nil || !cmp.Equal(g, again) {
				t.Fatalf("replay: %+v, %v; want %+v", again, err, g)
			}
			h, err := l.Hold(ctx, account, credits.HoldRequest{Key: "h", Amount: 4 * credits.Credit})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Release(ctx, account, credits.ReleaseRequest{Key: "r", Hold: h.ID}); err != nil {
				t.Fatal(err)
			}
			page, err := l.History(ctx, account, credits.HistoryQuery{Kinds: []credits.Kind{credits.KindGrant}, Since: g.Time})
			if err != nil || len(page.Entries) != 1 || !cmp.Equal(page.Entries[0], g) {
				t.Fatalf("history: %+v, %v; want the grant %+v", page.Entries, err, g)
			}
			all, err := b.Entries(ctx, account, credits.HistoryQuery{Limit: 100})
			if err != nil || len(all) != 3 {
				t.Fatalf("%d entries, %v; want 3", len(all), err)
			}
			checkHistory(t, b, account, all)
		})
	}
}
