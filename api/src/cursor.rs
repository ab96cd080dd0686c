//! Opaque paging cursors. A cursor names the last item of a page (its time and
//! id, or its number); the next page is everything older. Clients cannot read
//! or forge meaning into them, and they stay valid while new items arrive.

use crate::error::ApiError;
use crate::routes::ktties::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

fn bad() -> ApiError {
    ApiError::invalid_field("invalid_cursor", "cursor", "is not a cursor from this API")
}

fn unwrap(raw: &str) -> Result<String, ApiError> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?).map_err(|_| bad())
}

/// The cursor after an item created at `at` with id `id`.
pub fn encode(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.timestamp_micros()))
}

/// An empty or absent cursor is the first page.
pub fn decode(raw: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some(raw) = raw.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let text = unwrap(raw)?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok(Some((at, id.parse().map_err(|_| bad())?)))
}

/// The cursor after the item numbered `seq` (chat messages).
pub fn encode_seq(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("n|{seq}"))
}

pub fn decode_seq(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let text = unwrap(raw)?;
    let seq = text.strip_prefix("n|").ok_or_else(bad)?;
    seq.parse().map(Some).map_err(|_| bad())
}

/// The page size asked for (1 to 100, default 20); 422 `invalid_limit` outside.
pub fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(PAGE_SIZE_DEFAULT);
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(ApiError::invalid_field("invalid_limit", "limit", "must be 1 to 100"));
    }
    Ok(limit)
}

/// Cuts the one extra row fetched to tell whether another page exists, and
/// returns the cursor to it.
pub fn split_page<T>(rows: &mut Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(cursor_of)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode(Some(&encode(at, id))).unwrap(), Some((at, id)));
        assert_eq!(decode(Some("")).unwrap(), None);
        assert!(decode(Some("bm9wZQ")).is_err());
        assert_eq!(decode_seq(Some(&encode_seq(42))).unwrap(), Some(42));
        assert!(decode_seq(Some(&encode(at, id))).is_err());
    }
}
