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

/// Takes a transaction-scoped advisory lock on `key` (e.g. `hold:<id>`): whoever
/// looks for a predecessor and parks, and whoever applies that predecessor and
/// wakes the parked, do so one at a time.
pub async fn lock_key(conn: &mut PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Parks an event until `key` is applied, with why for operators.
pub async fn park(conn: &mut PgConnection, id: Uuid, key: &str, note: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE provider_events SET status = 'parked', waiting_for = $2, note = $3, parked_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(key)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the events parked on `key` ready to apply again; their ids, for the
/// caller to enqueue in the same transaction.
pub async fn unpark(conn: &mut PgConnection, key: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE provider_events SET status = 'received', waiting_for = NULL          WHERE status = 'parked' AND waiting_for = $1 RETURNING id",
    )
    .bind(key)
    .fetch_all(conn)
    .await
}

/// Events still waiting, for operators.
pub async fn parked_count<'e>(db: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM provider_events WHERE status = 'parked'")
        .fetch_one(db)
        .await
}

/// Whether any event about `account` is not applied yet (received or parked).
pub async fn account_has_open_events<'e>(db: impl PgExecutor<'e>, account: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM provider_events WHERE account_ref = $1 AND status IN ('received', 'parked'))",
    )
    .bind(account)
    .fetch_one(db)
    .await
}

/// The newest applied event about `account` (by the bank's transaction time,
/// then arrival) and the balances it reported.
pub async fn newest_reported_balances<'e>(
    db: impl PgExecutor<'e>,
    account: &str,
) -> Result<Option<(Uuid, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, body -> 'transactionEvent' -> 'accountBalances' FROM provider_events \
         WHERE account_ref = $1 AND status = 'applied' \
           AND body -> 'transactionEvent' -> 'accountBalances' IS NOT NULL \
         ORDER BY body -> 'transactionEvent' ->> 'transactionTimeUtc' DESC NULLS LAST, received_at DESC, id DESC \
         LIMIT 1",
    )
    .bind(account)
    .fetch_optional(db)
    .await
}
