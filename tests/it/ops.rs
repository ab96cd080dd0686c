//! Operations surface: health, metrics, the OpenAPI document and docs page, and the
//! error format of requests that never reach a handler.

use crate::common::{TestApp, problem};
use serde_json::Value;

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let app = TestApp::spawn().await;
    let live = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready: Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");

    let tokens = app.signed_up("vic@example.com").await;
    let me = app
        .client
        .get(app.url("/api/v2/users/me"))
        .bearer_auth(&tokens.access_token)
        .header("X-Request-Id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(me.headers()["x-request-id"], "trace-me-123");
    let other = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(other.headers()["x-request-id"].len(), 36, "a generated UUID");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"kttipay_http_requests_total{route="getMe",status="200"}"#,
        r#"kttipay_http_requests_total{route="register",status="201"}"#,
        "kttipay_http_request_duration_seconds_bucket{route=\"login\"",
        r#"kttipay_jobs_total{kind="email.v1",outcome="done"}"#,
        "kttipay_outbox_backlog",
    ] {
        assert!(metrics.contains(expected), "metrics lack {expected}");
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_answer_only_the_operators_token_when_one_is_set() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_METRICS_TOKEN".into(), "operators-only-token".into());
    })
    .await;
    let get = |token: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    problem(get(None).await.unwrap(), 401, "metrics_token_required").await;
    problem(get(Some("guess")).await.unwrap(), 401, "metrics_token_required").await;
    let ok = get(Some("operators-only-token")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("kttipay_http_requests_total"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_problem_json() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v2/nothing-here")).send().await.unwrap();
    problem(r, 404, "not_found").await;
    // A 405 names the methods the path does allow.
    let allow = |r: &reqwest::Response| r.headers()["allow"].to_str().unwrap().to_string();
    let r = app.client.get(app.url("/api/v2/auth/login")).send().await.unwrap();
    assert_eq!(allow(&r), "POST");
    problem(r, 405, "method_not_allowed").await;
    let r = app.client.delete(app.url("/api/v2/users/me")).send().await.unwrap();
    assert_eq!(allow(&r), "GET");
    problem(r, 405, "method_not_allowed").await;
    let ktti = app.url(&format!("/api/v2/ktties/{}", uuid::Uuid::now_v7()));
    let r = app.client.delete(ktti).send().await.unwrap();
    assert_eq!(allow(&r), "GET, PATCH");
    problem(r, 405, "method_not_allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_and_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let spec: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v2/auth/login/social"));
    // Every operation has a stable id and documents problem+json errors.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path} lacks an operationId");
            assert!(
                op["responses"]["422"]["content"]["application/problem+json"].is_object(),
                "{method} {path}"
            );
        }
    }
    let docs = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("<html"));
    app.stop().await;
}

/// The checked-in `openapi.json` is the published contract: an API change shows
/// up in review as a diff of it. Regenerate with `UPDATE_OPENAPI=1 cargo test --test it ops::`.
#[test]
fn the_checked_in_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let generated = kttipay_api::openapi_json() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: run UPDATE_OPENAPI=1 cargo test --test it ops::"
    );
}

#[tokio::test]
async fn serve_embeds_the_sandbox_provider_when_none_is_configured() {
    let app = TestApp::spawn().await;
    assert!(
        app.shaype_base_url.starts_with("http://127.0.0.1:"),
        "{}",
        app.shaype_base_url
    );
    let client =
        kttipay_providers::shaype::client::ShaypeClient::new(&app.shaype_base_url, &app.config.shaype_api_token)
            .unwrap();
    let err = client.get_account(&uuid::Uuid::new_v4().to_string()).await.unwrap_err();
    assert_eq!(err, kttipay_providers::shaype::client::ProviderError::NotFound);
    let view = app
        .client
        .put(format!("{}/sandbox/faults", app.shaype_base_url))
        .json(&serde_json::json!({"latencyMs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn every_protected_route_answers_401_without_a_token_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let spec: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = app.count("SELECT count(*) FROM jobs").await;
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let protected = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if !protected {
                continue;
            }
            // Any id will do: the token is checked before anything is looked up.
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "7d0c3c1e-0000-4000-8000-000000000001"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let r = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} protected operations found");
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, before);
    app.stop().await;
}
