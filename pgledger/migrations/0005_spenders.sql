-- 0005: spenders, budgets, multi-capture holds and job runs.
--
-- spender        who spent: on charges and holds, what closes or refunds
--                them, and (as a budget's scope) on budget entries; '' for none
-- multi_capture  a hold that may be captured several times
-- lines          a job run's hold: the estimate's lines; NULL for none
-- failure        entries a failed job run made: why it failed; '' for none
-- budget_cap, budget_window, budget_zone
--                a budget entry's cap (micro-credits), window and IANA zone
--
-- A new kind, budget, joins the check on kind.

ALTER TABLE entries
    ADD COLUMN spender       text    NOT NULL DEFAULT '',
    ADD COLUMN multi_capture boolean NOT NULL DEFAULT false,
    -- json, as metadata: the text exactly as written.
    ADD COLUMN lines         json    CHECK (json_typeof(lines) = 'array'),
    ADD COLUMN failure       text    NOT NULL DEFAULT '',
    ADD COLUMN budget_cap    bigint  NOT NULL DEFAULT 0,
    ADD COLUMN budget_window text    NOT NULL DEFAULT '',
    ADD COLUMN budget_zone   text    NOT NULL DEFAULT '';

ALTER TABLE entries DROP CONSTRAINT entries_kind_check;
ALTER TABLE entries ADD CONSTRAINT entries_kind_check CHECK (kind IN ('grant', 'charge', 'refund', 'hold', 'capture',
    'release', 'expire', 'rollover', 'claim', 'notice', 'budget'));

-- History of one spender ("what did key_live_7 spend"), in ID order from a
-- cursor. Partial: entries without a spender cost it nothing. Lookups
-- repeat "spender <> ''" so that a generic plan can use it.
CREATE INDEX entries_account_spender_id ON entries (account, spender, id) WHERE spender <> '';
