//! The OpenAPI document tells the truth about what the server accepts: money is
//! exactly a two-decimal string, a mistyped parameter is a 422 naming it, text
//! with a NUL character is refused before any query, and an oversized webhook
//! is 413.

use crate::common::group::person;
use crate::common::{TestApp, problem};
use serde_json::json;

#[tokio::test]
async fn money_strings_are_exactly_what_the_document_says() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "money@example.com").await;
    for bad in ["1000", ".50", " 12.50", "12.5", "1e3"] {
        let r = app
            .post_auth(
                "/api/v2/ktties",
                &owner.token,
                json!({"name": "Trip", "targetAmount": bad}),
            )
            .await;
        let body = problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "targetAmount", "{bad:?}: {body}");
    }
    let ok = app
        .post_auth(
            "/api/v2/ktties",
            &owner.token,
            json!({"name": "Trip", "targetAmount": "1000.00"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(app.count("SELECT count(*) FROM ktties WHERE kind = 'group'").await, 1);
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_and_nul_characters_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let t = app.user("params@example.com").await;
    for (path, field) in [
        ("/api/v2/transactions?page=-1", "page"),
        ("/api/v2/transactions?from=notadate", "from"),
        ("/api/v2/ktties/not-a-uuid", "kttiId"),
        ("/api/v2/ktties?q=a%00b", "q"),
    ] {
        let body = problem(app.get_auth(path, &t.access_token).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            !detail.contains("int32") && !detail.contains("failed to parse"),
            "{detail}"
        );
    }
    let r = app
        .send(
            reqwest::Method::PATCH,
            "/api/v2/settings/profile",
            &t.access_token,
            Some(json!({"firstName": "Ann\u{0}"})),
        )
        .await;
    let body = problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "firstName");
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_webhook_is_413() {
    let app = TestApp::spawn().await;
    let huge = format!(r#"{{"padding": "{}"}}"#, "x".repeat(300 * 1024));
    let r = app
        .client
        .post(app.url("/api/hay/v0/communications/notification"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, 413, "payload_too_large").await;
    app.stop().await;
}
