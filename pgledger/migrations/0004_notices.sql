-- 0004: notices (entries of kind notice, which move no credits) say what
-- they are about and the amount they concern.

ALTER TABLE entries
    ADD COLUMN notice text   NOT NULL DEFAULT '',
    ADD COLUMN value  bigint NOT NULL DEFAULT 0;

ALTER TABLE entries DROP CONSTRAINT entries_kind_check;
ALTER TABLE entries ADD CONSTRAINT entries_kind_check CHECK (kind IN ('grant', 'charge', 'refund', 'hold', 'capture',
    'release', 'expire', 'rollover', 'claim', 'notice'));
