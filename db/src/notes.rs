//! Members' notes on transactions (note, category, tags).

use chrono::{DateTime, Utc};
use kttipay_domain::ids::UserId;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, Default, FromRow)]
pub struct Note {
    pub note: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub updated_by: Option<Uuid>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn find<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Option<Note>, sqlx::Error> {
    sqlx::query_as(
        "SELECT note, category, tags, updated_by, updated_at FROM transaction_notes WHERE transaction_id = $1",
    )
    .bind(transaction)
    .fetch_optional(db)
    .await
}

/// Sets the fields given; `None` leaves a field as it is.
pub async fn upsert(
    conn: &mut PgConnection,
    transaction: Uuid,
    by: UserId,
    note: Option<&str>,
    category: Option<&str>,
    tags: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO transaction_notes (transaction_id, note, category, tags, updated_by) \
         VALUES ($1, $2, $3, coalesce($4, '{}'), $5) \
         ON CONFLICT (transaction_id) DO UPDATE SET \
             note = coalesce($2, transaction_notes.note), category = coalesce($3, transaction_notes.category), \
             tags = coalesce($4, transaction_notes.tags), updated_by = $5, updated_at = now()",
    )
    .bind(transaction)
    .bind(note)
    .bind(category)
    .bind(tags)
    .bind(by.0)
    .execute(conn)
    .await?;
    Ok(())
}
