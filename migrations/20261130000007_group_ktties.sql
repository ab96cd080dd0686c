-- Group ktties: their descriptive fields and settings, invitations, action items and
-- the sender accounts remembered for deposit attribution.

ALTER TABLE ktties ADD COLUMN description text;
ALTER TABLE ktties ADD COLUMN purpose text;
ALTER TABLE ktties ADD COLUMN target_amount numeric(18,2) CHECK (target_amount > 0);
ALTER TABLE ktties ADD COLUMN end_date date;
ALTER TABLE ktties ADD COLUMN image_key text;
ALTER TABLE ktties ADD COLUMN billing_plan text;
-- Settings (PATCH v3). Members may spend unless the ktti says otherwise; only
-- owners and admins invite unless it allows members to.
ALTER TABLE ktties ADD COLUMN members_can_spend boolean NOT NULL DEFAULT true;
ALTER TABLE ktties ADD COLUMN members_can_invite boolean NOT NULL DEFAULT false;
ALTER TABLE ktties ADD COLUMN approval_required_to_join boolean NOT NULL DEFAULT false;
-- Joining by code: long and random enough not to be guessed (see domain::membership).
ALTER TABLE ktties ADD COLUMN referral_code text UNIQUE;
-- The provider group that holds a group ktti's account.
ALTER TABLE ktties ADD COLUMN provider_group_id text UNIQUE;

ALTER TABLE ktti_members ADD COLUMN left_at timestamptz;
ALTER TABLE ktti_members ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- The member's weight in the ktti's default split (equal unless changed).
ALTER TABLE ktti_members ADD COLUMN split_proportion numeric(18,2) NOT NULL DEFAULT 1
    CHECK (split_proportion >= 0);

-- An invitation by email. The invitee may have no account yet: `user_id` is filled
-- when they register with that address.
CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    email           citext NOT NULL,
    user_id         uuid REFERENCES users(id),
    invited_by      uuid NOT NULL REFERENCES users(id),
    -- The invitee's weight in the default split once they join (v3 create).
    split_proportion numeric(18,2) CHECK (split_proportion > 0),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'rejected', 'expired', 'revoked')),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- One open invitation per address and ktti.
CREATE UNIQUE INDEX invitations_one_pending ON invitations (ktti_id, email) WHERE status = 'pending';
CREATE INDEX invitations_by_email ON invitations (email) WHERE status = 'pending';

-- Things a person must decide. `audience` says who: 'admins' is the ktti's current
-- owner and admins (so a new admin sees what is open), 'user' is `addressee_id`.
CREATE TABLE action_items (
    uuid            uuid PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('adminRequest', 'joinApproval', 'invitation', 'unassignedDeposit')),
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    audience        text NOT NULL CHECK (audience IN ('admins', 'user')),
    addressee_id    uuid REFERENCES users(id),
    -- Who the item is about: the requester, the joiner, the invitee.
    subject_id      uuid REFERENCES users(id),
    invitation_id   uuid REFERENCES invitations(id),
    transaction_id  uuid REFERENCES transactions(id),
    payload         jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected', 'resolved', 'cancelled')),
    decided_by      uuid REFERENCES users(id),
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((audience = 'user') = (addressee_id IS NOT NULL))
);
CREATE INDEX action_items_open_for_user ON action_items (addressee_id) WHERE status = 'pending';
CREATE INDEX action_items_open_for_ktti ON action_items (ktti_id) WHERE status = 'pending';
-- At most one open item per deposit, per invitation, per pending joiner or requester.
CREATE UNIQUE INDEX action_items_one_per_deposit ON action_items (transaction_id) WHERE status = 'pending';
CREATE UNIQUE INDEX action_items_one_per_invitation ON action_items (invitation_id) WHERE status = 'pending';
CREATE UNIQUE INDEX action_items_one_per_subject ON action_items (ktti_id, kind, subject_id)
    WHERE status = 'pending' AND kind IN ('adminRequest', 'joinApproval');

-- A sender account remembered for a member: their next deposit from it is theirs.
CREATE TABLE sender_accounts (
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    bsb             text NOT NULL,
    account_number  text NOT NULL,
    user_id         uuid NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ktti_id, bsb, account_number)
);

-- Unassigned deposits of a ktti, newest first.
CREATE INDEX transactions_unassigned ON transactions (ktti_id, created_at DESC, id DESC)
    WHERE kind = 'deposit' AND assignee_id IS NULL;

-- Lists filter by kind, status and assignee: carrying them in the list index lets a
-- page's total be counted from the index alone (an index-only scan).
DROP INDEX transactions_ktti_recent;
CREATE INDEX transactions_ktti_recent ON transactions (ktti_id, created_at DESC, id DESC)
    INCLUDE (kind, status, assignee_id);
