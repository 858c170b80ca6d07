package sqliteledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/sqliteledger"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// openFile opens a Backend on path and closes it when the test ends.
func openFile(t testing.TB, path string, opts sqliteledger.Options) *sqliteledger.Backend {
	t.Helper()
	b, err := sqliteledger.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// openTemp opens a Backend on a new file in the test's temporary directory.
func openTemp(t testing.TB) (*sqliteledger.Backend, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	return openFile(t, path, sqliteledger.Options{}), path
}

// rawDB opens the file with the plain driver, as a database console
// would, to look at what the Backend stored.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newClock is a test clock that moves only when told to, with
// nanoseconds the ledger must drop.
func newClock() *ledgertest.Clock {
	return ledgertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC))
}

// allEntries reads the account's whole history, page by page.
func allEntries(t testing.TB, b credits.Backend, account string) []credits.Entry {
	t.Helper()
	var out []credits.Entry
	after := int64(0)
	for {
		page, err := b.Entries(context.Background(), account, credits.HistoryQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatalf("Entries(%q, after %d): %v", account, after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ID
	}
}

// checkConsistent checks an account as the design's invariants say: the
// IDs run 1, 2, 3..., each entry's balance is the sum of the amounts so
// far, and the stored state is what the history rebuilds (an account
// with no entries has no state).
func checkConsistent(t testing.TB, b credits.Backend, account string) []credits.Entry {
	t.Helper()
	entries := allEntries(t, b, account)
	var sum credits.Credits
	for i, e := range entries {
		if e.ID != int64(i+1) {
			t.Fatalf("account %q: entry %d has ID %d", account, i+1, e.ID)
		}
		sum += e.Amount
		if e.BalanceAfter != sum {
			t.Fatalf("account %q: entry %d says balance %s, the amounts add up to %s", account, e.ID, e.BalanceAfter, sum)
		}
	}
	if len(entries) == 0 {
		if s, err := b.Load(context.Background(), account); err != nil || s.Version() != 0 {
			t.Fatalf("Load(%q) of an account with no entries: %v, %v; want the zero state", account, s, err)
		}
		return nil
	}
	rebuilt, err := credits.Rebuild(entries)
	if err != nil {
		t.Fatalf("account %q: %v", account, err)
	}
	stored, err := b.Load(context.Background(), account)
	if err != nil {
		t.Fatalf("Load(%q): %v", account, err)
	}
	if !stored.Equal(rebuilt) {
		t.Fatalf("account %q: the stored state (version %d) differs from its rebuilt history (version %d)", account, stored.Version(), rebuilt.Version())
	}
	return entries
}

func TestOpenCreatesSchemaOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	for range 3 {
		b, err := sqliteledger.Open(context.Background(), path, sqliteledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Path() != path {
			t.Errorf("Path() = %q, want %q", b.Path(), path)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	var versions []int
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(versions) == 0 || versions[0] != 1 {
		t.Fatalf("schema_migrations holds versions %v, want 1, 2, ...", versions)
	}
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("schema_migrations holds versions %v: applied twice or with a gap", versions)
		}
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// Processes that open a new file at the same moment must not both create
// the schema. Separate Backends have separate connections, which SQLite
// locks against each other just as it locks separate processes.
func TestOpenConcurrently(t *testing.T) {
	for round := range 4 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("race%d.db", round))
		const openers = 6
		var wg sync.WaitGroup
		errs := make([]error, openers)
		backends := make([]*sqliteledger.Backend, openers)
		start := make(chan struct{})
		for i := range openers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				backends[i], errs[i] = sqliteledger.Open(context.Background(), path, sqliteledger.Options{})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: opener %d: %v", round, i, err)
			}
		}
		// Every Backend works on the one schema.
		l := credits.NewLedger(backends[0], credits.Options{})
		if _, err := l.Grant(context.Background(), "a", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
		for i, b := range backends {
			if _, err := b.Load(context.Background(), "a"); err != nil {
				t.Errorf("round %d: Backend %d: %v", round, i, err)
			}
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		}
		var n int
		if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("round %d: migration 1 recorded %d times", round, n)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	b, path := openTemp(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var before int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := sqliteledger.Open(context.Background(), path, sqliteledger.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a file from a newer version: err = %v, want one saying the schema is newer", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != before+1 {
		t.Errorf("schema_migrations has %d rows after the refused Open, want the %d it had", n, before+1)
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		opts sqliteledger.Options
	}{
		{"", sqliteledger.Options{}},
		{":memory:", sqliteledger.Options{}},
		{"file:x.db?mode=memory", sqliteledger.Options{}},
		{filepath.Join(dir, "a.db"), sqliteledger.Options{Synchronous: "OFF"}},
		{filepath.Join(dir, "b.db"), sqliteledger.Options{Synchronous: "EXTRA"}},
		{filepath.Join(dir, "c.db"), sqliteledger.Options{BusyTimeout: -time.Second}},
		{filepath.Join(dir, "d.db"), sqliteledger.Options{MaxReaders: -1}},
	} {
		b, err := sqliteledger.Open(context.Background(), tc.path, tc.opts)
		if !errors.Is(err, credits.ErrInvalidInput) {
			t.Errorf("Open(%q, %+v): err = %v, want ErrInvalidInput", tc.path, tc.opts, err)
		}
		if b != nil {
			t.Errorf("Open(%q, %+v) returned a Backend with its error", tc.path, tc.opts)
		}
	}
	if _, err := sqliteledger.Open(context.Background(), filepath.Join(dir, "missing", "dir", "x.db"), sqliteledger.Options{}); err == nil {
		t.Error("Open in a directory that does not exist: no error")
	}
	notDB := filepath.Join(dir, "ledger.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sqliteledger.Open(context.Background(), notDB, sqliteledger.Options{}); err == nil {
		t.Error("Open of a text file: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sqliteledger.Open(ctx, filepath.Join(dir, "e.db"), sqliteledger.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestSynchronousAnyCase(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []sqliteledger.Synchronous{"", "full", "FULL", "normal", sqliteledger.SynchronousNormal} {
		b, err := sqliteledger.Open(context.Background(), filepath.Join(dir, "x.db"), sqliteledger.Options{Synchronous: s})
		if err != nil {
			t.Errorf("Synchronous %q: %v", s, err)
			continue
		}
		b.Close()
	}
}

func TestUnknownAccountAndEntry(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	if s, err := b.Load(ctx, "nobody"); err != nil || s.Version() != 0 {
		t.Errorf("Load of an unknown account: %v, %v; want the zero state", s, err)
	}
	if _, err := b.EntryByKey(ctx, "nobody", "k"); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("EntryByKey of an unknown account: err = %v, want ErrEntryNotFound", err)
	}
	if _, err := b.Entry(ctx, "nobody", 1); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("Entry of an unknown account: err = %v, want ErrEntryNotFound", err)
	}
	if es, err := b.Entries(ctx, "nobody", credits.HistoryQuery{Limit: 10}); err != nil || len(es) != 0 {
		t.Errorf("Entries of an unknown account = %v, %v; want none, no error", es, err)
	}
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{-1, 0, 2} {
		if _, err := b.Entry(ctx, "a", id); !errors.Is(err, credits.ErrEntryNotFound) {
			t.Errorf("Entry(a, %d): err = %v, want ErrEntryNotFound", id, err)
		}
	}
	// A decision that appends nothing to a new account creates nothing.
	if err := credits.UpdateOne(ctx, b, "ghost", "k", func(*credits.AccountState, *credits.Entry) ([]credits.Entry, error) {
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := rawDB(t, b.Path()).QueryRow(`SELECT count(*) FROM accounts WHERE id = 'ghost'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("an empty decision left %d rows for the account (%v), want none", rows, err)
	}
}

// tamper is a Backend that lets a test change the entries a real decision
// returns, in fields that do not move credits, before they are stored.
type tamper struct {
	*sqliteledger.Backend
	edit func([]credits.Entry)
}

func (b tamper) Update(ctx context.Context, writes []credits.Write) error {
	for i := range writes {
		for k := range writes[i].Ops {
			decide := writes[i].Ops[k].Decide
			writes[i].Ops[k].Decide = func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
				es, err := decide(s, existing)
				if err == nil {
					b.edit(es)
				}
				return es, err
			}
		}
	}
	return b.Backend.Update(ctx, writes)
}

// Entries read back are exactly what was stored, including the corners of
// each column's encoding.
func TestEntriesRoundTripExactly(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	var stored []credits.Entry
	var next func(*credits.Entry)
	tb := tamper{Backend: b, edit: func(es []credits.Entry) {
		for i := range es {
			if next != nil {
				next(&es[i])
			}
			stored = append(stored, es[i])
		}
	}}
	clk := newClock()
	l := credits.NewLedger(tb, credits.Options{Now: clk.Now})
	account := "acct/é 🚀 'quoted' \"double\""

	hashes := []uint64{0, 1, 1 << 63, 1<<64 - 1, 0x8000_0000_0000_0001}
	metas := []map[string]string{nil, {}, {"": ""}, {"note": "<b>&'\"\u2028 ünïcode 🚀"}, {"a": strings.Repeat("x", 512)}}
	for i, h := range hashes {
		next = func(e *credits.Entry) {
			e.RequestHash, e.Metadata = h, metas[i%len(metas)]
			e.Plan, e.Claim = "plan 'q' "+fmt.Sprint(i), "claim@example.com" // (Subscription is state: ledgertest covers it)
			e.Carried, e.PeriodEnd = credits.Credits(i)*credits.Credit+1, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		}
		if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: fmt.Sprintf("grant-%d", i), Amount: 1000 * credits.Credit,
			Source: credits.SourceSubscription, Priority: -7, ExpiresAt: clk.Now().Add(time.Duration(i+1) * 24 * time.Hour),
			Period: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	next = nil
	ops := []func() (credits.Entry, error){
		func() (credits.Entry, error) {
			return l.Charge(ctx, account, credits.ChargeRequest{Key: "video", Action: credits.VideoGeneration, Resolution: credits.Res4K, Quantity: 3,
				Metadata: map[string]string{"job": "j-1"}})
		},
		func() (credits.Entry, error) {
			return l.Charge(ctx, account, credits.ChargeRequest{Key: "raw", Amount: credits.MustParse("0.000001")})
		},
		func() (credits.Entry, error) {
			return l.Hold(ctx, account, credits.HoldRequest{Key: "hold", Amount: 50 * credits.Credit})
		},
		func() (credits.Entry, error) {
			return l.Capture(ctx, account, credits.CaptureRequest{Key: "capture", Hold: 8, Amount: credits.MustParse("12.5")})
		},
		func() (credits.Entry, error) {
			return l.Refund(ctx, account, credits.RefundRequest{Key: "refund", Entry: 6, Amount: credits.MustParse("0.5")})
		},
		func() (credits.Entry, error) {
			return l.Hold(ctx, account, credits.HoldRequest{Key: "hold2", Amount: credits.Credit, Deadline: clk.Now().Add(time.Minute)})
		},
	}
	for _, op := range ops {
		if _, err := op(); err != nil {
			t.Fatal(err)
		}
	}
	// Time passes: the ledger expires the hold and the first lot by
	// itself, in entries without a key.
	clk.Advance(36 * time.Hour)
	if _, err := l.Sweep(ctx, account); err != nil {
		t.Fatal(err)
	}
	if len(stored) < 13 {
		t.Fatalf("only %d entries stored", len(stored))
	}
	got := allEntries(t, b, account)
	if diff := cmp.Diff(stored, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("entries read back differ from those stored (-stored +read):\n%s", diff)
	}
	for i := range got {
		e := &got[i]
		for _, tm := range []time.Time{e.Time, e.ExpiresAt, e.Period, e.PeriodEnd} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("entry %d: time %v is not in UTC", e.ID, tm)
			}
		}
		if len(stored[i].Metadata) == 0 && e.Metadata != nil {
			t.Errorf("entry %d: metadata %#v read back as %#v, want nil", e.ID, stored[i].Metadata, e.Metadata)
		}
		one, err := b.Entry(ctx, account, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(*e, one); diff != "" {
			t.Errorf("Entry(%d) differs from the history's (-history +entry):\n%s", e.ID, diff)
		}
	}
	checkConsistent(t, b, account)
}

func TestDecisionErrorReturnedUnchangedAndNothingStored(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	before, err := b.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	sentinel := errors.New("the decision says no")
	var sawExisting *credits.Entry
	err = credits.UpdateOne(ctx, b, "a", "g", func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
		sawExisting = existing
		return nil, sentinel
	})
	if err != sentinel {
		t.Fatalf("Update returned %v, want the decision's error itself", err)
	}
	if sawExisting == nil || sawExisting.Key != "g" || sawExisting.ID != 1 {
		t.Fatalf("the decision saw existing = %+v, want entry 1 under key g", sawExisting)
	}
	// A failing operation through the ledger changes nothing either.
	_, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: "too much", Amount: 6 * credits.Credit})
	var short *credits.InsufficientCreditsError
	if !errors.As(err, &short) || short.Shortfall != credits.Credit {
		t.Fatalf("charge beyond the balance: err = %v, want a shortfall of 1", err)
	}
	after, err := b.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Error("the state changed after failed updates")
	}
	if es := checkConsistent(t, b, "a"); len(es) != 1 {
		t.Errorf("%d entries after failed updates, want 1", len(es))
	}
	// The key of the failed charge is still free.
	if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "too much", Amount: 5 * credits.Credit}); err != nil {
		t.Errorf("the key of a failed charge cannot be used again: %v", err)
	}
}

func TestDecisionPanicLeavesBackendUsable(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the decision's panic did not reach the caller")
			}
		}()
		_ = credits.UpdateOne(ctx, b, "a", "", func(*credits.AccountState, *credits.Entry) ([]credits.Entry, error) { panic("boom") })
	}()
	l := credits.NewLedger(b, credits.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write connection is still taken after a panicking decision")
	}
	checkConsistent(t, b, "a")
}

func TestIdempotentReplayAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := credits.NewLedger(b, credits.Options{})
	req := credits.GrantRequest{Key: "topup-1", Amount: 7 * credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"order": "o-1"}}
	first, err := l.Grant(ctx, "a", req)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openFile(t, path, sqliteledger.Options{})
	l = credits.NewLedger(b, credits.Options{})
	again, err := l.Grant(ctx, "a", req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("a replayed grant after reopening differs from the first (-first +replay):\n%s", diff)
	}
	req.Amount++
	if _, err := l.Grant(ctx, "a", req); !errors.Is(err, credits.ErrIdempotencyConflict) {
		t.Errorf("the same key with another request: err = %v, want ErrIdempotencyConflict", err)
	}
	if es := checkConsistent(t, b, "a"); len(es) != 1 {
		t.Errorf("%d entries, want 1", len(es))
	}
}

// Closing and reopening the file keeps every account, entry and state.
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	for _, s := range []sqliteledger.Synchronous{sqliteledger.SynchronousFull, sqliteledger.SynchronousNormal} {
		b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{Synchronous: s})
		if err != nil {
			t.Fatal(err)
		}
		l := credits.NewLedger(b, credits.Options{})
		accounts := []string{"alice", "bob", "carol"}
		for i, a := range accounts {
			if _, err := l.Grant(ctx, a, credits.GrantRequest{Key: string(s) + "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
				t.Fatal(err)
			}
			for j := range 20 + i {
				if _, err := l.Charge(ctx, a, credits.ChargeRequest{Key: fmt.Sprintf("%sc%d", s, j), Action: credits.ChatMessage}); err != nil {
					t.Fatal(err)
				}
			}
			h, err := l.Hold(ctx, a, credits.HoldRequest{Key: string(s) + "h", Amount: 4 * credits.Credit})
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				if _, err := l.Capture(ctx, a, credits.CaptureRequest{Key: string(s) + "cap", Hold: h.ID, Amount: 3 * credits.Credit}); err != nil {
					t.Fatal(err)
				}
			}
		}
		type snapshot struct {
			balance credits.Balance
			entries []credits.Entry
		}
		before := map[string]snapshot{}
		for _, a := range accounts {
			bal, err := l.Balance(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			bal.AsOf = time.Time{}
			before[a] = snapshot{bal, checkConsistent(t, b, a)}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		b2 := openFile(t, path, sqliteledger.Options{Synchronous: s})
		l2 := credits.NewLedger(b2, credits.Options{})
		for _, a := range accounts {
			bal, err := l2.Balance(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			bal.AsOf = time.Time{}
			after := snapshot{bal, checkConsistent(t, b2, a)}
			if diff := cmp.Diff(before[a], after, cmp.AllowUnexported(snapshot{})); diff != "" {
				t.Errorf("%s: account %q after reopening (-before +after):\n%s", s, a, diff)
			}
		}
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEntriesAreAppendOnly(t *testing.T) {
	b, path := openTemp(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	for i := range 3 {
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: fmt.Sprint(i), Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	for _, stmt := range []string{
		`UPDATE entries SET amount = 1000000000 WHERE account = 'a' AND id = 1`,
		`DELETE FROM entries WHERE account = 'a' AND id = 3`,
		`DELETE FROM entries`,
		`INSERT INTO entries (account, id, kind, key) VALUES ('a', 4, 'grant', '1')`, // the key is taken
		`INSERT INTO entries (account, id, kind) VALUES ('nobody', 1, 'grant')`,      // no such account
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: succeeded", stmt)
		} else if strings.HasPrefix(stmt, "UPDATE") || strings.HasPrefix(stmt, "DELETE") {
			if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only trigger's message", stmt, err)
			}
		}
	}
	if es := checkConsistent(t, b, "a"); len(es) != 3 || es[0].Amount != credits.Credit {
		t.Fatalf("the history changed: %+v", es)
	}
}

// History queries match what the in-memory reference backend answers to
// the same operations, for every combination of cursor, limit, kinds and
// time range (bounds finer than a microsecond included).
func TestEntriesQueriesMatchMemoryBackend(t *testing.T) {
	b, _ := openTemp(t)
	mem := credits.NewMemoryBackend()
	ctx := context.Background()
	var instants []time.Time
	for _, backend := range []credits.Backend{b, mem} {
		clk := newClock()
		l := credits.NewLedger(backend, credits.Options{Now: clk.Now})
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 1000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
		instants = instants[:0]
		var holds []int64
		for i := range 60 {
			clk.Advance(time.Duration(i%7) * 333 * time.Microsecond)
			instants = append(instants, clk.Now())
			var err error
			var e credits.Entry
			switch i % 5 {
			case 0, 1:
				e, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: fmt.Sprint("c", i), Action: credits.ImageGeneration})
			case 2:
				e, err = l.Hold(ctx, "a", credits.HoldRequest{Key: fmt.Sprint("h", i), Amount: 2 * credits.Credit})
				holds = append(holds, e.ID)
			case 3:
				e, err = l.Release(ctx, "a", credits.ReleaseRequest{Key: fmt.Sprint("r", i), Hold: holds[len(holds)-1]})
			case 4:
				e, err = l.Grant(ctx, "a", credits.GrantRequest{Key: fmt.Sprint("g", i), Amount: credits.Credit, Source: credits.SourceAdjustment})
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = e
		}
	}
	kindSets := [][]credits.Kind{nil, {credits.KindCharge}, {credits.KindHold, credits.KindRelease}, {credits.KindRefund}}
	bounds := []time.Time{{}, instants[0], instants[17], instants[17].Add(500 * time.Nanosecond), instants[40], instants[59].Add(time.Hour)}
	queries := 0
	lb, lm := credits.NewLedger(b, credits.Options{}), credits.NewLedger(mem, credits.Options{})
	for _, after := range []int64{0, 13, 500} {
		for _, limit := range []int{1, 1000} {
			for _, kinds := range kindSets {
				for _, since := range bounds {
					for _, until := range bounds {
						q := credits.HistoryQuery{After: after, Limit: limit, Kinds: kinds, Since: since, Until: until}
						want, err := lm.History(ctx, "a", q)
						if err != nil {
							t.Fatal(err)
						}
						got, err := lb.History(ctx, "a", q)
						if err != nil {
							t.Fatal(err)
						}
						if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
							t.Fatalf("Entries(%+v) (-memory +sqlite):\n%s", q, diff)
						}
						queries++
					}
				}
			}
		}
	}
	t.Logf("%d queries agree", queries)
}

func TestCancelledContextChangesNothing(t *testing.T) {
	b, _ := openTemp(t)
	l := credits.NewLedger(b, credits.Options{})
	bg := context.Background()
	if _, err := l.Grant(bg, "a", credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	called := false
	err := credits.UpdateOne(ctx, b, "a", "", func(*credits.AccountState, *credits.Entry) ([]credits.Entry, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update with a cancelled context: err = %v, decision called = %v; want context.Canceled, not called", err, called)
	}
	for name, read := range map[string]func() error{
		"Load":    func() error { _, err := b.Load(ctx, "a"); return err },
		"Entry":   func() error { _, err := b.Entry(ctx, "a", 1); return err },
		"Entries": func() error { _, err := b.Entries(ctx, "a", credits.HistoryQuery{Limit: 5}); return err },
	} {
		if err := read(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", name, err)
		}
	}
	// The context ends while the decision runs: nothing is stored.
	ctx, cancel = context.WithCancel(bg)
	cancelling := tamper{Backend: b, edit: func([]credits.Entry) { cancel() }}
	_, err = credits.NewLedger(cancelling, credits.Options{}).Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a charge whose context ends before commit: err = %v, want context.Canceled", err)
	}
	if es := checkConsistent(t, b, "a"); len(es) != 1 {
		t.Errorf("%d entries after cancelled updates, want 1", len(es))
	}
	if _, err := l.Charge(bg, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit}); err != nil {
		t.Errorf("the backend after a cancelled update: %v", err)
	}
}

// Readers see the last committed state while a writer is in the middle of
// its transaction, without waiting for it.
func TestReadersDoNotWaitForWriter(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	inDecision, release := make(chan struct{}), make(chan struct{})
	slow := tamper{Backend: b, edit: func([]credits.Entry) {
		close(inDecision)
		<-release
	}}
	done := make(chan error, 1)
	go func() {
		_, err := credits.NewLedger(slow, credits.Options{}).Charge(ctx, "a", credits.ChargeRequest{Key: "c", Amount: credits.Credit})
		done <- err
	}()
	<-inDecision
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	bal, err := l.Balance(rctx, "a")
	if err != nil {
		t.Fatalf("Balance while a write is in flight: %v", err)
	}
	if bal.Total != 10*credits.Credit {
		t.Errorf("Balance while a write is in flight = %s, want the committed 10", bal.Total)
	}
	if es, err := b.Entries(rctx, "a", credits.HistoryQuery{Limit: 10}); err != nil || len(es) != 1 {
		t.Errorf("Entries while a write is in flight = %d entries, %v; want the 1 committed", len(es), err)
	}
	// A second writer waits, and gives up when its context says so.
	wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer wcancel()
	if _, err := l.Charge(wctx, "b", credits.ChargeRequest{Key: "x", Amount: credits.Credit}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a writer waiting for the write connection past its deadline: err = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bal, err := l.Balance(ctx, "a"); err != nil || bal.Total != 9*credits.Credit {
		t.Errorf("Balance after the write = %s, %v; want 9", bal.Total, err)
	}
}

// Many goroutines on one Backend, and two Backends on one file (as two
// processes would), charge and hold concurrently: nothing is lost or
// applied twice, and every account stays consistent.
func TestConcurrentWriters(t *testing.T) {
	_, path := openTemp(t)
	b1 := openFile(t, path, sqliteledger.Options{})
	b2 := openFile(t, path, sqliteledger.Options{Synchronous: sqliteledger.SynchronousNormal})
	ctx := context.Background()
	accounts := []string{"shared", "x", "y"}
	const grant = 1000
	for _, a := range accounts {
		if _, err := credits.NewLedger(b1, credits.Options{}).Grant(ctx, a, credits.GrantRequest{Key: "g", Amount: grant * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}
	var spent [3]atomic.Int64
	var wg sync.WaitGroup
	const workers, each = 8, 25
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := []*sqliteledger.Backend{b1, b2}[w%2]
			l := credits.NewLedger(b, credits.Options{})
			for i := range each {
				ai := (w + i) % len(accounts)
				// Every request is sent twice, from one goroutine, to check
				// it is applied once.
				key := fmt.Sprintf("w%d-%d", w, i)
				for range 2 {
					var err error
					if i%4 == 3 {
						var h credits.Entry
						h, err = l.Hold(ctx, accounts[ai], credits.HoldRequest{Key: key, Amount: 2 * credits.Credit})
						if err == nil {
							_, err = l.Capture(ctx, accounts[ai], credits.CaptureRequest{Key: key + "cap", Hold: h.ID, Amount: credits.Credit})
						}
					} else {
						_, err = l.Charge(ctx, accounts[ai], credits.ChargeRequest{Key: key, Action: credits.ChatMessage})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
				if i%4 == 3 {
					spent[ai].Add(1)
				} else {
					spent[ai].Add(3)
				}
			}
		}()
	}
	wg.Wait()
	for i, a := range accounts {
		checkConsistent(t, b2, a)
		bal, err := credits.NewLedger(b2, credits.Options{}).Balance(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if want := credits.Credits(grant-spent[i].Load()) * credits.Credit; bal.Total != want || bal.Held != 0 {
			t.Errorf("account %q: balance %s held %s, want %s held 0", a, bal.Total, bal.Held, want)
		}
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	b, err := sqliteledger.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := b.Load(context.Background(), "a"); err == nil {
		t.Errorf("Load after Close: err = %v, want the closed file's error", err)
	}
	err = credits.UpdateOne(context.Background(), b, "a", "", func(*credits.AccountState, *credits.Entry) ([]credits.Entry, error) {
		t.Error("decision called after Close")
		return nil, nil
	})
	if err == nil {
		t.Error("Update after Close: no error")
	}
}

// Two Backends on one file take turns writing one account: each must see
// the other's writes, never a state it remembers from before them.
func TestTwoBackendsTakeTurns(t *testing.T) {
	_, path := openTemp(t)
	ctx := context.Background()
	ledgers := []*credits.Ledger{
		credits.NewLedger(openFile(t, path, sqliteledger.Options{}), credits.Options{}),
		credits.NewLedger(openFile(t, path, sqliteledger.Options{}), credits.Options{}),
	}
	if _, err := ledgers[0].Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		l := ledgers[(i/2)%2] // two writes each, so each Backend writes after itself and after the other
		e, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: credits.Credit})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != int64(i+2) || e.BalanceAfter != credits.Credits(99-i)*credits.Credit {
			t.Fatalf("charge %d: entry %d with balance %s, want entry %d with balance %d", i, e.ID, e.BalanceAfter, i+2, 99-i)
		}
	}
	b := openFile(t, path, sqliteledger.Options{})
	checkConsistent(t, b, "a")
}
