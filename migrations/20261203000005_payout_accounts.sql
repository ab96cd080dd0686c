-- The bank account a user nominates for payouts when a ktti closes (otherwise
-- their personal ktti receives them). One per user; every change is dated, and
-- the user is emailed about it.
CREATE TABLE payout_accounts (
    user_id         uuid PRIMARY KEY REFERENCES users(id),
    bsb             text NOT NULL CHECK (bsb ~ '^[0-9]{6}$'),
    account_number  text NOT NULL CHECK (account_number ~ '^[0-9]{5,9}$'),
    account_name    text NOT NULL CHECK (length(account_name) BETWEEN 1 AND 140),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
