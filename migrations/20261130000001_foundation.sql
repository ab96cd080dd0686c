-- Foundation schema: users and their sessions, one-time email tokens, idempotency
-- records, and the job outbox. Forward-only; later migrations add money.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    -- citext: "Ann@x.com" and "ann@x.com" are the same account.
    email           citext NOT NULL UNIQUE,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    phone           text NOT NULL,
    date_of_birth   date,
    avatar_key      text,
    -- NULL until the user finishes registration by setting a password
    -- (or forever, for a social-only account).
    password_hash   text,
    email_verified_at timestamptz,
    kyc_status      text NOT NULL DEFAULT 'notStarted'
                    CHECK (kyc_status IN ('notStarted', 'pending', 'verified', 'rejected')),
    blocked_at      timestamptz,
    is_platform_admin boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A social identity (Google/Apple `sub`) linked to a user.
CREATE TABLE social_identities (
    provider    text NOT NULL CHECK (provider IN ('google', 'apple')),
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);

-- A session is one login: the family of refresh tokens rotated from it.
-- Revoking the session kills every token of the family and its access tokens
-- (the auth check reads the session on every request).
CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX sessions_user_active ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens are stored as SHA-256 hashes: a database leak does not leak sessions.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when rotated; presenting a used token again is reuse (theft signal).
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- One-time tokens mailed to users (email verification, password reset), hashed.
CREATE TABLE email_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verifyEmail', 'resetPassword')),
    -- The email job that minted it: a retried job replaces its own token.
    job_id      uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE UNIQUE INDEX email_tokens_job ON email_tokens (job_id);

-- Stored responses for Idempotency-Key replays. The row is written in the same
-- transaction as the request's effects, so a key either has its full effect and
-- response or nothing.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status smallint NOT NULL,
    response_body   jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The job outbox and the jobs' life record in one table. A state change inserts
-- its jobs here in its own transaction; the relay dispatches due rows to Redis;
-- workers record each attempt's outcome here. Redis only ever holds job ids.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    queue           text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'queued', 'running', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL CHECK (max_attempts > 0),
    -- Not dispatched before this instant (backoff between attempts).
    run_at          timestamptz NOT NULL DEFAULT now(),
    -- While queued or running: when the claim lapses and the sweeper takes the
    -- job back (lost Redis message, crashed worker). While pending: a relay's
    -- short dispatch lease.
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE status = 'pending';
CREATE INDEX jobs_inflight ON jobs (lease_until) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_status ON jobs (status, queue);

-- Wake the relay as soon as a job commits (NOTIFY is delivered at commit).
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kttipay_jobs', '');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();

-- Emails actually handed to the mail server, by the job that sent them: a job
-- dispatched twice sends once.
CREATE TABLE sent_emails (
    job_id      uuid PRIMARY KEY,
    recipient   text NOT NULL,
    template    text NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now()
);
