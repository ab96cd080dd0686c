//! One-time tokens sent by email (verify the address, reset the password).

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{JobId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

pub const PURPOSE_VERIFY_EMAIL: &str = "verifyEmail";
pub const PURPOSE_RESET_PASSWORD: &str = "resetPassword";

/// Stores a token minted by an email job. A retried job replaces the token of its
/// earlier attempt (whose email may never have left), keeping one per job.
pub async fn upsert_for_job(
    conn: &mut PgConnection,
    job: JobId,
    user: UserId,
    purpose: &str,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM email_tokens WHERE job_id = $1")
        .bind(job.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, job_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user.0)
    .bind(purpose)
    .bind(job.0)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user of a live, unused token of `purpose`, without using it: a cheap
/// lookup that lets a bogus token be refused before any password is hashed.
pub async fn peek<'e>(
    db: impl sqlx::PgExecutor<'e>,
    token_hash: &[u8],
    purpose: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM email_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(db)
    .await?;
    Ok(user.map(UserId))
}

/// Consumes a live token of `purpose`: returns its user and the email job that
/// minted it, and marks it used, in one statement so two concurrent uses cannot
/// both succeed.
pub async fn consume(
    conn: &mut PgConnection,
    token_hash: &[u8],
    purpose: &str,
) -> Result<Option<(UserId, JobId)>, sqlx::Error> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE email_tokens SET used_at = now() \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() \
         RETURNING user_id, job_id",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(u, j)| (UserId(u), JobId(j))))
}

/// After a successful use, the user's other outstanding tokens of that purpose
/// stop working too (an older reset email must not reset the new password).
pub async fn invalidate_others(conn: &mut PgConnection, user: UserId, purpose: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user.0)
        .bind(purpose)
        .execute(conn)
        .await?;
    Ok(())
}
