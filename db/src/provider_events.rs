//! Webhooks received from the banking provider.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// Stores an event unless its idempotency key was seen; `None` for a redelivery.
pub async fn record(
    conn: &mut PgConnection,
    idempotency_key: &str,
    channel: &str,
    kind: &str,
    customer_ref: Option<&str>,
    body: &serde_json::Value,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO provider_events (id, idempotency_key, channel, kind, customer_ref, body) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(idempotency_key)
    .bind(channel)
    .bind(kind)
    .bind(customer_ref)
    .bind(body)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct ProviderEvent {
    pub id: Uuid,
    pub idempotency_key: String,
    pub channel: String,
    pub kind: String,
    pub customer_ref: Option<String>,
    pub body: serde_json::Value,
    pub status: String,
    pub note: Option<String>,
    pub received_at: DateTime<Utc>,
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<ProviderEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, idempotency_key, channel, kind, customer_ref, body, status, note, received_at \
         FROM provider_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records what applying an event did: `applied`, `unmatched` or `ignored`.
pub async fn settle<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    status: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE provider_events SET status = $2, note = $3, applied_at = now() WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(note)
        .execute(db)
        .await?;
    Ok(())
}

/// Events kept but not matched to anything of ours: reported to operators.
pub async fn unmatched_count<'e>(db: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM provider_events WHERE status = 'unmatched'")
        .fetch_one(db)
        .await
}
