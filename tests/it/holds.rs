//! Card holds end to end: reversal and expiry free the money, a release or a
//! settlement that arrives before its hold is parked until it lands, and fifty authorisations
//! racing for one balance never overdraw it, at the bank or in our books.

use crate::common::TestApp;
use crate::common::pot::{Pot, balances, card_hold, deposit, pot, provider_view, sound_ledger, transactions};
use reqwest::Method;
use serde_json::{Value, json};

async fn reverse(app: &TestApp, hold: &str) -> u16 {
    app.sandbox(
        Method::POST,
        "/sandbox/utils/reverse-hold",
        Some(json!({ "holdId": hold })),
    )
    .await
    .status()
    .as_u16()
}

async fn expire(app: &TestApp, as_of: chrono::DateTime<chrono::Utc>) -> u64 {
    let r = app
        .sandbox(
            Method::POST,
            "/sandbox/utils/expire-holds",
            Some(json!({ "asOf": as_of.to_rfc3339() })),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["expired"].as_u64().unwrap()
}

async fn payment_of_hold(app: &TestApp, p: &Pot, hold: &str) -> Value {
    transactions(app, p, "type=cardPayment&pageSize=100")
        .await
        .into_iter()
        .find(|t| t["providerHoldId"] == hold)
        .unwrap_or_else(|| panic!("no payment for hold {hold}"))
}

#[tokio::test]
async fn a_reversed_or_expired_hold_frees_its_money_and_shows_reversed() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "holds@example.com").await;
    deposit(&app, &p, "100.00", "npp-holds").await;
    balances(&app, &p, "100.00", "100.00").await;

    let reversed = card_hold(&app, &p, "30.00").await.expect("covered");
    let lapsing = card_hold(&app, &p, "20.00").await.expect("covered");
    balances(&app, &p, "100.00", "50.00").await;

    // The merchant cancels the first authorisation.
    assert_eq!(reverse(&app, &reversed).await, 204);
    balances(&app, &p, "100.00", "80.00").await;
    app.drain_all().await;
    assert_eq!(payment_of_hold(&app, &p, &reversed).await["status"], "reversed");
    // A second reversal is refused by the bank and moves nothing.
    assert_eq!(reverse(&app, &reversed).await, 409);
    assert_eq!(reverse(&app, "7d0c3c1e-0000-4000-8000-000000000000").await, 404);

    // The second lapses: not yet now, but a week on it has.
    assert_eq!(expire(&app, chrono::Utc::now()).await, 0);
    assert_eq!(expire(&app, chrono::Utc::now() + chrono::Duration::days(8)).await, 1);
    balances(&app, &p, "100.00", "100.00").await;
    app.drain_all().await;
    assert_eq!(payment_of_hold(&app, &p, &lapsing).await["status"], "reversed");
    assert_eq!(transactions(&app, &p, "status=reversed").await.len(), 2);
    assert_eq!(transactions(&app, &p, "status=pending").await.len(), 0);

    let view = provider_view(&app, &p).await;
    assert_eq!(
        (view["balance"].to_string(), view["held"].to_string()),
        ("100.00".into(), "0.00".into())
    );
    sound_ledger(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_release_before_its_hold_waits_and_a_late_settlement_is_a_spend() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "late@example.com").await;
    deposit(&app, &p, "50.00", "npp-late").await;
    balances(&app, &p, "50.00", "50.00").await;
    let customer: String =
        sqlx::query_scalar("SELECT provider_customer_id FROM users WHERE email = 'late@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let event = |key: &str, kind: &str, hold: &str, txn: Option<&str>, pending: bool, amount: &str| {
        // Text, so the amount stays an exact JSON number.
        let txn = txn
            .map(|t| format!(r#""transactionHayId": "{t}","#))
            .unwrap_or_default();
        let raw = format!(
            r#"{{"customerHayId": "{customer}", "idempotencyKey": "{key}", "type": "TRANSACTION",
                "transactionEvent": {{{txn} "holdHayId": "{hold}", "accountHayId": "{}",
                "currencyAmount": {{"currency": "AUD", "amount": {amount}}}, "isPending": {pending},
                "outcome": "ACCEPTED", "merchantName": "Late Cafe", "transactionType": "{kind}"}}}}"#,
            p.provider_account
        );
        serde_json::from_str::<Value>(&raw).unwrap()
    };

    // The release overtakes its hold: it is kept and applied once the hold lands.
    let release = event("evt-release", "CARD_TRANSACTION", "hold-late", None, false, "20.00");
    assert_eq!(app.provider_webhook(&release).await.status(), 204);
    app.eventually("the early release to be parked on its hold", || async {
        let status: String =
            sqlx::query_scalar("SELECT status FROM provider_events WHERE idempotency_key = 'evt-release'")
                .fetch_one(&app.pool)
                .await
                .ok()?;
        (status == "parked").then_some(())
    })
    .await;
    let hold = event("evt-hold", "CARD_TRANSACTION", "hold-late", None, true, "20.00");
    assert_eq!(app.provider_webhook(&hold).await.status(), 204);
    app.drain_all().await;
    balances(&app, &p, "50.00", "50.00").await;
    assert_eq!(payment_of_hold(&app, &p, "hold-late").await["status"], "reversed");

    // A replayed release (new key, same hold) frees nothing twice.
    let again = event("evt-release-2", "CARD_TRANSACTION", "hold-late", None, false, "20.00");
    app.provider_webhook(&again).await;
    app.drain_all().await;
    balances(&app, &p, "50.00", "50.00").await;

    // The merchant presents the lapsed payment after all: the money has left.
    let late = event(
        "evt-late",
        "CARD_TRANSACTION_SETTLED",
        "hold-late",
        Some("txn-late"),
        false,
        "20.00",
    );
    app.provider_webhook(&late).await;
    app.drain_all().await;
    balances(&app, &p, "30.00", "30.00").await;
    let paid = payment_of_hold(&app, &p, "hold-late").await;
    assert_eq!(
        (paid["status"].as_str(), paid["amount"].as_str()),
        (Some("posted"), Some("20.00"))
    );

    // A partial settlement returns the rest of the hold.
    let part_hold = event("evt-part-hold", "CARD_TRANSACTION", "hold-part", None, true, "10.00");
    app.provider_webhook(&part_hold).await;
    app.drain_all().await;
    balances(&app, &p, "30.00", "20.00").await;
    let part = event(
        "evt-part-settle",
        "CARD_TRANSACTION_SETTLED",
        "hold-part",
        Some("txn-part"),
        false,
        "7.55",
    );
    app.provider_webhook(&part).await;
    app.drain_all().await;
    balances(&app, &p, "22.45", "22.45").await;
    assert_eq!(payment_of_hold(&app, &p, "hold-part").await["amount"], "7.55");
    sound_ledger(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn fifty_parallel_card_holds_through_the_bank_never_overdraw() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "race@example.com").await;
    deposit(&app, &p, "100.00", "npp-race").await;
    balances(&app, &p, "100.00", "100.00").await;

    let attempts = (0..50).map(|_| card_hold(&app, &p, "7.00"));
    let holds = futures::future::join_all(attempts).await;
    let accepted = holds.iter().filter(|h| h.is_some()).count();
    assert_eq!(accepted, 14, "7.00 fits 14 times into 100.00");

    // Every authorisation, accepted or declined, reaches our books once.
    app.eventually("all 50 authorisations to land", || async {
        let n = app
            .count("SELECT count(*) FROM transactions WHERE kind = 'cardPayment'")
            .await;
        (n == 50).then_some(())
    })
    .await;
    app.drain_all().await;
    balances(&app, &p, "100.00", "2.00").await;
    assert_eq!(transactions(&app, &p, "status=pending&pageSize=100").await.len(), 14);
    let declined = transactions(&app, &p, "status=declined&pageSize=100").await;
    assert_eq!(declined.len(), 36);
    assert!(
        declined
            .iter()
            .all(|d| d["declineReason"] == "REFUSED_NOT_ENOUGH_FUNDS")
    );
    let view = provider_view(&app, &p).await;
    assert_eq!(
        (view["held"].to_string(), view["available"].to_string()),
        ("98.00".into(), "2.00".into())
    );
    sound_ledger(&app).await;
    app.stop().await;
}
