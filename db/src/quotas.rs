//! Counts behind the per-user and per-ktti quotas. Counted in the database, so
//! every API replica enforces the same budget.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, UserId};
use sqlx::PgExecutor;

/// Open group ktties the user owns (anything not closed).
pub async fn group_ktties_owned<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ktties WHERE owner_id = $1 AND kind = 'group' AND status <> 'closed'")
        .bind(user.0)
        .fetch_one(db)
        .await
}

/// Invitations sent for a ktti in the last day, and the oldest of them.
pub async fn invitations_last_day<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), min(created_at) FROM invitations WHERE ktti_id = $1 AND created_at > now() - interval '1 day'",
    )
    .bind(ktti.0)
    .fetch_one(db)
    .await
}

/// KYC submissions by a user in the last day, and the oldest of them.
pub async fn kyc_submissions_last_day<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), min(submitted_at) FROM kyc_submissions \
         WHERE user_id = $1 AND submitted_at > now() - interval '1 day'",
    )
    .bind(user.0)
    .fetch_one(db)
    .await
}
