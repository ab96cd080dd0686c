//! `Idempotency-Key` on the POSTs that join, accept, request, submit KYC and
//! order a card: a replay with the same key answers as the first did (from the
//! state as it is now) and changes nothing; the same key with another body is
//! 409; without a key, a second request meets the usual conflict.

use crate::common::group::{Person, group, person};
use crate::common::{TestApp, problem};
use serde_json::{Value, json};

async fn post_keyed(app: &TestApp, path: &str, who: &Person, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&who.token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn membership_posts_replay_by_key() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner@example.com").await;
    let ivy = person(&app, "ivy@example.com").await;
    let jon = person(&app, "jon@example.com").await;
    let k = group(&app, &owner, json!({"name": "Keys"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = json!({"referralCode": k["referralCode"]});

    // Join twice with one key: both 200, one membership.
    let first = post_keyed(&app, "/api/v2/ktties/join", &ivy, "join-1", code.clone()).await;
    assert_eq!(first.status(), 200);
    let again = post_keyed(&app, "/api/v2/ktties/join", &ivy, "join-1", code.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    problem(
        post_keyed(
            &app,
            "/api/v2/ktties/join",
            &ivy,
            "join-1",
            json!({"referralCode": "ZZZZZZZZZZZZ"}),
        )
        .await,
        409,
        "idempotency_key_reused",
    )
    .await;
    problem(
        app.post_auth("/api/v2/ktties/join", &ivy.token, code).await,
        409,
        "already_member",
    )
    .await;

    // Ask for admin twice with one key: one item.
    let path = format!("/api/v2/ktties/{id}/admin-requests");
    for _ in 0..2 {
        let r = post_keyed(&app, &path, &ivy, "admin-1", json!({"message": "please"})).await;
        assert_eq!(r.status(), 202);
    }
    problem(
        app.post_auth(&path, &ivy.token, json!({})).await,
        409,
        "already_requested",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM action_items WHERE kind = 'adminRequest'")
            .await,
        1
    );

    // Accept an invitation twice with one key.
    let invited = app
        .post_auth(
            &format!("/api/v2/ktties/{id}/invitations"),
            &owner.token,
            json!({"email": jon.email}),
        )
        .await;
    assert_eq!(invited.status(), 201);
    let accept = format!("/api/v2/ktties/{id}/invitations/accept");
    for _ in 0..2 {
        let r = post_keyed(&app, &accept, &jon, "accept-1", json!({})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["id"], id.as_str());
    }

    // Order the physical card twice with one key: one order, one job.
    crate::common::group::card(&app, &owner, &id).await;
    let address = json!({"address": {"line1": "5 Pitt St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"}});
    let order = format!("/api/v2/ktties/{id}/card/physical");
    for _ in 0..2 {
        let r = post_keyed(&app, &order, &owner, "card-1", address.clone()).await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'card.order_physical.v1'")
            .await,
        1
    );
    problem(
        app.post_auth(&order, &owner.token, address).await,
        409,
        "card_already_ordered",
    )
    .await;
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn a_kyc_submission_replays_by_key() {
    let app = TestApp::spawn().await;
    let t = app.user("kyc-key@example.com").await;
    let body = json!({
        "firstName": "Ann", "lastName": "Lee", "dateOfBirth": "1990-04-01",
        "address": {"line1": "1 George St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"},
        "idDocumentType": "driversLicence", "idDocumentNumber": "ab 123 456",
    });
    let submit = |body: Value| {
        app.client
            .post(app.url("/api/v2/users/me/kyc"))
            .bearer_auth(&t.access_token)
            .header("Idempotency-Key", "kyc-1")
            .json(&body)
            .send()
    };
    assert_eq!(submit(body.clone()).await.unwrap().status(), 202);
    assert_eq!(
        submit(body.clone()).await.unwrap().status(),
        202,
        "a replay, not kyc_pending"
    );
    assert_eq!(app.count("SELECT count(*) FROM kyc_submissions").await, 1);
    let mut other = body;
    other["firstName"] = json!("Bea");
    problem(submit(other).await.unwrap(), 409, "idempotency_key_reused").await;
    app.drain_all().await;
    app.stop().await;
}
