-- What the bank itself forces through may overdraw an account: a settlement above
-- its authorisation (tips, currency moves), a second clearing, a bank fee. What a
-- customer initiates (authorisations, transfers, debits) is still refused when it
-- does not fit: those updates check `balance - held` themselves.
ALTER TABLE accounts DROP CONSTRAINT accounts_check;

-- Authorisation webhooks can be withheld (a fault), to show our API a settlement
-- before its hold; `/sandbox/utils/release-webhooks` sends them.
ALTER TABLE webhooks ADD COLUMN withheld boolean NOT NULL DEFAULT false;

-- Where a card is posted: the delivery address it was created with, replaced by
-- the customer's address (PATCH /v0/customers/{id}) when it is converted to a
-- physical card, as the issuer does.
ALTER TABLE cards ADD COLUMN delivery_address jsonb;
