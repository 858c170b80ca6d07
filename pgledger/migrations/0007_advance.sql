-- 0007: advance, the state update of a one-round-trip write (pgledger's
-- fast path, fastpath.go). A Backend that stored an account's state
-- remembers it, decides the next operations on it without reading, and
-- sends, in one pipelined implicit transaction, a call of advance per
-- account and the INSERTs of the entries. advance moves the account from
-- the state the Backend remembers to the new one only if the row is not
-- locked by another writer (it never waits: a commit sent ahead of its
-- lock would land after its caller gave up), still holds that state, and
-- its last entry is the state's, its row as its transaction stored it
-- (never updated since: its xmin is still entries.xid). Otherwise it
-- raises SQLSTATE CRST1 (55P03 for a locked row), the whole transaction
-- rolls back, and the Backend writes the slow way, waiting for the lock
-- and checking the last entry in full.
--
-- The last entry is found as the slow path finds it, by the account's
-- greatest ID (a backward walk of the primary key, whatever plan the
-- server caches): a test of one ID inside the UPDATE was planned as a
-- walk of the account's whole history, 0.3 ms on a busy account.
--
-- The search path is this schema's, fixed when the function is created.

CREATE FUNCTION advance(p_account text, p_from bigint, p_from_state bytea, p_to bigint, p_to_state bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    last_id bigint;
    untouched boolean;
BEGIN
    PERFORM FROM accounts WHERE id = p_account FOR UPDATE NOWAIT;
    SELECT e.id, e.xmin = e.xid::xid INTO last_id, untouched
      FROM entries e WHERE e.account = p_account ORDER BY e.id DESC LIMIT 1;
    IF last_id IS DISTINCT FROM p_from OR NOT untouched THEN
        RAISE EXCEPTION 'pgledger: the last entry of account % is not entry % as this instance stored it', p_account, p_from
            USING ERRCODE = 'CRST1';
    END IF;
    UPDATE accounts SET version = p_to, state = p_to_state
     WHERE id = p_account AND version = p_from AND state = p_from_state;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgledger: account % is no longer at version % as this instance stored it', p_account, p_from
            USING ERRCODE = 'CRST1';
    END IF;
END
$$;
