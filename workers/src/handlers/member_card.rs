//! Opening a member's virtual card on a ktti's account: shared by ktti setup (the
//! owner's card) and joining (every later member's). The provider idempotency key
//! is derived from the ktti and the user, so a retried job opens one card.

use crate::{JobError, WorkerDeps};
use kttipay_db::{cards, kyc, users};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{self as states, CardStatus};
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::*;

/// Opens `user`'s virtual card on `account` unless they have a live one already.
pub async fn open_virtual_card(deps: &WorkerDeps, ktti: KttiId, account: &str, user: UserId) -> Result<(), CardError> {
    if cards::of_member(&deps.pool, ktti, user).await?.is_some() {
        return Ok(());
    }
    let generation = cards::cancelled_of_member(&deps.pool, ktti, user).await?;
    let person = users::find(&deps.pool, user)
        .await?
        .ok_or_else(|| CardError::Job(JobError::Permanent(format!("user {user} no longer exists"))))?;
    let Some(customer) = person.provider_customer_id.clone() else {
        return Err(CardError::Job(JobError::Permanent(format!(
            "user {user} has no provider customer (KYC not done)"
        ))));
    };
    let submission = kyc::latest(&deps.pool, user).await?;
    let address: serde_json::Value = submission.as_ref().map(|s| s.address.clone()).unwrap_or_default();
    let text = |k: &str| address[k].as_str().unwrap_or_default().to_string();
    let request = CreateCard {
        // A member who left and came back gets a new card: the generation (how many
        // cards they had on this ktti) keeps the keys apart.
        idempotency_key: if generation == 0 {
            format!("kttipay-card-{ktti}-{user}")
        } else {
            format!("kttipay-card-{ktti}-{user}-{generation}")
        },
        account_id: account.to_string(),
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
        email: person.email.clone(),
        first_name: submission
            .as_ref()
            .map_or(person.first_name.clone(), |s| s.first_name.clone()),
        last_name: submission
            .as_ref()
            .map_or(person.last_name.clone(), |s| s.last_name.clone()),
        phone_number: PhoneNumber::from_e164(&person.phone),
        // A virtual card's PIN is never used; the spec requires one.
        pin: format!("{:04}", rand::random::<u16>() % 10_000),
    };
    let card = deps.banking.create_card(&request).await.map_err(CardError::Provider)?;
    let mut tx = deps.pool.begin().await?;
    cards::insert(
        &mut tx,
        &cards::NewCard {
            ktti,
            user,
            provider_card_id: &card.card_hay_id,
            card_token: card.card_token.as_deref(),
            last4: card.last_four_digits.as_deref(),
            card_type: states::CardType::Virtual,
            status: CardStatus::Active,
            delivery_address: Some(address),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A card could not be opened: the provider said no (or is down), or the job
/// itself failed.
#[derive(Debug)]
pub enum CardError {
    Provider(ProviderError),
    Job(JobError),
}

impl From<sqlx::Error> for CardError {
    fn from(e: sqlx::Error) -> Self {
        CardError::Job(e.into())
    }
}
