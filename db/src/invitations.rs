//! Invitations by email. An invitation to an address with no account yet waits:
//! registering with that address fills in its user.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::InvitationStatus;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub ktti_id: Uuid,
    pub email: String,
    pub user_id: Option<Uuid>,
    pub invited_by: Uuid,
    #[sqlx(try_from = "String")]
    pub status: InvitationStatus,
    pub split_proportion: Option<rust_decimal::Decimal>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl InvitationRow {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == InvitationStatus::Expired || (self.status == InvitationStatus::Pending && self.expires_at <= now)
    }
}

const COLUMNS: &str =
    "id, ktti_id, email::text AS email, user_id, invited_by, status, split_proportion, expires_at, created_at";

/// A new pending invitation; `None` when one is already open for that address.
pub async fn create(
    conn: &mut PgConnection,
    ktti: KttiId,
    email: &str,
    user: Option<UserId>,
    invited_by: UserId,
    split_proportion: Option<rust_decimal::Decimal>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO invitations (id, ktti_id, email, user_id, invited_by, expires_at, split_proportion) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (ktti_id, email) WHERE status = 'pending' DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(ktti.0)
    .bind(email)
    .bind(user.map(|u| u.0))
    .bind(invited_by.0)
    .bind(expires_at)
    .bind(split_proportion)
    .fetch_optional(conn)
    .await
}

/// The caller's open invitation to a ktti, locked (expired ones included, so the
/// caller can mark them).
pub async fn lock_pending_for(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invitations WHERE ktti_id = $1 AND user_id = $2 AND status = 'pending' FOR UPDATE"
    )))
    .bind(ktti.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await
}

/// One invitation by id, locked.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invitations WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Open invitations of a ktti, for its member list.
pub async fn pending_of<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invitations WHERE ktti_id = $1 AND status = 'pending' AND expires_at > now() \
         ORDER BY created_at"
    )))
    .bind(ktti.0)
    .fetch_all(db)
    .await
}

/// Moves a pending invitation to `status`; false when it was no longer pending.
pub async fn decide(conn: &mut PgConnection, id: Uuid, status: InvitationStatus) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE invitations SET status = $2, decided_at = now() WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .bind(status.as_str())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives waiting invitations for `email` their new user; returns (invitation, ktti)
/// of each, so the caller can address action items to the user.
pub async fn match_registration(
    conn: &mut PgConnection,
    email: &str,
    user: UserId,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE invitations SET user_id = $2 WHERE email = $1 AND user_id IS NULL AND status = 'pending' \
         RETURNING id, ktti_id",
    )
    .bind(email)
    .bind(user.0)
    .fetch_all(conn)
    .await
}
