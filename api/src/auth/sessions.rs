//! Issuing, rotating and revoking sessions' tokens.

use crate::error::ApiError;
use crate::state::AppState;
use chrono::Utc;
use kttipay_db::{PgConnection, sessions};
use kttipay_domain::ids::{SessionId, UserId};
use kttipay_domain::secret;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

/// An access token and the refresh token that renews it.
#[derive(Clone, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Single use: exchange at `POST /api/v2/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: String,
}
kttipay_domain::debug_redacted!(TokenPair { expires_in, token_type } secret { access_token, refresh_token });

/// Starts a new session for `user` in the caller's transaction.
pub async fn start(state: &AppState, conn: &mut PgConnection, user: UserId) -> Result<TokenPair, ApiError> {
    let session = SessionId::new();
    sessions::create(conn, session, user).await?;
    issue(state, conn, user, session).await
}

/// Issues a pair for an existing session: a fresh refresh token of the family.
async fn issue(
    state: &AppState,
    conn: &mut PgConnection,
    user: UserId,
    session: SessionId,
) -> Result<TokenPair, ApiError> {
    let refresh = secret::encode(&rand::random());
    let expires_at = Utc::now() + chrono::Duration::days(state.config.refresh_token_ttl_days);
    sessions::add_refresh_token(conn, session, &secret::hash(&refresh), expires_at).await?;
    Ok(TokenPair {
        access_token: state.jwt.issue(user, session),
        refresh_token: refresh,
        expires_in: state.jwt.ttl_secs,
        token_type: "Bearer".into(),
    })
}

/// What a refresh attempt found.
pub enum Rotation {
    Rotated(TokenPair),
    /// A token already rotated was presented again: someone holds a copy. The whole
    /// session was revoked (commit it!) and the caller must sign in again.
    ReuseDetected,
    Invalid,
}

/// Rotates `refresh_token`: marks it used and issues the next of its family.
pub async fn rotate(state: &AppState, conn: &mut PgConnection, refresh_token: &str) -> Result<Rotation, ApiError> {
    let hash = secret::hash(refresh_token);
    let Some(found) = sessions::find_refresh_token_for_update(conn, &hash).await? else {
        return Ok(Rotation::Invalid);
    };
    let session = SessionId(found.session_id);
    if found.session_revoked || found.user_blocked || found.expires_at <= Utc::now() {
        return Ok(Rotation::Invalid);
    }
    if found.used_at.is_some() {
        sessions::revoke(&mut *conn, session, "refresh token reuse").await?;
        tracing::warn!(session = %session, "refresh token reused; session revoked");
        return Ok(Rotation::ReuseDetected);
    }
    sessions::mark_token_used(conn, &hash).await?;
    Ok(Rotation::Rotated(
        issue(state, conn, UserId(found.user_id), session).await?,
    ))
}
