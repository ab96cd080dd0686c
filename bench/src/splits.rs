//! Split and receipt figures: computing a 1,000-member split beside a 10-member
//! one; `PUT .../split` and `GET .../member-totals` at 64 connections on a ktti
//! of 100 members and 100,000 transactions; and receipts read by OCR, one alone
//! and a batch through the worker pool.
//!
//! The big ktti is planted in SQL (members and deposits through the same
//! triggers the app's writes go through): setting up 100 verified members and
//! 100,000 bank movements through the sandbox would take longer than the runs.

use crate::Args;
use crate::setup::Pot;
use anyhow::{Context, bail};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::split::{Rotation, by_weights};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Members of the planted ktti, its owner included.
pub const MEMBERS: usize = 100;
/// Transactions planted in it.
pub const TRANSACTIONS: i64 = 100_000;
/// Deposits planted per transaction.
const PLANT_BATCH: i64 = 1_000;
/// Receipts read in the batch.
pub const RECEIPTS: usize = 12;
/// Longest the receipts may take before the bench gives up.
const OCR_TIMEOUT_SECS: u64 = 600;

/// Microseconds to compute one split of `members` by weight.
pub fn split_micros(members: usize) -> f64 {
    let weights: Vec<(UserId, Decimal)> = (0..members)
        .map(|i| (UserId(Uuid::from_u128(i as u128 + 1)), Decimal::from(1 + i % 3)))
        .collect();
    let amount = Money::from_cents(123_456_789);
    let iterations: u64 = 200_000 / members.max(1) as u64 + 100;
    let started = Instant::now();
    for i in 0..iterations {
        black_box(by_weights(amount, black_box(&weights), Rotation(i)));
    }
    started.elapsed().as_secs_f64() * 1e6 / iterations as f64
}

/// The planted ktti: its id, a settled payment with a split, and three members
/// to split it between.
pub struct Planted {
    pub ktti: Uuid,
    pub expense: Uuid,
    pub members: Vec<Uuid>,
}

/// `owner`'s new group ktti with `MEMBERS - 1` more members and `TRANSACTIONS`
/// deposits, assigned round robin (a tenth unassigned).
pub async fn plant(args: &Args, pool: &sqlx::PgPool, owner: &Pot) -> anyhow::Result<Planted> {
    let created: Value = reqwest::Client::new()
        .post(format!("{}/api/v3/ktties", args.base))
        .bearer_auth(&owner.access)
        .json(&json!({"name": "Bench split", "billingPlan": "crowd"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ktti: Uuid = created["id"].as_str().context("ktti id")?.parse()?;
    sqlx::query(
        "INSERT INTO users (id, email, first_name, last_name, phone, kyc_status) \
         SELECT gen_random_uuid(), 'bench-member-' || i || '@example.com', 'Member', 'No' || i, '+61400000000', 'verified' \
         FROM generate_series(1, $1) AS i",
    )
    .bind(MEMBERS as i32 - 1)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO ktti_members (ktti_id, user_id, role, status, deposit_reference, joined_at) \
         SELECT $1, id, 'member', 'active', 'BENCH' || md5(id::text), now() FROM users \
         WHERE email LIKE 'bench-member-%@example.com'",
    )
    .bind(ktti)
    .execute(pool)
    .await?;
    let members: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM ktti_members WHERE ktti_id = $1 AND status = 'active' ORDER BY user_id",
    )
    .bind(ktti)
    .fetch_all(pool)
    .await?;
    // In transactions of a thousand, as deposits arrive (each in its own): one
    // transaction of 100,000 would leave member_totals with a version per
    // update that nothing could prune, which no real ktti ever has.
    for first in (1..=TRANSACTIONS).step_by(PLANT_BATCH as usize) {
        sqlx::query(
            "INSERT INTO transactions (id, ktti_id, kind, status, amount, direction, description, assignee_id, \
                                       provider_transaction_id, created_at, posted_at) \
             SELECT gen_random_uuid(), $1, 'deposit', 'posted', (1 + i % 5000) / 100.0, 'in', 'planted ' || i, \
                    CASE WHEN i % 10 = 0 THEN NULL ELSE ($3::uuid[])[1 + i % array_length($3::uuid[], 1)] END, \
                    'bench-split-' || $1 || '-' || i, now() - (i * interval '315 milliseconds'), \
                    now() - (i * interval '315 milliseconds') \
             FROM generate_series($2, $4) AS i",
        )
        .bind(ktti)
        .bind(first)
        .bind(&members)
        .bind(first + PLANT_BATCH - 1)
        .execute(pool)
        .await?;
    }
    let expense = Uuid::now_v7();
    let amount = Money::from_cents(12_345);
    sqlx::query(
        "INSERT INTO transactions (id, ktti_id, kind, status, amount, direction, description, created_at, posted_at) \
         VALUES ($1, $2, 'cardPayment', 'posted', $3, 'out', 'Bench dinner', now(), now())",
    )
    .bind(expense)
    .bind(ktti)
    .bind(amount.as_decimal())
    .execute(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    kttipay_db::splits::split_by_default(&mut conn, KttiId(ktti), expense, amount).await?;
    drop(conn);
    // What autovacuum does after a bulk load: the planted deposits updated
    // member_totals 100,000 times.
    sqlx::query("VACUUM ANALYZE transactions, member_totals, ktti_members, ktti_unassigned, ktti_balances")
        .execute(pool)
        .await?;
    Ok(Planted {
        ktti,
        expense,
        members: members.into_iter().take(3).collect(),
    })
}

/// The body of an equal split between `members`.
pub fn equal_split(members: &[Uuid]) -> String {
    json!({"mode": "equal", "shares": members.iter().map(|u| json!({"userId": u})).collect::<Vec<_>>()}).to_string()
}

/// `RECEIPTS` card payments with a rendered receipt each, uploaded at once;
/// returns (seconds for one receipt alone, seconds for the whole batch).
pub async fn read_receipts(args: &Args, pool: &sqlx::PgPool, owner: &Pot, ktti: Uuid) -> anyhow::Result<(f64, f64)> {
    let png = render()?;
    let mut payments = Vec::new();
    for i in 0..=RECEIPTS {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO transactions (id, ktti_id, kind, status, amount, direction, description, created_at, posted_at) \
             VALUES ($1, $2, 'cardPayment', 'posted', 38.50, 'out', 'Cafe ' || $3, now(), now())",
        )
        .bind(id)
        .bind(ktti)
        .bind(i as i32)
        .execute(pool)
        .await?;
        payments.push(id);
    }
    let one = &payments[..1];
    let started = Instant::now();
    upload_all(args, owner, one, &png).await?;
    wait_read(pool, one).await?;
    let alone = started.elapsed().as_secs_f64();
    let batch = &payments[1..];
    let started = Instant::now();
    upload_all(args, owner, batch, &png).await?;
    wait_read(pool, batch).await?;
    Ok((alone, started.elapsed().as_secs_f64()))
}

fn render() -> anyhow::Result<Vec<u8>> {
    let lines = [
        "CORNER CAFE",
        "14/03/2026",
        "Flat White      4.50",
        "Avocado Toast  18.00",
        "Pancakes       12.50",
        "SUBTOTAL       35.00",
        "Surcharge       3.50",
        "TOTAL          38.50",
        "GST             3.50",
    ];
    let out = std::process::Command::new("convert")
        .args([
            "-background",
            "white",
            "-fill",
            "black",
            "-font",
            "DejaVu-Sans-Mono",
            "-pointsize",
            "40",
        ])
        .arg(format!("label:{}", lines.join("\\n")))
        .args(["-bordercolor", "white", "-border", "60", "png:-"])
        .output()
        .context("ImageMagick's convert renders the receipt")?;
    if !out.status.success() {
        bail!("convert failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

async fn upload_all(args: &Args, owner: &Pot, payments: &[Uuid], png: &[u8]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let boundary = "kttipay-bench-boundary";
    let uploads = payments.iter().map(|id| {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(png);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        http.post(format!("{}/api/v2/transactions/{id}/receipt", args.base))
            .bearer_auth(&owner.access)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
    });
    for r in futures::future::join_all(uploads).await {
        r?.error_for_status()?;
    }
    Ok(())
}

async fn wait_read(pool: &sqlx::PgPool, payments: &[Uuid]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(OCR_TIMEOUT_SECS);
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('processed', 'failed')), count(*) FILTER (WHERE status = 'failed') \
             FROM receipts WHERE transaction_id = ANY($1)",
        )
        .bind(payments)
        .fetch_one(pool)
        .await?;
        if failed > 0 {
            bail!("{failed} receipts failed to read");
        }
        if done == payments.len() as i64 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {done} of {} receipts read after {OCR_TIMEOUT_SECS} s",
                payments.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
