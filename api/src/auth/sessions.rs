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

/// Two refreshes with the same token this close together are one app firing
/// requests in parallel, not a thief: the later gets the earlier's pair.
pub const REFRESH_GRACE_SECS: i64 = 10;

/// Issues a pair for an existing session: a fresh refresh token of the family.
async fn issue(
    state: &AppState,
    conn: &mut PgConnection,
    user: UserId,
    session: SessionId,
) -> Result<TokenPair, ApiError> {
    Ok(issue_with_bytes(state, conn, user, session).await?.0)
}

/// As [`issue`], with the refresh token's bytes and the access token's issue time.
async fn issue_with_bytes(
    state: &AppState,
    conn: &mut PgConnection,
    user: UserId,
    session: SessionId,
) -> Result<(TokenPair, [u8; secret::TOKEN_BYTES], i64), ApiError> {
    let bytes: [u8; secret::TOKEN_BYTES] = rand::random();
    let refresh = secret::encode(&bytes);
    let expires_at = Utc::now() + chrono::Duration::days(state.config.refresh_token_ttl_days);
    sessions::add_refresh_token(conn, session, &secret::hash(&refresh), expires_at).await?;
    let iat = Utc::now().timestamp();
    let pair = TokenPair {
        access_token: state.jwt.issue_at(user, session, iat),
        refresh_token: refresh,
        expires_in: state.jwt.ttl_secs,
        token_type: "Bearer".into(),
    };
    Ok((pair, bytes, iat))
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
    let user = UserId(found.user_id);
    if let Some(used_at) = found.used_at {
        if let Some(pair) = twin_pair(state, conn, &found, refresh_token, used_at).await? {
            return Ok(Rotation::Rotated(pair));
        }
        sessions::revoke(&mut *conn, session, "refresh token reuse").await?;
        tracing::warn!(session = %session, "refresh token reused; session revoked");
        return Ok(Rotation::ReuseDetected);
    }
    let (pair, bytes, iat) = issue_with_bytes(state, conn, user, session).await?;
    sessions::mark_token_used(conn, &hash, &secret::seal(refresh_token, &bytes), iat).await?;
    Ok(Rotation::Rotated(pair))
}

/// The pair a token's rotation issued, for a twin presenting the same token
/// within [`REFRESH_GRACE_SECS`] while that pair is still unused; `None` when it
/// is too late or the pair has moved on (then it is reuse).
async fn twin_pair(
    state: &AppState,
    conn: &mut PgConnection,
    found: &sessions::PresentedToken,
    presented: &str,
    used_at: chrono::DateTime<Utc>,
) -> Result<Option<TokenPair>, ApiError> {
    if (Utc::now() - used_at).num_seconds() >= REFRESH_GRACE_SECS {
        return Ok(None);
    }
    let (Some(sealed), Some(iat)) = (found.successor_sealed.as_deref(), found.successor_issued_at) else {
        return Ok(None);
    };
    let Ok(sealed) = <[u8; secret::TOKEN_BYTES]>::try_from(sealed) else {
        return Ok(None);
    };
    let refresh = secret::encode(&secret::seal(presented, &sealed));
    if !sessions::token_is_unused(conn, &secret::hash(&refresh)).await? {
        return Ok(None);
    }
    let session = SessionId(found.session_id);
    Ok(Some(TokenPair {
        access_token: state.jwt.issue_at(UserId(found.user_id), session, iat),
        refresh_token: refresh,
        expires_in: state.jwt.ttl_secs,
        token_type: "Bearer".into(),
    }))
}
