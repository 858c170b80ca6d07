package credits_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// countingBackend counts Updates and the operations in them, and fails
// every Update whose number fail says, as a lost connection at commit.
type countingBackend struct {
	*credits.MemoryBackend
	updates, ops, biggest atomic.Int64
	fail                  func(n int64) bool
	slow                  time.Duration
}

var errCommit = errors.New("the connection broke at commit")

func (b *countingBackend) Update(ctx context.Context, writes []credits.Write) error {
	n := b.updates.Add(1)
	ops := 0
	for _, w := range writes {
		ops += len(w.Ops)
	}
	b.ops.Add(int64(ops))
	for {
		big := b.biggest.Load()
		if int64(ops) <= big || b.biggest.CompareAndSwap(big, int64(ops)) {
			break
		}
	}
	time.Sleep(b.slow) // a commit takes a while: writes queue behind it
	if b.fail != nil && b.fail(n) {
		return errCommit
	}
	return b.MemoryBackend.Update(ctx, writes)
}

// Writes of one account that arrive while one is in flight go together
// in the next Update, each with its own result.
func TestGroupCommitBatchesAHotAccount(t *testing.T) {
	b := &countingBackend{MemoryBackend: credits.NewMemoryBackend(), slow: time.Millisecond}
	l := credits.NewLedger(b, credits.Options{})
	ctx := context.Background()
	if _, err := l.Grant(ctx, "hot", credits.GrantRequest{Key: "seed", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 2 credits each: 50 of the 64 fit; the rest are refused, alone.
			_, errs[i] = l.Charge(ctx, "hot", credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: 2 * credits.Credit})
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, credits.ErrInsufficientCredits):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if ok != 50 || refused != 14 {
		t.Fatalf("%d charges succeeded and %d were refused; want 50 and 14", ok, refused)
	}
	if b.biggest.Load() < 2 || b.updates.Load() >= n {
		t.Fatalf("%d Updates for %d charges, the biggest of %d: no batching", b.updates.Load(), n+1, b.biggest.Load())
	}
	p, err := l.History(ctx, "hot", credits.HistoryQuery{Limit: 1000})
	if err != nil || len(p.Entries) != 51 {
		t.Fatalf("history: %d entries (%v), want the seed and 50 charges", len(p.Entries), err)
	}
	t.Logf("%d charges in %d Updates (at most %d in one)", n, b.updates.Load()-1, b.biggest.Load())
}

// An Update that fails stores nothing of its batch, and every write in it
// gets the error; the writes of other batches are not affected.
func TestGroupCommitFailureFailsTheWholeBatch(t *testing.T) {
	b := &countingBackend{MemoryBackend: credits.NewMemoryBackend(), slow: time.Millisecond, fail: func(n int64) bool { return n%3 == 0 }}
	l := credits.NewLedger(b, credits.Options{})
	ctx := context.Background()
	for {
		if _, err := l.Grant(ctx, "hot", credits.GrantRequest{Key: "seed", Amount: 1000 * credits.Credit, Source: credits.SourceTopUp}); err == nil {
			break
		}
	}
	const n = 48
	var wg sync.WaitGroup
	got := make([]credits.Entry, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = l.Charge(ctx, "hot", credits.ChargeRequest{Key: fmt.Sprint("c", i), Amount: credits.Credit})
		}()
	}
	wg.Wait()
	p, err := l.History(ctx, "hot", credits.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range p.Entries[1:] {
		stored[e.Key] = true
	}
	failed := 0
	for i, err := range errs {
		key := fmt.Sprint("c", i)
		switch {
		case err == nil && !stored[key]:
			t.Errorf("charge %s succeeded but is not in the history", key)
		case err != nil && stored[key]:
			t.Errorf("charge %s failed (%v) but is in the history", key, err)
		case err != nil && !errors.Is(err, errCommit):
			t.Errorf("charge %s: %v, want the commit's error", key, err)
		case err != nil:
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no batch failed: the test did not test anything")
	}
	if bal, _ := l.Balance(ctx, "hot"); bal.Total != 1000*credits.Credit-credits.Credits(len(stored))*credits.Credit {
		t.Errorf("balance %s after %d charges stored", bal.Total, len(stored))
	}
}

// A lone write goes at once, in an Update of its own: no timer, no wait.
func TestGroupCommitLoneWriteGoesAlone(t *testing.T) {
	b := &countingBackend{MemoryBackend: credits.NewMemoryBackend()}
	l := credits.NewLedger(b, credits.Options{})
	ctx := context.Background()
	for i := range 10 {
		if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: fmt.Sprint("g", i), Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}
	if b.updates.Load() != 10 || b.biggest.Load() != 1 {
		t.Fatalf("10 writes one after another made %d Updates, the biggest of %d", b.updates.Load(), b.biggest.Load())
	}
}
