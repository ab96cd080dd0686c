//! Sets a ktti up at the provider: for a group ktti its provider group first, then
//! the account (held by the owner, or by the group), then the owner's virtual card,
//! then `pendingSetup -> active`. Every provider call carries an idempotency key
//! derived from our ids, so a retried job opens one of each. A permanent refusal is
//! written on the ktti (shown to its members) and the job dies, visible to
//! operators and retryable.

use super::member_card::{CardError, open_virtual_card};
use crate::{JobError, WorkerDeps};
use kttipay_db::{ktties, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_domain::lifecycle::{KttiKind, KttiStatus};
use kttipay_jobs::kinds::SetupKtti;
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::*;

/// The provider product of a personal ktti's account.
pub const PERSONAL_PRODUCT_ID: &str = "kttipay-personal";
/// The provider product of a group ktti's (joint) account.
pub const GROUP_PRODUCT_ID: &str = "kttipay-group";

pub async fn run(deps: &WorkerDeps, _id: JobId, job: SetupKtti) -> Result<(), JobError> {
    let ktti = job.ktti_id;
    let Some(k) = ktties::find_plain(&deps.pool, ktti).await? else {
        return Err(JobError::Permanent(format!("no ktti {ktti}")));
    };
    if k.status != KttiStatus::PendingSetup {
        return Ok(());
    }
    let owner = UserId(k.owner_id);
    let user = users::find(&deps.pool, owner)
        .await?
        .ok_or_else(|| JobError::Permanent("the owner no longer exists".into()))?;
    let Some(customer) = user.provider_customer_id.clone() else {
        return Err(JobError::Permanent(
            "the owner has no provider customer (KYC not done)".into(),
        ));
    };
    let group = k.kind == KttiKind::Group;
    let holder = match (group, k.provider_group_id) {
        (false, _) => customer.clone(),
        (true, Some(g)) => g,
        (true, None) => {
            let request = CreateGroup {
                idempotency_key: format!("kttipay-ktti-group-{ktti}"),
                customer_hay_ids: vec![customer.clone()],
                group_name: Some(k.name.clone()),
                group_type: Some("PERSONAL".into()),
            };
            let created = checked(deps, ktti, deps.banking.create_group(&request).await).await?;
            let mut conn = deps.pool.acquire().await?;
            ktties::set_group(&mut conn, ktti, &created.group_hay_id).await?;
            created.group_hay_id
        }
    };
    let account = match k.provider_account_id {
        Some(a) => a,
        None => {
            let request = CreateAccount {
                idempotency_key: format!("kttipay-ktti-account-{ktti}"),
                account_holder_id: holder,
                account_holder_type: if group {
                    AccountHolderType::Group
                } else {
                    AccountHolderType::Customer
                },
                product_id: if group { GROUP_PRODUCT_ID } else { PERSONAL_PRODUCT_ID }.into(),
                custom_data: [("kttiId".to_string(), serde_json::Value::String(ktti.to_string()))]
                    .into_iter()
                    .collect(),
            };
            let opened = checked(deps, ktti, deps.banking.create_account(&request).await).await?;
            let mut conn = deps.pool.acquire().await?;
            ktties::set_account(
                &mut conn,
                ktti,
                &opened.account_hay_id,
                opened.bsb.as_deref().unwrap_or_default(),
                opened.account_number.as_deref().unwrap_or_default(),
            )
            .await?;
            opened.account_hay_id
        }
    };
    match open_virtual_card(deps, ktti, &account, owner).await {
        Ok(()) => {}
        Err(CardError::Provider(e)) => return checked(deps, ktti, Err(e)).await,
        Err(CardError::Job(e)) => return Err(e),
    }
    let mut conn = deps.pool.acquire().await?;
    ktties::transition(&mut conn, ktti, KttiStatus::PendingSetup, KttiStatus::Active).await?;
    Ok(())
}

/// Classifies a provider result; a permanent failure is also noted on the ktti.
async fn checked<T>(deps: &WorkerDeps, ktti: KttiId, result: Result<T, ProviderError>) -> Result<T, JobError> {
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.is_transient() => Err(JobError::Transient(e.to_string())),
        Err(e) => {
            let mut conn = deps.pool.acquire().await?;
            ktties::set_setup_error(&mut conn, ktti, &format!("The bank refused to set this ktti up: {e}")).await?;
            Err(JobError::Permanent(e.to_string()))
        }
    }
}
