-- Transactions as members see them. Money itself is in the journal; a transaction
-- is the story (what, where, who) and its status.
CREATE TABLE transactions (
    id                      uuid PRIMARY KEY,
    ktti_id                 uuid NOT NULL REFERENCES ktties(id),
    kind                    text NOT NULL CHECK (kind IN ('deposit', 'cardPayment', 'refund', 'fee', 'payout', 'transferOut')),
    status                  text NOT NULL CHECK (status IN ('pending', 'posted', 'reversed', 'declined')),
    amount                  numeric(18,2) NOT NULL CHECK (amount > 0),
    direction               text NOT NULL CHECK (direction IN ('in', 'out')),
    description             text,
    merchant_name           text,
    counterparty_name       text,
    counterparty_bsb        text,
    counterparty_account    text,
    reference               text,
    -- Deposits: the member who paid it in.
    assignee_id             uuid REFERENCES users(id),
    card_id                 uuid REFERENCES cards(id),
    -- The provider's ids: booking is idempotent on them.
    provider_transaction_id text UNIQUE,
    provider_hold_id        text UNIQUE,
    -- Why a card payment was declined.
    decline_reason          text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    posted_at               timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- Newest first, with a tie-break, for stable paging (v3 cursors).
CREATE INDEX transactions_ktti_recent ON transactions (ktti_id, created_at DESC, id DESC);
