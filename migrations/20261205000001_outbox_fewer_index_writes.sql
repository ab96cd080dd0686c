-- The job pipeline's ceiling is the outbox's write volume (issue 12): a job is an
-- insert and four updates of its row, and an update that changes any indexed
-- column (the status, or lease_until) writes a new entry in every index of the
-- table. These indexes make two of those updates cheaper:
--
-- * lease_until leaves every index, so taking or extending a lease changes no
--   indexed column and can be a HOT update (no index writes at all; the fill
--   factor leaves room on each page for the new row version). The sweep finds
--   lapsed leases through jobs_active instead: it reads the in-flight rows, which
--   the relay keeps few (a bounded number per queue in Redis, plus what runs).
-- * (status, queue) over every row is replaced by jobs_active over in-flight rows
--   only: a finished job no longer writes an entry there. The relay's queue depth
--   and the backlog gauge read jobs_due and jobs_active; the operators' per-queue
--   counts always read the whole table; dead jobs, few and looked up by kind for
--   bulk retries, keep an index of their own.
DROP INDEX jobs_inflight;
DROP INDEX jobs_status;
CREATE INDEX jobs_active ON jobs (queue, status) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_dead ON jobs (kind) WHERE status = 'dead';
ALTER TABLE jobs SET (fillfactor = 70);
