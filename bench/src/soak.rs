//! The soak (`bench/soak.sh`, on demand): the mixed load at a steady rate for
//! `BENCH_SOAK_SECS` (30 minutes by default), reporting every window each
//! route's p50 and p99, its errors, and the server's resident memory, so a leak,
//! a slow drift or a stall shows as a trend rather than a single figure.
//!
//! Requests are sent open loop (each on its own schedule, whatever the answers
//! take), as real clients do: a slow server gets more requests in flight, not
//! fewer requests.

use crate::setup::Pot;
use crate::{Args, rss, splits};
use anyhow::{Context, bail};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The load: (route label, requests per second).
const ROUTES: [(&str, u32); 6] = [
    ("GET /users/me", 20),
    ("GET v3 transactions (100k)", 10),
    ("GET member-totals (100 members)", 5),
    ("POST chat", 2),
    ("PUT split", 1),
    ("deposit at the bank (all booked by the end)", 2),
];
/// Longest any one request may take before it counts as an error.
const REQUEST_TIMEOUT_SECS: u64 = 10;
/// How long the deposits may take to all show after the load stops.
const SETTLE_TIMEOUT_SECS: u64 = 120;

#[derive(Default)]
struct Window {
    /// Latencies in ms per route.
    samples: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<&'static str, u64>,
}

pub async fn run(args: &Args, pool: &sqlx::PgPool, pot: &Pot, owner: &Pot) -> anyhow::Result<()> {
    let total_secs: u64 = std::env::var("BENCH_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800);
    let window_secs: u64 = std::env::var("BENCH_SOAK_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let planted = splits::plant(args, pool, owner).await?;
    let split_body = splits::equal_split(&planted.members);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS))
        .build()?;
    let balance_before = balance(pool, pot.ktti).await?;
    let deposits_ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let window = Arc::new(Mutex::new(Window::default()));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(total_secs);

    let mut senders = Vec::new();
    for (route, per_second) in ROUTES {
        let (http, window, deposits_ok) = (http.clone(), window.clone(), deposits_ok.clone());
        let (base, sandbox, token) = (args.base.clone(), args.sandbox.clone(), args.sandbox_token.clone());
        let (owner_token, pot_token) = (owner.access.clone(), pot.access.clone());
        let (ktti, expense, body) = (planted.ktti, planted.expense, split_body.clone());
        let (account, bsb) = (pot.account.clone(), pot.bsb.clone());
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            while Instant::now() < stop_at {
                tick.tick().await;
                n += 1;
                let request = match route {
                    "GET /users/me" => http.get(format!("{base}/api/v2/users/me")).bearer_auth(&pot_token),
                    "GET v3 transactions (100k)" => http
                        .get(format!("{base}/api/v3/ktties/{ktti}/transactions?limit=50"))
                        .bearer_auth(&owner_token),
                    "GET member-totals (100 members)" => http
                        .get(format!("{base}/api/v2/ktties/{ktti}/member-totals"))
                        .bearer_auth(&owner_token),
                    "POST chat" => http
                        .post(format!("{base}/api/v2/ktties/{ktti}/chat"))
                        .bearer_auth(&owner_token)
                        .json(&serde_json::json!({"text": format!("soak message {n}")})),
                    "PUT split" => http
                        .put(format!("{base}/api/v2/transactions/{expense}/split"))
                        .bearer_auth(&owner_token)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                    _ => http
                        .post(format!("{sandbox}/v0/utils/generate-npp-inbound"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(format!(
                            r#"{{"amount": 1.00, "description": "soak", "idempotencyKey": "soak-{n}", "receiverAccountNumber": "{account}", "receiverBsb": "{bsb}", "receiverName": "Soak", "senderAccountNumber": "123456789", "senderBsb": "062000", "senderName": "SOAK"}}"#
                        )),
                };
                let (window, deposits_ok) = (window.clone(), deposits_ok.clone());
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let ok = match request.send().await {
                        Ok(r) => r.status().is_success(),
                        Err(_) => false,
                    };
                    let ms = sent.elapsed().as_secs_f64() * 1000.0;
                    let mut w = window.lock().unwrap();
                    if ok {
                        w.samples.entry(route).or_default().push(ms);
                        if route.starts_with("deposit") {
                            deposits_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    } else {
                        *w.errors.entry(route).or_default() += 1;
                    }
                });
            }
        }));
    }

    println!("\n| at | route | requests | p50 | p99 | errors | server RSS |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut total_errors = 0;
    let mut next = started;
    while next < stop_at {
        next += Duration::from_secs(window_secs);
        tokio::time::sleep_until(next.min(stop_at).into()).await;
        let w = std::mem::take(&mut *window.lock().unwrap());
        let rss = args
            .server_pid
            .and_then(rss::resident_kib)
            .map_or("-".to_string(), |k| format!("{} MiB", k / 1024));
        let at = format!("{:.1} min", started.elapsed().as_secs_f64() / 60.0);
        for (route, _) in ROUTES {
            let mut samples = w.samples.get(route).cloned().unwrap_or_default();
            let errors = w.errors.get(route).copied().unwrap_or(0);
            total_errors += errors;
            samples.sort_by(f64::total_cmp);
            let pick = |q: f64| {
                samples
                    .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
                    .map_or("-".to_string(), |ms| format!("{ms:.1} ms"))
            };
            println!(
                "| {at} | {route} | {} | {} | {} | {errors} | {rss} |",
                samples.len(),
                pick(0.5),
                pick(0.99)
            );
        }
    }
    for s in senders {
        s.await?;
    }
    // Every deposit the bank accepted must show in the balance.
    let want = balance_before + Decimal::from(deposits_ok.load(std::sync::atomic::Ordering::Relaxed));
    let deadline = Instant::now() + Duration::from_secs(SETTLE_TIMEOUT_SECS);
    while balance(pool, pot.ktti).await? < want {
        if Instant::now() > deadline {
            bail!("the soak's deposits did not all land within {SETTLE_TIMEOUT_SECS} s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "\nsoak: {total_secs} s at {} requests/s; {total_errors} errors; every accepted deposit booked ({} in all).",
        ROUTES.iter().map(|(_, r)| r).sum::<u32>(),
        deposits_ok.load(std::sync::atomic::Ordering::Relaxed)
    );
    if total_errors > 0 {
        bail!("{total_errors} requests failed during the soak");
    }
    Ok(())
}

async fn balance(pool: &sqlx::PgPool, ktti: uuid::Uuid) -> anyhow::Result<Decimal> {
    sqlx::query_scalar("SELECT total FROM ktti_balances WHERE ktti_id = $1")
        .bind(ktti)
        .fetch_optional(pool)
        .await?
        .context("the soak ktti has a balance row")
}
