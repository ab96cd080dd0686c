//! The bank account each user nominates for payouts.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::UserId;
use sqlx::{FromRow, PgConnection, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct PayoutAccount {
    pub bsb: String,
    pub account_number: String,
    pub account_name: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn find<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Option<PayoutAccount>, sqlx::Error> {
    sqlx::query_as("SELECT bsb, account_number, account_name, updated_at FROM payout_accounts WHERE user_id = $1")
        .bind(user.0)
        .fetch_optional(db)
        .await
}

/// Nominates (or replaces) the user's account; returns it as stored.
pub async fn set(
    conn: &mut PgConnection,
    user: UserId,
    bsb: &str,
    account_number: &str,
    account_name: &str,
) -> Result<PayoutAccount, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO payout_accounts (user_id, bsb, account_number, account_name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET bsb = EXCLUDED.bsb, account_number = EXCLUDED.account_number, \
             account_name = EXCLUDED.account_name, updated_at = now() \
         RETURNING bsb, account_number, account_name, updated_at",
    )
    .bind(user.0)
    .bind(bsb)
    .bind(account_number)
    .bind(account_name)
    .fetch_one(conn)
    .await
}

/// Removes the nomination; false when there was none.
pub async fn remove(conn: &mut PgConnection, user: UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM payout_accounts WHERE user_id = $1")
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
