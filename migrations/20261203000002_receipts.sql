-- Receipts: one per transaction, its stored file, what OCR read from it, and its
-- line items (which members can be assigned to, making a lineItems split).

CREATE TABLE receipts (
    transaction_id  uuid PRIMARY KEY REFERENCES transactions(id),
    ktti_id         uuid NOT NULL REFERENCES ktties(id),
    status          text NOT NULL CHECK (status IN ('uploaded', 'processing', 'processed', 'failed')),
    -- Bumped by every new upload: an OCR job for an older upload finds it stale
    -- and changes nothing.
    generation      integer NOT NULL DEFAULT 1,
    object_key      text NOT NULL,
    content_type    text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size_bytes      integer NOT NULL CHECK (size_bytes > 0),
    uploaded_by     uuid NOT NULL REFERENCES users(id),
    merchant        text,
    receipt_date    date,
    subtotal        numeric(18,2),
    tax             numeric(18,2),
    total           numeric(18,2),
    -- Why reading it failed (the receipt stays editable by hand).
    failure_reason  text,
    ocr_text        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE receipt_line_items (
    id              uuid PRIMARY KEY,
    transaction_id  uuid NOT NULL REFERENCES receipts(transaction_id) ON DELETE CASCADE,
    position        integer NOT NULL,
    description     text NOT NULL,
    quantity        numeric(12,3) NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_price      numeric(18,2),
    -- Negative for a discount line.
    amount          numeric(18,2) NOT NULL,
    -- Members the item is assigned to (a lineItems split); empty: nobody yet.
    user_ids        uuid[] NOT NULL DEFAULT '{}',
    UNIQUE (transaction_id, position)
);
