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
// beside it, an entry row that does not decode or is not the one asked
// for, and a page of history with a gap in its IDs are errors wrapping
// [credits.ErrCorrupt], on which the Backend does not act. Damaged pages
// are the server's to find: initialize it with data checksums (initdb
// --data-checksums, the default from PostgreSQL 18).
//
// # Concurrency
//
// An update runs in one READ COMMITTED transaction that locks the
// account's row (SELECT ... FOR UPDATE) before it reads anything else, so
// updates of one account serialize in every process, and updates of
// different accounts lock different rows and never wait for each other.
// Each update touches exactly one account row, so no two updates can
// deadlock. A row lock beat SERIALIZABLE transactions with retries in our
// measurements (BENCHMARKS.md, "PostgreSQL"): under contention serializable
// transactions spent their time failing and retrying. Should the server
// still report a serialization failure or a deadlock (SQLSTATE 40001,
// 40P01), the update is retried from the start, with freshly loaded state.
//
// An update costs two round trips to the server: one pipelined batch
// begins the transaction, locks the account's row and reads the entry
// stored under the idempotency key; a second one stores the state, appends
// the entries and commits. An account's first update creates its row
// first, in one more round trip.
//
// If the context is cancelled or the connection dies before the commit,
// the transaction rolls back and nothing is stored. (With pgx's default
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
}

// queries is the SQL of a Backend, with its schema spelled in.
type queries struct {
	ensureAccount string // creates the account's row if missing
	lockAccount   string // reads version and state under the row lock
	keyedEntry    string
	insertEntry   string
	storeState    string
	loadAccount   string
	entry         string
	// entries are the history queries, indexed by which filters a
	// HistoryQuery has (see historyFilter): each has its own SQL, so that
	// the planner can use the index that fits it.
	entries [8]string
}

// The filters of a history query, as bits of an index into queries.entries.
const (
	filterKinds = 1 << iota
	filterSince
	filterUntil
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
	b := &Backend{pool: pool, schema: opts.Schema}
	b.q = queries{
		ensureAccount: "INSERT INTO " + s + ".accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
		lockAccount:   "SELECT version, state FROM " + s + ".accounts WHERE id = $1 FOR UPDATE",
		keyedEntry:    "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND key = $2 AND key <> ''",
		insertEntry:   "INSERT INTO " + s + ".entries (" + sqlentry.Columns + ") VALUES (" + strings.Join(placeholders, ", ") + ")",
		storeState:    "UPDATE " + s + ".accounts SET version = $2, state = $3 WHERE id = $1",
		loadAccount:   "SELECT version, state FROM " + s + ".accounts WHERE id = $1",
		entry:         "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND id = $2",
	}
	for f := range b.q.entries {
		// $1 account, $2 cursor, $3 limit, then one parameter per filter,
		// in the order of the filter bits: Entries passes them so.
		q := "SELECT " + sqlentry.Columns + " FROM " + s + ".entries WHERE account = $1 AND id > $2"
		n := 3
		if f&filterKinds != 0 {
			n++
			q += fmt.Sprintf(" AND kind = ANY ($%d)", n)
		}
		if f&filterSince != 0 {
			n++
			q += fmt.Sprintf(" AND time >= $%d", n)
		}
		if f&filterUntil != 0 {
			n++
			q += fmt.Sprintf(" AND time < $%d", n)
		}
		b.q.entries[f] = q + " ORDER BY id LIMIT $3"
	}
	return b, nil
}

// Schema returns the schema the Backend's tables live in.
func (b *Backend) Schema() string { return b.schema }

// Load implements [credits.Backend]. An account with no row has the zero
// state.
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

// Update implements [credits.Backend]. It runs decide in one transaction
// that holds the account's row lock (see the package documentation); if
// decide fails, it rolls back and returns decide's error unchanged. A
// decision that returns no entries changes nothing, so that transaction
// only reads, and rolls back: an account that gets no entry gets no row.
//
// decide is called again, with freshly loaded state, only if the server
// reports a serialization failure or a deadlock: the server rolled that
// attempt back. Any other error is returned, wrapped, never retried: a
// broken connection or an ended context may leave the commit's outcome
// unknown, and only the caller, retrying with the same idempotency key,
// can settle it.
func (b *Backend) Update(ctx context.Context, account, key string, decide credits.Decision) error {
	for attempt := 1; ; attempt++ {
		err := b.update(ctx, account, key, decide)
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

// update is one attempt of Update.
func (b *Backend) update(ctx context.Context, account, key string, decide credits.Decision) (err error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgledger: %w", err)
	}
	inTx := false
	defer func() {
		// A connection left inside a transaction (an error, a panic in
		// decide) is rolled back; if that cannot be done promptly, the
		// pool closes the connection on Release, and the server rolls back.
		if inTx && ctx.Err() == nil && !conn.Conn().IsClosed() {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		conn.Release()
	}()

	// Round trip 1: begin, lock the account's row and read the entry
	// stored under the key. In READ COMMITTED each statement sees what was
	// committed before it started, so the key lookup, which runs once the
	// lock is granted, sees every entry of the account. (One statement
	// joining the two would not: after waiting for the lock, PostgreSQL
	// re-reads only the locked row, and the join would miss an entry that
	// the previous holder of the lock had just committed.)
	inTx = true
	version, stored, existing, found, err := b.read(ctx, conn, "BEGIN ISOLATION LEVEL READ COMMITTED", "", account, key)
	if err == nil && !found {
		// The account's first entry: create its row (waiting for any
		// other transaction creating it), then lock and read again. This
		// costs a round trip once per account; doing it on every update
		// would make each wait for the row's last writer twice.
		version, stored, existing, found, err = b.read(ctx, conn, "", b.q.ensureAccount, account, key)
		if err == nil && !found {
			err = errors.New("the account's row is missing after its creation")
		}
	}
	if err != nil {
		return fmt.Errorf("pgledger: lock and load: %w", err)
	}
	state, err := decodeState(account, version, stored)
	if err != nil {
		return err
	}

	entries, err := decide(state, existing)
	if err != nil {
		return err // the deferred rollback undoes the row insert, if any
	}
	// Round trip 2: store the state, append, commit. A decision that
	// appends nothing and leaves the state as it was stores nothing: the
	// deferred rollback ends the transaction (and undoes a new row).
	blob, err := state.MarshalBinary()
	if err != nil {
		return fmt.Errorf("pgledger: store state: %w", err)
	}
	if len(entries) == 0 && (bytes.Equal(blob, stored) || (stored == nil && bytes.Equal(blob, zeroState))) {
		return nil
	}
	batch := &pgx.Batch{}
	batch.Queue(b.q.storeState, account, state.Version(), blob)
	for i := range entries {
		args, err := entryArgs(&entries[i])
		if err != nil {
			return fmt.Errorf("pgledger: %w", err)
		}
		batch.Queue(b.q.insertEntry, args...)
	}
	batch.Queue("COMMIT")
	br := conn.SendBatch(ctx, batch)
	for range len(entries) + 1 {
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

// read runs, in one round trip on conn, begin (if not empty), then
// ensure (if not empty), then the locked read of the account's version and
// state, and, if key is not empty, the lookup of the entry stored under
// key. found reports whether the account has a row.
func (b *Backend) read(ctx context.Context, conn *pgxpool.Conn, begin, ensure, account, key string) (version int64, state []byte, existing *credits.Entry, found bool, err error) {
	batch := &pgx.Batch{}
	if begin != "" {
		batch.Queue(begin)
	}
	if ensure != "" {
		batch.Queue(ensure, account)
	}
	batch.Queue(b.q.lockAccount, account)
	if key != "" {
		batch.Queue(b.q.keyedEntry, account, key)
	}
	br := conn.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	for _, q := range []string{begin, ensure} {
		if q != "" {
			if _, err = br.Exec(); err != nil {
				return
			}
		}
	}
	err = br.QueryRow().Scan(&version, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil, false, nil
	}
	if err != nil || key == "" {
		return version, state, nil, err == nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var e credits.Entry
		if e, err = scanEntry(rows, account); err == nil {
			err = sqlentry.Check(&e, account, 0, key)
		}
		if err != nil {
			return
		}
		existing = &e
	}
	return version, state, existing, true, rows.Err()
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

// Entries implements [credits.Backend]. The query is served by the
// entries table's indexes: the primary key (account, id) from the cursor,
// (account, kind, id) for a kind filter, (account, time) for a time range.
func (b *Backend) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	args := []any{account, q.After, q.Limit}
	filter := 0
	if len(q.Kinds) > 0 {
		kinds := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			kinds[i] = k.String()
		}
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
	return out, nil
}

var _ credits.Backend = (*Backend)(nil)
