//! Bogus password-reset confirmations must not slow real logins: the token is
//! looked up before anything is hashed, so a flood of made-up tokens costs one
//! indexed read each and never queues for argon2. Measured as the p99 of logins
//! at a modest concurrency, alone, while [`BOGUS_IN_FLIGHT`] bogus confirmations
//! are in flight at all times, and (the control) while as many health checks are.

use crate::Args;
use crate::http::wrk_at;
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bogus confirmations kept in flight during the second login run.
pub const BOGUS_IN_FLIGHT: usize = 200;
/// Connections of the login runs: a normal load, not a saturating one, so p99
/// shows the login's own latency rather than a queue.
pub const LOGIN_CONNECTIONS: u32 = 4;

pub struct Figures {
    pub alone: (f64, f64),
    pub flooded: (f64, f64),
    pub bogus_per_second: f64,
    /// The control: logins while as many `GET /health/live` are in flight. On
    /// two cores any flood takes CPU from argon2; bogus confirmations pass if
    /// they cost logins no more than the cheapest request does.
    pub control: (f64, f64),
    pub control_per_second: f64,
}

pub async fn login_under_bogus_resets(args: &Args, login_body: &str) -> anyhow::Result<Figures> {
    let base = args.base.clone();
    let body = login_body.to_string();
    let alone =
        tokio::task::spawn_blocking(move || wrk_at(LOGIN_CONNECTIONS, &base, "/api/v2/auth/login", None, Some(&body)))
            .await??;

    let (flooded, bogus_per_second) = logins_during(args, login_body, Flood::BogusResets).await?;
    let (control, control_per_second) = logins_during(args, login_body, Flood::HealthChecks).await?;
    Ok(Figures {
        alone,
        flooded,
        bogus_per_second,
        control,
        control_per_second,
    })
}

#[derive(Clone, Copy)]
enum Flood {
    BogusResets,
    HealthChecks,
}

/// Logins (wrk) while [`BOGUS_IN_FLIGHT`] requests of `flood` are in flight:
/// (login rate, login p99) and the flood's rate.
async fn logins_during(args: &Args, login_body: &str, flood_kind: Flood) -> anyhow::Result<((f64, f64), f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(BOGUS_IN_FLIGHT)
        .build()?;
    let mut flood = Vec::with_capacity(BOGUS_IN_FLIGHT);
    for worker in 0..BOGUS_IN_FLIGHT {
        let (client, stop, sent) = (client.clone(), stop.clone(), sent.clone());
        let base = args.base.clone();
        flood.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let request = match flood_kind {
                    Flood::BogusResets => {
                        client
                            .put(format!("{base}/api/v2/users/password"))
                            .json(&serde_json::json!({
                                "token": format!("bogus-{worker}-{n}-{}", uuid::Uuid::new_v4().simple()),
                                "password": "a new password that is long enough",
                            }))
                    }
                    Flood::HealthChecks => client.get(format!("{base}/health/live")),
                };
                // Bogus confirmations are refused (4xx) by design; only that each
                // was answered matters.
                if request.send().await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    let base = args.base.clone();
    let body = login_body.to_string();
    let started = std::time::Instant::now();
    let logins =
        tokio::task::spawn_blocking(move || wrk_at(LOGIN_CONNECTIONS, &base, "/api/v2/auth/login", None, Some(&body)))
            .await?
            .context("logins during a flood")?;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in flood {
        task.await?;
    }
    Ok((logins, sent.load(Ordering::Relaxed) as f64 / elapsed))
}
