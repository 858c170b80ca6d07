package pgledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/avstudio/credits"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The fast path: a write in one round trip.
//
// A Backend remembers the state it last stored, or read under the lock,
// of each account it wrote lately (up to maxRemembered accounts, states
// of at most maxRememberedState bytes). An Update whose accounts it all
// remembers decides their operations on those states, without reading,
// and sends in one pipelined implicit transaction, per account, a call of
// the function advance (migration 0007), which moves the account's row
// from the remembered state to the new one, in one statement with the
// INSERT of the account's first entry (one statement fewer to bind and
// run: about 6% more charges/s), then the INSERTs of the others. The
// server commits it only if, for every account:
//
//   - the row still holds the remembered version and state (advance);
//   - the last entry is the one the state records, its row as its
//     transaction stored it (advance: its xmin is still entries.xid, so
//     that no one changed or deleted it since; the slow path's check in
//     full, [credits.AccountState.CheckLast], runs whenever this fails);
//   - no entry already holds an operation's key (the unique index on
//     (account, key)): the operations were decided as if none did.
//
// Otherwise it rolls back, having stored nothing, and the Update runs the
// slow way (pgledger.go), deciding every operation again on freshly read
// states. So that a key found stored never changes an answer the fast
// path gives, the fast path is taken only when every operation succeeds
// and each operation with a key returns its keyed entry: an operation
// that fails might have been a replay, which the slow path answers with
// the entry it finds.

const (
	// maxRemembered bounds how many accounts' states a Backend keeps.
	maxRemembered = 10_000
	// maxRememberedState bounds the size of a state it keeps: a larger
	// one would cost more to send twice and compare than the read it
	// saves.
	maxRememberedState = 16 << 10
)

// remembered is an account's state as a Backend last stored it or read
// it under the account's lock: as stored (what advance compares the row
// with), and decoded, so that the fast path decides on a Clone of it, and
// Load returns one, instead of decoding the JSON again (about 15% of a
// charge's client CPU; most of a Balance of a hundred lots).
type remembered struct {
	version int64
	state   []byte                // never changed once remembered
	decoded *credits.AccountState // state decoded; never changed once remembered
}

// memory is what a Backend remembers of accounts' states, for the fast
// path. A state it remembers may be out of date (another instance wrote
// the account since): the fast path then finds so, and forgets it.
type memory struct {
	mu       sync.Mutex
	accounts map[string]remembered
	off      bool // the fast path is off (tests of the slow path)
}

// remember records that account's stored state is r, unless it
// remembers a later one. It keeps a copy of r.decoded, so that no
// decision that kept a pointer to it can change what it remembers.
func (m *memory) remember(account string, r remembered) {
	if r.version == 0 || len(r.state) > maxRememberedState {
		return
	}
	r.decoded = r.decoded.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off {
		return
	}
	if old, ok := m.accounts[account]; ok && old.version >= r.version {
		return
	}
	if m.accounts == nil {
		m.accounts = make(map[string]remembered)
	}
	if len(m.accounts) >= maxRemembered {
		for a := range m.accounts { // forget one, any
			delete(m.accounts, a)
			break
		}
	}
	m.accounts[account] = r
}

// clone returns a copy of the account's state as it remembers it decoded,
// if that is the state stored at version, byte for byte: Load then need
// not decode the JSON again.
func (m *memory) clone(account string, version int64, state []byte) (*credits.AccountState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.accounts[account]
	if !ok || r.version != version || !bytes.Equal(r.state, state) {
		return nil, false
	}
	return r.decoded.Clone(), true
}

// forget drops what it remembers of the writes' accounts.
func (m *memory) forget(writes []credits.Write) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range writes {
		delete(m.accounts, w.Account)
	}
}

// recall returns what it remembers of every write's account, or false if
// it misses any.
func (m *memory) recall(writes []credits.Write) ([]remembered, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off || len(m.accounts) == 0 {
		return nil, false
	}
	got := make([]remembered, len(writes))
	for i, w := range writes {
		r, ok := m.accounts[w.Account]
		if !ok {
			return nil, false
		}
		got[i] = r
	}
	return got, true
}

// errSlowPath is fast's answer when the Update must go the slow way.
var errSlowPath = errors.New("pgledger: the fast path does not apply")

// fast runs writes, locked in order, in one round trip, as set out above.
// It returns errSlowPath, having stored nothing and left no Op's Err
// meaningful, when the writes must be run the slow way; otherwise nil,
// or the error of a write whose outcome is unknown (the connection broke,
// the context ended), as the slow path does.
func (b *Backend) fast(ctx context.Context, writes []credits.Write, order []int) error {
	states, ok := b.memory.recall(writes)
	if !ok {
		return errSlowPath
	}
	batch := &pgx.Batch{}
	stored := make([]remembered, len(writes))
	for _, i := range order {
		w, from := writes[i], states[i]
		state := from.decoded.Clone()
		var entries []credits.Entry
		for k := range w.Ops {
			op := &w.Ops[k]
			op.Err = nil
			es, err := op.Decide(state, nil)
			if err != nil || (op.Key != "" && !carries(es, op.Key)) {
				return errSlowPath
			}
			entries = append(entries, es...)
		}
		if len(entries) == 0 {
			return errSlowPath
		}
		blob, err := state.MarshalBinary()
		if err != nil {
			return fmt.Errorf("pgledger: store state: %w", err)
		}
		for k := range entries {
			args, err := entryArgs(&entries[k])
			if err != nil {
				return fmt.Errorf("pgledger: %w", err)
			}
			if k == 0 {
				batch.Queue(b.q.advanceInsert, append([]any{w.Account, from.version, from.state, state.Version(), blob}, args...)...)
				continue
			}
			batch.Queue(b.q.insertEntry, args...)
		}
		stored[i] = remembered{state.Version(), blob, state}
	}

	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgledger: %w", err)
	}
	defer conn.Release()
	// No BEGIN: the batch is one implicit transaction, committed at its
	// end if every statement succeeded, rolled back otherwise.
	err = conn.SendBatch(ctx, batch).Close()
	if err != nil {
		b.memory.forget(writes)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "CRST1" || pgErr.Code == "55P03" || pgErr.Code == "23505" || isRetryable(err)) {
			return errSlowPath // rolled back: a stale state, a locked row, a key already stored, a conflict
		}
		return fmt.Errorf("pgledger: store: %w", err)
	}
	for i, w := range writes {
		b.memory.remember(w.Account, stored[i])
	}
	return nil
}

// carries reports whether one of entries holds key.
func carries(entries []credits.Entry, key string) bool {
	for k := range entries {
		if entries[k].Key == key {
			return true
		}
	}
	return false
}
