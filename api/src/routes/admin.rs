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
use poem_openapi::param::Path;
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
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct JobsOverview {
    pub queues: Vec<QueueOverview>,
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
    #[oai(path = "/api/v2/admin/jobs", method = "get", operation_id = "adminJobs")]
    async fn jobs(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<JobsOverview>, ApiError> {
        auth.0.require_platform_admin()?;
        // Every known queue is listed, idle ones with zeros, plus any queue that
        // still has rows from an older version.
        let mut queues: Vec<QueueOverview> = kttipay_jobs::Queue::ALL
            .iter()
            .map(|q| QueueOverview {
                queue: q.name().to_string(),
                ..Default::default()
            })
            .collect();
        for counts in jobs::counts_by_queue(&state.pool).await? {
            match queues.iter_mut().find(|q| q.queue == counts.queue) {
                Some(slot) => *slot = counts.into(),
                None => queues.push(counts.into()),
            }
        }
        Ok(Json(JobsOverview { queues }))
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
