//! A verified user's personal ktti with its banking details, and the sandbox
//! calls that move money on it, shared by the money tests.

use super::TestApp;
use reqwest::Method;
use serde_json::Value;

pub struct Pot {
    pub token: String,
    pub id: String,
    pub bsb: String,
    pub account: String,
    pub provider_account: String,
    pub card_token: String,
}

pub async fn pot(app: &TestApp, email: &str) -> Pot {
    let (t, k) = app.verified_with_ktti(email).await;
    let id = k["id"].as_str().unwrap().to_string();
    let banking: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/banking"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let card: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/card"), &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    Pot {
        token: t.access_token,
        id,
        bsb: banking["bsb"].as_str().unwrap().into(),
        account: banking["accountNumber"].as_str().unwrap().into(),
        provider_account: banking["providerAccountId"].as_str().unwrap().into(),
        card_token: card["cardToken"].as_str().unwrap().into(),
    }
}

pub async fn deposit(app: &TestApp, p: &Pot, amount: &str, key: &str) {
    // Built as text: the provider's amounts are JSON numbers, written exactly.
    let raw = format!(
        r#"{{"amount": {amount}, "description": "top up", "idempotencyKey": "{key}", "receiverAccountNumber": "{}", "receiverBsb": "{}", "receiverName": "Pia Lee", "reference": "ref", "senderAccountNumber": "123456789", "senderBsb": "062000", "senderName": "PIA LEE"}}"#,
        p.account, p.bsb
    );
    let r = sandbox_raw(app, "/v0/utils/generate-npp-inbound", raw).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

pub async fn ktti(app: &TestApp, p: &Pot) -> Value {
    app.get_auth(&format!("/api/v2/ktties/{}", p.id), &p.token)
        .await
        .json()
        .await
        .unwrap()
}

pub async fn transactions(app: &TestApp, p: &Pot, query: &str) -> Vec<Value> {
    let page: Value = app
        .get_auth(&format!("/api/v2/ktties/{}/transactions?{query}", p.id), &p.token)
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

/// Waits until the ktti shows these balances (webhooks arrive asynchronously).
pub async fn balances(app: &TestApp, p: &Pot, total: &str, available: &str) {
    app.eventually(&format!("balances {total}/{available}"), || async {
        let k = ktti(app, p).await;
        (k["totalBalance"] == total && k["availableBalance"] == available).then_some(())
    })
    .await;
}

pub async fn provider_view(app: &TestApp, p: &Pot) -> Value {
    app.sandbox(Method::GET, &format!("/sandbox/accounts/{}", p.provider_account), None)
        .await
        .json()
        .await
        .unwrap()
}

pub async fn sound_ledger(app: &TestApp) {
    let mut conn = app.pool.acquire().await.unwrap();
    let report = kttipay_db::ledger::verify(&mut conn).await.unwrap();
    assert!(report.is_sound(), "{report:?}");
}

/// Posts raw JSON text to a sandbox route (the provider's amounts are JSON
/// numbers, so bodies are written as text to keep them exact).
pub async fn sandbox_raw(app: &TestApp, path: &str, raw: String) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.shaype_base_url))
        .bearer_auth(&app.config.shaype_api_token)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// Authorises a card payment at the sandbox; the hold id when accepted.
pub async fn card_hold(app: &TestApp, p: &Pot, amount: &str) -> Option<String> {
    let r = sandbox_raw(
        app,
        "/v0/utils/generate-auth-hold",
        format!(r#"{{"amount": {amount}, "cardToken": "{}"}}"#, p.card_token),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    message
        .strip_prefix("hold ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}
