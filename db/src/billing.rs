//! Billing: ktties due a charge, the charges (one per ktti and period) with every
//! attempt, and plan changes waiting for the next period.

use chrono::{DateTime, NaiveDate, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::KttiId;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// A group ktti's billing standing.
#[derive(Debug, Clone, FromRow)]
pub struct Billing {
    pub ktti_id: Uuid,
    pub billing_plan: Option<String>,
    pub next_billing_plan: Option<String>,
    pub billing_anchor: Option<NaiveDate>,
    pub billed_through: Option<NaiveDate>,
}

const BILLING_COLUMNS: &str = "id AS ktti_id, billing_plan, next_billing_plan, billing_anchor, billed_through";

pub async fn of<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Option<Billing>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BILLING_COLUMNS} FROM ktties WHERE id = $1 AND kind = 'group'"
    )))
    .bind(ktti.0)
    .fetch_optional(db)
    .await
}

impl Billing {
    /// Where the next period starts: the position in [`candidates`]' order.
    pub fn billing_anchor_or_through(&self) -> NaiveDate {
        self.billed_through.or(self.billing_anchor).unwrap_or_default()
    }
}

/// Active group ktties whose next period may have ended by `today` (the caller
/// decides with each one's plan: a month or a year, and no month is shorter than
/// 28 days), oldest first, after `after` (keyset paging), at most `limit`.
pub async fn candidates(
    conn: &mut PgConnection,
    today: NaiveDate,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<Billing>, sqlx::Error> {
    let (after_date, after_id) = after.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BILLING_COLUMNS} FROM ktties \
         WHERE kind = 'group' AND status = 'active' AND billing_anchor IS NOT NULL \
           AND coalesce(billed_through, billing_anchor) <= $1 - 28 \
           AND ($2::date IS NULL OR (coalesce(billed_through, billing_anchor), id) > ($2, $3)) \
         ORDER BY coalesce(billed_through, billing_anchor), id LIMIT $4"
    )))
    .bind(today)
    .bind(after_date)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A charge to write for a period that has ended.
#[derive(Debug, Clone)]
pub struct NewCharge<'a> {
    pub ktti: KttiId,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub plan_code: &'a str,
    pub amount: Money,
}

/// Records the period's charge and moves the ktti's billing past it, applying a
/// plan change that waited for this period to end. `None` when another run
/// recorded this period first: only the run that inserts the row charges it.
pub async fn record_period(conn: &mut PgConnection, c: &NewCharge<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::now_v7();
    let free = c.amount == Money::ZERO;
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO billing_charges (id, ktti_id, period_start, period_end, plan_code, amount, status, \
                                      idempotency_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (ktti_id, period_start) DO NOTHING RETURNING id",
    )
    .bind(id)
    .bind(c.ktti.0)
    .bind(c.period_start)
    .bind(c.period_end)
    .bind(c.plan_code)
    .bind(c.amount.as_decimal())
    .bind(if free { "free" } else { "pending" })
    .bind(Uuid::new_v4())
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    if free {
        attempt(conn, id, "free", None).await?;
    }
    sqlx::query(
        "UPDATE ktties SET billed_through = $2, billing_plan = coalesce(next_billing_plan, billing_plan), \
             next_billing_plan = NULL, updated_at = now() WHERE id = $1",
    )
    .bind(c.ktti.0)
    .bind(c.period_end)
    .execute(conn)
    .await?;
    Ok(Some(id))
}

/// Failed charges to try again in this run: back to `pending`, each claimed by
/// exactly one run (the row lock decides between runs firing at once).
pub async fn retry_failed(
    conn: &mut PgConnection,
    not_since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE billing_charges SET status = 'pending', updated_at = now() WHERE id IN ( \
             SELECT id FROM billing_charges WHERE status = 'failed' AND updated_at < $1 \
             ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         AND status = 'failed' RETURNING id",
    )
    .bind(not_since)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct ChargeRow {
    pub id: Uuid,
    pub ktti_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub plan_code: String,
    pub amount: Decimal,
    pub status: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub idempotency_key: Uuid,
    pub transaction_id: Option<Uuid>,
    pub provider_transaction_id: Option<String>,
    pub charged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl ChargeRow {
    pub fn amount(&self) -> Money {
        Money::new(self.amount).expect("NUMERIC(18,2) always fits Money")
    }
}

const CHARGE_COLUMNS: &str = "id, ktti_id, period_start, period_end, plan_code, amount, status, attempts, reason, \
     idempotency_key, transaction_id, provider_transaction_id, charged_at, created_at";

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<ChargeRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHARGE_COLUMNS} FROM billing_charges WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<ChargeRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHARGE_COLUMNS} FROM billing_charges WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The charge whose debit carries `key` (from the debit's reference).
pub async fn id_by_key<'e>(db: impl PgExecutor<'e>, key: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM billing_charges WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

/// An attempt is about to send the debit: counted, tied to its transaction.
pub async fn start_attempt(conn: &mut PgConnection, id: Uuid, transaction: Uuid) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE billing_charges SET attempts = attempts + 1, transaction_id = $2, updated_at = now() \
         WHERE id = $1 RETURNING attempts",
    )
    .bind(id)
    .bind(transaction)
    .fetch_one(conn)
    .await
}

/// Charged: the bank took the fee.
pub async fn charged(conn: &mut PgConnection, id: Uuid, provider_transaction: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE billing_charges SET status = 'charged', reason = NULL, charged_at = now(), \
             provider_transaction_id = coalesce($2, provider_transaction_id), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(provider_transaction)
    .execute(&mut *conn)
    .await?;
    attempt(conn, id, "charged", None).await
}

/// Failed for now (`reason`); a later run tries again, with a new key (nothing
/// moved at the bank) and no transaction yet.
pub async fn failed(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE billing_charges SET status = 'failed', reason = $2, idempotency_key = gen_random_uuid(), \
             transaction_id = NULL, attempts = attempts + CASE WHEN transaction_id IS NULL THEN 1 ELSE 0 END, \
             updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    attempt(conn, id, "failed", Some(reason)).await
}

/// Records one attempt's outcome in the charge's history.
pub async fn attempt(
    conn: &mut PgConnection,
    charge: Uuid,
    outcome: &str,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO billing_attempts (charge_id, seq, outcome, reason) \
         SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM billing_attempts WHERE charge_id = $1",
    )
    .bind(charge)
    .bind(outcome)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// A plan change for the next period (`None` cancels a waiting one); with the
/// current plan itself, nothing waits.
pub async fn set_next_plan(conn: &mut PgConnection, ktti: KttiId, code: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ktties SET next_billing_plan = CASE WHEN $2 = billing_plan THEN NULL ELSE $2 END, \
             updated_at = now() WHERE id = $1",
    )
    .bind(ktti.0)
    .bind(code)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub charge_id: Uuid,
    pub seq: i32,
    pub outcome: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A ktti's charges, newest period first, with their attempts.
pub async fn history(
    conn: &mut PgConnection,
    ktti: KttiId,
    limit: i64,
) -> Result<(Vec<ChargeRow>, Vec<AttemptRow>), sqlx::Error> {
    let charges: Vec<ChargeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHARGE_COLUMNS} FROM billing_charges WHERE ktti_id = $1 ORDER BY period_start DESC LIMIT $2"
    )))
    .bind(ktti.0)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = charges.iter().map(|c| c.id).collect();
    let attempts = sqlx::query_as(
        "SELECT charge_id, seq, outcome, reason, at FROM billing_attempts WHERE charge_id = ANY($1) \
         ORDER BY charge_id, seq",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok((charges, attempts))
}
