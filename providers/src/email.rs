//! Sending email.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// An SMTP conversation that takes longer than this is treated as failed and retried.
pub const SMTP_TIMEOUT_SECS: u64 = 20;

/// One rendered email.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: connection refused, timeout, 4xx.
    #[error("temporary mail failure: {0}")]
    Transient(String),
    /// Retrying will not help: bad address, 5xx rejection.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Something that delivers email.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a>;
}

pub type DynMailer = Arc<dyn Mailer>;

/// Delivers through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url` is `smtp://host:port` (plain, e.g. a local catcher), `smtp://...?tls=required`
    /// (STARTTLS) or `smtps://host:port`, with optional `user:password@`.
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(SMTP_TIMEOUT_SECS)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            let to: Mailbox = email
                .to
                .parse()
                .map_err(|e| MailError::Permanent(format!("bad recipient: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(&email.subject)
                .multipart(MultiPart::alternative_plain_html(
                    email.text.clone(),
                    email.html.clone(),
                ))
                .map_err(|e| MailError::Permanent(format!("cannot build message: {e}")))?;
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                // A refusal by the server, or a message our client cannot send at all
                // (an address the server cannot take, e.g. non-ASCII without
                // SMTPUTF8): trying again would fail the same way.
                Err(e) if e.is_permanent() || e.is_client() => Err(MailError::Permanent(e.to_string())),
                Err(e) => Err(MailError::Transient(e.to_string())),
            }
        })
    }
}

/// Writes emails to the log instead of sending them (development without SMTP).
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            // The body carries links, tokens and codes: never in full in a log.
            let body = crate::redact::redact_text(&email.text);
            let subject = crate::redact::redact_text(&email.subject);
            tracing::info!(to = %email.to, %subject, %body, "email (SMTP_URL unset, not sent)");
            Ok(())
        })
    }
}
