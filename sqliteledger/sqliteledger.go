// Package sqliteledger is a [credits.Backend] that keeps a ledger in one
// SQLite file: the embedded, durable default. It needs no server and no
// cgo (it runs on modernc.org/sqlite), and an operation it has
// acknowledged survives a killed process.
//
// Open a file and put a [credits.Ledger] on it:
//
//	b, err := sqliteledger.Open(ctx, "credits.db", sqliteledger.Options{})
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//	ledger := credits.NewLedger(b, credits.Options{})
//
// # How it stores
//
// The file is in WAL mode. The table accounts holds each account's state
// (the bytes of [credits.AccountState.MarshalBinary]) and its version; the
// table entries holds every account's history, append-only: triggers refuse
// any UPDATE or DELETE of an entry. Amounts are INTEGER micro-credits,
// instants INTEGER unix microseconds (NULL for the zero time), kinds,
// sources, actions and resolutions their stable text names. A unique index
// on (account, key) makes an idempotency key impossible to apply twice.
// The schema is created and upgraded by numbered migrations embedded in the
// package, applied by [Open] in one transaction and recorded in the table
// schema_migrations; opening a file is idempotent, and safe while another
// process opens or uses it.
//
// # Concurrency
//
// A Backend is safe for concurrent use. SQLite lets one transaction write
// the file at a time, so writes are serialized: each Backend has a single
// write connection, on which [Backend.Update] runs one BEGIN IMMEDIATE
// transaction after another, the Go side queueing for it (a waiting Update
// gives up when its ctx is done). BEGIN IMMEDIATE takes the file's write
// lock before the account is read, so the state a decision sees cannot
// change under it, even when other processes write the same file: they
// wait for the lock up to [Options.BusyTimeout]. Updates of different
// accounts therefore also wait for each other, one short transaction at a
// time; that is SQLite's model, and the price of one file without a
// server. Reads ([Backend.Load], [Backend.Entry], [Backend.Entries]) use a
// separate pool of read-only connections; in WAL mode they see the last
// committed state and never block, nor wait for, the writer.
//
// # Integrity
//
// Each account's state is stored with a checksum (CRC-32C over the
// account, its version and the state's bytes), and read together with the
// ID of the account's last entry, and that entry itself, in one snapshot.
// A Backend refuses to act on what it cannot trust, with an error
// wrapping [credits.ErrCorrupt] (a [*credits.CorruptError] naming the
// account): a state that does not match its checksum, does not decode, or
// is not at the account's last entry; a last entry that is not the one
// the state recorded (its chain hash differs, or its fields do not hash
// to it, see [credits.AccountState.CheckLast]); entries without a state;
// an entry row that does not decode or is not the one asked for; a page
// of history with a gap in its IDs; a file SQLite finds damaged. It does
// not change the account then, and reads of other accounts go on. What it
// cannot tell on its own is an entry before the last changed so that it
// still decodes, or one missing from the middle of the history where only
// filtered pages read it: [credits.Ledger.Verify] checks the whole chain
// of entry hashes and finds those.
//
// # Durability
//
// An operation is durable when Update returns: it survives the process
// being killed at any instant, with either setting of
// [Options.Synchronous]; with [SynchronousFull] (the default) it also
// survives power loss. A transaction is never half-applied: the entries
// and the account's state are written together or not at all.
package sqliteledger

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Synchronous is SQLite's synchronous setting for the file: how often it
// waits for the disk.
type Synchronous string

// The synchronous settings a Backend supports. In WAL mode both survive a
// killed process: an acknowledged operation is in the write-ahead log,
// which the operating system keeps. They differ on power loss or an
// operating-system crash.
const (
	// SynchronousFull syncs the write-ahead log to disk on every commit:
	// an acknowledged operation survives power loss. The default.
	SynchronousFull Synchronous = "FULL"

	// SynchronousNormal syncs only when the log is checkpointed into the
	// database: commits are faster, and the file stays consistent, but on
	// power loss or an operating-system crash the last operations
	// acknowledged before it may be lost (never half-applied).
	SynchronousNormal Synchronous = "NORMAL"
)

// Options configures [Open]. The zero value is ready to use.
type Options struct {
	// Synchronous is SynchronousFull (the default, when empty) or
	// SynchronousNormal, in any letter case. See those constants for the
	// durability trade-off.
	Synchronous Synchronous

	// BusyTimeout is how long an operation waits for a lock held by
	// another process sharing the file before failing. Zero means
	// 5 seconds.
	BusyTimeout time.Duration

	// MaxReaders caps the read connections. Zero means the larger of 4
	// and runtime.GOMAXPROCS(0).
	MaxReaders int

	// ReadOnly opens an existing ledger for reading only: Open neither
	// creates nor migrates the file (its schema must be up to date), and
	// Update fails with ErrReadOnly. It reads a file this process may not
	// write, in a directory it may not write, or on a read-only medium;
	// see [Open].
	ReadOnly bool
}

// Backend is a [credits.Backend] on one SQLite file. Create it with
// [Open] and release it with [Backend.Close]. It is safe for concurrent
// use (see the package documentation for how it serializes writes).
type Backend struct {
	path   string
	writer *sql.DB // one connection: every write transaction runs on it; nil with Options.ReadOnly
	reader *sql.DB // read-only connections

	busy      time.Duration // Options.BusyTimeout, its default filled in
	immutable bool          // read-only, with SQLite's immutable=1 (see openReadOnly)

	loadForWrite *sql.Stmt // writer: an account's state and its last entry, in the write transaction
	loadCached   *sql.Stmt // writer: an account's state alone, in the write transaction
	keyForUpdate *sql.Stmt // writer: one entry by key, in the write transaction
	keysStored   *sql.Stmt // writer: which of some keys an account has entries under, in the write transaction
	insertState  *sql.Stmt // writer: a new account's state
	updateState  *sql.Stmt // writer: an account's new state
	insertEntry  *sql.Stmt // writer: append one entry
	readState    *sql.Stmt // reader: an account's state
	readEntry    *sql.Stmt // reader: one entry by ID
	readKey      *sql.Stmt // reader: one entry by key
	readFeed     *sql.Stmt // reader: a page of the feed
	saveConsumer *sql.Stmt // writer: a consumer's record, compared and swapped

	states stateCache // decoded states of accounts this Backend wrote

	closeOnce sync.Once
	closeErr  error
}

var _ credits.Backend = (*Backend)(nil)

const defaultBusyTimeout = 5 * time.Second

// The queries of an account's state (see sqlStateColumns). sqlLoadState
// (Load) reads the stored state, the ID of the account's last entry and
// the entry under the state's version, by the primary key of entries, in
// one query; sqlLoadForWrite (Update) the same and the write connection's
// data_version; sqlLoadCached (Update, when the Backend holds the
// account's state, see stateCache) the state and data_version alone.
var (
	sqlLoadState    = `SELECT ` + sqlStateColumns + `, ` + sqlLastEntryColumns + sqlStateFrom + sqlLastEntryJoin
	sqlLoadForWrite = `SELECT ` + sqlStateColumns + `, ` + sqlDataVersion + `, ` + sqlLastEntryColumns + sqlStateFrom + sqlLastEntryJoin
	sqlLoadCached   = `SELECT ` + sqlStateColumns + `, ` + sqlDataVersion + sqlStateFrom
)

const (
	sqlStateFrom     = ` FROM (SELECT 1) LEFT JOIN accounts a ON a.id = ?1`
	sqlLastEntryJoin = ` LEFT JOIN entries e ON e.account = ?1 AND e.id = a.version`
)

// The statements a Backend prepares once.
const (
	sqlInsertState = `INSERT INTO accounts (id, version, state, state_check) VALUES (?, ?, ?, ?)`
	sqlUpdateState = `UPDATE accounts SET version = ?2, state = ?3, state_check = ?4 WHERE id = ?1`
	sqlReadEntry   = `SELECT ` + sqlentry.Columns + ` FROM entries WHERE account = ? AND id = ?`
)

// sqlReadKey finds the entry's ID in the index of keys, repeating the
// condition of the partial index entries_key so that SQLite uses it, then
// the entry: should the entry be missing, the LEFT JOIN's NULLs do not
// read.
var sqlReadKey = `SELECT e.` + strings.ReplaceAll(sqlentry.Columns, ", ", ", e.") + ` FROM entries k INDEXED BY entries_key
		LEFT JOIN entries e ON e.account = k.account AND e.id = k.id WHERE k.account = ?1 AND k.key = ?2 AND k.key <> ''`

// sqlKeysStored returns which of the keys in the JSON array ?2 the
// account ?1 has entries under, from the index of keys alone: an Update
// looks up all the keys of an account's operations in one query (a batch
// of 8 charges of one account: one query, not 8), and reads an entry in
// full (sqlReadKey) only for a key found, a replay.
const sqlKeysStored = `SELECT k.key FROM entries k INDEXED BY entries_key
		WHERE k.account = ?1 AND k.key IN (SELECT value FROM json_each(?2)) AND k.key <> ''`

// sqlInsertEntry appends an entry, numbering it for the feed after the
// greatest number stored (the write lock is held: the numbers follow
// commit order).
var sqlInsertEntry = `INSERT INTO entries (` + sqlentry.Columns + `, seq) VALUES (` + entryPlaceholders +
	`, (SELECT coalesce(max(seq), 0) + 1 FROM entries))`

const (
	sqlFeed         = `SELECT ` + sqlentry.Columns + `, seq FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`
	sqlAccounts     = `SELECT id FROM accounts WHERE id > ? AND version > 0 ORDER BY id LIMIT ?`
	sqlLoadConsumer = `SELECT cursor, owner, until, version FROM consumers WHERE name = ?`
	sqlSaveConsumer = `INSERT INTO consumers (name, cursor, owner, until, version) VALUES (?1, ?2, ?3, ?4, ?5)
		ON CONFLICT (name) DO UPDATE SET cursor = ?2, owner = ?3, until = ?4, version = ?5 WHERE consumers.version = ?5 - 1`
)

// Open opens the SQLite ledger file at path, creating it if it does not
// exist (its directory must exist), and brings its schema up to date.
// path is a file name, relative to the working directory or absolute, any
// characters allowed; an in-memory database (":memory:") or a "file:" URI
// is refused. ctx bounds the opening and the migrations (the Backend does
// not keep it). The file must be on a local file system that supports
// SQLite's WAL mode: WAL relies on shared memory that network file
// systems do not provide. Any number of Backends, in this process or
// others, may open the same file at once.
//
// Open fails with an error wrapping [credits.ErrInvalidInput] for a bad
// path or option, and with an error naming the file if it cannot be
// opened, is not a ledger this package can use (say, its schema is newer
// than this package knows), or cannot be switched to WAL mode. A failed
// Open leaves nothing open.
//
// Writing needs the file writable by this process, and its directory too:
// SQLite creates the write-ahead log and its index (path-wal, path-shm)
// beside the file. When either is not (permissions, a read-only file
// system), Open says which, and that Options.ReadOnly reads the file.
// With ReadOnly, the file is opened read-only; if SQLite cannot create
// path-shm either, and there is no write-ahead log to read (path-wal does
// not exist, as after the last writer closed the file), it is opened as
// immutable: no locks, on the understanding that nobody writes it while it
// is open, which on a read-only medium nobody can.
func Open(ctx context.Context, path string, opts Options) (*Backend, error) {
	syncMode, err := checkSynchronous(opts.Synchronous)
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, &credits.InputError{Field: "path", Value: path, Reason: "must be the path of a file (not empty, :memory: or a URI)"}
	}
	if opts.BusyTimeout < 0 {
		return nil, &credits.InputError{Field: "busy_timeout", Value: opts.BusyTimeout.String(), Reason: "must not be negative"}
	}
	if opts.MaxReaders < 0 {
		return nil, &credits.InputError{Field: "max_readers", Value: fmt.Sprint(opts.MaxReaders), Reason: "must not be negative"}
	}
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = defaultBusyTimeout
	}
	readers := opts.MaxReaders
	if readers == 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: open %s: %w", path, err)
	}

	b := &Backend{path: abs, busy: busy}
	switch {
	case opts.ReadOnly:
		err = b.openReadOnly(ctx, readers)
	case fileNotWritable(abs) != "":
		err = fmt.Errorf("%s: open it with Options.ReadOnly to read it", fileNotWritable(abs))
	default:
		if err = b.open(ctx, syncMode, busy, readers); err != nil {
			if why := dirNotWritable(abs); why != "" {
				err = fmt.Errorf("%s: open it with Options.ReadOnly to read it: %w", why, err)
			}
		}
	}
	if err != nil {
		b.closeAll()
		return nil, fmt.Errorf("sqliteledger: open %s: %w", path, err)
	}
	return b, nil
}

func checkSynchronous(s Synchronous) (Synchronous, error) {
	switch Synchronous(strings.ToUpper(string(s))) {
	case "", SynchronousFull:
		return SynchronousFull, nil
	case SynchronousNormal:
		return SynchronousNormal, nil
	}
	return "", &credits.InputError{Field: "synchronous", Value: string(s), Reason: "must be FULL or NORMAL"}
}

// dsn is the modernc.org/sqlite data source name of the file at abs: a
// SQLite URI (so that any character may appear in the path) whose
// parameters the driver applies to every new connection.
func dsn(abs string, syncMode Synchronous, busy time.Duration, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+string(syncMode)+")")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

func (b *Backend) open(ctx context.Context, syncMode Synchronous, busy time.Duration, readers int) error {
	var err error
	if b.writer, err = sql.Open("sqlite", dsn(b.path, syncMode, busy, true)); err != nil {
		return err
	}
	// One connection that never expires: every write transaction queues
	// for it, and its prepared statements live as long as the Backend.
	b.writer.SetMaxOpenConns(1)
	b.writer.SetMaxIdleConns(1)
	b.writer.SetConnMaxLifetime(0)
	b.writer.SetConnMaxIdleTime(0)

	if err := setWAL(ctx, b.writer, busy); err != nil {
		return err
	}
	if err := migrate(ctx, b.writer); err != nil {
		return err
	}

	if b.reader, err = sql.Open("sqlite", dsn(b.path, syncMode, busy, false)); err != nil {
		return err
	}
	b.reader.SetMaxOpenConns(readers)
	b.reader.SetMaxIdleConns(readers)

	prepare := func(db *sql.DB, stmt **sql.Stmt, query string) {
		if err == nil {
			if *stmt, err = db.PrepareContext(ctx, query); err != nil {
				err = fmt.Errorf("prepare %q: %w", query, err)
			}
		}
	}
	prepare(b.writer, &b.loadForWrite, sqlLoadForWrite)
	prepare(b.writer, &b.loadCached, sqlLoadCached)
	prepare(b.writer, &b.keyForUpdate, sqlReadKey)
	prepare(b.writer, &b.keysStored, sqlKeysStored)
	prepare(b.writer, &b.insertState, sqlInsertState)
	prepare(b.writer, &b.updateState, sqlUpdateState)
	prepare(b.writer, &b.insertEntry, sqlInsertEntry)
	prepare(b.reader, &b.readState, sqlLoadState)
	prepare(b.reader, &b.readEntry, sqlReadEntry)
	prepare(b.reader, &b.readKey, sqlReadKey)
	prepare(b.reader, &b.readFeed, sqlFeed)
	prepare(b.writer, &b.saveConsumer, sqlSaveConsumer)
	return err
}

// setWAL puts the file in WAL mode (a setting kept in the file). A new
// file's first switch needs the file to itself, and SQLite answers
// SQLITE_BUSY at once, without waiting, to a connection that asks while
// another process is opening or switching the same file; so setWAL tries
// again until busy has passed.
func setWAL(ctx context.Context, db *sql.DB, busy time.Duration) error {
	deadline := time.Now().Add(busy)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("the file is in journal mode %q and cannot be switched to WAL", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("switch to WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED,
// in any of their extended forms.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Path returns the absolute path of the Backend's file.
func (b *Backend) Path() string { return b.path }

// Close closes the file. Operations in flight finish first; operations
// started after Close fail. Closing again does nothing and returns the
// first Close's result.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.closeAll() })
	return b.closeErr
}

func (b *Backend) closeAll() error {
	var errs []error
	for _, s := range []*sql.Stmt{b.loadForWrite, b.loadCached, b.keyForUpdate, b.keysStored, b.insertState, b.updateState, b.insertEntry, b.readState, b.readEntry, b.readKey, b.readFeed, b.saveConsumer} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	// Readers first: the last connection to close checkpoints the
	// write-ahead log into the file, and that is the writer's job.
	for _, db := range []*sql.DB{b.reader, b.writer} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqliteledger: close %s: %w", b.path, err)
	}
	return nil
}

// Load implements [credits.Backend]. It reads the last committed state
// without waiting for writers, and decodes it only if the Backend does
// not hold that very state decoded (see stateCache): a copy of it then
// costs a fraction of the JSON's decoding.
func (b *Backend) Load(ctx context.Context, account string) (*credits.AccountState, error) {
	stored, err := readState(ctx, b.readState, account, []any{account}, false, true)
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: load: %w", corrupt(account, err))
	}
	if !stored.version.Valid {
		return new(credits.AccountState), nil
	}
	s, ok := b.states.clone(account, stored.state)
	if !ok {
		s = new(credits.AccountState)
		if err := s.UnmarshalBinary(stored.state); err != nil {
			return nil, fmt.Errorf("sqliteledger: load: %w", decodeCorrupt(account, err))
		}
	}
	if err := stored.checkDecoded(account, s, true); err != nil {
		return nil, fmt.Errorf("sqliteledger: load: %w", err)
	}
	return s, nil
}

// zeroState is the stored form of an account with no entries.
var zeroState = func() []byte {
	b, err := new(credits.AccountState).MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}()

// Update implements [credits.Backend]. It runs in one BEGIN IMMEDIATE
// transaction on the write connection: for each write, it loads the
// account's state, and, for each operation, the entry stored under its
// key, and decides the operations in order; then it stores every
// account's new entries and state, and commits: one fsync for the whole
// batch (the Ledger batches writes of every account, see OneWriter). Any
// failure (ctx done, the file locked by another process for longer than
// Options.BusyTimeout, a full disk) rolls everything back and is returned
// wrapped. A decision must not call Update (of this Backend, or of another
// on the same file): the write lock is held until it returns. An account
// whose operations append nothing and leave its state as it was is not
// stored (an account that gets no entry gets no row). An account whose
// stored state it cannot trust, or an operation whose keyed entry it
// cannot, is not decided: its operations' Err (the operation's) is an
// error wrapping credits.ErrCorrupt, and the other writes go on.
func (b *Backend) Update(ctx context.Context, writes []credits.Write) (err error) {
	defer func() { err = corrupt("", err) }()
	if b.writer == nil {
		return fmt.Errorf("sqliteledger: update: %w", ErrReadOnly)
	}
	tx, err := b.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliteledger: begin: %w", b.explainBusy(err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback() // nothing was written that should stay
		}
	}()
	gen := connections.Load() // after BeginTx: counts the write connection, were it new
	var stored []storedAccount
	for _, w := range writes {
		d, changed, err := b.decide(ctx, tx, w, gen)
		if err != nil {
			return err
		}
		if changed {
			stored = append(stored, d)
		}
	}
	if len(stored) == 0 {
		return nil // nothing to store: the deferred rollback ends the transaction
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqliteledger: commit: %w", err)
	}
	committed = true
	for _, d := range stored {
		b.states.put(d.account, cachedState{blob: d.blob, state: d.state.Clone(), dataVer: d.dataVer, gen: gen})
	}
	return nil
}

// storedAccount is an account a transaction stores: its state, and the
// bytes it is stored as.
type storedAccount struct {
	account string
	blob    []byte
	state   *credits.AccountState
	dataVer int64 // the write connection's data_version in the transaction
}

// decide runs one write's operations inside tx and stores what they
// made, reporting whether the account changed. gen is connections when tx
// began.
func (b *Backend) decide(ctx context.Context, tx *sql.Tx, w credits.Write, gen uint64) (d storedAccount, changed bool, err error) {
	args := []any{w.Account}
	var (
		row   storedState
		state *credits.AccountState
	)
	hit, cached := b.states.take(w.Account)
	if cached && hit.gen == gen {
		// The state this Backend stored last, if nothing but its write
		// connection has written the file since: then the account's last
		// entry is the one it wrote, or read and checked, then.
		row, err = readState(ctx, tx.StmtContext(ctx, b.loadCached), w.Account, args, true, false)
		if err == nil && row.state != nil && row.dataVer == hit.dataVer && bytes.Equal(row.state, hit.blob) {
			state = hit.state
			err = row.checkDecoded(w.Account, state, false)
		}
	}
	if err == nil && state == nil {
		row, err = readState(ctx, tx.StmtContext(ctx, b.loadForWrite), w.Account, args, true, true)
		if err == nil {
			stored := row.state
			if stored == nil {
				stored = zeroState
			}
			if cached && bytes.Equal(hit.blob, stored) {
				state = hit.state
			} else {
				state = new(credits.AccountState)
				if err = state.UnmarshalBinary(stored); err != nil {
					err = decodeCorrupt(w.Account, err)
				}
			}
		}
		if err == nil {
			err = row.checkDecoded(w.Account, state, true)
		}
	}
	stored := row.state // nil: a new account
	isNew := stored == nil
	if stored == nil {
		stored = zeroState
	}
	if err != nil {
		err = corrupt(w.Account, fmt.Errorf("sqliteledger: load: %w", err))
		if !errors.Is(err, credits.ErrCorrupt) {
			return d, false, err
		}
		for k := range w.Ops { // refused, the other accounts going on
			w.Ops[k].Err = err
		}
		return d, false, nil
	}
	keyed, err := b.storedKeys(ctx, tx, w)
	if err != nil {
		return d, false, err
	}
	var entries []credits.Entry
	for k := range w.Ops {
		op := &w.Ops[k]
		op.Err = nil
		var existing *credits.Entry
		if keyed[op.Key] {
			e, err := readEntry(ctx, tx.StmtContext(ctx, b.keyForUpdate), w.Account, 0, op.Key, w.Account, op.Key)
			switch err = corrupt(w.Account, err); {
			case err == nil:
				existing = &e
			case errors.Is(err, credits.ErrCorrupt):
				op.Err = fmt.Errorf("sqliteledger: load the entry of key %q: %w", op.Key, err)
				continue
			case !errors.Is(err, credits.ErrEntryNotFound):
				return d, false, fmt.Errorf("sqliteledger: load the entry of key %q: %w", op.Key, err)
			}
		}
		es, err := op.Decide(state, existing)
		if err != nil {
			op.Err = err
			continue
		}
		entries = append(entries, es...)
	}
	blob, err := state.MarshalBinary()
	if err != nil {
		return d, false, fmt.Errorf("sqliteledger: store state: %w", err)
	}
	if len(entries) == 0 && string(blob) == string(stored) {
		return d, false, nil
	}
	storeState := b.updateState
	if isNew {
		storeState = b.insertState
	}
	if _, err := tx.StmtContext(ctx, storeState).ExecContext(ctx, w.Account, state.Version(), blob, stateCheck(w.Account, state.Version(), blob)); err != nil {
		return d, false, fmt.Errorf("sqliteledger: store state: %w", err)
	}
	insert := tx.StmtContext(ctx, b.insertEntry)
	for i := range entries {
		args, err := entryArgs(&entries[i])
		if err != nil {
			return d, false, fmt.Errorf("sqliteledger: %w", err)
		}
		if _, err := insert.ExecContext(ctx, args...); err != nil {
			return d, false, fmt.Errorf("sqliteledger: append entry %d: %w", entries[i].ID, err)
		}
	}
	d.account, d.blob, d.state, d.dataVer = w.Account, blob, state, row.dataVer
	return d, true, nil
}

// storedKeys returns the keys of w's operations that its account has
// entries under, in one query of the index of keys.
func (b *Backend) storedKeys(ctx context.Context, tx *sql.Tx, w credits.Write) (map[string]bool, error) {
	var keys []string
	for k := range w.Ops {
		if w.Ops[k].Key != "" {
			keys = append(keys, w.Ops[k].Key)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: look up keys: %w", err)
	}
	rows, err := tx.StmtContext(ctx, b.keysStored).QueryContext(ctx, w.Account, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: look up keys: %w", err)
	}
	defer rows.Close()
	var found map[string]bool
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return nil, fmt.Errorf("sqliteledger: look up keys: %w", err)
		}
		if found == nil {
			found = make(map[string]bool)
		}
		found[key] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteledger: look up keys: %w", err)
	}
	return found, nil
}

// OneWriter implements [credits.OneWriter]: a SQLite file has one write
// lock, so the Ledger batches writes of every account into one
// transaction.
func (b *Backend) OneWriter() bool { return true }
