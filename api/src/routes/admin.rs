//! Platform staff: blocking users and operating the job queue. Everyone else gets
//! 404 here, as for any resource they may not see.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kttipay_db::{jobs, sessions, users};
use kttipay_domain::ids::{JobId, UserId};
use kttipay_jobs::kinds::SetUserCardsFrozen;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

/// One queue's jobs by state.
#[derive(Debug, Default, Object)]
#[oai(rename_all = "camelCase")]
pub struct QueueOverview {
    pub queue: String,
    /// Waiting in the outbox for their first dispatch.
    pub pending: i64,
    /// Dispatched to Redis, not yet taken by a worker.
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    /// Failed at least once and waiting for their next attempt.
    pub failed: i64,
    /// Out of attempts (or failed permanently); retry with `POST /api/v2/admin/jobs/{jobId}/retry`.
    pub dead: i64,
    /// How long the oldest job due now has waited to run, in seconds.
    #[oai(nullable)]
    pub oldest_pending_secs: Option<i64>,
}

impl From<jobs::QueueCounts> for QueueOverview {
    fn from(c: jobs::QueueCounts) -> Self {
        QueueOverview {
            queue: c.queue,
            pending: c.pending,
            queued: c.queued,
            running: c.running,
            done: c.done,
            failed: c.failed,
            dead: c.dead,
            oldest_pending_secs: c.oldest_pending_secs,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct JobsOverview {
    pub queues: Vec<QueueOverview>,
    /// Jobs matching the filters, newest first.
    pub items: Vec<ListedJobView>,
    /// Pass as `before` for the next page; absent on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A job with the ids it carries and the ktti it is about.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ListedJobView {
    #[oai(flatten)]
    pub job: JobView,
    /// The job's payload: the ids it carries (never a snapshot of data).
    pub payload: serde_json::Value,
    #[oai(nullable)]
    pub ktti_id: Option<Uuid>,
}

/// A job's state as the overview counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "camelCase")]
pub enum JobState {
    Pending,
    Queued,
    Running,
    Done,
    Failed,
    Dead,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }
}

#[derive(Debug, Object, serde::Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct BulkRetry {
    /// The job kind, e.g. `payout.submit.v1`.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub kind: String,
    /// Only jobs whose last error contains this text.
    #[oai(validator(max_length = 500))]
    pub error_contains: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BulkRetried {
    pub retried: u64,
}

/// Jobs listed at most per page.
pub const JOBS_PAGE_MAX: u32 = 200;

/// `before` cursors: `<created_at RFC 3339>_<job id>`.
fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::invalid_field("validation_failed", "before", "is not a cursor from nextCursor");
    let (at, id) = raw.rsplit_once('_').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// The overview and a page of jobs, for the API and the dashboard alike.
pub async fn overview(
    pool: &kttipay_db::PgPool,
    status: Option<JobState>,
    kind: Option<String>,
    before: Option<&str>,
    limit: u32,
) -> Result<JobsOverview, ApiError> {
    // Every known queue is listed, idle ones with zeros, plus any queue that
    // still has rows from an older version.
    let mut queues: Vec<QueueOverview> = kttipay_jobs::Queue::ALL
        .iter()
        .map(|q| QueueOverview {
            queue: q.name().to_string(),
            ..Default::default()
        })
        .collect();
    for counts in jobs::counts_by_queue(pool).await? {
        match queues.iter_mut().find(|q| q.queue == counts.queue) {
            Some(slot) => *slot = counts.into(),
            None => queues.push(counts.into()),
        }
    }
    let limit = limit.clamp(1, JOBS_PAGE_MAX);
    let filter = jobs::JobFilter {
        status: status.map(|s| s.as_str().to_string()),
        kind: kind.filter(|k| !k.is_empty()),
        before: before.map(parse_cursor).transpose()?,
        limit: i64::from(limit) + 1,
    };
    let mut rows = jobs::list(pool, &filter).await?;
    let next_cursor = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        let last = &rows[rows.len() - 1].job;
        // `Z`, not `+00:00`: a `+` in a query string reads as a space.
        let at = last.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!("{at}_{}", last.id)
    });
    let items = rows
        .into_iter()
        .map(|r| ListedJobView {
            job: r.job.into(),
            payload: r.payload,
            ktti_id: r.ktti_id,
        })
        .collect();
    Ok(JobsOverview {
        queues,
        items,
        next_cursor,
    })
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<jobs::JobRow> for JobView {
    fn from(j: jobs::JobRow) -> Self {
        JobView {
            id: j.id,
            kind: j.kind,
            queue: j.queue,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error,
            created_at: j.created_at,
            completed_at: j.completed_at,
        }
    }
}

pub struct AdminApi;

#[OpenApi(tag = "Tag::Admin")]
impl AdminApi {
    /// Queue overview for operators
    ///
    /// Per queue: pending (never tried), queued, running, done, failed (waiting
    /// for a retry), dead, and how long the oldest due job has waited. With a
    /// page of jobs, newest first, filtered by `status` and `kind`, each with the
    /// ids it carries and its ktti; `before` takes the previous page's
    /// `nextCursor`.
    #[oai(path = "/api/v2/admin/jobs", method = "get", operation_id = "adminJobs")]
    async fn jobs(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        status: Query<Option<JobState>>,
        #[oai(validator(max_length = 100))] kind: Query<Option<String>>,
        #[oai(validator(max_length = 100))] before: Query<Option<String>>,
        /// Jobs per page (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<JobsOverview>, ApiError> {
        auth.0.require_platform_admin()?;
        let page = overview(
            &state.pool,
            status.0,
            kind.0,
            before.0.as_deref(),
            limit.0.unwrap_or(50),
        )
        .await?;
        Ok(Json(page))
    }

    /// Retry dead jobs in bulk
    ///
    /// Every dead job of `kind` (whose last error contains `errorContains`, when
    /// given) gets a fresh set of attempts, due now. Payouts and charges are
    /// safe to retry: each carries its one idempotency key and asks the bank first.
    #[oai(
        path = "/api/v2/admin/jobs/retry-dead",
        method = "post",
        operation_id = "adminRetryDeadJobs"
    )]
    async fn retry_dead(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: crate::json::JsonBody<BulkRetry>,
    ) -> Result<Json<BulkRetried>, ApiError> {
        auth.0.require_platform_admin()?;
        let b = body.0;
        let error = b.error_contains.as_deref().filter(|e| !e.is_empty());
        let retried = jobs::retry_dead(&state.pool, b.kind.trim(), error).await?;
        tracing::info!(kind = %b.kind, error, retried, by = %auth.0.user_id, "operator retried dead jobs");
        Ok(Json(BulkRetried { retried }))
    }

    /// Retry a failed or dead job
    ///
    /// Gives the job a fresh set of attempts, due now. 409 when it is neither failed nor dead.
    #[oai(
        path = "/api/v2/admin/jobs/:jobId/retry",
        method = "post",
        operation_id = "adminRetryJob"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "jobId")] job_id: Path<Uuid>,
    ) -> Result<Json<JobView>, ApiError> {
        auth.0.require_platform_admin()?;
        let id = JobId(job_id.0);
        match jobs::retry_now(&state.pool, id).await? {
            Some(job) => {
                tracing::info!(job = %id, by = %auth.0.user_id, "operator retried job");
                Ok(Json(job.into()))
            }
            None if jobs::find(&state.pool, id).await?.is_some() => Err(ApiError::conflict(
                "job_not_retryable",
                "Only a failed or dead job can be retried.",
            )),
            None => Err(ApiError::not_found("job_not_found", "No such job.")),
        }
    }

    /// Block a customer
    ///
    /// Every session ends at once and every card is frozen at the bank (by a job).
    #[oai(
        path = "/api/v2/admin/users/:userId/block",
        method = "post",
        operation_id = "adminBlockUser"
    )]
    async fn block(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.0.require_platform_admin()?;
        let user = UserId(user_id.0);
        if user == auth.0.user_id {
            return Err(ApiError::conflict(
                "cannot_block_self",
                "You cannot block your own account.",
            ));
        }
        let mut tx = state.pool.begin().await?;
        if !users::set_blocked(&mut tx, user, true).await? {
            return Err(ApiError::not_found("user_not_found", "No such user."));
        }
        sessions::revoke_all_for_user(&mut *tx, user, None, "blocked").await?;
        jobs::enqueue(
            &mut tx,
            &SetUserCardsFrozen {
                user_id: user,
                frozen: true,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user, by = %auth.0.user_id, "user blocked");
        Ok(NoContent::Done)
    }

    /// Unblock a customer
    ///
    /// Cards are unfrozen at the bank (by a job); the user signs in again.
    #[oai(
        path = "/api/v2/admin/users/:userId/unblock",
        method = "post",
        operation_id = "adminUnblockUser"
    )]
    async fn unblock(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.0.require_platform_admin()?;
        let user = UserId(user_id.0);
        let mut tx = state.pool.begin().await?;
        if !users::set_blocked(&mut tx, user, false).await? {
            return Err(ApiError::not_found("user_not_found", "No such user."));
        }
        jobs::enqueue(
            &mut tx,
            &SetUserCardsFrozen {
                user_id: user,
                frozen: false,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user, by = %auth.0.user_id, "user unblocked");
        Ok(NoContent::Done)
    }
}
