//! One `#[OpenApi]` struct per tag of API.md.

pub mod actions;
pub mod admin;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod closure;
pub mod core;
pub mod deposits;
pub mod devices;
pub mod disbursements;
pub mod groups;
pub mod invitations;
pub mod ktti_input;
pub mod ktties;
pub mod kyc;
pub mod members;
pub mod moments;
pub mod notifications;
pub mod payout_account;
pub mod provider;
pub mod receipts;
pub mod settings;
pub mod splits;
pub mod transactions;
pub mod uploads;
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

/// The client's IP for rate limiting: the socket peer or, behind our own proxies
/// (`trusted_proxies` of them, when `X-Forwarded-For` is trusted), the address
/// the outermost of them saw.
///
/// Each proxy appends the address it received the request from, so the list
/// reads `client-supplied..., seen by proxy 1, ..., seen by proxy N` and only the
/// right-most `N` entries were written by us: the one `N` from the right is the
/// real client. Anything left of it the client could have typed itself, so the
/// left-most entry (which a client chooses freely) is never used.
pub fn client_ip(req: &poem::Request, forwarded: crate::state::Forwarded) -> String {
    if forwarded.trust
        && let Some(ip) = req
            .header("X-Forwarded-For")
            .and_then(|v| forwarded_client(v, forwarded.proxies))
    {
        return ip;
    }
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The entry `proxies` from the right of an `X-Forwarded-For` list, if the list
/// is that long and the entry is an IP address.
fn forwarded_client(header: &str, proxies: usize) -> Option<String> {
    let hops: Vec<&str> = header.split(',').map(str::trim).collect();
    let index = hops.len().checked_sub(proxies.max(1))?;
    hops[index].parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    #[test]
    fn the_client_is_read_from_the_right_past_our_proxies() {
        // One proxy (ours) appended the peer it saw; the rest is the client's.
        assert_eq!(
            forwarded_client("1.1.1.1, 203.0.113.9", 1).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(forwarded_client("203.0.113.9", 1).as_deref(), Some("203.0.113.9"));
        // Two proxies: a CDN then our load balancer.
        assert_eq!(
            forwarded_client("6.6.6.6, 203.0.113.9, 198.51.100.2", 2).as_deref(),
            Some("203.0.113.9")
        );
        // Too short for the proxies we have, or not an address: not trusted.
        assert_eq!(forwarded_client("203.0.113.9", 2), None);
        assert_eq!(forwarded_client("evil, not-an-ip", 1), None);
        assert_eq!(forwarded_client("", 1), None);
    }
}
