//! Push notifications through Firebase Cloud Messaging's HTTP v1 API.
//!
//! Our own small client: the `fcm` crate speaks the legacy API Google shut down.
//! A service account signs a JWT (RS256) that Google's token endpoint trades for
//! an OAuth2 access token; the token is cached until shortly before it expires
//! and shared by every send. One message goes to one device token. Sends are
//! bounded by a semaphore (FCM throttles a project that floods it); 429 and 5xx
//! are retried here a few times, honouring `Retry-After`, before the caller's job
//! retries later. Both endpoints are configurable, so tests run against a local
//! stand-in that speaks the same protocol.

use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};

/// Google's endpoints (production defaults).
pub const FCM_DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The OAuth2 scope FCM sends need.
const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Google issues assertions for at most an hour.
const ASSERTION_TTL_SECS: u64 = 3_600;
/// A cached access token is renewed this long before it expires, so a send
/// never carries a token that lapses in flight.
const TOKEN_REFRESH_MARGIN_SECS: u64 = 300;
/// Tries per message here (429/5xx), before the job's own retry takes over.
const FCM_SEND_ATTEMPTS: u32 = 3;
/// A `Retry-After` longer than this is left to the job's retry (no worker
/// slot is held that long).
const FCM_RETRY_AFTER_MAX_SECS: u64 = 30;
/// First pause between tries when FCM gives no `Retry-After`; doubles.
const FCM_RETRY_PAUSE_MS: u64 = 500;
/// One FCM or token request's whole time.
const FCM_REQUEST_TIMEOUT_SECS: u64 = 15;

/// A Firebase service account's key file (the fields we use).
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key", &"***")
            .finish()
    }
}

impl ServiceAccount {
    /// Reads a key file as Firebase's console downloads it.
    pub fn parse(json: &str) -> Result<ServiceAccount, String> {
        let a: ServiceAccount =
            serde_json::from_str(json).map_err(|e| format!("not a service account key file: {e}"))?;
        if a.project_id.trim().is_empty() || a.client_email.trim().is_empty() {
            return Err("the key file has no project_id or client_email".into());
        }
        jsonwebtoken::EncodingKey::from_rsa_pem(a.private_key.as_bytes())
            .map_err(|_| "the key file's private_key is not an RSA key in PEM".to_string())?;
        Ok(a)
    }
}

#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub account: ServiceAccount,
    /// FCM's base URL (`https://fcm.googleapis.com`).
    pub endpoint: String,
    /// The OAuth2 token endpoint; the key file's `token_uri` when `None`.
    pub token_url: Option<String>,
    /// Sends in flight at once, per process.
    pub max_in_flight: usize,
}

/// One push to one device.
#[derive(Debug, Clone)]
pub struct PushMessage<'a> {
    pub token: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    /// Data for the app (deep links): string values, as FCM requires.
    pub data: &'a [(&'a str, String)],
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// FCM accepted it.
    Sent,
    /// The token is dead (`UNREGISTERED`, `INVALID_ARGUMENT`,
    /// `SENDER_ID_MISMATCH`): forget it; no retry can help.
    TokenGone(String),
    /// Worth another try later (throttled, FCM or token endpoint down).
    Retry(String),
}

struct CachedToken {
    value: String,
    renew_at: Instant,
}

pub struct FcmClient {
    http: reqwest::Client,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    send_url: String,
    token_url: String,
    token: Mutex<Option<CachedToken>>,
    permits: Semaphore,
}

impl std::fmt::Debug for FcmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmClient")
            .field("send_url", &self.send_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(serde::Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl FcmClient {
    pub fn new(s: FcmSettings) -> Result<FcmClient, String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(s.account.private_key.as_bytes())
            .map_err(|_| "FCM: the service account's private_key is not an RSA key in PEM".to_string())?;
        let token_url = s
            .token_url
            .clone()
            .or_else(|| s.account.token_uri.clone())
            .unwrap_or_else(|| GOOGLE_TOKEN_URL.into());
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            s.endpoint.trim_end_matches('/'),
            s.account.project_id
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(FCM_REQUEST_TIMEOUT_SECS))
            .build()
            .map_err(|e| format!("FCM: {e}"))?;
        Ok(FcmClient {
            http,
            key,
            send_url,
            token_url,
            account: s.account,
            token: Mutex::new(None),
            permits: Semaphore::new(s.max_in_flight.max(1)),
        })
    }

    /// Sends one message, retrying throttling and server errors a few times.
    pub async fn send(&self, m: &PushMessage<'_>) -> PushOutcome {
        let Ok(_permit) = self.permits.acquire().await else {
            return PushOutcome::Retry("FCM client is shutting down".into());
        };
        let mut pause = Duration::from_millis(FCM_RETRY_PAUSE_MS);
        let mut last = String::new();
        for attempt in 1..=FCM_SEND_ATTEMPTS {
            let token = match self.access_token().await {
                Ok(t) => t,
                Err(e) => return PushOutcome::Retry(e),
            };
            match self.send_once(&token, m).await {
                Attempt::Done(outcome) => return outcome,
                Attempt::Unauthorised(why) => {
                    // Revoked or rotated early: fetch a fresh one and try again.
                    *self.token.lock().await = None;
                    last = why;
                }
                Attempt::Again { retry_after, why } => {
                    let wait = retry_after.unwrap_or(pause);
                    if wait > Duration::from_secs(FCM_RETRY_AFTER_MAX_SECS) {
                        return PushOutcome::Retry(format!("{why} (retry after {}s)", wait.as_secs()));
                    }
                    last = why;
                    if attempt < FCM_SEND_ATTEMPTS {
                        tokio::time::sleep(wait).await;
                    }
                    pause *= 2;
                }
            }
        }
        PushOutcome::Retry(last)
    }

    async fn send_once(&self, access_token: &str, m: &PushMessage<'_>) -> Attempt {
        let data: serde_json::Map<String, serde_json::Value> = m
            .data
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
            .collect();
        let body = serde_json::json!({
            "message": {
                "token": m.token,
                "notification": { "title": m.title, "body": m.body },
                "data": data,
            }
        });
        let resp = match self
            .http
            .post(&self.send_url)
            .bearer_auth(access_token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Again {
                    retry_after: None,
                    why: format!("FCM unreachable: {}", transport(&e)),
                };
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Attempt::Done(PushOutcome::Sent);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let code = error_code(&text);
        let why = format!(
            "FCM {}: {}",
            status.as_u16(),
            code.as_deref().unwrap_or("no error code")
        );
        match (status.as_u16(), code.as_deref()) {
            // By FCM's code only: a bare 404 may be a wrong endpoint, not a dead token.
            (_, Some("UNREGISTERED" | "INVALID_ARGUMENT" | "SENDER_ID_MISMATCH")) => {
                Attempt::Done(PushOutcome::TokenGone(why))
            }
            (401, _) | (_, Some("UNAUTHENTICATED" | "THIRD_PARTY_AUTH_ERROR")) => Attempt::Unauthorised(why),
            (429, _) | (500..=599, _) => Attempt::Again { retry_after, why },
            // Our message or project is wrong: more tries send the same thing.
            _ => Attempt::Done(PushOutcome::Retry(why)),
        }
    }

    /// The cached access token, or a new one. The lock is held while fetching,
    /// so a burst of sends makes one token request, not one each.
    async fn access_token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let claims = Assertion {
            iss: &self.account.client_email,
            scope: FCM_SCOPE,
            aud: &self.token_url,
            iat: now,
            exp: now + ASSERTION_TTL_SECS,
        };
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map_err(|e| format!("FCM: signing the token request failed: {e}"))?;
        // A JWT is base64url and dots: nothing in it needs form-encoding.
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let resp = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("token endpoint unreachable: {}", transport(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("token endpoint answered {}", resp.status().as_u16()));
        }
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| format!("token endpoint's answer unreadable: {e}"))?;
        let lifetime = answer.expires_in.unwrap_or(ASSERTION_TTL_SECS);
        let renew_at = Instant::now() + Duration::from_secs(lifetime.saturating_sub(TOKEN_REFRESH_MARGIN_SECS));
        *cached = Some(CachedToken {
            value: answer.access_token.clone(),
            renew_at,
        });
        Ok(answer.access_token)
    }
}

enum Attempt {
    Done(PushOutcome),
    Unauthorised(String),
    Again { retry_after: Option<Duration>, why: String },
}

/// A transport failure in words, without the URL (whose query could carry
/// anything) or the error chain.
fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// FCM's error code: `details[].errorCode` (FCM's own), else `error.status`.
fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = v.get("error")?;
    let detailed = error
        .get("details")
        .and_then(|d| d.as_array())
        .and_then(|d| d.iter().find_map(|x| x.get("errorCode")?.as_str()));
    detailed.or_else(|| error.get("status")?.as_str()).map(str::to_string)
}

/// Where pushes go: FCM, or the log when no credentials are configured
/// (development), as emails go to the log without SMTP.
#[derive(Debug, Clone)]
pub enum Pusher {
    Fcm(Arc<FcmClient>),
    Log,
}

impl Pusher {
    pub async fn send(&self, m: &PushMessage<'_>) -> PushOutcome {
        match self {
            Pusher::Fcm(c) => c.send(m).await,
            Pusher::Log => {
                // The token is a credential to the device: only its end is logged.
                let tail: String = m
                    .token
                    .chars()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                tracing::info!(token_end = %tail, title = m.title, "push (no FCM credentials configured): not sent");
                PushOutcome::Sent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_code;

    #[test]
    fn error_codes_come_from_fcm_details_first() {
        let unregistered = r#"{"error":{"code":404,"status":"NOT_FOUND","details":[
            {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert_eq!(error_code(unregistered).as_deref(), Some("UNREGISTERED"));
        let plain = r#"{"error":{"code":400,"status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(error_code(plain).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(error_code("<html>bad gateway</html>"), None);
    }
}
