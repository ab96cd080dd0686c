//! Attempt limits per account and per client IP: logins (against password
//! guessing) and joins by referral code (against code guessing).
//!
//! In memory per API replica: with N replicas an attacker gets N times the budget,
//! which still turns a guessing attack from millions of tries into thousands.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

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

    /// Counts one attempt for `account` (a normalised email) from `ip`; 429 with
    /// `Retry-After` once either budget is spent.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        for (limiter, key) in [(&self.per_ip, ip), (&self.per_account, account)] {
            if let Err(not_until) = limiter.check_key(&key.to_string()) {
                let wait = not_until.wait_time_from(clock.now());
                return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
            }
        }
        Ok(())
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
        let clock = DefaultClock::default();
        for (limiter, key) in [(&self.per_ip, ip), (&self.per_user, user)] {
            if let Err(not_until) = limiter.check_key(&key.to_string()) {
                let wait = not_until.wait_time_from(clock.now());
                return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
            }
        }
        Ok(())
    }

    pub fn prune(&self) {
        self.per_user.retain_recent();
        self.per_ip.retain_recent();
    }
}
