//! How often and how late a failed job is tried again.

/// Attempts and exponential backoff for one job kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first; after the last failure the job is dead.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles for each attempt after.
    pub base_delay_ms: u64,
    /// Cap on any single delay.
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay_ms: 1_000,
        max_delay_ms: 5 * 60 * 1_000,
    };

    // One policy per family of job kinds: kinds that fail for the same reasons
    // retry the same way, and a new kind picks its family instead of new literals.

    /// Calls to the banking provider: its outages last minutes, and every call is
    /// idempotent by key, so ~10 attempts spread over about an hour.
    pub const BANK_CALL: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        base_delay_ms: 1_000,
        max_delay_ms: 10 * 60 * 1_000,
    };

    /// Applying the provider's webhooks: a transient failure (a lock timeout, the
    /// database restarting) should clear quickly, so many quick tries. (An event
    /// waiting for its predecessor is parked, not retried.)
    pub const PROVIDER_EVENT: RetryPolicy = RetryPolicy {
        max_attempts: 12,
        base_delay_ms: 500,
        max_delay_ms: 5 * 60 * 1_000,
    };

    /// Payouts: the bank call's family, with more and quicker first tries (a
    /// member waits for their money, and a retry is safe: the same key, and a
    /// lookup at the bank first), still spread over more than an hour before an
    /// operator is needed.
    pub const PAYOUT: RetryPolicy = RetryPolicy {
        max_attempts: 12,
        base_delay_ms: 500,
        max_delay_ms: 15 * 60 * 1_000,
    };

    /// Email to our users: SMTP outages are usually minutes long, so ~8 attempts
    /// spread over about an hour.
    pub const EMAIL: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base_delay_ms: 2_000,
        max_delay_ms: 20 * 60 * 1_000,
    };

    /// Pushes and notification emails: FCM's and SMTP's hiccups pass in
    /// seconds to minutes; after about half an hour a notification is stale
    /// (the inbox still has it), so it is given up rather than sent late.
    pub const NOTIFICATION: RetryPolicy = RetryPolicy {
        max_attempts: 6,
        base_delay_ms: 1_000,
        max_delay_ms: 10 * 60 * 1_000,
    };

    /// Messages that go stale within minutes (one-time codes): retry fast, give
    /// up soon.
    pub const TIME_CRITICAL_MESSAGE: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay_ms: 1_000,
        max_delay_ms: 30_000,
    };

    /// Work done here (OCR, deleting stored files): a failure is ours (a tool
    /// missing, storage down), so a few spaced attempts, then an operator.
    pub const LOCAL_WORK: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        base_delay_ms: 5_000,
        max_delay_ms: 5 * 60 * 1_000,
    };

    /// The no-op job that measures the pipeline and exercises the retry path in
    /// tests: retries within milliseconds.
    pub const PIPELINE_PROBE: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 10,
        max_delay_ms: 100,
    };

    /// Delay before the next attempt after `attempts_made` failures, with "equal
    /// jitter": half the exponential delay is fixed, half is random. The fixed half
    /// keeps a floor under retries; the random half spreads a burst of failures
    /// (a provider outage) so they do not all come back at the same instant.
    ///
    /// `unit_random` is in `0..=u32::MAX`, passed in so this stays pure and testable.
    pub fn backoff_ms(&self, attempts_made: u32, unit_random: u32) -> u64 {
        let exponent = attempts_made.saturating_sub(1).min(32);
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_delay_ms);
        let half = exp / 2;
        let jitter = (u128::from(half) * u128::from(unit_random) / u128::from(u32::MAX)) as u64;
        half + jitter
    }

    pub fn is_exhausted(&self, attempts_made: u32) -> bool {
        attempts_made >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay_ms: 1_000,
        max_delay_ms: 10_000,
    };

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        assert_eq!(P.backoff_ms(1, 0), 500);
        assert_eq!(P.backoff_ms(1, u32::MAX), 1_000);
        assert_eq!(P.backoff_ms(2, 0), 1_000);
        assert_eq!(P.backoff_ms(3, u32::MAX), 4_000);
    }

    #[test]
    fn capped() {
        assert_eq!(P.backoff_ms(10, u32::MAX), 10_000);
        assert_eq!(P.backoff_ms(u32::MAX, u32::MAX), 10_000);
    }

    #[test]
    fn exhaustion() {
        assert!(!P.is_exhausted(4));
        assert!(P.is_exhausted(5));
    }
}
