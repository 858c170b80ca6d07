// Package customledger is a tutorial: a storage backend of your own for
// the credits ledger, in about two hundred lines, that passes the same
// conformance suite as the library's own backends (see its test).
//
// A backend stores; it decides nothing. The ledger's rules (prices,
// available-balance checks, which lot pays, hold deadlines, refund limits,
// what a retried request returns) all run in credits.Ledger, which hands
// the backend one decision at a time. The backend's whole job is to run
// that decision atomically against one account and to keep what it
// returns.
//
// This one keeps everything in a map behind one mutex. It stores each
// account's state the way a database would, as the bytes of
// AccountState.MarshalBinary, to show that the state is opaque to a
// backend. One mutex for all accounts makes it simple but slow under
// load: the Backend contract asks that writers of different accounts not
// wait for each other, which a real backend gets from a lock per account
// (credits.MemoryBackend), a row lock (PostgreSQL) or a write transaction
// per account (SQLite).
package customledger

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/avstudio/credits"
)

// Backend keeps accounts in memory, behind one mutex. It implements
// credits.Backend and is safe for concurrent use. The zero value is not
// ready; use New.
type Backend struct {
	mu        sync.Mutex
	accounts  map[string]*account
	feed      []ref // every entry, in the order stored: under one mutex, that is commit order
	consumers map[string]credits.ConsumerRecord
}

// ref names one entry of the feed.
type ref struct {
	account string
	id      int64
}

// account is what the backend keeps per account: the state, encoded, and
// the append-only history with an index of idempotency keys.
type account struct {
	state   []byte          // AccountState.MarshalBinary
	entries []credits.Entry // entries[i].ID == i+1, always
	keys    map[string]int  // idempotency key -> index in entries
}

// New returns an empty backend.
func New() *Backend {
	return &Backend{accounts: make(map[string]*account), consumers: make(map[string]credits.ConsumerRecord)}
}

// Load returns the account's current state: the zero state for an
// account with no entries.
func (b *Backend) Load(ctx context.Context, name string) (*credits.AccountState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // a cancelled context fails, and changes nothing
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accounts[name]
	if a == nil || len(a.entries) == 0 {
		return new(credits.AccountState), nil
	}
	state := new(credits.AccountState)
	if err := state.UnmarshalBinary(a.state); err != nil {
		return nil, err
	}
	return state, nil // a fresh copy: the caller may change it
}

// Update runs writes atomically: holding the lock, for each account it
// loads the state, lets each operation's Decide choose the entries to
// append (an operation that fails has its error set and changes
// nothing), and keeps the entries and the new state together. (With a
// database: one transaction for all of it.)
func (b *Backend) Update(ctx context.Context, writes []credits.Write) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range writes {
		// 1. Load: the state (the zero state for a new account).
		a := b.accounts[w.Account]
		if a == nil {
			a = &account{keys: make(map[string]int)}
		}
		state := new(credits.AccountState)
		if a.state != nil {
			if err := state.UnmarshalBinary(a.state); err != nil {
				return err
			}
		}
		// 2. Decide, operation by operation, each on the state the one
		// before it left, with the entry already stored under its key.
		var entries []credits.Entry
		for k := range w.Ops {
			op := &w.Ops[k]
			op.Err = nil
			var existing *credits.Entry
			if i, ok := a.keys[op.Key]; ok && op.Key != "" {
				e := copyEntry(a.entries[i]) // a copy: what we store stays ours
				existing = &e
			}
			es, err := op.Decide(state, existing)
			if err != nil {
				op.Err = err // nothing of it is kept
				continue
			}
			entries = append(entries, es...)
		}
		// 3. Store the new entries and the new state, together. Entries
		// with a key are indexed, so the next request with that key
		// finds its first result.
		encoded, err := state.MarshalBinary()
		if err != nil {
			return err
		}
		for _, e := range entries {
			a.entries = append(a.entries, copyEntry(e))
			if e.Key != "" {
				a.keys[e.Key] = len(a.entries) - 1
			}
			b.feed = append(b.feed, ref{w.Account, e.ID})
		}
		a.state = encoded
		if len(a.entries) > 0 {
			b.accounts[w.Account] = a // an account that got no entry is not kept
		}
	}
	return nil
}

// OneWriter says that every write waits for every other (one mutex), so
// the ledger batches writes of every account together.
func (b *Backend) OneWriter() bool { return true }

// Entry returns one entry by ID, or an error wrapping
// credits.ErrEntryNotFound.
func (b *Backend) Entry(ctx context.Context, name string, id int64) (credits.Entry, error) {
	if err := ctx.Err(); err != nil {
		return credits.Entry{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if a := b.accounts[name]; a != nil && id >= 1 && id <= int64(len(a.entries)) {
		return copyEntry(a.entries[id-1]), nil
	}
	return credits.Entry{}, fmt.Errorf("account %q, entry %d: %w", name, id, credits.ErrEntryNotFound)
}

// EntryByKey returns the entry stored under an idempotency key, or an
// error wrapping credits.ErrEntryNotFound.
func (b *Backend) EntryByKey(ctx context.Context, name, key string) (credits.Entry, error) {
	if err := ctx.Err(); err != nil {
		return credits.Entry{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if a := b.accounts[name]; a != nil {
		if i, ok := a.keys[key]; ok {
			return copyEntry(a.entries[i]), nil
		}
	}
	return credits.Entry{}, fmt.Errorf("account %q, key %q: %w", name, key, credits.ErrEntryNotFound)
}

// Entries returns up to q.Limit entries after q.After that pass q's
// filters, in ID order. An unknown account has none.
func (b *Backend) Entries(ctx context.Context, name string, q credits.HistoryQuery) ([]credits.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accounts[name]
	if a == nil {
		return nil, nil
	}
	var out []credits.Entry
	for i := int(min(q.After, int64(len(a.entries)))); i < len(a.entries) && len(out) < q.Limit; i++ {
		if q.Match(&a.entries[i]) {
			out = append(out, copyEntry(a.entries[i]))
		}
	}
	return out, nil
}

// copyEntry copies an entry with its metadata, so that no caller shares a
// map with the stored history.
func copyEntry(e credits.Entry) credits.Entry {
	e.Metadata = maps.Clone(e.Metadata)
	return e
}

// Accounts returns the names of accounts with entries, sorted, after the
// name after.
func (b *Backend) Accounts(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var names []string
	for name := range b.accounts {
		if name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names[:min(len(names), limit)], nil
}

// Feed returns the entries stored after the cursor, in the order they
// were stored. One mutex serializes every write, so that order is commit
// order, and an entry is in the feed only once stored. A cursor is the
// number of entries read so far.
func (b *Backend) Feed(ctx context.Context, after credits.Cursor, limit int) ([]credits.Entry, credits.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, after, err
	}
	n := 0
	if after != "" {
		var err error
		if n, err = strconv.Atoi(string(after)); err != nil || n < 0 {
			return nil, after, &credits.InputError{Field: "cursor", Value: string(after), Reason: "not this backend's cursor"}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []credits.Entry
	for _, r := range b.feed[min(n, len(b.feed)):min(n+limit, len(b.feed))] {
		out = append(out, copyEntry(b.accounts[r.account].entries[r.id-1]))
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, credits.Cursor(strconv.Itoa(n + len(out))), nil
}

// LoadConsumer returns a consumer's record (version 0 if none).
func (b *Backend) LoadConsumer(ctx context.Context, name string) (credits.ConsumerRecord, error) {
	if err := ctx.Err(); err != nil {
		return credits.ConsumerRecord{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec, ok := b.consumers[name]; ok {
		return rec, nil
	}
	return credits.ConsumerRecord{Name: name}, nil
}

// SaveConsumer stores rec over the version before it, or fails with
// credits.ErrConflict.
func (b *Backend) SaveConsumer(ctx context.Context, rec credits.ConsumerRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.consumers[rec.Name].Version != rec.Version-1 {
		return credits.ErrConflict
	}
	b.consumers[rec.Name] = rec
	return nil
}
