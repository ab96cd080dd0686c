//! Clients for the outside world, each behind a trait so tests and development use
//! local stand-ins over the same protocol.
//!
//! - [`email`]: outbound email over SMTP ([`email::SmtpMailer`]), or to the log when
//!   no SMTP server is configured ([`email::LogMailer`]).
//! - [`push`]: push notifications through FCM HTTP v1 ([`push::FcmClient`]: a
//!   service account's signed JWT for an OAuth2 token, cached; bounded concurrency;
//!   retries honouring `Retry-After`), or to the log without credentials.
//! - [`shaype`]: the banking provider's wire format and webhook signatures.
//! - [`sms`]: text messages through an HTTP SMS gateway, or to the log.
//! - [`storage`]: uploaded files in object storage (local files).

pub mod email;
pub mod push;
pub mod redact;
pub mod shaype;
pub mod sms;
pub mod storage;
