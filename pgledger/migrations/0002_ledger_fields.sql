-- 0002: the ledger's own data gets columns of its own, and metadata is the
-- caller's alone.
--
-- Before 0002 the ledger wrote into an entry's metadata: the claim key of
-- a free-tier grant ("claim"), the account that took a claim key on a
-- claim record ("account"), the subscription and plan of a renewal's
-- grants ("subscription", "plan") and of its rollovers ("subscription",
-- and "carried", a decimal amount of credits). Those move into the new
-- columns, and out of metadata, on the entries the ledger made itself:
-- the rollovers and claim records, and the grants whose key is the
-- ledger's ('$...') or empty. Grants of callers keep their metadata as the
-- caller wrote it.
--
-- Entries are append-only: the trigger that refuses updates is disabled
-- for this one migration, inside its transaction, and enabled again.

ALTER TABLE entries
    ADD COLUMN period_end   timestamptz,           -- NULL: none (time.Time{})
    ADD COLUMN subscription text   NOT NULL DEFAULT '',
    ADD COLUMN plan         text   NOT NULL DEFAULT '',
    ADD COLUMN carried      bigint NOT NULL DEFAULT 0,
    ADD COLUMN claim        text   NOT NULL DEFAULT '';

ALTER TABLE entries DISABLE TRIGGER entries_no_update_or_delete;

-- Subscription grants and rollovers. A carried amount is exact decimal
-- text: numeric keeps it exact on its way to micro-credits.
UPDATE entries SET
    subscription = coalesce(metadata->>'subscription', ''),
    plan         = coalesce(metadata->>'plan', ''),
    carried      = coalesce(((metadata->>'carried')::numeric * 1000000)::bigint, 0),
    metadata     = nullif((metadata::jsonb - 'subscription' - 'plan' - 'carried')::text, '{}')::json
WHERE metadata IS NOT NULL
    AND metadata->>'subscription' IS NOT NULL
    AND (kind = 'rollover' OR (kind = 'grant' AND (key = '' OR key LIKE '$%')));

-- Free-tier grants.
UPDATE entries SET
    claim    = metadata->>'claim',
    metadata = nullif((metadata::jsonb - 'claim')::text, '{}')::json
WHERE metadata IS NOT NULL AND kind = 'grant' AND key = '$free_tier' AND metadata->>'claim' IS NOT NULL;

-- Claim records: the account that took the key.
UPDATE entries SET
    claim    = metadata->>'account',
    metadata = nullif((metadata::jsonb - 'account')::text, '{}')::json
WHERE metadata IS NOT NULL AND kind = 'claim' AND metadata->>'account' IS NOT NULL;

ALTER TABLE entries ENABLE TRIGGER entries_no_update_or_delete;
