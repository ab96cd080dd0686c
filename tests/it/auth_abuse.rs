//! Abuse of the auth routes: bogus token confirmations cost no hashing and are
//! rate limited, as are password changes; a client cannot pick its own IP through
//! `X-Forwarded-For`; a stranger's unproven registration leaves nothing on the
//! real owner's account.

use crate::common::{PASSWORD, TestApp, problem, registration};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn bogus_token_confirmations_are_refused_then_limited_per_address() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP".into(), "5".into());
    })
    .await;
    let confirm = |token: String| {
        app.client
            .put(app.url("/api/v2/users/password"))
            .json(&json!({"token": token, "password": "a brand new password"}))
            .send()
    };
    for i in 0..5 {
        problem(confirm(format!("bogus-{i}")).await.unwrap(), 422, "invalid_token").await;
    }
    // The sixth from the same address is refused before any lookup.
    let limited = confirm("bogus-6".into()).await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429, "rate_limited").await;
    // Finishing a registration shares that budget: a token is a token.
    let r = app
        .post(
            "/api/v2/registration/password",
            json!({"token": "bogus", "password": "a brand new password"}),
        )
        .await;
    problem(r, 429, "rate_limited").await;
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_is_limited_per_account() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_ACCOUNT".into(), "3".into());
    })
    .await;
    let t = app.user("guess@example.com").await;
    let change = |current: &str| {
        app.send(
            Method::PUT,
            "/api/v2/settings/password",
            &t.access_token,
            Some(json!({"currentPassword": current, "newPassword": "another long password"})),
        )
    };
    for i in 0..3 {
        problem(change(&format!("wrong guess {i}")).await, 422, "wrong_password").await;
    }
    // A stolen access token is no way to guess the password either.
    problem(change(PASSWORD).await, 429, "rate_limited").await;
    app.stop().await;
}

#[tokio::test]
async fn the_client_address_is_read_from_the_right_of_x_forwarded_for() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_TRUST_FORWARDED_FOR".into(), "true".into());
        v.insert("KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP".into(), "3".into());
    })
    .await;
    let login = |forwarded: String, n: usize| {
        app.client
            .post(app.url("/api/v2/auth/login"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({"email": format!("nobody{n}@example.com"), "password": "whatever it is"}))
            .send()
    };
    // The client makes up a new left-most address every time; our proxy's entry
    // (the right-most) stays the same, and so does the budget.
    for n in 0..3 {
        let r = login(format!("198.51.100.{n}, 203.0.113.7"), n).await.unwrap();
        assert_eq!(r.status(), 401);
    }
    problem(
        login("198.51.100.99, 203.0.113.7".into(), 9).await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    // Another real client has its own budget.
    assert_eq!(login("203.0.113.8".into(), 10).await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn login_keys_are_validated_before_they_are_counted() {
    let app = TestApp::spawn().await;
    let long = format!("{}@example.com", "a".repeat(250));
    let r = app
        .post("/api/v2/auth/login", json!({"email": long, "password": "x"}))
        .await;
    problem(r, 422, "validation_failed").await;
    let r = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "nul\u{0}@example.com", "password": "x"}),
        )
        .await;
    problem(r, 422, "validation_failed").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unproven_registration_leaves_nothing_on_the_owners_account() {
    let app = TestApp::spawn().await;
    let email = "vera@example.com";
    // A stranger registers Vera's address first, with their own name and phone.
    let mut mallory = registration(email);
    mallory["firstName"] = json!("Mallory");
    mallory["lastName"] = json!("Evil");
    mallory["phone"] = json!("0499 999 999");
    assert_eq!(app.post("/api/v2/registration", mallory).await.status(), 201);
    app.drain().await;
    // Vera registers herself and proves the address with her own link.
    let mut vera = registration(email);
    vera["firstName"] = json!("Vera");
    vera["lastName"] = json!("Owner");
    vera["phone"] = json!("0412 000 111");
    assert_eq!(app.post("/api/v2/registration", vera).await.status(), 201);
    app.drain().await;
    let mails = app.smtp.messages_to(email);
    assert_eq!(mails.len(), 2);
    assert!(mails[1].data.contains("Vera"), "her email greets her");
    let token = app.last_token(email, "Your registration code: ");
    let r = app
        .post(
            "/api/v2/registration/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let t = app.login(email, PASSWORD).await;
    let me: Value = app
        .get_auth("/api/v2/users/me", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["firstName"], "Vera", "{me}");
    assert_eq!(me["lastName"], "Owner");
    assert_eq!(me["phone"], "+61412000111");
    // Nothing of the stranger's registration is left pending.
    assert_eq!(app.count("SELECT count(*) FROM registration_profiles").await, 0);
    app.stop().await;
}
