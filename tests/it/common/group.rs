//! Group ktti helpers: verified people, a group set up at the bank, and the
//! routes the membership tests call again and again.

use super::pot::sandbox_raw;
use super::{TestApp, Tokens};
use reqwest::Method;
use serde_json::{Value, json};

/// A verified user (with their personal ktti) and their id.
pub struct Person {
    pub token: String,
    pub id: String,
    pub email: String,
}

pub async fn person(app: &TestApp, email: &str) -> Person {
    let (t, _) = app.verified_with_ktti(email).await;
    person_of(app, email, &t).await
}

/// A verified user whose KYC-verified name is `first last`.
pub async fn person_named(app: &TestApp, email: &str, first: &str, last: &str) -> Person {
    let (t, _) = app.verified_named(email, first, last).await;
    person_of(app, email, &t).await
}

pub async fn person_of(app: &TestApp, email: &str, t: &Tokens) -> Person {
    let me: Value = app
        .get_auth("/api/v2/users/me", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    Person {
        token: t.access_token.clone(),
        id: me["id"].as_str().unwrap().to_string(),
        email: email.to_string(),
    }
}

/// Creates a group ktti (v3 body) and waits until the bank has set it up.
pub async fn group(app: &TestApp, owner: &Person, body: Value) -> Value {
    let r = app.post_auth("/api/v3/ktties", &owner.token, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    active(app, &owner.token, &id).await
}

/// The ktti as `token`'s user reads it (200 asserted by the JSON parse).
pub async fn ktti(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_auth(&format!("/api/v2/ktties/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

pub async fn active(app: &TestApp, token: &str, id: &str) -> Value {
    app.eventually("the group ktti to be active", || async {
        let k: Value = app
            .get_auth(&format!("/api/v2/ktties/{id}"), token)
            .await
            .json()
            .await
            .ok()?;
        (k["status"] == "active").then_some(k)
    })
    .await
}

pub async fn join(app: &TestApp, who: &Person, code: &str) -> reqwest::Response {
    app.post_auth("/api/v2/ktties/join", &who.token, json!({ "referralCode": code }))
        .await
}

pub async fn members(app: &TestApp, token: &str, ktti: &str) -> Vec<Value> {
    let v: Value = app
        .get_auth(&format!("/api/v2/ktties/{ktti}/members"), token)
        .await
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

pub async fn actions(app: &TestApp, token: &str) -> Vec<Value> {
    let v: Value = app.get_auth("/api/v2/actions", token).await.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

pub async fn decide(app: &TestApp, token: &str, uuid: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, &format!("/api/v2/actions/{uuid}"), token, Some(body))
        .await
}

/// Waits until `who` holds a live card on the ktti (the join job opened it).
pub async fn card(app: &TestApp, who: &Person, ktti: &str) -> Value {
    app.eventually("the member's card", || async {
        let r = app.get_auth(&format!("/api/v2/ktties/{ktti}/card"), &who.token).await;
        if r.status() != 200 {
            return None;
        }
        r.json::<Value>().await.ok()
    })
    .await
}

/// Who a bank transfer into a ktti comes from.
pub struct Sender<'a> {
    pub name: &'a str,
    pub bsb: &'a str,
    pub account: &'a str,
    pub reference: &'a str,
}

/// A bank transfer into a ktti through the sandbox's NPP mock.
pub async fn pay_in(app: &TestApp, banking: &Value, amount: &str, key: &str, s: &Sender<'_>) {
    let raw = format!(
        r#"{{"amount": {amount}, "description": "transfer", "idempotencyKey": "{key}", "receiverAccountNumber": "{}", "receiverBsb": "{}", "receiverName": "Group", "reference": "{}", "senderAccountNumber": "{}", "senderBsb": "{}", "senderName": "{}"}}"#,
        banking["accountNumber"].as_str().unwrap(),
        banking["bsb"].as_str().unwrap(),
        s.reference,
        s.account,
        s.bsb,
        s.name
    );
    let r = sandbox_raw(app, "/v0/utils/generate-npp-inbound", raw).await;
    assert_eq!(r.status(), 200);
}

/// `who` pays `amount` into `ktti` with their own deposit reference, from an
/// account of theirs.
pub async fn member_pays_in(app: &TestApp, bank: &Value, who: &Person, ktti: &str, amount: &str, key: &str) {
    let reference = banking(app, who, ktti).await["depositReference"]
        .as_str()
        .unwrap()
        .to_string();
    let from = Sender {
        name: "A MEMBER",
        bsb: "062000",
        account: "99887766",
        reference: &reference,
    };
    pay_in(app, bank, amount, key, &from).await;
}

/// The deposit with this amount, once it has landed.
pub async fn deposit(app: &TestApp, token: &str, ktti: &str, amount: &str) -> Value {
    app.eventually(&format!("the deposit of {amount}"), || async {
        let page: Value = app
            .get_auth(
                &format!("/api/v2/ktties/{ktti}/transactions?type=deposit&pageSize=100"),
                token,
            )
            .await
            .json()
            .await
            .ok()?;
        page["items"]
            .as_array()?
            .iter()
            .find(|t| t["amount"] == amount)
            .cloned()
    })
    .await
}

pub async fn banking(app: &TestApp, p: &Person, ktti: &str) -> Value {
    app.get_auth(&format!("/api/v2/ktties/{ktti}/banking"), &p.token)
        .await
        .json()
        .await
        .unwrap()
}
