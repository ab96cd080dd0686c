-- Provider webhooks, stored once each, and KYC.

-- Every webhook the banking provider sends, kept whatever becomes of it. The
-- idempotency key makes a redelivered event a no-op; status says what applying it did.
CREATE TABLE provider_events (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    channel         text NOT NULL CHECK (channel IN ('notification', 'email', 'sms')),
    kind            text NOT NULL,
    customer_ref    text,
    body            jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'applied', 'unmatched', 'ignored')),
    -- Why it was unmatched or ignored, for operators.
    note            text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz
);
CREATE INDEX provider_events_unmatched ON provider_events (received_at) WHERE status = 'unmatched';

-- The user's customer record at the provider, once created.
ALTER TABLE users ADD COLUMN provider_customer_id text UNIQUE;
ALTER TABLE users ADD COLUMN kyc_decided_at timestamptz;

-- What a user submitted for KYC. The identity document number is needed only to
-- create the provider customer; the submit job erases it once that is done.
CREATE TABLE kyc_submissions (
    id                      uuid PRIMARY KEY,
    user_id                 uuid NOT NULL REFERENCES users(id),
    first_name              text NOT NULL,
    last_name               text NOT NULL,
    date_of_birth           date NOT NULL,
    address                 jsonb NOT NULL,
    id_document_type        text NOT NULL CHECK (id_document_type IN ('driversLicence', 'passport')),
    id_document_number      text,
    id_document_last4       text NOT NULL,
    provider_case_id        text,
    submitted_at            timestamptz NOT NULL DEFAULT now(),
    sent_to_provider_at     timestamptz
);
CREATE INDEX kyc_submissions_user ON kyc_submissions (user_id, submitted_at DESC);
