-- Billing: each group ktti pays for its plan in arrears, once per period. A
-- period is charged exactly once however many workers run the billing at the
-- same moment: the charge row is unique per (ktti, period start), and only the
-- run that inserts it sends the charge.

-- Periods count from the anchor (when the ktti opened); billed_through is the
-- end of the last period charged (or recorded, for a free plan). A plan change
-- waits in next_billing_plan until the period in progress ends.
ALTER TABLE ktties ADD COLUMN billing_anchor date;
UPDATE ktties SET billing_anchor = created_at::date WHERE kind = 'group';
ALTER TABLE ktties ADD COLUMN billed_through date;
ALTER TABLE ktties ADD COLUMN next_billing_plan text;
CREATE INDEX ktties_billing_due ON ktties (coalesce(billed_through, billing_anchor))
    WHERE kind = 'group' AND status = 'active';

CREATE TABLE billing_charges (
    id                  uuid PRIMARY KEY,
    ktti_id             uuid NOT NULL REFERENCES ktties(id),
    period_start        date NOT NULL,
    period_end          date NOT NULL CHECK (period_end > period_start),
    plan_code           text NOT NULL,
    amount              numeric(18,2) NOT NULL CHECK (amount >= 0),
    -- pending: to be (re)tried; charged: the bank took it; failed: not enough
    -- money or refused (tried again by later runs); free: nothing to charge.
    status              text NOT NULL CHECK (status IN ('pending', 'charged', 'failed', 'free')),
    attempts            integer NOT NULL DEFAULT 0,
    reason              text,
    -- Sent with the debit, and its reference: a lost answer is found at the bank
    -- by it. Replaced only after a refusal (nothing moved, so a new key is safe).
    idempotency_key     uuid NOT NULL UNIQUE,
    transaction_id      uuid REFERENCES transactions(id),
    provider_transaction_id text UNIQUE,
    charged_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ktti_id, period_start),
    CHECK ((status = 'free') = (amount = 0))
);
CREATE INDEX billing_charges_failed ON billing_charges (updated_at) WHERE status = 'failed';

-- Every attempt of every charge, for the history members see.
CREATE TABLE billing_attempts (
    charge_id   uuid NOT NULL REFERENCES billing_charges(id),
    seq         integer NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('charged', 'failed', 'free', 'unknown')),
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_id, seq)
);
