//! Registration and authentication, driven over HTTP against the real app.

use crate::common::{PASSWORD, TestApp, error_fields, problem, registration};
use serde_json::{Value, json};

#[tokio::test]
async fn register_verify_set_password_login_and_read_me() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/api/v2/registration", registration(" Ann@Example.com "))
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"email": "ann@example.com", "status": "verificationEmailSent"})
    );

    app.drain().await;
    let mails = app.smtp.messages_to("ann@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].data.contains("Finish signing up"));
    assert!(mails[0].data.contains("text/html"), "has an HTML part");

    // Not yet able to log in: no password.
    let r = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;

    let token = app.last_token("ann@example.com", "Your registration code: ");
    let r = app
        .post(
            "/api/v2/registration/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 204);
    // The token is single-use.
    let r = app
        .post(
            "/api/v2/registration/password",
            json!({"token": token, "password": "another good one"}),
        )
        .await;
    problem(r, 422, "invalid_token").await;

    let tokens = app.login("ANN@example.com", PASSWORD).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    let me: Value = app
        .get_auth("/api/v2/users/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["firstName"], "Ann");
    assert_eq!(me["phone"], "+61412345678");
    assert_eq!(me["dateOfBirth"], "1990-04-01");
    assert_eq!(me["kycStatus"], "notStarted");
    assert_eq!(me["blocked"], false);
    assert_eq!(me["emailVerified"], true);
    app.stop().await;
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let raw = app
        .client
        .post(app.url("/api/v2/registration"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    problem(raw, 400, "malformed_request").await;

    let mut missing = registration("a@example.com");
    missing.as_object_mut().unwrap().remove("phone");
    let body = problem(
        app.post("/api/v2/registration", missing).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"], json!([{"field": "phone", "message": "is required"}]));

    let wrong_type =
        json!({"email": 5, "firstName": "A", "lastName": "B", "phone": "0412345678", "dateOfBirth": "1990-01-01"});
    let body = problem(
        app.post("/api/v2/registration", wrong_type).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");

    let all_bad =
        json!({"email": "nope", "firstName": " ", "lastName": "Lee", "phone": "12", "dateOfBirth": "2015-01-01"});
    let body = problem(
        app.post("/api/v2/registration", all_bad).await,
        422,
        "validation_failed",
    )
    .await;
    let fields = error_fields(&body);
    assert_eq!(fields, ["email", "firstName", "phone", "dateOfBirth"]);

    let no_type = app
        .client
        .post(app.url("/api/v2/registration"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 415);

    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn registering_a_taken_address_does_not_reveal_it() {
    let app = TestApp::spawn().await;
    app.signed_up("bo@example.com").await;
    let r = app.post("/api/v2/registration", registration("bo@example.com")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"email": "bo@example.com", "status": "verificationEmailSent"})
    );
    app.drain().await;
    let mails = app.smtp.messages_to("bo@example.com");
    assert_eq!(mails.len(), 2);
    assert!(mails[1].data.contains("already has an account"));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    // Still signed in with the original password.
    app.login("bo@example.com", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_and_detects_a_different_body() {
    let app = TestApp::spawn().await;
    let send = |body: Value| {
        app.client
            .post(app.url("/api/v2/registration"))
            .header("Idempotency-Key", "reg-1")
            .json(&body)
            .send()
    };
    let first = send(registration("cy@example.com")).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = send(registration("cy@example.com")).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs").await,
        1,
        "the replay enqueued nothing"
    );

    problem(
        send(registration("other@example.com")).await.unwrap(),
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);

    // Concurrent twins with one key: one effect.
    let twins = futures::future::join_all((0..5).map(|_| {
        app.client
            .post(app.url("/api/v2/registration"))
            .header("Idempotency-Key", "reg-2")
            .json(&registration("dee@example.com"))
            .send()
    }))
    .await;
    assert!(twins.iter().all(|r| r.as_ref().unwrap().status() == 201));
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn login_failures_look_alike_and_are_rate_limited() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_ACCOUNT".into(), "3".into());
    })
    .await;
    app.signed_up("eve@example.com").await;
    let wrong = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "eve@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    let a = problem(wrong, 401, "invalid_credentials").await;
    let b = problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(a["detail"], b["detail"]);

    let empty = app
        .post("/api/v2/auth/login", json!({"email": "", "password": ""}))
        .await;
    problem(empty, 422, "validation_failed").await;

    // eve has used 2 of 3 attempts (signed_up's login and the wrong one).
    let third = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "eve@example.com", "password": "wrong again!"}),
        )
        .await;
    problem(third, 401, "invalid_credentials").await;
    let limited = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "eve@example.com", "password": PASSWORD}),
        )
        .await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    problem(limited, 429, "rate_limited").await;
    app.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("fay@example.com").await;
    let r = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": first.refresh_token}))
        .await;
    assert_eq!(r.status(), 200);
    let second: crate::common::Tokens = r.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        app.get_auth("/api/v2/users/me", &second.access_token).await.status(),
        200
    );

    // The rotated token again, past the grace window: theft signal, the whole
    // family dies. (The window is moved into the past rather than waited out.)
    sqlx::query("UPDATE refresh_tokens SET used_at = used_at - interval '11 seconds' WHERE used_at IS NOT NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let reuse = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": first.refresh_token}))
        .await;
    problem(reuse, 401, "refresh_token_reused").await;
    let after = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": second.refresh_token}))
        .await;
    problem(after, 401, "invalid_refresh_token").await;
    problem(
        app.get_auth("/api/v2/users/me", &second.access_token).await,
        401,
        "session_revoked",
    )
    .await;

    let garbage = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": "garbage"}))
        .await;
    problem(garbage, 401, "invalid_refresh_token").await;
    app.stop().await;
}

#[tokio::test]
async fn two_refreshes_racing_with_one_token_both_get_the_same_pair() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("twin@example.com").await;
    let refresh = || app.post("/api/v2/auth/refresh", json!({"refreshToken": first.refresh_token}));
    let (a, b) = tokio::join!(refresh(), refresh());
    assert_eq!(
        (a.status(), b.status()),
        (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
    );
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["refreshToken"], b["refreshToken"], "the same new pair");
    assert_eq!(a["accessToken"], b["accessToken"]);
    assert_ne!(a["refreshToken"], first.refresh_token.as_str());
    // The session lives on, and the shared new token rotates normally once.
    let token = a["accessToken"].as_str().unwrap();
    assert_eq!(app.get_auth("/api/v2/users/me", token).await.status(), 200);
    let next = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": a["refreshToken"]}))
        .await;
    assert_eq!(next.status(), 200);
    // Once the pair has moved on, the old token is reuse even inside the window.
    let late = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": first.refresh_token}))
        .await;
    problem(late, 401, "refresh_token_reused").await;
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session_only() {
    let app = TestApp::spawn().await;
    let phone = app.signed_up("gus@example.com").await;
    let laptop = app.login("gus@example.com", PASSWORD).await;
    let r = app
        .post_auth(
            "/api/v2/auth/logout",
            &phone.access_token,
            json!({"refreshToken": phone.refresh_token}),
        )
        .await;
    assert_eq!(r.status(), 204);
    problem(
        app.get_auth("/api/v2/users/me", &phone.access_token).await,
        401,
        "session_revoked",
    )
    .await;
    let r = app
        .post("/api/v2/auth/refresh", json!({"refreshToken": phone.refresh_token}))
        .await;
    problem(r, 401, "invalid_refresh_token").await;
    assert_eq!(
        app.get_auth("/api/v2/users/me", &laptop.access_token).await.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_401() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_up("hal@example.com").await;
    let none = app.client.get(app.url("/api/v2/users/me")).send().await.unwrap();
    problem(none, 401, "unauthorized").await;

    let claims_of = |secret: &str, exp_offset: i64| {
        let payload: Value = {
            let part = tokens.access_token.split('.').nth(1).unwrap();
            use base64::Engine;
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        let mut claims = payload.clone();
        claims["exp"] = json!(chrono::Utc::now().timestamp() + exp_offset);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let forged = claims_of("a-different-secret-of-enough-length!!", 600);
    problem(app.get_auth("/api/v2/users/me", &forged).await, 401, "invalid_token").await;
    let expired = claims_of("test-secret-that-is-at-least-32-bytes-long", -600);
    problem(app.get_auth("/api/v2/users/me", &expired).await, 401, "invalid_token").await;
    let genuine = claims_of("test-secret-that-is-at-least-32-bytes-long", 600);
    assert_eq!(app.get_auth("/api/v2/users/me", &genuine).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn password_reset_by_email() {
    let app = TestApp::spawn().await;
    let old = app.signed_up("ida@example.com").await;

    // Unknown address: same answer, nothing sent.
    let r = app
        .post("/api/v2/users/password-reset", json!({"email": "ghost@example.com"}))
        .await;
    assert_eq!(r.status(), 202);
    let r = app
        .post("/api/v2/users/password-reset", json!({"email": "ida@example.com"}))
        .await;
    assert_eq!(r.status(), 202);
    app.drain().await;
    assert!(app.smtp.messages_to("ghost@example.com").is_empty());
    let token = app.last_token("ida@example.com", "Your reset code: ");

    let weak = app
        .client
        .put(app.url("/api/v2/users/password"))
        .json(&json!({"token": token, "password": "short"}))
        .send()
        .await
        .unwrap();
    problem(weak, 422, "weak_password").await;
    let r = app
        .client
        .put(app.url("/api/v2/users/password"))
        .json(&json!({"token": token, "password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let again = app
        .client
        .put(app.url("/api/v2/users/password"))
        .json(&json!({"token": token, "password": "yet another secret"}))
        .send()
        .await
        .unwrap();
    problem(again, 422, "invalid_token").await;

    // Every session ended; only the new password works.
    problem(
        app.get_auth("/api/v2/users/me", &old.access_token).await,
        401,
        "session_revoked",
    )
    .await;
    let r = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "ida@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;
    app.login("ida@example.com", "a brand new secret").await;
    app.stop().await;
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let here = app.signed_up("jo@example.com").await;
    let elsewhere = app.login("jo@example.com", PASSWORD).await;
    let change = |current: &str, new: &str| {
        app.client
            .put(app.url("/api/v2/settings/password"))
            .bearer_auth(&here.access_token)
            .json(&json!({"currentPassword": current, "newPassword": new}))
            .send()
    };
    problem(
        change("not my password", "a fine new password").await.unwrap(),
        422,
        "wrong_password",
    )
    .await;
    problem(change(PASSWORD, "tiny").await.unwrap(), 422, "weak_password").await;
    assert_eq!(
        app.get_auth("/api/v2/users/me", &elsewhere.access_token).await.status(),
        200,
        "rejections change nothing"
    );

    assert_eq!(change(PASSWORD, "a fine new password").await.unwrap().status(), 204);
    assert_eq!(app.get_auth("/api/v2/users/me", &here.access_token).await.status(), 200);
    problem(
        app.get_auth("/api/v2/users/me", &elsewhere.access_token).await,
        401,
        "session_revoked",
    )
    .await;
    app.login("jo@example.com", "a fine new password").await;
    app.stop().await;
}

#[tokio::test]
async fn profile_updates_validate_every_field() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("kim@example.com").await;
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v2/settings/profile"))
            .bearer_auth(&t.access_token)
            .json(&body)
            .send()
    };
    let body = problem(
        patch(json!({"firstName": "", "phone": "abc"})).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let me: Value = app
        .get_auth("/api/v2/users/me", &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["firstName"], "Ann", "rejected patch changed nothing");

    let avatar = crate::common::uploads::uploaded(
        &app,
        &t.access_token,
        "avatar",
        "image/png",
        crate::common::uploads::tiny_png(),
    )
    .await;
    let r = patch(json!({"firstName": "Kim", "phone": "+61 400 000 000", "avatarKey": avatar}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["firstName"].as_str(), me["lastName"].as_str()),
        (Some("Kim"), Some("Lee"))
    );
    assert_eq!(me["phone"], "+61400000000");
    assert_eq!(me["avatarKey"], avatar.as_str());
    let me: Value = patch(json!({"avatarKey": ""})).await.unwrap().json().await.unwrap();
    assert_eq!(me["avatarKey"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn blocked_users_lose_their_sessions_and_admin_routes_hide_from_others() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_up("lu@example.com").await;
    let me: Value = app
        .get_auth("/api/v2/users/me", &user.access_token)
        .await
        .json()
        .await
        .unwrap();
    let id = me["id"].as_str().unwrap();

    // Not staff: the admin routes do not exist for you.
    problem(
        app.post_auth(
            &format!("/api/v2/admin/users/{id}/block"),
            &user.access_token,
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.get_auth("/api/v2/admin/jobs", &user.access_token).await,
        404,
        "not_found",
    )
    .await;

    let r = app
        .post_auth(
            &format!("/api/v2/admin/users/{id}/block"),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    problem(
        app.get_auth("/api/v2/users/me", &user.access_token).await,
        401,
        "session_revoked",
    )
    .await;
    let r = app
        .post(
            "/api/v2/auth/login",
            json!({"email": "lu@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, 403, "account_blocked").await;

    let r = app
        .post_auth(
            &format!("/api/v2/admin/users/{id}/unblock"),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    app.login("lu@example.com", PASSWORD).await;

    let ghost = uuid::Uuid::new_v4();
    let r = app
        .post_auth(
            &format!("/api/v2/admin/users/{ghost}/block"),
            &admin.access_token,
            json!({}),
        )
        .await;
    problem(r, 404, "user_not_found").await;
    let r = app
        .post_auth("/api/v2/admin/users/not-a-uuid/block", &admin.access_token, json!({}))
        .await;
    let body = problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "userId", "the bad parameter is named");
    app.stop().await;
}

#[tokio::test]
async fn every_route_rejects_bad_bodies_and_missing_tokens_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.signed_up("zed@example.com").await;
    let before = (
        app.count("SELECT count(*) FROM users").await,
        app.count("SELECT count(*) FROM jobs").await,
    );
    // (method, path, needs a token, a required field)
    let routes = [
        ("POST", "/api/v2/registration", false, "email"),
        ("POST", "/api/v2/registration/password", false, "token"),
        ("POST", "/api/v2/auth/login", false, "email"),
        ("POST", "/api/v2/auth/login/social", false, "provider"),
        ("POST", "/api/v2/auth/refresh", false, "refreshToken"),
        ("POST", "/api/v2/users/password-reset", false, "email"),
        ("PUT", "/api/v2/users/password", false, "token"),
        ("PUT", "/api/v2/settings/password", true, "currentPassword"),
        ("POST", "/api/v2/devices/fcm-token", true, "deviceId"),
        ("POST", "/api/v2/devices/app-details", true, "deviceId"),
    ];
    for (method, path, auth, field) in routes {
        let req = |body: &'static str| {
            let mut r = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .header("content-type", "application/json")
                .body(body);
            if auth {
                r = r.bearer_auth(&t.access_token);
            }
            r.send()
        };
        let r = req("{\"broken\": ").await.unwrap();
        assert_eq!(r.status(), 400, "{method} {path} malformed");
        problem(r, 400, "malformed_request").await;
        let r = req("{}").await.unwrap();
        let body = problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{method} {path}");
    }
    for (method, path) in [
        ("GET", "/api/v2/users/me"),
        ("PUT", "/api/v2/settings/password"),
        ("PATCH", "/api/v2/settings/profile"),
        ("POST", "/api/v2/auth/logout"),
        ("GET", "/api/v2/admin/jobs"),
    ] {
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
        problem(r, 401, "unauthorized").await;
    }
    let after = (
        app.count("SELECT count(*) FROM users").await,
        app.count("SELECT count(*) FROM jobs").await,
    );
    assert_eq!(before, after);
    app.stop().await;
}
