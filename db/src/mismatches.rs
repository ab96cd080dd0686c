//! Where our balances and the bank's disagreed: kept for operators, one row per
//! event found to disagree (or per account, when `verify-ledger
//! --against-provider` finds it).

use kttipay_domain::Money;
use kttipay_domain::ids::KttiId;
use kttipay_domain::ledger::Balances;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// What the bank said: its total and available balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankBalances {
    pub total: Option<Money>,
    pub available: Option<Money>,
}

impl BankBalances {
    /// Whether ours agree with every figure the bank gave.
    pub fn agree_with(&self, ours: &Balances) -> bool {
        self.total.is_none_or(|t| t == ours.total()) && self.available.is_none_or(|a| a == ours.available)
    }
}

/// Records a mismatch; `false` when this event's was already recorded.
pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    provider_account: &str,
    event: Option<Uuid>,
    ours: &Balances,
    bank: &BankBalances,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO balance_mismatches (id, ktti_id, provider_account_id, event_id, ours_total, ours_available, \
                                         bank_total, bank_available) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(ktti.0)
    .bind(provider_account)
    .bind(event)
    .bind(ours.total().as_decimal())
    .bind(ours.available.as_decimal())
    .bind(bank.total.map(|m| m.as_decimal()))
    .bind(bank.available.map(|m| m.as_decimal()))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Resolves a ktti's open differences once its balances agree with the bank's
/// again; how many.
pub async fn resolve<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("UPDATE balance_mismatches SET resolved_at = now() WHERE ktti_id = $1 AND resolved_at IS NULL")
            .bind(ktti.0)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}

/// Differences still open, for operators.
pub async fn open_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM balance_mismatches WHERE resolved_at IS NULL")
        .fetch_one(pool)
        .await
}

/// Every ktti with a provider account: (ktti, provider account id).
pub async fn accounts(pool: &PgPool) -> Result<Vec<(KttiId, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, provider_account_id FROM ktties WHERE provider_account_id IS NOT NULL ORDER BY id")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(k, a)| (KttiId(k), a)).collect())
}
