//! A member joining or leaving a group ktti, at the bank: joining adds them to the
//! provider group and opens their virtual card; leaving (or removal) cancels the
//! card and takes them out of the group. Both re-read the membership first, so a
//! join undone before the job ran does nothing, and both are safe to repeat.

use super::card_rights::{cancel, reconcile};
use super::member_card::{CardError, open_virtual_card};
use crate::{JobError, WorkerDeps};
use kttipay_db::{cards, ktties, members, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_jobs::kinds::{AddMemberAtBank, RemoveMemberAtBank};
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::{AddCustomersToGroup, RemoveCustomerFromGroup};

fn provider(e: ProviderError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// The ktti's provider group and account, once its setup is done.
async fn banked(deps: &WorkerDeps, ktti: KttiId) -> Result<(String, String), JobError> {
    let k = ktties::find_plain(&deps.pool, ktti)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("no ktti {ktti}")))?;
    match (k.provider_group_id, k.provider_account_id) {
        (Some(g), Some(a)) => Ok((g, a)),
        // The ktti's own setup job has not finished: wait for it.
        _ => Err(JobError::Transient(format!(
            "ktti {ktti} is not set up at the bank yet"
        ))),
    }
}

async fn customer(deps: &WorkerDeps, user: UserId) -> Result<String, JobError> {
    users::find(&deps.pool, user)
        .await?
        .and_then(|u| u.provider_customer_id)
        .ok_or_else(|| JobError::Permanent(format!("user {user} has no provider customer")))
}

async fn is_active(deps: &WorkerDeps, ktti: KttiId, user: UserId) -> Result<bool, JobError> {
    let mut conn = deps.pool.acquire().await?;
    Ok(members::lock(&mut conn, ktti, user)
        .await?
        .is_some_and(|m| m.status == MembershipStatus::Active))
}

pub async fn add(deps: &WorkerDeps, _id: JobId, job: AddMemberAtBank) -> Result<(), JobError> {
    let ktti = job.ktti_id;
    if !is_active(deps, ktti, job.user_id).await? {
        return Ok(()); // left or removed before we got here
    }
    let (group, account) = banked(deps, ktti).await?;
    // Back before their removal reached the bank: the old card goes first (the
    // removal job would find it too), so they get a fresh one.
    for old in cards::from_before_rejoining(&deps.pool, ktti, job.user_id).await? {
        cancel(deps, old).await?;
    }
    let customer = customer(deps, job.user_id).await?;
    deps.banking
        .add_customers_to_group(
            &group,
            &AddCustomersToGroup {
                customer_hay_ids: vec![customer],
            },
        )
        .await
        .map_err(provider)?;
    match open_virtual_card(deps, ktti, &account, job.user_id).await {
        Ok(()) => {}
        Err(CardError::Provider(e)) => return Err(provider(e)),
        Err(CardError::Job(e)) => return Err(e),
    }
    // A new card opens active; if the member may not spend (a setting changed
    // while this job waited), it is frozen before anyone can use it.
    let mine: Vec<_> = cards::rights_of_ktti(&deps.pool, ktti)
        .await?
        .into_iter()
        .filter(|c| c.user_id == job.user_id.0)
        .collect();
    reconcile(deps, mine).await
}

pub async fn remove(deps: &WorkerDeps, _id: JobId, job: RemoveMemberAtBank) -> Result<(), JobError> {
    let ktti = job.ktti_id;
    // Every card from the membership that ended goes, even if they came back
    // before this job ran (a rejoin gets a card of its own).
    for card in cards::from_before_rejoining(&deps.pool, ktti, job.user_id).await? {
        cancel(deps, card).await?;
    }
    if is_active(deps, ktti, job.user_id).await? {
        return Ok(()); // came back before we got here: they stay in the group
    }
    let (group, _) = banked(deps, ktti).await?;
    let customer = customer(deps, job.user_id).await?;
    deps.banking
        .remove_customer_from_group(&group, &RemoveCustomerFromGroup { customer_id: customer })
        .await
        .map_err(provider)?;
    Ok(())
}
