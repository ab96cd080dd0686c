//! Separate `kttipay` processes beside a test's app, as production runs them:
//! API replicas and worker processes sharing its database, queues and sandbox,
//! which a test can kill (SIGKILL) at any moment.

use super::TestApp;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started API process may take to answer.
const API_START_TIMEOUT_SECS: u64 = 30;

/// `kttipay <subcommand>` against this test's database, queues, sandbox and mail
/// catcher; `extra` overrides any setting.
pub fn kttipay_process(app: &TestApp, subcommand: &str, extra: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kttipay"))
        .arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.config.database_url)
        .env("REDIS_URL", super::redis_url())
        .env("KTTIPAY_QUEUE_PREFIX", &app.config.queue_prefix)
        .env("SHAYPE_BASE_URL", &app.shaype_base_url)
        .env("SHAYPE_API_TOKEN", &app.config.shaype_api_token)
        .env("SHAYPE_WEBHOOK_SECRET", &app.config.shaype_webhook_secret)
        .env("KTTIPAY_JWT_SECRET", &app.config.jwt_secret)
        .env("KTTIPAY_DATA_DIR", &app.config.data_dir)
        .env("KTTIPAY_PUBLIC_URL", "http://kttipay.test")
        .env("SMTP_URL", &app.smtp.url)
        .env("KTTIPAY_WORKER_CONCURRENCY", "4")
        .env("KTTIPAY_WORKER_POLL_MS", "10")
        .env("KTTIPAY_RELAY_POLL_MS", "50")
        .env("KTTIPAY_RELAY_SWEEP_SECS", "1")
        .env("KTTIPAY_DB_MAX_CONNECTIONS", "4")
        .env("KTTIPAY_ARGON2_MEMORY_KIB", "1024")
        .env("KTTIPAY_ARGON2_ITERATIONS", "1")
        .env("KTTIPAY_LOG_FORMAT", "json")
        .env("RUST_LOG", "error")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the kttipay binary starts")
}

/// A `kttipay worker` process (relay and workers).
pub fn worker_process(app: &TestApp, extra: &[(&str, &str)]) -> Child {
    kttipay_process(app, "worker", extra)
}

/// A `kttipay api` process on a free port, once it answers; its base URL.
#[expect(
    clippy::zombie_processes,
    reason = "the child is handed to the caller, who kills and reaps it"
)]
pub async fn api_process(app: &TestApp, extra: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut vars = vec![("KTTIPAY_HTTP_ADDR", addr.as_str())];
    vars.extend_from_slice(extra);
    let mut child = kttipay_process(app, "api", &vars);
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(API_START_TIMEOUT_SECS);
    loop {
        let up = app.client.get(format!("{base}/health/live")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            return (child, base);
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            panic!("the API process at {base} never answered");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills a process at once (SIGKILL: no shutdown, no cleanup) and reaps it.
pub fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}

/// Lets retries waiting out a backoff run now, and lets the claims of a killed
/// process (or of messages a restarted Redis lost) lapse: the test decides when
/// time passes, instead of sleeping through the real leases.
pub async fn time_passes(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = now() WHERE status = 'pending' AND run_at > now() AND kind <> 'notification.digest.v1'")
        .execute(&app.pool)
        .await
        .unwrap();
    // A healthy attempt here takes well under a second: a claim older than five
    // is a killed process's, lapsing early instead of minutes from now.
    sqlx::query(
        "UPDATE jobs SET lease_until = now() WHERE status IN ('queued', 'running') \
         AND updated_at < now() - interval '5 seconds' AND lease_until > now()",
    )
    .execute(&app.pool)
    .await
    .unwrap();
}
