//! Configuration from environment variables, with defaults that give a working
//! system on a laptop (PostgreSQL and Redis on their default local ports).
//!
//! Every bad value is reported at start, all at once, naming the variable.
//! Secrets are redacted from `Debug` output and never logged.

use kttipay_api::{ApiConfig, SocialProvider};
use kttipay_jobs::Queue;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Used only when `KTTIPAY_JWT_SECRET` is unset outside production; a warning says so.
const DEV_JWT_SECRET: &str = "kttipay-development-secret-do-not-use-in-production";
/// Development defaults shared by our client and the embedded sandbox.
const DEV_SHAYPE_API_TOKEN: &str = "kttipay-sandbox-token";
const DEV_SHAYPE_WEBHOOK_SECRET: &str = "kttipay-sandbox-webhook-secret";

/// The URL of a database beside `url`'s, named with `suffix` (the sandbox's own).
pub fn sibling_database(url: &str, suffix: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let with_suffix = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |i| i + 2) => format!("{base}{suffix}"),
        _ => format!("{base}/kttipay{suffix}"),
    };
    match query {
        Some(q) => format!("{with_suffix}?{q}"),
        None => with_suffix,
    }
}
/// HS256 needs at least 256 bits of key to be as strong as its hash.
pub const JWT_SECRET_MIN_BYTES: usize = 32;
/// The webhook HMAC is SHA-256 too: a shorter shared secret weakens it.
pub const WEBHOOK_SECRET_MIN_BYTES: usize = 32;
/// What `KTTIPAY_ENV` may say.
pub const ENVIRONMENTS: [&str; 3] = ["development", "test", "production"];

#[derive(Clone)]
pub struct Config {
    pub environment: String,
    pub database_url: String,
    pub db_max_connections: u32,
    pub redis_url: String,
    pub http_addr: SocketAddr,
    pub public_url: String,
    pub jwt_secret: String,
    pub jwt_secret_is_default: bool,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub login_attempts_per_minute_per_account: u32,
    pub login_attempts_per_minute_per_ip: u32,
    pub trust_forwarded_for: bool,
    pub trusted_proxies: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub smtp_url: Option<String>,
    pub email_from: String,
    pub queue_prefix: String,
    pub worker_queues: Vec<Queue>,
    pub worker_concurrency: usize,
    pub worker_poll_ms: u64,
    pub relay_max_queue_depth: i64,
    pub relay_batch_size: i64,
    pub relay_poll_ms: u64,
    pub relay_sweep_secs: u64,
    pub idempotency_key_ttl_hours: i64,
    pub job_retention_days: i64,
    pub purge_interval_secs: u64,
    /// How often each worker process runs billing (seconds).
    pub billing_interval_secs: u64,
    pub shutdown_grace_secs: u64,
    pub log_format: LogFormat,
    pub google: SocialProvider,
    pub apple: SocialProvider,
    /// The banking provider; `None` runs the embedded sandbox (in `serve`).
    pub shaype_base_url: Option<String>,
    pub shaype_api_token: String,
    pub shaype_webhook_secret: String,
    pub sandbox_addr: SocketAddr,
    pub sandbox_database_url: String,
    pub sandbox_kyc_delay_ms: u64,
    pub sandbox_tick_ms: u64,
    /// Where the sandbox sends webhooks (our API); defaults to the public URL.
    pub sandbox_webhook_url: String,
    /// An HTTP SMS gateway; `None` writes texts to the log.
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_token: String,
    pub metrics_token: Option<String>,
    /// Push through FCM HTTP v1; `None` writes pushes to the log.
    pub fcm: Option<kttipay_providers::push::FcmSettings>,
    /// Money-in emails to one user about one ktti: at most one per window; the
    /// rest arrive as one digest when it ends.
    pub email_digest_window_secs: i64,
    /// Where the service keeps its files; uploads go under it by default.
    pub data_dir: String,
    /// Object storage for uploads: `file:///absolute/folder` or `s3://bucket`.
    pub storage_url: String,
    pub s3: kttipay_providers::storage::S3Settings,
    pub app: kttipay_api::state::AppSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default for a terminal).
    Pretty,
    /// One JSON object per line (for log shippers).
    Json,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("http_addr", &self.http_addr)
            .field("public_url", &self.public_url)
            .field("jwt_secret", &"***")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("shaype_base_url", &self.shaype_base_url)
            .field("shaype_api_token", &"***")
            .field("shaype_webhook_secret", &"***")
            .field("sms_gateway_url", &self.sms_gateway_url)
            .field("sms_gateway_token", &"***")
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("fcm", &self.fcm)
            .field("queue_prefix", &self.queue_prefix)
            .field("storage_url", &redact_url(&self.storage_url))
            .finish_non_exhaustive()
    }
}

/// `scheme://user:password@host` -> `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// FCM from `FCM_CREDENTIALS_FILE` (a Firebase service account's key file, as
/// the console downloads it) or `FCM_CREDENTIALS_JSON` (its content), with the
/// endpoints overridable for local stand-ins.
fn fcm_settings(r: &mut Reader<'_>) -> Option<kttipay_providers::push::FcmSettings> {
    use kttipay_providers::push::{FCM_DEFAULT_ENDPOINT, FcmSettings, ServiceAccount};
    let (name, json) = match (r.optional("FCM_CREDENTIALS_FILE"), r.optional("FCM_CREDENTIALS_JSON")) {
        (Some(path), _) => match std::fs::read_to_string(&path) {
            Ok(json) => ("FCM_CREDENTIALS_FILE", json),
            Err(e) => {
                r.errors.push(format!("FCM_CREDENTIALS_FILE: cannot read {path}: {e}"));
                return None;
            }
        },
        (None, Some(json)) => ("FCM_CREDENTIALS_JSON", json),
        (None, None) => return None,
    };
    let account = match ServiceAccount::parse(&json) {
        Ok(a) => a,
        Err(e) => {
            r.errors.push(format!("{name}: {e}"));
            return None;
        }
    };
    Some(FcmSettings {
        account,
        endpoint: r.url("FCM_ENDPOINT", FCM_DEFAULT_ENDPOINT, &["http", "https"]),
        token_url: r.optional("FCM_TOKEN_URL"),
        max_in_flight: r.parse(
            "KTTIPAY_FCM_MAX_IN_FLIGHT",
            32,
            |v: &usize| (1..=1_000).contains(v),
            "1 to 1000",
        ),
    })
}

/// Reads variables from a map (the process environment, or a test's own).
struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn string(&self, name: &str, default: &str) -> String {
        self.vars
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    fn parse<T: FromStr>(&mut self, name: &str, default: T, check: impl Fn(&T) -> bool, expected: &str) -> T
    where
        T::Err: fmt::Display,
    {
        let Some(raw) = self.optional(name) else {
            return default;
        };
        match raw.trim().parse::<T>() {
            Ok(v) if check(&v) => v,
            Ok(_) => {
                self.errors.push(format!("{name}={raw:?}: must be {expected}"));
                default
            }
            Err(e) => {
                self.errors.push(format!("{name}={raw:?}: {e}; must be {expected}"));
                default
            }
        }
    }

    fn list(&self, name: &str, default: &[&str]) -> Vec<String> {
        match self.optional(name) {
            Some(raw) => raw
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn url(&mut self, name: &str, default: &str, schemes: &[&str]) -> String {
        let value = self.string(name, default);
        if !schemes.iter().any(|s| value.starts_with(&format!("{s}://"))) {
            self.errors.push(format!(
                "{name}: must be a URL starting with {}",
                schemes.join("://, ") + "://"
            ));
        }
        value
    }
}

impl Config {
    /// From the process environment.
    pub fn from_env() -> Result<Config, Vec<String>> {
        Config::from_vars(&std::env::vars().collect())
    }

    /// From a map of variables; every problem is reported, not just the first.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, Vec<String>> {
        let mut r = Reader {
            vars,
            errors: Vec::new(),
        };
        let environment = r.string("KTTIPAY_ENV", "development");
        if !ENVIRONMENTS.contains(&environment.as_str()) {
            r.errors.push(format!(
                "KTTIPAY_ENV={environment:?}: must be one of {}",
                ENVIRONMENTS.join(", ")
            ));
        }
        let production = environment == "production";
        let database_url = r.url(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/kttipay",
            &["postgres", "postgresql"],
        );
        let redis_url = r.url(
            "REDIS_URL",
            "redis://127.0.0.1:6379",
            &["redis", "rediss", "redis+unix", "unix"],
        );
        let http_addr = r.parse(
            "KTTIPAY_HTTP_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            |_| true,
            "host:port, e.g. 0.0.0.0:8080",
        );
        let public_url = r.url("KTTIPAY_PUBLIC_URL", &format!("http://{http_addr}"), &["http", "https"]);
        // Absolute, so file:// URLs built from it mean the same from any directory.
        let data_dir = {
            let raw = std::path::PathBuf::from(r.string("KTTIPAY_DATA_DIR", "data"));
            let absolute = if raw.is_absolute() {
                raw
            } else {
                std::env::current_dir().unwrap_or_default().join(raw)
            };
            absolute.to_string_lossy().trim_end_matches('/').to_string()
        };
        let (jwt_secret, jwt_secret_is_default) = match r.optional("KTTIPAY_JWT_SECRET") {
            Some(s) => (s, false),
            None if production => {
                r.errors
                    .push("KTTIPAY_JWT_SECRET: required when KTTIPAY_ENV=production".into());
                (String::new(), false)
            }
            None => (DEV_JWT_SECRET.to_string(), true),
        };
        if !jwt_secret.is_empty() && jwt_secret.len() < JWT_SECRET_MIN_BYTES {
            r.errors.push(format!(
                "KTTIPAY_JWT_SECRET: must be at least {JWT_SECRET_MIN_BYTES} bytes"
            ));
        }
        let positive = |v: &u32| *v > 0;
        let shaype_base_url = r.optional("SHAYPE_BASE_URL");
        if let Some(url) = &shaype_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            r.errors.push("SHAYPE_BASE_URL: must be an http(s) URL".into());
        }
        let secret = |r: &mut Reader, name: &str, dev: &str| match r.optional(name) {
            Some(s) => s,
            None if production => {
                r.errors.push(format!("{name}: required when KTTIPAY_ENV=production"));
                String::new()
            }
            None => dev.to_string(),
        };
        let shaype_api_token = secret(&mut r, "SHAYPE_API_TOKEN", DEV_SHAYPE_API_TOKEN);
        let shaype_webhook_secret = secret(&mut r, "SHAYPE_WEBHOOK_SECRET", DEV_SHAYPE_WEBHOOK_SECRET);
        // A real provider (any SHAYPE_BASE_URL) never gets the published
        // development credentials, whatever KTTIPAY_ENV says.
        if shaype_base_url.is_some() {
            if shaype_api_token == DEV_SHAYPE_API_TOKEN {
                r.errors
                    .push("SHAYPE_API_TOKEN: the development token is refused when SHAYPE_BASE_URL is set".into());
            }
            if shaype_webhook_secret == DEV_SHAYPE_WEBHOOK_SECRET {
                r.errors.push(
                    "SHAYPE_WEBHOOK_SECRET: the development secret is refused when SHAYPE_BASE_URL is set".into(),
                );
            } else if shaype_webhook_secret.len() < WEBHOOK_SECRET_MIN_BYTES {
                r.errors.push(format!(
                    "SHAYPE_WEBHOOK_SECRET: must be at least {WEBHOOK_SECRET_MIN_BYTES} bytes when SHAYPE_BASE_URL is set"
                ));
            }
        }
        let fcm = fcm_settings(&mut r);
        if production {
            for (name, set) in [
                ("FCM_CREDENTIALS_FILE", fcm.is_some()),
                ("SHAYPE_BASE_URL", shaype_base_url.is_some()),
                ("SMTP_URL", r.optional("SMTP_URL").is_some()),
                ("KTTIPAY_METRICS_TOKEN", r.optional("KTTIPAY_METRICS_TOKEN").is_some()),
            ] {
                if !set {
                    r.errors.push(format!("{name}: required when KTTIPAY_ENV=production"));
                }
            }
        }
        let sandbox_addr = r.parse(
            "KTTIPAY_SANDBOX_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8090)),
            |_| true,
            "host:port",
        );
        let sandbox_database_url = match r.optional("KTTIPAY_SANDBOX_DATABASE_URL") {
            Some(url) => url,
            None => sibling_database(&database_url, "_sandbox"),
        };
        let billing_plans = match kttipay_domain::billing::parse_plans(
            &r.string("KTTIPAY_BILLING_PLANS", kttipay_domain::billing::DEFAULT_PLANS),
        ) {
            Ok(plans) => plans,
            Err(e) => {
                r.errors.push(format!("KTTIPAY_BILLING_PLANS: {e}"));
                Vec::new()
            }
        };
        let config = Config {
            db_max_connections: r.parse(
                "KTTIPAY_DB_MAX_CONNECTIONS",
                20,
                positive,
                "a whole number of at least 1",
            ),
            access_token_ttl_secs: r.parse(
                "KTTIPAY_ACCESS_TOKEN_TTL_SECS",
                900,
                |v: &i64| (60..=86_400).contains(v),
                "60 to 86400 seconds",
            ),
            refresh_token_ttl_days: r.parse(
                "KTTIPAY_REFRESH_TOKEN_TTL_DAYS",
                30,
                |v: &i64| (1..=365).contains(v),
                "1 to 365 days",
            ),
            login_attempts_per_minute_per_account: r.parse(
                "KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_ACCOUNT",
                10,
                positive,
                "at least 1",
            ),
            login_attempts_per_minute_per_ip: r.parse(
                "KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
                60,
                positive,
                "at least 1",
            ),
            trust_forwarded_for: r.parse("KTTIPAY_TRUST_FORWARDED_FOR", false, |_| true, "true or false"),
            trusted_proxies: r.parse(
                "KTTIPAY_TRUSTED_PROXIES",
                1,
                |v: &usize| (1..=10).contains(v),
                "1 to 10 proxies",
            ),
            argon2_memory_kib: r.parse("KTTIPAY_ARGON2_MEMORY_KIB", 19_456, |v: &u32| *v >= 8, "at least 8 KiB"),
            argon2_iterations: r.parse("KTTIPAY_ARGON2_ITERATIONS", 2, positive, "at least 1"),
            smtp_url: r.optional("SMTP_URL"),
            email_from: r.string("KTTIPAY_EMAIL_FROM", "KttiPay <no-reply@kttipay.local>"),
            queue_prefix: r.string("KTTIPAY_QUEUE_PREFIX", "kttipay"),
            worker_queues: {
                let names = r.list("KTTIPAY_WORKER_QUEUES", &Queue::ALL.map(Queue::name));
                let mut queues = Vec::new();
                for n in names {
                    match Queue::parse(&n) {
                        Some(q) => queues.push(q),
                        None => r.errors.push(format!("KTTIPAY_WORKER_QUEUES: unknown queue {n:?}")),
                    }
                }
                queues
            },
            worker_concurrency: r.parse(
                "KTTIPAY_WORKER_CONCURRENCY",
                16,
                |v: &usize| (1..=1024).contains(v),
                "1 to 1024",
            ),
            worker_poll_ms: r.parse(
                "KTTIPAY_WORKER_POLL_MS",
                50,
                |v: &u64| (1..=60_000).contains(v),
                "1 to 60000 ms",
            ),
            relay_max_queue_depth: r.parse(
                "KTTIPAY_RELAY_MAX_QUEUE_DEPTH",
                2_000,
                |v: &i64| (1..=7_000).contains(v),
                "1 to 7000 (apalis-redis fails past ~8000 due jobs)",
            ),
            relay_batch_size: r.parse(
                "KTTIPAY_RELAY_BATCH_SIZE",
                500,
                |v: &i64| (1..=5_000).contains(v),
                "1 to 5000",
            ),
            relay_poll_ms: r.parse(
                "KTTIPAY_RELAY_POLL_MS",
                1_000,
                |v: &u64| (10..=60_000).contains(v),
                "10 to 60000 ms",
            ),
            relay_sweep_secs: r.parse(
                "KTTIPAY_RELAY_SWEEP_SECS",
                15,
                |v: &u64| (1..=3_600).contains(v),
                "1 to 3600 s",
            ),
            idempotency_key_ttl_hours: r.parse(
                "KTTIPAY_IDEMPOTENCY_KEY_TTL_HOURS",
                24,
                |v: &i64| (1..=24 * 30).contains(v),
                "1 to 720 hours",
            ),
            job_retention_days: r.parse(
                "KTTIPAY_JOB_RETENTION_DAYS",
                14,
                |v: &i64| (1..=3650).contains(v),
                "1 to 3650 days",
            ),
            purge_interval_secs: r.parse(
                "KTTIPAY_PURGE_INTERVAL_SECS",
                3600,
                |v: &u64| (1..=86_400).contains(v),
                "1 to 86400 seconds",
            ),
            billing_interval_secs: r.parse(
                "KTTIPAY_BILLING_INTERVAL_SECS",
                3600,
                |v: &u64| (1..=86_400).contains(v),
                "1 to 86400 seconds",
            ),
            shutdown_grace_secs: r.parse("KTTIPAY_SHUTDOWN_GRACE_SECS", 30, |v: &u64| *v <= 600, "0 to 600 s"),
            log_format: match r.string("KTTIPAY_LOG_FORMAT", "pretty").as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => {
                    r.errors
                        .push(format!("KTTIPAY_LOG_FORMAT={other:?}: must be pretty or json"));
                    LogFormat::Pretty
                }
            },
            google: SocialProvider {
                jwks_url: r.url(
                    "KTTIPAY_GOOGLE_JWKS_URL",
                    "https://www.googleapis.com/oauth2/v3/certs",
                    &["http", "https"],
                ),
                audiences: r.list("KTTIPAY_GOOGLE_CLIENT_IDS", &[]),
                issuers: r.list(
                    "KTTIPAY_GOOGLE_ISSUERS",
                    &["https://accounts.google.com", "accounts.google.com"],
                ),
            },
            apple: SocialProvider {
                jwks_url: r.url(
                    "KTTIPAY_APPLE_JWKS_URL",
                    "https://appleid.apple.com/auth/keys",
                    &["http", "https"],
                ),
                audiences: r.list("KTTIPAY_APPLE_CLIENT_IDS", &[]),
                issuers: r.list("KTTIPAY_APPLE_ISSUERS", &["https://appleid.apple.com"]),
            },
            sandbox_kyc_delay_ms: r.parse(
                "KTTIPAY_SANDBOX_KYC_DELAY_MS",
                2_000,
                |v: &u64| *v <= 600_000,
                "0 to 600000 ms",
            ),
            sandbox_tick_ms: r.parse(
                "KTTIPAY_SANDBOX_TICK_MS",
                100,
                |v: &u64| (1..=60_000).contains(v),
                "1 to 60000 ms",
            ),
            sandbox_webhook_url: r.string("KTTIPAY_SANDBOX_WEBHOOK_URL", &public_url),
            sms_gateway_url: r.optional("SMS_GATEWAY_URL"),
            sms_gateway_token: r.string("SMS_GATEWAY_TOKEN", ""),
            metrics_token: r.optional("KTTIPAY_METRICS_TOKEN"),
            fcm,
            email_digest_window_secs: r.parse(
                "KTTIPAY_EMAIL_DIGEST_WINDOW_SECS",
                3_600,
                |v: &i64| (1..=7 * 86_400).contains(v),
                "1 to 604800 seconds",
            ),
            storage_url: {
                let url = r.url("STORAGE_URL", &format!("file://{data_dir}/objects"), &["file", "s3"]);
                if url.starts_with("file://") && !url.starts_with("file:///") {
                    r.errors
                        .push("STORAGE_URL: must name an absolute folder, file:///var/lib/kttipay/objects".into());
                }
                if url.starts_with("s3://")
                    && (r.optional("S3_ACCESS_KEY_ID").is_none() || r.optional("S3_SECRET_ACCESS_KEY").is_none())
                {
                    r.errors
                        .push("STORAGE_URL: an s3:// bucket needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY".into());
                }
                url
            },
            s3: kttipay_providers::storage::S3Settings {
                endpoint: r.string("S3_ENDPOINT", ""),
                region: r.string("S3_REGION", "us-east-1"),
                access_key_id: r.string("S3_ACCESS_KEY_ID", ""),
                secret_access_key: r.string("S3_SECRET_ACCESS_KEY", ""),
            },
            data_dir,
            app: kttipay_api::state::AppSettings {
                min_app_version_ios: r.string("KTTIPAY_MIN_APP_VERSION_IOS", "1.0.0"),
                min_app_version_android: r.string("KTTIPAY_MIN_APP_VERSION_ANDROID", "1.0.0"),
                feature_flags: r.list("KTTIPAY_FEATURE_FLAGS", &["groupKtties", "receipts", "chat"]),
                billing_plans,
                support_email: r.string("KTTIPAY_SUPPORT_EMAIL", "support@kttipay.com"),
                support_phone: r.string("KTTIPAY_SUPPORT_PHONE", "+61 2 8000 0000"),
                joins_per_hour: r.parse(
                    "KTTIPAY_JOINS_PER_HOUR",
                    10,
                    |v: &u32| (1..=100_000).contains(v),
                    "1 to 100000",
                ),
                group_ktties_per_user: r.parse(
                    "KTTIPAY_GROUP_KTTIES_PER_USER",
                    20,
                    |v: &u32| (1..=10_000).contains(v),
                    "1 to 10000",
                ),
                invitations_per_ktti_per_day: r.parse(
                    "KTTIPAY_INVITATIONS_PER_KTTI_PER_DAY",
                    100,
                    |v: &u32| (1..=100_000).contains(v),
                    "1 to 100000",
                ),
                kyc_submissions_per_day: r.parse(
                    "KTTIPAY_KYC_SUBMISSIONS_PER_DAY",
                    5,
                    |v: &u32| (1..=1_000).contains(v),
                    "1 to 1000",
                ),
            },
            shaype_base_url,
            shaype_api_token,
            shaype_webhook_secret,
            sandbox_addr,
            sandbox_database_url,
            environment,
            database_url,
            redis_url,
            http_addr,
            public_url: public_url.trim_end_matches('/').to_string(),
            jwt_secret,
            jwt_secret_is_default,
        };
        if let Some(url) = &config.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            r.errors.push("SMTP_URL: must start with smtp:// or smtps://".into());
        }
        if r.errors.is_empty() { Ok(config) } else { Err(r.errors) }
    }

    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            public_url: self.public_url.clone(),
            jwt_secret: self.jwt_secret.clone(),
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_ttl_days: self.refresh_token_ttl_days,
            login_attempts_per_minute_per_account: self.login_attempts_per_minute_per_account,
            login_attempts_per_minute_per_ip: self.login_attempts_per_minute_per_ip,
            forwarded: kttipay_api::state::Forwarded {
                trust: self.trust_forwarded_for,
                proxies: self.trusted_proxies,
            },
            argon2_memory_kib: self.argon2_memory_kib,
            argon2_iterations: self.argon2_iterations,
            google: self.google.clone(),
            apple: self.apple.clone(),
            queue_prefix: self.queue_prefix.clone(),
            shaype_webhook_secret: self.shaype_webhook_secret.clone(),
            metrics_token: self.metrics_token.clone(),
            storage_url: self.storage_url.clone(),
            s3: self.s3.clone(),
            app: self.app.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_work_locally() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.jwt_secret_is_default);
        assert_eq!(c.worker_queues, Queue::ALL.to_vec());
    }

    #[test]
    fn every_bad_value_is_reported() {
        let errors = Config::from_vars(&vars(&[
            ("DATABASE_URL", "mysql://x"),
            ("KTTIPAY_HTTP_ADDR", "nope"),
            ("KTTIPAY_WORKER_CONCURRENCY", "0"),
            ("KTTIPAY_WORKER_QUEUES", "email,bogus"),
            ("KTTIPAY_JWT_SECRET", "short"),
            ("SMTP_URL", "http://mail"),
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("KTTIPAY_WORKER_CONCURRENCY")));
    }

    #[test]
    fn the_sandbox_database_sits_beside_ours() {
        assert_eq!(
            sibling_database("postgres://u@h:5432/kttipay", "_sandbox"),
            "postgres://u@h:5432/kttipay_sandbox"
        );
        assert_eq!(
            sibling_database("postgres://u@h/app?sslmode=require", "_sandbox"),
            "postgres://u@h/app_sandbox?sslmode=require"
        );
        assert_eq!(
            sibling_database("postgres://u@h:5432", "_sandbox"),
            "postgres://u@h:5432/kttipay_sandbox"
        );
    }

    #[test]
    fn production_needs_a_secret() {
        let errors = Config::from_vars(&vars(&[("KTTIPAY_ENV", "production")])).unwrap_err();
        assert!(errors[0].contains("KTTIPAY_JWT_SECRET"));
    }

    #[test]
    fn the_environment_is_one_of_three() {
        for bad in ["prod", "Production", "staging", "dev"] {
            let errors = Config::from_vars(&vars(&[("KTTIPAY_ENV", bad)])).unwrap_err();
            assert!(errors.iter().any(|e| e.starts_with("KTTIPAY_ENV")), "{bad}: {errors:?}");
        }
        for good in ENVIRONMENTS.into_iter().filter(|e| *e != "production") {
            assert!(Config::from_vars(&vars(&[("KTTIPAY_ENV", good)])).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_real_provider_never_gets_development_credentials() {
        let strong = "a-webhook-secret-of-at-least-32-bytes!";
        for env in ["development", "test"] {
            let errors = Config::from_vars(&vars(&[
                ("KTTIPAY_ENV", env),
                ("SHAYPE_BASE_URL", "https://api.example.test"),
            ]))
            .unwrap_err();
            assert!(errors.iter().any(|e| e.starts_with("SHAYPE_API_TOKEN")), "{errors:?}");
            assert!(
                errors.iter().any(|e| e.starts_with("SHAYPE_WEBHOOK_SECRET")),
                "{errors:?}"
            );
            // Typing the development values in explicitly does not help.
            let errors = Config::from_vars(&vars(&[
                ("KTTIPAY_ENV", env),
                ("SHAYPE_BASE_URL", "https://api.example.test"),
                ("SHAYPE_API_TOKEN", DEV_SHAYPE_API_TOKEN),
                ("SHAYPE_WEBHOOK_SECRET", DEV_SHAYPE_WEBHOOK_SECRET),
            ]))
            .unwrap_err();
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert!(
                errors.iter().all(|e| !e.contains(DEV_SHAYPE_WEBHOOK_SECRET)),
                "no secret printed"
            );
        }
        let short = Config::from_vars(&vars(&[
            ("SHAYPE_BASE_URL", "https://api.example.test"),
            ("SHAYPE_API_TOKEN", "live-token"),
            ("SHAYPE_WEBHOOK_SECRET", "too-short"),
        ]))
        .unwrap_err();
        assert!(short[0].contains("at least 32 bytes"), "{short:?}");
        assert!(
            Config::from_vars(&vars(&[
                ("SHAYPE_BASE_URL", "https://api.example.test"),
                ("SHAYPE_API_TOKEN", "live-token"),
                ("SHAYPE_WEBHOOK_SECRET", strong),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn production_needs_a_provider_and_mail() {
        let errors = Config::from_vars(&vars(&[
            ("KTTIPAY_ENV", "production"),
            ("KTTIPAY_JWT_SECRET", "a-very-long-secret-value-of-many-bytes"),
            ("SHAYPE_API_TOKEN", "live-token"),
            ("SHAYPE_WEBHOOK_SECRET", "a-webhook-secret-of-at-least-32-bytes!"),
        ]))
        .unwrap_err();
        assert!(
            errors.iter().any(|e| e.starts_with("KTTIPAY_METRICS_TOKEN")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.starts_with("SHAYPE_BASE_URL")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("SMTP_URL")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("FCM_CREDENTIALS_FILE")),
            "{errors:?}"
        );
    }

    #[test]
    fn fcm_credentials_are_checked_and_never_printed() {
        let errors = Config::from_vars(&vars(&[("FCM_CREDENTIALS_JSON", "{\"project_id\": \"p\"}")])).unwrap_err();
        assert!(errors[0].starts_with("FCM_CREDENTIALS_JSON"), "{errors:?}");
        let key = include_str!("../tests/fixtures/fcm_rsa_private.pem");
        let json = serde_json::json!({
            "project_id": "kttipay-test",
            "client_email": "push@kttipay-test.iam.gserviceaccount.com",
            "private_key": key,
        })
        .to_string();
        let c = Config::from_vars(&vars(&[("FCM_CREDENTIALS_JSON", &json)])).unwrap();
        let fcm = c.fcm.as_ref().unwrap();
        assert_eq!(fcm.endpoint, "https://fcm.googleapis.com");
        assert!(!format!("{c:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn storage_is_an_absolute_folder_or_a_bucket_with_credentials() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert!(c.storage_url.starts_with("file:///") && c.storage_url.ends_with("/data/objects"));
        let errors = Config::from_vars(&vars(&[("STORAGE_URL", "s3://receipts")])).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("S3_SECRET_ACCESS_KEY")), "{errors:?}");
        assert!(Config::from_vars(&vars(&[("STORAGE_URL", "file://relative/objects")])).is_err());
        assert!(Config::from_vars(&vars(&[("STORAGE_URL", "ftp://host/x")])).is_err());
        let c = Config::from_vars(&vars(&[
            ("STORAGE_URL", "s3://receipts"),
            ("S3_ACCESS_KEY_ID", "AKID"),
            ("S3_SECRET_ACCESS_KEY", "s3-secret-that-must-not-show"),
        ]))
        .unwrap();
        assert!(!format!("{:?}", c.api_config()).contains("s3-secret-that-must-not-show"));
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/kttipay"),
            ("KTTIPAY_JWT_SECRET", "a-very-long-secret-value-of-many-bytes"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("a-very-long-secret"));
        assert!(shown.contains("postgres://app:***@db/kttipay"));
        assert!(shown.contains(r#"jwt_secret: "***""#), "{shown}");
        let api = format!("{:?}", c.api_config());
        assert!(
            !api.contains("a-very-long-secret") && !api.contains(DEV_SHAYPE_WEBHOOK_SECRET),
            "{api}"
        );
        assert!(api.contains(r#"jwt_secret: "***""#), "{api}");
    }
}
