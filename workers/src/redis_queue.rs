//! Redis queue naming and storage.

use apalis_core::backend::Vacuum;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use kttipay_jobs::{Dispatch, Queue};

/// Jobs a worker fetches from Redis in one round trip.
pub const FETCH_BATCH_SIZE: usize = 32;

/// The Redis key namespace of one queue. `prefix` separates deployments sharing a
/// Redis (and tests running side by side).
pub fn queue_key(prefix: &str, queue: Queue) -> String {
    format!("{prefix}:{}", queue.name())
}

/// The apalis storage for `queue`. Every name is explicit (apalis would otherwise
/// use the Rust type name). Tasks are not leased in Redis: PostgreSQL holds each
/// job's lease and outcome, so Redis stays a small, disposable dispatch buffer.
///
/// Results must be "persisted" all the same: that is how apalis acknowledges a
/// task. Without it every task stays in its worker's in-flight set forever (and
/// a restarted worker re-enqueues them all as orphans). [`vacuum`] then removes
/// what acknowledged tasks leave behind.
pub fn storage(conn: ConnectionManager, prefix: &str, queue: Queue) -> RedisStorage<Dispatch> {
    let config = Config::default()
        .queue(queue_key(prefix, queue))
        .batch_size(FETCH_BATCH_SIZE)
        .lock_tasks(false)
        .persist_results(true)
        .emit_events(false);
    RedisStorage::new(conn).with_config(config)
}

/// Deletes finished tasks' payloads, metadata and ids from Redis. PostgreSQL keeps
/// the real record of every job, so nothing here is worth keeping once acknowledged.
pub async fn vacuum(storage: &mut RedisStorage<Dispatch>) -> Result<usize, apalis_redis::Error> {
    let done_set = storage.get_config().done_jobs_set();
    let removed = Vacuum::vacuum(storage).await?;
    // apalis only ever adds to the done set; it would grow by one id per job.
    let _: () = redis::cmd("DEL")
        .arg(done_set)
        .query_async(storage.get_connection())
        .await?;
    Ok(removed)
}

/// Messages of this queue waiting in Redis for a worker to fetch them: what the
/// relay bounds (apalis-redis slows down on long lists and fails past ~8,000 due
/// messages in one fetch). Asked of Redis itself, in one O(1) command, rather than
/// counted from `queued` rows: that count read every in-flight row on each relay
/// pass, and it cannot see messages a restarted Redis lost.
///
/// apalis-redis files a pushed message under its schedule time and moves it to
/// the active list when a worker next fetches, so both are counted.
pub async fn waiting(storage: &mut RedisStorage<Dispatch>) -> Result<i64, redis::RedisError> {
    let config = storage.get_config();
    let (active, scheduled) = (config.active_jobs_list(), config.scheduled_jobs_set());
    let (listed, timed): (i64, i64) = redis::pipe()
        .cmd("LLEN")
        .arg(active)
        .cmd("ZCARD")
        .arg(scheduled)
        .query_async(storage.get_connection())
        .await?;
    Ok(listed + timed)
}
