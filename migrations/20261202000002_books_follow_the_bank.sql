-- Our books follow the bank (DOMAIN.md): what the bank reports it has done is
-- booked as reported, even below zero; what we initiate never overdraws.

-- 1. The available balance may go below zero, but only by a booking the bank
-- reported. `ledger::post` says so for the one update it makes, with a
-- transaction-local setting that a savepoint rollback also undoes; every other
-- update that takes available further below zero is refused as before
-- (check_violation, so callers still see "insufficient funds").
ALTER TABLE ktti_balances DROP CONSTRAINT ktti_balances_available_check;
CREATE FUNCTION ktti_balance_not_overdrawn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.available < 0 AND NEW.available < OLD.available
       AND coalesce(current_setting('kttipay.ledger_origin', true), '') <> 'bank' THEN
        RAISE EXCEPTION 'ktti % would be overdrawn: available % -> %', NEW.ktti_id, OLD.available, NEW.available
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ktti_balance_not_overdrawn BEFORE UPDATE ON ktti_balances
    FOR EACH ROW EXECUTE FUNCTION ktti_balance_not_overdrawn();

-- 2. An event that needs one we have not seen (a settlement or release before its
-- hold) is parked, waiting for that one, instead of retrying until its job dies.
-- Applying the predecessor wakes it in the same transaction.
ALTER TABLE provider_events DROP CONSTRAINT provider_events_status_check;
ALTER TABLE provider_events ADD CONSTRAINT provider_events_status_check
    CHECK (status IN ('received', 'applied', 'unmatched', 'ignored', 'parked'));
-- What a parked event waits for, e.g. 'hold:<holdHayId>'.
ALTER TABLE provider_events ADD COLUMN waiting_for text;
ALTER TABLE provider_events ADD COLUMN parked_at timestamptz;
-- The provider account a transaction event is about, for balance checks.
ALTER TABLE provider_events ADD COLUMN account_ref text
    GENERATED ALWAYS AS (body -> 'transactionEvent' ->> 'accountHayId') STORED;
CREATE INDEX provider_events_waiting ON provider_events (waiting_for) WHERE status = 'parked';
CREATE INDEX provider_events_open_by_account ON provider_events (account_ref)
    WHERE status IN ('received', 'parked');
CREATE INDEX provider_events_by_account ON provider_events (account_ref, received_at DESC)
    WHERE account_ref IS NOT NULL;

-- 3. Each event carries the bank's balances after it. Once every event we know of
-- for an account is applied, ours must equal the newest the bank reported; a
-- difference is kept here (and alerted) for operators. The bank may still send an
-- event it made earlier (a held-back authorisation), so a later check that agrees
-- again resolves the difference; one that stays open is what needs a person.
CREATE TABLE balance_mismatches (
    id                  uuid PRIMARY KEY,
    ktti_id             uuid NOT NULL REFERENCES ktties(id),
    provider_account_id text NOT NULL,
    -- The event whose balances disagreed; NULL when found by verify-ledger.
    event_id            uuid UNIQUE REFERENCES provider_events(id),
    ours_total          numeric(18,2) NOT NULL,
    ours_available      numeric(18,2) NOT NULL,
    bank_total          numeric(18,2),
    bank_available      numeric(18,2),
    detected_at         timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz
);
CREATE INDEX balance_mismatches_open ON balance_mismatches (ktti_id) WHERE resolved_at IS NULL;
CREATE INDEX balance_mismatches_ktti ON balance_mismatches (ktti_id, detected_at);

-- 4. A ktti below zero is the owner's to sort out: one open item at a time.
ALTER TABLE action_items DROP CONSTRAINT action_items_kind_check;
ALTER TABLE action_items ADD CONSTRAINT action_items_kind_check
    CHECK (kind IN ('adminRequest', 'joinApproval', 'invitation', 'unassignedDeposit', 'negativeBalance'));
CREATE UNIQUE INDEX action_items_one_negative_balance ON action_items (ktti_id)
    WHERE status = 'pending' AND kind = 'negativeBalance';
