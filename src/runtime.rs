//! Starting and stopping the roles a process plays.
//!
//! `serve` plays them all; `api` and `worker` split them for production. Every role
//! is stateless: PostgreSQL and Redis hold everything, so any replica can die.

use crate::config::Config;
use anyhow::Context;
use kttipay_api::AppState;
use kttipay_db::PgPool;
use kttipay_jobs::Queue;
use kttipay_providers::email::{DynMailer, LogMailer, SmtpMailer};
use kttipay_providers::shaype::client::ShaypeClient;
use kttipay_providers::sms::{HttpSms, LogSms};
use kttipay_workers::{RelayConfig, WorkerDeps, WorkerPoolConfig, run_relay, run_worker_pool};
use poem::listener::TcpAcceptor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often idle rate-limit keys are forgotten.
const LIMITER_PRUNE_INTERVAL_SECS: u64 = 60;

/// Which roles to start.
#[derive(Debug, Clone)]
pub struct Roles {
    pub api: bool,
    pub relay: bool,
    /// Queues to run workers for; empty runs none.
    pub worker_queues: Vec<Queue>,
    /// The embedded sandbox provider.
    pub sandbox: bool,
}

impl Roles {
    /// Everything `serve` runs: the sandbox too when no provider is configured.
    pub fn everything(config: &Config) -> Roles {
        Roles {
            api: true,
            relay: true,
            worker_queues: config.worker_queues.clone(),
            sandbox: config.shaype_base_url.is_none(),
        }
    }

    /// What these roles need beyond a valid configuration, each problem naming
    /// its variable: checked at start and by `kttipay --check-config`, so a
    /// process that would exit at start fails the check instead.
    pub fn problems(&self, config: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.worker_queues.is_empty() && !self.sandbox && config.shaype_base_url.is_none() {
            problems
                .push("SHAYPE_BASE_URL: required by workers outside `serve` (no embedded sandbox to call)".to_string());
        }
        problems
    }
}

/// The sandbox's settings from ours; webhooks go to `webhook_base`.
pub fn sandbox_config(config: &Config, webhook_base: String) -> kttipay_sandbox::SandboxConfig {
    kttipay_sandbox::SandboxConfig {
        database_url: config.sandbox_database_url.clone(),
        webhook_base_url: webhook_base,
        webhook_secret: config.shaype_webhook_secret.clone(),
        api_token: config.shaype_api_token.clone(),
        kyc_delay: Duration::from_millis(config.sandbox_kyc_delay_ms),
        tick: Duration::from_millis(config.sandbox_tick_ms),
        bsb: "802985".into(),
    }
}

/// A started process. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    /// Where the API listens (when it runs).
    pub addr: Option<SocketAddr>,
    /// The banking provider's base URL: the configured one, or the embedded sandbox's.
    pub shaype_base_url: Option<String>,
    pub pool: PgPool,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    sandbox: Option<kttipay_sandbox::RunningSandbox>,
}

impl Running {
    /// Stops accepting work, lets in-flight requests and jobs finish, and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.shutdown().await;
        }
    }

    /// A token that stops this process when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until every role has stopped (after a signal or a failure).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {
            // One role ending (the HTTP server failing, say) ends the process
            // cleanly instead of leaving it half alive.
            self.shutdown.cancel();
        }
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.shutdown().await;
        }
    }
}

/// Creates the database if needed and applies migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    kttipay_db::create_database_if_missing(&config.database_url)
        .await
        .context("creating the database")?;
    let pool = kttipay_db::connect(&config.database_url, 2)
        .await
        .context("connecting to PostgreSQL")?;
    kttipay_db::migrate(&pool).await.context("running migrations")?;
    pool.close().await;
    Ok(())
}

/// Starts `roles`. The database must exist and be migrated.
pub async fn start(config: &Config, roles: Roles) -> anyhow::Result<Running> {
    let pool = kttipay_db::connect(&config.database_url, config.db_max_connections)
        .await
        .context("connecting to PostgreSQL")?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut addr = None;

    if roles.api {
        let redis = redis::Client::open(config.redis_url.as_str()).context("REDIS_URL")?;
        let state = AppState::new(
            pool.clone(),
            redis,
            config.api_config(),
            kttipay_api::observe::metrics_handle(),
        )
        .map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        addr = Some(listener.local_addr()?);
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        tasks.spawn(state.chat_hub.clone().run(pool.clone(), shutdown.clone()));
        let app = kttipay_api::app(state.clone());
        let stop = shutdown.clone();
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        tasks.spawn(async move {
            let served = poem::Server::new_with_acceptor(acceptor)
                .name("kttipay-api")
                .run_with_graceful_shutdown(app, stop.cancelled_owned(), Some(grace))
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
            tracing::info!("API stopped");
        });
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(LIMITER_PRUNE_INTERVAL_SECS));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        state.login_limiter.prune();
                        state.join_limiter.prune();
                    }
                }
            }
        });
        tracing::info!(addr = %addr.expect("bound"), "API listening");
    }

    // The embedded sandbox reports to this process's own API (its real port).
    let mut sandbox = None;
    if roles.sandbox {
        let webhook_base = addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_else(|| config.sandbox_webhook_url.clone());
        let running = kttipay_sandbox::start(sandbox_config(config, webhook_base), config.sandbox_addr).await?;
        sandbox = Some(running);
    }
    let shaype_base_url = config
        .shaype_base_url
        .clone()
        .or_else(|| sandbox.as_ref().map(|s| s.base_url()));

    if roles.relay {
        let relay = RelayConfig {
            queues: Queue::ALL.to_vec(),
            prefix: config.queue_prefix.clone(),
            redis_url: config.redis_url.clone(),
            max_queue_depth: config.relay_max_queue_depth,
            batch_size: config.relay_batch_size,
            poll_interval: Duration::from_millis(config.relay_poll_ms),
            sweep_interval: Duration::from_secs(config.relay_sweep_secs),
        };
        tasks.spawn(run_relay(pool.clone(), relay, shutdown.clone()));
    }

    if !roles.worker_queues.is_empty() {
        let mailer: DynMailer = match &config.smtp_url {
            Some(url) => Arc::new(SmtpMailer::new(url, &config.email_from).map_err(anyhow::Error::msg)?),
            None => {
                tracing::warn!("SMTP_URL is unset: emails are written to the log, not sent");
                Arc::new(LogMailer)
            }
        };
        if let Some(problem) = roles.problems(config).into_iter().next() {
            anyhow::bail!("{problem}");
        }
        let banking_url = shaype_base_url
            .clone()
            .context("no banking provider: set SHAYPE_BASE_URL")?;
        let deps = WorkerDeps {
            pool: pool.clone(),
            mailer,
            banking: ShaypeClient::new(&banking_url, &config.shaype_api_token).map_err(anyhow::Error::msg)?,
            sms: match &config.sms_gateway_url {
                Some(url) => Arc::new(HttpSms::new(url, &config.sms_gateway_token).map_err(anyhow::Error::msg)?),
                None => {
                    tracing::warn!("SMS_GATEWAY_URL is unset: texts are logged, not sent");
                    Arc::new(LogSms)
                }
            },
            public_url: config.public_url.clone(),
            storage: kttipay_providers::storage::Storage::open(&config.storage_url, &config.s3)?,
            billing_plans: Arc::new(config.app.billing_plans.clone()),
            pusher: match &config.fcm {
                Some(fcm) => kttipay_providers::push::Pusher::Fcm(Arc::new(
                    kttipay_providers::push::FcmClient::new(fcm.clone()).map_err(anyhow::Error::msg)?,
                )),
                None => {
                    tracing::warn!("FCM_CREDENTIALS_FILE is unset: pushes are written to the log, not sent");
                    kttipay_providers::push::Pusher::Log
                }
            },
            digest_window_secs: config.email_digest_window_secs,
            books: kttipay_workers::books::Books::new(pool.clone()),
        };
        let workers = WorkerPoolConfig {
            queues: roles.worker_queues.clone(),
            concurrency: config.worker_concurrency,
            prefix: config.queue_prefix.clone(),
            redis_url: config.redis_url.clone(),
            poll_interval: Duration::from_millis(config.worker_poll_ms),
        };
        // Every worker process bills: replicas firing at once charge once.
        tasks.spawn(kttipay_workers::billing::run_billing_schedule(
            deps.clone(),
            Duration::from_secs(config.billing_interval_secs),
            shutdown.clone(),
        ));
        tasks.spawn(run_worker_pool(deps, workers, shutdown.clone()));
        let retention = kttipay_workers::retention::RetentionConfig {
            idempotency_key_ttl_hours: config.idempotency_key_ttl_hours,
            job_retention_days: config.job_retention_days,
            interval: Duration::from_secs(config.purge_interval_secs),
        };
        tasks.spawn(kttipay_workers::retention::run_retention(
            pool.clone(),
            retention,
            shutdown.clone(),
        ));
    }

    Ok(Running {
        addr,
        shaype_base_url,
        pool,
        shutdown,
        tasks,
        sandbox,
    })
}
