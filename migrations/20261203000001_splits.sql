-- Splits: who bears which part of each transaction, and per-member totals that
-- triggers keep current from the splits and deposits themselves, so reading a
-- ktti's member totals is a few rows, never a scan of its transactions, and no
-- code path can change a split or an assignee without the totals following.

-- A refund points at the expense it reverses (its split is that expense's, pro
-- rata), when the bank's event lets us tell which.
ALTER TABLE transactions ADD COLUMN refund_of uuid REFERENCES transactions(id);
CREATE INDEX transactions_refund_of ON transactions (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE splits (
    transaction_id  uuid PRIMARY KEY REFERENCES transactions(id),
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    mode            text NOT NULL CHECK (mode IN ('equal', 'shares', 'percentages', 'exact', 'lineItems')),
    -- default: the money flow with the default proportions; refund: reversing
    -- its expense; manual: a person.
    origin          text NOT NULL CHECK (origin IN ('default', 'refund', 'manual')),
    -- Bumped by every change: an update naming an older version is refused (409),
    -- so two people editing one split never produce a mix of both.
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_by      uuid REFERENCES users(id),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE split_shares (
    transaction_id  uuid NOT NULL REFERENCES splits(transaction_id),
    user_id         uuid NOT NULL REFERENCES users(id),
    -- What the member was given: a weight, a percentage, an amount (NULL: equal).
    value           numeric(24,4),
    amount          numeric(18,2) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (transaction_id, user_id)
);

-- Every change of a split: who (NULL: the money flow), when, before and after.
CREATE TABLE split_changes (
    id              uuid PRIMARY KEY,
    transaction_id  uuid NOT NULL REFERENCES splits(transaction_id),
    actor_id        uuid REFERENCES users(id),
    origin          text NOT NULL,
    before          jsonb,
    after           jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX split_changes_transaction ON split_changes (transaction_id, created_at);

-- Per member of a ktti (members who left keep their row): deposits assigned to
-- them, their shares of expenses net of refunds and fees, payouts to them.
CREATE TABLE member_totals (
    ktti_id     uuid NOT NULL REFERENCES ktties(id),
    user_id     uuid NOT NULL REFERENCES users(id),
    deposited   numeric(18,2) NOT NULL DEFAULT 0,
    spent       numeric(18,2) NOT NULL DEFAULT 0,
    paid_out    numeric(18,2) NOT NULL DEFAULT 0,
    PRIMARY KEY (ktti_id, user_id)
);

-- Posted deposits no member is assigned yet.
CREATE TABLE ktti_unassigned (
    ktti_id     uuid PRIMARY KEY REFERENCES ktties(id),
    amount      numeric(18,2) NOT NULL DEFAULT 0 CHECK (amount >= 0)
);

CREATE FUNCTION member_totals_add(k uuid, u uuid, dep numeric, spe numeric, pay numeric)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_totals (ktti_id, user_id, deposited, spent, paid_out) VALUES (k, u, dep, spe, pay)
    ON CONFLICT (ktti_id, user_id) DO UPDATE SET
        deposited = member_totals.deposited + dep,
        spent = member_totals.spent + spe,
        paid_out = member_totals.paid_out + pay;
$$;

-- A share counts toward paid out (a payout to the member), against spent (money
-- coming back: a refund) or toward spent (an expense, a fee, a transfer out).
CREATE FUNCTION split_share_count(txn uuid, u uuid, amount numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    SELECT ktti_id, kind, direction INTO t FROM transactions WHERE id = txn;
    IF t.kind = 'deposit' THEN
        RAISE EXCEPTION 'deposit % has an assignee, not a split', txn USING ERRCODE = 'check_violation';
    ELSIF t.kind = 'payout' THEN
        PERFORM member_totals_add(t.ktti_id, u, 0, 0, amount);
    ELSIF t.direction = 'in' THEN
        PERFORM member_totals_add(t.ktti_id, u, 0, -amount, 0);
    ELSE
        PERFORM member_totals_add(t.ktti_id, u, 0, amount, 0);
    END IF;
END $$;

CREATE FUNCTION split_shares_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM split_share_count(OLD.transaction_id, OLD.user_id, -OLD.amount);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM split_share_count(NEW.transaction_id, NEW.user_id, NEW.amount);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER split_shares_count AFTER INSERT OR UPDATE OR DELETE ON split_shares
    FOR EACH ROW EXECUTE FUNCTION split_shares_count();

-- A posted deposit counts for its assignee, or as unassigned; reassigning it
-- moves it between them.
CREATE FUNCTION deposit_count(k uuid, assignee uuid, amount numeric) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF assignee IS NULL AND amount < 0 THEN
        -- Taking a counted deposit back out: its row exists. (An upsert would
        -- check the negative row it proposes against the CHECK and fail.)
        UPDATE ktti_unassigned SET amount = ktti_unassigned.amount + deposit_count.amount WHERE ktti_id = k;
    ELSIF assignee IS NULL THEN
        INSERT INTO ktti_unassigned (ktti_id, amount) VALUES (k, amount)
        ON CONFLICT (ktti_id) DO UPDATE SET amount = ktti_unassigned.amount + EXCLUDED.amount;
    ELSE
        PERFORM member_totals_add(k, assignee, amount, 0, 0);
    END IF;
END $$;

CREATE FUNCTION deposits_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.kind = 'deposit' AND OLD.status = 'posted' THEN
        PERFORM deposit_count(OLD.ktti_id, OLD.assignee_id, -OLD.amount);
    END IF;
    IF NEW.kind = 'deposit' AND NEW.status = 'posted' THEN
        PERFORM deposit_count(NEW.ktti_id, NEW.assignee_id, NEW.amount);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER transactions_deposits_count AFTER INSERT OR UPDATE OF assignee_id, status, amount ON transactions
    FOR EACH ROW WHEN (NEW.kind = 'deposit') EXECUTE FUNCTION deposits_count();

-- Deposits booked before this migration. (Expenses booked before it have no
-- split; only development databases hold any.)
INSERT INTO member_totals (ktti_id, user_id, deposited)
SELECT ktti_id, assignee_id, sum(amount) FROM transactions
WHERE kind = 'deposit' AND status = 'posted' AND assignee_id IS NOT NULL
GROUP BY ktti_id, assignee_id;
INSERT INTO ktti_unassigned (ktti_id, amount)
SELECT ktti_id, sum(amount) FROM transactions
WHERE kind = 'deposit' AND status = 'posted' AND assignee_id IS NULL
GROUP BY ktti_id;
