//! Money through the provider: the sandbox moves it, its signed webhooks reach our
//! API, and our transactions, balances and journal follow, to the cent.

use crate::common::pot::{balances, deposit, pot, provider_view, sound_ledger, transactions};
use crate::common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn deposit_card_payment_decline_and_refund_to_the_cent() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "money@example.com").await;

    deposit(&app, &p, "100.10", "npp-1").await;
    balances(&app, &p, "100.10", "100.10").await;
    let deposits = transactions(&app, &p, "type=deposit").await;
    assert_eq!(deposits.len(), 1);
    let d = &deposits[0];
    assert_eq!(
        (d["amount"].as_str(), d["direction"].as_str(), d["status"].as_str()),
        (Some("100.10"), Some("in"), Some("posted"))
    );
    assert_eq!(d["counterpartyName"], "PIA LEE");
    let me: Value = app.get_auth("/api/v2/users/me", &p.token).await.json().await.unwrap();
    assert_eq!(d["assigneeId"], me["id"], "a personal ktti's deposits are its owner's");

    // A card payment: held first, then settled.
    let r = app
        .sandbox(
            Method::POST,
            "/v0/utils/generate-card-transaction",
            Some(json!({"amount": 40.05, "cardToken": p.card_token, "settlementDelayInSeconds": 1})),
        )
        .await;
    assert_eq!(r.status(), 200);
    balances(&app, &p, "100.10", "60.05").await;
    let pending = transactions(&app, &p, "type=cardPayment").await;
    assert_eq!(
        (pending[0]["status"].as_str(), pending[0]["merchantName"].as_str()),
        (Some("pending"), Some("Sandbox Merchant"))
    );
    balances(&app, &p, "60.05", "60.05").await;
    let posted = transactions(&app, &p, "type=cardPayment&status=posted").await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["amount"], "40.05");
    let payment = posted[0]["providerTransactionId"].as_str().unwrap().to_string();

    // Beyond available: declined, and nothing moves.
    app.sandbox(
        Method::POST,
        "/v0/utils/generate-auth-hold",
        Some(json!({"amount": 60.06, "cardToken": p.card_token})),
    )
    .await;
    let declined = app
        .eventually("the declined payment", || async {
            let d = transactions(&app, &p, "status=declined").await;
            d.into_iter().next()
        })
        .await;
    assert_eq!(declined["amount"], "60.06");
    assert_eq!(declined["declineReason"], "REFUSED_NOT_ENOUGH_FUNDS");
    balances(&app, &p, "60.05", "60.05").await;

    let r = app
        .sandbox(
            Method::POST,
            "/sandbox/utils/refund",
            Some(json!({"transactionId": payment, "amount": 10.00})),
        )
        .await;
    assert_eq!(r.status(), 200);
    balances(&app, &p, "70.05", "70.05").await;
    let refunds = transactions(&app, &p, "type=refund").await;
    assert_eq!(
        (refunds[0]["amount"].as_str(), refunds[0]["direction"].as_str()),
        (Some("10.00"), Some("in"))
    );

    // Our books and the provider's agree, and the journal balances.
    app.drain().await;
    let view = provider_view(&app, &p).await;
    assert_eq!(
        (view["balance"].to_string(), view["held"].to_string()),
        ("70.05".into(), "0.00".into())
    );
    sound_ledger(&app).await;
    let all = transactions(&app, &p, "").await;
    assert_eq!(all.len(), 4);
    let one: Value = app
        .get_auth(
            &format!("/api/v2/transactions/{}", all[0]["id"].as_str().unwrap()),
            &p.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], all[0]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_settlement_before_its_hold_waits_and_replays_change_nothing() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "order@example.com").await;
    deposit(&app, &p, "50.00", "npp-order").await;
    balances(&app, &p, "50.00", "50.00").await;
    let customer: String =
        sqlx::query_scalar("SELECT provider_customer_id FROM users WHERE email = 'order@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let event = |key: &str, kind: &str, pending: bool| {
        json!({
            "customerHayId": customer, "idempotencyKey": key, "type": "TRANSACTION",
            "transactionEvent": {
                "transactionHayId": "txn-crafted-1", "holdHayId": "hold-crafted-1", "accountHayId": p.provider_account,
                "currencyAmount": {"currency": "AUD", "amount": 12.34}, "isPending": pending, "outcome": "ACCEPTED",
                "merchantName": "Corner Shop", "transactionType": kind,
            }
        })
    };
    // The settlement arrives first: stored, and applied only once the hold lands.
    assert_eq!(
        app.provider_webhook(&event("evt-settle", "CARD_TRANSACTION_SETTLED", false))
            .await
            .status(),
        204
    );
    app.eventually("the early settlement to be retried", || async {
        let attempts: i32 = sqlx::query_scalar(
            "SELECT attempts FROM jobs WHERE payload->>'eventId' = \
             (SELECT id::text FROM provider_events WHERE idempotency_key = 'evt-settle')",
        )
        .fetch_one(&app.pool)
        .await
        .ok()?;
        (attempts >= 1).then_some(())
    })
    .await;
    balances(&app, &p, "50.00", "50.00").await;
    assert_eq!(
        app.provider_webhook(&event("evt-hold", "CARD_TRANSACTION", true))
            .await
            .status(),
        204
    );
    app.drain_all().await;
    balances(&app, &p, "37.66", "37.66").await;
    let posted = transactions(&app, &p, "type=cardPayment").await;
    assert_eq!((posted.len(), posted[0]["status"].as_str()), (1, Some("posted")));

    // Replays, under new idempotency keys even: no money moves twice.
    app.provider_webhook(&event("evt-hold-again", "CARD_TRANSACTION", true))
        .await;
    app.provider_webhook(&event("evt-settle-again", "CARD_TRANSACTION_SETTLED", false))
        .await;
    app.drain_all().await;
    balances(&app, &p, "37.66", "37.66").await;
    assert_eq!(transactions(&app, &p, "type=cardPayment").await.len(), 1);
    sound_ledger(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn cursor_pages_stay_stable_while_transactions_arrive_and_strangers_see_nothing() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "pages@example.com").await;
    for i in 1..=5 {
        deposit(&app, &p, &format!("{i}.00"), &format!("npp-page-{i}")).await;
    }
    balances(&app, &p, "15.00", "15.00").await;
    let page = |cursor: Option<String>| {
        let app = &app;
        let p = &p;
        async move {
            let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
            let v: Value = app
                .get_auth(&format!("/api/v3/ktties/{}/transactions?limit=2{q}", p.id), &p.token)
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    let first = page(None).await;
    let ids = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before: Vec<String> = {
        let all: Value = app
            .get_auth(&format!("/api/v2/ktties/{}/transactions", p.id), &p.token)
            .await
            .json()
            .await
            .unwrap();
        ids(&all)
    };
    assert_eq!(ids(&first), before[..2]);
    // New money arrives between pages: it sorts before the cursor, so the later
    // pages neither repeat nor skip any of the first five.
    deposit(&app, &p, "99.00", "npp-page-new").await;
    balances(&app, &p, "114.00", "114.00").await;
    let second = page(first["nextCursor"].as_str().map(str::to_owned)).await;
    let third = page(second["nextCursor"].as_str().map(str::to_owned)).await;
    assert_eq!(ids(&second), before[2..4]);
    assert_eq!(ids(&third), before[4..]);
    assert!(third["nextCursor"].is_null());
    problem(
        app.get_auth(
            &format!("/api/v3/ktties/{}/transactions?cursor=garbage", p.id),
            &p.token,
        )
        .await,
        422,
        "invalid_cursor",
    )
    .await;

    let all: Value = app
        .get_auth("/api/v3/transactions?limit=100", &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);

    let stranger = app.user("stranger@example.com").await;
    // A stranger's bad cursor on this ktti is a 404, as a good one is.
    for q in ["cursor=garbage", "limit=50"] {
        problem(
            app.get_auth(
                &format!("/api/v3/ktties/{}/transactions?{q}", p.id),
                &stranger.access_token,
            )
            .await,
            404,
            "ktti_not_found",
        )
        .await;
    }
    let some_tx = all["items"][0]["id"].as_str().unwrap();
    problem(
        app.get_auth(&format!("/api/v2/transactions/{some_tx}"), &stranger.access_token)
            .await,
        404,
        "transaction_not_found",
    )
    .await;
    problem(
        app.get_auth(&format!("/api/v2/ktties/{}/transactions", p.id), &stranger.access_token)
            .await,
        404,
        "ktti_not_found",
    )
    .await;
    let theirs: Value = app
        .get_auth("/api/v2/transactions", &stranger.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["total"], 0);
    app.stop().await;
}
