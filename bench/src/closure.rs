//! Closing figures: a 200-member ktti paid out from disburse to `readyToClose`,
//! with no faults and with the sandbox failing 30% of transfers; a billing run
//! over 10,000 due ktties; and 1,000 dead jobs retried in bulk until done.

use crate::Args;
use crate::setup::Pot;
use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Members of the closing ktti (the owner and 199 who join).
pub const CLOSING_MEMBERS: usize = 200;
/// Ktties due a charge in the billing run.
pub const BILLED_KTTIES: i64 = 10_000;
/// Dead jobs retried in bulk.
pub const DEAD_JOBS: i64 = 1_000;
/// Requests in flight at once while setting up.
const CONCURRENCY: usize = 16;
/// Longest any one figure may take before the bench gives up.
const TIMEOUT_SECS: u64 = 600;

async fn wait_until<F, Fut>(what: &str, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(TIMEOUT_SECS);
    while !done().await? {
        if Instant::now() > deadline {
            bail!("{what} did not happen within {TIMEOUT_SECS} s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn faults(args: &Args, body: Value) -> anyhow::Result<()> {
    reqwest::Client::new()
        .put(format!("{}/sandbox/faults", args.sandbox))
        .bearer_auth(&args.sandbox_token)
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// A ktti of `owner` and `people`, each of whom paid 10.00 in, closed and paid
/// out while the sandbox fails `transfer_error_rate` of transfers. Seconds from
/// disburse to `readyToClose`.
pub async fn closure(
    args: &Args,
    pool: &sqlx::PgPool,
    owner: &Pot,
    people: &[Pot],
    transfer_error_rate: f64,
    name: &str,
) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let ktti: Value = http
        .post(format!("{}/api/v3/ktties", args.base))
        .bearer_auth(&owner.access)
        .json(&json!({"name": name, "billingPlan": "crowd"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id: uuid::Uuid = ktti["id"].as_str().context("ktti id")?.parse()?;
    let code = ktti["referralCode"].as_str().context("referral code")?.to_string();
    let status = |pool: &sqlx::PgPool| {
        let pool = pool.clone();
        async move {
            let s: String = sqlx::query_scalar("SELECT status FROM ktties WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await?;
            anyhow::Ok(s)
        }
    };
    wait_until("the ktti's setup", || async { Ok(status(pool).await? == "active") }).await?;
    let members = std::iter::once(owner).chain(people);
    let deposits: Vec<anyhow::Result<()>> = futures::stream::iter(members)
        .map(|p| {
            let (http, code) = (&http, &code);
            async move {
                if p.access != owner.access {
                    http.post(format!("{}/api/v2/ktties/join", args.base))
                        .bearer_auth(&p.access)
                        .json(&json!({ "referralCode": code }))
                        .send()
                        .await?
                        .error_for_status()?;
                }
                let banking: Value = http
                    .get(format!("{}/api/v2/ktties/{id}/banking", args.base))
                    .bearer_auth(&p.access)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let raw = format!(
                    r#"{{"amount": 10.00, "description": "in", "idempotencyKey": "close-{name}-{}", "receiverAccountNumber": "{}", "receiverBsb": "{}", "receiverName": "Crowd", "reference": "{}", "senderAccountNumber": "{}", "senderBsb": "{}", "senderName": "BENCH"}}"#,
                    p.ktti,
                    banking["accountNumber"].as_str().context("account")?,
                    banking["bsb"].as_str().context("bsb")?,
                    banking["depositReference"].as_str().context("reference")?,
                    p.account,
                    p.bsb,
                );
                http.post(format!("{}/v0/utils/generate-npp-inbound", args.sandbox))
                    .bearer_auth(&args.sandbox_token)
                    .header("content-type", "application/json")
                    .body(raw)
                    .send()
                    .await?
                    .error_for_status()?;
                Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    deposits.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let want = rust_decimal::Decimal::from(10 * (people.len() as i64 + 1));
    wait_until("every deposit and card", || async {
        let (total, cards): (rust_decimal::Decimal, i64) = sqlx::query_as(
            "SELECT b.available + b.reserved, (SELECT count(*) FROM cards c WHERE c.ktti_id = b.ktti_id AND c.status = 'active') \
             FROM ktti_balances b WHERE b.ktti_id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
        Ok(total == want && cards == people.len() as i64 + 1)
    })
    .await?;
    http.post(format!("{}/api/v2/ktties/{id}/closure", args.base))
        .bearer_auth(&owner.access)
        .send()
        .await?
        .error_for_status()?;
    faults(args, json!({ "transferErrorRate": transfer_error_rate })).await?;
    let started = Instant::now();
    http.post(format!("{}/api/v2/ktties/{id}/closure/disburse", args.base))
        .bearer_auth(&owner.access)
        .send()
        .await?
        .error_for_status()?;
    wait_until("readyToClose", || async { Ok(status(pool).await? == "readyToClose") }).await?;
    let seconds = started.elapsed().as_secs_f64();
    faults(args, json!({})).await?;
    Ok(seconds)
}

/// A billing run (the workers' own code) over `BILLED_KTTIES` planted ktties whose
/// first period has ended, on a paid plan: periods recorded and charges queued
/// per second. The planted charges are then taken out of the queue's way.
pub async fn billing_run(pool: &sqlx::PgPool, owner: uuid::Uuid, plans: &str) -> anyhow::Result<f64> {
    sqlx::query(
        "INSERT INTO ktties (id, kind, name, owner_id, status, billing_plan, billing_anchor) \
         SELECT gen_random_uuid(), 'group', 'billed ' || i, $1, 'active', 'paid', current_date - 40 \
         FROM generate_series(1, $2) i",
    )
    .bind(owner)
    .bind(BILLED_KTTIES)
    .execute(pool)
    .await?;
    let plans = kttipay_domain::billing::parse_plans(plans).map_err(anyhow::Error::msg)?;
    let today = chrono::Utc::now().date_naive();
    let started = Instant::now();
    let report = kttipay_workers::billing::run_due(pool, &plans, today).await?;
    let seconds = started.elapsed().as_secs_f64();
    if report.charges as i64 != BILLED_KTTIES {
        bail!("the run charged {} of {BILLED_KTTIES}", report.charges);
    }
    // The planted ktties have no bank account: their charges would only die.
    sqlx::query(
        "UPDATE jobs SET status = 'done', completed_at = now() WHERE kind = 'billing.charge.v1' AND status = 'pending'",
    )
    .execute(pool)
    .await?;
    sqlx::query("UPDATE ktties SET status = 'closed' WHERE name LIKE 'billed %'")
        .execute(pool)
        .await?;
    Ok(BILLED_KTTIES as f64 / seconds)
}

/// `DEAD_JOBS` dead no-op jobs retried with one `POST .../retry-dead`: seconds
/// until every one is done.
pub async fn bulk_retry(args: &Args, pool: &sqlx::PgPool, admin_access: &str) -> anyhow::Result<f64> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, status, attempts, max_attempts, last_error) \
         SELECT gen_random_uuid(), 'noop.v1', 'default', '{}', 'dead', 3, 3, 'bench: died on purpose' \
         FROM generate_series(1, $1)",
    )
    .bind(DEAD_JOBS)
    .execute(pool)
    .await?;
    let started = Instant::now();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/v2/admin/jobs/retry-dead", args.base))
        .bearer_auth(admin_access)
        .json(&json!({"kind": "noop.v1", "errorContains": "died on purpose"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if answer["retried"] != DEAD_JOBS {
        bail!("retried {answer}");
    }
    wait_until("the retried jobs", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs WHERE kind = 'noop.v1' AND last_error = 'bench: died on purpose' AND status <> 'done'",
        )
        .fetch_one(pool)
        .await?;
        Ok(left == 0)
    })
    .await?;
    Ok(started.elapsed().as_secs_f64())
}
