-- Who registered is not proven until the address is. Each registration keeps the
-- profile it submitted beside the email job that carries its link; proving the
-- address with that link gives the account that profile. So a stranger who
-- registers someone else's address first cannot leave their name or phone on the
-- real owner's account: the owner's own registration (and link) replaces them,
-- and a social login that proves the address resets them.
CREATE TABLE registration_profiles (
    job_id          uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    phone           text NOT NULL,
    date_of_birth   date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registration_profiles_user ON registration_profiles (user_id);
