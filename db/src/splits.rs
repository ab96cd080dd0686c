//! Splits of transactions, their history, and the per-member totals the
//! database's triggers keep from them (migration `..._splits.sql`).
//!
//! Writing a split replaces its shares; the triggers move each member's `spent`
//! (or `paidOut`) by the difference, in the same transaction, so the totals can
//! never disagree with the splits they summarise.

use chrono::{DateTime, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{MembershipStatus, SplitMode, SplitOrigin, UnknownState};
use kttipay_domain::membership::Role;
use kttipay_domain::split::{self, Rotation, Share};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct SplitRow {
    pub transaction_id: Uuid,
    pub ktti_id: Uuid,
    #[sqlx(try_from = "String")]
    pub mode: SplitMode,
    #[sqlx(try_from = "String")]
    pub origin: SplitOrigin,
    pub version: i32,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ShareRow {
    pub user_id: Uuid,
    pub value: Option<Decimal>,
    pub amount: Decimal,
}

#[derive(Debug, Clone, FromRow)]
pub struct ChangeRow {
    pub actor_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub origin: SplitOrigin,
    pub before: Option<Value>,
    pub after: Value,
    pub created_at: DateTime<Utc>,
}

macro_rules! split_select {
    () => {
        "SELECT transaction_id, ktti_id, mode, origin, version, updated_by, updated_at FROM splits "
    };
}

/// A transaction's split, if it has one.
pub async fn find<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Option<SplitRow>, sqlx::Error> {
    sqlx::query_as(concat!(split_select!(), "WHERE transaction_id = $1"))
        .bind(transaction)
        .fetch_optional(db)
        .await
}

/// A transaction's split, locked for a change in the caller's transaction.
pub async fn lock(conn: &mut PgConnection, transaction: Uuid) -> Result<Option<SplitRow>, sqlx::Error> {
    sqlx::query_as(concat!(split_select!(), "WHERE transaction_id = $1 FOR UPDATE"))
        .bind(transaction)
        .fetch_optional(conn)
        .await
}

/// A split's shares, by member.
pub async fn shares<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Vec<ShareRow>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, value, amount FROM split_shares WHERE transaction_id = $1 ORDER BY user_id")
        .bind(transaction)
        .fetch_all(db)
        .await
}

/// The newest `limit` changes of a split, oldest of them first.
pub async fn history<'e>(
    db: impl PgExecutor<'e>,
    transaction: Uuid,
    limit: i64,
) -> Result<Vec<ChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT actor_id, origin, before, after, created_at FROM ( \
             SELECT id, actor_id, origin, before, after, created_at FROM split_changes \
             WHERE transaction_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2) newest \
         ORDER BY created_at, id",
    )
    .bind(transaction)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A split as it is recorded in its history.
fn snapshot(mode: SplitMode, shares: impl Iterator<Item = (Uuid, Option<Decimal>, Decimal)>) -> Value {
    let shares: Vec<Value> = shares
        .map(|(u, v, a)| {
            json!({
                "userId": u,
                "value": v.map(|v| v.normalize().to_string()),
                "amount": Money::new(a).map(|m| m.to_string()).unwrap_or_else(|_| a.to_string()),
            })
        })
        .collect();
    json!({ "mode": mode.as_str(), "shares": shares })
}

/// A split to write over whatever the transaction had.
pub struct NewSplit<'a> {
    pub transaction: Uuid,
    pub ktti: KttiId,
    pub mode: SplitMode,
    pub origin: SplitOrigin,
    /// Who changed it; `None` for the money flow.
    pub actor: Option<UserId>,
    pub shares: &'a [Share],
}

/// Writes `s` (the member totals follow through the triggers) and records the
/// change with the split before and after. Returns the split's new version. The
/// caller holds the split's lock (or is creating it) and has checked the version.
pub async fn write(conn: &mut PgConnection, s: &NewSplit<'_>) -> Result<i32, sqlx::Error> {
    let old = lock(conn, s.transaction).await?;
    let before = match &old {
        Some(o) => {
            let rows = shares(&mut *conn, s.transaction).await?;
            Some(snapshot(
                o.mode,
                rows.into_iter().map(|r| (r.user_id, r.value, r.amount)),
            ))
        }
        None => None,
    };
    let version: i32 = sqlx::query_scalar(
        "INSERT INTO splits (transaction_id, ktti_id, mode, origin, updated_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (transaction_id) DO UPDATE SET mode = EXCLUDED.mode, origin = EXCLUDED.origin, \
             updated_by = EXCLUDED.updated_by, version = splits.version + 1, updated_at = now() \
         RETURNING version",
    )
    .bind(s.transaction)
    .bind(s.ktti.0)
    .bind(s.mode.as_str())
    .bind(s.origin.as_str())
    .bind(s.actor.map(|u| u.0))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM split_shares WHERE transaction_id = $1")
        .bind(s.transaction)
        .execute(&mut *conn)
        .await?;
    let users: Vec<Uuid> = s.shares.iter().map(|x| x.user.0).collect();
    let values: Vec<Option<Decimal>> = s.shares.iter().map(|x| x.value).collect();
    let amounts: Vec<Decimal> = s.shares.iter().map(|x| x.amount.as_decimal()).collect();
    sqlx::query(
        "INSERT INTO split_shares (transaction_id, user_id, value, amount) \
         SELECT $1, * FROM unnest($2::uuid[], $3::numeric[], $4::numeric[])",
    )
    .bind(s.transaction)
    .bind(&users)
    .bind(&values)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    let after = snapshot(
        s.mode,
        s.shares.iter().map(|x| (x.user.0, x.value, x.amount.as_decimal())),
    );
    sqlx::query(
        "INSERT INTO split_changes (id, transaction_id, actor_id, origin, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(s.transaction)
    .bind(s.actor.map(|u| u.0))
    .bind(s.origin.as_str())
    .bind(before)
    .bind(after)
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// The ktti's default proportions: every active member and their weight.
pub async fn default_weights<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<(UserId, Decimal)>, sqlx::Error> {
    let rows: Vec<(Uuid, Decimal)> = sqlx::query_as(
        "SELECT user_id, split_proportion FROM ktti_members WHERE ktti_id = $1 AND status = 'active' ORDER BY user_id",
    )
    .bind(ktti.0)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(u, w)| (UserId(u), w)).collect())
}

/// Splits a just-booked transaction by the ktti's default proportions. False
/// (nothing written) when the ktti has no active member to bear it, which only
/// a closed ktti can have.
pub async fn split_by_default(
    conn: &mut PgConnection,
    ktti: KttiId,
    transaction: Uuid,
    amount: Money,
) -> Result<bool, sqlx::Error> {
    split_by_default_for(conn, ktti, transaction, amount, None).await
}

/// As [`split_by_default`], recording `actor` as who caused it (a person whose
/// change, such as deleting a receipt, put the split back to the default).
pub async fn split_by_default_for(
    conn: &mut PgConnection,
    ktti: KttiId,
    transaction: Uuid,
    amount: Money,
    actor: Option<UserId>,
) -> Result<bool, sqlx::Error> {
    let weights = default_weights(&mut *conn, ktti).await?;
    let Some(shares) = split::by_weights(amount, &weights, Rotation::of(transaction)) else {
        return Ok(false);
    };
    let new = NewSplit {
        transaction,
        ktti,
        mode: SplitMode::Shares,
        origin: SplitOrigin::Default,
        actor,
        shares: &shares,
    };
    write(conn, &new).await?;
    Ok(true)
}

/// What of `expense`'s split is not refunded yet: each share less that member's
/// shares of the refunds of it so far.
pub async fn unrefunded(conn: &mut PgConnection, expense: Uuid) -> Result<Vec<(UserId, Money)>, sqlx::Error> {
    let rows: Vec<(Uuid, Decimal)> = sqlx::query_as(
        "SELECT s.user_id, s.amount - coalesce(( \
             SELECT sum(r.amount) FROM transactions t JOIN split_shares r ON r.transaction_id = t.id \
             WHERE t.refund_of = $1 AND r.user_id = s.user_id), 0) \
         FROM split_shares s WHERE s.transaction_id = $1 ORDER BY s.user_id",
    )
    .bind(expense)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(u, d)| (UserId(u), Money::new(d).unwrap_or(Money::ZERO)))
        .collect())
}

/// Splits a just-booked refund of `expense` pro rata to what each member's share
/// of it still has unrefunded; by the default proportions when nothing of it is
/// left (the bank refunded more than we knew was spent) or there is no expense.
pub async fn split_refund(
    conn: &mut PgConnection,
    ktti: KttiId,
    refund: Uuid,
    expense: Option<Uuid>,
    amount: Money,
) -> Result<bool, sqlx::Error> {
    let remaining = match expense {
        Some(e) => unrefunded(conn, e).await?,
        None => Vec::new(),
    };
    let Some(shares) = split::reverse(amount, &remaining, Rotation::of(refund)) else {
        return split_by_default(conn, ktti, refund, amount).await;
    };
    let new = NewSplit {
        transaction: refund,
        ktti,
        mode: SplitMode::Exact,
        origin: SplitOrigin::Refund,
        actor: None,
        shares: &shares,
    };
    write(conn, &new).await?;
    Ok(true)
}

/// A member's net (`deposited - spent - paidOut`), locked against a concurrent
/// change of their totals until the caller commits.
pub async fn net_of(conn: &mut PgConnection, ktti: KttiId, user: UserId) -> Result<Money, sqlx::Error> {
    let net: Option<Decimal> = sqlx::query_scalar(
        "SELECT deposited - spent - paid_out FROM member_totals WHERE ktti_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(ktti.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await?;
    Ok(net.and_then(|n| Money::new(n).ok()).unwrap_or(Money::ZERO))
}

/// A ktti's member totals with its unassigned deposits and balances, read by one
/// statement (so from one snapshot, without a transaction around several reads).
pub struct TotalsSnapshot {
    pub members: Vec<MemberTotals>,
    pub unassigned: Money,
    pub available: Money,
    pub reserved: Money,
}

/// One member's totals in a ktti, with their membership as it stands.
#[derive(Debug, Clone)]
pub struct MemberTotals {
    pub user_id: Uuid,
    pub deposited: Money,
    pub spent: Money,
    pub paid_out: Money,
    pub status: MembershipStatus,
    pub role: Role,
    joined_at: Option<DateTime<Utc>>,
}

impl MemberTotals {
    /// `deposited - spent - paidOut`, in cents: each is at most 16 digits, so
    /// the sum cannot overflow an i64.
    pub fn net(&self) -> Money {
        Money::from_cents(self.deposited.cents() - self.spent.cents() - self.paid_out.cents())
    }
}

/// `None` unless `viewer` is an active member (checked in the same statement: one
/// round trip for the whole answer). Members first, by when they joined; former
/// members after them.
pub async fn totals_snapshot<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    viewer: UserId,
) -> Result<Option<TotalsSnapshot>, sqlx::Error> {
    // A ktti of 100 members is a hot read, so this statement is shaped for it:
    // - one range scan of member_totals, which carries each membership's role and
    //   status (kept by a trigger): no join per member;
    // - amounts as whole cents (int8): a NUMERIC decodes through an allocated
    //   digit vector, which was most of the cost of reading a row;
    // - the ktti's own figures come as one extra row, the one without a member,
    //   rather than repeated on every row or read by a second round trip;
    // - sorted here, not in SQL.
    let rows = sqlx::query(
        "SELECT NULL::uuid, (coalesce((SELECT amount FROM ktti_unassigned WHERE ktti_id = $1), 0) * 100)::int8, \
                (coalesce(b.available, 0) * 100)::int8, (coalesce(b.reserved, 0) * 100)::int8, \
                NULL::text, NULL::text, NULL::timestamptz \
         FROM (SELECT 1) one LEFT JOIN ktti_balances b ON b.ktti_id = $1 \
         WHERE EXISTS (SELECT 1 FROM ktti_members v WHERE v.ktti_id = $1 AND v.user_id = $2 AND v.status = 'active') \
         UNION ALL \
         SELECT t.user_id, (t.deposited * 100)::int8, (t.spent * 100)::int8, (t.paid_out * 100)::int8, \
                t.status, t.role, t.joined_at \
         FROM member_totals t \
         WHERE t.ktti_id = $1 AND t.status IS NOT NULL \
           AND (t.status IN ('active', 'left', 'removed') OR t.deposited <> 0 OR t.spent <> 0 OR t.paid_out <> 0) \
           AND EXISTS (SELECT 1 FROM ktti_members v WHERE v.ktti_id = $1 AND v.user_id = $2 AND v.status = 'active')",
    )
    .bind(ktti.0)
    .bind(viewer.0)
    .fetch_all(db)
    .await?;
    let cents = |row: &PgRow, i: usize| row.try_get(i).map(Money::from_cents);
    let mut figures = None;
    let mut members = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(user_id) = row.try_get::<Option<Uuid>, _>(0)? else {
            figures = Some((cents(row, 1)?, cents(row, 2)?, cents(row, 3)?));
            continue;
        };
        let text = |i: usize| row.try_get::<&str, _>(i);
        let bad = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::ColumnDecode {
            index: i.to_string(),
            source: e,
        };
        members.push(MemberTotals {
            user_id,
            deposited: cents(row, 1)?,
            spent: cents(row, 2)?,
            paid_out: cents(row, 3)?,
            status: text(4)?.parse().map_err(|e: UnknownState| bad(4, e.into()))?,
            role: Role::parse(text(5)?).ok_or_else(|| bad(5, "unknown role".into()))?,
            joined_at: row.try_get(6)?,
        });
    }
    // No figures row: the viewer is not an active member.
    let Some((unassigned, available, reserved)) = figures else {
        return Ok(None);
    };
    members.sort_by_key(|m| {
        (
            m.status != MembershipStatus::Active,
            m.joined_at.is_none(),
            m.joined_at,
            m.user_id,
        )
    });
    Ok(Some(TotalsSnapshot {
        members,
        unassigned,
        available,
        reserved,
    }))
}
