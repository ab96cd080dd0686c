//! Shared state of the API process and its configuration.

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::{JoinLimiter, LoginLimiter};
use crate::auth::social::JwksCache;
use kttipay_db::PgPool;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// One social sign-in provider: where its signing keys are, and which `iss` and
/// `aud` an ID token must carry to be ours.
#[derive(Debug, Clone)]
pub struct SocialProvider {
    pub jwks_url: String,
    /// Our OAuth client ids; empty disables the provider.
    pub audiences: Vec<String>,
    pub issuers: Vec<String>,
}

#[derive(Clone)]
pub struct ApiConfig {
    pub public_url: String,
    pub jwt_secret: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub login_attempts_per_minute_per_account: u32,
    pub login_attempts_per_minute_per_ip: u32,
    /// Where the client IP comes from behind proxies.
    pub forwarded: Forwarded,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub google: SocialProvider,
    pub apple: SocialProvider,
    /// Redis prefix of the job queues (for the readiness check's key space).
    pub queue_prefix: String,
    /// The HMAC secret of the banking provider's webhooks.
    pub shaype_webhook_secret: String,
    /// Bearer token `/metrics` asks for; `None` leaves it open (development).
    pub metrics_token: Option<String>,
    /// Where uploaded files go (`file:///...` or `s3://bucket`).
    pub storage_url: String,
    /// The S3-compatible service of an `s3://` storage URL (its Debug hides the secret).
    pub s3: kttipay_providers::storage::S3Settings,
    pub app: AppSettings,
}
kttipay_domain::debug_redacted!(ApiConfig {
    public_url, access_token_ttl_secs, refresh_token_ttl_days, login_attempts_per_minute_per_account,
    login_attempts_per_minute_per_ip, forwarded, argon2_memory_kib, argon2_iterations, google,
    apple, queue_prefix, storage_url, s3, app
} secret { jwt_secret, shaype_webhook_secret, metrics_token });

/// Whether `X-Forwarded-For` is trusted, and how many of our own proxies append
/// to it (see `routes::client_ip`).
#[derive(Debug, Clone, Copy)]
pub struct Forwarded {
    pub trust: bool,
    pub proxies: usize,
}

/// What `GET /api/v2/core/config` tells the apps, and the limits behind it.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub min_app_version_ios: String,
    pub min_app_version_android: String,
    pub feature_flags: Vec<String>,
    pub billing_plans: Vec<kttipay_domain::billing::Plan>,
    pub support_email: String,
    pub support_phone: String,
    /// Joining by referral code, per user and per client IP, per hour.
    pub joins_per_hour: u32,
    /// Open group ktties one user may own.
    pub group_ktties_per_user: u32,
    /// Invitations one ktti may send in 24 hours.
    pub invitations_per_ktti_per_day: u32,
    /// KYC submissions one user may make in 24 hours.
    pub kyc_submissions_per_day: u32,
}

/// Cheap to clone: everything behind one `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub redis: redis::Client,
    pub config: ApiConfig,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub login_limiter: LoginLimiter,
    pub join_limiter: JoinLimiter,
    pub jwks: JwksCache,
    pub metrics: PrometheusHandle,
    pub storage: kttipay_providers::storage::Storage,
    /// The readiness check's shared Redis connection.
    pub redis_probe: crate::ops::RedisProbe,
    /// Chat events for this process's open streams (fed by [`crate::chat_hub::ChatHub::run`]).
    pub chat_hub: crate::chat_hub::ChatHub,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        pool: PgPool,
        redis: redis::Client,
        config: ApiConfig,
        metrics: PrometheusHandle,
    ) -> Result<AppState, String> {
        let jwt = JwtKeys::new(&config.jwt_secret, config.access_token_ttl_secs)?;
        let passwords = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations)?;
        let login_limiter = LoginLimiter::new(
            config.login_attempts_per_minute_per_account,
            config.login_attempts_per_minute_per_ip,
        )?;
        let jwks = JwksCache::new();
        let join_limiter = JoinLimiter::new(config.app.joins_per_hour)?;
        let storage =
            kttipay_providers::storage::Storage::open(&config.storage_url, &config.s3).map_err(|e| e.to_string())?;
        Ok(AppState(Arc::new(Inner {
            pool,
            redis,
            config,
            jwt,
            passwords,
            login_limiter,
            join_limiter,
            jwks,
            metrics,
            storage,
            redis_probe: Default::default(),
            chat_hub: Default::default(),
        })))
    }
}
