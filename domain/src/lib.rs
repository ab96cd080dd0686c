//! KttiPay's pure rules: no database, HTTP, queue or network I/O lives here.
//!
//! - [`ids`]: typed ids, so a user id is never passed where a session id belongs.
//! - [`kyc`]: what a KYC submission must contain.
//! - [`ledger`]: double-entry journal entries and ktti balances; entries balance by
//!   construction.
//! - [`money`]: [`Money`], a two-decimal amount; the only way money enters or leaves.
//! - [`secret`]: opaque tokens for clients, stored only as hashes.
//! - [`user`]: registration and profile input rules (email, names, phone, age, password).
//! - [`validation`]: the field-error type every rule reports with.

pub mod ids;
pub mod kyc;
pub mod ledger;
pub mod money;
pub mod secret;
pub mod user;
pub mod validation;

pub use money::Money;
pub use validation::{FieldError, Validation};
