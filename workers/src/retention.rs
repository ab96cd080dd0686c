//! The retention sweep: every worker process purges expired idempotency keys and
//! long-finished jobs on a timer (`KTTIPAY_PURGE_INTERVAL_SECS`). It is a plain
//! loop rather than a queued job because it carries no data and the purge is
//! idempotent: replicas sweeping at once just find less to delete.

use kttipay_db::PgPool;
use kttipay_db::retention;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub struct RetentionConfig {
    pub idempotency_key_ttl_hours: i64,
    pub job_retention_days: i64,
    pub interval: Duration,
}

pub async fn run_retention(pool: PgPool, config: RetentionConfig, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(config.interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match retention::purge(&pool, config.idempotency_key_ttl_hours, config.job_retention_days).await {
            Ok(p) if p != retention::Purged::default() => {
                metrics::counter!("kttipay_purged_total", "what" => "idempotency_keys").increment(p.idempotency_keys);
                metrics::counter!("kttipay_purged_total", "what" => "jobs").increment(p.jobs);
                metrics::counter!("kttipay_purged_total", "what" => "chat_streams").increment(p.chat_streams);
                tracing::info!(
                    keys = p.idempotency_keys,
                    jobs = p.jobs,
                    chat_streams = p.chat_streams,
                    "retention sweep purged old rows"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying next tick"),
        }
    }
}
