-- Every time a deposit gets an assignee, by the attribution rules or by a person.
-- A deposit's assignee decides whose total it counts in, so who moved it, from
-- whom to whom and when is kept for good (and shown with the transaction).
CREATE TABLE deposit_assignments (
    id              uuid PRIMARY KEY,
    transaction_id  uuid NOT NULL REFERENCES transactions(id),
    -- NULL when the attribution rules assigned it as the deposit landed.
    actor_id        uuid REFERENCES users(id),
    from_user_id    uuid REFERENCES users(id),
    to_user_id      uuid NOT NULL REFERENCES users(id),
    -- `personalKtti`, `rememberedAccount`, `depositReference`, `nameMatch`,
    -- `owner` (a personal ktti), `claim` (a member, for themselves) or `assign`
    -- (the owner or an admin).
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deposit_assignments_transaction ON deposit_assignments (transaction_id, created_at);

CREATE TRIGGER deposit_assignments_append_only BEFORE UPDATE OR DELETE ON deposit_assignments
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
