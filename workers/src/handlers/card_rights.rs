//! Keeps each card's state at the bank in line with its holder's right to spend:
//! a blocked user, a member who may not spend (`canSpend`, or the ktti's
//! `membersCanSpend`), a former member or a closing ktti has a frozen card;
//! everyone else an active one. Both jobs that change rights (staff blocking a user, a ktti's
//! settings or a member's role changing) reconcile through here, so one rule
//! decides and a later change always wins: the job reads the rights as they are
//! when it runs.

use crate::{JobError, WorkerDeps};
use kttipay_db::cards::{self, CardRights};
use kttipay_domain::ids::JobId;
use kttipay_domain::lifecycle::CardStatus;
use kttipay_domain::membership::CardHolder;
use kttipay_jobs::kinds::SyncKttiCards;

/// The holder's standing, as the rights table reads it.
fn holder(c: &CardRights) -> CardHolder {
    CardHolder {
        blocked: c.user_blocked,
        membership: c.member_status,
        role: c.role,
        can_spend: c.can_spend,
        members_can_spend: c.members_can_spend,
        ktti_status: c.ktti_status,
    }
}

/// Blocks or unblocks each card at the bank that is not in the state its rights
/// call for. Blocking a blocked card is harmless, so a retry simply repeats.
///
/// Each card is changed under its row lock, held across the bank call, and its
/// rights are read again after taking the lock: two jobs about one card run one
/// after the other, and the later sees what the earlier did, so a block can never
/// be undone by an older job that read the rights before it.
pub async fn reconcile(deps: &WorkerDeps, cards_now: Vec<CardRights>) -> Result<(), JobError> {
    for card in cards_now {
        let mut tx = deps.pool.begin().await?;
        let Some(card) = cards::lock_rights(&mut tx, card.id).await? else {
            continue; // cancelled meanwhile
        };
        let holder = holder(&card);
        let want = holder.card_should_be();
        if card.status == want {
            continue;
        }
        let result = if want == CardStatus::Frozen {
            deps.banking
                .block_card(&card.provider_card_id, &format!("KttiPay: {}", holder.why_frozen()))
                .await
        } else {
            deps.banking
                .unblock_card(&card.provider_card_id, "KttiPay: the holder may spend again")
                .await
        };
        match result {
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(JobError::Transient(format!("card {}: {e}", card.id))),
            Err(e) => return Err(JobError::Permanent(format!("card {}: {e}", card.id))),
        }
        cards::set_status(&mut tx, card.id, want).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Cancels a card at the bank under its row lock (see [`reconcile`]); a card
/// already cancelled is left alone, and cancelling is idempotent at the bank.
pub async fn cancel(deps: &WorkerDeps, card: uuid::Uuid) -> Result<(), JobError> {
    let mut tx = deps.pool.begin().await?;
    let Some(card) = cards::lock_rights(&mut tx, card).await? else {
        return Ok(());
    };
    match deps.banking.cancel_card(&card.provider_card_id).await {
        Ok(_) => {}
        Err(e) if e.is_transient() => return Err(JobError::Transient(format!("card {}: {e}", card.id))),
        Err(e) => return Err(JobError::Permanent(format!("card {}: {e}", card.id))),
    }
    cards::set_status(&mut tx, card.id, CardStatus::Cancelled).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn sync_ktti(deps: &WorkerDeps, _id: JobId, job: SyncKttiCards) -> Result<(), JobError> {
    let rows = cards::rights_of_ktti(&deps.pool, job.ktti_id).await?;
    reconcile(deps, rows).await
}
