//! One attempt of one job, bracketed by its bookkeeping in PostgreSQL.

use chrono::Utc;
use kttipay_db::PgPool;
use kttipay_db::jobs::Finish;
use kttipay_domain::ids::JobId;
use kttipay_jobs::{Job, kinds, retry_policy_of};
use kttipay_providers::email::DynMailer;
use kttipay_providers::shaype::client::ShaypeClient;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::handlers;

/// A handler that runs longer than this is abandoned and the attempt fails.
pub const JOB_RUN_TIMEOUT_SECS: u64 = 120;
/// How long a running job's claim lasts: past the timeout, with a margin, before the
/// sweeper decides its worker died.
pub const JOB_RUN_LEASE_SECS: i64 = JOB_RUN_TIMEOUT_SECS as i64 + 60;

/// What handlers need from the outside world.
#[derive(Clone)]
pub struct WorkerDeps {
    pub pool: PgPool,
    pub mailer: DynMailer,
    /// The banking provider (or the sandbox).
    pub banking: ShaypeClient,
    pub sms: kttipay_providers::sms::DynSms,
    /// The app's public base URL, for links in emails.
    pub public_url: String,
    /// Uploaded files (receipts).
    pub storage: kttipay_providers::storage::Storage,
    /// The plans on offer (billing runs charge by them).
    pub billing_plans: std::sync::Arc<Vec<kttipay_domain::billing::Plan>>,
    /// Push notifications (FCM, or the log).
    pub pusher: kttipay_providers::push::Pusher,
    /// Digested emails (money in) to one user about one ktti: at most one per
    /// this many seconds; the rest wait for one digest.
    pub digest_window_secs: i64,
    /// Where attempts' starts and outcomes are written, batched.
    pub books: crate::books::Books,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again later (network, provider 5xx, database hiccup).
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot help (bad payload, refused for good).
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for JobError {
    /// The error keeps where it happened (the `?` that converted it), so the job's
    /// `last_error` tells operators which step failed.
    #[track_caller]
    fn from(e: sqlx::Error) -> Self {
        JobError::Transient(format!("database: {e} (at {})", std::panic::Location::caller()))
    }
}

/// The outcome of handling one dispatch message, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retrying,
    Dead,
    /// The job was not runnable (already done, running elsewhere, or not yet due):
    /// a duplicate or stale message.
    Skipped,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retrying => "retrying",
            Outcome::Dead => "dead",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Runs one attempt of job `id`: claims it, runs its handler under a timeout, and
/// records the result. Errors here are bookkeeping errors (database down); the
/// job's lease then lapses and the sweeper takes it back.
pub async fn execute(deps: &WorkerDeps, id: Uuid) -> Result<Outcome, sqlx::Error> {
    let Some(attempt) = deps.books.start(id).await? else {
        metrics::counter!("kttipay_jobs_total", "kind" => "unknown", "outcome" => Outcome::Skipped.label())
            .increment(1);
        return Ok(Outcome::Skipped);
    };
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(JOB_RUN_TIMEOUT_SECS),
        run(deps, JobId(attempt.id), &attempt.kind, attempt.payload.clone()),
    )
    .await
    .unwrap_or_else(|_| Err(JobError::Transient(format!("timed out after {JOB_RUN_TIMEOUT_SECS}s"))));

    let policy = retry_policy_of(&attempt.kind);
    let attempts_made = attempt.attempts.max(0) as u32;
    let outcome = match result {
        Ok(()) => {
            record(|| deps.books.finish(id, Finish::Done)).await?;
            Outcome::Done
        }
        Err(JobError::Transient(error)) if attempts_made < attempt.max_attempts as u32 => {
            let delay_ms = policy.backoff_ms(attempts_made, rand::random::<u32>());
            let retry_at = Utc::now() + chrono::Duration::milliseconds(delay_ms as i64);
            tracing::warn!(job = %id, kind = %attempt.kind, attempt = attempts_made, %error, delay_ms, "job failed; will retry");
            record(|| {
                deps.books.finish(
                    id,
                    Finish::Failed {
                        error: error.clone(),
                        retry_at: Some(retry_at),
                    },
                )
            })
            .await?;
            Outcome::Retrying
        }
        Err(e) => {
            tracing::error!(job = %id, kind = %attempt.kind, attempt = attempts_made, error = %e, "job is dead");
            let error = e.to_string();
            record(|| {
                deps.books.finish(
                    id,
                    Finish::Failed {
                        error: error.clone(),
                        retry_at: None,
                    },
                )
            })
            .await?;
            on_dead(deps, &attempt.kind, attempt.payload, &error).await?;
            Outcome::Dead
        }
    };
    metrics::counter!("kttipay_jobs_total", "kind" => attempt.kind.clone(), "outcome" => outcome.label()).increment(1);
    metrics::histogram!("kttipay_job_duration_seconds", "kind" => attempt.kind).record(started.elapsed().as_secs_f64());
    Ok(outcome)
}

/// What a job's death means beyond the job: a dead payout shows as `dead` to
/// members and operators (its job's retry brings it back).
async fn on_dead(deps: &WorkerDeps, kind: &str, payload: serde_json::Value, error: &str) -> Result<(), sqlx::Error> {
    if kind == <kinds::SubmitPayout as Job>::KIND
        && let Ok(job) = serde_json::from_value::<kinds::SubmitPayout>(payload)
    {
        record(|| handlers::payout::dead(deps, job.clone(), error)).await?;
    }
    Ok(())
}

/// Times an attempt's outcome is written before giving up on it.
pub const RECORD_ATTEMPTS: u32 = 5;
/// The first pause between those writes; each next one doubles (50 ms .. 400 ms).
pub const RECORD_RETRY_BASE_MS: u64 = 50;

/// Writes an attempt's outcome, retrying a passing database failure (a pool
/// timeout under load) in place: an outcome that is not written leaves the job
/// `running` until its lease lapses, minutes later. Each write is conditional on
/// the job still running, so one that did land before its answer was lost makes
/// the retry a no-op.
async fn record<F, Fut>(write: F) -> Result<(), sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    let mut pause = Duration::from_millis(RECORD_RETRY_BASE_MS);
    let mut tries = 1;
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if tries < RECORD_ATTEMPTS => {
                tracing::warn!(error = %e, tries, "recording a job's outcome failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Defines [`Decoded`], one variant per job kind with its payload, and the routes
/// from a stored row to it and from it to its handler. A kind in
/// `kinds::ALL` without a line here fails `every_kind_has_a_handler`.
macro_rules! handlers {
    ($($kind:ident => $handler:path),+ $(,)?) => {
        /// A job's payload decoded by its stored kind.
        enum Decoded {
            $($kind(kinds::$kind)),+
        }

        impl Decoded {
            /// `None`: no handler knows the kind (a newer version's job).
            fn from_row(kind: &str, payload: serde_json::Value) -> Option<Result<Decoded, JobError>> {
                match kind {
                    $(<kinds::$kind as Job>::KIND => Some(decode(payload).map(Decoded::$kind)),)+
                    _ => None,
                }
            }

            async fn run(self, deps: &WorkerDeps, id: JobId) -> Result<(), JobError> {
                match self {
                    $(Decoded::$kind(job) => $handler(deps, id, job).await),+
                }
            }
        }
    };
}

handlers! {
    SendEmail => handlers::email::run,
    Noop => handlers::noop::run,
    ApplyProviderEvent => handlers::provider_event::run,
    SubmitKyc => handlers::kyc::run,
    SetupKtti => handlers::setup_ktti::run,
    OrderPhysicalCard => handlers::card_order::run,
    DeliverProviderMessage => handlers::provider_message::run,
    SetUserCardsFrozen => handlers::freeze_cards::run,
    SendInvitation => handlers::invitation::run,
    AddMemberAtBank => handlers::members::add,
    RemoveMemberAtBank => handlers::members::remove,
    SyncKttiCards => handlers::card_rights::sync_ktti,
    ReadReceipt => handlers::receipt::read,
    DeleteStoredObject => handlers::stored_object::delete,
    SubmitPayout => handlers::payout::submit,
    CloseKttiAccount => handlers::close_account::close,
    ChargeFee => handlers::billing_charge::charge,
    SendBillingFailedEmail => handlers::billing_email::send,
    PushNotification => handlers::notify::push,
    EmailNotification => handlers::notify::email,
    EmailDigest => handlers::notify::digest,
    TestPush => handlers::notify::test_push,
}

/// Routes a job to its handler by kind.
async fn run(deps: &WorkerDeps, id: JobId, kind: &str, payload: serde_json::Value) -> Result<(), JobError> {
    match Decoded::from_row(kind, payload) {
        Some(job) => job?.run(deps, id).await,
        None => Err(JobError::Permanent(format!("no handler for job kind {kind:?}"))),
    }
}

fn decode<J: Job>(payload: serde_json::Value) -> Result<J, JobError> {
    serde_json::from_value(payload).map_err(|e| JobError::Permanent(format!("bad {} payload: {e}", J::KIND)))
}

#[cfg(test)]
mod tests {
    use super::{Decoded, JobError, RECORD_ATTEMPTS, record};
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn failing_first(times: u32) -> (Result<(), sqlx::Error>, u32) {
        let calls = AtomicU32::new(0);
        let result = record(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < times {
                Err(sqlx::Error::PoolTimedOut)
            } else {
                Ok(())
            }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    /// A passing pool timeout does not leave a finished job `running` until its
    /// lease lapses; a database that stays down is reported after a bounded wait.
    #[tokio::test(start_paused = true)]
    async fn an_outcome_write_is_retried_a_few_times_then_given_up() {
        let (result, calls) = failing_first(2).await;
        assert!(result.is_ok());
        assert_eq!(calls, 3);
        let (result, calls) = failing_first(u32::MAX).await;
        assert!(matches!(result, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(calls, RECORD_ATTEMPTS);
    }

    /// Every kind the queue contract lists reaches a handler: a kind added to
    /// `kinds::ALL` but not to `handlers!` would die as "no handler" in
    /// production.
    #[test]
    fn every_kind_has_a_handler() {
        for (kind, _, _) in kttipay_jobs::kinds::ALL {
            assert!(
                Decoded::from_row(kind, serde_json::Value::Null).is_some(),
                "job kind {kind} has no handler"
            );
        }
        assert!(Decoded::from_row("nope.v1", serde_json::Value::Null).is_none());
    }

    #[test]
    fn a_database_error_says_where_it_happened() {
        let e: JobError = sqlx::Error::RowNotFound.into();
        match e {
            JobError::Transient(m) => assert!(m.contains("execute.rs"), "{m}"),
            other => panic!("a database error is transient: {other:?}"),
        }
    }
}
