//! Live chat across API replicas. Each process keeps one PostgreSQL LISTEN
//! connection; a committed message's signal is read once per process, the row
//! fetched once, and broadcast to every open stream of that process in memory.
//! A stream that falls behind (its buffer overflowed, or the LISTEN connection
//! dropped) catches up from the table by message number, so nothing is lost.

use kttipay_db::chat::{self, ChatRow, Listener, Signal};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events buffered per stream before a slow one has to catch up from the table.
const HUB_BUFFER_EVENTS: usize = 4_096;
/// Pause before reconnecting a LISTEN connection that failed outright.
const RELISTEN_PAUSE_MS: u64 = 500;

#[derive(Debug, Clone)]
pub enum HubEvent {
    Message(Arc<ChatRow>),
    Departed {
        ktti: Uuid,
        user: Uuid,
    },
    /// Signals may have been missed: every stream catches up.
    Resync,
}

#[derive(Clone)]
pub struct ChatHub {
    events: broadcast::Sender<HubEvent>,
    /// Cancelled when the process stops: open streams end, so a graceful
    /// shutdown does not wait out its grace period on them.
    stopping: CancellationToken,
}

impl Default for ChatHub {
    fn default() -> Self {
        ChatHub {
            events: broadcast::channel(HUB_BUFFER_EVENTS).0,
            stopping: CancellationToken::new(),
        }
    }
}

impl ChatHub {
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Listens until `stop`, reconnecting after failures.
    pub async fn run(self, pool: sqlx::PgPool, stop: CancellationToken) {
        let _ends_streams = self.stopping.clone().drop_guard();
        loop {
            let mut listener = tokio::select! {
                _ = stop.cancelled() => return,
                l = Listener::connect(&pool) => match l {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "chat LISTEN failed; retrying");
                        tokio::time::sleep(Duration::from_millis(RELISTEN_PAUSE_MS)).await;
                        continue;
                    }
                },
            };
            // Anything said while we were not listening is fetched by the streams.
            self.publish(HubEvent::Resync);
            loop {
                let signal = tokio::select! {
                    _ = stop.cancelled() => return,
                    s = listener.next() => s,
                };
                match signal {
                    Ok(Signal::Message { ktti, seq }) => match chat::by_seq(&pool, ktti, seq).await {
                        Ok(Some(row)) => self.publish(HubEvent::Message(Arc::new(row))),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "reading a chat message failed; streams catch up");
                            self.publish(HubEvent::Resync);
                        }
                    },
                    Ok(Signal::Departed { ktti, user }) => self.publish(HubEvent::Departed { ktti, user }),
                    Ok(Signal::Lost) => self.publish(HubEvent::Resync),
                    Err(e) => {
                        tracing::warn!(error = %e, "chat LISTEN connection failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    fn publish(&self, e: HubEvent) {
        // No receivers (no open streams) is not an error.
        let _ = self.events.send(e);
    }
}
