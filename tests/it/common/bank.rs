//! The sandbox bank's side of a test: faults to inject, and our books checked
//! against its own by the real CLI.

use super::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Sets the sandbox's faults (`{}` clears them).
pub async fn faults(app: &TestApp, body: Value) {
    assert_eq!(
        app.sandbox(Method::PUT, "/sandbox/faults", Some(body)).await.status(),
        200
    );
}

/// `kttipay admin verify-ledger --against-provider` against this app's database
/// and sandbox: its exit code and what it printed.
/// Run off the test's runtime thread, which also serves the embedded sandbox.
pub async fn verify_against_provider(app: &TestApp) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kttipay"));
    cmd.args(["admin", "verify-ledger", "--against-provider"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.config.database_url)
        .env("SHAYPE_BASE_URL", &app.shaype_base_url)
        .env("SHAYPE_API_TOKEN", &app.config.shaype_api_token)
        .env("SHAYPE_WEBHOOK_SECRET", &app.config.shaype_webhook_secret)
        .env("KTTIPAY_JWT_SECRET", &app.config.jwt_secret);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
