//! The history of who a deposit was assigned to: append-only, one row per
//! (re)assignment, automatic or by a person.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::UserId;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// One (re)assignment to record.
#[derive(Debug, Clone, Copy)]
pub struct NewAssignment<'a> {
    pub transaction: Uuid,
    /// `None` when the attribution rules decided as the deposit landed.
    pub actor: Option<UserId>,
    pub from: Option<UserId>,
    pub to: UserId,
    pub reason: &'a str,
}

pub async fn record(conn: &mut PgConnection, a: &NewAssignment<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deposit_assignments (id, transaction_id, actor_id, from_user_id, to_user_id, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(a.transaction)
    .bind(a.actor.map(|u| u.0))
    .bind(a.from.map(|u| u.0))
    .bind(a.to.0)
    .bind(a.reason)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct Assignment {
    pub actor_id: Option<Uuid>,
    pub from_user_id: Option<Uuid>,
    pub to_user_id: Uuid,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// A deposit's assignments, oldest first.
pub async fn history<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Vec<Assignment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT actor_id, from_user_id, to_user_id, reason, created_at FROM deposit_assignments \
         WHERE transaction_id = $1 ORDER BY created_at, id",
    )
    .bind(transaction)
    .fetch_all(db)
    .await
}
