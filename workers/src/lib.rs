//! The background side: moving jobs from the PostgreSQL outbox through Redis to
//! handlers, and recording what happened.
//!
//! - [`relay`]: claims due outbox rows and pushes their ids to Redis, feeding each
//!   queue only up to a bounded depth; sweeps lapsed leases back to pending.
//! - [`pool`]: the apalis worker pool, one supervised worker per served queue.
//! - [`execute`]: one attempt of one job: start it in PostgreSQL, run the handler,
//!   record done / retry-with-backoff / dead.
//! - [`books`]: attempts' starts and outcomes, written in batches.
//! - [`handlers`]: one module per job kind.
//! - [`billing`]: the scheduled billing run (apalis-cron, every worker process).
//! - [`retention`]: the timed purge of expired idempotency keys and old jobs.
//! - [`templates`]: email bodies.
//! - [`redis_queue`]: queue naming and the apalis Redis storage per queue.
//! - [`wake`]: the idle-worker wake-up tick (works around an apalis-core 1.0 bug).

pub mod billing;
pub mod books;
pub mod execute;
pub mod handlers;
pub mod pool;
pub mod redis_queue;
pub mod relay;
pub mod retention;
pub mod templates;
pub mod wake;

pub use execute::{JobError, WorkerDeps};
pub use pool::{WorkerPoolConfig, run_worker_pool};
pub use relay::{RelayConfig, run_relay};
