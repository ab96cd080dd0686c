//! The worker pool: one apalis worker per served queue, each supervised.

use apalis::prelude::*;
use kttipay_jobs::{Dispatch, Queue};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::execute::execute;
use crate::relay::connect_redis;
use crate::wake::Tick;
use crate::{WorkerDeps, redis_queue};

/// Pause before restarting a worker whose backend failed (Redis went away).
pub const WORKER_RESTART_DELAY_MS: u64 = 500;

#[derive(Debug, Clone)]
pub struct WorkerPoolConfig {
    pub queues: Vec<Queue>,
    /// Jobs run at once per queue in this process.
    pub concurrency: usize,
    pub prefix: String,
    pub redis_url: String,
    /// How often an idle worker asks Redis for work.
    pub poll_interval: Duration,
}

/// Runs the workers until `shutdown` fires and their in-flight jobs finish.
pub async fn run_worker_pool(deps: WorkerDeps, config: WorkerPoolConfig, shutdown: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for queue in config.queues.clone() {
        tasks.spawn(supervise(deps.clone(), config.clone(), queue, shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("workers stopped");
}

/// Keeps one queue's worker alive: apalis ends a worker whose backend errors, so
/// it is rebuilt on a fresh connection after a pause.
async fn supervise(deps: WorkerDeps, config: WorkerPoolConfig, queue: Queue, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let Some(conn) = connect_redis(&config.redis_url, &shutdown).await else {
            return;
        };
        // A unique name per worker instance: apalis tracks in-flight work by name,
        // and two processes sharing one would steal each other's bookkeeping.
        let name = format!(
            "{}-{}",
            redis_queue::queue_key(&config.prefix, queue),
            uuid::Uuid::new_v4().simple()
        );
        let backend =
            redis_queue::storage(conn, &config.prefix, queue).poll_with_strategy(Tick::every(config.poll_interval));
        let worker = WorkerBuilder::new(name)
            .backend(backend)
            .data(deps.clone())
            .concurrency(config.concurrency)
            .build(handle);
        let stop = shutdown.clone();
        let result = worker
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        if shutdown.is_cancelled() {
            return;
        }
        tracing::warn!(queue = queue.name(), error = ?result.err(), "worker stopped; restarting");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(WORKER_RESTART_DELAY_MS)) => {}
        }
    }
}

/// The apalis handler. It always acknowledges the message: the job's outcome, its
/// retries and its dead state live in PostgreSQL, so apalis's own re-queueing
/// (up to 25 times, on a short linear delay) must never kick in.
async fn handle(message: Dispatch, deps: Data<WorkerDeps>) -> Result<(), BoxDynError> {
    if message.v != Dispatch::VERSION {
        tracing::error!(version = message.v, job = %message.job_id, "dispatch message of an unknown version; dropped");
        return Ok(());
    }
    if let Err(e) = execute(&deps, message.job_id).await {
        // The job's lease will lapse and the sweeper will take it back.
        tracing::warn!(job = %message.job_id, error = %e, "job bookkeeping failed");
    }
    Ok(())
}
