-- The operators' dashboard shows each payout with the job that sends it (to
-- retry it from there): found by the id the job carries, without a scan.
CREATE INDEX jobs_payout ON jobs ((payload->>'payoutId')) WHERE kind = 'payout.submit.v1';
