-- Notifications: one row per recipient and event, written in the transaction of
-- the change it reports. The row records the channels the recipient's
-- preferences allowed at that moment; the push and email jobs carry its id.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users(id),
    category        text NOT NULL,
    event           text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    ktti_id         uuid REFERENCES ktties(id),
    transaction_id  uuid,
    action_id       uuid,
    -- The recipient's own part of the money involved, when there is one.
    share           NUMERIC(18,2),
    in_inbox        boolean NOT NULL,
    push            boolean NOT NULL,
    email           boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    emailed_at      timestamptz
);
-- The inbox, newest first, and its unread count, per user.
CREATE INDEX notifications_inbox ON notifications (user_id, created_at DESC, id DESC) WHERE in_inbox;
CREATE INDEX notifications_unread ON notifications (user_id) WHERE in_inbox AND read_at IS NULL;
-- Digests find what is still to be emailed for one user and ktti.
CREATE INDEX notifications_unemailed ON notifications (user_id, ktti_id, category)
    WHERE email AND emailed_at IS NULL;

-- A user's choices per category; a category without a row uses the defaults
-- (domain::notification::Category::defaults).
CREATE TABLE notification_preferences (
    user_id     uuid NOT NULL REFERENCES users(id),
    category    text NOT NULL,
    push        boolean NOT NULL,
    email       boolean NOT NULL,
    inbox       boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, category)
);

-- Each device a push reached, so a retried push job skips the devices that
-- already have it (one FCM failure must not ping the others twice).
CREATE TABLE push_deliveries (
    delivery_id  uuid NOT NULL,
    device_id    text NOT NULL,
    user_id      uuid NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delivery_id, user_id, device_id)
);

-- The email digest window of one user, ktti and category: emails that come
-- before `opens_at` wait for one digest sent then.
CREATE TABLE email_windows (
    user_id         uuid NOT NULL REFERENCES users(id),
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    category        text NOT NULL,
    opens_at        timestamptz NOT NULL,
    digest_queued   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, ktti_id, category)
);

-- Group chat. `seq` numbers a ktti's messages from 1 in commit order (the
-- counter row serialises a ktti's writers), so "everything after event id N"
-- is exact for a stream that reconnects.
CREATE TABLE chat_counters (
    ktti_id   uuid PRIMARY KEY REFERENCES ktties(id),
    last_seq  bigint NOT NULL
);
CREATE TABLE chat_messages (
    id          uuid PRIMARY KEY,
    ktti_id     uuid NOT NULL REFERENCES ktties(id),
    seq         bigint NOT NULL,
    author_id   uuid NOT NULL REFERENCES users(id),
    text        text,
    image_key   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ktti_id, seq),
    CHECK (text IS NOT NULL OR image_key IS NOT NULL)
);

-- Who has a live chat stream open (per API replica connection), refreshed while
-- it stays open: their chat pushes are skipped, the app shows the message.
CREATE TABLE chat_streams (
    id        uuid PRIMARY KEY,
    user_id   uuid NOT NULL,
    ktti_id   uuid NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_streams_user ON chat_streams (user_id, ktti_id);

-- Moments: a member's post with photos. Managers may hide one (kept, not shown).
CREATE TABLE moments (
    id          uuid PRIMARY KEY,
    ktti_id     uuid NOT NULL REFERENCES ktties(id),
    author_id   uuid NOT NULL REFERENCES users(id),
    text        text NOT NULL,
    image_keys  text[] NOT NULL DEFAULT '{}',
    hidden_at   timestamptz,
    hidden_by   uuid REFERENCES users(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moments_feed ON moments (ktti_id, created_at DESC, id DESC);
