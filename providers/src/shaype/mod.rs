//! Shaype, the banking-as-a-service provider: its wire format and our client.
//!
//! - [`client`]: the typed HTTP client, its timeouts, retries and error mapping.
//! - [`types`]: request and response bodies of the operations we use, in the
//!   provider's own shapes.
//! - [`webhook`]: the notification bodies it sends us and their HMAC signatures.

pub mod client;
pub mod types;
pub mod webhook;
