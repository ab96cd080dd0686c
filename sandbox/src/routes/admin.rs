//! The sandbox's own tools: fault injection, the provider-side account view and
//! merchant refunds.

use super::{JsonResult, id, parse_body};
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
