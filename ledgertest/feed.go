package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

// testFeed checks the feed of every account's entries while writes go on:
// 8 writers on 12 accounts (grants, charges, some refused, holds and their
// captures), and 3 readers following the feed's cursor in small pages the
// whole time. Every reader sees every stored entry exactly once, each
// account's in ID order, each as Entry reads it back, and nothing else.
func testFeed(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	clock := NewClock(start)
	l := newLedger(b, clock, nil)
	accounts := make([]string, 12)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("feed-%02d ✓", i)
	}
	const writers, writes, readers = 8, 25, 3

	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range writes {
				account := accounts[rng.IntN(len(accounts))]
				key := fmt.Sprintf("w%d-%d", w, i)
				var err error
				switch rng.IntN(4) {
				case 0:
					_, err = l.Grant(ctx, account, credits.GrantRequest{Key: key, Amount: 10 * credits.Credit, Source: credits.SourceTopUp})
				case 1, 2:
					_, err = l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: credits.Credits(rng.IntN(6)+1) * credits.Credit})
				default:
					var h credits.Entry
					if h, err = l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: 2 * credits.Credit}); err == nil {
						_, err = l.Capture(ctx, account, credits.CaptureRequest{Key: key + "/c", Hold: h.ID, Amount: credits.Credit})
					}
				}
				if err != nil && !errors.Is(err, credits.ErrInsufficientCredits) {
					brokeOn(t, ruleOutcome, "%s on %q: %v", key, account, err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	seen := make([][]credits.Entry, readers)
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			seen[r] = followFeed(ctx, t, l, done, 1+r*3)
		}()
	}
	rwg.Wait()
	if t.Failed() {
		return
	}

	want := make(map[[2]any]credits.Entry)
	for _, account := range accounts {
		hist, err := history(ctx, t, l, account, credits.HistoryQuery{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range hist {
			want[[2]any{e.Account, e.ID}] = e
		}
	}
	for r, got := range seen {
		if len(got) != len(want) {
			broke(t, ruleFeedOnce, "reader %d saw %d entries in the feed; the accounts hold %d", r, len(got), len(want))
		}
		for _, e := range got {
			w, ok := want[[2]any{e.Account, e.ID}]
			if !ok {
				broke(t, ruleFeedCommitted, "reader %d saw entry %d of %q, which no account holds", r, e.ID, e.Account)
			}
			if diff := cmp.Diff(w, e, entryCmp...); diff != "" {
				broke(t, ruleFeedCommitted, "reader %d: entry %d of %q in the feed differs from the history's (-history +feed):\n%s", r, e.ID, e.Account, diff)
			}
		}
	}

	// At the end, a read from the last cursor has nothing, and says where
	// to go on from; a cursor the backend did not make is refused.
	p, err := l.Feed(ctx, "", 1000)
	for err == nil && len(p.Entries) > 0 {
		next := p.Next
		if p, err = l.Feed(ctx, next, 1000); err == nil && len(p.Entries) == 0 && p.Next != next {
			broke(t, ruleFeedOnce, "an empty page of the feed after %q says to go on from %q", next, p.Next)
		}
	}
	if err != nil {
		broke(t, ruleFeedOnce, "Feed: %v", err)
	}
	if _, err := l.Feed(ctx, "not a cursor of any backend ✗", 10); !errors.Is(err, credits.ErrInvalidInput) {
		broke(t, ruleFeedCursor, "Feed with a cursor the backend did not make: %v, want ErrInvalidInput", err)
	}
}

// followFeed reads the feed from the start in pages of size while the
// writers run (until done is closed), then to its end, checking on the
// way that no entry comes twice, that each account's come in ID order,
// and that every entry read is already readable by ID. It returns every
// entry it read, in order.
func followFeed(ctx context.Context, t *testing.T, l *credits.Ledger, done <-chan struct{}, size int) []credits.Entry {
	var all []credits.Entry
	last := make(map[string]int64)
	var cursor credits.Cursor
	finished, empties := false, 0
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		p, err := l.Feed(ctx, cursor, size)
		if err != nil {
			brokeOn(t, ruleFeedOnce, "Feed after %q: %v", cursor, err)
			return all
		}
		for _, e := range p.Entries {
			if prev, ok := last[e.Account]; ok && e.ID <= prev {
				brokeOn(t, ruleFeedOrder, "the feed gave entry %d of %q after its entry %d", e.ID, e.Account, prev)
				return all
			}
			if e.ID != last[e.Account]+1 {
				// An entry of the account was skipped: it may still come
				// (never, for a correct backend); the count at the end
				// says for sure.
				brokeOn(t, ruleFeedOnce, "the feed gave entry %d of %q after entry %d: entries in between were skipped", e.ID, e.Account, last[e.Account])
				return all
			}
			last[e.Account] = e.ID
			if got, err := l.Entry(ctx, e.Account, e.ID); err != nil {
				brokeOn(t, ruleFeedCommitted, "the feed gave entry %d of %q, which Entry cannot read: %v", e.ID, e.Account, err)
				return all
			} else if !cmp.Equal(got, e, entryCmp...) {
				brokeOn(t, ruleFeedCommitted, "the feed's entry %d of %q differs from Entry's", e.ID, e.Account)
				return all
			}
			all = append(all, e)
		}
		if len(p.Entries) > 0 {
			cursor = p.Next
			empties = 0
			continue
		}
		if finished {
			if empties++; empties >= 2 {
				return all
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// testConsumers checks Ledger.Consume on the backend's consumer records:
// two instances of one consumer never handle at once, and together hand
// every entry over once; a failed batch is handed over again; a consumer
// stopped and started again goes on where it was; and one whose holder
// died is taken over once its lease ends, from the stored position.
func testConsumers(t *testing.T, b credits.Backend) {
	ctx := context.Background()
	clock := NewClock(start)
	l := newLedger(b, clock, nil)
	opts := credits.ConsumeOptions{Batch: 7, Poll: 2 * time.Millisecond, Retry: time.Millisecond, Lease: time.Minute}
	write := func(account string, n int) {
		t.Helper()
		for i := range n {
			if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: fmt.Sprintf("g%d", i), Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("records", func(t *testing.T) {
		// The backend's compare-and-swap, directly: what a lease is
		// built on.
		until := start.Add(time.Hour).Truncate(time.Microsecond) // as the Ledger stores it
		rec, err := b.LoadConsumer(ctx, "records ✓")
		if err != nil || rec.Version != 0 {
			broke(t, ruleConsumerCAS, "LoadConsumer of a consumer never saved: %+v, %v; want version 0", rec, err)
		}
		first := credits.ConsumerRecord{Name: "records ✓", Cursor: "", Owner: "a", Until: until, Version: 1}
		if err := b.SaveConsumer(ctx, first); err != nil {
			broke(t, ruleConsumerCAS, "SaveConsumer of version 1 over none: %v", err)
		}
		if err := b.SaveConsumer(ctx, credits.ConsumerRecord{Name: "records ✓", Owner: "b", Until: until, Version: 1}); !errors.Is(err, credits.ErrConflict) {
			broke(t, ruleConsumerCAS, "SaveConsumer of version 1 over version 1: %v, want ErrConflict", err)
		}
		if err := b.SaveConsumer(ctx, credits.ConsumerRecord{Name: "records ✓", Owner: "b", Until: until, Version: 3}); !errors.Is(err, credits.ErrConflict) {
			broke(t, ruleConsumerCAS, "SaveConsumer of version 3 over version 1: %v, want ErrConflict", err)
		}
		if rec, err := b.LoadConsumer(ctx, "records ✓"); err != nil || !cmp.Equal(rec, first) {
			broke(t, ruleConsumerCAS, "LoadConsumer after refused saves: %+v, %v; want %+v", rec, err, first)
		}
	})

	t.Run("two instances", func(t *testing.T) {
		write("consumed A", 40)
		write("consumed B", 40)
		var mu sync.Mutex
		active, most := 0, 0
		handled := map[[2]any]int{}
		all := make(chan struct{})
		cctx, cancel := context.WithCancel(ctx)
		h := func(ctx context.Context, es []credits.Entry) error {
			mu.Lock()
			active++
			most = max(most, active)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			active--
			for _, e := range es {
				handled[[2]any{e.Account, e.ID}]++
			}
			if len(handled) == 80 {
				select {
				case <-all:
				default:
					close(all)
				}
			}
			return nil
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- l.Consume(cctx, "two instances", h, opts) }()
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			broke(t, ruleConsumerOnce, "two instances of a consumer handed over %d of 80 entries in 30 s", len(handled))
		}
		cancel()
		for range 2 {
			if err := <-errs; !errors.Is(err, context.Canceled) {
				broke(t, ruleConsumerOnce, "Consume returned %v after its context was cancelled, want context.Canceled", err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if most > 1 {
			broke(t, ruleConsumerExclusive, "two instances of one consumer handled batches at the same time (%d at once)", most)
		}
		for k, n := range handled {
			if n != 1 {
				broke(t, ruleConsumerOnce, "entry %d of %q was handed over %d times by instances that did not fail", k[1], k[0], n)
			}
		}
	})

	t.Run("retry and resume", func(t *testing.T) {
		// The feed holds the 80 entries above; this consumer is new.
		var got []credits.Entry
		fails := 2
		var failedOn credits.Entry
		cctx, cancel := context.WithCancel(ctx)
		h := func(ctx context.Context, es []credits.Entry) error {
			if fails > 0 && len(got) >= 20 {
				if fails == 2 {
					failedOn = es[0]
				} else if !cmp.Equal(es[0], failedOn, entryCmp...) {
					brokeOn(t, ruleConsumerRetry, "after a failure the consumer handed over entry %d of %q, not the failed batch's first, %d of %q",
						es[0].ID, es[0].Account, failedOn.ID, failedOn.Account)
				}
				fails--
				return errors.New("the handler fails")
			}
			got = append(got, es...)
			if len(got) >= 40 {
				cancel() // stop half way; the position is stored
			}
			return nil
		}
		if err := l.Consume(cctx, "resumed", h, opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume: %v", err)
		}
		if fails != 0 {
			broke(t, ruleConsumerRetry, "the handler failed, and the consumer did not hand the batch over again")
		}
		firstRun := len(got)
		cctx, cancel = context.WithCancel(ctx)
		h2 := func(ctx context.Context, es []credits.Entry) error {
			got = append(got, es...)
			if len(got) >= 80 {
				cancel()
			}
			return nil
		}
		errc := make(chan error, 1)
		go func() { errc <- l.Consume(cctx, "resumed", h2, opts) }()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Consume, again: %v", err)
			}
		case <-time.After(30 * time.Second):
			cancel()
			broke(t, ruleConsumerResume, "a restarted consumer handed over %d of the 80 entries in 30 s", len(got))
		}
		checkHandedOver(t, got, 80, fmt.Sprintf("a consumer stopped after %d entries and started again", firstRun))
	})

	t.Run("take over", func(t *testing.T) {
		// Instance A's handler never returns (a hung instance); once its
		// lease ends, B takes the consumer over from the stored position.
		stuck := make(chan struct{})
		started := make(chan struct{}, 1)
		actx, acancel := context.WithCancel(ctx)
		defer acancel()
		ha := func(ctx context.Context, es []credits.Entry) error {
			select {
			case started <- struct{}{}:
			default:
			}
			<-stuck
			return nil
		}
		aerr := make(chan error, 1)
		go func() { aerr <- l.Consume(actx, "taken over", ha, opts) }()
		<-started
		var got []credits.Entry
		bctx, bcancel := context.WithCancel(ctx)
		hb := func(ctx context.Context, es []credits.Entry) error {
			got = append(got, es...)
			if len(got) >= 80 {
				bcancel()
			}
			return nil
		}
		berr := make(chan error, 1)
		go func() { berr <- l.Consume(bctx, "taken over", hb, opts) }()
		time.Sleep(20 * time.Millisecond)
		if len(got) != 0 {
			broke(t, ruleConsumerExclusive, "a second instance handed over %d entries while the first held the lease", len(got))
		}
		clock.Advance(opts.Lease + time.Second)
		select {
		case err := <-berr:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Consume (B): %v", err)
			}
		case <-time.After(30 * time.Second):
			bcancel()
			broke(t, ruleConsumerResume, "the consumer was not taken over once its holder's lease ended (%d entries handed over)", len(got))
		}
		checkHandedOver(t, got, 80, "a consumer taken over from a hung instance")
		close(stuck) // A wakes up, finds its lease gone, and stores nothing
		acancel()
		if err := <-aerr; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume (A): %v", err)
		}
	})
}

// checkHandedOver checks that got is the n entries of the feed so far, in
// order, each once.
func checkHandedOver(t *testing.T, got []credits.Entry, n int, what string) {
	t.Helper()
	seen := map[[2]any]bool{}
	last := map[string]int64{}
	for _, e := range got {
		k := [2]any{e.Account, e.ID}
		if seen[k] {
			broke(t, ruleConsumerResume, "%s handed entry %d of %q over twice", what, e.ID, e.Account)
		}
		seen[k] = true
		if e.ID <= last[e.Account] {
			broke(t, ruleFeedOrder, "%s handed entry %d of %q over after entry %d", what, e.ID, e.Account, last[e.Account])
		}
		last[e.Account] = e.ID
	}
	if len(seen) != n {
		broke(t, ruleConsumerResume, "%s handed over %d distinct entries, want %d", what, len(seen), n)
	}
}
