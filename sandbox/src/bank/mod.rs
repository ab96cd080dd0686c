//! The simulated bank: its SQL and its rules. (The sandbox is a separate service
//! with its own database, so its SQL lives here rather than in our `db` crate.)
//!
//! - [`parties`]: customers (with a delayed KYC decision) and groups.
//! - [`accounts`]: accounts and cards.
//! - [`holds`]: card authorisations, settlements, reversals and expiry.
//! - [`money`]: deposits, refunds, transfers out, debits, the account view.
//!
//! Every create call is idempotent by the caller's idempotency key: the same key
//! returns the first result. Money never moves twice for one key.

pub mod accounts;
pub mod holds;
pub mod money;
pub mod parties;

use rust_decimal::Decimal;

use crate::error::{SandboxError, SbResult};

/// A positive amount in whole cents, as a bank would insist on.
pub fn check_amount(amount: Decimal) -> SbResult<Decimal> {
    if amount <= Decimal::ZERO {
        return Err(SandboxError::invalid("amount must be positive"));
    }
    if amount.normalize().scale() > 2 {
        return Err(SandboxError::invalid("amount must have at most two decimal places"));
    }
    Ok(amount.round_dp(2))
}

/// An amount as the bank prints it: always two decimals (PostgreSQL hands back a
/// zero NUMERIC(18,2) as plain `0`).
pub fn cents(mut d: Decimal) -> Decimal {
    d.rescale(2);
    d
}

pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
