-- A user's devices: where to push (FCM registration token) and what app runs there.
CREATE TABLE devices (
    user_id         uuid NOT NULL REFERENCES users(id),
    device_id       text NOT NULL,
    platform        text CHECK (platform IN ('ios', 'android')),
    -- One FCM token belongs to one device of one user: a phone that changes hands
    -- stops receiving the previous owner's pushes.
    fcm_token       text UNIQUE,
    app_version     text,
    os_version      text,
    model           text,
    locale          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, device_id)
);
