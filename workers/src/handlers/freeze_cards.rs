//! Freezes or unfreezes a user's cards at the provider when staff block or
//! unblock the user. Unblocking restores only the cards the user may spend with
//! (see [`super::card_rights`]).

use super::card_rights::reconcile;
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
    reconcile(deps, cards::rights_of_user(&deps.pool, job.user_id).await?).await
}
