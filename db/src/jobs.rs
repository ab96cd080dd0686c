//! The job outbox: enqueue in the caller's transaction, dispatch, attempts, dead state.
//!
//! Life of a row: `pending` -> (relay pushes its id to Redis) `queued` -> (a worker
//! takes it) `running` -> `done`, or back to `pending` with a later `run_at` after a
//! failure, or `dead` once its attempts are spent. Leases bound every non-terminal
//! state, so a lost Redis message or a crashed worker delays a job but never loses it.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::JobId;
use kttipay_jobs::Job;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// Inserts a job in the caller's transaction: it exists exactly when the state
/// change that caused it commits.
pub async fn enqueue<J: Job>(conn: &mut PgConnection, job: &J) -> Result<JobId, sqlx::Error> {
    enqueue_at(conn, job, None).await
}

/// As [`enqueue`], not dispatched before `run_at`.
pub async fn enqueue_at<J: Job>(
    conn: &mut PgConnection,
    job: &J,
    run_at: Option<DateTime<Utc>>,
) -> Result<JobId, sqlx::Error> {
    let id = JobId::new();
    let payload = serde_json::to_value(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts, run_at) \
         VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))",
    )
    .bind(id.0)
    .bind(J::KIND)
    .bind(J::QUEUE.name())
    .bind(payload)
    .bind(J::RETRY.max_attempts as i32)
    .bind(run_at)
    .execute(conn)
    .await?;
    Ok(id)
}

/// As [`enqueue`] for many jobs of one kind in one statement (a fan-out to a
/// ktti's members is one round trip, not one per member).
pub async fn enqueue_many<J: Job>(conn: &mut PgConnection, jobs: &[J]) -> Result<(), sqlx::Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = jobs.iter().map(|_| JobId::new().0).collect();
    let payloads = jobs
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts, run_at) \
         SELECT id, $3, $4, payload, $5, now() FROM unnest($1::uuid[], $2::jsonb[]) AS j(id, payload)",
    )
    .bind(ids)
    .bind(payloads)
    .bind(J::KIND)
    .bind(J::QUEUE.name())
    .bind(J::RETRY.max_attempts as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a short dispatch lease on up to `limit` due jobs of `queue` and returns
/// their ids. The lease commits before anything is pushed to Redis, so no
/// transaction is open during the push; a relay that dies mid-push leaves leases
/// that lapse and are taken again.
pub async fn lease_due(pool: &PgPool, queue: &str, limit: i64, lease_secs: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3), updated_at = now() \
         WHERE id IN ( \
             SELECT id FROM jobs \
             WHERE status = 'pending' AND queue = $1 AND run_at <= now() \
               AND (lease_until IS NULL OR lease_until < now()) \
             ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id",
    )
    .bind(queue)
    .bind(limit)
    .bind(lease_secs as f64)
    .fetch_all(pool)
    .await
}

/// Marks pushed jobs `queued`. A job a fast worker already took is left alone.
pub async fn mark_queued(pool: &PgPool, ids: &[Uuid], queued_lease_secs: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET status = 'queued', lease_until = now() + make_interval(secs => $2), updated_at = now() \
         WHERE id IN (SELECT id FROM jobs WHERE id = ANY($1) AND status = 'pending' ORDER BY id FOR UPDATE) \
           AND status = 'pending'",
    )
    .bind(ids)
    .bind(queued_lease_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts every `queued` job of `queues` back to `pending`: their messages were in
/// a Redis that restarted without them. A job a worker is starting right now is
/// skipped (it is running, not lost); one whose message did survive is pushed
/// again, and its duplicate finds it started. How many.
pub async fn requeue_queued(pool: &PgPool, queues: &[&str]) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'pending', lease_until = NULL, updated_at = now() \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND queue = ANY($1) FOR UPDATE SKIP LOCKED) \
           AND status = 'queued'",
    )
    .bind(queues)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Gives back dispatch leases after a failed push, so the next relay pass retries.
pub async fn release_leases(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET lease_until = NULL WHERE id = ANY($1) AND status = 'pending'")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// A job a worker has started an attempt of.
#[derive(Debug, Clone, FromRow)]
pub struct Attempt {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Attempts including this one.
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Starts attempts of several jobs in one statement (a worker process gathers
/// the messages its handlers took at about the same time): only a job that is due
/// and not already running or finished starts, so a message delivered twice runs
/// once. Returns the jobs that started; an id absent from the answer was a
/// duplicate or stale message. Rows are locked in id order, as in every
/// multi-row update here, so two such statements over overlapping ids queue
/// behind each other instead of deadlocking.
pub async fn start_attempts(pool: &PgPool, ids: &[Uuid], run_lease_secs: i64) -> Result<Vec<Attempt>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, \
             lease_until = now() + make_interval(secs => $2), updated_at = now() \
         WHERE id IN ( \
             SELECT id FROM jobs \
             WHERE id = ANY($1) AND status IN ('pending', 'queued') AND run_at <= now() \
             ORDER BY id FOR UPDATE) \
           AND status IN ('pending', 'queued') AND run_at <= now() \
         RETURNING id, kind, payload, attempts, max_attempts",
    )
    .bind(ids)
    .bind(run_lease_secs as f64)
    .fetch_all(pool)
    .await
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Done,
    /// Failed; back to `pending` at `retry_at`, or `dead` when `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records the outcomes of several attempts in one statement. Each write is
/// conditional on the job still running, so a repeated write (its first answer
/// was lost) changes nothing.
pub async fn finish_attempts(pool: &PgPool, outcomes: &[(Uuid, Finish)]) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut statuses = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::with_capacity(outcomes.len());
    let mut retry_ats = Vec::with_capacity(outcomes.len());
    for (id, finish) in outcomes {
        ids.push(*id);
        match finish {
            Finish::Done => {
                statuses.push("done");
                errors.push(None);
                retry_ats.push(None);
            }
            Finish::Failed { error, retry_at } => {
                statuses.push(if retry_at.is_some() { "pending" } else { "dead" });
                errors.push(Some(error.as_str()));
                retry_ats.push(*retry_at);
            }
        }
    }
    sqlx::query(
        "UPDATE jobs SET status = o.status, run_at = coalesce(o.retry_at, jobs.run_at), lease_until = NULL, \
             last_error = coalesce(o.error, jobs.last_error), updated_at = now(), \
             completed_at = CASE WHEN o.status = 'pending' THEN NULL ELSE now() END \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS o(id, status, error, retry_at) \
         WHERE jobs.id = o.id AND jobs.id IN ( \
             SELECT id FROM jobs WHERE id = ANY($1) AND status = 'running' ORDER BY id FOR UPDATE) \
           AND jobs.status = 'running'",
    )
    .bind(ids)
    .bind(statuses)
    .bind(errors)
    .bind(retry_ats)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes back jobs whose lease lapsed: queued ones whose Redis message was lost go
/// back to `pending`; running ones whose worker died count the attempt and retry,
/// or die when that was the last. Returns how many were taken back. Rows another
/// statement holds are left for the next sweep (it never waits, so it cannot
/// deadlock with a worker recording a late outcome).
pub async fn sweep_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET \
             status = CASE WHEN status = 'running' AND attempts >= max_attempts THEN 'dead' ELSE 'pending' END, \
             last_error = CASE WHEN status = 'running' THEN 'worker stopped before finishing the attempt' ELSE last_error END, \
             completed_at = CASE WHEN status = 'running' AND attempts >= max_attempts THEN now() END, \
             lease_until = NULL, updated_at = now() \
         WHERE id IN ( \
             SELECT id FROM jobs WHERE status IN ('queued', 'running') AND lease_until < now() \
             FOR UPDATE SKIP LOCKED) \
           AND status IN ('queued', 'running') AND lease_until < now()",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// One job as operators see it.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, queue, status, attempts, max_attempts, run_at, last_error, created_at, completed_at \
         FROM jobs WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(db)
    .await
}

/// Counts per queue for the operators' overview. `failed` is a pending job that has
/// failed at least once and waits for its next attempt.
#[derive(Debug, Clone, Default, FromRow)]
pub struct QueueCounts {
    pub queue: String,
    pub pending: i64,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    pub dead: i64,
    /// How long the oldest job due now has waited to run (seconds).
    pub oldest_pending_secs: Option<i64>,
}

pub async fn counts_by_queue<'e>(db: impl PgExecutor<'e>) -> Result<Vec<QueueCounts>, sqlx::Error> {
    sqlx::query_as(
        "SELECT queue, \
            count(*) FILTER (WHERE status = 'pending' AND attempts = 0) AS pending, \
            count(*) FILTER (WHERE status = 'queued') AS queued, \
            count(*) FILTER (WHERE status = 'running') AS running, \
            count(*) FILTER (WHERE status = 'done') AS done, \
            count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS failed, \
            count(*) FILTER (WHERE status = 'dead') AS dead, \
            extract(epoch FROM now() - min(run_at) FILTER (WHERE status = 'pending' AND run_at <= now()))::int8 \
                AS oldest_pending_secs \
         FROM jobs GROUP BY queue ORDER BY queue",
    )
    .fetch_all(db)
    .await
}

/// Which jobs an operator lists: by state (`pending` meaning never tried yet,
/// `failed` meaning waiting for a retry, as in [`QueueCounts`]) and kind, newest
/// first, before a cursor.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A job with what it carries and the ktti it is about, for operators.
#[derive(Debug, Clone, FromRow)]
pub struct ListedJob {
    #[sqlx(flatten)]
    pub job: JobRow,
    pub payload: serde_json::Value,
    pub ktti_id: Option<Uuid>,
}

pub async fn list<'e>(db: impl PgExecutor<'e>, f: &JobFilter) -> Result<Vec<ListedJob>, sqlx::Error> {
    let (before_at, before_id) = f.before.unzip();
    sqlx::query_as(
        "SELECT id, kind, queue, status, attempts, max_attempts, run_at, last_error, created_at, completed_at, \
                payload, \
                coalesce((payload->>'kttiId')::uuid, \
                         (SELECT p.ktti_id FROM payouts p WHERE p.id = (payload->>'payoutId')::uuid), \
                         (SELECT c.ktti_id FROM billing_charges c WHERE c.id = (payload->>'chargeId')::uuid)) \
                    AS ktti_id \
         FROM jobs \
         WHERE ($1::text IS NULL \
                OR ($1 = 'failed' AND status = 'pending' AND attempts > 0) \
                OR ($1 = 'pending' AND status = 'pending' AND attempts = 0) \
                OR ($1 NOT IN ('failed', 'pending') AND status = $1)) \
           AND ($2::text IS NULL OR kind = $2) \
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(f.status.as_deref())
    .bind(f.kind.as_deref())
    .bind(before_at)
    .bind(before_id)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

/// Operator bulk retry: every dead job of `kind` whose last error contains
/// `error_contains` (all of that kind without it) gets a fresh set of attempts,
/// due now. How many.
pub async fn retry_dead<'e>(
    db: impl PgExecutor<'e>,
    kind: &str,
    error_contains: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = now(), lease_until = NULL, \
             completed_at = NULL, updated_at = now() \
         WHERE status = 'dead' AND kind = $1 AND ($2::text IS NULL OR strpos(last_error, $2) > 0)",
    )
    .bind(kind)
    .bind(error_contains)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Jobs not yet finished (pending, queued or running): the outbox backlog.
pub async fn unfinished_count<'e>(db: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    // Two counts, each over a partial index, rather than one `IN` that would
    // read the whole table (finished jobs included).
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending') \
              + (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running'))",
    )
    .fetch_one(db)
    .await
}

/// Operator retry of a dead job, or of a failing one now instead of at its backoff:
/// a fresh set of attempts, due now. `None` when no such job may be retried.
pub async fn retry_now<'e>(db: impl PgExecutor<'e>, id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = now(), lease_until = NULL, \
             completed_at = NULL, updated_at = now() \
         WHERE id = $1 AND (status = 'dead' OR (status = 'pending' AND attempts > 0)) \
         RETURNING id, kind, queue, status, attempts, max_attempts, run_at, last_error, created_at, completed_at",
    )
    .bind(id.0)
    .fetch_optional(db)
    .await
}

/// Deletes finished jobs older than `max_age_days`; dead ones stay for operators.
pub async fn purge_done_older_than(pool: &PgPool, max_age_days: i32) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM jobs WHERE status = 'done' AND completed_at < now() - make_interval(days => $1)")
            .bind(max_age_days)
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}
