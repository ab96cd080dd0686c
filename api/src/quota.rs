//! Quotas on what one user or one ktti may create, from configuration
//! (`KTTIPAY_*` limits in the README). Daily ones answer 429 with `Retry-After`
//! (when the oldest counted item leaves the 24-hour window); a standing cap
//! answers 409, since waiting does not help.

use crate::error::ApiError;
use chrono::{DateTime, Utc};

const DAY_SECS: i64 = 86_400;

/// 429 once `used` reached `limit` within the last day, retrying when the
/// oldest counted item is a day old.
pub fn daily(used: i64, limit: u32, oldest: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    if used < i64::from(limit) {
        return Ok(());
    }
    let wait = oldest.map_or(DAY_SECS, |t| DAY_SECS - (Utc::now() - t).num_seconds());
    Err(ApiError::too_many_requests(wait.clamp(1, DAY_SECS) as u64))
}

/// 409 `quota_exceeded` once `used` reached `limit`.
pub fn cap(used: i64, limit: u32, what: &str) -> Result<(), ApiError> {
    if used < i64::from(limit) {
        return Ok(());
    }
    Err(ApiError::conflict(
        "quota_exceeded",
        format!("You have reached the limit of {limit} {what}."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_quota_says_when_to_come_back() {
        assert!(daily(4, 5, None).is_ok());
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        let e = daily(5, 5, Some(hour_ago)).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        let wait = e.retry_after_secs.unwrap();
        assert!((82_700..=82_800).contains(&wait), "{wait}");
        assert_eq!(cap(3, 3, "ktties").unwrap_err().status.as_u16(), 409);
        assert!(cap(2, 3, "ktties").is_ok());
    }
}
