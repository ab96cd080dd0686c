//! Customers, KYC cases and groups.

use super::{JsonResult, id, parse_body};
use crate::bank::parties;
use crate::error::SandboxError;
use crate::state::SandboxState;
use kttipay_providers::shaype::types::*;
use poem::handler;
use poem::web::{Data, Json, Path};

#[handler]
pub async fn create_customer(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<HayCustomer> {
    let req: CreateCustomer = parse_body(&raw)?;
    Ok(Json(
        parties::create_customer(&state.pool, &req, state.config.kyc_delay).await?,
    ))
}

#[handler]
pub async fn get_customer(state: Data<&SandboxState>, Path(customer): Path<String>) -> JsonResult<HayCustomer> {
    Ok(Json(
        parties::get_customer(&state.pool, id(&customer, "customer")?).await?,
    ))
}

#[handler]
pub async fn update_customer(
    state: Data<&SandboxState>,
    Path(customer): Path<String>,
    raw: Vec<u8>,
) -> JsonResult<HayCustomer> {
    let body: UpdateCustomer = parse_body(&raw)?;
    let id = id(&customer, "customer")?;
    match body.address {
        Some(address) => {
            let address = serde_json::to_value(address).map_err(|e| SandboxError::invalid(e.to_string()))?;
            Ok(Json(parties::update_customer_address(&state.pool, id, &address).await?))
        }
        None => Ok(Json(parties::get_customer(&state.pool, id).await?)),
    }
}

#[handler]
pub async fn block_customer(state: Data<&SandboxState>, Path(customer): Path<String>) -> JsonResult<HayCustomer> {
    Ok(Json(
        parties::set_customer_status(&state.pool, id(&customer, "customer")?, "BLOCKED").await?,
    ))
}

#[handler]
pub async fn unblock_customer(state: Data<&SandboxState>, Path(customer): Path<String>) -> JsonResult<HayCustomer> {
    Ok(Json(
        parties::set_customer_status(&state.pool, id(&customer, "customer")?, "ACTIVE").await?,
    ))
}

/// A mock identity-verification case: the scan itself is simulated by the delayed
/// KYC decision on customer creation.
#[handler]
pub async fn create_case(raw: Vec<u8>) -> JsonResult<CreateCaseResponse> {
    let _consent: UserConsent = parse_body(&raw)?;
    let case = uuid::Uuid::new_v4();
    Ok(Json(CreateCaseResponse {
        mobile_token: Some(format!("sandbox-mobile-{}", case.simple())),
        scan_case: Some(ExternalCase {
            id: Some(case.to_string()),
            status: Some("OPEN".into()),
        }),
        web_link: Some(format!("https://sandbox.invalid/kyc/{case}")),
    }))
}

#[handler]
pub async fn create_group(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<HayGroup> {
    let req: CreateGroup = parse_body(&raw)?;
    Ok(Json(parties::create_group(&state.pool, &req).await?))
}

#[handler]
pub async fn add_customers(
    state: Data<&SandboxState>,
    Path(group): Path<String>,
    raw: Vec<u8>,
) -> JsonResult<HayJointAccount> {
    let req: AddCustomersToGroup = parse_body(&raw)?;
    let ids = parties::parse_ids(&req.customer_hay_ids)?;
    Ok(Json(
        parties::change_group(&state.pool, id(&group, "group")?, &ids, None).await?,
    ))
}

#[handler]
pub async fn remove_customer(
    state: Data<&SandboxState>,
    Path(group): Path<String>,
    raw: Vec<u8>,
) -> JsonResult<HayJointAccount> {
    let req: RemoveCustomerFromGroup = parse_body(&raw)?;
    let customer = id(&req.customer_id, "customer")?;
    Ok(Json(
        parties::change_group(&state.pool, id(&group, "group")?, &[], Some(customer)).await?,
    ))
}
