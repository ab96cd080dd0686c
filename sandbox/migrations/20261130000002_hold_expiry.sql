-- Holds lapse like a real issuer's: an authorisation the merchant never settles is
-- released after a while. RELEASED covers both a merchant reversal and expiry;
-- release_reason says which.
ALTER TABLE holds ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '7 days';
ALTER TABLE holds ADD COLUMN release_reason text CHECK (release_reason IN ('REVERSED', 'EXPIRED'));
CREATE INDEX holds_expiring ON holds (expires_at) WHERE status = 'OPEN';
