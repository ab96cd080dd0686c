//! Stored responses for `Idempotency-Key`.
//!
//! The flow, inside the request's own transaction:
//! 1. [`claim`] inserts the key. If a concurrent request with the same key is in
//!    flight, the insert waits on its row lock until that transaction ends.
//! 2. Either we own the key (do the work, then [`save`] the response in the same
//!    transaction), or it exists: replay its response, or 409 if the body differs.

use sqlx::PgConnection;

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// First use: run the request and save its response.
    Fresh,
    /// Seen before with the same request: its stored response.
    Replay { status: u16, body: serde_json::Value },
    /// Seen before with a different request body.
    Mismatch,
}

pub async fn claim(conn: &mut PgConnection, scope: &str, key: &str, request_hash: &[u8]) -> Result<Claim, sqlx::Error> {
    // response_status 0 marks "in progress"; only ever visible to our own transaction,
    // because save() overwrites it before commit.
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, response_status, response_body) \
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body): (Vec<u8>, i16, serde_json::Value) = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(conn)
    .await?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    Ok(Claim::Replay {
        status: status as u16,
        body,
    })
}

pub async fn save(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .bind(status as i16)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops records older than `max_age_hours` (clients retry within minutes; a day
/// is generous). Returns how many went.
pub async fn purge_older_than(conn: &mut PgConnection, max_age_hours: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)")
        .bind(max_age_hours)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
