//! Attempt limits per account and per client IP: logins (against password
//! guessing) and joins by referral code (against code guessing).
//!
//! In memory per API replica: with N replicas an attacker gets N times the budget,
//! which still turns a guessing attack from millions of tries into thousands.
//!
//! Memory is bounded: keys are validated before they are counted (an email is at
//! most 254 characters), keys whose budget has refilled are forgotten every
//! minute, and a table that reaches [`MAX_TRACKED_KEYS`] keys prunes itself and,
//! if still full, refuses every attempt (429) until keys age out rather than
//! grow: under a flood from that many sources within a minute, failing closed
//! for a minute beats running out of memory.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Keys one limiter table tracks at most (each is an address or an email of at
/// most 254 bytes, so about 30 MiB per table at worst).
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// What a refused attempt is told when the table is full: keys age out within a
/// minute of their last use.
const RETRY_WHEN_FULL_SECS: u64 = 60;
/// The longest key counted: an email address (RFC 5321's path limit).
pub const MAX_KEY_CHARS: usize = 254 + 16;

/// Counts one attempt for `key`; 429 with `Retry-After` once its budget is spent.
fn count(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), ApiError> {
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::invalid_field("validation_failed", "email", "is too long"));
    }
    if limiter.len() >= MAX_TRACKED_KEYS {
        limiter.retain_recent();
        if limiter.len() >= MAX_TRACKED_KEYS {
            tracing::warn!(
                keys = limiter.len(),
                "rate limiter full: refusing attempts until keys age out"
            );
            return Err(ApiError::too_many_requests(RETRY_WHEN_FULL_SECS));
        }
    }
    let clock = DefaultClock::default();
    if let Err(not_until) = limiter.check_key(&key.to_string()) {
        let wait = not_until.wait_time_from(clock.now());
        return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
    }
    Ok(())
}

pub struct LoginLimiter {
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginLimiter {
    pub fn new(per_account_per_minute: u32, per_ip_per_minute: u32) -> Result<LoginLimiter, String> {
        let quota = |n: u32, what: &str| {
            NonZeroU32::new(n)
                .map(Quota::per_minute)
                .ok_or_else(|| format!("{what} must be at least 1"))
        };
        Ok(LoginLimiter {
            per_account: Arc::new(RateLimiter::keyed(quota(
                per_account_per_minute,
                "login attempts per account",
            )?)),
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip_per_minute, "login attempts per IP")?)),
        })
    }

    /// Counts one attempt for `account` (a normalised email, or a purpose and a
    /// user id) from `ip`; 429 with `Retry-After` once either budget is spent.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), ApiError> {
        self.check_ip(ip)?;
        self.check_account(account)
    }

    /// Counts an attempt from `ip` alone, before the account is known.
    pub fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        count(&self.per_ip, ip)
    }

    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        count(&self.per_account, account)
    }

    /// Forgets keys whose budget has fully refilled, so memory stays bounded.
    pub fn prune(&self) {
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

/// Joins by referral code, per user and per client IP: a referral code is a
/// bearer secret, so guessing one must be slow.
pub struct JoinLimiter {
    per_user: Arc<DefaultKeyedRateLimiter<String>>,
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
}

impl JoinLimiter {
    pub fn new(per_hour: u32) -> Result<JoinLimiter, String> {
        let n = NonZeroU32::new(per_hour).ok_or("joins per hour must be at least 1")?;
        let quota = Quota::per_hour(n);
        Ok(JoinLimiter {
            per_user: Arc::new(RateLimiter::keyed(quota)),
            per_ip: Arc::new(RateLimiter::keyed(quota)),
        })
    }

    pub fn check(&self, user: &str, ip: &str) -> Result<(), ApiError> {
        count(&self.per_ip, ip)?;
        count(&self.per_user, user)
    }

    pub fn prune(&self) {
        self.per_user.retain_recent();
        self.per_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_and_budgets_kept_per_key() {
        let limiter = LoginLimiter::new(2, 100).unwrap();
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(limiter.check(&long, "10.0.0.1").unwrap_err().status.as_u16(), 422);
        assert!(limiter.check("pia@example.com", "10.0.0.1").is_ok());
        assert!(limiter.check("pia@example.com", "10.0.0.1").is_ok());
        let third = limiter.check("pia@example.com", "10.0.0.1").unwrap_err();
        assert_eq!(third.status.as_u16(), 429);
        assert!(limiter.check("sam@example.com", "10.0.0.1").is_ok(), "another account");
    }

    #[test]
    fn a_full_table_refuses_instead_of_growing() {
        let limiter = RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(5).unwrap()));
        for i in 0..MAX_TRACKED_KEYS {
            count(&limiter, &format!("k{i}")).unwrap();
        }
        assert_eq!(count(&limiter, "one-more").unwrap_err().status.as_u16(), 429);
        assert!(limiter.len() <= MAX_TRACKED_KEYS);
    }
}
