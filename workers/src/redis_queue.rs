//! Redis queue naming and storage.

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
/// use the Rust type name). Results are not stored and tasks are not leased in
/// Redis: PostgreSQL holds each job's outcome and lease, so Redis stays a small,
/// disposable dispatch buffer.
pub fn storage(conn: ConnectionManager, prefix: &str, queue: Queue) -> RedisStorage<Dispatch> {
    let config = Config::default()
        .queue(queue_key(prefix, queue))
        .batch_size(FETCH_BATCH_SIZE)
        .lock_tasks(false)
        .persist_results(false)
        .emit_events(false);
    RedisStorage::new(conn).with_config(config)
}
