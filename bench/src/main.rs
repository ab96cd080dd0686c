//! Benchmarks against a running `kttipay serve` (started by `bench/run.sh`).
//!
//! Every figure is measured in the same run as a baseline on the same machine, and
//! reported with its ratio to that baseline, because the machine is shared and its
//! absolute speed varies from run to run:
//! - HTTP: login and `/users/me` beside `/health/live` (the framework's floor),
//!   each with `wrk` at 64 connections on loopback.
//! - Jobs: 20,000 no-op jobs from the PostgreSQL outbox through Redis to `done`,
//!   beside raw apalis push and drain of 20,000 messages on the same Redis.

// Rates and ratios are measurements, not money: floats are right here.
#![allow(clippy::float_arithmetic)]

use anyhow::{Context, bail};
use apalis::prelude::*;
use kttipay_domain::secret;
use kttipay_jobs::{Dispatch, Queue};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: u32 = 64;
const WRK_SECONDS: u32 = 10;
const JOBS: usize = 20_000;
/// apalis-redis cannot fetch more than ~8,000 due messages in one queue, so the raw
/// run pushes in rounds of this size (our relay bounds the queue the same way).
const RAW_ROUND: usize = 5_000;
const PASSWORD: &str = "benchmark password";

struct Args {
    base: String,
    database_url: String,
    redis_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).with_context(|| format!("{k} is required (bench/run.sh sets it)"));
    let args = Args {
        base: env("BENCH_BASE_URL")?,
        database_url: env("BENCH_DATABASE_URL")?,
        redis_url: env("BENCH_REDIS_URL")?,
    };
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let access = sign_up(&args, &pool).await?;

    let mut rows = Vec::new();
    let live = wrk(&args.base, "/health/live", None, None)?;
    let me = wrk(&args.base, "/api/v2/users/me", Some(&access), None)?;
    let login_body = json!({"email": "bench@example.com", "password": PASSWORD}).to_string();
    let login = wrk(&args.base, "/api/v2/auth/login", None, Some(&login_body))?;
    rows.push(("GET /health/live (baseline)", live.0, "req/s", Some(live.1), 1.0));
    rows.push(("GET /api/v2/users/me", me.0, "req/s", Some(me.1), me.0 / live.0));
    rows.push((
        "POST /api/v2/auth/login (argon2id)",
        login.0,
        "req/s",
        Some(login.1),
        login.0 / live.0,
    ));

    let raw = raw_apalis(&args.redis_url).await?;
    let pipeline = pipeline(&pool).await?;
    rows.push(("raw apalis push (baseline)", raw.push, "jobs/s", None, 1.0));
    rows.push((
        "raw apalis drain (baseline)",
        raw.drain,
        "jobs/s",
        None,
        raw.drain / raw.push,
    ));
    rows.push((
        "raw apalis push+drain, end to end",
        raw.end_to_end,
        "jobs/s",
        None,
        raw.end_to_end / raw.push,
    ));
    rows.push((
        "outbox -> relay -> Redis -> done",
        pipeline,
        "jobs/s",
        None,
        pipeline / raw.end_to_end,
    ));

    println!("\n| measurement | rate | p99 latency | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, rate, unit, p99, ratio) in rows {
        let p99 = p99.map(|ms| format!("{ms:.1} ms")).unwrap_or_else(|| "-".into());
        println!("| {name} | {rate:.0} {unit} | {p99} | {ratio:.3} |");
    }
    println!(
        "\nRatios: HTTP rows to /health/live; raw drain and end to end to raw push; the pipeline to raw end to end.\n\
         {CONNECTIONS} connections, {WRK_SECONDS} s per HTTP run, {JOBS} jobs per job run."
    );
    Ok(())
}

/// Registers the benchmark user through the API and returns an access token. The
/// verification token is planted in the database (the bench has no mailbox).
async fn sign_up(args: &Args, pool: &sqlx::PgPool) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let reg = json!({"email": "bench@example.com", "firstName": "Bench", "lastName": "Mark",
                     "phone": "0400000000", "dateOfBirth": "1990-01-01"});
    http.post(format!("{}/api/v2/registration", args.base))
        .json(&reg)
        .send()
        .await?
        .error_for_status()?;
    let token = "benchmark-verification-token";
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, job_id, expires_at) \
         SELECT $1, id, 'verifyEmail', gen_random_uuid(), now() + interval '1 hour' FROM users WHERE email = 'bench@example.com'",
    )
    .bind(secret::hash(token))
    .execute(pool)
    .await?;
    http.post(format!("{}/api/v2/registration/password", args.base))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?;
    let tokens: serde_json::Value = http
        .post(format!("{}/api/v2/auth/login", args.base))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens["accessToken"].as_str().context("accessToken")?.to_string())
}

/// Runs wrk; returns (requests/s, p99 ms).
fn wrk(base: &str, path: &str, bearer: Option<&str>, post_body: Option<&str>) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{CONNECTIONS}"),
        &format!("-d{WRK_SECONDS}s"),
        "--latency",
    ]);
    if let Some(token) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let script;
    if let Some(body) = post_body {
        script = std::env::temp_dir().join(format!("kttipay-bench-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local bad = 0\nresponse = function(status) if status ~= 200 then bad = bad + 1 end end\n\
             done = function() if bad > 0 then io.stderr:write(bad .. \" non-200 responses\\n\") end end\n"
        );
        std::fs::write(&script, lua)?;
        cmd.args(["-s", script.to_str().context("temp path")?]);
    }
    cmd.arg(format!("{base}{path}"));
    let out = cmd.output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") {
        bail!(
            "wrk on {path} failed or saw errors:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .context("wrk printed no Requests/sec")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_duration_ms(v.trim()))
        .context("wrk printed no 99% latency")?;
    Ok((rps, p99))
}

fn parse_duration_ms(v: &str) -> f64 {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

struct Raw {
    push: f64,
    drain: f64,
    end_to_end: f64,
}

/// Raw apalis on the same Redis, with the same storage settings as our workers and
/// a handler that does nothing.
async fn raw_apalis(redis_url: &str) -> anyhow::Result<Raw> {
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
        .concurrency(32)
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

/// 20,000 no-op jobs committed to the outbox at once; time until all are done.
async fn pipeline(pool: &sqlx::PgPool) -> anyhow::Result<f64> {
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts) \
         SELECT gen_random_uuid(), 'noop.v1', 'default', '{}', 3 FROM generate_series(1, $1)",
    )
    .bind(JOBS as i32)
    .execute(pool)
    .await?;
    // Poll rarely and on the indexed status: on 2 cores, a tight count(*) loop
    // would steal the CPU it is trying to measure.
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('pending', 'queued', 'running')")
                .fetch_one(pool)
                .await?;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(JOBS as f64 / started.elapsed().as_secs_f64())
}
