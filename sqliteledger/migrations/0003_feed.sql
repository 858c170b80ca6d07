-- The ledger's schema, version 3: the feed of every account's entries,
-- and the positions of its consumers.
--
-- entries.seq numbers every entry in the order it was committed: the
-- write transaction that stores entries holds the file's write lock, and
-- numbers them after the greatest number stored, so the numbers follow
-- commit order and a reader's snapshot never has a hole below its
-- greatest number. Entries stored before version 3 are numbered in the
-- order of their times (each account's in ID order).

ALTER TABLE entries ADD COLUMN seq INTEGER;

DROP TRIGGER entries_no_update;

CREATE TEMP TABLE numbered AS
	SELECT account, id, row_number() OVER (ORDER BY time, account, id) AS n FROM entries;
CREATE INDEX temp.numbered_entry ON numbered (account, id);
UPDATE entries SET seq = (SELECT n FROM numbered WHERE numbered.account = entries.account AND numbered.id = entries.id);
DROP TABLE temp.numbered;

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
	SELECT RAISE(ABORT, 'entries are append-only: an entry cannot be updated');
END;

CREATE UNIQUE INDEX entries_seq ON entries (seq);

-- A consumer's position in the feed and its lease, for the Ledger's
-- compare-and-swap (version).
CREATE TABLE consumers (
	name    TEXT    NOT NULL PRIMARY KEY,
	cursor  TEXT    NOT NULL,
	owner   TEXT    NOT NULL,
	until   INTEGER,          -- unix microseconds; NULL for none
	version INTEGER NOT NULL CHECK (version > 0)
) STRICT;
