-- The sandbox provider's own state: a simulated bank. It lives in its own database
-- so it can be thrown away, and so our schema never depends on it.

CREATE TABLE customers (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    email           text NOT NULL,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    date_of_birth   text NOT NULL,
    status          text NOT NULL,
    -- When KYC decides (a short delay after creation), and how.
    decide_at       timestamptz,
    decision        text CHECK (decision IN ('pass', 'fail')),
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE groups (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    name            text,
    customer_ids    uuid[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A bank account. The bank refuses anything that would take the available
-- balance (balance - held) below zero.
CREATE TABLE accounts (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    holder_id       uuid NOT NULL,
    holder_type     text NOT NULL CHECK (holder_type IN ('CUSTOMER', 'GROUP')),
    product_id      text NOT NULL,
    bsb             text NOT NULL,
    account_number  text NOT NULL,
    status          text NOT NULL DEFAULT 'ACTIVE',
    balance         numeric(18,2) NOT NULL DEFAULT 0,
    held            numeric(18,2) NOT NULL DEFAULT 0 CHECK (held >= 0),
    custom_data     jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CHECK (balance - held >= 0),
    UNIQUE (bsb, account_number)
);

CREATE TABLE cards (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    account_id      uuid NOT NULL REFERENCES accounts(id),
    customer_id     uuid NOT NULL,
    token           text NOT NULL UNIQUE,
    card_type       text NOT NULL,
    status          text NOT NULL DEFAULT 'ACTIVE',
    last_four       text NOT NULL,
    name_on_card    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Card authorisation holds.
CREATE TABLE holds (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts(id),
    card_id         uuid NOT NULL REFERENCES cards(id),
    amount          numeric(18,2) NOT NULL CHECK (amount > 0),
    merchant        text NOT NULL,
    status          text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'SETTLED', 'RELEASED')),
    -- A delayed settlement scheduled by generate-card-transaction.
    settle_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_due ON holds (settle_at) WHERE status = 'OPEN' AND settle_at IS NOT NULL;

-- Every movement on an account, with the provider's transaction types.
CREATE TABLE movements (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts(id),
    kind            text NOT NULL,
    -- Signed: credits positive, debits negative. Holds are not movements.
    amount          numeric(18,2) NOT NULL,
    hold_id         uuid REFERENCES holds(id),
    idempotency_key text UNIQUE,
    counterpart_name text,
    counterpart_bsb text,
    counterpart_account text,
    description     text,
    reference       text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX movements_account ON movements (account_id, created_at);

-- Webhooks to deliver, signed at send time, retried until acknowledged.
CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    path            text NOT NULL,
    body            jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE delivered_at IS NULL;

-- Transfers out that were accepted, by idempotency key: a repeated key returns
-- the first outcome and moves nothing.
CREATE TABLE transfer_outcomes (
    idempotency_key text PRIMARY KEY,
    outcome         text NOT NULL,
    transaction_id  uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
