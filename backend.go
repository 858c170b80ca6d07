package credits

import (
	"context"
	"time"
)

// Backend stores accounts for a [Ledger]: each account's state and its
// append-only entries. It carries no business rules: what an operation
// does is decided by the Ledger, in a [Decision] the backend runs, and the
// Ledger checks what it hands a backend before it does. This interface,
// with [Decision], [HistoryQuery] and [AccountState]'s MarshalBinary and
// UnmarshalBinary, is the whole contract: the package ledgertest checks an
// implementation against it, with ledgertest.Run(t, open).
//
// # What a backend may rely on
//
// The Ledger validates every argument before calling a backend: account
// names and keys are non-empty valid UTF-8 with no control characters, at
// most 262 and 255 bytes (the ledger's own records of claim keys are named
// "$claim:" and the key); a
// [HistoryQuery] has a Limit of 1 to 1001, known Kinds, an After of at
// least 0, and Since and Until in UTC to the whole microsecond; the entries
// a Decision returns belong to the account, continue its IDs one by one
// from the state's Version, leave the state at the last one's ID, and hold
// only known kinds and names, instants in UTC to the microsecond between
// the years 1 and 9999, and valid UTF-8. A backend need not check any of
// it again.
//
// # What a backend must do
//
// Every method may be called concurrently, for the same account or for
// different ones. ctx bounds any I/O: a cancelled context returns an error
// and leaves the account as it was. A backend returns its own errors as
// they are (with whatever context it likes to add); the Ledger wraps them
// in a [*BackendError] naming the operation and the account. The only
// errors with a meaning of their own are ErrEntryNotFound, from Entry and
// EntryByKey, and a Decision's error, which Update returns unchanged; and,
// from a backend that can tell, an error wrapping ErrCorrupt (a
// [*CorruptError]) for stored data it cannot trust, on which it refuses
// to act.
//
// A backend stores each account's state as the opaque bytes of
// [AccountState.MarshalBinary] and restores it with
// [AccountState.UnmarshalBinary]; an entry's fields exactly, instants in
// UTC to the microsecond, a nil or empty Metadata read back as nil.
type Backend interface {
	// Load returns the account's current state, as the last Update of it
	// stored it, for the caller to change freely: the state is the
	// caller's, not shared with the backend. An account with no entries
	// has the zero AccountState (Version 0); that is not an error. Load
	// reads what is committed and should not wait for writers.
	Load(ctx context.Context, account string) (*AccountState, error)

	// Update runs one decision atomically against one account. It loads
	// the account's state (the zero AccountState for an account with no
	// entries) and, if key is not empty, the entry stored under key (nil if
	// none), and calls decide with them. If decide returns an error, Update
	// stores nothing and returns that error unchanged. Otherwise it appends
	// the entries decide returned (possibly none) and stores the state as
	// decide left it, together: either both are durable or neither is.
	// A decision that returns no entries leaves the state unchanged, and
	// Update may then store nothing at all (an account that gets no entry
	// need not exist afterwards).
	//
	// Updates of one account are serialized: each decision sees the state
	// the previous one left, and no other writer can change the state or
	// the key's entry between the load and the store. Updates of different
	// accounts should not wait for each other: a backend with one global
	// lock is correct, but every account then waits for the busiest.
	// decide may be called more than once if the backend retries after a
	// conflict, each time with a freshly loaded state; it has no effect
	// but on the state it is given. Neither the state nor the entries may
	// be used by the backend after Update returns.
	Update(ctx context.Context, account, key string, decide Decision) error

	// Entry returns the account's entry with the given ID, or an error
	// wrapping ErrEntryNotFound. Entries never change once stored, so it
	// may read without any lock.
	Entry(ctx context.Context, account string, id int64) (Entry, error)

	// EntryByKey returns the account's entry stored under the idempotency
	// key key (never ""), or an error wrapping ErrEntryNotFound. It reads
	// what is committed and takes no lock that a writer waits for: the
	// Ledger uses it for probes ("is this period already granted?", "was
	// this free tier claimed?") that must not cost a write.
	EntryByKey(ctx context.Context, account, key string) (Entry, error)

	// Entries returns the account's entries that match q (see
	// [HistoryQuery.Match]) with an ID greater than q.After, in ID order,
	// at most q.Limit of them, from one consistent snapshot. An account
	// with no entries has none; that is not an error.
	Entries(ctx context.Context, account string, q HistoryQuery) ([]Entry, error)
}

// Decision decides one operation on one account. Given the account's
// state and the entry already stored under the operation's idempotency key
// (nil if none), it returns the entries to append, IDs and balances set,
// having applied them to state; or an error, having left state untouched.
// Entries with a non-empty Key are unique per account and key; at most one
// entry of a decision carries the key. The Ledger makes every Decision a
// backend runs; a backend only calls it.
type Decision func(state *AccountState, existing *Entry) ([]Entry, error)

// HistoryQuery selects entries of one account's history.
type HistoryQuery struct {
	After int64     // only entries with a greater ID: the cursor (0 = from the start)
	Limit int       // at most this many (0 = 100; at most 1000)
	Kinds []Kind    // only these kinds (none = all)
	Since time.Time // only entries at or after Since (zero = no bound)
	Until time.Time // only entries before Until (zero = no bound)
}

// Match reports whether e passes the query's filters (kinds and time
// range; not the cursor or limit). Backends may use it to filter.
func (q *HistoryQuery) Match(e *Entry) bool {
	if len(q.Kinds) > 0 {
		found := false
		for _, k := range q.Kinds {
			if k == e.Kind {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !e.Time.Before(q.Until) {
		return false
	}
	return true
}
