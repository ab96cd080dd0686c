//! Converts an ordered card to physical at the provider. The card keeps its number;
//! once converted it is on its way and its address can no longer change.

use crate::{JobError, WorkerDeps};
use kttipay_db::cards;
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::OrderPhysicalCard;

pub async fn run(deps: &WorkerDeps, _id: JobId, job: OrderPhysicalCard) -> Result<(), JobError> {
    let Some((provider_card, order_status)) = cards::provider_id(&deps.pool, job.card_id).await? else {
        return Err(JobError::Permanent(format!("no card {}", job.card_id)));
    };
    if order_status != "ordered" {
        return Ok(()); // already shipped (or the order was withdrawn)
    }
    // Converting twice is harmless at the provider: the card is physical either way.
    match deps.banking.convert_card(&provider_card).await {
        Ok(_) => {}
        Err(e) if e.is_transient() => return Err(JobError::Transient(e.to_string())),
        Err(e) => return Err(JobError::Permanent(e.to_string())),
    }
    let mut tx = deps.pool.begin().await?;
    cards::mark_shipped(&mut tx, job.card_id).await?;
    tx.commit().await?;
    Ok(())
}
