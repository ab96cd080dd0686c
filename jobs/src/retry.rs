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
