-- The ledger's schema, version 8: an index for history filtered by kind.
--
-- entries_account_kind_id holds the entries of every kind but charges,
-- by account and kind in ID order: a page of grants, refunds, holds...
-- walks it from its cursor instead of walking the account's whole history
-- (History filtered by a kind that is 1 entry in 100 cost 4 ms at 100,000
-- entries). Charges, the bulk of a history and of writes, are left out:
-- a charge pays nothing for the index (BenchmarkSQLiteCharge unchanged;
-- a full index on (account, kind, id) made it about 10% slower), and a
-- page of charges finds them densely on the primary key. The queries
-- repeat the index's condition (kind <> 'charge') so that SQLite uses it.

CREATE INDEX entries_account_kind_id ON entries (account, kind, id) WHERE kind <> 'charge';
