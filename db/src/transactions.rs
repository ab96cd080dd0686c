//! Transactions as members see them.

use chrono::{DateTime, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{Direction, KttiKind, TransactionKind, TransactionStatus};
use rust_decimal::Decimal;
use sqlx::postgres::PgArguments;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool, Postgres};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewTransaction<'a> {
    pub ktti: Option<KttiId>,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    pub amount: Money,
    pub description: Option<&'a str>,
    pub merchant_name: Option<&'a str>,
    pub counterparty_name: Option<&'a str>,
    pub counterparty_bsb: Option<&'a str>,
    pub counterparty_account: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub assignee: Option<UserId>,
    pub card: Option<Uuid>,
    pub provider_transaction_id: Option<&'a str>,
    pub provider_hold_id: Option<&'a str>,
    pub decline_reason: Option<&'a str>,
    /// A refund: the expense it gives money back for.
    pub refund_of: Option<Uuid>,
}

impl NewTransaction<'_> {
    /// A transaction of `kind` in `status`, every other field empty (for `..` to
    /// fill). Its direction follows from its kind.
    pub fn new(kind: TransactionKind, status: TransactionStatus) -> Self {
        NewTransaction {
            ktti: None,
            kind,
            status,
            amount: Money::default(),
            description: None,
            merchant_name: None,
            counterparty_name: None,
            counterparty_bsb: None,
            counterparty_account: None,
            reference: None,
            assignee: None,
            card: None,
            provider_transaction_id: None,
            provider_hold_id: None,
            decline_reason: None,
            refund_of: None,
        }
    }
}

/// Inserts a transaction; `None` when one with the same provider id exists (a
/// replayed event).
pub async fn insert(conn: &mut PgConnection, t: &NewTransaction<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO transactions (id, ktti_id, kind, status, amount, direction, description, merchant_name, \
             counterparty_name, counterparty_bsb, counterparty_account, reference, assignee_id, card_id, \
             provider_transaction_id, provider_hold_id, decline_reason, refund_of, posted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 CASE WHEN $4 = 'posted' THEN now() END) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(t.ktti.map(|k| k.0))
    .bind(t.kind.as_str())
    .bind(t.status.as_str())
    .bind(t.amount.as_decimal())
    .bind(t.kind.direction().as_str())
    .bind(t.description)
    .bind(t.merchant_name)
    .bind(t.counterparty_name)
    .bind(t.counterparty_bsb)
    .bind(t.counterparty_account)
    .bind(t.reference)
    .bind(t.assignee.map(|u| u.0))
    .bind(t.card)
    .bind(t.provider_transaction_id)
    .bind(t.provider_hold_id)
    .bind(t.decline_reason)
    .bind(t.refund_of)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct TransactionRow {
    pub id: Uuid,
    pub ktti_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: TransactionKind,
    #[sqlx(try_from = "String")]
    pub status: TransactionStatus,
    pub amount: Decimal,
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    pub description: Option<String>,
    pub merchant_name: Option<String>,
    pub counterparty_name: Option<String>,
    pub reference: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub provider_transaction_id: Option<String>,
    pub provider_hold_id: Option<String>,
    pub decline_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub posted_at: Option<DateTime<Utc>>,
}

macro_rules! tx_columns {
    () => {
        "t.id, t.ktti_id, t.kind, t.status, t.amount, t.direction, t.description, t.merchant_name, \
         t.counterparty_name, t.reference, t.assignee_id, t.provider_transaction_id, t.provider_hold_id, \
         t.decline_reason, t.created_at, t.posted_at"
    };
}

/// The pending card payment of a hold, locked: its settlement updates it.
pub async fn pending_by_hold(conn: &mut PgConnection, hold: &str) -> Result<Option<TransactionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        tx_columns!(),
        " FROM transactions t WHERE t.provider_hold_id = $1 FOR UPDATE"
    ))
    .bind(hold)
    .fetch_optional(conn)
    .await
}

/// Our transaction for a provider transaction id, if we booked it.
pub async fn by_provider_transaction_id<'e>(
    db: impl PgExecutor<'e>,
    provider_transaction: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM transactions WHERE provider_transaction_id = $1")
        .bind(provider_transaction)
        .fetch_optional(db)
        .await
}

/// The card payment a refund gives money back for: the settlement the bank's
/// refund names (its `reference`), else the payment of the same hold.
pub async fn refunded_payment(
    conn: &mut PgConnection,
    reference: Option<&str>,
    hold: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM transactions WHERE kind = 'cardPayment' AND status = 'posted' \
         AND (provider_transaction_id = $1 OR provider_hold_id = $2) \
         ORDER BY provider_transaction_id = $1 DESC NULLS LAST LIMIT 1",
    )
    .bind(reference)
    .bind(hold)
    .fetch_optional(conn)
    .await
}

/// The expense a refund gives money back for, if it is one and we could tell.
pub async fn refund_of<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let found: Option<Option<Uuid>> = sqlx::query_scalar("SELECT refund_of FROM transactions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.flatten())
}

/// A pending card payment settles: posted, at the settled amount.
pub async fn post_settlement(
    conn: &mut PgConnection,
    id: Uuid,
    amount: Money,
    provider_transaction: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE transactions SET status = 'posted', amount = $2, provider_transaction_id = $3, posted_at = now(), \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(amount.as_decimal())
    .bind(provider_transaction)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ktti a transaction belongs to.
pub async fn ktti_of<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<KttiId>, sqlx::Error> {
    let ktti: Option<Option<Uuid>> = sqlx::query_scalar("SELECT ktti_id FROM transactions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(ktti.flatten().map(KttiId))
}

/// A movement we started (a payout, our fee) that the bank made: posted, with
/// the bank's id when its answer or webhook gave one (kept if already set).
pub async fn post_initiated(
    conn: &mut PgConnection,
    id: Uuid,
    provider_transaction: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE transactions SET status = 'posted', provider_transaction_id = coalesce($2, provider_transaction_id),              posted_at = coalesce(posted_at, now()), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(provider_transaction)
    .execute(conn)
    .await?;
    Ok(())
}

/// A movement we started that the bank refused: declined, with why.
pub async fn decline(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE transactions SET status = 'declined', decline_reason = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// A pending card payment whose hold was released: nothing was paid.
pub async fn mark_reversed(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE transactions SET status = 'reversed', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One transaction, if `user` is an active member of its ktti.
pub async fn find_for_member<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    id: Uuid,
) -> Result<Option<TransactionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        tx_columns!(),
        " FROM transactions t JOIN ktti_members m ON m.ktti_id = t.ktti_id AND m.user_id = $1 AND m.status = 'active' \
         WHERE t.id = $2"
    ))
    .bind(user.0)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A transaction locked for assignment, with what assigning it needs.
#[derive(Debug, Clone, FromRow)]
pub struct LockedForAssignment {
    pub ktti_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: TransactionKind,
    pub assignee_id: Option<Uuid>,
    pub counterparty_bsb: Option<String>,
    pub counterparty_account: Option<String>,
}

/// A transaction of a ktti, locked for assignment.
pub async fn lock_deposit(conn: &mut PgConnection, id: Uuid) -> Result<Option<LockedForAssignment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ktti_id, kind, assignee_id, counterparty_bsb, counterparty_account FROM transactions \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn set_assignee(conn: &mut PgConnection, id: Uuid, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE transactions SET assignee_id = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Filters for transaction lists.
#[derive(Debug, Default, Clone)]
pub struct TxFilter {
    /// One ktti, or every ktti the user is an active member of.
    pub ktti: Option<KttiId>,
    pub kind: Option<TransactionKind>,
    pub status: Option<TransactionStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Deposits assigned to this member.
    pub member: Option<UserId>,
    /// Only deposits nobody is assigned yet.
    pub unassigned: bool,
}

/// Where a page starts: after this (created_at, id), newest first.
pub type Cursor = (DateTime<Utc>, Uuid);

// The filters every list takes; $1 is the user, $2 the ktti (or NULL for all).
macro_rules! tx_filters {
    () => {
        "AND ($3::text IS NULL OR t.kind = $3) \
         AND ($4::text IS NULL OR t.status = $4) AND ($5::timestamptz IS NULL OR t.created_at >= $5) \
         AND ($6::timestamptz IS NULL OR t.created_at < $6) AND ($7::uuid IS NULL OR t.assignee_id = $7) \
         AND (NOT $8 OR (t.kind = 'deposit' AND t.assignee_id IS NULL)) "
    };
}

/// Every ktti the user is an active member of.
macro_rules! tx_where_all {
    () => {
        concat!(
            " FROM transactions t JOIN ktti_members m ON m.ktti_id = t.ktti_id AND m.user_id = $1 \
              AND m.status = 'active' WHERE ($2::uuid IS NULL OR t.ktti_id = $2) ",
            tx_filters!()
        )
    };
}

/// One ktti. Membership is a one-off check rather than a join, so the planner walks
/// the (ktti, created_at, id) index in order and stops at the page's end.
macro_rules! tx_where_ktti {
    () => {
        concat!(
            " FROM transactions t WHERE t.ktti_id = $2 AND EXISTS (SELECT 1 FROM ktti_members m \
              WHERE m.ktti_id = $2 AND m.user_id = $1 AND m.status = 'active') ",
            tx_filters!()
        )
    };
}

/// A page by offset (v2), newest first, with the total.
pub async fn page(
    pool: &PgPool,
    user: UserId,
    f: &TxFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<TransactionRow>, i64), sqlx::Error> {
    let (rows_sql, count_sql) = if f.ktti.is_some() {
        (
            concat!(
                "SELECT ",
                tx_columns!(),
                tx_where_ktti!(),
                "ORDER BY t.created_at DESC, t.id DESC LIMIT $9 OFFSET $10"
            ),
            concat!("SELECT count(*)", tx_where_ktti!()),
        )
    } else {
        (
            concat!(
                "SELECT ",
                tx_columns!(),
                tx_where_all!(),
                "ORDER BY t.created_at DESC, t.id DESC LIMIT $9 OFFSET $10"
            ),
            concat!("SELECT count(*)", tx_where_all!()),
        )
    };
    let rows = bind_filters(sqlx::query_as(rows_sql), user, f)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total: i64 = bind_filters(sqlx::query_scalar(count_sql), user, f)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// A query that takes binds: lets one function bind the list filters onto both the
/// page query (`query_as`) and its count (`query_scalar`).
trait Bindable<'q>: Sized {
    fn bind_value<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self;
}

impl<'q, O> Bindable<'q> for sqlx::query::QueryAs<'q, Postgres, O, PgArguments> {
    fn bind_value<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> Bindable<'q> for sqlx::query::QueryScalar<'q, Postgres, O, PgArguments> {
    fn bind_value<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// Binds $1..$8, the user and the filters, in the order the list SQL numbers them.
fn bind_filters<'q, Q: Bindable<'q>>(q: Q, user: UserId, f: &'q TxFilter) -> Q {
    q.bind_value(user.0)
        .bind_value(f.ktti.map(|k| k.0))
        .bind_value(f.kind.map(TransactionKind::as_str))
        .bind_value(f.status.map(TransactionStatus::as_str))
        .bind_value(f.from)
        .bind_value(f.to)
        .bind_value(f.member.map(|u| u.0))
        .bind_value(f.unassigned)
}

/// A page by cursor (v3): rows strictly older than `after`. New rows arriving
/// meanwhile sort before the cursor, so pages never repeat or skip a row.
pub async fn page_after(
    pool: &PgPool,
    user: UserId,
    f: &TxFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    let sql = if f.ktti.is_some() {
        concat!(
            "SELECT ",
            tx_columns!(),
            tx_where_ktti!(),
            "AND ($9::timestamptz IS NULL OR (t.created_at, t.id) < ($9, $10)) \
             ORDER BY t.created_at DESC, t.id DESC LIMIT $11"
        )
    } else {
        concat!(
            "SELECT ",
            tx_columns!(),
            tx_where_all!(),
            "AND ($9::timestamptz IS NULL OR (t.created_at, t.id) < ($9, $10)) \
             ORDER BY t.created_at DESC, t.id DESC LIMIT $11"
        )
    };
    bind_filters(sqlx::query_as(sql), user, f)
        .bind(after.map(|c| c.0))
        .bind(after.map(|c| c.1))
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The ktti whose provider account is `account`.
pub async fn ktti_of_account<'e>(
    db: impl PgExecutor<'e>,
    account: &str,
) -> Result<Option<(KttiId, KttiKind, Uuid)>, sqlx::Error> {
    let row: Option<(Uuid, String, Uuid)> =
        sqlx::query_as("SELECT id, kind, owner_id FROM ktties WHERE provider_account_id = $1")
            .bind(account)
            .fetch_optional(db)
            .await?;
    row.map(|(id, kind, owner)| Ok((KttiId(id), crate::state(kind)?, owner)))
        .transpose()
}

/// Our card with this provider id.
pub async fn card_by_provider_id<'e>(
    db: impl PgExecutor<'e>,
    provider_card: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM cards WHERE provider_card_id = $1")
        .bind(provider_card)
        .fetch_optional(db)
        .await
}
