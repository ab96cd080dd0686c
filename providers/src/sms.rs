//! Sending text messages: to an HTTP SMS gateway (`POST {url}` with
//! `{"to": "+61...", "text": "..."}` and a bearer token), or to the log when no
//! gateway is configured.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub const SMS_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("temporary SMS failure: {0}")]
    Transient(String),
    #[error("permanent SMS failure: {0}")]
    Permanent(String),
}

pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, to_e164: &'a str, text: &'a str) -> SmsFuture<'a>;
}

pub type DynSms = Arc<dyn SmsSender>;

pub struct HttpSms {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl HttpSms {
    pub fn new(url: &str, token: &str) -> Result<HttpSms, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(SMS_TIMEOUT_MS))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpSms {
            http,
            url: url.to_string(),
            token: token.to_string(),
        })
    }
}

impl SmsSender for HttpSms {
    fn send<'a>(&'a self, to_e164: &'a str, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(&self.token)
                .json(&serde_json::json!({"to": to_e164, "text": text}))
                .send()
                .await
                .map_err(|e| SmsError::Transient(e.to_string()))?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() || status.as_u16() == 429 {
                Err(SmsError::Transient(format!("gateway answered {status}")))
            } else {
                Err(SmsError::Permanent(format!("gateway answered {status}")))
            }
        })
    }
}

/// Writes texts to the log (development without a gateway). The text may carry a
/// one-time code: only the recipient and length are logged.
pub struct LogSms;

impl SmsSender for LogSms {
    fn send<'a>(&'a self, to_e164: &'a str, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            tracing::info!(to = %to_e164, chars = text.chars().count(), "SMS (SMS_GATEWAY_URL unset, not sent)");
            Ok(())
        })
    }
}
