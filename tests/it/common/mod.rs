//! Test harness: the real app, in-process, on port 0, against real PostgreSQL and
//! Redis. Each test gets its own database and its own Redis queue prefix, so tests
//! run in parallel without seeing each other. Jobs are drained by waiting for the
//! jobs table to settle, never by sleeping a fixed time.

#![allow(dead_code)]

pub mod bank;
pub mod browser;
pub mod fcm;
pub mod fleet;
pub mod group;
pub mod pot;
pub mod redis_server;
pub mod seed;
pub mod smtp;
pub mod sse;
pub mod totals;
pub mod trip;
pub mod uploads;

use kttipay::{Config, Roles, Running, prepare_database, start};

use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use smtp::SmtpCatcher;

/// The one Redis key apalis-redis 1.0 writes outside any prefix (its Lua scripts
/// name it literally): a sorted set of queue names.
const QUEUE_LIST_KEY: &str = "core:apalis:queues:list";

/// Longest a test waits for jobs to settle before failing.
pub const DRAIN_TIMEOUT_SECS: u64 = 60;
pub const PASSWORD: &str = "correct horse battery";

pub fn pg_base_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub struct TestApp {
    pub base: String,
    /// The embedded sandbox provider's base URL.
    pub shaype_base_url: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub smtp: SmtpCatcher,
    pub config: Config,
    pub db_name: String,
    running: Option<Running>,
    /// Set by tests that leave dead jobs on purpose; any other test fails on one.
    dead_jobs_expected: std::sync::atomic::AtomicBool,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Spawns with extra environment-style settings.
    pub async fn spawn_with(customise: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
        TestApp::spawn_roles(customise, Roles::everything).await
    }

    /// Spawns only some roles (e.g. workers without a relay, to play the relay's
    /// part by hand).
    pub async fn spawn_roles(
        customise: impl FnOnce(&mut HashMap<String, String>),
        roles: fn(&Config) -> Roles,
    ) -> TestApp {
        // `KTTIPAY_TEST_LOG=debug cargo test ... -- --nocapture` shows the app's
        // logs (an internal error's cause never reaches a response).
        if let Ok(filter) = std::env::var("KTTIPAY_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("kttipay_test_{id}");
        let smtp = SmtpCatcher::start().await;
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", format!("{}/{db_name}", pg_base_url())),
            ("REDIS_URL", redis_url()),
            ("KTTIPAY_HTTP_ADDR", "127.0.0.1:0".into()),
            ("KTTIPAY_SANDBOX_ADDR", "127.0.0.1:0".into()),
            ("KTTIPAY_SANDBOX_KYC_DELAY_MS", "50".into()),
            ("KTTIPAY_SANDBOX_TICK_MS", "20".into()),
            ("KTTIPAY_PUBLIC_URL", "http://kttipay.test".into()),
            ("KTTIPAY_QUEUE_PREFIX", format!("kttipay_test_{id}")),
            // Uploads of this test only; removed when it stops.
            (
                "KTTIPAY_DATA_DIR",
                std::env::temp_dir()
                    .join(format!("kttipay_test_{id}"))
                    .display()
                    .to_string(),
            ),
            (
                "KTTIPAY_JWT_SECRET",
                "test-secret-that-is-at-least-32-bytes-long".into(),
            ),
            ("SMTP_URL", smtp.url.clone()),
            // Not the development values, which a real provider URL refuses (the
            // CLI tests point `kttipay admin` at this app's sandbox).
            ("SHAYPE_API_TOKEN", format!("test-token-{id}")),
            ("SHAYPE_WEBHOOK_SECRET", format!("test-webhook-secret-{id}")),
            ("KTTIPAY_DB_MAX_CONNECTIONS", "8".into()),
            ("KTTIPAY_WORKER_CONCURRENCY", "4".into()),
            ("KTTIPAY_WORKER_POLL_MS", "10".into()),
            ("KTTIPAY_RELAY_POLL_MS", "50".into()),
            ("KTTIPAY_RELAY_SWEEP_SECS", "1".into()),
            ("KTTIPAY_SHUTDOWN_GRACE_SECS", "5".into()),
            // Cheap hashing: tests exercise the logic, not argon2's cost.
            ("KTTIPAY_ARGON2_MEMORY_KIB", "1024".into()),
            ("KTTIPAY_ARGON2_ITERATIONS", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        customise(&mut vars);
        let config = Config::from_vars(&vars).expect("test config is valid");
        prepare_database(&config).await.expect("test database");
        let running = start(&config, roles(&config)).await.expect("app starts");
        let base = format!("http://{}", running.addr.expect("api runs"));
        let shaype_base_url = running.shaype_base_url.clone().unwrap_or_default();
        let pool = running.pool.clone();
        TestApp {
            base,
            shaype_base_url,
            client: reqwest::Client::new(),
            pool,
            smtp,
            config,
            db_name,
            running: Some(running),
            dead_jobs_expected: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// This test leaves dead jobs behind on purpose (it is about them).
    pub fn expect_dead_jobs(&self) {
        self.dead_jobs_expected
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops the app gracefully and drops its database and Redis keys. A dead job
    /// left behind fails the test (unless it said it expects them): something
    /// failed for good and nobody looked.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let dead: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT kind, last_error FROM jobs WHERE status = 'dead' ORDER BY created_at")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        let fail = !dead.is_empty() && !self.dead_jobs_expected.load(std::sync::atomic::Ordering::Relaxed);
        self.pool.close().await;
        drop_database(&self.db_name).await;
        drop_database(&format!("{}_sandbox", self.db_name)).await;
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let pattern = format!("{}:*", self.config.queue_prefix);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
            // apalis-redis registers every queue in one shared key its Lua scripts
            // hard-code, whatever the prefix: take this test's queues out of it.
            let listed: Vec<String> = redis::cmd("ZRANGE")
                .arg(QUEUE_LIST_KEY)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            let ours: Vec<&String> = listed
                .iter()
                .filter(|q| q.starts_with(&self.config.queue_prefix))
                .collect();
            if !ours.is_empty() {
                let _: Result<(), _> = redis::cmd("ZREM")
                    .arg(QUEUE_LIST_KEY)
                    .arg(ours)
                    .query_async(&mut conn)
                    .await;
            }
        }
        assert!(!fail, "the test left dead jobs behind: {dead:?}");
    }

    /// Stops the app's processes gracefully but keeps its database.
    pub async fn halt(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Enqueues a job as a state change would: in a committed transaction.
    pub async fn enqueue<J: kttipay_jobs::Job>(&self, job: &J) -> uuid::Uuid {
        let mut tx = self.pool.begin().await.unwrap();
        let id = kttipay_db::jobs::enqueue(&mut tx, job).await.unwrap();
        tx.commit().await.unwrap();
        id.0
    }

    pub async fn job(&self, id: uuid::Uuid) -> kttipay_db::jobs::JobRow {
        kttipay_db::jobs::find(&self.pool, kttipay_domain::ids::JobId(id))
            .await
            .unwrap()
            .expect("job exists")
    }

    /// Waits until `condition` holds for job `id`.
    pub async fn wait_for_job(
        &self,
        id: uuid::Uuid,
        condition: impl Fn(&kttipay_db::jobs::JobRow) -> bool,
    ) -> kttipay_db::jobs::JobRow {
        let deadline = Instant::now() + Duration::from_secs(DRAIN_TIMEOUT_SECS);
        loop {
            let job = self.job(id).await;
            if condition(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} never reached the expected state: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until no job is due, queued or running: everything that can run now
    /// has run. Jobs waiting out a backoff are not waited for.
    pub async fn drain(&self) {
        self.wait_for_jobs("status IN ('queued', 'running') OR (status = 'pending' AND run_at <= now())")
            .await
    }

    /// Waits until every job is done or dead, backoffs included. Email digests
    /// waiting for their window (an hour ahead) are timers, not work in flight:
    /// tests that mean them move the window instead.
    pub async fn drain_all(&self) {
        self.wait_for_jobs(
            "status NOT IN ('done', 'dead') AND NOT (kind = 'notification.digest.v1' AND status = 'pending')",
        )
        .await
    }

    async fn wait_for_jobs(&self, unfinished: &str) {
        let sql = format!("SELECT count(*) FROM jobs WHERE {unfinished}");
        let deadline = Instant::now() + Duration::from_secs(DRAIN_TIMEOUT_SECS);
        loop {
            let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(&self.pool)
                .await
                .unwrap();
            if left == 0 {
                return;
            }
            if Instant::now() >= deadline {
                // What is stuck, and where, so a rare hang can be diagnosed from the log.
                let stuck: Vec<(String, String, i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT kind, status, attempts, format('run_at %s, lease_until %s, now %s, error %s', \
                            run_at, lease_until, now(), last_error) FROM jobs WHERE {unfinished}"
                )))
                .fetch_all(&self.pool)
                .await
                .unwrap();
                panic!("{left} jobs still unfinished after {DRAIN_TIMEOUT_SECS}s: {stuck:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Any method, with a token and optionally a JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Registers `email`, takes the token from the verification email, sets the
    /// password and logs in. Returns the token pair.
    pub async fn signed_up(&self, email: &str) -> Tokens {
        let r = self.post("/api/v2/registration", registration(email)).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        self.drain().await;
        let token = self.last_token(email, "Your registration code: ");
        let r = self
            .post(
                "/api/v2/registration/password",
                json!({"token": token, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        self.login(email, PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let r = self
            .post("/api/v2/auth/login", json!({"email": email, "password": password}))
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// The token in the newest email to `email` after `label`.
    pub fn last_token(&self, email: &str, label: &str) -> String {
        let mails = self.smtp.messages_to(email);
        let mail = mails.last().unwrap_or_else(|| panic!("no email to {email}"));
        mail.value_after(label)
            .unwrap_or_else(|| panic!("no {label:?} in {}", mail.data))
    }

    /// Signs up, passes KYC through the sandbox, and waits for the personal ktti
    /// to be active. Returns the tokens and the ktti as the API shows it. Seeded
    /// through `db` ([`seed`]); the onboarding tests use [`Self::onboarded_over_http`].
    pub async fn verified_with_ktti(&self, email: &str) -> (Tokens, Value) {
        self.verified_named(email, "Pia", "Lee").await
    }

    /// The whole onboarding over HTTP, as the app does it: registration, the
    /// emailed code, password, login, KYC submission, and the personal ktti.
    pub async fn onboarded_over_http(&self, email: &str) -> (Tokens, Value) {
        let t = self.signed_up(email).await;
        let kyc = json!({
            "firstName": "Pia", "lastName": "Lee", "dateOfBirth": "1991-02-03",
            "address": {"line1": "5 Pitt St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"},
            "idDocumentType": "passport", "idDocumentNumber": "PA1234567",
        });
        assert_eq!(
            self.post_auth("/api/v2/users/me/kyc", &t.access_token, kyc)
                .await
                .status(),
            202
        );
        let ktti = self.personal_ktti_active(&t).await;
        (t, ktti)
    }

    /// Waits for the signed-in user's personal ktti to be active, and returns it.
    pub async fn personal_ktti_active(&self, t: &Tokens) -> Value {
        self.eventually("the personal ktti to be active", || async {
            let r = self.get_auth("/api/v2/ktties/personal", &t.access_token).await;
            let k: Value = r.json().await.ok()?;
            (k["status"] == "active").then_some(k)
        })
        .await
    }

    /// Waits until `check` gives a value: for effects that arrive from outside the
    /// test's control (the sandbox's webhooks), polled, with a deadline.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(DRAIN_TIMEOUT_SECS);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs and delivers a provider webhook body to our API, as the provider would.
    pub async fn provider_webhook(&self, body: &Value) -> reqwest::Response {
        let raw = body.to_string();
        let now = chrono::Utc::now().timestamp();
        let sig =
            kttipay_providers::shaype::webhook::sign(self.config.shaype_webhook_secret.as_bytes(), now, raw.as_bytes());
        self.client
            .post(self.url("/api/hay/v0/communications/notification"))
            .header("content-type", "application/json")
            .header("X-Hay-Timestamp", now.to_string())
            .header("X-Hay-Signature", sig)
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    /// One column of our card `card` (our id) as the bank holds it, read from the
    /// sandbox's own database: its `status`, or its `delivery_address`.
    pub async fn card_at_bank<T>(&self, card: &str, column: &'static str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        let provider_card: String = sqlx::query_scalar("SELECT provider_card_id FROM cards WHERE id = $1::uuid")
            .bind(card)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", self.config.database_url))
            .await
            .unwrap();
        let sql = format!("SELECT {column} FROM cards WHERE id = $1::uuid");
        let value: T = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&provider_card)
            .fetch_one(&sandbox)
            .await
            .unwrap();
        sandbox.close().await;
        value
    }

    /// Calls a sandbox route (`/v0/utils/...`, `/sandbox/...`).
    pub async fn sandbox(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.shaype_base_url))
            .bearer_auth(&self.config.shaype_api_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Makes `email`'s user a platform admin and returns a fresh login.
    pub async fn admin(&self, email: &str) -> Tokens {
        self.seed_user(email, "Ann", "Lee").await;
        assert!(kttipay_db::users::promote_admin(&self.pool, email).await.unwrap());
        self.login(email, PASSWORD).await
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub token_type: String,
}

pub fn registration(email: &str) -> Value {
    json!({
        "email": email,
        "firstName": "Ann",
        "lastName": "Lee",
        "phone": "0412 345 678",
        "dateOfBirth": "1990-04-01",
    })
}

/// The fields a 422 problem names, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("a validation problem lists its errors")
        .iter()
        .map(|e| e["field"].as_str().expect("each error names its field"))
        .collect()
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base_url())).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}
