//! Money figures: deposits from the sandbox's NPP mock until our balances show
//! them (provider webhook -> stored event -> job -> journal), and reading a ktti's
//! transactions when it has 100,000 of them.

use crate::Args;
use crate::setup::Pot;
use anyhow::{Context, bail};
use futures::StreamExt;
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

/// Deposits per run (each run: one ktti, or spread over many).
pub const DEPOSITS: usize = 2_000;
/// Deposits the bench has in flight at the sandbox at once.
const DEPOSIT_CONCURRENCY: usize = 32;
/// Transactions planted on the ktti whose list is read.
pub const LISTED_TRANSACTIONS: i64 = 100_000;
/// Longest a deposit run may take before the bench gives up.
const DEPOSIT_TIMEOUT_SECS: u64 = 300;

/// Pays `DEPOSITS` of 1.00 into `pots`, round robin, through the sandbox; returns
/// deposits per second from the first request until every balance shows them.
pub async fn deposits(args: &Args, pool: &sqlx::PgPool, pots: &[Pot], run: &str) -> anyhow::Result<f64> {
    let ktties: Vec<uuid::Uuid> = pots.iter().map(|p| p.ktti).collect();
    let before = total(pool, &ktties).await?;
    let want = before + Decimal::from(DEPOSITS as u64);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let sent = futures::stream::iter(0..DEPOSITS)
        .map(|i| {
            let (http, pot) = (&http, &pots[i % pots.len()]);
            async move {
                let raw = format!(
                    r#"{{"amount": 1.00, "description": "bench", "idempotencyKey": "bench-{run}-{i}", "receiverAccountNumber": "{}", "receiverBsb": "{}", "receiverName": "Bench", "senderAccountNumber": "123456789", "senderBsb": "062000", "senderName": "BENCH"}}"#,
                    pot.account, pot.bsb
                );
                http.post(format!("{}/v0/utils/generate-npp-inbound", args.sandbox))
                    .bearer_auth(&args.sandbox_token)
                    .header("content-type", "application/json")
                    .body(raw)
                    .send()
                    .await?
                    .error_for_status()
                    .map(drop)
            }
        })
        .buffer_unordered(DEPOSIT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    sent.into_iter()
        .collect::<Result<Vec<()>, _>>()
        .context("a sandbox deposit failed")?;
    let deadline = started + Duration::from_secs(DEPOSIT_TIMEOUT_SECS);
    while total(pool, &ktties).await? < want {
        if Instant::now() > deadline {
            bail!("deposits did not all land within {DEPOSIT_TIMEOUT_SECS} s");
        }
        // Rare polls on a primary-key read: the bench must not steal the CPU it measures.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(DEPOSITS as f64 / started.elapsed().as_secs_f64())
}

async fn total(pool: &sqlx::PgPool, ktties: &[uuid::Uuid]) -> anyhow::Result<Decimal> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(sum(total), 0) FROM ktti_balances WHERE ktti_id = ANY($1)")
            .bind(ktties)
            .fetch_one(pool)
            .await?,
    )
}

/// Plants `count` posted transactions on `ktti`, spread over a
/// year, a mix of kinds. The list routes only read these rows, so planting them
/// (rather than booking each through the provider) measures the same thing.
pub async fn plant_transactions(pool: &sqlx::PgPool, ktti: uuid::Uuid, count: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO transactions (id, ktti_id, kind, status, amount, direction, description, merchant_name, \
                                   provider_transaction_id, created_at, posted_at) \
         SELECT gen_random_uuid(), $1, \
                (ARRAY['deposit', 'cardPayment', 'refund', 'fee'])[1 + i % 4], 'posted', \
                (1 + i % 5000) / 100.0, CASE WHEN i % 4 IN (0, 2) THEN 'in' ELSE 'out' END, \
                'planted ' || i, 'Merchant ' || (i % 97), 'bench-planted-' || $1 || '-' || i, \
                now() - (i * interval '315 milliseconds'), now() - (i * interval '315 milliseconds') \
         FROM generate_series(1, $2) AS i",
    )
    .bind(ktti)
    .bind(count)
    .execute(pool)
    .await?;
    // As autovacuum would in time: statistics for the planner, and the visibility
    // map that lets counts read the index alone.
    sqlx::query("VACUUM ANALYZE transactions").execute(pool).await?;
    Ok(())
}
