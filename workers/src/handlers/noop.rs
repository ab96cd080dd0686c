//! The no-op job: measures the pipeline itself, and exercises retries in tests.

use crate::{JobError, WorkerDeps};
use kttipay_db::jobs;
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::Noop;

/// Longest a no-op may be asked to sleep: it is a test tool, not a timer.
pub const NOOP_MAX_SLEEP_MS: u64 = 10_000;

pub async fn run(deps: &WorkerDeps, id: JobId, job: Noop) -> Result<(), JobError> {
    if job.sleep_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(job.sleep_ms.min(NOOP_MAX_SLEEP_MS))).await;
    }
    if job.fail_times > 0 {
        let attempts = jobs::find(&deps.pool, id).await?.map(|j| j.attempts).unwrap_or(0);
        if attempts as u32 <= job.fail_times {
            return Err(JobError::Transient(format!(
                "planned failure {attempts} of {}",
                job.fail_times
            )));
        }
    }
    Ok(())
}
