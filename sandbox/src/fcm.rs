//! A local stand-in for Google's OAuth2 token endpoint and FCM's HTTP v1 send
//! endpoint, speaking their protocol, for tests and benchmarks (Google runs the
//! real ones): the token endpoint checks the service account's RS256-signed JWT
//! (issuer, scope, audience, signature with the account's public key) and issues
//! a bearer token; the send endpoint requires it and answers each message with
//! FCM's success or error bodies (`UNREGISTERED`, 5xx with `Retry-After`, ...).
//! Callers script answers per device token and read what arrived.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, handler, post};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The service account the stand-in accepts (tests and the bench configure ours
/// with these and the matching private key).
pub const PROJECT: &str = "kttipay-test";
pub const CLIENT_EMAIL: &str = "push@kttipay-test.iam.gserviceaccount.com";

/// A scripted answer to one send.
#[derive(Debug, Clone)]
pub enum Answer {
    /// HTTP status with FCM's error code (and `Retry-After` seconds).
    Error(u16, &'static str, Option<u64>),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: Value,
    /// Whether FCM accepted it (200).
    pub accepted: bool,
}

#[derive(Default)]
struct Inner {
    scripted: Mutex<HashMap<String, VecDeque<Answer>>>,
    received: Mutex<Vec<Received>>,
    issued: Mutex<Vec<String>>,
    token_failures: AtomicU32,
    token_requests: AtomicU32,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay_ms: AtomicU32,
}

#[derive(Clone)]
pub struct FcmStandIn {
    inner: Arc<Inner>,
    pub base: String,
}

impl FcmStandIn {
    /// Serves on `addr` (port 0 for any), accepting JWTs that verify with
    /// `public_key_pem` (the service account's public half).
    pub async fn start(addr: &str, public_key_pem: &[u8]) -> anyhow::Result<FcmStandIn> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)?;
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = Route::new()
            .at("/token", post(issue_token))
            .at("/v1/projects/*rest", post(send_message))
            .data(inner.clone())
            .data(Checks {
                token_url: format!("{base}/token"),
                key: Arc::new(key),
            });
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Ok(FcmStandIn { inner, base })
    }

    /// The app's settings that point it at this stand-in, for a service
    /// account with `private_key_pem`.
    pub fn settings(&self, private_key_pem: &str) -> Vec<(String, String)> {
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT,
            "client_email": CLIENT_EMAIL,
            "private_key": private_key_pem,
        });
        vec![
            ("FCM_CREDENTIALS_JSON".into(), account.to_string()),
            ("FCM_ENDPOINT".into(), self.base.clone()),
            ("FCM_TOKEN_URL".into(), format!("{}/token", self.base)),
        ]
    }

    /// Sends FCM has accepted so far.
    pub fn accepted(&self) -> usize {
        self.inner
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.accepted)
            .count()
    }

    /// The next sends to `token` get these answers, in order; then 200.
    pub fn script(&self, token: &str, answers: Vec<Answer>) {
        self.inner
            .scripted
            .lock()
            .unwrap()
            .insert(token.to_string(), answers.into());
    }

    /// The token endpoint answers 503 this many times.
    pub fn fail_tokens(&self, times: u32) {
        self.inner.token_failures.store(times, Ordering::SeqCst);
    }

    /// Each send takes this long (to see concurrency).
    pub fn slow(&self, ms: u32) {
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Messages FCM accepted for `token`.
    pub fn accepted_for(&self, token: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.accepted && r.token == token)
            .collect()
    }

    pub fn token_requests(&self) -> u32 {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Checks {
    token_url: String,
    key: Arc<DecodingKey>,
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
}

#[handler]
async fn issue_token(body: String, inner: Data<&Arc<Inner>>, checks: Data<&Checks>) -> Response {
    inner.token_requests.fetch_add(1, Ordering::SeqCst);
    if inner
        .token_failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body("token service unavailable");
    }
    let form: HashMap<&str, &str> = body.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let grant_ok = form.get("grant_type") == Some(&"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    let Some(assertion) = form.get("assertion").filter(|_| grant_ok) else {
        return oauth_error("invalid_request");
    };
    let mut rules = Validation::new(Algorithm::RS256);
    rules.set_audience(&[checks.token_url.as_str()]);
    rules.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let Ok(claims) = decode::<Claims>(*assertion, &checks.key, &rules) else {
        return oauth_error("invalid_grant");
    };
    if claims.claims.iss != CLIENT_EMAIL || !claims.claims.scope.contains("firebase.messaging") {
        return oauth_error("invalid_scope");
    }
    let issued = format!("ya29.test-{}", uuid::Uuid::new_v4().simple());
    inner.issued.lock().unwrap().push(issued.clone());
    json_response(
        StatusCode::OK,
        json!({"access_token": issued, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

fn oauth_error(code: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({"error": code}))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

fn fcm_error(status: u16, code: &str, retry_after: Option<u64>) -> Response {
    let s = StatusCode::from_u16(status).unwrap();
    let body = json!({"error": {
        "code": status,
        "message": code,
        "status": if status == 404 { "NOT_FOUND" } else { code },
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}],
    }});
    let mut r = json_response(s, body);
    if let Some(secs) = retry_after {
        r.headers_mut().insert("Retry-After", secs.to_string().parse().unwrap());
    }
    r
}

struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[handler]
async fn send_message(req: &Request, body: String, inner: Data<&Arc<Inner>>) -> Response {
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&inner);
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
    }
    if !req.uri().path().ends_with(&format!("{PROJECT}/messages:send")) {
        return fcm_error(404, "NOT_FOUND", None);
    }
    let bearer = req
        .header("Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !inner.issued.lock().unwrap().contains(&bearer) {
        return fcm_error(401, "UNAUTHENTICATED", None);
    }
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => return fcm_error(400, "INVALID_ARGUMENT", None),
    };
    let m = &v["message"];
    let Some(device) = m["token"].as_str() else {
        return fcm_error(400, "INVALID_ARGUMENT", None);
    };
    if m["data"]
        .as_object()
        .is_some_and(|d| d.values().any(|x| !x.is_string()))
    {
        // FCM refuses non-string data values.
        return fcm_error(400, "INVALID_ARGUMENT", None);
    }
    let scripted = inner
        .scripted
        .lock()
        .unwrap()
        .get_mut(device)
        .and_then(VecDeque::pop_front);
    let mut received = Received {
        token: device.to_string(),
        title: m["notification"]["title"].as_str().unwrap_or_default().to_string(),
        body: m["notification"]["body"].as_str().unwrap_or_default().to_string(),
        data: m["data"].clone(),
        accepted: false,
    };
    let answer = match scripted {
        Some(Answer::Error(status, code, retry_after)) => fcm_error(status, code, retry_after),
        None => {
            received.accepted = true;
            json_response(
                StatusCode::OK,
                json!({"name": format!("projects/{PROJECT}/messages/{}", uuid::Uuid::new_v4().simple())}),
            )
        }
    };
    inner.received.lock().unwrap().push(received);
    answer
}
