package ledgertest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// Backends with one planted bug each. The suite must fail on every one,
// naming the rule the bug breaks.

// opByOp runs each operation of writes as an Update of its own, through
// update, a backend that takes one decision at a time: the shape most
// planted bugs are easiest to write in.
func opByOp(ctx context.Context, writes []credits.Write, update func(ctx context.Context, account, key string, decide credits.Decision) error) error {
	for _, w := range writes {
		for k := range w.Ops {
			op := &w.Ops[k]
			var decided error
			err := update(ctx, w.Account, op.Key, func(s *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
				es, err := op.Decide(s, e)
				decided = err
				return es, err
			})
			switch {
			case decided != nil:
				op.Err = decided
			case err != nil:
				return err
			}
		}
	}
	return nil
}

// sameStart decides every operation of a batch on the state the batch
// started from, instead of on the state the operation before it left.
type sameStart struct{ *credits.MemoryBackend }

func (b sameStart) Update(ctx context.Context, writes []credits.Write) error {
	for i := range writes {
		var start *credits.AccountState
		for k := range writes[i].Ops {
			op := &writes[i].Ops[k]
			decide := op.Decide
			op.Decide = func(s *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
				if start == nil {
					start = s.Clone()
				}
				work := start.Clone()
				es, err := decide(work, e)
				if err == nil {
					*s = *work
				}
				return es, err
			}
		}
	}
	return b.MemoryBackend.Update(ctx, writes)
}

// forgetsKeys never finds the entry stored under a key: every retry is
// applied again.
type forgetsKeys struct{ *credits.MemoryBackend }

func (b forgetsKeys) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b forgetsKeys) update1(ctx context.Context, account, _ string, decide credits.Decision) error {
	return credits.UpdateOne(ctx, b.MemoryBackend, account, "", decide)
}

// losesState appends the entries but stores the state it loaded, not the
// one the decision left.
type losesState struct{ *credits.MemoryBackend }

func (b losesState) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b losesState) update1(ctx context.Context, account, key string, decide credits.Decision) error {
	return credits.UpdateOne(ctx, b.MemoryBackend, account, key, func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
		return decide(s.Clone(), existing)
	})
}

// skipsEntries has an off-by-one cursor: a page after the first starts one
// entry late.
type skipsEntries struct{ *credits.MemoryBackend }

func (b skipsEntries) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	if q.After > 0 {
		q.After++
	}
	return b.MemoryBackend.Entries(ctx, account, q)
}

// unserialized decides on a state it loaded outside the write: two
// concurrent writers of one account both decide on the same version.
type unserialized struct{ *credits.MemoryBackend }

func (b unserialized) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b unserialized) update1(ctx context.Context, account, key string, decide credits.Decision) error {
	state, err := b.Load(ctx, account)
	if errors.Is(err, credits.ErrUnknownAccount) {
		state, err = &credits.AccountState{}, nil
	}
	if err != nil {
		return err
	}
	var existing *credits.Entry
	if key != "" {
		all, err := b.Entries(ctx, account, credits.HistoryQuery{Limit: 1 << 30})
		if err != nil {
			return err
		}
		for i := range all {
			if all[i].Key == key {
				existing = &all[i]
			}
		}
	}
	entries, err := decide(state, existing)
	if err != nil {
		return err
	}
	runtime.Gosched() // let another writer in, as a slow network would
	return credits.UpdateOne(ctx, b.MemoryBackend, account, "", func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
		*s = *state
		return entries, nil
	})
}

// localTimes reads entries back in a time zone other than UTC.
type localTimes struct{ *credits.MemoryBackend }

var elsewhere = time.FixedZone("UTC+2", 2*3600)

func (b localTimes) Entry(ctx context.Context, account string, id int64) (credits.Entry, error) {
	e, err := b.MemoryBackend.Entry(ctx, account, id)
	e.Time = e.Time.In(elsewhere)
	return e, err
}

func (b localTimes) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	es, err := b.MemoryBackend.Entries(ctx, account, q)
	for i := range es {
		es[i].Time = es[i].Time.In(elsewhere)
	}
	return es, err
}

// keysLastEntry files an idempotency key under the last entry of the
// decision that wrote it, not under the entry that carries the key. Every
// request of the ledger but one writes its keyed entry last (after what
// was due), so only a renewal that grants a period in two lots, the keyed
// one first, shows it: the next renewal finds the wrong entry under the
// step's key and calls it a conflict.
type keysLastEntry struct {
	*credits.MemoryBackend
	mu   *sync.Mutex
	keys map[[2]string]credits.Entry // (account, key) -> the entry filed under it
}

func (b keysLastEntry) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b keysLastEntry) update1(ctx context.Context, account, key string, decide credits.Decision) error {
	return credits.UpdateOne(ctx, b.MemoryBackend, account, "", func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
		var existing *credits.Entry
		b.mu.Lock()
		if e, ok := b.keys[[2]string{account, key}]; ok && key != "" {
			existing = &e
		}
		b.mu.Unlock()
		entries, err := decide(s, existing)
		if err != nil || len(entries) == 0 {
			return entries, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range entries {
			if e.Key != "" {
				last := entries[len(entries)-1]
				last.Metadata = maps.Clone(last.Metadata)
				b.keys[[2]string{account, e.Key}] = last
			}
		}
		return entries, nil
	})
}

// EntryByKey reads the keys the buggy Update filed.
func (b keysLastEntry) EntryByKey(_ context.Context, account, key string) (credits.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.keys[[2]string{account, key}]; ok {
		e.Metadata = maps.Clone(e.Metadata)
		return e, nil
	}
	return credits.Entry{}, credits.ErrEntryNotFound
}

// keysAnyAccount's EntryByKey looks a key up in every account: it returns
// the first entry any account stored under the key.
type keysAnyAccount struct {
	*credits.MemoryBackend
	mu   *sync.Mutex
	seen map[string]string // key -> the first account that used it
}

func (b keysAnyAccount) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b keysAnyAccount) update1(ctx context.Context, account, key string, decide credits.Decision) error {
	err := credits.UpdateOne(ctx, b.MemoryBackend, account, key, decide)
	if err == nil && key != "" {
		b.mu.Lock()
		if _, ok := b.seen[key]; !ok {
			b.seen[key] = account
		}
		b.mu.Unlock()
	}
	return err
}

func (b keysAnyAccount) EntryByKey(ctx context.Context, account, key string) (credits.Entry, error) {
	b.mu.Lock()
	first, ok := b.seen[key]
	b.mu.Unlock()
	if ok {
		account = first
	}
	return b.MemoryBackend.EntryByKey(ctx, account, key)
}

// naiveFeed numbers entries when their write starts, as a database
// sequence does, and its Feed returns the entries numbered above the
// cursor: a write that takes longer commits after a later-numbered one was
// read, and the reader, past its number, never sees it.
type naiveFeed struct {
	*credits.MemoryBackend
	mu    *sync.Mutex
	next  *int64
	rows  map[int64]credits.Entry // number -> entry, once its write is done
	order *[]int64                // the numbers handed out, in order
}

func (b naiveFeed) Update(ctx context.Context, writes []credits.Write) error {
	return opByOp(ctx, writes, b.update1)
}

func (b naiveFeed) update1(ctx context.Context, account, key string, decide credits.Decision) error {
	b.mu.Lock()
	*b.next += 1000
	first := *b.next // numbered before the write, as nextval() is
	b.mu.Unlock()
	var stored []credits.Entry
	err := credits.UpdateOne(ctx, b.MemoryBackend, account, key, func(s *credits.AccountState, existing *credits.Entry) ([]credits.Entry, error) {
		es, err := decide(s, existing)
		stored = append(stored[:0], es...)
		return es, err
	})
	if err != nil {
		return err
	}
	if first/1000%3 == 0 {
		time.Sleep(2 * time.Millisecond) // a slow commit
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, e := range stored {
		e.Metadata = maps.Clone(e.Metadata)
		b.rows[first+int64(i)] = e
		*b.order = append(*b.order, first+int64(i))
	}
	return nil
}

func (b naiveFeed) Feed(_ context.Context, after credits.Cursor, limit int) ([]credits.Entry, credits.Cursor, error) {
	var from int64
	if after != "" {
		if _, err := fmt.Sscanf(string(after), "n%d", &from); err != nil {
			return nil, after, &credits.InputError{Field: "cursor", Value: string(after), Reason: "not this feed's"}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	nums := slices.Clone(*b.order)
	slices.Sort(nums)
	var out []credits.Entry
	last := from
	for _, n := range nums {
		if n > from && len(out) < limit {
			out = append(out, b.rows[n])
			last = n
		}
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, credits.Cursor(fmt.Sprintf("n%d", last)), nil
}

// sharedConsumer stores a consumer's record without comparing versions:
// two instances both take the lease.
type sharedConsumer struct{ *credits.MemoryBackend }

func (b sharedConsumer) SaveConsumer(ctx context.Context, rec credits.ConsumerRecord) error {
	old, err := b.MemoryBackend.LoadConsumer(ctx, rec.Name)
	if err != nil {
		return err
	}
	rec.Version = old.Version + 1
	return b.MemoryBackend.SaveConsumer(ctx, rec)
}

var planted = map[string]struct {
	open  func() credits.Backend
	rules []string // the suite's report must name each
}{
	// (The state machine fails on it too, under whichever rule its random
	// sequence breaks first: a replay, a conflict.)
	"forgets keys": {func() credits.Backend { return forgetsKeys{credits.NewMemoryBackend()} }, []string{
		"one idempotency key sent concurrently is applied once, and every sender gets its entry",
	}},
	"decides a batch on its starting state": {func() credits.Backend { return sameStart{credits.NewMemoryBackend()} }, []string{
		"concurrent operations leave the state of some serial order of them",
	}},
	"numbers entries before they commit": {func() credits.Backend {
		return naiveFeed{credits.NewMemoryBackend(), new(sync.Mutex), new(int64), make(map[int64]credits.Entry), new([]int64)}
	}, []string{
		"following the feed's cursor visits every stored entry exactly once",
	}},
	"shares a consumer": {func() credits.Backend { return sharedConsumer{credits.NewMemoryBackend()} }, []string{
		"SaveConsumer stores a record only over the version before it, else ErrConflict",
	}},
	"finds keys in other accounts": {func() credits.Backend {
		return keysAnyAccount{credits.NewMemoryBackend(), new(sync.Mutex), make(map[string]string)}
	}, []string{
		"EntryByKey returns the entry the account stored under the key, or ErrEntryNotFound",
	}},
	"loses state": {func() credits.Backend { return losesState{credits.NewMemoryBackend()} }, []string{
		"Rebuild(history) equals the state the backend stores",
	}},
	"skips entries": {func() credits.Backend { return skipsEntries{credits.NewMemoryBackend()} }, []string{
		"following History's cursor visits every matching entry exactly once, in order",
	}},
	"unserialized": {func() credits.Backend { return unserialized{credits.NewMemoryBackend()} }, []string{
		"concurrent operations leave the state of some serial order of them",
	}},
	"local times": {func() credits.Backend { return localTimes{credits.NewMemoryBackend()} }, []string{
		"entry times read back in UTC, to the microsecond",
	}},
	"keys the last entry": {func() credits.Backend {
		return keysLastEntry{credits.NewMemoryBackend(), new(sync.Mutex), make(map[[2]string]credits.Entry)}
	}, []string{
		"each period that has started is granted exactly once, with its plan's credits, however many callers renew at once",
	}},
}

const plantedEnv = "LEDGERTEST_PLANTED_BUG"

// TestPlantedBugs runs the suite in a child process (this test binary,
// running TestPlantedBug) against each broken backend, and expects it to
// fail and to name the rules the bug breaks.
func TestPlantedBugs(t *testing.T) {
	if os.Getenv(plantedEnv) != "" {
		t.Skip("in the child process")
	}
	for name, bug := range planted {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPlantedBug$", "-test.count=1", "-test.timeout=300s",
				"-rapid.nofailfile", "-rapid.shrinktime=3s", "-rapid.checks=100")
			cmd.Env = append(os.Environ(), plantedEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite did not fail on a backend that %s (%v):\n%s", name, err, out)
			}
			if !bytes.Contains(out, []byte("--- FAIL: TestPlantedBug/")) {
				t.Fatalf("the child process failed, but not in the suite:\n%s", out)
			}
			for _, rule := range bug.rules {
				if !bytes.Contains(out, []byte("rule: "+rule)) {
					t.Errorf("on a backend that %s, the suite did not report %q; its output:\n%s", name, rule, out)
				}
			}
		})
	}
}

// TestPlantedBug is the child process of TestPlantedBugs.
func TestPlantedBug(t *testing.T) {
	name := os.Getenv(plantedEnv)
	if name == "" {
		t.Skip("run by TestPlantedBugs")
	}
	ledgertest.Run(t, func(*testing.T) credits.Backend { return planted[name].open() })
}
