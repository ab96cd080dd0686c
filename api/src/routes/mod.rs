//! One `#[OpenApi]` struct per tag of API.md.

pub mod actions;
pub mod admin;
pub mod auth;
pub mod core;
pub mod deposits;
pub mod devices;
pub mod groups;
pub mod invitations;
pub mod ktti_input;
pub mod ktties;
pub mod kyc;
pub mod members;
pub mod provider;
pub mod settings;
pub mod transactions;
pub mod users;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// Registration and authentication
    Auth,
    /// User, settings, device
    User,
    /// Core
    Core,
    /// Ktti
    Ktti,
    /// Membership and actions
    Membership,
    /// Banking, card
    Banking,
    /// Transactions, splits, receipts
    Transactions,
    /// Admin and operations (platform staff)
    Admin,
    /// Banking provider webhooks (HMAC-signed, not for apps)
    Provider,
    /// Health, metrics and this document (for operators)
    Ops,
}

/// The client's IP for rate limiting: the socket peer, or the first
/// `X-Forwarded-For` hop when a trusted proxy sets it.
pub fn client_ip(req: &poem::Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(first) = req
            .header("X-Forwarded-For")
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return first.to_string();
    }
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
