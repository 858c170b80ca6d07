package credits

import (
	"context"
	"fmt"
	"maps"
	"sync"
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
	state   AccountState
	entries []Entry        // entries[i].ID == i+1
	keys    map[string]int // idempotency key -> index in entries
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
	h := uint32(2166136261)
	for i := 0; i < len(account); i++ {
		h ^= uint32(account[i])
		h *= 16777619
	}
	return &m.shards[h%memShards]
}

func (m *MemoryBackend) lookup(account string) *memAccount {
	sh := m.shard(account)
	sh.mu.RLock()
	a := sh.accounts[account]
	sh.mu.RUnlock()
	return a
}

func (m *MemoryBackend) lookupOrCreate(account string) *memAccount {
	if a := m.lookup(account); a != nil {
		return a
	}
	sh := m.shard(account)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a := sh.accounts[account]
	if a == nil {
		a = &memAccount{keys: make(map[string]int)}
		sh.accounts[account] = a
	}
	return a
}

// Load implements [Backend].
func (m *MemoryBackend) Load(ctx context.Context, account string) (*AccountState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := m.lookup(account)
	if a == nil {
		return nil, fmt.Errorf("account %q: %w", account, ErrUnknownAccount)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state.lastID == 0 {
		return nil, fmt.Errorf("account %q: %w", account, ErrUnknownAccount)
	}
	return a.state.Clone(), nil
}

// Update implements [Backend].
func (m *MemoryBackend) Update(ctx context.Context, account, key string, decide Decision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := m.lookupOrCreate(account)
	a.mu.Lock()
	defer a.mu.Unlock()
	var existing *Entry
	if key != "" {
		if i, ok := a.keys[key]; ok {
			existing = &a.entries[i]
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
		a.entries = append(a.entries, e)
		if e.Key != "" {
			a.keys[e.Key] = len(a.entries) - 1
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
		if id >= 1 && id <= int64(len(a.entries)) {
			return copyEntry(a.entries[id-1]), nil
		}
	}
	return Entry{}, fmt.Errorf("account %q, entry %d: %w", account, id, ErrEntryNotFound)
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
	start := int(min(max(q.After, 0), int64(len(a.entries))))
	for i := start; i < len(a.entries) && len(out) < q.Limit; i++ {
		if q.Match(&a.entries[i]) {
			out = append(out, copyEntry(a.entries[i]))
		}
	}
	return out, nil
}

func copyEntry(e Entry) Entry {
	e.Metadata = maps.Clone(e.Metadata)
	return e
}
