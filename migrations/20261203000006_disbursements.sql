-- Paying a closing ktti out. A disbursement is one round of the plan: the first
-- when the owner disburses, another when money is left after a round (a late
-- deposit, a refused payout). Each payout is one transfer with one idempotency
-- key for its whole life: every retry, by the job or by an operator, sends the
-- same key, so the bank moves the money once.

CREATE TABLE disbursements (
    id              uuid PRIMARY KEY,
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    round           integer NOT NULL CHECK (round > 0),
    requested_by    uuid NOT NULL REFERENCES users(id),
    -- The available balance the plan pays out, exactly.
    available       numeric(18,2) NOT NULL CHECK (available >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ktti_id, round)
);

-- "Who owes whom": debts of members who spent more than they paid in, settled
-- between members outside KttiPay.
CREATE TABLE settle_ups (
    disbursement_id uuid NOT NULL REFERENCES disbursements(id),
    seq             smallint NOT NULL,
    from_user_id    uuid NOT NULL REFERENCES users(id),
    to_user_id      uuid NOT NULL REFERENCES users(id),
    amount          numeric(18,2) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (disbursement_id, seq)
);

CREATE TABLE payouts (
    id                  uuid PRIMARY KEY,
    disbursement_id     uuid NOT NULL REFERENCES disbursements(id),
    ktti_id             uuid NOT NULL REFERENCES ktties(id),
    user_id             uuid NOT NULL REFERENCES users(id),
    amount              numeric(18,2) NOT NULL CHECK (amount > 0),
    -- Sent on every attempt; also the transfer's reference, so a transfer whose
    -- answer was lost can be found at the bank.
    idempotency_key     uuid NOT NULL UNIQUE,
    -- pending: planned; submitted: reserved and sent (perhaps more than once);
    -- completed: the bank moved it; failed: the bank refused it (nothing moved);
    -- dead: out of attempts with the outcome unknown, waiting for an operator.
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'submitted', 'completed', 'failed', 'dead')),
    -- Decided with the plan, so every retry goes where the first attempt went:
    -- personalKtti (an internal transfer) or bankAccount (the nominated one).
    destination         text NOT NULL CHECK (destination IN ('personalKtti', 'bankAccount')),
    to_account_hay_id   text,
    to_bsb              text,
    to_account_number   text,
    to_name             text NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    -- A stable code (provider_unavailable, recipient_account_closed...), shown to
    -- members; details go to the job's error and the logs.
    last_error          text,
    transaction_id      uuid REFERENCES transactions(id),
    provider_transaction_id text UNIQUE,
    submitted_at        timestamptz,
    finished_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (disbursement_id, user_id),
    CHECK ((destination = 'personalKtti') = (to_account_hay_id IS NOT NULL)),
    CHECK ((destination = 'bankAccount') = (to_bsb IS NOT NULL AND to_account_number IS NOT NULL))
);
CREATE INDEX payouts_ktti ON payouts (ktti_id, status);

-- A payout's split names the one member paid, so it counts toward their paidOut.
ALTER TABLE splits DROP CONSTRAINT splits_origin_check;
ALTER TABLE splits ADD CONSTRAINT splits_origin_check CHECK (origin IN ('default', 'refund', 'manual', 'payout'));

-- What closing asks of people: a refused payout (the owner decides what next), a
-- movement after payouts started (the owner sees it), a member with nowhere to
-- be paid (they nominate an account).
ALTER TABLE action_items DROP CONSTRAINT action_items_kind_check;
ALTER TABLE action_items ADD CONSTRAINT action_items_kind_check
    CHECK (kind IN ('adminRequest', 'joinApproval', 'invitation', 'unassignedDeposit', 'negativeBalance',
                    'payoutFailed', 'lateMovement', 'payoutAccountNeeded'));
CREATE UNIQUE INDEX action_items_one_payout_account_needed ON action_items (ktti_id, addressee_id)
    WHERE status = 'pending' AND kind = 'payoutAccountNeeded';

-- Disbursing waits for every card hold to settle: counted without a scan.
CREATE INDEX transactions_open_holds ON transactions (ktti_id) WHERE kind = 'cardPayment' AND status = 'pending';
