package pgledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// commitCutter is a network connection to the server that, once armed,
// lets the next commit through and then breaks the connection before the
// server's answer can be read: the commit happens, the client sees an
// error. It cuts one commit per arming. A commit is a COMMIT statement
// (the slow path) or a batch calling advance (the fast path, one
// implicit transaction committed at the batch's end).
type commitCutter struct {
	net.Conn
	armed *atomic.Bool
	cut   atomic.Bool // the server's answers are no longer delivered
}

func (c *commitCutter) Write(b []byte) (int, error) {
	// The pool sends SQL text with every statement (QueryExecModeCacheDescribe),
	// so a commit shows in the bytes as the statement "COMMIT" or a
	// call of advance.
	commit := bytes.Contains(b, []byte("COMMIT\x00")) || bytes.Contains(b, []byte(".advance("))
	if commit && c.armed.CompareAndSwap(true, false) {
		c.cut.Store(true)
		n, err := c.Conn.Write(b)
		time.Sleep(200 * time.Millisecond) // let the server commit
		c.Conn.Close()
		return n, err
	}
	return c.Conn.Write(b)
}

func (c *commitCutter) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.cut.Load() {
		return 0, net.ErrClosed
	}
	return n, err
}

// TestAmbiguousCommit covers the case a client cannot tell from a
// failure: the commit happened, but the connection broke before its
// answer arrived. Retrying with the same idempotency key must return the
// entry the lost commit stored, and store nothing more. It also covers the
// other side: a connection that dies mid-transaction stores nothing.
func TestAmbiguousCommit(t *testing.T) {
	cfg := poolConfig(t)
	schema := pgledgertest.Schema(t, "credits_test_")
	opts := pgledger.Options{Schema: schema}
	ctx := context.Background()
	observer := newPool(t, cfg)
	if err := pgledger.Migrate(ctx, observer, opts); err != nil {
		t.Fatal(err)
	}
	observed, err := pgledger.New(observer, opts)
	if err != nil {
		t.Fatal(err)
	}

	var armed atomic.Bool
	faulty := cfg.Copy()
	faulty.MaxConns = 1
	faulty.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	faulty.ConnConfig.RuntimeParams["application_name"] = "pgledger-ambiguous-" + schema
	// In plain text, so the cutter can see the statements go by.
	faulty.ConnConfig.TLSConfig, faulty.ConnConfig.Fallbacks = nil, nil
	faulty.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &commitCutter{Conn: c, armed: &armed}, nil
	}
	backend, err := pgledger.New(newPool(t, faulty), opts)
	if err != nil {
		t.Fatal(err)
	}
	l := credits.NewLedger(backend, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "seed", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}

	// The charges go the fast way (the Backend stored the account's
	// state), then the slow way. Before each, a charge has the connection
	// (a new one after a cut) describe the statements, whose text the
	// cutter would otherwise take for a commit.
	for i, path := range []string{"fast path", "slow path"} {
		t.Run("commit happened, client saw an error/"+path, func(t *testing.T) {
			if i == 1 {
				pgledger.SlowPathOnly(backend)
			}
			if _, err := l.Charge(ctx, "a", credits.ChargeRequest{Key: "warm-up " + path, Action: credits.Render}); err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			charge := credits.ChargeRequest{Key: "lost-answer " + path, Action: credits.Render}
			_, err := l.Charge(ctx, "a", charge)
			if err == nil || armed.Load() {
				t.Fatalf("the cut commit returned %v (armed still %v), want an error", err, armed.Load())
			}
			stored, err := observed.Entry(ctx, "a", int64(3+2*i))
			if err != nil || stored.Key != charge.Key {
				t.Fatalf("the commit did not happen (%+v, %v): the test shows nothing", stored, err)
			}
			replay, err := l.Charge(ctx, "a", charge)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if replay.ID != stored.ID || !replay.Time.Equal(stored.Time) || replay.Amount != stored.Amount {
				t.Errorf("retry returned %+v, want the stored %+v", replay, stored)
			}
			all, err := observed.Entries(ctx, "a", credits.HistoryQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 3+2*i {
				t.Errorf("%d entries, want the seed and %d charges", len(all), 2+2*i)
			}
			checkHistory(t, observed, "a", all)
		})
	}

	t.Run("connection killed mid-transaction", func(t *testing.T) {
		// The decision kills its own session from outside, then the
		// update tries to append and commit on a dead connection.
		killed := false
		err := credits.UpdateOne(ctx, backend, "a", "never", func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
			if !killed {
				killed = true
				var n int
				err := observer.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
					faulty.ConnConfig.RuntimeParams["application_name"]).Scan(&n)
				if err != nil || n != 1 {
					t.Errorf("terminate: %d sessions, %v", n, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			before, err := observed.Entries(ctx, "a", credits.HistoryQuery{Limit: 100})
			if err != nil {
				return nil, err
			}
			e := credits.Entry{Account: "a", ID: s.Version() + 1, Kind: credits.KindCharge, Time: time.Now().UTC().Truncate(time.Microsecond),
				Amount: -credits.Credit, BalanceAfter: before[len(before)-1].BalanceAfter - credits.Credit, Key: "never"}
			next, err := credits.Rebuild(append(before, e))
			if err != nil {
				return nil, err
			}
			*s = *next
			return []credits.Entry{e}, nil
		})
		if err == nil {
			t.Fatal("update on a terminated session succeeded")
		}
		all, err := observed.Entries(ctx, "a", credits.HistoryQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Errorf("%d entries after the killed transaction, want 5 (nothing half-done)", len(all))
		}
		checkHistory(t, observed, "a", all)
	})
}

// TestFaultsLoseNothing runs charges, holds, captures and releases on a
// few accounts from two pools while a third pool terminates their server
// sessions at random and some attempts get contexts that expire at random
// moments. Every operation is retried with its idempotency key until it
// succeeds. At the end no operation is lost, none is applied twice, every
// retry returned what is stored, and each account's balance is the sum
// of its entries.
func TestFaultsLoseNothing(t *testing.T) {
	cfg := poolConfig(t)
	schema := pgledgertest.Schema(t, "credits_test_")
	opts := pgledger.Options{Schema: schema}
	ctx := context.Background()
	app := "pgledger-fault-" + schema
	var ledgers [2]*credits.Ledger
	for i := range ledgers {
		c := cfg.Copy()
		c.MaxConns = 4
		c.ConnConfig.RuntimeParams["application_name"] = app
		pool := newPool(t, c)
		if err := pgledger.Migrate(ctx, pool, opts); err != nil {
			t.Fatal(err)
		}
		b, err := pgledger.New(pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		ledgers[i] = credits.NewLedger(b, credits.Options{})
	}
	chaos := newPool(t, cfg)
	observed, _ := pgledger.New(chaos, opts)

	accounts := []string{"a", "b", "c"}
	for _, a := range accounts {
		if _, err := ledgers[0].Grant(ctx, a, credits.GrantRequest{Key: "seed", Amount: 100_000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}

	// Chaos: terminate one of the workers' sessions every few milliseconds.
	stop := make(chan struct{})
	var terminated atomic.Int64
	var chaosDone sync.WaitGroup
	chaosDone.Add(1)
	go func() {
		defer chaosDone.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
			}
			var n int64
			err := chaos.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM
				(SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY random() LIMIT 1) s`, app).Scan(&n)
			if err != nil {
				t.Errorf("terminate: %v", err)
				return
			}
			terminated.Add(n)
		}
	}()

	type result struct {
		entry    credits.Entry
		attempts int
		replayed bool // an earlier, failed attempt had committed it
	}
	var (
		mu      sync.Mutex
		results = map[string]result{} // "account/key" -> what the caller got
	)
	// do retries op with fresh contexts until it succeeds; a third of
	// the attempts get a context that runs out after 0 to 3ms, at a random
	// point of the operation. It reports false if op failed for good.
	do := func(account, key string, op func(context.Context) (credits.Entry, error)) (credits.Entry, bool) {
		for attempt := 1; ; attempt++ {
			start := time.Now().UTC().Truncate(time.Microsecond)
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if rand.IntN(3) == 0 {
				cancel()
				actx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
			}
			e, err := op(actx)
			cancel()
			if err == nil {
				mu.Lock()
				results[account+"/"+key] = result{e, attempt, attempt > 1 && e.Time.Before(start)}
				mu.Unlock()
				return e, true
			}
			for _, rule := range []error{credits.ErrInvalidInput, credits.ErrInsufficientCredits, credits.ErrIdempotencyConflict,
				credits.ErrHoldNotFound, credits.ErrHoldClosed, credits.ErrNotRefundable, credits.ErrUnknownAccount} {
				if errors.Is(err, rule) {
					t.Errorf("%s/%s attempt %d: %v", account, key, attempt, err)
					return credits.Entry{}, false
				}
			}
			if attempt == 500 {
				t.Errorf("%s/%s: still failing after %d attempts: %v", account, key, attempt, err)
				return credits.Entry{}, false
			}
		}
	}

	const workers, opsPerWorker = 6, 24
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[w%2]
			for i := 0; i < opsPerWorker; i++ {
				account := accounts[rand.IntN(len(accounts))]
				key := fmt.Sprintf("w%d-%d", w, i)
				ok := true
				switch i % 3 {
				case 0:
					_, ok = do(account, key, func(c context.Context) (credits.Entry, error) {
						return l.Charge(c, account, credits.ChargeRequest{Key: key, Action: credits.MusicGeneration})
					})
				case 1:
					amount := credits.Credits(1+rand.IntN(50)) * credits.Credit / 10
					_, ok = do(account, key, func(c context.Context) (credits.Entry, error) {
						return l.Charge(c, account, credits.ChargeRequest{Key: key, Amount: amount})
					})
				case 2:
					var h credits.Entry
					h, ok = do(account, key, func(c context.Context) (credits.Entry, error) {
						return l.Hold(c, account, credits.HoldRequest{Key: key, Amount: 12 * credits.Credit})
					})
					if ok && i%2 == 0 {
						_, ok = do(account, key+"-capture", func(c context.Context) (credits.Entry, error) {
							return l.Capture(c, account, credits.CaptureRequest{Key: key + "-capture", Hold: h.ID, Amount: 7 * credits.Credit})
						})
					} else if ok {
						_, ok = do(account, key+"-release", func(c context.Context) (credits.Entry, error) {
							return l.Release(c, account, credits.ReleaseRequest{Key: key + "-release", Hold: h.ID})
						})
					}
				}
				if !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	chaosDone.Wait()
	if t.Failed() {
		return
	}

	retried, replays := 0, 0
	for _, r := range results {
		if r.attempts > 1 {
			retried++
		}
		if r.replayed {
			replays++
		}
	}
	stored := 0
	for _, a := range accounts {
		all, err := observed.Entries(ctx, a, credits.HistoryQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		checkHistory(t, observed, a, all) // on a pool the chaos never touched
		seen := map[string]bool{}
		for _, e := range all {
			if e.Key == "seed" {
				continue
			}
			if e.Key == "" {
				t.Errorf("account %s: unexpected ledger-made entry %+v", a, e)
				continue
			}
			if seen[e.Key] {
				t.Errorf("account %s: key %q applied twice", a, e.Key)
			}
			seen[e.Key] = true
			stored++
			r, ok := results[a+"/"+e.Key]
			if !ok {
				t.Errorf("account %s: entry %d under key %q that no operation got", a, e.ID, e.Key)
				continue
			}
			if r.entry.ID != e.ID || r.entry.Amount != e.Amount || r.entry.Held != e.Held || !r.entry.Time.Equal(e.Time) {
				t.Errorf("account %s, key %q: the caller got %+v, stored is %+v", a, e.Key, r.entry, e)
			}
		}
	}
	if stored != len(results) {
		t.Errorf("%d operations succeeded, %d stored: operations lost", len(results), stored)
	}
	t.Logf("%d operations, %d needed retries, %d retries found their first attempt committed; %d sessions terminated",
		len(results), retried, replays, terminated.Load())
	if retried == 0 || terminated.Load() == 0 {
		t.Errorf("no faults happened (%d retried, %d terminated): the test shows nothing", retried, terminated.Load())
	}
}
