-- The ledger's schema, version 1.
--
-- accounts holds each account's current state: the opaque bytes of
-- credits.AccountState.MarshalBinary and its version (the ID of the
-- account's last entry). entries holds every account's append-only history.
--
-- Amounts are INTEGER micro-credits (credits.Credits). Instants are INTEGER
-- unix microseconds, UTC, NULL for the zero time. Kinds, sources, actions
-- and resolutions are their stable text names, '' for none.

CREATE TABLE accounts (
	id      TEXT    NOT NULL PRIMARY KEY,
	version INTEGER NOT NULL CHECK (version >= 0),
	state   BLOB    NOT NULL
) STRICT;

CREATE TABLE entries (
	account       TEXT    NOT NULL REFERENCES accounts (id),
	id            INTEGER NOT NULL CHECK (id > 0),
	kind          TEXT    NOT NULL,
	time          INTEGER,
	amount        INTEGER NOT NULL DEFAULT 0,
	held          INTEGER NOT NULL DEFAULT 0,
	balance_after INTEGER NOT NULL DEFAULT 0,
	source        TEXT    NOT NULL DEFAULT '',
	action        TEXT    NOT NULL DEFAULT '',
	resolution    TEXT    NOT NULL DEFAULT '',
	quantity      INTEGER NOT NULL DEFAULT 0,
	price_version TEXT    NOT NULL DEFAULT '',
	hold          INTEGER NOT NULL DEFAULT 0,
	lot           INTEGER NOT NULL DEFAULT 0,
	reverses      INTEGER NOT NULL DEFAULT 0,
	priority      INTEGER NOT NULL DEFAULT 0,
	expires_at    INTEGER,
	period        INTEGER,
	key           TEXT    NOT NULL DEFAULT '',
	request_hash  INTEGER NOT NULL DEFAULT 0, -- the uint64 fingerprint's bits, as a signed integer
	metadata      TEXT,                       -- a JSON object; NULL for none
	PRIMARY KEY (account, id)
) STRICT, WITHOUT ROWID;

-- One entry per account and idempotency key. Entries the ledger makes by
-- itself (expirations) have no key.
CREATE UNIQUE INDEX entries_key ON entries (account, key) WHERE key <> '';

-- The history is append-only: an entry, once written, is never changed or
-- removed.
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
	SELECT RAISE(ABORT, 'entries are append-only: an entry cannot be updated');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
	SELECT RAISE(ABORT, 'entries are append-only: an entry cannot be deleted');
END;
