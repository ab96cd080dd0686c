//! Converts an ordered card to physical at the provider. The card keeps its number;
//! once converted it is on its way and its address can no longer change.
//!
//! The spec's convert call takes no address: the issuer posts the card to the
//! customer's address. So the delivery address goes to the provider first
//! (`PATCH /v0/customers/{id}`), then the card converts, both under the card's row
//! lock: an address change (`PUT .../card/address`) waits for it and then finds
//! the card shipped (409), or lands first and is what this job sends.

use crate::{JobError, WorkerDeps};
use kttipay_db::cards;
use kttipay_domain::ids::JobId;
use kttipay_domain::lifecycle::CardOrderStatus;
use kttipay_jobs::kinds::OrderPhysicalCard;
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::Address;

fn provider(e: ProviderError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// Our stored delivery address in the provider's shape.
pub fn provider_address(a: &serde_json::Value) -> Address {
    let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    Address {
        line1: text("line1"),
        line2: a["line2"].as_str().map(str::to_owned),
        town_or_city: text("suburb"),
        administrative_region: text("state"),
        postcode: text("postcode"),
        country_code_iso: text("country"),
    }
}

pub async fn run(deps: &WorkerDeps, _id: JobId, job: OrderPhysicalCard) -> Result<(), JobError> {
    let mut tx = deps.pool.begin().await?;
    let Some(card) = cards::lock_order(&mut tx, job.card_id.0).await? else {
        return Err(JobError::Permanent(format!("no card {}", job.card_id)));
    };
    if card.order_status != CardOrderStatus::Ordered {
        return Ok(()); // already shipped (or the order was withdrawn)
    }
    let (Some(address), Some(customer)) = (card.delivery_address.as_ref(), card.provider_customer_id.as_deref()) else {
        return Err(JobError::Permanent(format!(
            "card {} has no delivery address or holder at the provider",
            job.card_id
        )));
    };
    deps.banking
        .update_customer_address(customer, &provider_address(address))
        .await
        .map_err(provider)?;
    // Converting twice is harmless at the provider: the card is physical either way.
    deps.banking
        .convert_card(&card.provider_card_id)
        .await
        .map_err(provider)?;
    cards::mark_shipped(&mut tx, job.card_id.0).await?;
    tx.commit().await?;
    Ok(())
}
