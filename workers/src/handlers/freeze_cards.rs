//! Freezes or unfreezes all of a user's cards at the provider (staff blocked or
//! unblocked the user). Blocking a blocked card is harmless, so a retried job
//! simply repeats the calls for the cards not yet in the wanted state.

use crate::{JobError, WorkerDeps};
use kttipay_db::{cards, users};
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::SetUserCardsFrozen;

pub async fn run(deps: &WorkerDeps, _id: JobId, job: SetUserCardsFrozen) -> Result<(), JobError> {
    // The latest decision wins: a job for an older decision does nothing.
    let Some(user) = users::find(&deps.pool, job.user_id).await? else {
        return Ok(());
    };
    if user.blocked_at.is_some() != job.frozen {
        return Ok(());
    }
    let (want, call_name) = if job.frozen {
        ("frozen", "block")
    } else {
        ("active", "unblock")
    };
    for (card, provider_card, status) in cards::of_user(&deps.pool, job.user_id).await? {
        if status == want {
            continue;
        }
        let result = if job.frozen {
            deps.banking.block_card(&provider_card).await
        } else {
            deps.banking.unblock_card(&provider_card).await
        };
        match result {
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(JobError::Transient(format!("{call_name} card {card}: {e}"))),
            Err(e) => return Err(JobError::Permanent(format!("{call_name} card {card}: {e}"))),
        }
        let mut tx = deps.pool.begin().await?;
        cards::set_status(&mut tx, card, want).await?;
        tx.commit().await?;
    }
    Ok(())
}
