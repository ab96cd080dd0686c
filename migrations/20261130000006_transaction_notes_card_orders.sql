-- Members' notes on transactions, and physical card orders.

CREATE TABLE transaction_notes (
    transaction_id  uuid PRIMARY KEY REFERENCES transactions(id),
    note            text,
    category        text,
    tags            text[] NOT NULL DEFAULT '{}',
    updated_by      uuid NOT NULL REFERENCES users(id),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
