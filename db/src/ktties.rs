//! Ktties.

use kttipay_domain::ids::{KttiId, UserId};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KttiKind {
    Personal,
    Group,
}

impl KttiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KttiKind::Personal => "personal",
            KttiKind::Group => "group",
        }
    }
}

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

/// A ktti as a member sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KttiRow {
    pub id: uuid::Uuid,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub currency: String,
    pub owner_id: uuid::Uuid,
    pub provider_account_id: Option<String>,
    pub bsb: Option<String>,
    pub account_number: Option<String>,
    pub setup_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub available: rust_decimal::Decimal,
    pub reserved: rust_decimal::Decimal,
    /// The caller's role and deposit reference.
    pub role: String,
    pub deposit_reference: String,
    pub member_count: i64,
}

macro_rules! ktti_select {
    () => {
        "SELECT k.id, k.kind, k.name, k.status, k.currency::text AS currency, k.owner_id, k.provider_account_id, \
                k.bsb, k.account_number, k.setup_error, k.created_at, b.available, b.reserved, m.role, \
                m.deposit_reference, \
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
    pub status: Option<String>,
    pub kind: Option<String>,
    pub role: Option<String>,
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
    .bind(&filter.status)
    .bind(&filter.kind)
    .bind(&filter.role)
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
    .bind(&filter.status)
    .bind(&filter.kind)
    .bind(&filter.role)
    .bind(&filter.q)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Adds an active member (the owner of a new ktti, or a joiner).
pub async fn add_member(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    role: &str,
    deposit_reference: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ktti_members (ktti_id, user_id, role, status, deposit_reference, joined_at) \
         VALUES ($1, $2, $3, 'active', $4, now()) ON CONFLICT DO NOTHING",
    )
    .bind(ktti.0)
    .bind(user.0)
    .bind(role)
    .bind(deposit_reference)
    .execute(conn)
    .await?;
    Ok(())
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

/// Moves a ktti from `from` to `to`; false when it was not in `from`.
pub async fn transition(conn: &mut PgConnection, ktti: KttiId, from: &str, to: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE ktties SET status = $3, updated_at = now() WHERE id = $1 AND status = $2")
        .bind(ktti.0)
        .bind(from)
        .bind(to)
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

/// A ktti by id, whoever asks (jobs).
pub async fn find_plain<'e>(
    db: impl sqlx::PgExecutor<'e>,
    ktti: KttiId,
) -> Result<Option<(String, String, uuid::Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, status, owner_id, provider_account_id FROM ktties WHERE id = $1")
        .bind(ktti.0)
        .fetch_optional(db)
        .await
}
