//! Quotas from configuration: KYC submissions per user per day and invitations
//! per ktti per day answer 429 with `Retry-After`; the cap on open group ktties
//! per user answers 409.

use crate::common::group::{group, person};
use crate::common::{TestApp, problem};
use serde_json::{Value, json};

fn kyc_body(last_name: &str) -> Value {
    json!({
        "firstName": "Ann", "lastName": last_name, "dateOfBirth": "1990-04-01",
        "address": {"line1": "1 George St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"},
        "idDocumentType": "driversLicence", "idDocumentNumber": "ab 123 456",
    })
}

async fn kyc_status(app: &TestApp, token: &str, want: &str) {
    app.eventually(&format!("KYC {want}"), || async {
        let view: Value = app.get_auth("/api/v2/users/me/kyc", token).await.json().await.ok()?;
        (view["status"] == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn kyc_submissions_are_limited_per_day() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_KYC_SUBMISSIONS_PER_DAY".into(), "2".into());
    })
    .await;
    let t = app.user("retry@example.com").await;
    for _ in 0..2 {
        let r = app
            .post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Rejected"))
            .await;
        assert_eq!(r.status(), 202);
        kyc_status(&app, &t.access_token, "rejected").await;
    }
    let third = app
        .post_auth("/api/v2/users/me/kyc", &t.access_token, kyc_body("Lee"))
        .await;
    let wait: u64 = third.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 86_000, "back in about a day: {wait}");
    problem(third, 429, "rate_limited").await;
    assert_eq!(
        app.count("SELECT count(*) FROM kyc_submissions").await,
        2,
        "nothing stored"
    );
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn invitations_per_ktti_per_day_and_open_ktties_per_user_are_capped() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_INVITATIONS_PER_KTTI_PER_DAY".into(), "2".into());
        v.insert("KTTIPAY_GROUP_KTTIES_PER_USER".into(), "1".into());
    })
    .await;
    let owner = person(&app, "cap@example.com").await;
    let k = group(&app, &owner, json!({"name": "Only one"})).await;
    let id = k["id"].as_str().unwrap();
    let path = format!("/api/v2/ktties/{id}/invitations");
    let invite = |n: u32| app.post_auth(&path, &owner.token, json!({"email": format!("friend{n}@example.com")}));
    assert_eq!(invite(1).await.status(), 201);
    assert_eq!(invite(2).await.status(), 201);
    let third = invite(3).await;
    assert!(third.headers().contains_key("retry-after"));
    problem(third, 429, "rate_limited").await;
    assert_eq!(app.count("SELECT count(*) FROM invitations").await, 2);

    let second = app
        .post_auth("/api/v2/ktties", &owner.token, json!({"name": "Another"}))
        .await;
    problem(second, 409, "quota_exceeded").await;
    let config: Value = app
        .client
        .get(app.url("/api/v2/core/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["limits"]["groupKttiesPerUser"], 1);
    assert_eq!(config["limits"]["invitationsPerKttiPerDay"], 2);
    app.drain_all().await;
    app.stop().await;
}
