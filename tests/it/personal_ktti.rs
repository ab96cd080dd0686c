//! The personal ktti: opened by KYC approval, set up at the provider by jobs, and
//! visible only to its owner.

use crate::common::{TestApp, problem};
use serde_json::{Value, json};

async fn verified_with_ktti(app: &TestApp, email: &str) -> (crate::common::Tokens, Value) {
    app.onboarded_over_http(email).await
}

#[tokio::test]
async fn kyc_approval_opens_an_active_personal_ktti_with_account_and_card() {
    let app = TestApp::spawn().await;
    let (t, k) = verified_with_ktti(&app, "pia@example.com").await;
    assert_eq!(
        (k["type"].as_str(), k["role"].as_str()),
        (Some("personal"), Some("owner"))
    );
    assert_eq!(
        (k["totalBalance"].as_str(), k["availableBalance"].as_str()),
        (Some("0.00"), Some("0.00"))
    );
    assert_eq!(k["memberCount"], 1);
    assert_eq!(k["currency"], "AUD");
    let id = k["id"].as_str().unwrap();

    let same: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["id"], k["id"]);
    let banking: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/banking"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(banking["bsb"], "802985");
    assert_eq!(banking["accountNumber"].as_str().unwrap().len(), 9);
    assert_eq!(banking["accountName"], "Ann Lee");
    assert!(banking["depositReference"].as_str().unwrap().starts_with("KP"));
    let card: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/card"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (card["type"].as_str(), card["status"].as_str()),
        (Some("virtual"), Some("active"))
    );
    assert_eq!(card["last4"].as_str().unwrap().len(), 4);
    assert!(card["cardToken"].as_str().unwrap().starts_with("tok_"));

    // The provider agrees: an empty account exists with our number.
    let view: Value = app
        .client
        .get(format!(
            "{}/sandbox/accounts/{}",
            app.shaype_base_url,
            banking["providerAccountId"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["accountNumber"], banking["accountNumber"]);
    assert_eq!(view["balance"].to_string(), "0.00");

    let list: Value = app
        .get_auth("/api/v2/ktties", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (list["total"].as_i64(), list["page"].as_i64(), list["pageSize"].as_i64()),
        (Some(1), Some(1), Some(20))
    );
    let groups: Value = app
        .get_auth("/api/v2/ktties?type=group", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(groups["total"], 0);
    let by_name: Value = app
        .get_auth("/api/v2/ktties?q=perso", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn another_users_ktti_is_404_everywhere_and_bad_filters_are_422() {
    let app = TestApp::spawn().await;
    let (_, k) = verified_with_ktti(&app, "own@example.com").await;
    let id = k["id"].as_str().unwrap();
    let other = app.user("nosy@example.com").await;
    // Not verified: no personal ktti yet.
    problem(
        app.get_auth("/api/v2/ktties/personal", &other.access_token).await,
        404,
        "ktti_not_found",
    )
    .await;
    for path in [
        format!("/api/v2/ktties/{id}"),
        format!("/api/v2/ktties/{id}/banking"),
        format!("/api/v2/ktties/{id}/card"),
    ] {
        problem(app.get_auth(&path, &other.access_token).await, 404, "ktti_not_found").await;
    }
    let ghost = uuid::Uuid::new_v4();
    problem(
        app.get_auth(&format!("/api/v2/ktties/{ghost}"), &other.access_token)
            .await,
        404,
        "ktti_not_found",
    )
    .await;
    let list: Value = app
        .get_auth("/api/v2/ktties", &other.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
    // Out of the ranges and enums the document states: 422 naming the parameter.
    for (query, field) in [
        ("type=weird", "type"),
        ("pageSize=0", "pageSize"),
        ("pageSize=101", "pageSize"),
        ("page=0", "page"),
    ] {
        let body = problem(
            app.get_auth(&format!("/api/v2/ktties?{query}"), &other.access_token)
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(crate::common::error_fields(&body), [field], "{query}");
    }
    let unauthenticated = app
        .client
        .get(app.url(&format!("/api/v2/ktties/{id}")))
        .send()
        .await
        .unwrap();
    problem(unauthenticated, 401, "unauthorized").await;
    app.stop().await;
}

#[tokio::test]
async fn a_second_approval_event_opens_no_second_ktti() {
    let app = TestApp::spawn().await;
    let (t, k) = verified_with_ktti(&app, "twice@example.com").await;
    let customer: String =
        sqlx::query_scalar("SELECT provider_customer_id FROM users WHERE email = 'twice@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let body =
        json!({"customerHayId": customer, "idempotencyKey": "late-duplicate-approval", "type": "ONBOARDING_PASSED"})
            .to_string();
    let now = chrono::Utc::now().timestamp();
    let sig =
        kttipay_providers::shaype::webhook::sign(app.config.shaype_webhook_secret.as_bytes(), now, body.as_bytes());
    let r = app
        .client
        .post(app.url("/api/hay/v0/communications/notification"))
        .header("content-type", "application/json")
        .header("X-Hay-Timestamp", now.to_string())
        .header("X-Hay-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    app.drain().await;
    assert_eq!(app.count("SELECT count(*) FROM ktties").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM cards").await, 1);
    let again: Value = app
        .get_auth("/api/v2/ktties/personal", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], k["id"]);
    app.stop().await;
}
