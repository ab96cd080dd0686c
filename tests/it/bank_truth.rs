//! Our books follow the bank: what the bank reports it has done is booked as
//! reported, even below zero (with an action item for the owner and an operator
//! alert); a settlement that overtakes its hold is parked and applied when the
//! hold lands, however late; a second clearing of a hold is booked; and after it
//! all our balances equal the bank's, event by event and by `verify-ledger
//! --against-provider`.

use crate::common::TestApp;
use crate::common::bank::{faults, verify_against_provider};
use crate::common::pot::{Pot, balances, card_hold, deposit, pot, provider_view, sandbox_raw, sound_ledger};
use reqwest::Method;
use serde_json::{Value, json};

async fn settle_hold(app: &TestApp, hold: &str, amount: &str) {
    let r = sandbox_raw(
        app,
        "/sandbox/utils/settle-hold",
        format!(r#"{{"holdId": "{hold}", "amount": {amount}}}"#),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn bank_fee(app: &TestApp, p: &Pot, amount: &str) {
    let r = sandbox_raw(
        app,
        "/sandbox/utils/bank-fee",
        format!(
            r#"{{"accountId": "{}", "amount": {amount}, "description": "Dishonour fee"}}"#,
            p.provider_account
        ),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn event_status(app: &TestApp, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(&app.pool).await.unwrap()
}

async fn equal_to_the_bank(app: &TestApp, p: &Pot, total: &str, available: &str) {
    balances(app, p, total, available).await;
    app.drain_all().await;
    let view = provider_view(app, p).await;
    assert_eq!(
        (view["balance"].to_string(), view["available"].to_string()),
        (total.to_string(), available.to_string()),
        "the bank's view"
    );
}

#[tokio::test]
async fn what_the_bank_reports_is_booked_even_below_zero_and_out_of_order() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "truth@example.com").await;
    deposit(&app, &p, "50.00", "npp-truth-1").await;
    equal_to_the_bank(&app, &p, "50.00", "50.00").await;

    // A settlement above its hold (a tip): the extra comes out of available.
    let hold = card_hold(&app, &p, "20.00").await.expect("covered");
    equal_to_the_bank(&app, &p, "50.00", "30.00").await;
    settle_hold(&app, &hold, "26.50").await;
    equal_to_the_bank(&app, &p, "23.50", "23.50").await;

    // A bank fee larger than what is left: booked, and the ktti is below zero.
    bank_fee(&app, &p, "30.00").await;
    equal_to_the_bank(&app, &p, "-6.50", "-6.50").await;
    let items: Value = app.get_auth("/api/v2/actions", &p.token).await.json().await.unwrap();
    let negative: Vec<&Value> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "negativeBalance")
        .collect();
    assert_eq!(negative.len(), 1, "the owner is told once: {items}");
    assert_eq!(negative[0]["payload"]["availableBalance"], "-6.50");

    // A second clearing of the same hold is a payment of its own, not dropped.
    settle_hold(&app, &hold, "5.00").await;
    equal_to_the_bank(&app, &p, "-11.50", "-11.50").await;
    let again: Value = app.get_auth("/api/v2/actions", &p.token).await.json().await.unwrap();
    assert_eq!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "negativeBalance")
            .count(),
        1,
        "one open item while it stays negative"
    );

    // A settlement that overtakes its hold is parked, not retried until it dies.
    deposit(&app, &p, "100.00", "npp-truth-2").await;
    equal_to_the_bank(&app, &p, "88.50", "88.50").await;
    faults(&app, json!({"withholdAuthorisations": true})).await;
    let late_hold = card_hold(&app, &p, "10.00").await.expect("covered");
    settle_hold(&app, &late_hold, "10.00").await;
    app.eventually("the settlement to be parked", || async {
        let parked = event_status(&app, "SELECT status FROM provider_events WHERE status = 'parked'").await;
        (parked.len() == 1).then_some(())
    })
    .await;
    app.drain_all().await;
    // Its job is done (nothing retries, nothing dies); it waits, however long.
    sqlx::query("UPDATE provider_events SET parked_at = now() - interval '30 minutes' WHERE status = 'parked'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE status <> 'done' AND kind <> 'notification.digest.v1'")
            .await,
        0,
        "no job is left retrying"
    );
    faults(&app, json!({})).await;
    let released = app.sandbox(Method::POST, "/sandbox/utils/release-webhooks", None).await;
    assert_eq!(released.json::<Value>().await.unwrap()["released"], 1);
    equal_to_the_bank(&app, &p, "78.50", "78.50").await;
    assert!(
        event_status(&app, "SELECT status FROM provider_events WHERE status <> 'applied'")
            .await
            .is_empty()
    );

    // Event by event, and account by account, our books equal the bank's.
    assert_eq!(
        app.count("SELECT count(*) FROM balance_mismatches WHERE resolved_at IS NULL")
            .await,
        0
    );
    sound_ledger(&app).await;
    let (code, out) = verify_against_provider(&app).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every account agrees with the provider"), "{out}");

    // A movement we never heard of (its webhook cannot be delivered) is a
    // difference: verify-ledger says so and exits 1.
    faults(&app, json!({"webhookErrorRate": 1.0})).await;
    bank_fee(&app, &p, "1.00").await;
    let (code, out) = verify_against_provider(&app).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PROVIDER DIFFERENCE"), "{out}");
    assert!(out.contains("provider total 77.50"), "{out}");
    faults(&app, json!({})).await;
    equal_to_the_bank(&app, &p, "77.50", "77.50").await;
    app.stop().await;
}

#[tokio::test]
async fn a_difference_from_the_bank_is_recorded_with_its_event() {
    let app = TestApp::spawn().await;
    let p = pot(&app, "drift@example.com").await;
    deposit(&app, &p, "40.00", "npp-drift").await;
    equal_to_the_bank(&app, &p, "40.00", "40.00").await;
    // A webhook claiming balances the bank never had: we book its movement, and
    // its figures disagree with ours afterwards.
    let customer: String =
        sqlx::query_scalar("SELECT provider_customer_id FROM users WHERE email = 'drift@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let raw = format!(
        r#"{{"customerHayId": "{customer}", "idempotencyKey": "evt-drift", "type": "TRANSACTION",
            "transactionEvent": {{"transactionHayId": "txn-drift", "accountHayId": "{}",
            "currencyAmount": {{"currency": "AUD", "amount": 5.00}}, "outcome": "ACCEPTED",
            "transactionTimeUtc": "2099-01-01T00:00:00.000Z", "transactionType": "GENERAL_DEBIT",
            "accountBalances": {{"totalBalance": {{"currency": "AUD", "amount": 36.00}},
                                 "availableBalance": {{"currency": "AUD", "amount": 36.00}}}}}}}}"#,
        p.provider_account
    );
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(app.provider_webhook(&body).await.status(), 204);
    balances(&app, &p, "35.00", "35.00").await;
    app.drain_all().await;
    let row: (String, rust_decimal::Decimal, Option<rust_decimal::Decimal>) = sqlx::query_as(
        "SELECT m.provider_account_id, m.ours_total, m.bank_total FROM balance_mismatches m \
         JOIN provider_events e ON e.id = m.event_id WHERE e.idempotency_key = 'evt-drift' \
         AND m.resolved_at IS NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.0, p.provider_account);
    assert_eq!(row.1.to_string(), "35.00");
    assert_eq!(row.2.map(|d| d.to_string()).as_deref(), Some("36.00"));
    app.stop().await;
}
