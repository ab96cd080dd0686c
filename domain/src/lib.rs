//! KttiPay's pure rules: no database, HTTP, queue or network I/O lives here.
//!
//! - [`attribution`]: which member paid a deposit in, in DOMAIN.md's order.
//! - [`bank_account`]: the bank account a member nominates for payouts.
//! - [`billing`]: billing plans on offer.
//! - [`closure`]: the disbursement plan of a closing ktti, with who owes whom.
//! - [`ids`]: typed ids, so a user id is never passed where a session id belongs.
//! - [`kyc`]: what a KYC submission must contain.
//! - [`lifecycle`]: every stored state (ktti, membership, KYC, transaction, card,
//!   action item, invitation) as an enum with its wire name and allowed moves.
//! - [`ledger`]: double-entry journal entries and ktti balances; entries balance by
//!   construction.
//! - [`membership`]: roles and what each may do, referral codes, ktti fields.
//! - [`money`]: [`Money`], a two-decimal amount; the only way money enters or leaves.
//! - [`split`]: dividing an amount between members to the cent (largest remainder,
//!   rotating tie-break), refunds pro rata, receipts' line items.
//! - [`notification`]: what each event tells whom, categories and channels,
//!   preferences' defaults and what cannot be muted.
//! - [`payout`]: paying a closing ktti out: blockers, destinations, transfer
//!   references, what a finished round leaves the ktti as.
//! - [`receipt`]: what an uploaded file is, image sizes before decoding, and the
//!   reader of receipts' OCR text (merchant, date, totals, line items).
//! - [`social`]: chat messages and moments: text rules and limits.
//! - [`secret`]: opaque tokens for clients, stored only as hashes.
//! - [`upload`]: upload kinds, their content types and sizes, signed URLs' input.
//! - [`user`]: registration and profile input rules (email, names, phone, age, password).
//! - [`validation`]: the field-error type every rule reports with.

pub mod attribution;
pub mod bank_account;
pub mod billing;
pub mod closure;
pub mod ids;
pub mod kyc;
pub mod ledger;
pub mod lifecycle;
pub mod membership;
pub mod money;
pub mod notification;
pub mod payout;
pub mod receipt;
pub mod secret;
pub mod social;
pub mod split;
pub mod upload;
pub mod user;
pub mod validation;

pub use money::Money;
pub use validation::{FieldError, Validation};
