-- 0007: advance, the state update of a one-round-trip write (pgledger's
-- fast path, fastpath.go). A Backend that stored an account's state
-- remembers it, decides the next operations on it without reading, and
-- sends, in one pipelined implicit transaction, a call of advance per
-- account and the INSERTs of the entries. advance moves the account from
-- the state the Backend remembers to the new one only if that is still
-- the stored state and the account's last entry is as it was written (its
-- row never updated since: its xmin is still the transaction that stored
-- it, entries.xid); otherwise it raises SQLSTATE CRST1, the whole
-- transaction rolls back, and the Backend writes the slow way, reading
-- under the row lock and checking the last entry in full.
--
-- The search path is this schema's, fixed when the function is created.

CREATE FUNCTION advance(p_account text, p_from bigint, p_from_state bytea, p_to bigint, p_to_state bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    -- Never wait for another writer's lock: a commit sent ahead of
    -- its lock would land after its caller gave up. A locked row
    -- (SQLSTATE 55P03) sends the write the slow way, which waits in a
    -- transaction that commits only once its caller still wants it.
    PERFORM FROM accounts WHERE id = p_account FOR UPDATE NOWAIT;
    UPDATE accounts SET version = p_to, state = p_to_state
     WHERE id = p_account AND version = p_from AND state = p_from_state
       AND EXISTS (SELECT FROM entries e WHERE e.account = p_account AND e.id = p_from AND e.xmin = e.xid::xid);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgledger: account % is no longer at version % as this instance stored it', p_account, p_from
            USING ERRCODE = 'CRST1';
    END IF;
END
$$;
