-- The ledger's schema, version 7: a checksum of each account's state.
--
-- state_check is the CRC-32C (Castagnoli) of the account's name, its
-- version (8 bytes, big-endian) and the bytes of its state, as the package
-- wrote them; the package refuses a state whose checksum does not match
-- (credits.ErrCorrupt). NULL means not checked: the rows written before
-- this version, until their account's next write.
--
-- A writer that does not know the column (a process still running an
-- older release while a newer one migrates the file) would leave a stale
-- checksum beside a new state: the trigger clears it instead.

ALTER TABLE accounts ADD COLUMN state_check INTEGER;

CREATE TRIGGER accounts_state_check AFTER UPDATE OF state ON accounts
WHEN NEW.state_check IS OLD.state_check AND NEW.state_check IS NOT NULL
BEGIN
	UPDATE accounts SET state_check = NULL WHERE id = NEW.id;
END;
