-- A ktti's account at the provider, its members, and their cards.

ALTER TABLE ktties ADD COLUMN provider_account_id text UNIQUE;
ALTER TABLE ktties ADD COLUMN bsb text;
ALTER TABLE ktties ADD COLUMN account_number text;
-- Why setting the ktti up at the provider failed for good, shown on the ktti.
ALTER TABLE ktties ADD COLUMN setup_error text;

-- Who belongs to a ktti, and how. A personal ktti has exactly its owner.
CREATE TABLE ktti_members (
    ktti_id             uuid NOT NULL REFERENCES ktties(id),
    user_id             uuid NOT NULL REFERENCES users(id),
    role                text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    status              text NOT NULL CHECK (status IN ('invited', 'active', 'rejected', 'expired', 'left', 'removed')),
    can_spend           boolean NOT NULL DEFAULT true,
    nickname            text,
    -- Put on a bank transfer, it attributes the deposit to this member.
    deposit_reference   text NOT NULL UNIQUE,
    joined_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ktti_id, user_id)
);
CREATE INDEX ktti_members_user ON ktti_members (user_id) WHERE status = 'active';
-- Exactly one owner per ktti.
CREATE UNIQUE INDEX ktti_members_one_owner ON ktti_members (ktti_id) WHERE role = 'owner' AND status = 'active';

-- A member's card on a ktti's account.
CREATE TABLE cards (
    id                  uuid PRIMARY KEY,
    ktti_id             uuid NOT NULL REFERENCES ktties(id),
    user_id             uuid NOT NULL REFERENCES users(id),
    provider_card_id    text NOT NULL UNIQUE,
    card_token          text,
    last4               text,
    card_type           text NOT NULL CHECK (card_type IN ('virtual', 'physical')),
    status              text NOT NULL,
    -- For physical cards: none, ordered, shipped, delivered.
    order_status        text NOT NULL DEFAULT 'none',
    delivery_address    jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX cards_one_per_member ON cards (ktti_id, user_id) WHERE status <> 'cancelled';
