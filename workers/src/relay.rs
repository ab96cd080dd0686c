//! The outbox relay: committed job rows -> Redis, at-least-once, with back-pressure.
//!
//! Woken by `NOTIFY kttipay_jobs` (sent when a job row commits) and by a polling
//! tick as a fallback (a lost notification, a retry whose backoff just ran out).
//! Several relays may run at once (one per worker process): `SKIP LOCKED` leases
//! give each row to one of them.

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use kttipay_db::{PgPool, jobs};
use kttipay_jobs::{Dispatch, Queue};
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::redis_queue;

/// How long a relay holds a row while pushing it; a relay that dies mid-push
/// delays those jobs by this much.
pub const DISPATCH_LEASE_SECS: i64 = 30;
/// How long a job may sit in Redis untaken before the sweeper assumes its message
/// was lost (Redis restarted without persistence) and dispatches it again.
pub const QUEUED_LEASE_SECS: i64 = 600;
/// Pause after Redis refused a push, before trying again.
pub const PUSH_FAILURE_BACKOFF_MS: u64 = 500;
/// When a queue was full (workers behind), look again this soon rather than at
/// the next polling tick: workers free room continuously, and waiting a whole tick
/// would cap a queue at its depth per tick.
pub const FULL_QUEUE_RECHECK_MS: u64 = 20;

/// How a relay pass over one queue ended.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// Nothing more is due.
    Drained,
    /// Jobs are due but Redis already holds the maximum for this queue.
    Full,
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub queues: Vec<Queue>,
    /// Redis key prefix (see [`redis_queue::queue_key`]).
    pub prefix: String,
    pub redis_url: String,
    /// Most jobs of one queue waiting in Redis at once. Past that the backlog stays
    /// in PostgreSQL: apalis-redis slows down on long lists and fails outright
    /// beyond ~8,000 due jobs in one fetch.
    pub max_queue_depth: i64,
    /// Rows leased and pushed per round trip.
    pub batch_size: i64,
    /// Fallback polling tick.
    pub poll_interval: Duration,
    /// How often lapsed leases are swept back to pending.
    pub sweep_interval: Duration,
}

/// Runs until `shutdown` fires. Never returns an error: every failure is logged,
/// backed off and retried, since the relay is the only way jobs leave the outbox.
pub async fn run_relay(pool: PgPool, config: RelayConfig, shutdown: CancellationToken) {
    let Some(conn) = connect_redis(&config.redis_url, &shutdown).await else {
        return;
    };
    let mut storages: HashMap<Queue, RedisStorage<Dispatch>> = config
        .queues
        .iter()
        .map(|&q| (q, redis_queue::storage(conn.clone(), &config.prefix, q)))
        .collect();
    let mut listener = listen(&pool).await;
    let mut last_sweep = Instant::now() - config.sweep_interval;
    let mut redis_run = RedisRun::default();

    while !shutdown.is_cancelled() {
        if last_sweep.elapsed() >= config.sweep_interval {
            redis_run.check(conn.clone(), &pool, &config.queues).await;
            sweep(&pool).await;
            for storage in storages.values_mut() {
                if let Err(e) = redis_queue::vacuum(storage).await {
                    tracing::debug!(error = %e, "Redis vacuum failed; next sweep retries");
                }
            }
            last_sweep = Instant::now();
        }
        let (mut push_failed, mut full) = (false, false);
        for queue in &config.queues {
            let storage = storages.get_mut(queue).expect("a storage per configured queue");
            match relay_queue(&pool, storage, *queue, &config).await {
                Ok(Pass::Drained) => {}
                Ok(Pass::Full) => full = true,
                Err(e) => {
                    tracing::warn!(queue = queue.name(), error = %e, "relay pass failed; retrying");
                    push_failed = true;
                }
            }
        }
        let tick = if push_failed {
            Duration::from_millis(PUSH_FAILURE_BACKOFF_MS)
        } else if full {
            Duration::from_millis(FULL_QUEUE_RECHECK_MS)
        } else {
            config.poll_interval
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
            notified = wait_for_notification(&mut listener), if listener.is_some() => {
                if !notified {
                    listener = listen(&pool).await;
                }
            }
        }
    }
    tracing::info!("relay stopped");
}

/// Pushes due jobs of one queue until none are due or the queue is full.
async fn relay_queue(
    pool: &PgPool,
    storage: &mut RedisStorage<Dispatch>,
    queue: Queue,
    config: &RelayConfig,
) -> Result<Pass, String> {
    loop {
        let depth = redis_queue::waiting(storage)
            .await
            .map_err(|e| format!("queue depth from Redis: {e}"))?;
        let room = config.max_queue_depth - depth;
        if room <= 0 {
            return Ok(Pass::Full);
        }
        let want = room.min(config.batch_size);
        let ids = jobs::lease_due(pool, queue.name(), want, DISPATCH_LEASE_SECS)
            .await
            .map_err(|e| e.to_string())?;
        if ids.is_empty() {
            return Ok(Pass::Drained);
        }
        push(pool, storage, &ids).await?;
        metrics::counter!("kttipay_relay_dispatched_total", "queue" => queue.name()).increment(ids.len() as u64);
        if (ids.len() as i64) < want {
            return Ok(Pass::Drained);
        }
    }
}

async fn push(pool: &PgPool, storage: &mut RedisStorage<Dispatch>, ids: &[Uuid]) -> Result<(), String> {
    let messages = ids.iter().copied().map(Dispatch::new).collect();
    if let Err(e) = storage.push_bulk(messages).await {
        // Give the rows back now rather than waiting out the lease.
        if let Err(db) = jobs::release_leases(pool, ids).await {
            tracing::warn!(error = %db, "could not release dispatch leases; they will lapse");
        }
        return Err(format!("push to Redis: {e}"));
    }
    // A crash here (pushed, not marked) is the at-least-once window: the lease
    // lapses, the job is pushed again, and the duplicate message finds the job
    // already started or done.
    jobs::mark_queued(pool, ids, QUEUED_LEASE_SECS)
        .await
        .map_err(|e| e.to_string())
}

/// Which Redis server run the relay has been pushing to. Our Redis keeps nothing
/// on disk: when it restarts, every message it held is gone, and their jobs would
/// wait out [`QUEUED_LEASE_SECS`] before the sweep took them back. A new run id
/// (`INFO server`) says that happened, and they are dispatched again at once.
#[derive(Default)]
struct RedisRun {
    id: Option<String>,
}

impl RedisRun {
    async fn check(&mut self, mut conn: ConnectionManager, pool: &PgPool, queues: &[Queue]) {
        let info: String = match redis::cmd("INFO").arg("server").query_async(&mut conn).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "Redis INFO failed; the next sweep asks again");
                return;
            }
        };
        let Some(run) = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(|r| r.trim().to_string())
        else {
            return;
        };
        if self.id.as_ref().is_some_and(|known| *known != run) {
            let names: Vec<&str> = queues.iter().map(|q| q.name()).collect();
            match jobs::requeue_queued(pool, &names).await {
                Ok(n) => tracing::warn!(count = n, "Redis restarted: dispatching its lost messages again"),
                // Not recorded as seen: the next sweep tries again.
                Err(e) => {
                    tracing::warn!(error = %e, "Redis restarted, and requeueing its jobs failed");
                    return;
                }
            }
        }
        self.id = Some(run);
    }
}

async fn sweep(pool: &PgPool) {
    match jobs::sweep_expired(pool).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(count = n, "took back jobs whose lease lapsed"),
        Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
    }
    match jobs::unfinished_count(pool).await {
        Ok(n) => metrics::gauge!("kttipay_outbox_backlog").set(n as f64),
        Err(e) => tracing::debug!(error = %e, "backlog gauge not updated"),
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN unavailable; polling only");
            return None;
        }
    };
    match listener.listen("kttipay_jobs").await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN failed; polling only");
            None
        }
    }
}

/// True on a notification; false when the listener broke and must be replaced.
async fn wait_for_notification(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => l.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Connects to Redis, retrying until it answers or shutdown; `None` on shutdown.
/// Starting without Redis is allowed: jobs wait in the outbox meanwhile.
pub async fn connect_redis(url: &str, shutdown: &CancellationToken) -> Option<ConnectionManager> {
    let mut delay = Duration::from_millis(200);
    loop {
        match apalis_redis::connect(url).await {
            Ok(conn) => return Some(conn),
            Err(e) => tracing::warn!(error = %e, "Redis unavailable; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
