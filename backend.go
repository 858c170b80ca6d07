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
// least 0, Since and Until in UTC to the whole microsecond, and a Spender
// that is "" or a valid spender or budget scope; the entries
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

	// Update runs writes atomically, in one transaction: either all it
	// stores is durable or none of it. Each Write is of another account.
	// For each, Update loads the account's state (the zero AccountState
	// for an account with no entries) and runs the Write's Ops in order:
	// each Op's Decide is called with the state as the Ops before it left
	// it and the entry stored under the Op's Key (nil if the Key is "" or
	// has no entry). A WriteOp whose Decide returns an error has that error
	// set in its Err: its Decide left the state as it was, and none of its
	// entries is stored; the Ops after it go on. Update then appends, for
	// each account, the entries its successful Ops returned, in order, and
	// stores its state as the last Op left it. The Ledger never puts two
	// Ops with one non-empty Key into one Write. An account that gets no
	// entry need not be stored at all (its state is then unchanged).
	//
	// Update returns nil when the transaction committed (even if some Ops
	// failed: see their Err), and otherwise an error, having stored
	// nothing; Decide errors are never returned, only set. A backend that
	// cannot trust an account's stored data may instead set the Err of
	// that Write's Ops to an error wrapping ErrCorrupt, without deciding
	// them, and go on with the other Writes (the Ledger reports it as the
	// backend's failure). Writes of one
	// account are serialized: no other writer can change its state or its
	// keyed entries between the load and the store. Writes of different
	// accounts should not wait for each other: a backend with one global
	// lock is correct, but every account then waits for the busiest (and
	// should then say so, see [OneWriter]). A backend that retries after a
	// conflict runs every Op again, with freshly loaded states and Err
	// cleared; an Op's Decide has no effect but on the state it is given.
	// A backend may likewise decide speculatively, on a state it
	// remembers rather than one it loaded, with nil for every Key's
	// entry, if it keeps the outcome only when every Op succeeded, each
	// Op with a Key returned an entry holding it, and the commit itself
	// proves the state still the stored one and none of those Keys
	// stored; otherwise it runs every Op again as after a conflict
	// (pgledger's fast path).
	// Neither the states nor the entries may be used by the backend after
	// Update returns. ([UpdateOne] runs one Decision alone, for tests and
	// wrappers.)
	Update(ctx context.Context, writes []Write) error

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
	// with no entries has none; that is not an error. A page should cost
	// about the same however long the history: an account's entry times
	// never go back (see [Entry]'s Time), so a backend may take Since and
	// Until as bounds on the ID (the first entry at or after each
	// instant, found by binary search or an index), and should find a
	// kind's or spender's entries without walking the others.
	Entries(ctx context.Context, account string, q HistoryQuery) ([]Entry, error)

	// Accounts returns the names of accounts that have entries, in
	// ascending byte order, starting after the name after ("" for the
	// first), at most limit (1 to 1001) of them. Accounts whose names
	// begin with '$' are the ledger's own records and are listed too.
	Accounts(ctx context.Context, after string, limit int) ([]string, error)

	// Feed returns entries of every account in the order they became
	// durable, starting after the cursor after ("" for the very first),
	// at most limit (1 to 1001) of them, with the cursor to pass to read
	// on (after itself when there is nothing new). Following the cursors
	// returned, a reader sees every entry an Update stored exactly once,
	// and never one whose Update failed or has not yet returned: an entry
	// may appear only once it is durable, and must appear then or later,
	// never behind a cursor already handed out. Entries of one account
	// come in ID order. Beyond that, the order is the backend's, but must
	// be consistent with commit order: an entry whose Update returned
	// before another's started comes first.
	//
	// A cursor is the backend's own, opaque to the Ledger and to users:
	// a short printable string, stored by consumers (see SaveConsumer)
	// and given back to Feed as it was. A cursor the backend did not make
	// is an error wrapping ErrInvalidInput. Feed reads what is committed
	// and takes no lock a writer waits for.
	//
	// This is the hard part of a change feed on a database whose sequence
	// numbers are handed out before commit: a reader that returns rows
	// by "sequence > cursor" skips a row whose transaction commits after
	// a later row was read, and loses it for ever. See pgledger for one
	// way to do it right.
	Feed(ctx context.Context, after Cursor, limit int) ([]Entry, Cursor, error)

	// LoadConsumer returns the stored record of the feed consumer named
	// name, or the zero record (Version 0) if there is none.
	LoadConsumer(ctx context.Context, name string) (ConsumerRecord, error)

	// SaveConsumer stores rec, a consumer's record, if the stored record
	// of rec.Name is at version rec.Version-1 (none counts as version 0):
	// a compare-and-swap. Otherwise it stores nothing and returns an
	// error wrapping ErrConflict. The Ledger keeps consumers' leases and
	// positions with it; the backend only compares and stores.
	SaveConsumer(ctx context.Context, rec ConsumerRecord) error
}

// Write is one account's part of a [Backend.Update]: the operations to
// decide on it, in order.
type Write struct {
	Account string
	Ops     []WriteOp
}

// WriteOp is one operation of a [Write]: its Decision, the idempotency key
// whose stored entry the Decision is given, and, once Update has run it,
// the error the Decision returned (nil if it succeeded).
type WriteOp struct {
	Key    string
	Decide Decision
	Err    error // set by Update
}

// OneWriter is an optional interface of a [Backend] whose writes are
// serialized whatever their accounts (SQLite's one write lock): the
// Ledger then batches writes of every account into one Update (one commit
// for many operations), where otherwise it batches only writes of one
// account.
type OneWriter interface {
	// OneWriter reports whether every write of the backend waits for
	// every other.
	OneWriter() bool
}

// UpdateOne runs decide alone on account through b.Update: decide's error
// comes back as it is, and b's own as it is. It is how a test or a
// wrapper runs one Decision.
func UpdateOne(ctx context.Context, b Backend, account, key string, decide Decision) error {
	ops := []WriteOp{{Key: key, Decide: decide}}
	if err := b.Update(ctx, []Write{{Account: account, Ops: ops}}); err != nil {
		return err
	}
	return ops[0].Err
}

// Cursor is a position in a backend's feed of entries (see
// [Backend.Feed]): opaque, printable, and "" for the start of the feed.
type Cursor string

// ConsumerRecord is what a backend stores for one consumer of the feed:
// its position and who holds it. Only the Ledger reads or writes its
// fields (see [Ledger.Consume]); a backend stores them as they are, Until
// in UTC to the microsecond.
type ConsumerRecord struct {
	Name    string    // the consumer's name
	Cursor  Cursor    // the feed's position after the last batch handled
	Owner   string    // the instance holding the lease ("" for none)
	Until   time.Time // when the lease ends
	Version int64     // 1 for the first record stored, one more each time
}

// Decision decides one operation on one account. Given the account's
// state and the entry already stored under the operation's idempotency key
// (nil if none), it returns the entries to append, IDs and balances set,
// having applied them to state; or an error, having left state untouched.
// Entries with a non-empty Key are unique per account and key; at most one
// entry of a decision carries the key. The Ledger makes every Decision a
// backend runs; a backend only calls it.
type Decision func(state *AccountState, existing *Entry) ([]Entry, error)

// HistoryQuery selects entries of one account's history. Since and Until
// bound entry times; as an account's entry times never go back, they
// bound its entry IDs too (a range of IDs, found without reading the
// entries between).
type HistoryQuery struct {
	After int64     // only entries with a greater ID: the cursor (0 = from the start)
	Limit int       // at most this many (0 = 100; at most 1000)
	Kinds []Kind    // only these kinds (none = all)
	Since time.Time // only entries at or after Since (zero = no bound)
	Until time.Time // only entries before Until (zero = no bound)
	// Spender: only entries whose Spender is exactly this ("" = all): a
	// spender's charges and holds, its holds' captures, releases and
	// lapses, refunds of them, and the budget entries of that name.
	Spender string
}

// Match reports whether e passes the query's filters (kinds, time range
// and spender; not the cursor or limit). Backends may use it to filter.
func (q *HistoryQuery) Match(e *Entry) bool {
	if q.Spender != "" && e.Spender != q.Spender {
		return false
	}
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
