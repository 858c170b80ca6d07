-- The ledger's schema, version 4: notices (entries of kind notice, which
-- move no credits) say what they are about and the amount they concern.

ALTER TABLE entries ADD COLUMN notice TEXT    NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN value  INTEGER NOT NULL DEFAULT 0;
