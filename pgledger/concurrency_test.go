package pgledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// TestTwoInstancesOneAccount: two pools, standing for two service
// instances, hammer one account with charges, holds and captures, some of
// which the account cannot cover. The end state is one that a serial
// order of the acknowledged operations gives: the history rebuilds, entry
// by entry, into the stored state; the balance is the sum of the entries;
// every acknowledged operation is in it exactly once, as acknowledged; no
// refused one is.
func TestTwoInstancesOneAccount(t *testing.T) {
	cfg := poolConfig(t)
	schema := pgledgertest.Schema(t, "credits_test_")
	ctx := context.Background()
	var ledgers [2]*credits.Ledger
	var backends [2]*pgledger.Backend
	for i := range ledgers {
		b := migrated(t, newPool(t, cfg), schema)
		backends[i], ledgers[i] = b, credits.NewLedger(b, credits.Options{})
	}
	const account = "hot"
	if _, err := ledgers[0].Grant(ctx, account, credits.GrantRequest{Key: "seed", Amount: 2000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}

	const workers, opsPerWorker = 8, 25
	var (
		mu      sync.Mutex
		acked   = map[string]credits.Entry{} // key -> the entry the caller was given
		refused = map[string]bool{}
	)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[w%2]
			record := func(key string, e credits.Entry, err error) bool {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					acked[key] = e
					return true
				case errors.Is(err, credits.ErrInsufficientCredits):
					refused[key] = true
				default:
					t.Errorf("%s: %v", key, err)
				}
				return false
			}
			for i := 0; i < opsPerWorker; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				switch i % 3 {
				case 0, 1:
					e, err := l.Charge(ctx, account, credits.ChargeRequest{Key: key, Action: credits.VideoGeneration, Resolution: credits.Res1080p})
					record(key, e, err)
				case 2:
					h, err := l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: 15 * credits.Credit})
					if record(key, h, err) {
						e, err := l.Capture(ctx, account, credits.CaptureRequest{Key: key + "-capture", Hold: h.ID, Amount: 5 * credits.Credit})
						record(key+"-capture", e, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	all, err := backends[1].Entries(ctx, account, credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, backends[0], account, all)
	byKey := map[string]int{}
	for _, e := range all {
		if e.Key == "" || e.Key == "seed" {
			continue
		}
		byKey[e.Key]++
		want, ok := acked[e.Key]
		switch {
		case !ok:
			t.Errorf("entry %d under key %q was never acknowledged (refused: %v)", e.ID, e.Key, refused[e.Key])
		case byKey[e.Key] > 1:
			t.Errorf("key %q applied %d times", e.Key, byKey[e.Key])
		case want.ID != e.ID || want.Amount != e.Amount || want.BalanceAfter != e.BalanceAfter:
			t.Errorf("key %q: acknowledged %+v, stored %+v", e.Key, want, e)
		}
	}
	for key := range acked {
		if byKey[key] != 1 {
			t.Errorf("acknowledged key %q is stored %d times", key, byKey[key])
		}
	}
	if len(refused) == 0 || len(acked) < 10 {
		t.Errorf("the load should both succeed and run out of credits: %d acknowledged, %d refused", len(acked), len(refused))
	}
	t.Logf("%d operations acknowledged, %d refused for lack of credits, %d entries", len(acked), len(refused), len(all))
}

// TestAccountsDoNotBlockEachOther: while another session holds one
// account's row lock, an update of another account goes through at once,
// and an update of the locked account waits, and gives up with its
// context, storing nothing.
func TestAccountsDoNotBlockEachOther(t *testing.T) {
	b, pool := newBackend(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	for _, a := range []string{"locked", "free"} {
		if _, err := l.Grant(ctx, a, credits.GrantRequest{Key: "g", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{b.Schema(), "accounts"}.Sanitize()+" WHERE id = 'locked' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	free, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l.Charge(free, "free", credits.ChargeRequest{Key: "c", Amount: credits.Credit}); err != nil {
		t.Fatalf("charge of another account while one is locked: %v", err)
	}

	waiting, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err = l.Charge(waiting, "locked", credits.ChargeRequest{Key: "c", Amount: credits.Credit})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("charge of the locked account: %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("gave up after %v, before its deadline", waited)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	bal, err := l.Balance(ctx, "locked")
	if err != nil || bal.Total != 10*credits.Credit || bal.Version != 1 {
		t.Errorf("locked account after the timed-out charge: %+v, %v; want untouched", bal, err)
	}
	// The key is free: the timed-out charge stored nothing.
	if e, err := l.Charge(ctx, "locked", credits.ChargeRequest{Key: "c", Amount: 2 * credits.Credit}); err != nil || e.Amount != -2*credits.Credit {
		t.Errorf("charge after the lock is gone: %+v, %v", e, err)
	}
}
