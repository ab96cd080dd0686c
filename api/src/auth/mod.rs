//! Authentication: who is calling.
//!
//! - [`jwt`]: short-lived access tokens (HS256).
//! - [`password`]: argon2id hashing, off the async threads.
//! - [`principal`]: the `Bearer` security scheme; resolves a token to a live session.
//! - [`sessions`]: issuing, rotating and revoking refresh tokens.
//! - [`rate_limit`]: login attempts per account and per client IP.
//! - [`social`]: verifying Google / Apple ID tokens against their JWKS.

pub mod jwt;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod sessions;
pub mod social;

pub use principal::{BearerAuth, Principal};
