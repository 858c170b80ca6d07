package credits

import (
	"context"
	"time"
)

// Backend stores accounts for a [Ledger]: each account's state and its
// append-only entries. It carries no business rules: what an operation
// does is decided by the Ledger, in a [Decision] the backend runs.
//
// Every method may be called concurrently, for the same account or for
// different ones. ctx bounds any I/O; a cancelled context returns an
// error and leaves the account as it was.
//
// The package ledgertest checks an implementation: ledgertest.Run(t, open).
type Backend interface {
	// Load returns the account's current state, as last stored by Update.
	// The caller may change it freely. An account with no entries is
	// reported as an error wrapping ErrUnknownAccount.
	Load(ctx context.Context, account string) (*AccountState, error)

	// Update runs one decision atomically against one account. It loads
	// the account's state (the zero AccountState for an account with no
	// entries) and, if key is not empty, the entry stored under key (nil if
	// none), and calls decide with them. If decide returns an error, Update
	// stores nothing and returns that error unchanged. Otherwise it appends
	// the entries decide returned (possibly none) and stores the state as
	// decide left it, together: either both are durable or neither is.
	//
	// Updates of one account are serialized: each decision sees the state
	// the previous one left. Updates of different accounts should not wait
	// for each other: a backend with one global lock is correct, but every
	// account then waits for the busiest. decide may be called more than once if the backend
	// retries after a conflict; it is pure apart from its effect on the
	// state. It must not be called with a state or key entry that another
	// writer could change before Update returns. Neither decide nor the
	// entries it returns may be used after Update returns: the Ledger
	// reuses them.
	Update(ctx context.Context, account, key string, decide Decision) error

	// Entry returns the account's entry with the given ID, or an error
	// wrapping ErrEntryNotFound.
	Entry(ctx context.Context, account string, id int64) (Entry, error)

	// Entries returns the account's entries that match q, in ID order,
	// at most q.Limit of them (q.Limit is always set, 1 to 1001). An account
	// with no entries has none; that is not an error.
	Entries(ctx context.Context, account string, q HistoryQuery) ([]Entry, error)
}

// Decision decides one operation on one account. Given the account's
// state and the entry already stored under the operation's idempotency key
// (nil if none), it returns the entries to append, IDs and balances set,
// having applied them to state; or an error, having left state untouched.
// Entries with a non-empty Key are unique per account and key; at most one
// entry of a decision carries the key.
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
