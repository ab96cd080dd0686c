//! `Idempotency-Key` for POSTs that create something or move money.
//!
//! Use inside the request's transaction:
//! ```text
//! if let Some(replay) = idempotency::begin(&mut tx, &scope, key, &hash).await? { return replay }
//! ... the request's effects on tx ...
//! idempotency::finish(&mut tx, &scope, key, 201, &response).await?;
//! tx.commit()
//! ```
//! The stored response commits with the effects, so a key has both or neither. A
//! concurrent request with the same key waits on the first one's row lock and then
//! replays its response.

use crate::error::ApiError;
use kttipay_db::{PgConnection, idempotency};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// Fingerprint of a request: the operation and its parsed body. Two requests with
/// the same key must have the same fingerprint to replay.
pub fn fingerprint(operation: &str, body: &impl Serialize) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    hasher.finalize().to_vec()
}

/// Claims `key` for this request. `Some(response)` is a replay to return as is.
pub async fn begin<T: DeserializeOwned>(
    conn: &mut PgConnection,
    scope: &str,
    key: Option<&str>,
    fingerprint: &[u8],
) -> Result<Option<T>, ApiError> {
    let Some(key) = key else {
        return Ok(None);
    };
    if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_MAX_CHARS || key.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "invalid_idempotency_key",
            "Idempotency-Key",
            "must be 1 to 255 printable characters",
        ));
    }
    match idempotency::claim(conn, scope, key, fingerprint).await? {
        idempotency::Claim::Fresh => Ok(None),
        idempotency::Claim::Replay { body, .. } => serde_json::from_value(body)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("stored idempotent response unreadable: {e}"))),
        idempotency::Claim::Mismatch => Err(ApiError::conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request.",
        )),
    }
}

/// For a route whose response shows current state (a ktti, a card, a status):
/// claims `key` like [`begin`], and `true` means the first request with it
/// already committed its effects, so the caller answers from state as it is now.
pub async fn replayed(
    conn: &mut PgConnection,
    scope: &str,
    key: Option<&str>,
    fingerprint: &[u8],
) -> Result<bool, ApiError> {
    Ok(begin::<serde_json::Value>(conn, scope, key, fingerprint)
        .await?
        .is_some())
}

/// Stores the response for `key` in the same transaction as the effects.
pub async fn finish<T: Serialize>(
    conn: &mut PgConnection,
    scope: &str,
    key: Option<&str>,
    status: u16,
    response: &T,
) -> Result<(), ApiError> {
    let Some(key) = key else {
        return Ok(());
    };
    let body = serde_json::to_value(response).map_err(ApiError::internal)?;
    idempotency::save(conn, scope, key, status, &body).await?;
    Ok(())
}
