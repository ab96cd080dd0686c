//! The `kttipay` binary as an operator runs it.

use crate::common::TestApp;
use std::process::Command;

fn kttipay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kttipay"));
    // Only what a test sets: nothing leaks in from the developer's shell.
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn bad_configuration_is_reported_per_variable_and_exits_2() {
    let out = kttipay()
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://nope")
        .env("KTTIPAY_WORKER_CONCURRENCY", "zero")
        .env("KTTIPAY_JWT_SECRET", "hunter2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(err.contains("KTTIPAY_WORKER_CONCURRENCY"), "{err}");
    assert!(err.contains("KTTIPAY_JWT_SECRET: must be at least 32 bytes"), "{err}");
    assert!(!err.contains("hunter2"), "secrets are never printed: {err}");
}

#[test]
fn an_unknown_environment_or_development_secrets_with_a_real_provider_exit_2() {
    let out = kttipay().args(["serve"]).env("KTTIPAY_ENV", "prod").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("KTTIPAY_ENV=\"prod\": must be one of"), "{err}");

    let out = kttipay()
        .args(["serve"])
        .env("SHAYPE_BASE_URL", "https://bank.example.test")
        .env("SHAYPE_API_TOKEN", "kttipay-sandbox-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("SHAYPE_API_TOKEN: the development token is refused"),
        "{err}"
    );
    assert!(
        err.contains("SHAYPE_WEBHOOK_SECRET: the development secret is refused"),
        "{err}"
    );
    assert!(
        !err.contains("kttipay-sandbox-token"),
        "secrets are never printed: {err}"
    );
    assert!(
        !err.contains("kttipay-sandbox-webhook-secret"),
        "secrets are never printed: {err}"
    );
}

#[test]
fn openapi_prints_the_document_without_any_configuration() {
    let out = kttipay().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/api/v2/auth/login"]["post"].is_object());
}

#[tokio::test]
async fn admin_promote_grants_platform_admin() {
    let app = TestApp::spawn().await;
    let user = app.user("staff@example.com").await;
    assert_eq!(
        app.get_auth("/api/v2/admin/jobs", &user.access_token).await.status(),
        404
    );
    let database_url = app.config.database_url.clone();
    let promote = |email: &'static str| {
        let url = database_url.clone();
        tokio::task::spawn_blocking(move || {
            kttipay()
                .args(["admin", "promote", email])
                .env("DATABASE_URL", url)
                .output()
                .unwrap()
        })
    };
    let out = promote("Staff@Example.com").await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        app.get_auth("/api/v2/admin/jobs", &user.access_token).await.status(),
        200
    );
    let out = promote("nobody@example.com").await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with email nobody@example.com"));
    app.stop().await;
}
