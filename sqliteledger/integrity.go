package sqliteledger

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A Backend refuses to act on stored data it cannot trust, with an error
// wrapping credits.ErrCorrupt (a *credits.CorruptError naming the
// account):
//
//   - a state whose checksum (the column state_check, see stateCheck) does
//     not match it, that does not decode, or whose version differs from
//     the version stored beside it or from the ID of the account's last
//     entry; an account with entries but no stored state;
//   - an entry row that does not decode (an unknown kind or name, metadata
//     that is not a JSON object, a value of the wrong type), that is not
//     the entry asked for, or a history page with a gap in its IDs (see
//     sqlentry.CheckPage);
//   - a file SQLite finds damaged (SQLITE_CORRUPT, SQLITE_NOTADB), or a
//     row of it holding a value of the wrong type (a STRICT table's
//     SQLITE_CONSTRAINT_DATATYPE when the row is rewritten).
//
//   - the account's last entry (the one under the state's version, read
//     with the state in one query) missing, or not the entry the state
//     recorded: its hash is not the state's, or its fields do not hash to
//     it (credits.AccountState.CheckLast), on every Load, and on every
//     Update but one that finds the state it cached still stored and
//     nothing but its own write connection having written since (see
//     stateCache).
//
// What it cannot tell: an entry before the last changed so that it still
// decodes (an amount, a key, an instant), or removed from the middle of
// the history when only filtered pages are read. Those are for the chain
// of entry hashes, which credits.Ledger.Verify checks, to find.

// castagnoli is the CRC-32C table of stateCheck.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateCheck is the checksum stored beside an account's state: the CRC-32C
// of the account's name, a zero byte, the version as 8 big-endian bytes,
// and the state's bytes.
func stateCheck(account string, version int64, state []byte) int64 {
	crc := crc32.Update(0, castagnoli, []byte(account))
	var v [9]byte
	binary.BigEndian.PutUint64(v[1:], uint64(version))
	crc = crc32.Update(crc, castagnoli, v[:])
	return int64(crc32.Update(crc, castagnoli, state))
}

// storedState is an account's row as sqlStateColumns read it: NULL
// columns (no row) for an account without one.
type storedState struct {
	version sql.NullInt64
	state   []byte
	sum     sql.NullInt64  // state_check
	last    sql.NullInt64  // the ID of the account's last entry (NULL: none)
	entry   *credits.Entry // the entry under the state's version (nil: none), to check the state with (AccountState.CheckLast)
	dataVer int64          // the write connection's PRAGMA data_version (see stateCache)
}

// sqlStateColumns select an account's stored state (version, state,
// state_check) and the ID of its last entry, from the accounts row a (a
// LEFT JOIN, so that an account without a row still has the ID of its
// last entry read, in the same snapshot), the account's name being ?1.
// sqlDataVersion is the connection's PRAGMA data_version, and
// sqlLastEntryColumns are the columns of the entry under the state's
// version, from the entries row e (a LEFT JOIN too: all NULL for none);
// see sqlLoadState for the queries that read them, in this order.
const (
	sqlStateColumns = `a.version, a.state, a.state_check, (SELECT max(id) FROM entries WHERE account = ?1)`
	sqlDataVersion  = `(SELECT data_version FROM pragma_data_version())`
)

var sqlLastEntryColumns = `e.` + strings.ReplaceAll(sqlentry.Columns, ", ", ", e.")

// scanState reads one row of sqlStateColumns, then, with dataVersion,
// sqlDataVersion, and, with last, sqlLastEntryColumns. A row that does
// not convert is corrupt, and so is an entry that does not decode or is
// not the one under the state's version.
func scanState(rows *sql.Rows, account string, dataVersion, last bool) (storedState, error) {
	var s storedState
	var e *optionalRow // allocated only when read: it is large
	dests := []any{&s.version, &s.state, &s.sum, &s.last}
	if dataVersion {
		dests = append(dests, &s.dataVer)
	}
	if last {
		e = new(optionalRow)
		dests = append(dests, e.dests()...)
	}
	if err := rows.Scan(dests...); err != nil {
		return s, &credits.CorruptError{Account: account, Reason: "the stored state does not read", Err: err}
	}
	if !last {
		return s, nil
	}
	entry, err := e.entry(account)
	if err == nil && entry != nil {
		err = sqlentry.Check(entry, account, s.version.Int64, "")
	}
	if err != nil {
		if !errors.Is(err, credits.ErrCorrupt) {
			err = &credits.CorruptError{Account: account, Reason: "the last entry's row does not read", Err: err}
		}
		return s, err
	}
	s.entry = entry
	return s, nil
}

// check checks the stored state of account, whose bytes are s.state (or,
// with no row, the zero state's), before they are decoded.
func (s *storedState) check(account string) error {
	last := s.last.Int64 // 0: no entries
	if !s.version.Valid {
		if s.state != nil || s.sum.Valid {
			return &credits.CorruptError{Account: account, Reason: "the stored state has no version"}
		}
		if last != 0 {
			return &credits.CorruptError{Account: account, Reason: fmt.Sprintf("the account has entries up to %d but no stored state", last)}
		}
		return nil
	}
	if s.state == nil {
		return &credits.CorruptError{Account: account, Reason: fmt.Sprintf("the stored state at version %d is empty", s.version.Int64)}
	}
	if s.sum.Valid {
		if sum := stateCheck(account, s.version.Int64, s.state); sum != s.sum.Int64 {
			return &credits.CorruptError{Account: account,
				Reason: fmt.Sprintf("the stored state at version %d does not match its checksum (%08x, stored %08x)", s.version.Int64, uint32(sum), uint32(s.sum.Int64))}
		}
	}
	if s.version.Int64 != last {
		return &credits.CorruptError{Account: account, Reason: fmt.Sprintf("the stored state is at version %d, the account's last entry is %d", s.version.Int64, last)}
	}
	return nil
}

// checkDecoded checks a decoded state against the version stored beside
// it, and, with last, against the entry under that version, read with it
// (AccountState.CheckLast: its ID and hash are the state's last, its
// fields hash to its hash).
func (s *storedState) checkDecoded(account string, st *credits.AccountState, last bool) error {
	if st.Version() != s.version.Int64 {
		return &credits.CorruptError{Account: account, Reason: fmt.Sprintf("the stored state is at version %d, its row says %d", st.Version(), s.version.Int64)}
	}
	if !last {
		return nil
	}
	return st.CheckLast(account, s.entry)
}

// decodeCorrupt is the error of a state that passed its checks but does
// not decode.
func decodeCorrupt(account string, err error) error {
	return &credits.CorruptError{Account: account, Reason: "the stored state does not decode", Err: err}
}

// readEntry reads the one entry stmt selects with args: an entry of
// account, with ID id (if not 0) and key key (if not ""). No row is
// credits.ErrEntryNotFound; a row that does not convert or decode, or is
// not the one asked for, is corrupt.
func readEntry(ctx context.Context, stmt *sql.Stmt, account string, id int64, key string, args ...any) (credits.Entry, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return credits.Entry{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return credits.Entry{}, err
		}
		return credits.Entry{}, credits.ErrEntryNotFound
	}
	e, err := entryRow(rows, account)
	if err == nil {
		err = sqlentry.Check(&e, account, id, key)
	}
	if err != nil {
		return credits.Entry{}, err
	}
	return e, rows.Close()
}

// entryRow reads the entry rows is positioned on: a row that does not
// convert or decode is corrupt.
func entryRow(rows *sql.Rows, account string) (credits.Entry, error) {
	e, err := scanEntry(rows)
	if err != nil && !errors.Is(err, credits.ErrCorrupt) {
		err = &credits.CorruptError{Account: account, Reason: "an entry row does not read", Err: err}
	}
	return e, err
}

// readState reads an account's stored state with stmt (the columns
// sqlStateColumns, then, with dataVersion, sqlDataVersion, and, with last,
// sqlLastEntryColumns), and checks it (see storedState.check). A query of
// sqlStateColumns returns one row, for an account without a row too.
func readState(ctx context.Context, stmt *sql.Stmt, account string, args []any, dataVersion, last bool) (storedState, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return storedState{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return storedState{}, err
		}
		return storedState{}, errors.New("the state's query returned no row")
	}
	s, err := scanState(rows, account, dataVersion, last)
	if err == nil {
		err = s.check(account)
	}
	if err != nil {
		return storedState{}, err
	}
	return s, rows.Close()
}

// corrupt returns err, the failure of an operation on account, as a
// *credits.CorruptError if SQLite found the file damaged; any other error
// unchanged.
func corrupt(account string, err error) error {
	var se *sqlite.Error
	if err == nil || errors.Is(err, credits.ErrCorrupt) || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return &credits.CorruptError{Account: account, Reason: "SQLite finds the file damaged", Err: err}
	}
	if se.Code() == sqlite3.SQLITE_CONSTRAINT_DATATYPE {
		// The Backend stores only values of their columns' types: a
		// row it rewrites holds one that is not.
		return &credits.CorruptError{Account: account, Reason: "a stored value is not of its column's type", Err: err}
	}
	return err
}

// sqlVersion reads an account's stored version (none: no row).
const sqlVersion = `SELECT version FROM accounts WHERE id = ?`

// checkMissing is Entry's answer for entry id of account, which it did
// not find: ErrEntryNotFound, unless the account's stored version, read in
// one snapshot with the entry's absence, says the entry should be there.
func (b *Backend) checkMissing(ctx context.Context, account string, id int64) error {
	return b.snapshot(ctx, func(tx *sql.Tx) error {
		_, err := readEntry(ctx, tx.StmtContext(ctx, b.readEntry), account, id, "", account, id)
		if !errors.Is(err, credits.ErrEntryNotFound) {
			return err // found in the meantime, or failed
		}
		version, err := storedVersion(ctx, tx, account)
		if err == nil && id >= 1 && id <= version {
			err = &credits.CorruptError{Account: account, Entry: id, Reason: fmt.Sprintf("the entry is missing, the account's state is at version %d", version)}
		}
		if err == nil {
			err = credits.ErrEntryNotFound
		}
		return err
	})
}

// denseEntries reads a page of account's history without filters from
// the cursor after: IDs must run after+1, after+2... with no gap, and a
// page shorter than limit, the end of the history, must end at the
// account's stored version, read in the same snapshot.
func (b *Backend) denseEntries(ctx context.Context, account string, after int64, limit int, query string, args []any) (out []credits.Entry, err error) {
	err = b.snapshot(ctx, func(tx *sql.Tx) error {
		if out, err = entries(ctx, tx, account, query, args); err != nil {
			return err
		}
		if err := sqlentry.CheckPage(out, account, after, true); err != nil || len(out) >= limit {
			return err
		}
		version, err := storedVersion(ctx, tx, account)
		last := after
		if len(out) > 0 {
			last = out[len(out)-1].ID
		}
		if err == nil && last < version {
			err = &credits.CorruptError{Account: account, Entry: last + 1,
				Reason: fmt.Sprintf("the history ends at entry %d, the account's state is at version %d: the entries after are missing", last, version)}
		}
		return err
	})
	return out, err
}

// storedVersion reads the account's stored version (0 for no row).
func storedVersion(ctx context.Context, tx *sql.Tx, account string) (int64, error) {
	var version int64
	err := tx.QueryRowContext(ctx, sqlVersion, account).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, &credits.CorruptError{Account: account, Reason: "the stored version does not read", Err: err}
	}
	return version, nil
}

// snapshot runs fn in one read transaction on a read connection: what fn
// reads is one snapshot of the file.
func (b *Backend) snapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := b.reader.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // it only reads
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// allKinds are the kinds of entry.
var allKinds = func() []credits.Kind {
	var out []credits.Kind
	for k := credits.Kind(1); ; k++ {
		if _, err := k.MarshalText(); err != nil {
			return out
		}
		out = append(out, k)
	}
}()
