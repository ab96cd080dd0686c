//! Disbursements (rounds of paying a closing ktti out), their payouts and the
//! settle-up suggestions. A payout's status only moves under its row lock
//! ([`lock`]), so the job and the bank's webhook that both learn of a transfer
//! finish it once.

use chrono::{DateTime, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::{DisbursementId, KttiId, PayoutId, UserId};
use kttipay_domain::lifecycle::PayoutStatus;
use kttipay_domain::payout::Destination;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// One planned payout, to write with its disbursement.
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub user: UserId,
    pub amount: Money,
    pub destination: Destination,
    /// Who the transfer is addressed to (the nominated account's name, or the
    /// member's name for their personal ktti).
    pub to_name: String,
}

/// Writes round `round` of `ktti`'s disbursement with its payouts (each with a
/// fresh idempotency key) and settle-ups. Returns the disbursement and the new
/// payouts' ids.
pub async fn create(
    conn: &mut PgConnection,
    ktti: KttiId,
    requested_by: UserId,
    available: Money,
    payouts: &[NewPayout],
    settle_ups: &[(UserId, UserId, Money)],
) -> Result<(DisbursementId, Vec<PayoutId>), sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO disbursements (id, ktti_id, round, requested_by, available) \
         SELECT $1, $2, coalesce(max(round), 0) + 1, $3, $4 FROM disbursements WHERE ktti_id = $2",
    )
    .bind(id)
    .bind(ktti.0)
    .bind(requested_by.0)
    .bind(available.as_decimal())
    .execute(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = payouts.iter().map(|_| Uuid::now_v7()).collect();
    let keys: Vec<Uuid> = payouts.iter().map(|_| Uuid::new_v4()).collect();
    let users: Vec<Uuid> = payouts.iter().map(|p| p.user.0).collect();
    let amounts: Vec<Decimal> = payouts.iter().map(|p| p.amount.as_decimal()).collect();
    let kinds: Vec<&str> = payouts.iter().map(|p| p.destination.kind()).collect();
    let field = |f: fn(&Destination) -> Option<&str>| -> Vec<Option<String>> {
        payouts.iter().map(|p| f(&p.destination).map(str::to_owned)).collect()
    };
    let account_ids = field(|d| match d {
        Destination::PersonalKtti { account_hay_id } => Some(account_hay_id),
        Destination::BankAccount(_) => None,
    });
    let bsbs = field(|d| match d {
        Destination::BankAccount(a) => Some(&a.bsb),
        Destination::PersonalKtti { .. } => None,
    });
    let numbers = field(|d| match d {
        Destination::BankAccount(a) => Some(&a.account_number),
        Destination::PersonalKtti { .. } => None,
    });
    let names: Vec<&str> = payouts.iter().map(|p| p.to_name.as_str()).collect();
    sqlx::query(
        "INSERT INTO payouts (id, disbursement_id, ktti_id, user_id, amount, idempotency_key, destination, \
                              to_account_hay_id, to_bsb, to_account_number, to_name) \
         SELECT i, $1, $2, u, a, k, d, acc, b, n, nm \
         FROM unnest($3::uuid[], $4::uuid[], $5::numeric[], $6::uuid[], $7::text[], $8::text[], $9::text[], \
                     $10::text[], $11::text[]) AS x(i, u, a, k, d, acc, b, n, nm)",
    )
    .bind(id)
    .bind(ktti.0)
    .bind(&ids)
    .bind(&users)
    .bind(&amounts)
    .bind(&keys)
    .bind(&kinds)
    .bind(&account_ids)
    .bind(&bsbs)
    .bind(&numbers)
    .bind(&names)
    .execute(&mut *conn)
    .await?;
    let seqs: Vec<i16> = (0..settle_ups.len() as i16).collect();
    let froms: Vec<Uuid> = settle_ups.iter().map(|s| s.0.0).collect();
    let tos: Vec<Uuid> = settle_ups.iter().map(|s| s.1.0).collect();
    let owed: Vec<Decimal> = settle_ups.iter().map(|s| s.2.as_decimal()).collect();
    sqlx::query(
        "INSERT INTO settle_ups (disbursement_id, seq, from_user_id, to_user_id, amount) \
         SELECT $1, * FROM unnest($2::smallint[], $3::uuid[], $4::uuid[], $5::numeric[])",
    )
    .bind(id)
    .bind(&seqs)
    .bind(&froms)
    .bind(&tos)
    .bind(&owed)
    .execute(&mut *conn)
    .await?;
    Ok((DisbursementId(id), ids.into_iter().map(PayoutId).collect()))
}

/// Whether any round was ever disbursed for `ktti` (a closure can no longer be
/// cancelled then).
pub async fn any_for<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM disbursements WHERE ktti_id = $1)")
        .bind(ktti.0)
        .fetch_one(db)
        .await
}

#[derive(Debug, Clone, FromRow)]
pub struct PayoutRow {
    pub id: Uuid,
    pub disbursement_id: Uuid,
    pub ktti_id: Uuid,
    pub user_id: Uuid,
    pub amount: Decimal,
    pub idempotency_key: Uuid,
    #[sqlx(try_from = "String")]
    pub status: PayoutStatus,
    pub destination: String,
    pub to_account_hay_id: Option<String>,
    pub to_bsb: Option<String>,
    pub to_account_number: Option<String>,
    pub to_name: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub transaction_id: Option<Uuid>,
    pub provider_transaction_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl PayoutRow {
    pub fn amount(&self) -> Money {
        Money::new(self.amount).expect("NUMERIC(18,2) always fits Money")
    }
}

macro_rules! payout_columns {
    () => {
        "id, disbursement_id, ktti_id, user_id, amount, idempotency_key, status, destination, to_account_hay_id, \
         to_bsb, to_account_number, to_name, attempts, last_error, transaction_id, provider_transaction_id, \
         submitted_at, finished_at, created_at"
    };
}

/// The payout, locked until the caller commits.
pub async fn lock(conn: &mut PgConnection, id: PayoutId) -> Result<Option<PayoutRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        payout_columns!(),
        " FROM payouts WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: PayoutId) -> Result<Option<PayoutRow>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", payout_columns!(), " FROM payouts WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(db)
        .await
}

/// The payout whose transfer carries `key` (from the transfer's reference).
pub async fn id_by_key<'e>(db: impl PgExecutor<'e>, key: Uuid) -> Result<Option<PayoutId>, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM payouts WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(db)
        .await?;
    Ok(id.map(PayoutId))
}

/// A new attempt is about to send the transfer: `submitted`, counted, and (the
/// first time) tied to the pending transaction that shows it to members.
pub async fn start_attempt(conn: &mut PgConnection, id: PayoutId, transaction: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payouts SET status = 'submitted', attempts = attempts + 1, \
             transaction_id = coalesce(transaction_id, $2), submitted_at = coalesce(submitted_at, now()), \
             updated_at = now() WHERE id = $1",
    )
    .bind(id.0)
    .bind(transaction)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records why an attempt did not finish (`code` is shown to members).
pub async fn note_error(conn: &mut PgConnection, id: PayoutId, code: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payouts SET last_error = $2, updated_at = now() WHERE id = $1")
        .bind(id.0)
        .bind(code)
        .execute(conn)
        .await?;
    Ok(())
}

/// The payout reached a final or waiting state: `completed` (with the bank's
/// transaction id), `failed` or `dead` (with why).
pub async fn finish(
    conn: &mut PgConnection,
    id: PayoutId,
    status: PayoutStatus,
    provider_transaction: Option<&str>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payouts SET status = $2, provider_transaction_id = coalesce($3, provider_transaction_id), \
             last_error = coalesce($4, last_error), \
             finished_at = CASE WHEN $2 IN ('completed', 'failed') THEN now() END, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(status.as_str())
    .bind(provider_transaction)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Payouts of `ktti` not finished for good (pending, submitted or dead).
pub async fn in_flight<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM payouts WHERE ktti_id = $1 AND status IN ('pending', 'submitted', 'dead')")
        .bind(ktti.0)
        .fetch_one(db)
        .await
}

#[derive(Debug, Clone, FromRow)]
pub struct DisbursementRow {
    pub id: Uuid,
    pub round: i32,
    pub requested_by: Uuid,
    pub available: Decimal,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct SettleUpRow {
    pub disbursement_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub amount: Decimal,
}

/// Every round of `ktti`, newest first, with its payouts and settle-ups.
pub struct Rounds {
    pub disbursements: Vec<DisbursementRow>,
    pub payouts: Vec<PayoutRow>,
    pub settle_ups: Vec<SettleUpRow>,
}

pub async fn rounds(conn: &mut PgConnection, ktti: KttiId) -> Result<Rounds, sqlx::Error> {
    let disbursements = sqlx::query_as(
        "SELECT id, round, requested_by, available, created_at FROM disbursements WHERE ktti_id = $1 \
         ORDER BY round DESC",
    )
    .bind(ktti.0)
    .fetch_all(&mut *conn)
    .await?;
    let payouts = sqlx::query_as(concat!(
        "SELECT ",
        payout_columns!(),
        " FROM payouts WHERE ktti_id = $1 ORDER BY created_at, user_id"
    ))
    .bind(ktti.0)
    .fetch_all(&mut *conn)
    .await?;
    let settle_ups = sqlx::query_as(
        "SELECT s.disbursement_id, s.from_user_id, s.to_user_id, s.amount FROM settle_ups s \
         JOIN disbursements d ON d.id = s.disbursement_id WHERE d.ktti_id = $1 ORDER BY s.disbursement_id, s.seq",
    )
    .bind(ktti.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Rounds {
        disbursements,
        payouts,
        settle_ups,
    })
}

/// Card payments of `ktti` still held (not settled or released).
pub async fn open_holds<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM transactions WHERE ktti_id = $1 AND kind = 'cardPayment' AND status = 'pending'",
    )
    .bind(ktti.0)
    .fetch_one(db)
    .await
}

/// One payout of a ktti being paid out, as operators see it at a glance.
#[derive(Debug, Clone, FromRow)]
pub struct Glance {
    pub ktti_id: Uuid,
    pub ktti_name: String,
    pub ktti_status: String,
    pub round: i32,
    pub payout_id: Uuid,
    pub email: String,
    pub amount: Decimal,
    #[sqlx(try_from = "String")]
    pub status: PayoutStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The newest job sending it.
    pub job_id: Option<Uuid>,
}

/// The payouts of every ktti closing, paying out or ready to close (newest
/// round of each), for the operators' dashboard.
pub async fn glance<'e>(db: impl PgExecutor<'e>, limit: i64) -> Result<Vec<Glance>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id AS ktti_id, k.name AS ktti_name, k.status AS ktti_status, d.round, p.id AS payout_id, \
                u.email, p.amount, p.status, p.attempts, p.last_error, \
                (SELECT j.id FROM jobs j WHERE j.kind = 'payout.submit.v1' AND j.payload->>'payoutId' = p.id::text \
                 ORDER BY j.created_at DESC LIMIT 1) AS job_id \
         FROM ktties k \
         JOIN disbursements d ON d.ktti_id = k.id \
              AND d.round = (SELECT max(round) FROM disbursements x WHERE x.ktti_id = k.id) \
         JOIN payouts p ON p.disbursement_id = d.id \
         JOIN users u ON u.id = p.user_id \
         WHERE k.status IN ('closing', 'disbursing', 'readyToClose') \
         ORDER BY k.updated_at DESC, k.id, u.email LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}
