//! Attempt bookkeeping, batched: every start and every outcome of a job is a
//! write to its row, and one statement per job would make those writes (each a
//! commit) the pipeline's ceiling. Handlers hand their write to one task per kind
//! of write, which takes whatever has gathered while its previous statement ran
//! and writes it all in one statement (two such statements may run at once): one
//! job alone waits for nothing, a burst shares its commits. The guarantees are
//! the statements' own (a job starts once, an outcome lands once), not the
//! batching's.

use kttipay_db::PgPool;
use kttipay_db::jobs::{self, Attempt, Finish};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::execute::JOB_RUN_LEASE_SECS;

/// Most writes of one kind in one statement.
pub const BOOKKEEPING_BATCH_MAX: usize = 512;
/// Statements of one kind running at once per process: while one commits, the
/// next batch is already on its way, so a handler waits for about one statement,
/// not one and a half on average.
pub const BOOKKEEPING_BATCHES_IN_FLIGHT: usize = 2;

type Reply<A> = oneshot::Sender<Result<A, String>>;
/// Unbounded on purpose: each handler waits for its own answer, so what waits in
/// a channel is bounded by the handlers running at once.
type Requests<Q, A> = mpsc::UnboundedSender<(Q, Reply<A>)>;

/// The handle handlers write through. Cheap to clone; its tasks end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Books {
    starts: Requests<Uuid, Option<Attempt>>,
    finishes: Requests<(Uuid, Finish), ()>,
}

impl Books {
    /// Starts the two writer tasks on the current runtime.
    pub fn new(pool: PgPool) -> Self {
        let (starts, rx) = mpsc::unbounded_channel();
        let start_pool = pool.clone();
        tokio::spawn(serve(rx, move |ids: Vec<Uuid>| {
            let pool = start_pool.clone();
            async move {
                let started = jobs::start_attempts(&pool, &ids, JOB_RUN_LEASE_SECS).await?;
                let mut by_id: HashMap<Uuid, Attempt> = started.into_iter().map(|a| (a.id, a)).collect();
                // `remove`: the same id twice in one batch (a message delivered
                // twice) starts once; the second asker is told it did not.
                Ok(ids.iter().map(|id| by_id.remove(id)).collect())
            }
        }));
        let (finishes, rx) = mpsc::unbounded_channel();
        tokio::spawn(serve(rx, move |outcomes: Vec<(Uuid, Finish)>| {
            let pool = pool.clone();
            async move {
                jobs::finish_attempts(&pool, &outcomes).await?;
                Ok(vec![(); outcomes.len()])
            }
        }));
        Books { starts, finishes }
    }

    /// Starts an attempt of `id`; `None` when it is not runnable (already done,
    /// running elsewhere, or not yet due).
    pub async fn start(&self, id: Uuid) -> Result<Option<Attempt>, sqlx::Error> {
        ask(&self.starts, id).await
    }

    /// Records an attempt's outcome (a no-op when the job is no longer running).
    pub async fn finish(&self, id: Uuid, finish: Finish) -> Result<(), sqlx::Error> {
        ask(&self.finishes, (id, finish)).await
    }
}

async fn ask<Q, A>(requests: &Requests<Q, A>, request: Q) -> Result<A, sqlx::Error> {
    let (reply, answer) = oneshot::channel();
    requests.send((request, reply)).map_err(|_| sqlx::Error::PoolClosed)?;
    match answer.await {
        Ok(Ok(a)) => Ok(a),
        // The statement failed for the whole batch; each asker sees why.
        Ok(Err(e)) => Err(sqlx::Error::Protocol(format!("batched job bookkeeping: {e}"))),
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// Answers requests in batches until every sender is gone, at most
/// [`BOOKKEEPING_BATCHES_IN_FLIGHT`] statements at once. `write` answers a batch
/// in its order.
async fn serve<Q, A, F, Fut>(mut rx: mpsc::UnboundedReceiver<(Q, Reply<A>)>, write: F)
where
    Q: Send + 'static,
    A: Send + 'static,
    F: Fn(Vec<Q>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Vec<A>, sqlx::Error>> + Send,
{
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(BOOKKEEPING_BATCHES_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Waiting for a free slot before gathering: what arrives meanwhile joins
        // this batch instead of making one of its own.
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BOOKKEEPING_BATCH_MAX {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<Q>, Vec<Reply<A>>) = batch.into_iter().unzip();
        let write = write.clone();
        tokio::spawn(async move {
            let answered = write(requests).await;
            drop(slot);
            match answered {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        // An asker that gave up (its handler was cancelled) needs no answer.
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) => {
                    let e = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}
