package credits

import (
	"context"
	"maps"
	"sync"

	"github.com/avstudio/credits/internal/fnv"
)

// MemoryBackend keeps accounts in memory: for tests, examples and tools
// that need no durability. It is safe for concurrent use; each account has
// its own lock, so operations on different accounts do not wait for each
// other. The zero value is not ready; use [NewMemoryBackend].
type MemoryBackend struct {
	shards [memShards]memShard
}

const memShards = 64

type memShard struct {
	mu       sync.RWMutex
	accounts map[string]*memAccount
}

type memAccount struct {
	mu      sync.Mutex
	removed bool // taken out of its shard (it had no entries): writers look again
	state   AccountState
	history history
	keys    map[string]int64 // idempotency key -> the ID of the entry stored under it
}

// history is an account's entries in chunks of at most historyChunk: a
// long history is never copied as it grows (one growing slice would copy
// all of it, and leave the old copy to the garbage collector, at every
// doubling), and a short one takes no more room than a slice.
type history struct {
	chunks [][]Entry // all full but the last; entry ID i is at index i-1
	n      int64
}

const historyChunk = 512

func (h *history) len() int64 { return h.n }

// at returns the entry at position id (its ID), 1 <= id <= len().
func (h *history) at(id int64) *Entry {
	i := id - 1
	return &h.chunks[i/historyChunk][i%historyChunk]
}

func (h *history) append(e Entry) {
	if h.n%historyChunk == 0 {
		h.chunks = append(h.chunks, nil) // grows like a slice, up to historyChunk
	}
	last := len(h.chunks) - 1
	h.chunks[last] = append(h.chunks[last], e)
	h.n++
}

// NewMemoryBackend returns an empty in-memory backend.
func NewMemoryBackend() *MemoryBackend {
	m := &MemoryBackend{}
	for i := range m.shards {
		m.shards[i].accounts = make(map[string]*memAccount)
	}
	return m
}

// NewMemoryLedger returns a Ledger on a new [MemoryBackend].
func NewMemoryLedger(opts Options) *Ledger {
	return NewLedger(NewMemoryBackend(), opts)
}

func (m *MemoryBackend) shard(account string) *memShard {
	return &m.shards[fnv.New().Raw(account).Sum64()%memShards]
}

// lookup returns the account's record, or nil if it has none.
func (m *MemoryBackend) lookup(account string) *memAccount {
	sh := m.shard(account)
	sh.mu.RLock()
	a := sh.accounts[account]
	sh.mu.RUnlock()
	return a
}

// lock returns the account's record, locked, creating it if it has none.
// A record created for a write that then appends nothing is removed again
// (see unlock), so that refused requests on made-up names leave nothing
// behind.
func (m *MemoryBackend) lock(account string) *memAccount {
	for {
		a := m.lookup(account)
		if a == nil {
			sh := m.shard(account)
			sh.mu.Lock()
			if a = sh.accounts[account]; a == nil {
				a = &memAccount{keys: make(map[string]int64)}
				sh.accounts[account] = a
			}
			sh.mu.Unlock()
		}
		a.mu.Lock()
		if !a.removed {
			return a
		}
		a.mu.Unlock() // removed while this writer waited for it: look again
	}
}

// unlock unlocks the account's record, first removing it if it holds no
// entries.
func (m *MemoryBackend) unlock(account string, a *memAccount) {
	if a.history.len() == 0 {
		sh := m.shard(account)
		sh.mu.Lock()
		if sh.accounts[account] == a {
			delete(sh.accounts, account)
		}
		sh.mu.Unlock()
		a.removed = true
	}
	a.mu.Unlock()
}

// Load implements [Backend].
func (m *MemoryBackend) Load(ctx context.Context, account string) (*AccountState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := m.lookup(account)
	if a == nil {
		return new(AccountState), nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.Clone(), nil
}

// Update implements [Backend].
func (m *MemoryBackend) Update(ctx context.Context, account, key string, decide Decision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := m.lock(account)
	defer m.unlock(account, a)
	var existing *Entry
	if key != "" {
		if id, ok := a.keys[key]; ok {
			e := copyEntry(*a.history.at(id))
			existing = &e
		}
	}
	// The decision leaves the state untouched when it fails, so it may
	// work on the stored state directly.
	entries, err := decide(&a.state, existing)
	if err != nil {
		return err
	}
	for _, e := range entries {
		e.Metadata = maps.Clone(e.Metadata)
		a.history.append(e)
		if e.Key != "" {
			a.keys[e.Key] = e.ID
		}
	}
	return nil
}

// Entry implements [Backend].
func (m *MemoryBackend) Entry(ctx context.Context, account string, id int64) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if a := m.lookup(account); a != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if id >= 1 && id <= a.history.len() {
			return copyEntry(*a.history.at(id)), nil
		}
	}
	return Entry{}, ErrEntryNotFound
}

// EntryByKey implements [Backend].
func (m *MemoryBackend) EntryByKey(ctx context.Context, account, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if a := m.lookup(account); a != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if id, ok := a.keys[key]; ok {
			return copyEntry(*a.history.at(id)), nil
		}
	}
	return Entry{}, ErrEntryNotFound
}

// Entries implements [Backend].
func (m *MemoryBackend) Entries(ctx context.Context, account string, q HistoryQuery) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := m.lookup(account)
	if a == nil {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Entry
	for id := q.After + 1; id <= a.history.len() && len(out) < q.Limit; id++ {
		if e := a.history.at(id); q.Match(e) {
			out = append(out, copyEntry(*e))
		}
	}
	return out, nil
}

func copyEntry(e Entry) Entry {
	e.Metadata = maps.Clone(e.Metadata)
	return e
}
