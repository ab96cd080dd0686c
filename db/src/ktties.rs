//! Ktties.

use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::membership::{Role, Settings};
use sqlx::PgConnection;

pub use kttipay_domain::lifecycle::{KttiKind, KttiStatus};

/// Creates a ktti in `pendingSetup` with zero balances, in the caller's transaction.
pub async fn create(
    conn: &mut PgConnection,
    id: KttiId,
    kind: KttiKind,
    name: &str,
    owner: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ktties (id, kind, name, owner_id) VALUES ($1, $2, $3, $4)")
        .bind(id.0)
        .bind(kind.as_str())
        .bind(name)
        .bind(owner.0)
        .execute(&mut *conn)
        .await?;
    crate::ledger::open_balances(conn, id).await
}

/// A new group ktti's own fields.
#[derive(Debug, Default)]
pub struct GroupFields<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub target_amount: Option<rust_decimal::Decimal>,
    pub end_date: Option<chrono::NaiveDate>,
    pub image_key: Option<&'a str>,
    pub billing_plan: Option<&'a str>,
    pub referral_code: &'a str,
}

/// Creates a group ktti in `pendingSetup`, in the caller's transaction.
pub async fn create_group(
    conn: &mut PgConnection,
    id: KttiId,
    owner: UserId,
    f: &GroupFields<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ktties (id, kind, name, owner_id, description, purpose, target_amount, end_date, image_key, \
                             billing_plan, referral_code, billing_anchor) \
         VALUES ($1, 'group', $2, $3, $4, $5, $6, $7, $8, $9, $10, current_date)",
    )
    .bind(id.0)
    .bind(f.name)
    .bind(owner.0)
    .bind(f.description)
    .bind(f.purpose)
    .bind(f.target_amount)
    .bind(f.end_date)
    .bind(f.image_key)
    .bind(f.billing_plan)
    .bind(f.referral_code)
    .execute(&mut *conn)
    .await?;
    crate::ledger::open_balances(conn, id).await
}

/// Changes to a ktti (PATCH): `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct KttiChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub purpose: Option<Option<String>>,
    pub target_amount: Option<Option<rust_decimal::Decimal>>,
    pub end_date: Option<Option<chrono::NaiveDate>>,
    pub image_key: Option<Option<String>>,
    pub members_can_spend: Option<bool>,
    pub members_can_invite: Option<bool>,
    pub approval_required_to_join: Option<bool>,
    pub referral_code: Option<String>,
}

/// Applies `c` to the ktti, in one statement.
pub async fn update(conn: &mut PgConnection, ktti: KttiId, c: &KttiChanges) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ktties SET \
            name = coalesce($2, name), \
            description = CASE WHEN $3 THEN $4 ELSE description END, \
            purpose = CASE WHEN $5 THEN $6 ELSE purpose END, \
            target_amount = CASE WHEN $7 THEN $8 ELSE target_amount END, \
            end_date = CASE WHEN $9 THEN $10 ELSE end_date END, \
            image_key = CASE WHEN $11 THEN $12 ELSE image_key END, \
            members_can_spend = coalesce($13, members_can_spend), \
            members_can_invite = coalesce($14, members_can_invite), \
            approval_required_to_join = coalesce($15, approval_required_to_join), \
            referral_code = coalesce($16, referral_code), \
            updated_at = now() \
         WHERE id = $1",
    )
    .bind(ktti.0)
    .bind(&c.name)
    .bind(c.description.is_some())
    .bind(c.description.clone().flatten())
    .bind(c.purpose.is_some())
    .bind(c.purpose.clone().flatten())
    .bind(c.target_amount.is_some())
    .bind(c.target_amount.flatten())
    .bind(c.end_date.is_some())
    .bind(c.end_date.flatten())
    .bind(c.image_key.is_some())
    .bind(c.image_key.clone().flatten())
    .bind(c.members_can_spend)
    .bind(c.members_can_invite)
    .bind(c.approval_required_to_join)
    .bind(&c.referral_code)
    .execute(conn)
    .await?;
    Ok(())
}

/// A group ktti by its referral code, whoever asks: (id, status, approval required).
pub async fn by_referral_code<'e>(
    db: impl sqlx::PgExecutor<'e>,
    code: &str,
) -> Result<Option<(uuid::Uuid, String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, approval_required_to_join FROM ktties WHERE referral_code = $1 AND kind = 'group'",
    )
    .bind(code)
    .fetch_optional(db)
    .await
}

/// A ktti's name (for messages about it).
pub async fn name_of<'e>(db: impl sqlx::PgExecutor<'e>, ktti: KttiId) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM ktties WHERE id = $1")
        .bind(ktti.0)
        .fetch_one(db)
        .await
}

/// Locks the ktti's row for a membership or status change: (status, billing
/// plans: the one billed now and one waiting for the next period). Joins to one ktti serialise here, so a member limit holds under
/// concurrent joins; so do closure steps and the end of a round of payouts.
///
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: rows that merely reference the ktti
/// (journal entries, splits, action items) take a key-share lock on it when
/// inserted, and must not wait for a status check. With `FOR UPDATE`, two payouts
/// completing at once deadlocked: each held a key-share from its journal entry
/// while waiting for the other to release the balances or the row.
pub async fn lock_status(
    conn: &mut PgConnection,
    ktti: KttiId,
) -> Result<(KttiStatus, [Option<String>; 2]), sqlx::Error> {
    let (status, plan, next): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, billing_plan, next_billing_plan FROM ktties WHERE id = $1 FOR NO KEY UPDATE")
            .bind(ktti.0)
            .fetch_one(conn)
            .await?;
    Ok((crate::state(status)?, [plan, next]))
}

/// A ktti's status, share-locked: a change that must not cross a status change
/// (a split edited while the ktti closes) holds it until the caller commits.
pub async fn share_status(conn: &mut PgConnection, ktti: KttiId) -> Result<KttiStatus, sqlx::Error> {
    let status: String = sqlx::query_scalar("SELECT status FROM ktties WHERE id = $1 FOR SHARE")
        .bind(ktti.0)
        .fetch_one(conn)
        .await?;
    crate::state(status)
}

/// A ktti's status as committed now, without a lock.
pub async fn status_of<'e>(db: impl sqlx::PgExecutor<'e>, ktti: KttiId) -> Result<KttiStatus, sqlx::Error> {
    let status: String = sqlx::query_scalar("SELECT status FROM ktties WHERE id = $1")
        .bind(ktti.0)
        .fetch_one(db)
        .await?;
    crate::state(status)
}

/// Records the provider group once created.
pub async fn set_group(conn: &mut PgConnection, ktti: KttiId, group: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ktties SET provider_group_id = $2, updated_at = now() WHERE id = $1")
        .bind(ktti.0)
        .bind(group)
        .execute(conn)
        .await?;
    Ok(())
}

/// A ktti as a member sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KttiRow {
    pub id: uuid::Uuid,
    #[sqlx(try_from = "String")]
    pub kind: KttiKind,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: KttiStatus,
    pub currency: String,
    pub owner_id: uuid::Uuid,
    pub provider_account_id: Option<String>,
    pub bsb: Option<String>,
    pub account_number: Option<String>,
    pub setup_error: Option<String>,
    pub description: Option<String>,
    pub purpose: Option<String>,
    pub target_amount: Option<rust_decimal::Decimal>,
    pub end_date: Option<chrono::NaiveDate>,
    pub image_key: Option<String>,
    pub billing_plan: Option<String>,
    pub members_can_spend: bool,
    pub members_can_invite: bool,
    pub approval_required_to_join: bool,
    pub referral_code: Option<String>,
    pub provider_group_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub available: rust_decimal::Decimal,
    pub reserved: rust_decimal::Decimal,
    /// The caller's role and deposit reference.
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub deposit_reference: String,
    pub can_spend: bool,
    pub member_count: i64,
}

impl KttiRow {
    pub fn settings(&self) -> Settings {
        Settings {
            members_can_spend: self.members_can_spend,
            members_can_invite: self.members_can_invite,
            approval_required_to_join: self.approval_required_to_join,
        }
    }

    /// The caller's role.
    pub fn caller_role(&self) -> Role {
        self.role
    }
}

macro_rules! ktti_select {
    () => {
        "SELECT k.id, k.kind, k.name, k.status, k.currency::text AS currency, k.owner_id, k.provider_account_id, \
                k.bsb, k.account_number, k.setup_error, k.description, k.purpose, k.target_amount, k.end_date, \
                k.image_key, k.billing_plan, k.members_can_spend, k.members_can_invite, k.approval_required_to_join, \
                k.referral_code, k.provider_group_id, k.created_at, b.available, b.reserved, m.role, \
                m.deposit_reference, m.can_spend, \
                (SELECT count(*) FROM ktti_members x WHERE x.ktti_id = k.id AND x.status = 'active') AS member_count \
         FROM ktties k JOIN ktti_balances b ON b.ktti_id = k.id \
         JOIN ktti_members m ON m.ktti_id = k.id AND m.user_id = $1 AND m.status = 'active' "
    };
}

/// The ktti, if `user` is an active member of it: anyone else gets nothing, so a
/// ktti's existence never leaks.
pub async fn find_for_member<'e>(
    db: impl sqlx::PgExecutor<'e>,
    user: UserId,
    ktti: KttiId,
) -> Result<Option<KttiRow>, sqlx::Error> {
    sqlx::query_as(concat!(ktti_select!(), "WHERE k.id = $2"))
        .bind(user.0)
        .bind(ktti.0)
        .fetch_optional(db)
        .await
}

pub async fn personal_of<'e>(db: impl sqlx::PgExecutor<'e>, user: UserId) -> Result<Option<KttiRow>, sqlx::Error> {
    sqlx::query_as(concat!(ktti_select!(), "WHERE k.kind = 'personal' AND k.owner_id = $1"))
        .bind(user.0)
        .fetch_optional(db)
        .await
}

/// Filters for the caller's ktti list.
#[derive(Debug, Default)]
pub struct KttiFilter {
    pub status: Option<KttiStatus>,
    pub kind: Option<KttiKind>,
    pub role: Option<Role>,
    /// Case-blind substring of the name.
    pub q: Option<String>,
}

/// One page of the caller's ktties, newest first, and the total count.
pub async fn list_for_member(
    db: &sqlx::PgPool,
    user: UserId,
    filter: &KttiFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<KttiRow>, i64), sqlx::Error> {
    let rows = sqlx::query_as(concat!(
        ktti_select!(),
        "WHERE ($2::text IS NULL OR k.status = $2) AND ($3::text IS NULL OR k.kind = $3) \
           AND ($4::text IS NULL OR m.role = $4) AND ($5::text IS NULL OR k.name ILIKE '%' || $5 || '%') \
         ORDER BY k.created_at DESC, k.id LIMIT $6 OFFSET $7"
    ))
    .bind(user.0)
    .bind(filter.status.map(KttiStatus::as_str))
    .bind(filter.kind.map(KttiKind::as_str))
    .bind(filter.role.map(Role::as_str))
    .bind(&filter.q)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ktties k JOIN ktti_members m ON m.ktti_id = k.id AND m.user_id = $1 AND m.status = 'active' \
         WHERE ($2::text IS NULL OR k.status = $2) AND ($3::text IS NULL OR k.kind = $3) \
           AND ($4::text IS NULL OR m.role = $4) AND ($5::text IS NULL OR k.name ILIKE '%' || $5 || '%')",
    )
    .bind(user.0)
    .bind(filter.status.map(KttiStatus::as_str))
    .bind(filter.kind.map(KttiKind::as_str))
    .bind(filter.role.map(Role::as_str))
    .bind(&filter.q)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Records the provider account once opened.
pub async fn set_account(
    conn: &mut PgConnection,
    ktti: KttiId,
    account: &str,
    bsb: &str,
    number: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ktties SET provider_account_id = $2, bsb = $3, account_number = $4, updated_at = now() WHERE id = $1",
    )
    .bind(ktti.0)
    .bind(account)
    .bind(bsb)
    .bind(number)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a ktti from `from` to `to`, a move the lifecycle allows; false when it
/// was not in `from`.
pub async fn transition(
    conn: &mut PgConnection,
    ktti: KttiId,
    from: KttiStatus,
    to: KttiStatus,
) -> Result<bool, sqlx::Error> {
    debug_assert!(from.can_become(to), "{from} -> {to} is not a ktti lifecycle move");
    let done = sqlx::query("UPDATE ktties SET status = $3, updated_at = now() WHERE id = $1 AND status = $2")
        .bind(ktti.0)
        .bind(from.as_str())
        .bind(to.as_str())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_setup_error(conn: &mut PgConnection, ktti: KttiId, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ktties SET setup_error = $2, updated_at = now() WHERE id = $1")
        .bind(ktti.0)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// A ktti as jobs see it, whoever asks.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlainKtti {
    #[sqlx(try_from = "String")]
    pub kind: KttiKind,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: KttiStatus,
    pub owner_id: uuid::Uuid,
    pub provider_account_id: Option<String>,
    pub provider_group_id: Option<String>,
}

/// A ktti by id, whoever asks (jobs).
pub async fn find_plain<'e>(db: impl sqlx::PgExecutor<'e>, ktti: KttiId) -> Result<Option<PlainKtti>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, name, status, owner_id, provider_account_id, provider_group_id FROM ktties WHERE id = $1",
    )
    .bind(ktti.0)
    .fetch_optional(db)
    .await
}
