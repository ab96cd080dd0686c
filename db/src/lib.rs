//! All of KttiPay's SQL. One module per aggregate; every function takes a connection
//! or transaction from its caller, so the caller decides what commits together.
//!
//! - [`setup`]: connect, create the database if missing, run migrations.
//! - [`users`], [`sessions`], [`email_tokens`]: accounts and authentication;
//!   [`devices`]: push tokens and app details; [`payout_accounts`]: where a
//!   user's payouts go.
//! - [`idempotency`]: stored responses for `Idempotency-Key` replays.
//! - [`ktties`]: the pots themselves; [`members`]: memberships and remembered
//!   sender accounts; [`invitations`]; [`actions`]: action items; [`cards`].
//! - [`ledger`]: booking journal entries, balances, and the full recomputation.
//! - [`jobs`]: the outbox and every job's life (dispatch, attempts, dead state).
//! - [`provider_events`]: the banking provider's webhooks, stored once each.
//! - [`kyc`]: KYC submissions and users' standing at the provider.
//! - [`transactions`]: transactions as members see them, with offset and cursor paging.
//! - [`notes`]: members' notes on transactions.
//! - [`receipts`]: receipts, what OCR read from them, and their line items.
//! - [`uploads`]: signed upload URLs, each good for one upload.
//! - [`splits`]: who bears which part of each transaction, its history, and the
//!   per-member totals the triggers keep from splits and deposits.
//! - [`emails`]: which job sent which email (exactly-once sending).
//! - [`notifications`]: the fan-out of events to recipients, the inbox,
//!   preferences, push deliveries and email digest windows; [`chat`]: group
//!   chat and its live channel; [`moments`]: members' posts.
//! - [`billing`]: charges per ktti and period, their attempts, plan changes.
//! - [`payouts`]: disbursements of closing ktties, each payout's life, settle-ups.
//!
//! Stored states (statuses, kinds, roles) are decoded into `kttipay_domain::lifecycle`
//! enums here, at the boundary (`#[sqlx(try_from = "String")]` or [`state`]), and
//! written with their `as_str()`, so nothing above this crate compares strings.
//!
//! Queries are checked at run time against the migrated schema by the integration
//! tests, which exercise every function here.

pub mod actions;
pub mod assignments;
pub mod billing;
pub mod cards;
pub mod chat;
pub mod devices;
pub mod email_tokens;
pub mod emails;
pub mod idempotency;
pub mod invitations;
pub mod jobs;
pub mod ktties;
pub mod kyc;
pub mod ledger;
pub mod members;
pub mod mismatches;
pub mod moments;
pub mod notes;
pub mod notifications;
pub mod payout_accounts;
pub mod payouts;
pub mod provider_events;
pub mod quotas;
pub mod receipts;
pub mod registrations;
pub mod retention;
pub mod sessions;
pub mod setup;
pub mod splits;
pub mod transactions;
pub mod uploads;
pub mod users;

pub use setup::{connect, create_database_if_missing, migrate};
pub use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// True when the error is a unique-constraint violation (a concurrent twin won).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Decodes a stored state; a text the code does not know is a decode error.
pub fn state<T>(stored: String) -> Result<T, sqlx::Error>
where
    T: TryFrom<String, Error = kttipay_domain::lifecycle::UnknownState>,
{
    T::try_from(stored).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
