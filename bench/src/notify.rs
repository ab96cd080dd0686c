//! Notifications and chat: a chat message to a 200-member ktti until every
//! inbox row is written and every push accepted by FCM (the sandbox's FCM
//! stand-in, over HTTP, with the service account's signed-JWT token); a burst
//! of messages through the worker pool (notifications delivered per second);
//! and how long a message takes to reach 1,000 open chat streams (p99) beside
//! one stream alone.

use crate::Args;
use crate::setup::{Pot, sign_up};
use anyhow::{Context, bail};
use futures::StreamExt;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_sandbox::fcm::FcmStandIn;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where `bench/run.sh` tells the server FCM is.
pub const FCM_ADDR: &str = "127.0.0.1:18182";
const PUBLIC_KEY: &[u8] = include_bytes!("../../tests/fixtures/fcm_rsa_public.pem");

pub const BIG_KTTI_MEMBERS: usize = 200;
/// Single messages timed one after another (the median is reported).
const SINGLE_MESSAGES: usize = 5;
/// Messages posted at once for the delivery rate.
pub const BURST_MESSAGES: usize = 20;
pub const STREAMS: usize = 1_000;
/// Users holding the streams (each opens `STREAMS / STREAM_USERS`).
const STREAM_USERS: usize = 100;
/// Samples (stream x message) wanted per stream measurement: one stream alone
/// gets as many messages as it takes, 1,000 streams get the fewest allowed.
const FANOUT_SAMPLES: usize = 30_000;
const FANOUT_MESSAGES_MIN: usize = 30;
const FANOUT_MESSAGES_MAX: usize = 200;
const FANOUT_GAP_MS: u64 = 100;
/// Longest wait for one measurement.
const WAIT_SECS: u64 = 300;

pub async fn stand_in() -> anyhow::Result<FcmStandIn> {
    FcmStandIn::start(FCM_ADDR, PUBLIC_KEY).await
}

/// A new group ktti of `owner`'s on the plan without a member limit to speak of.
async fn group(args: &Args, owner: &Pot, name: &str) -> anyhow::Result<KttiId> {
    let k: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v3/ktties", args.base))
        .bearer_auth(&owner.access)
        .json(&json!({"name": name, "billingPlan": "crowd"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(KttiId(k["id"].as_str().context("ktti id")?.parse()?))
}

/// A group ktti of `owner` with `members - 1` more members, each with a phone.
async fn big_ktti(args: &Args, pool: &sqlx::PgPool, owner: &Pot, name: &str, members: usize) -> anyhow::Result<KttiId> {
    let ktti = group(args, owner, name).await?;
    let mut tx = pool.begin().await?;
    for i in 1..members {
        let user = UserId::new();
        let email = format!("{name}-fan{i}@example.com").to_lowercase();
        let new = kttipay_db::users::NewUser {
            id: user,
            email: &email,
            first_name: "Fan",
            last_name: "Member",
            phone: "+61412345678",
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 4, 1),
            email_verified: true,
        };
        kttipay_db::users::insert(&mut tx, &new).await?;
        let reference = kttipay_domain::ids::deposit_reference(random_seed());
        kttipay_db::members::join(
            &mut tx,
            ktti,
            user,
            kttipay_domain::membership::Role::Member,
            &reference,
        )
        .await?;
        kttipay_db::devices::save_fcm_token(&mut tx, user, "phone", &format!("{name}-token-{i}"), "android").await?;
    }
    tx.commit().await?;
    Ok(ktti)
}

/// A fresh random reference seed (collisions are caught by the unique index).
fn random_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

async fn say(http: &reqwest::Client, args: &Args, token: &str, ktti: KttiId, text: String) -> anyhow::Result<()> {
    http.post(format!("{}/api/v2/ktties/{}/chat", args.base, ktti.0))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn until_accepted(fcm: &FcmStandIn, total: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    while fcm.accepted() < total {
        if Instant::now() > deadline {
            bail!("only {} of {total} pushes arrived", fcm.accepted());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

pub struct Fanout {
    /// Median seconds for one message to reach every inbox and phone.
    pub one_message_secs: f64,
    /// Notifications (inbox row + push) per second through the worker pool.
    pub delivered_per_sec: f64,
}

/// The 200-member measurements.
pub async fn big_chat(args: &Args, pool: &sqlx::PgPool, fcm: &FcmStandIn, owner: &Pot) -> anyhow::Result<Fanout> {
    let ktti = big_ktti(args, pool, owner, "Festival", BIG_KTTI_MEMBERS).await?;
    let http = reqwest::Client::new();
    let per_message = BIG_KTTI_MEMBERS - 1;
    let mut times = Vec::with_capacity(SINGLE_MESSAGES);
    for i in 0..SINGLE_MESSAGES {
        let before = fcm.accepted();
        let started = Instant::now();
        say(&http, args, &owner.access, ktti, format!("announcement {i}")).await?;
        until_accepted(fcm, before + per_message).await?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let before = fcm.accepted();
    let started = Instant::now();
    futures::stream::iter(0..BURST_MESSAGES)
        .map(|i| say(&http, args, &owner.access, ktti, format!("burst {i}")))
        .buffer_unordered(BURST_MESSAGES)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    until_accepted(fcm, before + per_message * BURST_MESSAGES).await?;
    let burst = started.elapsed().as_secs_f64();
    Ok(Fanout {
        one_message_secs: times[times.len() / 2],
        delivered_per_sec: (per_message * BURST_MESSAGES) as f64 / burst,
    })
}

/// Seconds from posting a message to each open stream receiving it.
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
}

/// Posting-to-receipt latency over `streams` open streams.
pub async fn stream_latency(
    args: &Args,
    pool: &sqlx::PgPool,
    owner: &Pot,
    streams: usize,
    label: &str,
) -> anyhow::Result<Latency> {
    let messages = (FANOUT_SAMPLES / streams).clamp(FANOUT_MESSAGES_MIN, FANOUT_MESSAGES_MAX);
    let http = reqwest::Client::new();
    let ktti = group(args, owner, label).await?;
    let users = streams.min(STREAM_USERS);
    let email = |i: usize| format!("{label}-reader{i}@example.com").to_lowercase();
    let tokens: Vec<String> = futures::stream::iter(0..users)
        .map(|i| {
            let address = email(i);
            async move { sign_up(args, pool, &address).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut tx = pool.begin().await?;
    for i in 0..tokens.len() {
        let user: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email(i))
            .fetch_one(&mut *tx)
            .await?;
        let reference = kttipay_domain::ids::deposit_reference(random_seed());
        kttipay_db::members::join(
            &mut tx,
            ktti,
            UserId(user),
            kttipay_domain::membership::Role::Member,
            &reference,
        )
        .await?;
    }
    tx.commit().await?;

    // Each stream records when it saw each message number.
    let seen: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::new(Mutex::new(Vec::with_capacity(streams * messages)));
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let mut readers = Vec::with_capacity(streams);
    for s in 0..streams {
        let token = tokens[s % tokens.len()].clone();
        let url = format!("{}/api/v2/ktties/{}/chat/stream", args.base, ktti.0);
        let client = client.clone();
        let seen = seen.clone();
        readers.push(tokio::spawn(async move {
            let mut resp = client.get(url).bearer_auth(token).send().await?.error_for_status()?;
            let mut buf = String::new();
            while let Some(chunk) = resp.chunk().await? {
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id:")) {
                        seen.lock().unwrap().push((id.trim().parse()?, now));
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    loop {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_streams WHERE ktti_id = $1")
            .bind(ktti.0)
            .fetch_one(pool)
            .await?;
        if open as usize >= streams {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {open} of {streams} streams opened");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut posted = Vec::with_capacity(messages);
    for i in 0..messages {
        posted.push(Instant::now());
        say(&http, args, &owner.access, ktti, format!("tick {i}")).await?;
        tokio::time::sleep(Duration::from_millis(FANOUT_GAP_MS)).await;
    }
    let expected = streams * messages;
    while seen.lock().unwrap().len() < expected {
        if Instant::now() > deadline {
            bail!(
                "only {} of {expected} stream events arrived",
                seen.lock().unwrap().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for r in readers {
        r.abort();
    }
    let mut latencies: Vec<f64> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(seq, at)| at.duration_since(posted[(*seq - 1) as usize]).as_secs_f64())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    Ok(Latency {
        p50: at(50),
        p99: at(99),
    })
}
