//! Group ktti figures: listing the ktties of a user who belongs to 50, and 200
//! people joining one ktti by referral code until every one holds a card (each
//! join is a membership row, a provider group change and a card opened by job).

use crate::Args;
use crate::setup::{Pot, verified_pot};
use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Group ktties the listing user belongs to.
pub const KTTIES_PER_USER: usize = 50;
/// People who join one ktti.
pub const JOINERS: usize = 200;
/// Requests the bench has in flight at once while setting up and joining.
const CONCURRENCY: usize = 16;
/// Longest the joins may take before the bench gives up.
const JOIN_TIMEOUT_SECS: u64 = 600;

async fn create(args: &Args, owner: &Pot, body: Value) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .post(format!("{}/api/v3/ktties", args.base))
        .bearer_auth(&owner.access)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Makes `owner` a member (the owner) of `KTTIES_PER_USER` group ktties.
pub async fn many_ktties(args: &Args, owner: &Pot) -> anyhow::Result<()> {
    for i in 0..KTTIES_PER_USER {
        create(args, owner, json!({"name": format!("Bench group {i}")})).await?;
    }
    Ok(())
}

/// `JOINERS` verified people join one new ktti at once; returns the seconds until
/// all of them hold an active card on it.
pub async fn join_crowd(args: &Args, pool: &sqlx::PgPool, owner: &Pot, plan: &str) -> anyhow::Result<f64> {
    let ktti = create(args, owner, json!({"name": "Bench crowd", "billingPlan": plan})).await?;
    let id: uuid::Uuid = ktti["id"].as_str().context("ktti id")?.parse()?;
    let code = ktti["referralCode"].as_str().context("referral code")?.to_string();
    let people: Vec<Pot> = futures::stream::iter(0..JOINERS)
        .map(|i| verified_pot(args, pool, format!("joiner{i}@example.com")))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let joined = futures::stream::iter(&people)
        .map(|p| {
            let (http, code) = (&http, &code);
            async move {
                http.post(format!("{}/api/v2/ktties/join", args.base))
                    .bearer_auth(&p.access)
                    .json(&json!({ "referralCode": code }))
                    .send()
                    .await?
                    .error_for_status()
                    .map(drop)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    joined
        .into_iter()
        .collect::<Result<Vec<()>, _>>()
        .context("a join failed")?;
    let want = JOINERS as i64 + 1;
    let deadline = started + Duration::from_secs(JOIN_TIMEOUT_SECS);
    loop {
        let cards: i64 = sqlx::query_scalar("SELECT count(*) FROM cards WHERE ktti_id = $1 AND status = 'active'")
            .bind(id)
            .fetch_one(pool)
            .await?;
        if cards >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {cards} of {want} cards after {JOIN_TIMEOUT_SECS} s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}
