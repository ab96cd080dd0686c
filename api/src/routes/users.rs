//! The caller's own user, and password reset.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::auth::{NoContent, TokenAndPassword, use_token};
use crate::routes::{Tag, client_ip};
use crate::state::AppState;
use crate::views::UserView;
use kttipay_db::{email_tokens, jobs, users};
use kttipay_domain::user as rules;
use kttipay_jobs::kinds::{EmailTemplate, SendEmail};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ResetRequest {
    #[oai(validator(min_length = 1, max_length = 254))]
    pub email: String,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted; if the address has an account, a reset email is on its way.
    #[oai(status = 202)]
    Accepted,
}

pub struct UserApi;

#[OpenApi(tag = "Tag::User")]
impl UserApi {
    /// Current user information
    #[oai(path = "/api/v2/users/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<UserView>, ApiError> {
        let user = users::find(&state.pool, auth.0.user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
        Ok(Json(user.into()))
    }

    /// Request a password reset email
    ///
    /// Always 202, whether or not the address has an account.
    #[oai(
        path = "/api/v2/users/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<ResetRequest>,
    ) -> Result<Accepted, ApiError> {
        let email = rules::email(&body.0.email).map_err(|m| ApiError::invalid_field("invalid_email", "email", &m))?;
        state
            .login_limiter
            .check(&format!("reset:{email}"), &client_ip(req, state.config.forwarded))?;
        let mut tx = state.pool.begin().await?;
        if let Some(user) = users::find_by_email(&mut *tx, &email).await?
            && user.blocked_at.is_none()
        {
            jobs::enqueue(
                &mut tx,
                &SendEmail {
                    user_id: user.user_id(),
                    template: EmailTemplate::PasswordReset,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Accepted::Accepted)
    }

    /// Set a new password with a reset token
    ///
    /// The token works once and expires after an hour; every session of the user ends.
    #[oai(path = "/api/v2/users/password", method = "put", operation_id = "resetPassword")]
    async fn reset_password(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<TokenAndPassword>,
    ) -> Result<NoContent, ApiError> {
        use_token(&state, req, body.0, email_tokens::PURPOSE_RESET_PASSWORD).await?;
        Ok(NoContent::Done)
    }
}
