//! The sandbox's own tools: fault injection, the provider-side account view and
//! merchant refunds, hold reversals and expiry.

use super::{JsonResult, id, parse_body};
use crate::bank::holds::{self, Release};
use crate::bank::money::{self, AccountView};
use crate::error::SandboxError;
use crate::state::{Faults, SandboxState};
use kttipay_providers::shaype::types::amount;
use poem::handler;
use poem::web::{Data, Json, Path};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[handler]
pub async fn put_faults(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Faults> {
    let faults: Faults = parse_body(&raw)?;
    faults.validate().map_err(SandboxError::invalid)?;
    *state.faults.write().expect("faults lock") = faults.clone();
    tracing::info!(?faults, "sandbox faults set");
    Ok(Json(faults))
}

#[handler]
pub async fn get_faults(state: Data<&SandboxState>) -> Json<Faults> {
    Json(state.faults())
}

#[handler]
pub async fn account_view(state: Data<&SandboxState>, Path(account): Path<String>) -> JsonResult<AccountView> {
    Ok(Json(money::account_view(&state.pool, id(&account, "account")?).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundRequest {
    transaction_id: String,
    #[serde(with = "amount")]
    amount: Decimal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refunded {
    transaction_id: String,
}

#[handler]
pub async fn refund(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Refunded> {
    let req: RefundRequest = parse_body(&raw)?;
    let refund = money::refund(&state.pool, id(&req.transaction_id, "card transaction")?, req.amount).await?;
    Ok(Json(Refunded {
        transaction_id: refund.to_string(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReverseHoldRequest {
    hold_id: String,
}

/// The merchant cancels an authorisation: the hold is released.
#[handler]
pub async fn reverse_hold(state: Data<&SandboxState>, raw: Vec<u8>) -> Result<poem::http::StatusCode, SandboxError> {
    let req: ReverseHoldRequest = parse_body(&raw)?;
    holds::release(&state.pool, id(&req.hold_id, "hold")?, Release::Reversed).await?;
    Ok(poem::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpireHoldsRequest {
    /// Expire as if it were this time (RFC 3339); now when absent.
    as_of: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expired {
    expired: u64,
}

/// Lapses every open hold that would have expired by `asOf`, so a test need not
/// wait out the expiry period.
#[handler]
pub async fn expire_holds(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Expired> {
    let req: ExpireHoldsRequest = parse_body(&raw)?;
    let as_of = req.as_of.unwrap_or_else(chrono::Utc::now);
    Ok(Json(Expired {
        expired: holds::expire_due(&state.pool, as_of).await?,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettleHoldRequest {
    hold_id: String,
    #[serde(with = "amount")]
    amount: Decimal,
}

/// The merchant presents a hold now, for any amount; a settled hold clears again.
#[handler]
pub async fn settle_hold(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Refunded> {
    let req: SettleHoldRequest = parse_body(&raw)?;
    let id = holds::settle_now(&state.pool, id(&req.hold_id, "hold")?, req.amount).await?;
    Ok(Json(Refunded {
        transaction_id: id.to_string(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BankFeeRequest {
    account_id: String,
    #[serde(with = "amount")]
    amount: Decimal,
    description: Option<String>,
}

/// The bank charges an account a fee, whatever its balance.
#[handler]
pub async fn bank_fee(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Refunded> {
    let req: BankFeeRequest = parse_body(&raw)?;
    let description = req.description.as_deref().unwrap_or("Bank fee");
    let id = money::forced_debit(&state.pool, id(&req.account_id, "account")?, req.amount, description).await?;
    Ok(Json(Refunded {
        transaction_id: id.to_string(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    released: u64,
}

/// Sends the webhooks the `withholdAuthorisations` fault kept back.
#[handler]
pub async fn release_webhooks(state: Data<&SandboxState>) -> JsonResult<Released> {
    Ok(Json(Released {
        released: crate::events::release_withheld(&state.pool).await?,
    }))
}
