//! Closes a finalised ktti's account at the bank. Closing is idempotent at the
//! bank, so a retry after a lost answer is harmless. The bank refuses to close
//! an account that still holds money (a deposit that landed after finalising):
//! the job dies, visible to operators, and the late deposit is already an
//! action item for the owner.

use crate::{JobError, WorkerDeps};
use kttipay_db::ktties;
use kttipay_domain::ids::JobId;
use kttipay_domain::lifecycle::KttiStatus;
use kttipay_jobs::kinds::CloseKttiAccount;
use kttipay_providers::shaype::types::CloseAccount;

/// Why a ktti's account is closed, in the provider's words.
const CLOSE_REASON: &str = "CUSTOMER";

pub async fn close(deps: &WorkerDeps, _id: JobId, job: CloseKttiAccount) -> Result<(), JobError> {
    let Some(k) = ktties::find_plain(&deps.pool, job.ktti_id).await? else {
        return Err(JobError::Permanent(format!("no ktti {}", job.ktti_id)));
    };
    if k.status != KttiStatus::Closed {
        return Ok(());
    }
    let Some(account) = k.provider_account_id else {
        return Ok(()); // never opened at the bank: nothing to close
    };
    let body = CloseAccount {
        reason: Some(CLOSE_REASON.into()),
    };
    match deps.banking.close_account(&account, &body).await {
        Ok(_) => {
            tracing::info!(ktti = %job.ktti_id, "ktti account closed at the bank");
            Ok(())
        }
        Err(e) if e.is_transient() => Err(JobError::Transient(e.to_string())),
        Err(e) => Err(JobError::Permanent(format!(
            "the bank would not close the account: {e}"
        ))),
    }
}
