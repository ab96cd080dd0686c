//! The queue contract shared by whoever enqueues (the API, other jobs) and the workers.
//!
//! - [`Job`]: a payload type per job kind, with its queue, version and retry policy.
//! - [`kinds`]: every job kind's payload. Payloads carry ids, never snapshots: the
//!   worker re-reads current state, so a job that runs late or twice acts on the truth.
//! - [`Dispatch`]: the only thing put on Redis, a versioned pointer to a job row.
//! - [`retry`]: attempts and exponential backoff with jitter.
//! - [`Queue`]: the queue names, so a worker pool can be scaled per queue.

pub mod kinds;
pub mod retry;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

pub use retry::RetryPolicy;

/// A queue: a set of job kinds that a worker process can be told to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Outbound email: slow SMTP should never hold up anything else.
    Email,
    /// Calls to the banking provider and applying its webhooks.
    Banking,
    /// Reading receipts (OCR): CPU-heavy and slow, so it never delays a payment
    /// and can run on its own worker processes.
    Media,
    /// Housekeeping and anything without a queue of its own.
    Default,
    /// Notifications to people (push, notification emails and digests): many
    /// small jobs per event, kept apart so a chat burst never delays a payout
    /// and account emails never wait behind a chat burst.
    Notify,
}

impl Queue {
    pub const ALL: [Queue; 5] = [
        Queue::Email,
        Queue::Banking,
        Queue::Media,
        Queue::Default,
        Queue::Notify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Queue::Email => "email",
            Queue::Banking => "banking",
            Queue::Media => "media",
            Queue::Default => "default",
            Queue::Notify => "notify",
        }
    }

    pub fn parse(name: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|q| q.name() == name.trim())
    }
}

/// A job kind. Implemented by each payload type in [`kinds`].
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name stored with the job row; never renamed once shipped.
    const KIND: &'static str;
    const QUEUE: Queue;
    const RETRY: RetryPolicy;
}

/// The message a relay pushes to Redis for one job row. Workers load the row by id,
/// so a message that arrives twice or late cannot run stale input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dispatch {
    /// Message format version: lets a new worker refuse or adapt old messages
    /// during a rolling deploy.
    pub v: u16,
    #[serde(rename = "jobId")]
    pub job_id: Uuid,
}

impl Dispatch {
    pub const VERSION: u16 = 1;

    pub fn new(job_id: Uuid) -> Dispatch {
        Dispatch {
            v: Self::VERSION,
            job_id,
        }
    }
}

/// Retry policy of a stored job kind, for rows the worker reads back. Unknown kinds
/// (a newer version's jobs seen by an older worker) get the default policy.
pub fn retry_policy_of(kind: &str) -> RetryPolicy {
    kinds::ALL
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, policy)| *policy)
        .unwrap_or(RetryPolicy::DEFAULT)
}

/// The queue a stored kind runs on.
pub fn queue_of(kind: &str) -> Queue {
    kinds::ALL
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, q, _)| *q)
        .unwrap_or(Queue::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_wire_format_is_stable() {
        let id = Uuid::nil();
        let json = serde_json::to_string(&Dispatch::new(id)).unwrap();
        assert_eq!(json, r#"{"v":1,"jobId":"00000000-0000-0000-0000-000000000000"}"#);
    }

    #[test]
    fn queue_names_round_trip() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.name()), Some(q));
        }
        assert_eq!(Queue::parse("nope"), None);
    }

    #[test]
    fn every_kind_is_listed_once() {
        let mut names: Vec<_> = kinds::ALL.iter().map(|(k, _, _)| *k).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), kinds::ALL.len());
    }
}
