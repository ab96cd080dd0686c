-- Ktties and the double-entry ledger. The database enforces the money invariants
-- itself, so a bug in application code cannot break them:
--   * every journal entry's postings sum to zero (checked at commit);
--   * a ktti's available and reserved balances never go below zero;
--   * posted entries are never updated or deleted (corrections are new entries);
--   * one cause (a provider event, one of our operations) is booked at most once.

-- A shared money pot. Columns for membership, settings and billing arrive with
-- those features.
CREATE TABLE ktties (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('personal', 'group')),
    name                text NOT NULL,
    status              text NOT NULL DEFAULT 'pendingSetup'
                        CHECK (status IN ('pendingSetup', 'active', 'closing', 'disbursing', 'readyToClose', 'closed')),
    currency            char(3) NOT NULL DEFAULT 'AUD',
    owner_id            uuid NOT NULL REFERENCES users(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ktties_owner ON ktties (owner_id);
-- One personal ktti per user.
CREATE UNIQUE INDEX ktties_one_personal ON ktties (owner_id) WHERE kind = 'personal';

-- Balances kept current by every posting, so reading them is O(1).
-- total = available + reserved (reserved: open card holds and payouts in flight).
CREATE TABLE ktti_balances (
    ktti_id     uuid PRIMARY KEY REFERENCES ktties(id),
    available   numeric(18,2) NOT NULL DEFAULT 0 CHECK (available >= 0),
    reserved    numeric(18,2) NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    total       numeric(18,2) GENERATED ALWAYS AS (available + reserved) STORED,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal_entries (
    id          uuid PRIMARY KEY,
    -- The ktti the entry concerns, for listing; NULL for none.
    ktti_id     uuid REFERENCES ktties(id),
    -- What happened: deposit, hold, settle, release, spend, refund, fee,
    -- transferOutStarted, transferOutCompleted, transferOutFailed, ...
    kind        text NOT NULL,
    -- The cause, e.g. 'shaype:txn:<transactionHayId>:settled': booking the same
    -- cause twice is refused, so a replayed event moves no money.
    source_key  text UNIQUE,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_ktti ON journal_entries (ktti_id, created_at);

CREATE TABLE postings (
    entry_id        uuid NOT NULL REFERENCES journal_entries(id),
    seq             smallint NOT NULL,
    account_kind    text NOT NULL
                    CHECK (account_kind IN ('available', 'reserved', 'deposits', 'merchants', 'fees', 'transfers')),
    -- Set exactly for a ktti's own accounts.
    ktti_id         uuid REFERENCES ktties(id),
    amount          numeric(18,2) NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (entry_id, seq),
    CHECK ((account_kind IN ('available', 'reserved')) = (ktti_id IS NOT NULL))
);
CREATE INDEX postings_ktti ON postings (ktti_id, account_kind) WHERE ktti_id IS NOT NULL;

-- An entry's postings must sum to zero, and there must be at least two. Checked
-- at commit (the postings of one entry are inserted one by one), both when an
-- entry is inserted and when a posting is: a posting added later to an old entry
-- is checked too.
CREATE FUNCTION check_entry_balanced(entry uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    total numeric;
BEGIN
    SELECT count(*), coalesce(sum(amount), 0) INTO n, total FROM postings WHERE entry_id = entry;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % postings summing to %', entry, n, total
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_entry_balanced(NEW.id);
    RETURN NULL;
END $$;
CREATE FUNCTION posting_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_entry_balanced(NEW.entry_id);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION posting_entry_balanced();

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: post a correcting entry instead'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
