//! Memberships of ktties: joining, roles, leaving, and who may decide for a ktti.

use chrono::{DateTime, Utc};
use kttipay_domain::attribution::Candidate;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership::Role;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "String")]
    pub status: MembershipStatus,
    pub can_spend: bool,
    pub nickname: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

macro_rules! member_select {
    () => {
        "SELECT m.user_id, m.role, m.status, m.can_spend, m.nickname, m.joined_at, m.left_at, \
                u.first_name, u.last_name, u.email::text AS email \
         FROM ktti_members m JOIN users u ON u.id = m.user_id "
    };
}

/// Every membership of a ktti, current ones first.
pub async fn list<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        member_select!(),
        "WHERE m.ktti_id = $1 ORDER BY m.status <> 'active', m.joined_at NULLS LAST, m.user_id"
    ))
    .bind(ktti.0)
    .fetch_all(db)
    .await
}

/// Whether `user` is an active member of the ktti (a primary-key read).
pub async fn is_active<'e>(db: impl PgExecutor<'e>, ktti: KttiId, user: UserId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ktti_members WHERE ktti_id = $1 AND user_id = $2 AND status = 'active')",
    )
    .bind(ktti.0)
    .bind(user.0)
    .fetch_one(db)
    .await
}

/// One membership in any status, locked for a change in the caller's transaction.
pub async fn lock(conn: &mut PgConnection, ktti: KttiId, user: UserId) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        member_select!(),
        "WHERE m.ktti_id = $1 AND m.user_id = $2 FOR UPDATE OF m"
    ))
    .bind(ktti.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await
}

/// Makes `user` an active member with `role`: a new membership, or a former member
/// back again (keeping their deposit reference). False when already active. They
/// start at the average weight of the active members in the default split, so
/// joining a ktti whose members weigh 2 each does not make them a half-member.
pub async fn join(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    role: Role,
    deposit_reference: &str,
) -> Result<bool, sqlx::Error> {
    let joined = sqlx::query(
        "INSERT INTO ktti_members (ktti_id, user_id, role, status, deposit_reference, joined_at, split_proportion) \
         VALUES ($1, $2, $3, 'active', $4, now(), \
             (SELECT greatest(coalesce(round(avg(split_proportion), 2), 1), 0.01) FROM ktti_members \
              WHERE ktti_id = $1 AND status = 'active')) \
         ON CONFLICT (ktti_id, user_id) DO UPDATE SET status = 'active', role = EXCLUDED.role, joined_at = now(), \
             left_at = NULL, can_spend = true, split_proportion = EXCLUDED.split_proportion, updated_at = now() \
         WHERE ktti_members.status <> 'active'",
    )
    .bind(ktti.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(deposit_reference)
    .execute(conn)
    .await?;
    Ok(joined.rows_affected() == 1)
}

/// Ends an active membership as `left` or `removed`. False when it was not active.
pub async fn end(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    status: MembershipStatus,
) -> Result<bool, sqlx::Error> {
    debug_assert!(status.is_departure(), "{status} does not end a membership");
    let done = sqlx::query(
        "UPDATE ktti_members SET status = $3, left_at = now(), updated_at = now() \
         WHERE ktti_id = $1 AND user_id = $2 AND status = 'active'",
    )
    .bind(ktti.0)
    .bind(user.0)
    .bind(status.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes a member's role, spending right and nickname (`None` leaves each alone;
/// an empty nickname clears it).
pub async fn update(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    role: Option<Role>,
    can_spend: Option<bool>,
    nickname: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ktti_members SET role = coalesce($3, role), can_spend = coalesce($4, can_spend), \
             nickname = CASE WHEN $5::text IS NULL THEN nickname ELSE nullif($5, '') END, updated_at = now() \
         WHERE ktti_id = $1 AND user_id = $2",
    )
    .bind(ktti.0)
    .bind(user.0)
    .bind(role.map(Role::as_str))
    .bind(can_spend)
    .bind(nickname)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a member's weight in the ktti's default split.
pub async fn set_split_proportion(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    value: rust_decimal::Decimal,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ktti_members SET split_proportion = $3, updated_at = now() WHERE ktti_id = $1 AND user_id = $2",
    )
    .bind(ktti.0)
    .bind(user.0)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

/// Active members of a ktti.
pub async fn active_count<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ktti_members WHERE ktti_id = $1 AND status = 'active'")
        .bind(ktti.0)
        .fetch_one(db)
        .await
}

/// Hands ownership from `from` to `to`; the old owner stays on as an admin. The
/// demotion goes first, so the one-owner index holds at every step.
pub async fn hand_over(conn: &mut PgConnection, ktti: KttiId, from: UserId, to: UserId) -> Result<(), sqlx::Error> {
    update(conn, ktti, from, Some(Role::Admin), None, None).await?;
    update(conn, ktti, to, Some(Role::Owner), None, None).await?;
    sqlx::query("UPDATE ktties SET owner_id = $2, updated_at = now() WHERE id = $1")
        .bind(ktti.0)
        .bind(to.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// The active owner and admins, who decide a ktti's action items.
pub async fn managers<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM ktti_members WHERE ktti_id = $1 AND status = 'active' AND role IN ('owner', 'admin')",
    )
    .bind(ktti.0)
    .fetch_all(db)
    .await
}

/// The active members as candidate payers of a deposit: names, deposit reference,
/// and the account of their personal ktti.
pub async fn candidates<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows: Vec<CandidateRow> = sqlx::query_as(
        // The name is the one the provider verified (the latest submission sent
        // for a verified user), never the profile name anyone can edit.
        "SELECT m.user_id, m.deposit_reference, k.first_name, k.last_name, p.bsb, p.account_number \
         FROM ktti_members m JOIN users u ON u.id = m.user_id \
         LEFT JOIN LATERAL ( \
             SELECT s.first_name, s.last_name FROM kyc_submissions s \
             WHERE s.user_id = m.user_id AND s.sent_to_provider_at IS NOT NULL AND u.kyc_status = 'verified' \
             ORDER BY s.submitted_at DESC LIMIT 1) k ON true \
         LEFT JOIN ktties p ON p.owner_id = m.user_id AND p.kind = 'personal' \
         WHERE m.ktti_id = $1 AND m.status = 'active'",
    )
    .bind(ktti.0)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            user: UserId(r.user_id),
            personal_account: r.bsb.zip(r.account_number),
            deposit_reference: r.deposit_reference,
            verified_name: r.first_name.zip(r.last_name),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    user_id: Uuid,
    deposit_reference: String,
    first_name: Option<String>,
    last_name: Option<String>,
    bsb: Option<String>,
    account_number: Option<String>,
}

/// The active member a sender account is remembered for on this ktti.
pub async fn remembered_sender<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    bsb: &str,
    account: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "SELECT s.user_id FROM sender_accounts s \
         JOIN ktti_members m ON m.ktti_id = s.ktti_id AND m.user_id = s.user_id AND m.status = 'active' \
         WHERE s.ktti_id = $1 AND s.bsb = $2 AND s.account_number = $3",
    )
    .bind(ktti.0)
    .bind(bsb)
    .bind(account)
    .fetch_optional(db)
    .await?;
    Ok(user.map(UserId))
}

/// Who a sender account is remembered for, whatever their membership now, locked
/// until the caller's transaction ends so a concurrent claim waits.
pub async fn sender_remembered_for(
    conn: &mut PgConnection,
    ktti: KttiId,
    bsb: &str,
    account: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM sender_accounts WHERE ktti_id = $1 AND bsb = $2 AND account_number = $3 FOR UPDATE",
    )
    .bind(ktti.0)
    .bind(bsb)
    .bind(account)
    .fetch_optional(conn)
    .await?;
    Ok(user.map(UserId))
}

/// Remembers (or re-points) a sender account for a member.
pub async fn remember_sender(
    conn: &mut PgConnection,
    ktti: KttiId,
    bsb: &str,
    account: &str,
    user: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sender_accounts (ktti_id, bsb, account_number, user_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ktti_id, bsb, account_number) DO UPDATE SET user_id = EXCLUDED.user_id",
    )
    .bind(ktti.0)
    .bind(bsb)
    .bind(account)
    .bind(user.0)
    .execute(conn)
    .await?;
    Ok(())
}
