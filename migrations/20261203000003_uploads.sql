-- Uploads through signed URLs: each row is one URL, good for exactly one upload
-- of one content type up to a size, until it expires. The object key is the
-- `imageKey` other routes accept, and only from the user who uploaded it.

CREATE TABLE uploads (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users(id),
    kind            text NOT NULL CHECK (kind IN ('avatar', 'kttiImage', 'moment', 'chat', 'receipt')),
    object_key      text NOT NULL UNIQUE,
    content_type    text NOT NULL,
    max_bytes       integer NOT NULL CHECK (max_bytes > 0),
    expires_at      timestamptz NOT NULL,
    -- Set by the one upload the URL accepts.
    uploaded_at     timestamptz,
    size_bytes      integer,
    -- Set when a receipt takes the file as its own (one receipt per file).
    consumed_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_user ON uploads (user_id, created_at);
