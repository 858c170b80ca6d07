package pgledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Accounts implements [credits.Backend], in the order of the accounts'
// primary key (the database's collation of text).
func (b *Backend) Accounts(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := b.pool.Query(ctx, b.q.accounts, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pgledger: list accounts: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgledger: list accounts: %w", err)
	}
	return names, nil
}

// Feed implements [credits.Backend]. Each entry records the transaction
// that stored it (entries.xid, an xid8); Feed reads, in (xid, account,
// id) order from the cursor, only entries of transactions older than the
// oldest one still in flight, pg_snapshot_xmin(pg_current_snapshot()).
// Those transactions are all finished, so an entry can never appear
// behind a cursor once handed out: any transaction still to commit has a
// greater xid than every entry read. One account's entries are stored
// under its row lock, so their transactions' xids follow their IDs.
//
// The price is that a transaction anywhere in the database that stays
// open (idle in transaction, a long report) holds the feed back until it
// ends: the feed waits, it does not lose. Its cursors are "p" followed by
// the last entry's xid, ID and account.
func (b *Backend) Feed(ctx context.Context, after credits.Cursor, limit int) ([]credits.Entry, credits.Cursor, error) {
	xid, account, id, err := parseCursor(after)
	if err != nil {
		return nil, after, err
	}
	rows, err := b.pool.Query(ctx, b.q.feed, xid, account, id, limit)
	if err != nil {
		return nil, after, fmt.Errorf("pgledger: read the feed: %w", err)
	}
	defer rows.Close()
	var out []credits.Entry
	for rows.Next() {
		e, lastXid, err := scanFeedEntry(rows)
		if err != nil {
			return nil, after, fmt.Errorf("pgledger: read the feed: %w", err)
		}
		out = append(out, e)
		xid = lastXid
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("pgledger: read the feed: %w", err)
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	last := out[len(out)-1]
	return out, credits.Cursor("p" + xid + "." + strconv.FormatInt(last.ID, 10) + "." + last.Account), nil
}

// parseCursor reads a cursor of Feed: "" is the start.
func parseCursor(c credits.Cursor) (xid, account string, id int64, err error) {
	if c == "" {
		return "0", "", 0, nil
	}
	bad := &credits.InputError{Field: "cursor", Value: string(c), Reason: "not a cursor of a PostgreSQL ledger's feed"}
	rest, ok := strings.CutPrefix(string(c), "p")
	if !ok {
		return "", "", 0, bad
	}
	xid, rest, ok1 := strings.Cut(rest, ".")
	ids, account, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return "", "", 0, bad
	}
	if _, err := strconv.ParseUint(xid, 10, 64); err != nil {
		return "", "", 0, bad
	}
	if id, err = strconv.ParseInt(ids, 10, 64); err != nil || id < 0 {
		return "", "", 0, bad
	}
	return xid, account, id, nil
}

// LoadConsumer implements [credits.Backend].
func (b *Backend) LoadConsumer(ctx context.Context, name string) (credits.ConsumerRecord, error) {
	rec := credits.ConsumerRecord{Name: name}
	var (
		cursor string
		until  pgtype.Timestamptz
	)
	err := b.pool.QueryRow(ctx, b.q.loadConsumer, name).Scan(&cursor, &rec.Owner, &until, &rec.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, nil
	}
	if err != nil {
		return credits.ConsumerRecord{}, fmt.Errorf("pgledger: load consumer: %w", err)
	}
	rec.Cursor = credits.Cursor(cursor)
	if until.Valid {
		rec.Until = until.Time.UTC()
	}
	return rec, nil
}

// SaveConsumer implements [credits.Backend], in one statement: insert the
// record, or replace the one stored at the version before.
func (b *Backend) SaveConsumer(ctx context.Context, rec credits.ConsumerRecord) error {
	var until any
	if !rec.Until.IsZero() {
		until = rec.Until.UTC().Truncate(time.Microsecond)
	}
	tag, err := b.pool.Exec(ctx, b.q.saveConsumer, rec.Name, string(rec.Cursor), rec.Owner, until, rec.Version)
	if err != nil {
		return fmt.Errorf("pgledger: save consumer: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return credits.ErrConflict
	}
	return nil
}
