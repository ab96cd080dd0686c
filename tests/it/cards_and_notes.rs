//! Physical card orders and members' notes on transactions.

use crate::common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

fn address(line1: &str) -> Value {
    json!({"address": {"line1": line1, "suburb": "Newtown", "state": "NSW", "postcode": "2042", "country": "AU"}})
}

#[tokio::test]
async fn a_physical_card_is_ordered_its_address_changes_until_it_ships() {
    let app = TestApp::spawn().await;
    let (t, k) = app.verified_with_ktti("card@example.com").await;
    let id = k["id"].as_str().unwrap();
    let url = |p: &str| format!("/api/v2/ktties/{id}/card{p}");
    let put = |body: Value| {
        app.client
            .put(app.url(&url("/address")))
            .bearer_auth(&t.access_token)
            .json(&body)
            .send()
    };

    problem(put(address("1 King St")).await.unwrap(), 409, "card_not_ordered").await;
    let bad =
        json!({"address": {"line1": "", "suburb": "Newtown", "state": "ZZ", "postcode": "2042", "country": "AU"}});
    let body = problem(
        app.post_auth(&url("/physical"), &t.access_token, bad).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "address.line1");
    assert_eq!(body["errors"][1]["field"], "address.state");

    // The bank is down: the conversion waits (retrying with backoff) while the
    // address changes, and the new address is the one sent to the bank.
    assert_eq!(
        app.sandbox(Method::PUT, "/sandbox/faults", Some(json!({"errorRate": 1.0})))
            .await
            .status(),
        200
    );
    let r = app
        .post_auth(&url("/physical"), &t.access_token, address("1 King St"))
        .await;
    assert_eq!(r.status(), 202);
    let ordered: Value = r.json().await.unwrap();
    assert_eq!(ordered["orderStatus"], "ordered");
    problem(
        app.post_auth(&url("/physical"), &t.access_token, address("1 King St"))
            .await,
        409,
        "card_already_ordered",
    )
    .await;
    let moved: Value = put(address("9 Queen St")).await.unwrap().json().await.unwrap();
    assert_eq!(moved["deliveryAddress"]["line1"], "9 Queen St");

    app.sandbox(Method::PUT, "/sandbox/faults", Some(json!({}))).await;
    app.drain_all().await;
    let card: Value = app.get_auth(&url(""), &t.access_token).await.json().await.unwrap();
    assert_eq!(
        (card["type"].as_str(), card["orderStatus"].as_str()),
        (Some("physical"), Some("shipped"))
    );
    // The bank posts it to the changed address.
    let posted_to: Value = app.card_at_bank(card["id"].as_str().unwrap(), "delivery_address").await;
    assert_eq!(posted_to["line1"], "9 Queen St", "{posted_to}");
    assert_eq!(posted_to["townOrCity"], "Newtown");
    problem(put(address("3 Late Ln")).await.unwrap(), 409, "card_shipped").await;

    let stranger = app.user("nope@example.com").await;
    problem(
        app.post_auth(&url("/physical"), &stranger.access_token, address("x"))
            .await,
        404,
        "ktti_not_found",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn members_annotate_transactions() {
    let app = TestApp::spawn().await;
    let (t, k) = app.verified_with_ktti("notes@example.com").await;
    let id = k["id"].as_str().unwrap();
    let banking: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/banking"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let raw = format!(
        r#"{{"amount": 25.00, "description": "in", "idempotencyKey": "npp-notes", "receiverAccountNumber": "{}", "receiverBsb": "{}", "receiverName": "P", "senderAccountNumber": "1", "senderBsb": "062000", "senderName": "P"}}"#,
        banking["accountNumber"].as_str().unwrap(),
        banking["bsb"].as_str().unwrap()
    );
    app.client
        .post(format!("{}/v0/utils/generate-npp-inbound", app.shaype_base_url))
        .bearer_auth(&app.config.shaype_api_token)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let tx_id = app
        .eventually("the deposit", || async {
            let page: Value = app
                .get_auth("/api/v2/transactions", &t.access_token)
                .await
                .json()
                .await
                .ok()?;
            page["items"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
    let info_url = format!("/api/v2/transactions/{tx_id}/additional-info");
    let info: Value = app.get_auth(&info_url, &t.access_token).await.json().await.unwrap();
    assert_eq!(
        (info["note"].is_null(), info["receiptStatus"].as_str()),
        (true, Some("none"))
    );
    assert_eq!(info["transaction"]["amount"], "25.00");

    let put = |body: Value| {
        app.client
            .put(app.url(&info_url))
            .bearer_auth(&t.access_token)
            .json(&body)
            .send()
    };
    let saved: Value = put(json!({"note": "Rent share", "category": "Housing", "tags": ["Trip", "trip ", "bills"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["tags"], json!(["trip", "bills"]));
    let partial: Value = put(json!({"category": "Rent"})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (partial["note"].as_str(), partial["category"].as_str()),
        (Some("Rent share"), Some("Rent"))
    );

    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    problem(put(json!({"tags": too_many})).await.unwrap(), 422, "validation_failed").await;
    problem(
        put(json!({"note": "x".repeat(1001)})).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;

    let stranger = app.user("other@example.com").await;
    problem(
        app.get_auth(&info_url, &stranger.access_token).await,
        404,
        "transaction_not_found",
    )
    .await;
    let r = app
        .client
        .put(app.url(&info_url))
        .bearer_auth(&stranger.access_token)
        .json(&json!({"note": "mine"}))
        .send()
        .await
        .unwrap();
    problem(r, 404, "transaction_not_found").await;
    let kept: Value = app.get_auth(&info_url, &t.access_token).await.json().await.unwrap();
    assert_eq!(kept["note"], "Rent share", "a stranger's attempt changed nothing");
    app.stop().await;
}

#[tokio::test]
async fn blocking_a_user_freezes_their_cards_at_the_bank() {
    let app = TestApp::spawn().await;
    let admin = app.admin("staff@example.com").await;
    let (t, k) = app.verified_with_ktti("frozen@example.com").await;
    let id = k["id"].as_str().unwrap();
    let card: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/card"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .get_auth("/api/v2/users/me", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let user = me["id"].as_str().unwrap();
    let provider_card: String = sqlx::query_scalar("SELECT provider_card_id FROM cards")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let bank = kttipay_providers::shaype::client::ShaypeClient::new(&app.shaype_base_url, &app.config.shaype_api_token)
        .unwrap();

    assert_eq!(
        app.post_auth(
            &format!("/api/v2/admin/users/{user}/block"),
            &admin.access_token,
            json!({})
        )
        .await
        .status(),
        204
    );
    app.drain().await;
    let status: String = sqlx::query_scalar("SELECT status FROM cards")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "frozen");
    let at_bank = bank.get_card(&provider_card).await.unwrap();
    assert_eq!(
        at_bank.card_status,
        Some(kttipay_providers::shaype::types::CardStatus::Blocked)
    );
    // A payment with the frozen card is declined by the bank, and recorded so.
    app.sandbox(
        Method::POST,
        "/v0/utils/generate-auth-hold",
        Some(json!({"amount": 1.00, "cardToken": card["cardToken"]})),
    )
    .await;
    app.eventually("the declined payment", || async {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT decline_reason FROM transactions WHERE status = 'declined'")
                .fetch_optional(&app.pool)
                .await
                .ok()?
                .flatten();
        reason.filter(|r| r == "REFUSED_CARD_PREFERENCE")
    })
    .await;

    assert_eq!(
        app.post_auth(
            &format!("/api/v2/admin/users/{user}/unblock"),
            &admin.access_token,
            json!({})
        )
        .await
        .status(),
        204
    );
    app.drain().await;
    let status: String = sqlx::query_scalar("SELECT status FROM cards")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    assert_eq!(
        bank.get_card(&provider_card).await.unwrap().card_status,
        Some(kttipay_providers::shaype::types::CardStatus::Active)
    );
    app.stop().await;
}
