//! Transfers out, debits, transaction search, and the `/v0/utils` mock routes.

use super::{JsonResult, id, parse_body};
use crate::bank::holds;
use crate::bank::money::{self, Outgoing};
use crate::error::SandboxError;
use crate::state::{Faults, SandboxState};
use kttipay_providers::shaype::types::*;
use poem::handler;
use poem::http::StatusCode;
use poem::web::{Data, Json, Path};

#[handler]
pub async fn transfer(
    state: Data<&SandboxState>,
    Path(account): Path<String>,
    raw: Vec<u8>,
) -> JsonResult<TransactionOutcome> {
    let req: TransferOut = parse_body(&raw)?;
    let faults = state.faults();
    if Faults::roll(faults.transfer_error_rate) {
        return Err(SandboxError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected transfer fault",
        ));
    }
    let key = req
        .idempotency_key
        .clone()
        .ok_or_else(|| SandboxError::invalid("idempotencyKey is required by this sandbox"))?;
    let counterpart = req.account_transfer.as_ref();
    let internal = req.internal_transfer.as_ref();
    let (kind, credit_to) = match req.transfer_type.as_str() {
        "ACCOUNT" if counterpart.is_some() => ("INTERBANK_TRANSFER_OUT", None),
        "INTERNAL" => {
            let to = internal.ok_or_else(|| SandboxError::invalid("INTERNAL requires internalTransfer"))?;
            (
                "INTRABANK_TRANSFER_OUT",
                Some(id(&to.recipient_account_hay_id, "recipient account")?),
            )
        }
        "ACCOUNT" => return Err(SandboxError::invalid("ACCOUNT requires accountTransfer")),
        other => {
            return Err(SandboxError::invalid(format!(
                "transferType {other} is not supported here"
            )));
        }
    };
    // The receiving bank turns the account away (closed, blocked): a refusal
    // the sender's bank reports as such, kept under the key like any outcome.
    let refusal = counterpart
        .filter(|c| faults.refuse_recipient_accounts.contains(&c.account_number))
        .map(|_| "REFUSED_RECIPIENT_ACCOUNT_BLOCKED");
    let outcome = money::send_out(
        &state.pool,
        Outgoing {
            account: id(&account, "account")?,
            kind,
            amount: req.amount,
            idempotency_key: &key,
            description: &req.description,
            reference: req.reference.as_deref(),
            counterpart_name: counterpart
                .map(|c| c.recipient_name.as_str())
                .or(internal.map(|i| i.recipient_name.as_str())),
            counterpart_bsb: counterpart.map(|c| c.bsb.as_str()),
            counterpart_account: counterpart.map(|c| c.account_number.as_str()),
            credit_to,
            sender_name: internal.map(|i| i.sender_name.as_str()),
            refusal,
        },
    )
    .await?;
    if Faults::roll(faults.transfer_drop_response_rate) {
        // The money moved; the caller never hears so. Its retry with the same key
        // must find this outcome instead of moving money again.
        return Err(SandboxError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected lost response",
        ));
    }
    Ok(Json(outcome))
}

#[handler]
pub async fn debit(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<TransactionOutcome> {
    let req: CreateDebit = parse_body(&raw)?;
    // Debits are money out like transfers, with the same faults.
    let faults = state.faults();
    if Faults::roll(faults.transfer_error_rate) {
        return Err(SandboxError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected debit fault",
        ));
    }
    let outcome = money::send_out(
        &state.pool,
        Outgoing {
            account: id(&req.account_hay_id, "account")?,
            kind: "GENERAL_DEBIT",
            amount: req.amount,
            idempotency_key: &req.idempotency_key,
            description: &req.description,
            reference: req.reference.as_deref(),
            counterpart_name: Some(&req.counterpart_name),
            counterpart_bsb: None,
            counterpart_account: None,
            credit_to: None,
            sender_name: None,
            refusal: None,
        },
    )
    .await?;
    if Faults::roll(faults.transfer_drop_response_rate) {
        return Err(SandboxError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected lost response",
        ));
    }
    Ok(Json(outcome))
}

#[handler]
pub async fn search(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<Vec<FinancialTransaction>> {
    let req: SearchTransactions = parse_body(&raw)?;
    Ok(Json(money::search(&state.pool, &req).await?))
}

fn message(text: impl Into<String>) -> Json<GenericMessage> {
    Json(GenericMessage {
        message: Some(text.into()),
    })
}

#[handler]
pub async fn npp_inbound(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<GenericMessage> {
    let req: GenerateNppInbound = parse_body(&raw)?;
    money::npp_inbound(&state.pool, &req).await?;
    Ok(message("inbound NPP transaction generated"))
}

#[handler]
pub async fn auth_hold(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<GenericMessage> {
    let req: GenerateAuthHold = parse_body(&raw)?;
    Ok(
        match holds::authorise(&state.pool, &req.card_token, req.amount, None, withhold(&state)).await? {
            Some(hold) => message(format!("hold {hold} created")),
            None => message("authorisation declined"),
        },
    )
}

#[handler]
pub async fn card_transaction(state: Data<&SandboxState>, raw: Vec<u8>) -> JsonResult<GenericMessage> {
    let req: GenerateCardTransaction = parse_body(&raw)?;
    if req.settlement_delay_in_seconds < 0 {
        return Err(SandboxError::invalid("settlementDelayInSeconds must not be negative"));
    }
    let settle_at = chrono::Utc::now() + chrono::Duration::seconds(req.settlement_delay_in_seconds);
    Ok(
        match holds::authorise(
            &state.pool,
            &req.card_token,
            req.amount,
            Some(settle_at),
            withhold(&state),
        )
        .await?
        {
            Some(hold) => message(format!(
                "hold {hold} created, settling at {}",
                crate::bank::rfc3339(settle_at)
            )),
            None => message("authorisation declined"),
        },
    )
}

/// Whether authorisation webhooks are withheld (the `withholdAuthorisations` fault).
fn withhold(state: &SandboxState) -> bool {
    state.faults().withhold_authorisations
}
