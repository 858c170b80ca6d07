-- The ledger's schema, version 2: the ledger's own data gets columns of
-- its own, and metadata is the caller's alone.
--
-- Before version 2 the ledger wrote into an entry's metadata: the claim
-- key of a free-tier grant ("claim"), the account that took a claim key on
-- a claim record ("account"), the subscription and plan of a renewal's
-- grants ("subscription", "plan") and of its rollovers ("subscription",
-- and "carried", a decimal amount of credits). Those move into the new
-- columns, and out of metadata, on the entries the ledger made itself:
-- the rollovers and claim records, and the grants whose key is the
-- ledger's ('$...') or empty. Grants of callers keep their metadata as
-- the caller wrote it.
--
-- Entries are append-only: the trigger that refuses updates is lifted for
-- this one migration, in its transaction, and put back.

ALTER TABLE entries ADD COLUMN period_end   INTEGER;
ALTER TABLE entries ADD COLUMN subscription TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN plan         TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN carried      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN claim        TEXT    NOT NULL DEFAULT '';

DROP TRIGGER entries_no_update;

-- Subscription grants and rollovers.
UPDATE entries SET
	subscription = coalesce(json_extract(metadata, '$.subscription'), ''),
	plan         = coalesce(json_extract(metadata, '$.plan'), ''),
	carried      = CASE
		WHEN json_extract(metadata, '$.carried') IS NULL THEN 0
		WHEN instr(json_extract(metadata, '$.carried'), '.') = 0
			THEN CAST(json_extract(metadata, '$.carried') AS INTEGER) * 1000000
		ELSE CAST(substr(json_extract(metadata, '$.carried'), 1, instr(json_extract(metadata, '$.carried'), '.') - 1) AS INTEGER) * 1000000
			+ CAST(substr(substr(json_extract(metadata, '$.carried'), instr(json_extract(metadata, '$.carried'), '.') + 1) || '000000', 1, 6) AS INTEGER)
	END,
	metadata     = nullif(json_remove(metadata, '$.subscription', '$.plan', '$.carried'), '{}')
WHERE metadata IS NOT NULL
	AND json_extract(metadata, '$.subscription') IS NOT NULL
	AND (kind = 'rollover' OR (kind = 'grant' AND (key = '' OR key LIKE '$%')));

-- Free-tier grants.
UPDATE entries SET
	claim    = json_extract(metadata, '$.claim'),
	metadata = nullif(json_remove(metadata, '$.claim'), '{}')
WHERE metadata IS NOT NULL AND kind = 'grant' AND key = '$free_tier' AND json_extract(metadata, '$.claim') IS NOT NULL;

-- Claim records: the account that took the key.
UPDATE entries SET
	claim    = json_extract(metadata, '$.account'),
	metadata = nullif(json_remove(metadata, '$.account'), '{}')
WHERE metadata IS NOT NULL AND kind = 'claim' AND json_extract(metadata, '$.account') IS NOT NULL;

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
	SELECT RAISE(ABORT, 'entries are append-only: an entry cannot be updated');
END;
