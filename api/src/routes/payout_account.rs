//! Where the caller's payouts go when a ktti closes: a bank account they nominate,
//! or (without one) their personal ktti.
//!
//! Nominating an account redirects money, so a stolen access token must not be
//! enough: it needs the account password (limited like logins). The user is
//! emailed about every change, removal included.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::auth::NoContent;
use crate::routes::{Tag, client_ip};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kttipay_db::{jobs, payout_accounts, users};
use kttipay_domain::Validation;
use kttipay_domain::bank_account as rules;
use kttipay_domain::ids::UserId;
use kttipay_jobs::kinds::{EmailTemplate, SendEmail};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct PayoutAccountInput {
    /// 6 digits; `062-000` and `062 000` are read as `062000`.
    #[oai(validator(max_length = 16))]
    pub bsb: String,
    /// 5 to 9 digits.
    #[oai(validator(max_length = 16))]
    pub account_number: String,
    /// The account's name as the bank knows it.
    #[oai(validator(max_length = 140))]
    pub account_name: String,
    /// The caller's password: changing where money goes needs more than a token.
    #[oai(validator(max_length = 128))]
    pub current_password: String,
}
kttipay_domain::debug_redacted!(PayoutAccountInput { bsb, account_number, account_name } secret { current_password });

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PayoutAccountView {
    /// 6 digits.
    pub bsb: String,
    pub account_number: String,
    pub account_name: String,
    pub updated_at: DateTime<Utc>,
}

impl From<payout_accounts::PayoutAccount> for PayoutAccountView {
    fn from(a: payout_accounts::PayoutAccount) -> Self {
        PayoutAccountView {
            bsb: a.bsb,
            account_number: a.account_number,
            account_name: a.account_name,
            updated_at: a.updated_at,
        }
    }
}

fn none_nominated() -> ApiError {
    ApiError::not_found(
        "payout_account_not_found",
        "No payout account is nominated: payouts go to your personal ktti.",
    )
}

pub struct PayoutAccountApi;

#[OpenApi(tag = "Tag::User")]
impl PayoutAccountApi {
    /// The caller's payout account
    ///
    /// 404 `payout_account_not_found` when none is nominated: payouts then go to
    /// the caller's personal ktti.
    #[oai(
        path = "/api/v2/settings/payout-account",
        method = "get",
        operation_id = "getPayoutAccount"
    )]
    async fn get(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<PayoutAccountView>, ApiError> {
        let account = payout_accounts::find(&state.pool, auth.0.user_id).await?;
        account.map(|a| Json(a.into())).ok_or_else(none_nominated)
    }

    /// Nominate the account payouts go to
    ///
    /// Replaces any earlier one. Needs `currentPassword` (422 `wrong_password`;
    /// limited like logins, 429); someone who signs in only with Google or Apple
    /// sets a password first (password reset). The user is emailed about the change.
    #[oai(
        path = "/api/v2/settings/payout-account",
        method = "put",
        operation_id = "setPayoutAccount"
    )]
    async fn set(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<PayoutAccountInput>,
    ) -> Result<Json<PayoutAccountView>, ApiError> {
        let b = body.0;
        let mut v = Validation::new();
        let bsb = v.check("bsb", rules::bsb(&b.bsb));
        let number = v.check("accountNumber", rules::account_number(&b.account_number));
        let name = v.check("accountName", rules::account_name(&b.account_name));
        v.finish().map_err(ApiError::invalid)?;
        let (Some(bsb), Some(number), Some(name)) = (bsb, number, name) else {
            return Err(ApiError::internal("validation passed without values"));
        };
        confirm_password(&state, req, auth.0.user_id, b.current_password).await?;
        let mut tx = state.pool.begin().await?;
        let account = payout_accounts::set(&mut tx, auth.0.user_id, &bsb, &number, &name).await?;
        notify(&mut tx, auth.0.user_id).await?;
        tx.commit().await?;
        Ok(Json(account.into()))
    }

    /// Remove the payout account
    ///
    /// Payouts go to the caller's own personal ktti again, so no password is
    /// needed: nothing can be redirected this way. The user is emailed all the
    /// same. 404 when none is nominated.
    #[oai(
        path = "/api/v2/settings/payout-account",
        method = "delete",
        operation_id = "removePayoutAccount"
    )]
    async fn remove(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<NoContent, ApiError> {
        let mut tx = state.pool.begin().await?;
        if !payout_accounts::remove(&mut tx, auth.0.user_id).await? {
            return Err(none_nominated());
        }
        notify(&mut tx, auth.0.user_id).await?;
        tx.commit().await?;
        Ok(NoContent::Done)
    }
}

/// The caller's password, checked under the login limiter: a stolen token must
/// not become a way to guess it.
async fn confirm_password(
    state: &AppState,
    req: &poem::Request,
    user: UserId,
    password: String,
) -> Result<(), ApiError> {
    state.login_limiter.check(
        &format!("payoutAccount:{user}"),
        &client_ip(req, state.config.forwarded),
    )?;
    let me = users::find(&state.pool, user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
    if state.passwords.verify(password, me.password_hash).await {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "wrong_password",
            "currentPassword",
            "is incorrect",
        ))
    }
}

/// The email about the change, in the change's transaction (outbox).
async fn notify(conn: &mut kttipay_db::PgConnection, user: UserId) -> Result<(), ApiError> {
    jobs::enqueue(
        conn,
        &SendEmail {
            user_id: user,
            template: EmailTemplate::PayoutAccountChanged,
        },
    )
    .await?;
    Ok(())
}
