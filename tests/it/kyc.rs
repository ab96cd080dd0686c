//! KYC end to end through the sandbox provider, and the provider webhook endpoint.

use crate::common::{TestApp, error_fields, problem};
use kttipay_providers::shaype::webhook;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn kyc_body(last_name: &str) -> Value {
    json!({
        "firstName": "Ann",
        "lastName": last_name,
        "dateOfBirth": "1990-04-01",
        "address": {"line1": "1 George St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"},
        "idDocumentType": "driversLicence",
        "idDocumentNumber": "ab 123 456",
    })
}

/// Waits until the caller's KYC status is `want` (the sandbox decides after a
/// short delay and tells us by webhook).
async fn wait_for_kyc(app: &TestApp, token: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(crate::common::DRAIN_TIMEOUT_SECS);
    loop {
        let view: Value = app.get_auth("/api/v2/users/me/kyc", token).await.json().await.unwrap();
        if view["status"] == want {
            return view;
        }
        assert!(Instant::now() < deadline, "KYC never became {want}: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kyc_is_verified_by_the_provider_webhook() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("kai@example.com").await;
    let before: Value = app
        .get_auth("/api/v2/users/me/kyc", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["status"], "notStarted");

    let r = app
        .post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
        .await;
    assert_eq!(r.status(), 202);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["address"]["state"], "NSW");
    assert_eq!(pending["idDocumentLast4"], "3456");
    assert!(
        pending.to_string().find("AB123456").is_none(),
        "the document number is never shown"
    );
    problem(
        app.post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
            .await,
        409,
        "kyc_pending",
    )
    .await;

    let verified = wait_for_kyc(&app, &t.access_token, "verified").await;
    assert!(verified["decidedAt"].is_string());
    let me: Value = app
        .get_auth("/api/v2/users/me", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["kycStatus"], "verified");
    problem(
        app.post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
            .await,
        409,
        "kyc_already_verified",
    )
    .await;

    // Once at the provider, the document number is erased from our database.
    app.drain().await;
    assert_eq!(
        app.count("SELECT count(*) FROM kyc_submissions WHERE id_document_number IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM provider_events WHERE status = 'applied'")
            .await,
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_identity_can_submit_again() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("rex@example.com").await;
    assert_eq!(
        app.post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Rejected"))
            .await
            .status(),
        202
    );
    wait_for_kyc(&app, &t.access_token, "rejected").await;
    let again = app
        .post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
        .await;
    assert_eq!(again.status(), 202);
    wait_for_kyc(&app, &t.access_token, "verified").await;
    app.stop().await;
}

#[tokio::test]
async fn bad_kyc_submissions_name_every_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("val@example.com").await;
    let bad = json!({
        "firstName": "", "lastName": "Lee", "dateOfBirth": "2015-01-01",
        "address": {"line1": "1 George St", "suburb": "Sydney", "state": "XX", "postcode": "20", "country": "NZ"},
        "idDocumentType": "library card", "idDocumentNumber": "1",
    });
    let body = problem(
        app.post_auth("/api/v2/users/me/kyc", &t.access_token, bad).await,
        422,
        "validation_failed",
    )
    .await;
    let fields = error_fields(&body);
    assert_eq!(
        fields,
        [
            "firstName",
            "dateOfBirth",
            "address.state",
            "address.postcode",
            "address.country",
            "idDocumentType",
            "idDocumentNumber"
        ]
    );
    let mut missing = kyc_body("Lee");
    missing["address"].as_object_mut().unwrap().remove("suburb");
    let body = problem(
        app.post_auth("/api/v2/users/me/kyc", &t.access_token, missing).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "address.suburb");
    assert_eq!(app.count("SELECT count(*) FROM kyc_submissions").await, 0);
    let unauthenticated = app.post("/api/v2/users/me/kyc", kyc_body("Lee")).await;
    problem(unauthenticated, 401, "unauthorized").await;
    app.stop().await;
}

fn signed(app: &TestApp, body: &str, at: i64) -> (String, String) {
    (
        at.to_string(),
        webhook::sign(app.config.shaype_webhook_secret.as_bytes(), at, body.as_bytes()),
    )
}

async fn deliver(app: &TestApp, body: &str, headers: Option<(String, String)>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/hay/v0/communications/notification"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((ts, sig)) = headers {
        req = req.header("X-Hay-Timestamp", ts).header("X-Hay-Signature", sig);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn provider_webhooks_are_authenticated_stored_once_and_never_dropped() {
    let app = TestApp::spawn().await;
    let body = json!({"customerHayId": "not-ours", "idempotencyKey": "evt-1", "type": "ONBOARDING_PASSED"}).to_string();
    let now = chrono::Utc::now().timestamp();

    problem(deliver(&app, &body, None).await, 401, "invalid_signature").await;
    let forged = (now.to_string(), webhook::sign(b"not the secret", now, body.as_bytes()));
    problem(deliver(&app, &body, Some(forged)).await, 401, "invalid_signature").await;
    problem(
        deliver(&app, &body, Some(signed(&app, &body, now - 3600))).await,
        401,
        "invalid_signature",
    )
    .await;
    let tampered = signed(&app, &body, now);
    problem(
        deliver(&app, &body.replace("evt-1", "evt-2"), Some(tampered)).await,
        401,
        "invalid_signature",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM provider_events").await, 0);

    // Delivered twice: acknowledged twice, stored and applied once.
    assert_eq!(deliver(&app, &body, Some(signed(&app, &body, now))).await.status(), 204);
    assert_eq!(
        deliver(&app, &body, Some(signed(&app, &body, now + 1))).await.status(),
        204
    );
    assert_eq!(app.count("SELECT count(*) FROM provider_events").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'provider_event.apply.v1'")
            .await,
        1
    );
    app.drain().await;
    let (status, note): (String, String) = sqlx::query_as("SELECT status, note FROM provider_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "unmatched", "kept and reported, not dropped");
    assert!(note.contains("not-ours"), "{note}");

    let garbage = "{not json";
    problem(
        deliver(&app, garbage, Some(signed(&app, garbage, now))).await,
        400,
        "malformed_request",
    )
    .await;
    let wrong_shape = json!({"type": "TRANSACTION"}).to_string();
    problem(
        deliver(&app, &wrong_shape, Some(signed(&app, &wrong_shape, now))).await,
        422,
        "invalid_notification",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_bank_outage_and_lost_webhooks_delay_verification_but_lose_nothing() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("outage@example.com").await;
    let faults = |body: Value| app.sandbox(Method::PUT, "/sandbox/faults", Some(body));
    assert_eq!(faults(json!({"errorRate": 1.0})).await.status(), 200);

    // The request does not wait for the bank: it is accepted and the job retries.
    let r = app
        .post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
        .await;
    assert_eq!(r.status(), 202);
    let (attempts, error): (i32, String) = app
        .eventually("the submission to fail twice and wait", || async {
            let row: (String, i32, Option<String>) =
                sqlx::query_as("SELECT status, attempts, last_error FROM jobs WHERE kind = 'kyc.submit.v1'")
                    .fetch_one(&app.pool)
                    .await
                    .ok()?;
            (row.0 == "pending" && row.1 >= 2).then(|| (row.1, row.2.unwrap_or_default()))
        })
        .await;
    assert!(attempts < 10, "still retrying, not dead");
    assert!(
        error.contains("provider unavailable"),
        "the outage is recorded: {error}"
    );
    let waiting: Value = app
        .get_auth("/api/v2/users/me/kyc", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["status"], "pending");

    // The bank is back, but its webhooks cannot reach us: it keeps them and retries.
    faults(json!({"webhookErrorRate": 1.0})).await;
    app.drain_all().await;
    let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", app.config.database_url))
        .await
        .unwrap();
    app.eventually("a webhook to be refused and kept for retry", || async {
        let kept: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE delivered_at IS NULL AND attempts >= 1")
                .fetch_one(&sandbox)
                .await
                .ok()?;
        (kept >= 1).then_some(())
    })
    .await;
    let still: Value = app
        .get_auth("/api/v2/users/me/kyc", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "pending");

    faults(json!({})).await;
    wait_for_kyc(&app, &t.access_token, "verified").await;
    sandbox.close().await;
    app.stop().await;
}
