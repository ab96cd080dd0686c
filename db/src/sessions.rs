//! Sessions and their rotating refresh tokens.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{SessionId, UserId};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

pub async fn create(conn: &mut PgConnection, id: SessionId, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sessions (id, user_id) VALUES ($1, $2)")
        .bind(id.0)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_refresh_token(
    conn: &mut PgConnection,
    session: SessionId,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(session.0)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PresentedToken {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub session_revoked: bool,
    pub user_blocked: bool,
    /// Set once rotated: the successor refresh token, sealed, and when its access
    /// token was issued.
    pub successor_sealed: Option<Vec<u8>>,
    pub successor_issued_at: Option<i64>,
}

/// Looks a refresh token up and locks it, so two concurrent refreshes with the same
/// token serialise: the second sees it used (reuse) instead of both rotating.
pub async fn find_refresh_token_for_update(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<PresentedToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.session_id, s.user_id, t.expires_at, t.used_at, \
                s.revoked_at IS NOT NULL AS session_revoked, u.blocked_at IS NOT NULL AS user_blocked, \
                t.successor_sealed, t.successor_issued_at \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
         WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// Marks a token rotated, keeping its sealed successor for the grace window.
pub async fn mark_token_used(
    conn: &mut PgConnection,
    token_hash: &[u8],
    successor_sealed: &[u8],
    successor_issued_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET used_at = now(), successor_sealed = $2, successor_issued_at = $3 \
         WHERE token_hash = $1",
    )
    .bind(token_hash)
    .bind(successor_sealed)
    .bind(successor_issued_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a refresh token is live and unused (the successor handed to a twin).
pub async fn token_is_unused(conn: &mut PgConnection, token_hash: &[u8]) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())",
    )
    .bind(token_hash)
    .fetch_one(conn)
    .await
}

pub async fn revoke<'e>(db: impl PgExecutor<'e>, id: SessionId, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id.0)
        .bind(reason)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes every live session of a user except `keep` (password change keeps the
/// caller signed in on the device that changed it).
pub async fn revoke_all_for_user<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    keep: Option<SessionId>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user.0)
    .bind(keep.map(|s| s.0))
    .bind(reason)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The caller behind an access token, checked on every authenticated request: the
/// session must be live and the user not blocked. One primary-key join.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionPrincipal {
    pub user_id: Uuid,
    pub is_platform_admin: bool,
}

pub async fn principal<'e>(
    db: impl PgExecutor<'e>,
    session: SessionId,
) -> Result<Option<SessionPrincipal>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id AS user_id, u.is_platform_admin FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.revoked_at IS NULL AND u.blocked_at IS NULL",
    )
    .bind(session.0)
    .fetch_optional(db)
    .await
}
