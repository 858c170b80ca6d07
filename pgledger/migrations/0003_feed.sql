-- 0003: the feed of every account's entries, and the positions of its
-- consumers.
--
-- entries.xid is the transaction that stored the entry (pg_current_xact_id,
-- a 64-bit xid8 that never wraps around). A reader of the feed takes only
-- entries of transactions below the oldest one still in flight
-- (pg_snapshot_xmin of its snapshot): those are all finished, so no entry
-- can appear later behind them, and reading on in (xid, account, id) order
-- from the last one read skips nothing. (A sequence would not do: its
-- numbers are handed out before commit, so a reader past a number can miss
-- a slower transaction's smaller one.) Entries stored before 0003 all get
-- this migration's transaction, and so come first, in (account, id) order.

ALTER TABLE entries ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The feed, in the order it is read.
CREATE INDEX entries_feed ON entries (xid, account, id);

-- A consumer's position in the feed and its lease, for the Ledger's
-- compare-and-swap (version).
CREATE TABLE consumers (
    name    text        PRIMARY KEY,
    cursor  text        NOT NULL,
    owner   text        NOT NULL,
    until   timestamptz,          -- NULL: none
    version bigint      NOT NULL CHECK (version > 0)
);
