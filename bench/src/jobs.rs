//! Job throughput: raw apalis on our Redis, and our outbox pipeline.

use apalis::prelude::*;
use kttipay_jobs::{Dispatch, Queue};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const JOBS: usize = 20_000;
/// apalis-redis cannot fetch more than ~8,000 due messages in one queue, so the raw
/// run pushes in rounds of this size (our relay bounds the queue the same way).
const RAW_ROUND: usize = 5_000;

pub struct Raw {
    pub push: f64,
    pub drain: f64,
    pub end_to_end: f64,
}

/// Raw apalis on the same Redis, with the same storage settings as our workers and
/// a handler that does nothing.
pub async fn raw_apalis(redis_url: &str) -> anyhow::Result<Raw> {
    let prefix = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let conn = apalis_redis::connect(redis_url).await?;
    let mut storage = kttipay_workers::redis_queue::storage(conn.clone(), &prefix, Queue::Default);
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let worker = WorkerBuilder::new(format!("{prefix}-worker"))
        .backend(
            kttipay_workers::redis_queue::storage(conn.clone(), &prefix, Queue::Default)
                .poll_with_strategy(kttipay_workers::wake::Tick::every(Duration::from_millis(10))),
        )
        .data(counter)
        // The same concurrency as the serve process's workers (bench/run.sh).
        .concurrency(worker_concurrency())
        .build(count);
    let stop = tokio_stop();
    let running = tokio::spawn(worker.run_until(stop.1));

    let (mut push_time, mut drain_time) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    for round in 0..JOBS / RAW_ROUND {
        let messages: Vec<Dispatch> = (0..RAW_ROUND).map(|_| Dispatch::new(uuid::Uuid::new_v4())).collect();
        let t = Instant::now();
        storage.push_bulk(messages).await?;
        push_time += t.elapsed();
        let t = Instant::now();
        while done.load(Ordering::SeqCst) < (round + 1) * RAW_ROUND {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drain_time += t.elapsed();
    }
    let total = started.elapsed();
    let _ = stop.0.send(());
    let _ = running.await;
    let mut c = conn;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await?;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut c).await?;
    }
    let n = JOBS as f64;
    Ok(Raw {
        push: n / push_time.as_secs_f64(),
        drain: n / drain_time.as_secs_f64(),
        end_to_end: n / total.as_secs_f64(),
    })
}

/// Jobs run at once per queue, in the server (`KTTIPAY_WORKER_CONCURRENCY`, set
/// by `bench/run.sh`) and so in the raw baseline too.
fn worker_concurrency() -> usize {
    std::env::var("KTTIPAY_WORKER_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

async fn count(_: Dispatch, done: Data<Arc<AtomicUsize>>) -> Result<(), BoxDynError> {
    done.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn tokio_stop() -> (
    tokio::sync::oneshot::Sender<()>,
    impl Future<Output = Result<(), std::io::Error>> + Send,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
        Ok(())
    })
}

/// A smaller burst, to show the pipeline's cost of growth (issue 12: the rate
/// may not fall by more than a fifth from this to [`JOBS`]).
pub const SMALL_JOBS: usize = 2_000;

/// `jobs` no-op jobs committed to the outbox at once; jobs per second until all
/// are done.
pub async fn pipeline(pool: &sqlx::PgPool, jobs: usize) -> anyhow::Result<f64> {
    // Poll rarely and on the indexed status: on 2 cores, a tight count(*) loop
    // would steal the CPU it is trying to measure; a small burst is polled more
    // often, or the poll's own step would be a fifth of what it measures.
    let poll = Duration::from_millis(if jobs <= SMALL_JOBS { 10 } else { 100 });
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts) \
         SELECT gen_random_uuid(), 'noop.v1', 'default', '{}', 3 FROM generate_series(1, $1)",
    )
    .bind(jobs as i32)
    .execute(pool)
    .await?;
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending') \
                      + (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running'))",
        )
        .fetch_one(pool)
        .await?;
        if left == 0 {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}
