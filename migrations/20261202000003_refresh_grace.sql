-- Mobile apps fire requests in parallel, and two of them may refresh with the
-- same token at once. Within a short grace window the second gets the pair the
-- first got, instead of ending the session as reuse. The successor refresh token
-- is kept sealed with a pad derived from the presented token (which only its
-- holder knows; we store only its hash), and the access token is re-signed from
-- its issue time, so nothing usable sits in the database.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed bytea;
ALTER TABLE refresh_tokens ADD COLUMN successor_issued_at bigint;
