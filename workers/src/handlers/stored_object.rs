//! Deletes a stored file once the change that dropped it has committed.

use crate::{JobError, WorkerDeps};
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::DeleteStoredObject;

pub async fn delete(deps: &WorkerDeps, _id: JobId, job: DeleteStoredObject) -> Result<(), JobError> {
    deps.storage
        .delete(&job.key)
        .await
        .map_err(|e| JobError::Transient(e.to_string()))
}
