//! Sets a ktti up at the provider: its account, then its owner's virtual card, then
//! `pendingSetup -> active`. Every provider call carries an idempotency key derived
//! from our ids, so a retried job opens one account and one card. A permanent
//! refusal is written on the ktti (shown to its members) and the job dies, visible
//! to operators and retryable.

use crate::{JobError, WorkerDeps};
use kttipay_db::{cards, ktties, kyc, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_jobs::kinds::SetupKtti;
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::*;

/// The provider product of a personal ktti's account.
pub const PERSONAL_PRODUCT_ID: &str = "kttipay-personal";

pub async fn run(deps: &WorkerDeps, _id: JobId, job: SetupKtti) -> Result<(), JobError> {
    let ktti = KttiId(job.ktti_id);
    let Some((_kind, status, owner, account)) = ktties::find_plain(&deps.pool, ktti).await? else {
        return Err(JobError::Permanent(format!("no ktti {ktti}")));
    };
    if status != "pendingSetup" {
        return Ok(());
    }
    let owner = UserId(owner);
    let user = users::find(&deps.pool, owner)
        .await?
        .ok_or_else(|| JobError::Permanent("the owner no longer exists".into()))?;
    let Some(customer) = user.provider_customer_id.clone() else {
        return Err(JobError::Permanent(
            "the owner has no provider customer (KYC not done)".into(),
        ));
    };
    let account = match account {
        Some(a) => a,
        None => {
            let request = CreateAccount {
                idempotency_key: format!("kttipay-ktti-account-{ktti}"),
                account_holder_id: customer.clone(),
                account_holder_type: AccountHolderType::Customer,
                product_id: PERSONAL_PRODUCT_ID.into(),
                custom_data: [("kttiId".to_string(), serde_json::Value::String(ktti.to_string()))]
                    .into_iter()
                    .collect(),
            };
            let opened = checked(deps, ktti, deps.banking.create_account(&request).await).await?;
            let mut tx = deps.pool.begin().await?;
            ktties::set_account(
                &mut tx,
                ktti,
                &opened.account_hay_id,
                opened.bsb.as_deref().unwrap_or_default(),
                opened.account_number.as_deref().unwrap_or_default(),
            )
            .await?;
            tx.commit().await?;
            opened.account_hay_id
        }
    };
    if cards::of_member(&deps.pool, ktti, owner).await?.is_none() {
        let submission = kyc::latest(&deps.pool, owner).await?;
        let address: serde_json::Value = submission.as_ref().map(|s| s.address.clone()).unwrap_or_default();
        let text = |k: &str| address[k].as_str().unwrap_or_default().to_string();
        let request = CreateCard {
            idempotency_key: format!("kttipay-card-{ktti}-{owner}"),
            account_id: account,
            customer_hay_id: customer,
            card_type: CardType::Virtual,
            delivery_address: Address {
                line1: text("line1"),
                line2: address["line2"].as_str().map(str::to_owned),
                town_or_city: text("suburb"),
                administrative_region: text("state"),
                postcode: text("postcode"),
                country_code_iso: text("country"),
            },
            email: user.email.clone(),
            first_name: submission
                .as_ref()
                .map_or(user.first_name.clone(), |s| s.first_name.clone()),
            last_name: submission
                .as_ref()
                .map_or(user.last_name.clone(), |s| s.last_name.clone()),
            phone_number: PhoneNumber::from_e164(&user.phone),
            // A virtual card's PIN is never used; the spec requires one.
            pin: format!("{:04}", rand::random::<u16>() % 10_000),
        };
        let card = checked(deps, ktti, deps.banking.create_card(&request).await).await?;
        let mut tx = deps.pool.begin().await?;
        cards::insert(
            &mut tx,
            &cards::NewCard {
                ktti,
                user: owner,
                provider_card_id: &card.card_hay_id,
                card_token: card.card_token.as_deref(),
                last4: card.last_four_digits.as_deref(),
                card_type: "virtual",
                status: "active",
                delivery_address: Some(address),
            },
        )
        .await?;
        tx.commit().await?;
    }
    let mut tx = deps.pool.begin().await?;
    ktties::transition(&mut tx, ktti, "pendingSetup", "active").await?;
    tx.commit().await?;
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
