//! Keeps each card's state at the bank in line with its holder's right to spend:
//! a blocked user, a member who may not spend (`canSpend`, or the ktti's
//! `membersCanSpend`) or a former member has a frozen card; everyone else an
//! active one. Both jobs that change rights (staff blocking a user, a ktti's
//! settings or a member's role changing) reconcile through here, so one rule
//! decides and a later change always wins: the job reads the rights as they are
//! when it runs.

use crate::{JobError, WorkerDeps};
use kttipay_db::cards::{self, CardRights};
use kttipay_domain::ids::{JobId, KttiId};
use kttipay_domain::membership::{Role, Settings, may_spend};
use kttipay_jobs::kinds::SyncKttiCards;

/// Whether the card should be able to spend.
fn should_be_active(c: &CardRights) -> bool {
    let settings = Settings {
        members_can_spend: c.members_can_spend,
        members_can_invite: false,
        approval_required_to_join: false,
    };
    !c.user_blocked
        && c.member_status == "active"
        && may_spend(Role::parse(&c.role).unwrap_or(Role::Member), c.can_spend, settings)
}

/// Blocks or unblocks each card at the bank that is not in the state its rights
/// call for. Blocking a blocked card is harmless, so a retry simply repeats.
pub async fn reconcile(deps: &WorkerDeps, cards_now: Vec<CardRights>) -> Result<(), JobError> {
    for card in cards_now {
        let want = if should_be_active(&card) { "active" } else { "frozen" };
        if card.status == want {
            continue;
        }
        let result = if want == "frozen" {
            deps.banking.block_card(&card.provider_card_id).await
        } else {
            deps.banking.unblock_card(&card.provider_card_id).await
        };
        match result {
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(JobError::Transient(format!("card {}: {e}", card.id))),
            Err(e) => return Err(JobError::Permanent(format!("card {}: {e}", card.id))),
        }
        let mut conn = deps.pool.acquire().await?;
        cards::set_status(&mut conn, card.id, want).await?;
    }
    Ok(())
}

pub async fn sync_ktti(deps: &WorkerDeps, _id: JobId, job: SyncKttiCards) -> Result<(), JobError> {
    let rows = cards::rights_of_ktti(&deps.pool, KttiId(job.ktti_id)).await?;
    reconcile(deps, rows).await
}
