//! Accounts and cards.

use super::{JsonResult, id, parse_body};
use crate::bank::accounts;
use crate::error::SandboxError;
use crate::state::SandboxState;
use kttipay_providers::shaype::types::*;
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Response, handler};

#[handler]
pub async fn create_account(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<HayAccount> {
    let req: CreateAccount = parse_body(&raw)?;
    Ok(Json(
        accounts::create_account(&state.pool, &req, &state.config.bsb).await?,
    ))
}

#[handler]
pub async fn get_account(state: Data<&SandboxState>, Path(account): Path<String>) -> JsonResult<HayAccount> {
    Ok(Json(
        accounts::account_row(&state.pool, id(&account, "account")?)
            .await?
            .to_wire(),
    ))
}

/// 202 when closed; 422 with the reason when the account still holds money.
#[handler]
pub async fn close_account(state: Data<&SandboxState>, Path(account): Path<String>) -> Result<Response, SandboxError> {
    let (closed, resp) = accounts::close_account(&state.pool, id(&account, "account")?).await?;
    let status = if closed {
        poem::http::StatusCode::ACCEPTED
    } else {
        poem::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(Json(resp).with_status(status).into_response())
}

#[handler]
pub async fn create_card(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<HayCard> {
    let req: CreateCard = parse_body(&raw)?;
    Ok(Json(accounts::create_card(&state.pool, &req).await?))
}

#[handler]
pub async fn get_card(state: Data<&SandboxState>, Path(card): Path<String>) -> JsonResult<HayCard> {
    Ok(Json(
        accounts::card_row(&state.pool, id(&card, "card")?).await?.to_wire(),
    ))
}

#[handler]
pub async fn convert_card(state: Data<&SandboxState>, Path(card): Path<String>) -> JsonResult<HayCard> {
    Ok(Json(
        accounts::update_card(&state.pool, id(&card, "card")?, None, Some("PHYSICAL")).await?,
    ))
}

#[handler]
pub async fn block_card(state: Data<&SandboxState>, Path(card): Path<String>) -> JsonResult<HayCard> {
    Ok(Json(
        accounts::update_card(&state.pool, id(&card, "card")?, Some("BLOCKED"), None).await?,
    ))
}

#[handler]
pub async fn unblock_card(state: Data<&SandboxState>, Path(card): Path<String>) -> JsonResult<HayCard> {
    Ok(Json(
        accounts::update_card(&state.pool, id(&card, "card")?, Some("ACTIVE"), None).await?,
    ))
}

#[handler]
pub async fn cancel_card(state: Data<&SandboxState>, Path(card): Path<String>) -> JsonResult<HayCard> {
    Ok(Json(
        accounts::update_card(&state.pool, id(&card, "card")?, Some("INACTIVE"), None).await?,
    ))
}
