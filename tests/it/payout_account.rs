//! The bank account a user nominates for payouts: checked like the bank checks a
//! transfer's destination, set only with the password, emailed about on every
//! change, and nobody else's business.

use crate::common::{PASSWORD, TestApp, error_fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

const PATH: &str = "/api/v2/settings/payout-account";

fn account(bsb: &str, number: &str, name: &str, password: &str) -> Value {
    json!({"bsb": bsb, "accountNumber": number, "accountName": name, "currentPassword": password})
}

#[tokio::test]
async fn a_payout_account_needs_the_password_is_validated_and_every_change_is_emailed() {
    let app = TestApp::spawn().await;
    let me = app.user("ana@example.com").await;
    let token = &me.access_token;
    problem(app.get_auth(PATH, token).await, 404, "payout_account_not_found").await;

    // Bad details: every field named, nothing stored, no email.
    let p = problem(
        app.send(Method::PUT, PATH, token, Some(account("06200", "12ab", " ", PASSWORD)))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["bsb", "accountNumber", "accountName"]);
    // A stolen token is not enough.
    problem(
        app.send(
            Method::PUT,
            PATH,
            token,
            Some(account("062-000", "12345678", "Ana Silva", "not it")),
        )
        .await,
        422,
        "wrong_password",
    )
    .await;
    problem(app.get_auth(PATH, token).await, 404, "payout_account_not_found").await;
    app.drain_all().await;
    assert!(app.smtp.messages_to("ana@example.com").is_empty());

    // The real thing: stored as digits, shown back, emailed without the full number.
    let r = app
        .send(
            Method::PUT,
            PATH,
            token,
            Some(account("062-000", "1234 5678", "Ana Silva", PASSWORD)),
        )
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(
        (&view["bsb"], &view["accountNumber"], &view["accountName"]),
        (&json!("062000"), &json!("12345678"), &json!("Ana Silva"))
    );
    let read: Value = app.get_auth(PATH, token).await.json().await.unwrap();
    assert_eq!(read, view);
    app.drain_all().await;
    let mails = app.smtp.messages_to("ana@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].data.contains("Your payout account changed"));
    assert!(mails[0].data.contains("062-000") && mails[0].data.contains("678"));
    assert!(
        !mails[0].data.contains("12345678"),
        "the full account number is not emailed"
    );

    // Someone else has their own, or none.
    let other = app.user("bea@example.com").await;
    problem(
        app.get_auth(PATH, &other.access_token).await,
        404,
        "payout_account_not_found",
    )
    .await;

    // Removing it needs no password (payouts go back to the user's own personal
    // ktti), and is emailed too.
    let r = app.send(Method::DELETE, PATH, token, None).await;
    assert_eq!(r.status(), 204);
    problem(app.get_auth(PATH, token).await, 404, "payout_account_not_found").await;
    problem(
        app.send(Method::DELETE, PATH, token, None).await,
        404,
        "payout_account_not_found",
    )
    .await;
    app.drain_all().await;
    let mails = app.smtp.messages_to("ana@example.com");
    assert_eq!(mails.len(), 2);
    assert!(mails[1].data.contains("personal ktti"));
    app.stop().await;
}
