//! Benchmarks against a running `kttipay serve` (started by `bench/run.sh`).
//!
//! Every figure is measured in the same run as a baseline on the same machine, and
//! reported with its ratio to that baseline, because the machine is shared and its
//! absolute speed varies from run to run:
//! - [`http`]: login, `/users/me` and transaction lists beside `/health/live`
//!   (the framework's floor), each with `wrk` at 64 connections on loopback.
//! - [`jobs`]: 20,000 no-op jobs from the PostgreSQL outbox through Redis to
//!   `done`, beside raw apalis push and drain on the same Redis.
//! - [`reads`]: `/users/me`, a ktti's first page of transactions at 1,000 and
//!   100,000 rows and member totals beside `/health/ready`, with the server's
//!   peak memory ([`rss`]) meanwhile (and during the 20,000-job burst).
//! - [`money`]: sandbox deposits until our balances show them, for many ktties and
//!   one hot ktti, beside the no-op job pipeline (one job per deposit).
//! - [`groups`]: `GET /api/v2/ktties` for a user in 50 ktties, and 200 people
//!   joining one ktti until all hold cards.
//! - [`resets`]: login p99 alone and with 200 bogus password-reset confirmations
//!   in flight.
//! - [`splits`]: computing splits, `PUT .../split` and member totals on a ktti of
//!   100 members and 100,000 transactions, and receipts read by OCR.
//! - [`closure`]: a 200-member ktti paid out (no faults, 30% transfer
//!   failures), a billing run over 10,000 due ktties, 1,000 dead jobs retried.
//! - [`notify`]: a chat message to a 200-member ktti until every inbox row and
//!   push is done, notifications per second through the worker pool, and chat
//!   stream fan-out latency with 1,000 open streams beside one.
//! - [`soak`]: the mixed load at a steady rate for half an hour
//!   (`bench/soak.sh`), p50/p99 per route, errors and RSS per window.
//! - [`setup`]: bench users, verified through the sandbox where money needs it.

// Rates and ratios are measurements, not money: floats are right here.
#![allow(clippy::float_arithmetic)]

mod closure;
mod groups;
mod http;
mod jobs;
mod money;
mod notify;
mod reads;
mod resets;
mod rss;
mod setup;
mod soak;
mod splits;

use anyhow::Context;
use futures::StreamExt;
use http::{CONNECTIONS, WRK_SECONDS, wrk};
use serde_json::json;

/// The plans `bench/run.sh` starts the server with (the billing run reads them too).
const BENCH_PLANS: &str = "free:Free:0.00:month:5;crowd:Crowd:0.00:month:1000;paid:Paid:4.99:month:10";

/// Ktties the "many ktties" deposit run spreads over.
const MANY_KTTIES: usize = 50;

pub struct Args {
    base: String,
    sandbox: String,
    sandbox_token: String,
    database_url: String,
    redis_url: String,
    /// The server's pid, for its resident memory (`bench/run.sh` sets it).
    server_pid: Option<u32>,
}

struct Row {
    name: String,
    rate: f64,
    unit: &'static str,
    p99_ms: Option<f64>,
    ratio: f64,
}

fn row(name: impl Into<String>, rate: f64, unit: &'static str, p99_ms: Option<f64>, ratio: f64) -> Row {
    Row {
        name: name.into(),
        rate,
        unit,
        p99_ms,
        ratio,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).with_context(|| format!("{k} is required (bench/run.sh sets it)"));
    let args = Args {
        base: env("BENCH_BASE_URL")?,
        sandbox: env("BENCH_SANDBOX_URL")?,
        sandbox_token: env("BENCH_SANDBOX_TOKEN")?,
        database_url: env("BENCH_DATABASE_URL")?,
        redis_url: env("BENCH_REDIS_URL")?,
        server_pid: std::env::var("BENCH_SERVER_PID").ok().and_then(|p| p.parse().ok()),
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    // FCM's stand-in, where bench/run.sh points the server (pushes go over HTTP).
    let fcm = notify::stand_in().await?;
    let access = setup::sign_up(&args, &pool, "bench@example.com").await?;
    if only == "soak" {
        let pot = setup::verified_pot(&args, &pool, "soaker@example.com").await?;
        let owner = setup::verified_pot(&args, &pool, "soakowner@example.com").await?;
        return soak::run(&args, &pool, &pot, &owner).await;
    }

    let mut rows = Vec::new();
    let live = wrk(&args.base, "/health/live", None, None)?;
    rows.push(row("GET /health/live (baseline)", live.0, "req/s", Some(live.1), 1.0));
    let me = wrk(&args.base, "/api/v2/users/me", Some(&access), None)?;
    rows.push(row("GET /api/v2/users/me", me.0, "req/s", Some(me.1), me.0 / live.0));
    if wanted("http") {
        let login_body = json!({"email": "bench@example.com", "password": setup::PASSWORD}).to_string();
        // First, while the server is idle: the saturating login run below leaves
        // hashes queued that would inflate a baseline taken after it.
        let resets = resets::login_under_bogus_resets(&args, &login_body).await?;
        let c = resets::LOGIN_CONNECTIONS;
        rows.push(row(
            format!("login at {c} connections, alone (baseline)"),
            resets.alone.0,
            "req/s",
            Some(resets.alone.1),
            1.0,
        ));
        // The ratio is alone p99 / flooded p99: 1.0 means the flood costs logins nothing.
        rows.push(row(
            format!(
                "login at {c} connections, {} bogus reset confirmations in flight",
                resets::BOGUS_IN_FLIGHT
            ),
            resets.flooded.0,
            "req/s",
            Some(resets.flooded.1),
            resets.alone.1 / resets.flooded.1,
        ));
        rows.push(row(
            "bogus reset confirmations answered meanwhile",
            resets.bogus_per_second,
            "req/s",
            None,
            resets.bogus_per_second / live.0,
        ));
        rows.push(row(
            format!(
                "login at {c} connections, {} health checks in flight (control)",
                resets::BOGUS_IN_FLIGHT
            ),
            resets.control.0,
            "req/s",
            Some(resets.control.1),
            resets.alone.1 / resets.control.1,
        ));
        rows.push(row(
            "health checks answered meanwhile",
            resets.control_per_second,
            "req/s",
            None,
            resets.control_per_second / live.0,
        ));
        // After the reset runs: 64 connections leave a queue of hashes behind them.
        let login = wrk(&args.base, "/api/v2/auth/login", None, Some(&login_body))?;
        rows.push(row(
            "POST /api/v2/auth/login (argon2id)",
            login.0,
            "req/s",
            Some(login.1),
            login.0 / live.0,
        ));
    }

    let mut pipeline = None;
    if wanted("jobs") || wanted("money") || wanted("groups") || wanted("closure") || wanted("notify") {
        let raw = jobs::raw_apalis(&args.redis_url).await?;
        let small = jobs::pipeline(&pool, jobs::SMALL_JOBS).await?;
        let peak = rss::Peak::start(args.server_pid);
        let rate = jobs::pipeline(&pool, jobs::JOBS).await?;
        let peak_mib = peak.map(rss::Peak::stop);
        pipeline = Some(rate);
        rows.push(row("raw apalis push (baseline)", raw.push, "jobs/s", None, 1.0));
        rows.push(row("raw apalis drain", raw.drain, "jobs/s", None, raw.drain / raw.push));
        rows.push(row(
            "raw apalis push+drain, end to end",
            raw.end_to_end,
            "jobs/s",
            None,
            raw.end_to_end / raw.push,
        ));
        rows.push(row(
            "outbox -> relay -> Redis -> done (baseline for deposits)",
            rate,
            "jobs/s",
            None,
            rate / raw.end_to_end,
        ));
        rows.push(row(
            format!(
                "the same with {}k jobs (cost of growth: the {}k rate against this)",
                jobs::SMALL_JOBS / 1000,
                jobs::JOBS / 1000
            ),
            small,
            "jobs/s",
            None,
            rate / small,
        ));
        if let Some(mib) = peak_mib {
            rows.push(row(
                format!(
                    "server peak RSS during the {}k burst (target: under 200 MiB)",
                    jobs::JOBS / 1000
                ),
                mib,
                "MiB",
                None,
                mib / 200.0,
            ));
        }
    }

    if wanted("reads") {
        let small = setup::verified_pot(&args, &pool, "reader@example.com").await?;
        let owner = setup::verified_pot(&args, &pool, "readowner@example.com").await?;
        let r = reads::run(&args, &pool, &small, &owner).await?;
        let ready = r.ready.0;
        rows.push(row(
            "GET /health/ready (baseline for reads)",
            ready,
            "req/s",
            Some(r.ready.1),
            1.0,
        ));
        rows.push(row(
            "GET /api/v2/users/me",
            r.me.0,
            "req/s",
            Some(r.me.1),
            r.me.0 / ready,
        ));
        rows.push(row(
            format!("GET v3 transactions, first 50 of {}k", reads::FEW_TRANSACTIONS / 1000),
            r.few.0,
            "req/s",
            Some(r.few.1),
            r.few.0 / ready,
        ));
        rows.push(row(
            format!("GET v3 transactions, first 50 of {}k", splits::TRANSACTIONS / 1000),
            r.many.0,
            "req/s",
            Some(r.many.1),
            r.many.0 / ready,
        ));
        rows.push(row(
            "the same, cost of growth (100k rate against the 1k rate)",
            r.many.0,
            "req/s",
            Some(r.many.1),
            r.many.0 / r.few.0,
        ));
        rows.push(row(
            format!("GET .../member-totals, {} members", splits::MEMBERS),
            r.totals.0,
            "req/s",
            Some(r.totals.1),
            r.totals.0 / ready,
        ));
        if let Some(mib) = r.peak_mib {
            rows.push(row(
                "server peak RSS during these reads (target: under 150 MiB)",
                mib,
                "MiB",
                None,
                mib / 150.0,
            ));
        }
    }

    if wanted("money") {
        let pipeline = pipeline.context("the job pipeline runs first")?;
        let mut pots = Vec::with_capacity(MANY_KTTIES);
        for i in 0..MANY_KTTIES {
            pots.push(setup::verified_pot(&args, &pool, &format!("saver{i}@example.com")).await?);
        }
        let many = money::deposits(&args, &pool, &pots, "many").await?;
        let hot = money::deposits(&args, &pool, &pots[..1], "hot").await?;
        rows.push(row(
            format!("deposits applied, {MANY_KTTIES} ktties"),
            many,
            "deposits/s",
            None,
            many / pipeline,
        ));
        rows.push(row(
            "deposits applied, one hot ktti",
            hot,
            "deposits/s",
            None,
            hot / pipeline,
        ));

        let listed = &pots[0];
        money::plant_transactions(&pool, listed.ktti, money::LISTED_TRANSACTIONS).await?;
        let path = format!("/api/v3/ktties/{}/transactions?limit=50", listed.ktti);
        let v3 = wrk(&args.base, &path, Some(&listed.access), None)?;
        rows.push(row(
            format!("GET v3 transactions, 50 of {}k", money::LISTED_TRANSACTIONS / 1000),
            v3.0,
            "req/s",
            Some(v3.1),
            v3.0 / me.0,
        ));
        let path = format!("/api/v3/ktties/{}/transactions?limit=50&type=fee", listed.ktti);
        let filtered = wrk(&args.base, &path, Some(&listed.access), None)?;
        rows.push(row(
            "GET v3 transactions, filtered by type",
            filtered.0,
            "req/s",
            Some(filtered.1),
            filtered.0 / me.0,
        ));
        let path = format!("/api/v2/ktties/{}/transactions?page=100&pageSize=50", listed.ktti);
        let v2 = wrk(&args.base, &path, Some(&listed.access), None)?;
        rows.push(row(
            "GET v2 transactions, page 100 (offset + total count)",
            v2.0,
            "req/s",
            Some(v2.1),
            v2.0 / me.0,
        ));
    }

    if wanted("groups") {
        let owner = setup::verified_pot(&args, &pool, "groupowner@example.com").await?;
        groups::many_ktties(&args, &owner).await?;
        let list = wrk(
            &args.base,
            &format!("/api/v2/ktties?pageSize={}", groups::KTTIES_PER_USER),
            Some(&owner.access),
            None,
        )?;
        rows.push(row(
            format!("GET /api/v2/ktties, {} ktties per page", groups::KTTIES_PER_USER),
            list.0,
            "req/s",
            Some(list.1),
            list.0 / me.0,
        ));
        let seconds = groups::join_crowd(&args, &pool, &owner, "crowd").await?;
        let per_second = groups::JOINERS as f64 / seconds;
        rows.push(row(
            format!("{} joins until all hold cards ({seconds:.1} s)", groups::JOINERS),
            per_second,
            "members/s",
            None,
            pipeline.map_or(f64::NAN, |p| per_second / p),
        ));
    }

    if wanted("closure") {
        let pipeline = pipeline.context("the job pipeline runs first")?;
        let owner = setup::verified_pot(&args, &pool, "closeowner@example.com").await?;
        let people: Vec<setup::Pot> = futures::stream::iter(1..closure::CLOSING_MEMBERS)
            .map(|i| setup::verified_pot(&args, &pool, format!("closer{i}@example.com")))
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        let clean = closure::closure(&args, &pool, &owner, &people, 0.0, "Closing clean").await?;
        let members = closure::CLOSING_MEMBERS as f64;
        rows.push(row(
            format!(
                "{} payouts, disburse to readyToClose ({clean:.1} s)",
                closure::CLOSING_MEMBERS
            ),
            members / clean,
            "payouts/s",
            None,
            members / clean / pipeline,
        ));
        let faulty = closure::closure(&args, &pool, &owner, &people, 0.3, "Closing faulty").await?;
        rows.push(row(
            format!("the same with 30% of transfers failing ({faulty:.1} s)"),
            members / faulty,
            "payouts/s",
            None,
            clean / faulty,
        ));
        let owner_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'closeowner@example.com'")
            .fetch_one(&pool)
            .await?;
        let billed = closure::billing_run(&pool, owner_id, BENCH_PLANS).await?;
        rows.push(row(
            format!(
                "billing run over {}k due ktties (periods recorded, charges queued)",
                closure::BILLED_KTTIES / 1000
            ),
            billed,
            "ktties/s",
            None,
            billed / pipeline,
        ));
        sqlx::query("UPDATE users SET is_platform_admin = true WHERE email = 'closeowner@example.com'")
            .execute(&pool)
            .await?;
        let retried = closure::bulk_retry(&args, &pool, &owner.access).await?;
        let rate = closure::DEAD_JOBS as f64 / retried;
        rows.push(row(
            format!(
                "bulk retry of {} dead jobs until done ({retried:.2} s)",
                closure::DEAD_JOBS
            ),
            rate,
            "jobs/s",
            None,
            rate / pipeline,
        ));
    }

    if wanted("splits") {
        let small = splits::split_micros(10);
        let big = splits::split_micros(1000);
        rows.push(row(
            format!("compute a split of 10 members ({small:.1} us, baseline)"),
            1e6 / small,
            "splits/s",
            None,
            1.0,
        ));
        rows.push(row(
            format!("compute a split of 1,000 members ({big:.1} us)"),
            1e6 / big,
            "splits/s",
            None,
            small / big,
        ));
        let owner = setup::verified_pot(&args, &pool, "splitowner@example.com").await?;
        let planted = splits::plant(&args, &pool, &owner).await?;
        // The baseline again, right before the two routes it is the baseline for:
        // by this point of a full run the database holds the other parts' data and
        // autovacuum may be busy, which moved the ratio by a tenth between runs.
        let me_here = wrk(&args.base, "/api/v2/users/me", Some(&owner.access), None)?;
        rows.push(row(
            "GET /api/v2/users/me again (baseline for the two below)",
            me_here.0,
            "req/s",
            Some(me_here.1),
            1.0,
        ));
        let path = format!("/api/v2/ktties/{}/member-totals", planted.ktti);
        let totals = wrk(&args.base, &path, Some(&owner.access), None)?;
        rows.push(row(
            format!(
                "GET .../member-totals, {} members, {}k transactions",
                splits::MEMBERS,
                splits::TRANSACTIONS / 1000
            ),
            totals.0,
            "req/s",
            Some(totals.1),
            totals.0 / me_here.0,
        ));
        let body = splits::equal_split(&planted.members);
        let path = format!("/api/v2/transactions/{}/split", planted.expense);
        let put = http::wrk_with(
            CONNECTIONS,
            &args.base,
            &path,
            Some(&owner.access),
            Some(("PUT", &body)),
        )?;
        rows.push(row(
            "PUT .../split (one split, equal between 3)",
            put.0,
            "req/s",
            Some(put.1),
            put.0 / me_here.0,
        ));
        let (alone, batch) = splits::read_receipts(&args, &pool, &owner, planted.ktti).await?;
        let one_rate = 60.0 / alone;
        let batch_rate = splits::RECEIPTS as f64 * 60.0 / batch;
        rows.push(row(
            format!("one receipt uploaded and read by OCR ({alone:.2} s, baseline)"),
            one_rate,
            "receipts/min",
            None,
            1.0,
        ));
        rows.push(row(
            format!(
                "{} receipts at once through the worker pool ({batch:.1} s)",
                splits::RECEIPTS
            ),
            batch_rate,
            "receipts/min",
            None,
            batch_rate / one_rate,
        ));
    }

    if wanted("notify") {
        let pipeline = pipeline.context("the job pipeline runs first")?;
        let owner = setup::verified_pot(&args, &pool, "chatowner@example.com").await?;
        let big = notify::big_chat(&args, &pool, &fcm, &owner).await?;
        let members = (notify::BIG_KTTI_MEMBERS - 1) as f64;
        rows.push(row(
            format!(
                "a chat message to a {}-member ktti: every inbox row and push done ({:.0} ms)",
                notify::BIG_KTTI_MEMBERS,
                big.one_message_secs * 1000.0
            ),
            members / big.one_message_secs,
            "pushes/s",
            None,
            members / big.one_message_secs / pipeline,
        ));
        rows.push(row(
            format!(
                "{} messages at once: notifications delivered (inbox + FCM push)",
                notify::BURST_MESSAGES
            ),
            big.delivered_per_sec,
            "notes/s",
            None,
            big.delivered_per_sec / pipeline,
        ));
        let one = notify::stream_latency(&args, &pool, &owner, 1, "Solo").await?;
        rows.push(row(
            format!(
                "chat message to 1 open stream (baseline; p50 {:.1} ms)",
                one.p50 * 1000.0
            ),
            1.0 / one.p50,
            "msg/s",
            Some(one.p99 * 1000.0),
            1.0,
        ));
        let many = notify::stream_latency(&args, &pool, &owner, notify::STREAMS, "Crowd").await?;
        rows.push(row(
            format!(
                "chat message to {} open streams (p50 {:.1} ms)",
                notify::STREAMS,
                many.p50 * 1000.0
            ),
            notify::STREAMS as f64 / many.p50,
            "events/s",
            Some(many.p99 * 1000.0),
            one.p99 / many.p99,
        ));
    }

    println!("\n| measurement | rate | p99 latency | ratio |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        let p99 = r.p99_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_else(|| "-".into());
        println!("| {} | {:.0} {} | {p99} | {:.3} |", r.name, r.rate, r.unit, r.ratio);
    }
    println!(
        "\nRatios: login to /health/live; transaction and ktti lists to /users/me, PUT split and member totals to /users/me measured again just before them; \
         a 1,000-member split to a 10-member one; the receipt batch to one receipt alone; joins to the no-op pipeline; raw drain and end to end to raw push; \
         the pipeline to raw end to end; reads to /health/ready, and the 100k first page to the 1k one; peak RSS to its target; deposits to the no-op pipeline (one job each); notifications to the no-op pipeline; 1,000 streams' p99 to one stream's.\n\
         {CONNECTIONS} connections, {WRK_SECONDS} s per HTTP run, {} jobs per job run, {} deposits per deposit run.",
        jobs::JOBS,
        money::DEPOSITS
    );
    Ok(())
}
