// Package pgledger keeps a credits ledger in PostgreSQL, shared by any
// number of service instances: the library stays stateless, the database
// carries every account.
//
// It is a [credits.Backend]: it stores and serializes, and every rule of
// the ledger stays in package credits. Use it with a pgx connection pool
// the service already has:
//
//	if err := pgledger.Migrate(ctx, pool, pgledger.Options{}); err != nil { ... }
//	backend, err := pgledger.New(pool, pgledger.Options{})
//	if err != nil { ... }
//	ledger := credits.NewLedger(backend, credits.Options{})
//
// # Storage
//
// The tables live in one schema ("credits" unless [Options.Schema] says
// otherwise), so several ledgers can share a database. An account is a
// row of accounts (its version and its state, opaque bytes from
// [credits.AccountState.MarshalBinary]) and its rows of entries, one
// column per [credits.Entry] field: amounts as bigint micro-credits,
// instants as timestamptz (NULL for a zero time), kinds and names as their
// stable text names, metadata as a json object (NULL when there is none).
// Entries are append-only: this package never updates or deletes one, and
// a trigger makes the database refuse UPDATE, DELETE and TRUNCATE of
// entries from any client.
//
// A stored state that does not decode or disagrees with the version
// beside it, or that an update finds does not match the account's last
// entry (not the entry the state recorded, or one whose fields do not
// hash to its chain hash, see [credits.AccountState.CheckLast]), an entry
// row that does not decode or is not the one asked for, and a page of
// history with a gap in its IDs are errors wrapping [credits.ErrCorrupt],
// on which the Backend does not act. Damaged pages
// are the server's to find: initialize it with data checksums (initdb
// --data-checksums, the default from PostgreSQL 18).
//
// # Concurrency
//
// An update runs in one READ COMMITTED transaction that locks the
// account's row (SELECT ... FOR UPDATE) before it reads anything else, so
// updates of one account serialize in every process, and updates of
// different accounts lock different rows and never wait for each other.
// An update locks its accounts' rows in the order of their names, so no
// two updates can deadlock. A row lock beat SERIALIZABLE transactions
// with retries in our measurements (BENCHMARKS.md, "PostgreSQL"): under contention serializable
// transactions spent their time failing and retrying. Should the server
// still report a serialization failure or a deadlock (SQLSTATE 40001,
// 40P01), the update is retried from the start, with freshly loaded state.
//
// An update of an account the Backend wrote lately costs one round trip
// (the fast path, fastpath.go): the Backend remembers the state it
// stored, decides on it, and sends the state and the entries in one
// implicit transaction, which the server commits only if the row still
// holds that state, its lock is free (it never waits for it), the last
// entry is as its transaction wrote it, and no entry holds the
// operations' keys. Any other update, or one whose fast path fails,
// costs two: one pipelined batch begins the transaction, locks the
// account's row, reads the account's last entry (to check the state
// with, see above) and the entries stored under the idempotency keys; a
// second one stores the state, appends the entries and commits. An
// account's first update creates its row first, in one more round trip.
//
// If the context is cancelled or the connection dies before the commit
// is sent, the transaction rolls back and nothing is stored. (The fast
// path sends its commit with its statements; as it never waits for a
// lock, the commit follows at once.) (With pgx's default
// context handling, an ended context closes the connection; a server
// session that was waiting for an account's lock notices only once it gets
// the lock, and rolls back then. To have it stop waiting at once, give the
// pool's ConnConfig a BuildContextWatcherHandler that returns a
// pgconn.CancelRequestContextWatcherHandler, or set the server's
// client_connection_check_interval.) If it happens while
// the commit is in flight, the caller cannot know whether it committed;
// retrying the operation with the same idempotency key then either applies
// it or returns the entry the first attempt stored.
package pgledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema the ledger's tables live in when
// [Options.Schema] is empty.
const DefaultSchema = "credits"

// Options configures a [Backend] and [Migrate]. The zero value is ready to
// use.
type Options struct {
	// Schema is the PostgreSQL schema that holds the ledger's tables: a
	// lower-case identifier of 1 to 63 letters, digits and underscores,
	// not starting with a digit or "pg_", and not information_schema (a
	// system schema, which pg_dump leaves out). Empty means DefaultSchema.
	// Give New the schema given to Migrate.
	Schema string
}

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// withDefaults returns opts with defaults filled in, or an error wrapping
// credits.ErrInvalidInput if a field is malformed.
func (o Options) withDefaults() (Options, error) {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	switch {
	case !schemaPattern.MatchString(o.Schema) || strings.HasPrefix(o.Schema, "pg_"):
		return o, fmt.Errorf("pgledger: %w", &credits.InputError{Field: "schema", Value: o.Schema,
			Reason: "must be 1 to 63 lower-case letters, digits and underscores, not starting with a digit or pg_"})
	case o.Schema == "information_schema":
		return o, fmt.Errorf("pgledger: %w", &credits.InputError{Field: "schema", Value: o.Schema,
			Reason: "is a system schema (pg_dump leaves it out): name a schema of the ledger's own"})
	}
	return o, nil
}

// Backend keeps a ledger's accounts in PostgreSQL. It implements
// [credits.Backend] and is safe for concurrent use, by any number of
// goroutines and of processes sharing the database. It holds no state of
// its own beyond the pool, so it is cheap to create.
type Backend struct {
	pool   *pgxpool.Pool
	schema string
	q      queries
	memory memory // accounts' states as last stored, for the fast path
}

// queries is the SQL of a Backend, with its schema spelled in.
type queries struct {
	ensureAccount string // creates the account's row if missing
	lockAccount   string // reads version and state under the row lock
	lastEntry     string // the account's entry of the greatest ID
	keyedEntry    string
	keyedEntries  string // the entries of an account under any of some keys
	insertEntry   string
	storeState    string
	advanceInsert string // the fast path's state update and first entry (fastpath.go)
	loadAccount   string
	entry         string
	feed          string
	accounts      string
	loadConsumer  string
	saveConsumer  string
	// entries are the history queries, indexed by which filters a
	// HistoryQuery has (see historyFilter): each has its own SQL, so that
	// the planner can use the index that fits it.
	entries [16]string
}

// The filters of a history query, as bits of an index into queries.entries.
const (
	filterKinds = 1 << iota
	filterSince
	filterUntil
	filterSpender
)

// New returns a Backend that keeps accounts in pool's database, in the
// tables that [Migrate] created in opts.Schema. It checks opts but does
// not touch the database. The pool stays the caller's: the Backend never
// closes it. Any of pgx's query modes works (the pool's
// DefaultQueryExecMode); the default, which caches prepared statements, is
// the fastest. Each update runs its transaction on one connection, so a
// pooler in transaction mode, such as PgBouncer, is fine.
func New(pool *pgxpool.Pool, opts Options) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("pgledger: new: nil pool")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := pgx.Identifier{opts.Schema}.Sanitize()
	placeholders := make([]string, sqlentry.NumColumns)
	for i := range placeholders {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	shifted := make([]string, sqlentry.NumColumns) // the entry's after advance's five
	for i := range shifted {
		shifted[i] = fmt.Sprintf("$%d", i+6)
	}
	b := &Backend{pool: pool, schema: opts.Schema}
	b.q = queries{
		ensureAccount: "INSERT INTO " + s + ".accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
		lockAccount:   "SELECT version, state FROM " + s + ".accounts WHERE id = $1 FOR UPDATE",
		lastEntry:     "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 ORDER BY id DESC LIMIT 1",
		keyedEntry:    "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND key = $2 AND key <> ''",
		keyedEntries:  "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND key = ANY ($2) AND key <> ''",
		insertEntry:   "INSERT INTO " + s + ".entries (" + sqlentry.Columns + ") VALUES (" + strings.Join(placeholders, ", ") + ")",
		storeState:    "UPDATE " + s + ".accounts SET version = $2, state = $3 WHERE id = $1",
		advanceInsert: "WITH advanced AS (SELECT " + s + ".advance($1, $2, $3, $4, $5))" +
			" INSERT INTO " + s + ".entries (" + sqlentry.Columns + ") SELECT " + strings.Join(shifted, ", ") + " FROM advanced",
		loadAccount: "SELECT version, state FROM " + s + ".accounts WHERE id = $1",
		entry:       "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND id = $2",
		feed: "SELECT " + sqlentry.Columns + ", xid::text FROM " + s + ".entries" +
			" WHERE (xid, account, id) > ($1::text::xid8, $2, $3) AND xid < pg_snapshot_xmin(pg_current_snapshot())" +
			" ORDER BY xid, account, id LIMIT $4",
		accounts:     "SELECT id FROM " + s + ".accounts WHERE id > $1 AND version > 0 ORDER BY id LIMIT $2",
		loadConsumer: "SELECT cursor, owner, until, version FROM " + s + ".consumers WHERE name = $1",
		saveConsumer: "INSERT INTO " + s + ".consumers AS c (name, cursor, owner, until, version) VALUES ($1, $2, $3, $4, $5)" +
			" ON CONFLICT (name) DO UPDATE SET cursor = $2, owner = $3, until = $4, version = $5 WHERE c.version = $5 - 1",
	}
	for f := range b.q.entries {
		b.q.entries[f] = historySQL(s, f)
	}
	return b, nil
}

// historySQL returns the history query of schema s (sanitized) with the
// filters f: $1 account, $2 cursor, $3 limit, then one parameter per
// filter, in the order of the filter bits (Entries passes them so). Each
// form walks an index from where its page begins, whatever plan the
// server caches for it (a generic plan knows no values, and would
// otherwise walk the primary key through a long history testing the
// filters; TestHistoryPagesUseIndexes):
//
//   - Since and Until become bounds on the ID, each the ID of the
//     account's first entry at or after the instant, found in the
//     (account, time) index (ties, entries of one instant, broken by ID in
//     an incremental sort of just that instant's entries). Entry times
//     never go back within an account (see [credits.Entry]'s Time: the
//     Ledger stamps an entry no earlier than the one before), so the
//     entries at or after an instant are exactly those from that ID on;
//     Entries checks every entry it returns against the bounds all the
//     same, and calls an entry out of time order corrupt.
//   - Kinds: one ordered walk of the (account, kind, id) index per kind
//     asked for, at most a page each, merged by ID (one walk of a list of
//     kinds would come in kind order, which a page cannot use).
//   - Spender: the partial (account, spender, id) index.
func historySQL(s string, f int) string {
	const cols = sqlentry.Columns
	where := "account = $1 AND id > $2"
	n := 3
	kindParam := 0
	if f&filterKinds != 0 {
		n++
		kindParam = n
		where += " AND kind = want"
	}
	// The ID of the account's first entry at or after the instant $%d,
	// less one; the greatest bigint if there is none.
	bound := "coalesce((SELECT id FROM " + s + ".entries WHERE account = $1 AND time >= $%d ORDER BY time, id LIMIT 1) - 1, 9223372036854775807)"
	if f&filterSince != 0 {
		n++
		where += fmt.Sprintf(" AND id > "+bound, n)
	}
	if f&filterUntil != 0 {
		n++
		where += fmt.Sprintf(" AND id <= "+bound, n)
	}
	if f&filterSpender != 0 {
		// Repeated for the partial index, so that a generic plan can use
		// it.
		n++
		where += fmt.Sprintf(" AND spender = $%d AND spender <> ''", n)
	}
	q := "SELECT " + cols + " FROM " + s + ".entries WHERE " + where + " ORDER BY id LIMIT $3"
	if kindParam != 0 {
		q = fmt.Sprintf("SELECT "+cols+" FROM unnest($%d::text[]) AS k(want), LATERAL (", kindParam) + q + ") e ORDER BY id LIMIT $3"
	}
	return q
}

// Schema returns the schema the Backend's tables live in.
func (b *Backend) Schema() string { return b.schema }

// Load implements [credits.Backend]. An account with no row has the zero
// state. When the Backend remembers the account's state decoded (the
// fast path's memory) and the row holds exactly those bytes at that
// version, Load returns a copy of it instead of decoding the JSON again.
func (b *Backend) Load(ctx context.Context, account string) (*credits.AccountState, error) {
	var version int64
	var state []byte
	err := b.pool.QueryRow(ctx, b.q.loadAccount, account).Scan(&version, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return new(credits.AccountState), nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgledger: load: %w", err)
	}
	if s, ok := b.memory.clone(account, version, state); ok {
		return s, nil
	}
	return decodeState(account, version, state)
}

// decodeState restores an account's stored state and checks it against
// the version stored beside it. A state that does not decode or disagrees
// with its version is corrupt (credits.ErrCorrupt).
func decodeState(account string, version int64, state []byte) (*credits.AccountState, error) {
	s := &credits.AccountState{}
	if state == nil {
		if version != 0 {
			return nil, fmt.Errorf("pgledger: %w", &credits.CorruptError{Account: account, Reason: fmt.Sprintf("version %d has no state", version)})
		}
		return s, nil
	}
	if err := s.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("pgledger: %w", &credits.CorruptError{Account: account, Reason: "the stored state does not decode", Err: err})
	}
	if s.Version() != version {
		return nil, fmt.Errorf("pgledger: %w", &credits.CorruptError{Account: account,
			Reason: fmt.Sprintf("the stored state is at version %d, its row says %d", s.Version(), version)})
	}
	return s, nil
}

// maxAttempts bounds how often Update tries a decision that keeps failing
// on serialization failures or deadlocks. With the row lock, neither
// should happen at all.
const maxAttempts = 50

// Update implements [credits.Backend]. Writes of accounts whose states
// the Backend remembers go in one round trip, if their stored states are
// still the remembered ones (the fast path, fastpath.go). Otherwise it
// runs the writes in one
// transaction that holds the row locks of their accounts, taken in the
// order of the accounts' names so that two transactions never wait for
// each other in a circle (see the package documentation). An account
// whose operations append nothing and leave its state as it was is not
// stored; a transaction that stores nothing rolls back (an account that
// gets no entry gets no row).
//
// The operations are decided again, with freshly loaded states, only if
// the server reports a serialization failure or a deadlock: the server
// rolled that attempt back. Any other error is returned, wrapped, never
// retried: a broken connection or an ended context may leave the
// commit's outcome unknown, and only the caller, retrying with the same
// idempotency keys, can settle it.
func (b *Backend) Update(ctx context.Context, writes []credits.Write) error {
	order := make([]int, len(writes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(writes[x].Account, writes[y].Account) })
	if err := b.fast(ctx, writes, order); err != errSlowPath {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := b.update(ctx, writes, order)
		if err == nil || !isRetryable(err) || attempt == maxAttempts {
			return err
		}
		// Back off a little, at random, so that colliding writers drift
		// apart.
		wait := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("pgledger: %w (after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// isRetryable reports whether err is a serialization failure or a
// deadlock: the server rolled the transaction back, and running it again
// may succeed.
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// loaded is one account of an Update, as read under its row lock.
type loaded struct {
	found    bool
	version  int64
	stored   []byte
	existing map[string]*credits.Entry // the entries stored under the operations' keys
	last     *credits.Entry            // the account's last entry (nil: none), to check the state with
}

// update is one attempt of Update: writes, locked in order.
func (b *Backend) update(ctx context.Context, writes []credits.Write, order []int) (err error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgledger: %w", err)
	}
	inTx := false
	defer func() {
		// A connection left inside a transaction (an error, a panic in a
		// decision) is rolled back; if that cannot be done promptly, the
		// pool closes the connection on Release, and the server rolls back.
		if inTx && ctx.Err() == nil && !conn.Conn().IsClosed() {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		conn.Release()
	}()

	// Round trip 1: begin, then, account by account in order, lock its
	// row, read its last entry and the entries stored under its
	// operations' keys. In READ
	// COMMITTED each statement sees what was committed before it started,
	// so a key lookup, which runs once its lock is granted, sees every
	// entry of the account. (One statement joining the two would not:
	// after waiting for the lock, PostgreSQL re-reads only the locked row,
	// and the join would miss an entry the previous holder of the lock had
	// just committed.)
	inTx = true
	got := make([]loaded, len(writes))
	if err := b.read(ctx, conn, true, false, writes, order, got); err != nil {
		return fmt.Errorf("pgledger: lock and load: %w", err)
	}
	var missing []int
	for _, i := range order {
		if !got[i].found {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		// Accounts' first entries: create their rows (waiting for any
		// other transaction creating them), then lock and read again.
		// This costs a round trip once per account; doing it on every
		// update would make each wait for the row's last writer twice.
		if err := b.read(ctx, conn, false, true, writes, missing, got); err != nil {
			return fmt.Errorf("pgledger: create and load: %w", err)
		}
		for _, i := range missing {
			if !got[i].found {
				return errors.New("pgledger: an account's row is missing after its creation")
			}
		}
	}

	// Decide, account by account.
	batch := &pgx.Batch{}
	queued := 0
	stored := map[string]remembered{} // the states stored, by account
	for _, i := range order {
		w, g := writes[i], got[i]
		state, err := decodeState(w.Account, g.version, g.stored)
		if err != nil {
			return err
		}
		if err := state.CheckLast(w.Account, g.last); err != nil {
			return fmt.Errorf("pgledger: %w", err)
		}
		var entries []credits.Entry
		for k := range w.Ops {
			op := &w.Ops[k]
			op.Err = nil
			es, err := op.Decide(state, g.existing[op.Key])
			if err != nil {
				op.Err = err
				continue
			}
			entries = append(entries, es...)
		}
		blob, err := state.MarshalBinary()
		if err != nil {
			return fmt.Errorf("pgledger: store state: %w", err)
		}
		if len(entries) == 0 && (bytes.Equal(blob, g.stored) || (g.stored == nil && bytes.Equal(blob, zeroState))) {
			b.memory.remember(w.Account, remembered{g.version, g.stored, state})
			continue
		}
		stored[w.Account] = remembered{state.Version(), blob, state}
		batch.Queue(b.q.storeState, w.Account, state.Version(), blob)
		for k := range entries {
			args, err := entryArgs(&entries[k])
			if err != nil {
				return fmt.Errorf("pgledger: %w", err)
			}
			batch.Queue(b.q.insertEntry, args...)
		}
		queued += 1 + len(entries)
	}
	if queued == 0 {
		return nil // nothing to store: the deferred rollback ends the transaction
	}

	// Round trip 2: store the states, append, commit.
	batch.Queue("COMMIT")
	br := conn.SendBatch(ctx, batch)
	for range queued {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgledger: store: %w", err)
	}
	inTx = false
	if tag.String() != "COMMIT" {
		// The server answers COMMIT of a failed transaction with ROLLBACK.
		return fmt.Errorf("pgledger: the transaction was rolled back (%s)", tag)
	}
	for account, r := range stored {
		b.memory.remember(account, r)
	}
	return nil
}

// zeroState is the stored form of an account with no entries.
var zeroState = func() []byte {
	b, err := new(credits.AccountState).MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}()

// read runs, in one round trip on conn: BEGIN (if begin); then, for each
// write which, in that order, its account's row created if missing (if
// ensure), locked and read, its last entry, and the entries stored under
// its operations' keys. It fills got[i] of each.
func (b *Backend) read(ctx context.Context, conn *pgxpool.Conn, begin, ensure bool, writes []credits.Write, which []int, got []loaded) (err error) {
	batch := &pgx.Batch{}
	if begin {
		batch.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	}
	keys := make([][]string, len(writes))
	for _, i := range which {
		w := writes[i]
		if ensure {
			batch.Queue(b.q.ensureAccount, w.Account)
		}
		batch.Queue(b.q.lockAccount, w.Account)
		batch.Queue(b.q.lastEntry, w.Account)
		for _, op := range w.Ops {
			if op.Key != "" {
				keys[i] = append(keys[i], op.Key)
			}
		}
		switch len(keys[i]) {
		case 0:
		case 1:
			// One key, the usual case, by its own statement: the server
			// caches its generic plan (one unique-index probe), where for
			// key = ANY it estimates ten rows, finds the generic plan
			// dearer than a custom one and plans the statement again on
			// every call (BENCHMARKS.md, "A single writer, restored").
			batch.Queue(b.q.keyedEntry, w.Account, keys[i][0])
		default:
			batch.Queue(b.q.keyedEntries, w.Account, keys[i])
		}
	}
	br := conn.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if begin {
		if _, err = br.Exec(); err != nil {
			return err
		}
	}
	for _, i := range which {
		if ensure {
			if _, err = br.Exec(); err != nil {
				return err
			}
		}
		g := loaded{found: true}
		err = br.QueryRow().Scan(&g.version, &g.stored)
		if errors.Is(err, pgx.ErrNoRows) {
			g.found, err = false, nil
		}
		if err != nil {
			return err
		}
		if g.last, err = lastEntry(br, writes[i].Account); err != nil {
			return err
		}
		if len(keys[i]) > 0 {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				account := writes[i].Account
				e, err := scanEntry(rows, account)
				if err == nil {
					err = sqlentry.Check(&e, account, 0, "")
				}
				if err == nil && !slices.Contains(keys[i], e.Key) {
					err = &credits.CorruptError{Account: account, Entry: e.ID, Reason: fmt.Sprintf("the entry read for keys %q has key %q", keys[i], e.Key)}
				}
				if err != nil {
					rows.Close()
					return err
				}
				if g.existing == nil {
					g.existing = make(map[string]*credits.Entry)
				}
				g.existing[e.Key] = &e
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		got[i] = g
	}
	return nil
}

// lastEntry reads the answer of the query lastEntry from br: the
// account's entry of the greatest ID, nil if it has none. A row that does
// not decode, or of another account, is corrupt.
func lastEntry(br pgx.BatchResults, account string) (*credits.Entry, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	e, err := scanEntry(rows, account)
	if err == nil {
		err = sqlentry.Check(&e, account, 0, "")
	}
	if err != nil {
		return nil, err
	}
	rows.Close()
	return &e, rows.Err()
}

// Entry implements [credits.Backend].
func (b *Backend) Entry(ctx context.Context, account string, id int64) (credits.Entry, error) {
	return b.one(ctx, b.q.entry, account, id, "")
}

// EntryByKey implements [credits.Backend]. It reads without locking,
// through the unique index on (account, key).
func (b *Backend) EntryByKey(ctx context.Context, account, key string) (credits.Entry, error) {
	return b.one(ctx, b.q.keyedEntry, account, 0, key)
}

// one reads the one entry query selects (with the arguments account and
// id, or account and key), or ErrEntryNotFound. An entry that does not
// decode, or is not the one asked for, is corrupt.
func (b *Backend) one(ctx context.Context, query, account string, id int64, key string) (credits.Entry, error) {
	arg := any(key)
	if key == "" {
		arg = id
	}
	rows, err := b.pool.Query(ctx, query, account, arg)
	if err != nil {
		return credits.Entry{}, fmt.Errorf("pgledger: read entry: %w", err)
	}
	defer rows.Close()
	var e credits.Entry
	found := false
	for rows.Next() {
		if e, err = scanEntry(rows, account); err == nil {
			err = sqlentry.Check(&e, account, id, key)
		}
		if err != nil {
			return credits.Entry{}, fmt.Errorf("pgledger: read entry: %w", err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return credits.Entry{}, fmt.Errorf("pgledger: read entry: %w", err)
	}
	if !found {
		return credits.Entry{}, credits.ErrEntryNotFound
	}
	return e, nil
}

// Entries implements [credits.Backend]. The query walks an index from
// where its page begins (see historySQL): the primary key (account, id)
// from the cursor and from the ID bounds that Since and Until become,
// (account, kind, id) for each kind of a kind filter, (account, spender,
// id) for a spender.
func (b *Backend) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	args := []any{account, q.After, q.Limit}
	filter := 0
	if len(q.Kinds) > 0 {
		kinds := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			kinds[i] = k.String()
		}
		slices.Sort(kinds)
		kinds = slices.Compact(kinds) // one walk per kind: each entry once
		filter |= filterKinds
		args = append(args, kinds)
	}
	if !q.Since.IsZero() {
		filter |= filterSince
		args = append(args, q.Since)
	}
	if !q.Until.IsZero() {
		filter |= filterUntil
		args = append(args, q.Until)
	}
	if q.Spender != "" {
		filter |= filterSpender
		args = append(args, q.Spender)
	}
	rows, err := b.pool.Query(ctx, b.q.entries[filter], args...)
	if err != nil {
		return nil, fmt.Errorf("pgledger: read history: %w", err)
	}
	defer rows.Close()
	var out []credits.Entry
	for rows.Next() {
		e, err := scanEntry(rows, account)
		if err != nil {
			return nil, fmt.Errorf("pgledger: read history: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgledger: read history: %w", err)
	}
	if err := sqlentry.CheckPage(out, account, q.After, filter == 0); err != nil {
		return nil, fmt.Errorf("pgledger: read history: %w", err)
	}
	for i := range out {
		if !q.Match(&out[i]) { // the time bounds were taken as ID bounds
			return nil, fmt.Errorf("pgledger: read history: %w", &credits.CorruptError{Account: account, Entry: out[i].ID,
				Reason: fmt.Sprintf("the entry's time %s is out of the account's time order", out[i].Time.Format(time.RFC3339Nano))})
		}
	}
	return out, nil
}

var _ credits.Backend = (*Backend)(nil)
