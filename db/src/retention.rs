//! Forgetting what is no longer needed: idempotency keys past their window,
//! finished jobs past their retention, and chat-stream presence left behind by
//! an API process that died without closing its streams. Deleted in bounded batches so a large
//! backlog never holds long locks; safe on every replica at once (a row deleted
//! by one is simply not found by another).

use sqlx::PgPool;

/// Rows deleted per statement.
pub const PURGE_BATCH_ROWS: i64 = 5_000;
/// A chat stream not seen for this long is a dead process's leftover (an open
/// stream refreshes its row every 20 seconds).
pub const STALE_CHAT_STREAM_MINUTES: i32 = 10;

/// What one purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub jobs: u64,
    pub chat_streams: u64,
}

/// Deletes idempotency keys older than `key_ttl_hours` and `done` jobs finished
/// more than `job_retention_days` ago. Dead jobs stay: operators retry them.
pub async fn purge(pool: &PgPool, key_ttl_hours: i64, job_retention_days: i64) -> Result<Purged, sqlx::Error> {
    let mut purged = Purged::default();
    loop {
        let n = sqlx::query(
            "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys \
             WHERE created_at < now() - make_interval(hours => $1::int) LIMIT $2)",
        )
        .bind(key_ttl_hours)
        .bind(PURGE_BATCH_ROWS)
        .execute(pool)
        .await?
        .rows_affected();
        purged.idempotency_keys += n;
        if n < PURGE_BATCH_ROWS as u64 {
            break;
        }
    }
    loop {
        let n = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
             WHERE status = 'done' AND completed_at < now() - make_interval(days => $1::int) LIMIT $2)",
        )
        .bind(job_retention_days)
        .bind(PURGE_BATCH_ROWS)
        .execute(pool)
        .await?
        .rows_affected();
        purged.jobs += n;
        if n < PURGE_BATCH_ROWS as u64 {
            break;
        }
    }
    purged.chat_streams = sqlx::query("DELETE FROM chat_streams WHERE seen_at < now() - make_interval(mins => $1)")
        .bind(STALE_CHAT_STREAM_MINUTES)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(purged)
}
