-- The ledger's schema, version 6: each entry's link in its account's
-- tamper-evident chain (credits.Hash: SHA-256 over the entry before's hash
-- and this entry's fields). NULL on entries written before: the chain of
-- an account starts at its first entry written after this migration.

ALTER TABLE entries ADD COLUMN hash BLOB CHECK (hash IS NULL OR length(hash) = 32);
