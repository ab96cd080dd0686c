//! Devices: FCM tokens and app details, saved per device, validated, and a token
//! that moves to another account leaves the old one.

use crate::common::{TestApp, error_fields, problem};
use serde_json::json;

#[tokio::test]
async fn devices_save_tokens_and_details_and_a_token_follows_its_phone() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let save = |token: &str, body: serde_json::Value| {
        let (app, token) = (&app, token.to_string());
        async move { app.post_auth("/api/v2/devices/fcm-token", &token, body).await }
    };

    let r = save(
        &ann.access_token,
        json!({"deviceId": "phone-1", "token": "fcm-abc", "platform": "ios"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    // Saving again updates the same device.
    let r = save(
        &ann.access_token,
        json!({"deviceId": "phone-1", "token": "fcm-def", "platform": "ios"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.count("SELECT count(*) FROM devices").await, 1);
    let r = app
        .post_auth(
            "/api/v2/devices/app-details",
            &ann.access_token,
            json!({"deviceId": "phone-1", "appVersion": "2.4.1", "osVersion": "iOS 19.1", "model": "iPhone 17", "locale": "en_AU"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let (platform, token, version, locale): (String, String, String, String) =
        sqlx::query_as("SELECT platform, fcm_token, app_version, locale FROM devices WHERE device_id = 'phone-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (platform.as_str(), token.as_str(), version.as_str(), locale.as_str()),
        ("ios", "fcm-def", "2.4.1", "en-AU")
    );

    // The phone changes hands: Bob's login registers the same token; Ann's device loses it.
    let r = save(
        &bob.access_token,
        json!({"deviceId": "phone-1", "token": "fcm-def", "platform": "ios"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM devices WHERE fcm_token = 'fcm-def'")
            .await,
        1
    );
    let owner: String = sqlx::query_scalar(
        "SELECT u.email::text FROM devices d JOIN users u ON u.id = d.user_id WHERE d.fcm_token = 'fcm-def'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owner, "bob@example.com");

    // Bad values are named and change nothing.
    let body = problem(
        save(
            &ann.access_token,
            json!({"deviceId": "", "token": "has space", "platform": "ios"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["deviceId", "token"]);
    // The platform is an enum in the document: anything else is refused by name.
    let body = problem(
        save(
            &ann.access_token,
            json!({"deviceId": "phone-9", "token": "fcm-x", "platform": "windows"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["platform"]);
    let body = problem(
        app.post_auth(
            "/api/v2/devices/app-details",
            &ann.access_token,
            json!({"deviceId": "phone-1", "appVersion": "", "osVersion": "x", "model": "y", "locale": "english please"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "appVersion");
    assert_eq!(body["errors"][1]["field"], "locale");
    assert_eq!(
        app.count("SELECT count(*) FROM devices").await,
        2,
        "Ann's device and Bob's"
    );
    app.stop().await;
}
