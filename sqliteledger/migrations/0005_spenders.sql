-- The ledger's schema, version 5: spenders, budgets, multi-capture holds
-- and job runs.
--
-- spender        who spent: on charges and holds, what closes or refunds
--                them, and (as a budget's scope) on budget entries; '' for none
-- multi_capture  1 on a hold that may be captured several times
-- lines          a job run's hold: the estimate's lines, a JSON array; NULL for none
-- failure        entries a failed job run made: why it failed; '' for none
-- budget_cap, budget_window, budget_zone
--                a budget entry's cap (micro-credits), window and IANA zone
--
-- There is no index on spender, as there is none on kind or time: each
-- index costs every write, and History walks the primary key from its
-- cursor, filtering on the way (see entriesQuery).

ALTER TABLE entries ADD COLUMN spender       TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN multi_capture INTEGER NOT NULL DEFAULT 0 CHECK (multi_capture IN (0, 1));
ALTER TABLE entries ADD COLUMN lines         TEXT;
ALTER TABLE entries ADD COLUMN failure       TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN budget_cap    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN budget_window TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN budget_zone   TEXT    NOT NULL DEFAULT '';
