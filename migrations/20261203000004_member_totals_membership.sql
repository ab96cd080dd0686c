-- Member totals carry a copy of each membership's role, status and join time, and
-- every membership has a totals row from the start. Reading a ktti's member
-- totals is then one index range scan of one table: joining ktti_members to
-- member_totals per request cost twice as much at 100 members. The copy is kept
-- by the trigger below, in the transaction that changes the membership, so it is
-- never stale for a reader.
ALTER TABLE member_totals
    ADD COLUMN role      text,
    ADD COLUMN status    text,
    ADD COLUMN joined_at timestamptz;

CREATE FUNCTION membership_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_totals (ktti_id, user_id, role, status, joined_at)
    VALUES (NEW.ktti_id, NEW.user_id, NEW.role, NEW.status, NEW.joined_at)
    ON CONFLICT (ktti_id, user_id) DO UPDATE SET
        role = EXCLUDED.role, status = EXCLUDED.status, joined_at = EXCLUDED.joined_at;
    RETURN NULL;
END $$;
CREATE TRIGGER ktti_members_copy AFTER INSERT OR UPDATE OF role, status, joined_at ON ktti_members
    FOR EACH ROW EXECUTE FUNCTION membership_copy();

-- Money counts for members only, so a row made here finds its membership (the
-- tests assert every row has its copy); it still counts if one ever did not.
CREATE OR REPLACE FUNCTION member_totals_add(k uuid, u uuid, dep numeric, spe numeric, pay numeric)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_totals (ktti_id, user_id, deposited, spent, paid_out, role, status, joined_at)
    SELECT k, u, dep, spe, pay, m.role, m.status, m.joined_at
    FROM (SELECT 1) one LEFT JOIN ktti_members m ON m.ktti_id = k AND m.user_id = u
    ON CONFLICT (ktti_id, user_id) DO UPDATE SET
        deposited = member_totals.deposited + dep,
        spent = member_totals.spent + spe,
        paid_out = member_totals.paid_out + pay;
$$;

INSERT INTO member_totals (ktti_id, user_id, role, status, joined_at)
SELECT ktti_id, user_id, role, status, joined_at FROM ktti_members
ON CONFLICT (ktti_id, user_id) DO UPDATE SET
    role = EXCLUDED.role, status = EXCLUDED.status, joined_at = EXCLUDED.joined_at;

-- These rows change with every money event. Room on each page lets an update
-- stay on its page (a HOT update) instead of adding an index entry each time:
-- without it, 100,000 deposits left member_totals' index 90 pages deep for 100
-- rows, and every read walked them.
ALTER TABLE member_totals SET (fillfactor = 50);
ALTER TABLE ktti_unassigned SET (fillfactor = 50);
ALTER TABLE ktti_balances SET (fillfactor = 50);
