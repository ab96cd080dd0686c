//! Emails and texts the banking provider asks us to send, through a local SMTP
//! server and a local SMS gateway.

use crate::common::{TestApp, problem};
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Route, handler, post};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Gateway {
    texts: Mutex<Vec<Value>>,
    fail_first: AtomicU32,
}

#[handler]
async fn gateway(state: Data<&Arc<Gateway>>, req: &poem::Request, Json(body): Json<Value>) -> poem::Response {
    assert_eq!(req.header("Authorization"), Some("Bearer sms-token"));
    if state.fail_first.load(Ordering::SeqCst) > 0 {
        state.fail_first.fetch_sub(1, Ordering::SeqCst);
        return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    state.texts.lock().unwrap().push(body);
    poem::http::StatusCode::ACCEPTED.into_response()
}

async fn app_with_gateway() -> (TestApp, Arc<Gateway>) {
    let state = Arc::new(Gateway::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(
        poem::Server::new_with_acceptor(acceptor).run(Route::new().at("/send", post(gateway)).data(state.clone())),
    );
    let app = TestApp::spawn_with(|v| {
        v.insert("SMS_GATEWAY_URL".into(), url);
        v.insert("SMS_GATEWAY_TOKEN".into(), "sms-token".into());
    })
    .await;
    (app, state)
}

async fn send(app: &TestApp, channel: &str, body: &Value) -> reqwest::Response {
    let raw = body.to_string();
    let now = chrono::Utc::now().timestamp();
    let sig =
        kttipay_providers::shaype::webhook::sign(app.config.shaype_webhook_secret.as_bytes(), now, raw.as_bytes());
    app.client
        .post(app.url(&format!("/api/hay/v0/communications/{channel}")))
        .header("content-type", "application/json")
        .header("X-Hay-Timestamp", now.to_string())
        .header("X-Hay-Signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn provider_emails_and_texts_are_delivered_once() {
    let (app, gw) = app_with_gateway().await;
    let email = json!({
        "idempotencyKey": "mail-1", "emailAddress": "ann@example.com", "type": "MAGIC_LINK",
        "magicLinkEvent": {"magicLink": "https://bank.example/link/abc"},
    });
    assert_eq!(send(&app, "email", &email).await.status(), 204);
    assert_eq!(
        send(&app, "email", &email).await.status(),
        204,
        "a redelivery is acknowledged"
    );
    let sms = json!({
        "idempotencyKey": "sms-1", "phoneNumber": {"countryCodePrefix": "+61", "numberAfterPrefix": "400000000"},
        "type": "OTP", "customerOtpEvent": {"otp": "834211"},
    });
    gw.fail_first.store(1, Ordering::SeqCst);
    assert_eq!(send(&app, "sms", &sms).await.status(), 204);
    assert_eq!(send(&app, "sms", &sms).await.status(), 204);
    app.drain_all().await;

    let mails = app.smtp.messages_to("ann@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].data.contains("https://bank.example/link/abc"));
    let texts = gw.texts.lock().unwrap().clone();
    assert_eq!(texts.len(), 1, "the gateway's first refusal was retried, once");
    assert_eq!(texts[0]["to"], "+61400000000");
    assert!(texts[0]["text"].as_str().unwrap().contains("834211"));

    // Nothing to say for this type: recorded, not sent.
    let odd = json!({"idempotencyKey": "sms-2", "phoneNumber": {"countryCodePrefix": "+61", "numberAfterPrefix": "4"}, "type": "SOMETHING_NEW"});
    assert_eq!(send(&app, "sms", &odd).await.status(), 204);
    app.drain_all().await;
    assert_eq!(gw.texts.lock().unwrap().len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM provider_events WHERE status = 'ignored'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn message_requests_need_a_valid_signature_and_body() {
    let (app, _) = app_with_gateway().await;
    let body = json!({"idempotencyKey": "m", "emailAddress": "x@example.com", "type": "MAGIC_LINK"}).to_string();
    let r = app
        .client
        .post(app.url("/api/hay/v0/communications/email"))
        .header("content-type", "application/json")
        .header("X-Hay-Timestamp", "1")
        .header("X-Hay-Signature", "sha256=00")
        .body(body)
        .send()
        .await
        .unwrap();
    problem(r, 401, "invalid_signature").await;
    problem(
        send(&app, "sms", &json!({"type": "OTP"})).await,
        422,
        "invalid_notification",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM provider_events").await, 0);
    app.stop().await;
}
