package credits

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/avstudio/credits/internal/fnv"
)

// MemoryBackend keeps accounts in memory: for tests, examples and tools
// that need no durability. It is safe for concurrent use; each account has
// its own lock, so operations on different accounts do not wait for each
// other. The zero value is not ready; use [NewMemoryBackend].
type MemoryBackend struct {
	shards [memShards]memShard

	feedMu sync.Mutex
	feed   chunked[feedRef] // every entry, in the order its Update stored it

	consumersMu sync.Mutex
	consumers   map[string]ConsumerRecord
}

// feedRef is one entry of the feed: its account and ID.
type feedRef struct {
	account *memAccount
	id      int64
}

const memShards = 64

type memShard struct {
	mu       sync.RWMutex
	accounts map[string]*memAccount
}

type memAccount struct {
	mu      sync.Mutex
	removed bool // taken out of its shard (it had no entries): writers look again
	name    string
	state   AccountState
	history chunked[Entry]   // entry ID i is at position i
	keys    map[string]int64 // idempotency key -> the ID of the entry stored under it
	// The IDs of the entries of each kind and of each spender, ascending:
	// a filtered page is found by a binary search in one of them, not by
	// walking the history (see Entries).
	kinds    [numKinds][]int64
	spenders map[string][]int64
}

// chunked is a list kept in chunks of at most chunkLen: a long list is
// never copied as it grows (one growing slice would copy all of it, and
// leave the old copy to the garbage collector, at every doubling), and a
// short one takes no more room than a slice. An account's history is one;
// the feed another.
type chunked[T any] struct {
	chunks [][]T // all full but the last
	n      int64
}

const chunkLen = 512

func (c *chunked[T]) len() int64 { return c.n }

// at returns the element at position i, 1 <= i <= len().
func (c *chunked[T]) at(i int64) *T {
	i--
	return &c.chunks[i/chunkLen][i%chunkLen]
}

func (c *chunked[T]) append(v T) {
	if c.n%chunkLen == 0 {
		c.chunks = append(c.chunks, nil) // grows like a slice, up to chunkLen
	}
	last := len(c.chunks) - 1
	c.chunks[last] = append(c.chunks[last], v)
	c.n++
}

// NewMemoryBackend returns an empty in-memory backend.
func NewMemoryBackend() *MemoryBackend {
	m := &MemoryBackend{consumers: make(map[string]ConsumerRecord)}
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
				a = &memAccount{name: account, keys: make(map[string]int64)}
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

// Update implements [Backend]. It locks the writes' accounts, in the
// order of their names (so that two Updates never wait for each other in
// a circle), decides every operation on the stored state itself (a
// decision that fails leaves it untouched), and appends what they made.
func (m *MemoryBackend) Update(ctx context.Context, writes []Write) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	order := make([]int, len(writes))
	for i := range order {
		order[i] = i
	}
	if len(writes) > 1 {
		slices.SortFunc(order, func(x, y int) int { return strings.Compare(writes[x].Account, writes[y].Account) })
	}
	locked := make([]*memAccount, len(writes))
	for _, i := range order {
		locked[i] = m.lock(writes[i].Account)
	}
	defer func() {
		for _, i := range order {
			m.unlock(writes[i].Account, locked[i])
		}
	}()
	var refs []feedRef
	for i, w := range writes {
		a := locked[i]
		for k := range w.Ops {
			op := &w.Ops[k]
			op.Err = nil
			var existing *Entry
			if op.Key != "" {
				if id, ok := a.keys[op.Key]; ok {
					e := copyEntry(*a.history.at(id))
					existing = &e
				}
			}
			entries, err := op.Decide(&a.state, existing)
			if err != nil {
				op.Err = err
				continue
			}
			for _, e := range entries {
				e.Metadata = maps.Clone(e.Metadata)
				a.history.append(e)
				if e.Key != "" {
					a.keys[e.Key] = e.ID
				}
				if e.Kind.Valid() {
					a.kinds[e.Kind] = append(a.kinds[e.Kind], e.ID)
				}
				if e.Spender != "" {
					if a.spenders == nil {
						a.spenders = make(map[string][]int64)
					}
					a.spenders[e.Spender] = append(a.spenders[e.Spender], e.ID)
				}
				refs = append(refs, feedRef{a, e.ID})
			}
		}
	}
	if len(refs) > 0 {
		// Into the feed while the accounts are still locked, so that each
		// account's entries are there in ID order.
		m.feedMu.Lock()
		for _, r := range refs {
			m.feed.append(r)
		}
		m.feedMu.Unlock()
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

// Entries implements [Backend]. A page costs O(log n) and the entries
// it looks at, however long the history: an account's entry times never
// go back (see [Entry]'s Time: the Ledger stamps an entry no earlier than
// the one before), so Since and Until bound the IDs, found by binary
// search; a kind or spender filter walks that kind's or spender's own
// list of IDs from the first in range (several kinds merged in ID
// order), never the entries of other kinds.
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
	lo, hi := a.idRange(&q)
	var out []Entry
	// add takes the entry id if it matches, and reports whether the page
	// has room for more.
	add := func(id int64) bool {
		if e := a.history.at(id); q.Match(e) {
			out = append(out, copyEntry(*e))
		}
		return len(out) < q.Limit
	}
	if lo > hi || q.Limit <= 0 {
		return nil, nil
	}
	var lists [][]int64 // the ID lists to walk, nil for the whole range
	if len(q.Kinds) > 0 {
		lists = make([][]int64, 0, len(q.Kinds))
		for _, k := range q.Kinds {
			if k.Valid() {
				lists = append(lists, a.kinds[k])
			}
		}
		if len(lists) == 0 {
			return nil, nil
		}
	}
	if q.Spender != "" {
		ids := a.spenders[q.Spender]
		n := 0
		for _, l := range lists {
			n += len(l)
		}
		if lists == nil || len(ids) < n {
			lists = [][]int64{ids}
		}
	}
	if lists == nil {
		for id := lo; id <= hi && add(id); id++ {
		}
		return out, nil
	}
	// Merge the lists in ID order from lo, each entry once (a kind asked
	// for twice lists it twice).
	pos := make([]int, len(lists))
	for i, l := range lists {
		pos[i] = sort.Search(len(l), func(j int) bool { return l[j] >= lo })
	}
	last := lo - 1
	for {
		next := int64(-1)
		for i, l := range lists {
			for pos[i] < len(l) && l[pos[i]] <= last {
				pos[i]++
			}
			if pos[i] < len(l) && (next < 0 || l[pos[i]] < next) {
				next = l[pos[i]]
			}
		}
		if next < 0 || next > hi || !add(next) {
			return out, nil
		}
		last = next
	}
}

// idRange returns the range of IDs, lo to hi inclusive, that can hold
// entries q selects: after its cursor, at or after Since and before
// Until. Entry times never go back within an account, so the entries at
// or after an instant are those from the first of them on, found by
// binary search.
func (a *memAccount) idRange(q *HistoryQuery) (lo, hi int64) {
	n := a.history.len()
	lo, hi = max(q.After, 0)+1, n
	// first returns the least ID whose entry is at or after t (n+1 if
	// none is).
	first := func(t time.Time) int64 {
		return 1 + int64(sort.Search(int(n), func(i int) bool { return !a.history.at(int64(i) + 1).Time.Before(t) }))
	}
	if !q.Since.IsZero() {
		lo = max(lo, first(q.Since))
	}
	if !q.Until.IsZero() {
		hi = min(hi, first(q.Until)-1)
	}
	return lo, hi
}

func copyEntry(e Entry) Entry {
	e.Metadata = maps.Clone(e.Metadata)
	return e
}

// Accounts implements [Backend].
func (m *MemoryBackend) Accounts(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var names []string
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for name := range sh.accounts {
			if name > after {
				names = append(names, name)
			}
		}
		sh.mu.RUnlock()
	}
	slices.Sort(names)
	// An account's record exists from its first write on, but has entries
	// only once the write is done: leave out those that have none yet.
	out := names[:0]
	for _, name := range names {
		if len(out) == limit {
			break
		}
		if a := m.lookup(name); a != nil {
			a.mu.Lock()
			n := a.history.len()
			a.mu.Unlock()
			if n > 0 {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Feed implements [Backend]. Its cursors are "m" and the number of
// entries read so far: Update puts each account's new entries into one
// list while it still holds the account's lock, so the list is in the
// order entries were stored, and an entry is in it only once stored.
func (m *MemoryBackend) Feed(ctx context.Context, after Cursor, limit int) ([]Entry, Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, after, err
	}
	n, err := memCursor(after)
	if err != nil {
		return nil, after, err
	}
	m.feedMu.Lock()
	end := min(m.feed.len(), n+int64(limit))
	refs := make([]feedRef, 0, max(end-n, 0))
	for i := n + 1; i <= end; i++ {
		refs = append(refs, *m.feed.at(i))
	}
	m.feedMu.Unlock()
	out := make([]Entry, len(refs))
	for i, r := range refs {
		r.account.mu.Lock()
		out[i] = copyEntry(*r.account.history.at(r.id))
		r.account.mu.Unlock()
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, Cursor("m" + strconv.FormatInt(n+int64(len(out)), 10)), nil
}

// memCursor reads a cursor of the memory backend's feed.
func memCursor(c Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(string(c), "m"), 10, 64)
	if err != nil || !strings.HasPrefix(string(c), "m") || n < 0 {
		return 0, inputErr("cursor", string(c), "not a cursor of this backend's feed")
	}
	return n, nil
}

// LoadConsumer implements [Backend].
func (m *MemoryBackend) LoadConsumer(ctx context.Context, name string) (ConsumerRecord, error) {
	if err := ctx.Err(); err != nil {
		return ConsumerRecord{}, err
	}
	m.consumersMu.Lock()
	defer m.consumersMu.Unlock()
	rec, ok := m.consumers[name]
	if !ok {
		return ConsumerRecord{Name: name}, nil
	}
	return rec, nil
}

// SaveConsumer implements [Backend].
func (m *MemoryBackend) SaveConsumer(ctx context.Context, rec ConsumerRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.consumersMu.Lock()
	defer m.consumersMu.Unlock()
	if m.consumers[rec.Name].Version != rec.Version-1 {
		return ErrConflict
	}
	m.consumers[rec.Name] = rec
	return nil
}
