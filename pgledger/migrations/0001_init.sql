-- 0001: accounts, their append-only entries, and the indexes that make the
-- history query and the idempotency lookup index scans.
--
-- Migrate runs this with search_path set to the ledger's schema, so the
-- names below are created there. Amounts are bigint micro-credits
-- (credits.Credits): never floating point, never numeric.

CREATE TABLE accounts (
    id      text   PRIMARY KEY,
    -- The ID of the account's last entry (AccountState.Version): 0 until
    -- the first entry is stored.
    version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    -- AccountState.MarshalBinary(), opaque to this package. It is JSON
    -- today: convert_from(state, 'UTF8') shows it in a console.
    state   bytea,
    CHECK ((version = 0) = (state IS NULL))
);

CREATE TABLE entries (
    account       text        NOT NULL REFERENCES accounts (id),
    id            bigint      NOT NULL CHECK (id > 0),
    kind          text        NOT NULL CHECK (kind IN ('grant', 'charge', 'refund', 'hold', 'capture',
                                                       'release', 'expire', 'rollover', 'claim')),
    time          timestamptz NOT NULL,
    amount        bigint      NOT NULL,
    held          bigint      NOT NULL DEFAULT 0,
    balance_after bigint      NOT NULL,
    source        text        NOT NULL DEFAULT '',
    action        text        NOT NULL DEFAULT '',
    resolution    text        NOT NULL DEFAULT '',
    quantity      bigint      NOT NULL DEFAULT 0,
    price_version text        NOT NULL DEFAULT '',
    hold          bigint      NOT NULL DEFAULT 0,
    lot           bigint      NOT NULL DEFAULT 0,
    reverses      bigint      NOT NULL DEFAULT 0,
    priority      integer     NOT NULL DEFAULT 0,
    expires_at    timestamptz,            -- NULL: never (time.Time{})
    period        timestamptz,            -- NULL: none (time.Time{})
    key           text        NOT NULL DEFAULT '',
    request_hash  bigint      NOT NULL DEFAULT 0,  -- the uint64 fingerprint's bit pattern
    -- json, not jsonb: it keeps the text exactly as written, and jsonb
    -- cannot hold a "\u0000" that a metadata value may contain.
    metadata      json        CHECK (json_typeof(metadata) = 'object'),
    PRIMARY KEY (account, id)
);

-- One entry per (account, idempotency key); entries the ledger makes itself
-- have no key. Lookups must repeat "key <> ''" so that a generic plan can
-- use this partial index.
CREATE UNIQUE INDEX entries_account_key ON entries (account, key) WHERE key <> '';

-- History filtered by kind ("the account's charges"), in ID order from a cursor.
CREATE INDEX entries_account_kind_id ON entries (account, kind, id);

-- History in a time range ("the account's March").
CREATE INDEX entries_account_time ON entries (account, time);

-- Entries are append-only, for every client of the database, not only this
-- package: UPDATE, DELETE and TRUNCATE of entries fail.
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credits: entries are append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER entries_no_update_or_delete BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();

CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();
