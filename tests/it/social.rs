//! Social login: ID tokens signed by a local key set, served by a local JWKS server.

use crate::common::{PASSWORD, TestApp, problem};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::{EndpointExt, Route, get, handler, web::Data};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const GOOGLE_AUD: &str = "kttipay-android.apps.googleusercontent.com";
const APPLE_AUD: &str = "com.kttipay.app";

#[handler]
fn jwks(fetches: Data<&Arc<AtomicUsize>>) -> poem::web::Json<Value> {
    fetches.fetch_add(1, Ordering::SeqCst);
    poem::web::Json(serde_json::from_str(include_str!("../fixtures/social_jwks.json")).unwrap())
}

/// Serves the test JWKS; returns its URL and a fetch counter.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    let app = Route::new().at("/keys", get(jwks)).data(fetches.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (url, fetches)
}

async fn app_with_social() -> (TestApp, Arc<AtomicUsize>) {
    let (url, fetches) = jwks_server().await;
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_GOOGLE_JWKS_URL".into(), url.clone());
        v.insert("KTTIPAY_GOOGLE_CLIENT_IDS".into(), format!("other-client,{GOOGLE_AUD}"));
        v.insert("KTTIPAY_APPLE_JWKS_URL".into(), url);
    })
    .await;
    (app, fetches)
}

fn id_token(claims: Value, key_pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn google_claims(sub: &str, email: &str) -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "aud": GOOGLE_AUD,
        "sub": sub,
        "email": email,
        "email_verified": true,
        "given_name": "Gina",
        "family_name": "Grey",
        "iat": chrono::Utc::now().timestamp(),
        "exp": chrono::Utc::now().timestamp() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn signed(claims: Value) -> String {
    id_token(claims, include_str!("../fixtures/social_rsa_private.pem"), "test-key-1")
}

async fn social(app: &TestApp, provider: &str, token: &str) -> reqwest::Response {
    app.post(
        "/api/v2/auth/login/social",
        json!({"provider": provider, "idToken": token}),
    )
    .await
}

#[tokio::test]
async fn first_google_login_creates_a_verified_user_and_later_ones_find_it() {
    let (app, fetches) = app_with_social().await;
    let r = social(&app, "google", &signed(google_claims("g-1", "Gina@Example.com"))).await;
    assert_eq!(r.status(), 200);
    let tokens: crate::common::Tokens = r.json().await.unwrap();
    let me: Value = app
        .get_auth("/api/v2/users/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["email"].as_str(), me["firstName"].as_str(), me["lastName"].as_str()),
        (Some("gina@example.com"), Some("Gina"), Some("Grey"))
    );
    assert_eq!(me["emailVerified"], true);

    let again: crate::common::Tokens = social(&app, "google", &signed(google_claims("g-1", "gina@example.com")))
        .await
        .json()
        .await
        .unwrap();
    let me2: Value = app
        .get_auth("/api/v2/users/me", &again.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me2["id"], me["id"]);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "keys are cached");
    app.stop().await;
}

#[tokio::test]
async fn social_login_links_to_an_existing_password_account() {
    let (app, _) = app_with_social().await;
    let password_login = app.signed_up("hana@example.com").await;
    let mine: Value = app
        .get_auth("/api/v2/users/me", &password_login.access_token)
        .await
        .json()
        .await
        .unwrap();
    let claims = with(google_claims("g-hana", "hana@example.com"), "aud", json!(APPLE_AUD));
    let claims = with(claims, "iss", json!("https://appleid.apple.com"));
    // Apple is not enabled on this server.
    problem(
        social(&app, "apple", &signed(claims)).await,
        422,
        "provider_not_enabled",
    )
    .await;

    let tokens: crate::common::Tokens = social(&app, "google", &signed(google_claims("g-hana", "hana@example.com")))
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .get_auth("/api/v2/users/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], mine["id"]);
    assert_eq!(me["firstName"], "Ann", "linking does not overwrite the profile");
    app.login("hana@example.com", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn forged_foreign_expired_and_unverified_id_tokens_are_refused() {
    let (app, fetches) = app_with_social().await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            signed(with(google_claims("g", "a@b.co"), "aud", json!("someone-else"))),
        ),
        (
            "wrong issuer",
            signed(with(google_claims("g", "a@b.co"), "iss", json!("https://evil.example"))),
        ),
        (
            "expired",
            signed(with(google_claims("g", "a@b.co"), "exp", json!(now - 3600))),
        ),
        (
            "another key",
            id_token(
                google_claims("g", "a@b.co"),
                include_str!("../fixtures/social_rsa_other.pem"),
                "test-key-1",
            ),
        ),
        (
            "unknown kid",
            id_token(
                google_claims("g", "a@b.co"),
                include_str!("../fixtures/social_rsa_private.pem"),
                "nope",
            ),
        ),
        ("not a JWT", "garbage".to_string()),
    ];
    for (what, token) in cases {
        let r = social(&app, "google", &token).await;
        assert_eq!(r.status(), 401, "{what}");
        problem(r, 401, "invalid_id_token").await;
    }
    // Unknown kids do not make us hammer the key server.
    assert!(fetches.load(Ordering::SeqCst) <= 1);

    let unverified = with(google_claims("g-2", "ivy@example.com"), "email_verified", json!(false));
    problem(
        social(&app, "google", &signed(unverified)).await,
        422,
        "email_not_verified",
    )
    .await;
    let body = problem(social(&app, "facebook", "x").await, 422, "validation_failed").await;
    assert_eq!(crate::common::error_fields(&body), ["provider"]);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_social_login_proving_an_address_resets_what_an_unproven_registration_left() {
    let (app, _) = app_with_social().await;
    // A stranger registered Gina's address with their own name and phone.
    let mut stranger = crate::common::registration("gina@example.com");
    stranger["firstName"] = json!("Mallory");
    stranger["phone"] = json!("0499 999 999");
    assert_eq!(app.post("/api/v2/registration", stranger).await.status(), 201);
    let r = social(&app, "google", &signed(google_claims("g-9", "gina@example.com"))).await;
    assert_eq!(r.status(), 200);
    let tokens: crate::common::Tokens = r.json().await.unwrap();
    let me: Value = app
        .get_auth("/api/v2/users/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["firstName"].as_str(), me["lastName"].as_str()),
        (Some("Gina"), Some("Grey")),
        "{me}"
    );
    assert!(me["phone"].as_str().is_none_or(str::is_empty), "{me}");
    assert_eq!(me["emailVerified"], true);
    app.drain_all().await;
    app.stop().await;
}
