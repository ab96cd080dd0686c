//! Booking journal entries and reading balances.
//!
//! [`post`] writes an entry, its postings and the balance changes in the caller's
//! transaction, under a savepoint: a refusal (not enough funds, a cause already
//! booked) leaves the caller's transaction usable. The database checks the entry
//! balances at commit, keeps reserved non-negative, and lets available go below
//! zero only for what the bank reports ([`Origin::Bank`]).

use chrono::{DateTime, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::KttiId;
use kttipay_domain::ledger::{Account, Balances, JournalEntry, Origin};
use rust_decimal::Decimal;
use sqlx::{Acquire, FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// What an entry is about, stored beside its postings.
#[derive(Debug, Clone)]
pub struct EntryMeta<'a> {
    pub ktti: Option<KttiId>,
    pub kind: &'a str,
    /// The cause. Booking the same cause twice is a no-op (see [`Posted`]).
    pub source_key: Option<&'a str>,
    pub description: Option<&'a str>,
    /// Ours never overdraws; the bank's is booked as reported.
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Booked(Uuid),
    /// The cause was already booked: nothing moved this time.
    AlreadyBooked,
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("not enough available funds")]
    InsufficientFunds,
    #[error("ktti {0} has no balance row")]
    NoBalances(KttiId),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Opens a ktti's balances at zero (when the ktti is created).
pub async fn open_balances(conn: &mut PgConnection, ktti: KttiId) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ktti_balances (ktti_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(ktti.0)
        .execute(conn)
        .await?;
    Ok(())
}

fn to_money(d: Decimal) -> Money {
    Money::new(d).expect("NUMERIC(18,2) always fits Money")
}

/// Books `entry`.
pub async fn post(conn: &mut PgConnection, entry: &JournalEntry, meta: &EntryMeta<'_>) -> Result<Posted, PostError> {
    let mut sp = conn.begin().await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO journal_entries (id, ktti_id, kind, source_key, description) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (source_key) DO NOTHING",
    )
    .bind(id)
    .bind(meta.ktti.map(|k| k.0))
    .bind(meta.kind)
    .bind(meta.source_key)
    .bind(meta.description)
    .execute(&mut *sp)
    .await?;
    if inserted.rows_affected() == 0 {
        sp.rollback().await?;
        return Ok(Posted::AlreadyBooked);
    }
    let postings = entry.postings();
    let seqs: Vec<i16> = (0..postings.len() as i16).collect();
    let kinds: Vec<&str> = postings.iter().map(|p| p.account.kind()).collect();
    let kttis: Vec<Option<Uuid>> = postings.iter().map(|p| p.account.ktti().map(|k| k.0)).collect();
    let amounts: Vec<Decimal> = postings.iter().map(|p| p.amount.as_decimal()).collect();
    sqlx::query(
        "INSERT INTO postings (entry_id, seq, account_kind, ktti_id, amount) \
         SELECT $1, * FROM UNNEST($2::smallint[], $3::text[], $4::uuid[], $5::numeric[])",
    )
    .bind(id)
    .bind(&seqs)
    .bind(&kinds)
    .bind(&kttis)
    .bind(&amounts)
    .execute(&mut *sp)
    .await?;
    // Row locks on the balances serialise concurrent postings to one ktti. The
    // database refuses an update that takes available (further) below zero unless
    // this transaction says the bank reported it; the setting is transaction-local
    // and cleared again below (or undone with the savepoint on failure).
    if meta.origin == Origin::Bank {
        sqlx::query("SELECT set_config('kttipay.ledger_origin', 'bank', true)")
            .execute(&mut *sp)
            .await?;
    }
    for (ktti, delta) in entry.ktti_deltas() {
        let updated = sqlx::query(
            "UPDATE ktti_balances SET available = available + $2, reserved = reserved + $3, updated_at = now() \
             WHERE ktti_id = $1",
        )
        .bind(ktti.0)
        .bind(delta.available.as_decimal())
        .bind(delta.reserved.as_decimal())
        .execute(&mut *sp)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                sp.rollback().await?;
                return Err(PostError::NoBalances(ktti));
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23514") => {
                sp.rollback().await?;
                return Err(PostError::InsufficientFunds);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if meta.origin == Origin::Bank {
        sqlx::query("SELECT set_config('kttipay.ledger_origin', '', true)")
            .execute(&mut *sp)
            .await?;
    }
    sp.commit().await?;
    Ok(Posted::Booked(id))
}

/// A ktti's current balances.
pub async fn balances<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Option<Balances>, sqlx::Error> {
    let row: Option<(Decimal, Decimal)> =
        sqlx::query_as("SELECT available, reserved FROM ktti_balances WHERE ktti_id = $1")
            .bind(ktti.0)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(a, r)| Balances {
        available: to_money(a),
        reserved: to_money(r),
    }))
}

/// A ktti's balances, locked: money events for the ktti wait until the caller
/// commits, so what it reads next (members' totals) is from the same moment.
pub async fn lock_balances(conn: &mut PgConnection, ktti: KttiId) -> Result<Option<Balances>, sqlx::Error> {
    let row: Option<(Decimal, Decimal)> =
        sqlx::query_as("SELECT available, reserved FROM ktti_balances WHERE ktti_id = $1 FOR UPDATE")
            .bind(ktti.0)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(a, r)| Balances {
        available: to_money(a),
        reserved: to_money(r),
    }))
}

/// One posting as stored, for audits and statements.
#[derive(Debug, Clone, FromRow)]
pub struct StoredPosting {
    pub entry_id: Uuid,
    pub kind: String,
    pub account_kind: String,
    pub ktti_id: Option<Uuid>,
    pub amount: Decimal,
    pub created_at: DateTime<Utc>,
}

impl StoredPosting {
    pub fn account(&self) -> Option<Account> {
        Account::from_stored(&self.account_kind, self.ktti_id.map(KttiId))
    }
}

/// The postings touching a ktti's accounts, oldest first.
pub async fn postings_of<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<StoredPosting>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.entry_id, e.kind, p.account_kind, p.ktti_id, p.amount, e.created_at \
         FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         WHERE p.ktti_id = $1 ORDER BY e.created_at, p.entry_id, p.seq",
    )
    .bind(ktti.0)
    .fetch_all(db)
    .await
}

/// A ktti whose kept balances differ from its recomputed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub ktti: KttiId,
    pub kept: Balances,
    pub recomputed: Balances,
}

/// The result of recomputing the books from the journal.
#[derive(Debug, Clone, Default)]
pub struct LedgerReport {
    pub kttis_checked: i64,
    pub entries_checked: i64,
    pub differences: Vec<Difference>,
    /// Entries whose postings do not sum to zero (the database prevents these).
    pub unbalanced_entries: Vec<Uuid>,
    /// The sum of every posting ever made: zero in a sound ledger.
    pub ledger_sum: Money,
}

impl LedgerReport {
    pub fn is_sound(&self) -> bool {
        self.differences.is_empty() && self.unbalanced_entries.is_empty() && self.ledger_sum == Money::ZERO
    }
}

/// Recomputes every ktti's balances from the journal and compares them with the
/// kept ones (`kttipay admin verify-ledger`).
pub async fn verify(conn: &mut PgConnection) -> Result<LedgerReport, sqlx::Error> {
    // One snapshot for the whole check, so concurrent postings cannot show up as
    // differences.
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rows: Vec<(Uuid, Decimal, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "SELECT b.ktti_id, b.available, b.reserved, \
                coalesce(sum(p.amount) FILTER (WHERE p.account_kind = 'available'), 0), \
                coalesce(sum(p.amount) FILTER (WHERE p.account_kind = 'reserved'), 0) \
         FROM ktti_balances b LEFT JOIN postings p ON p.ktti_id = b.ktti_id \
         GROUP BY b.ktti_id, b.available, b.reserved ORDER BY b.ktti_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut report = LedgerReport {
        kttis_checked: rows.len() as i64,
        ..Default::default()
    };
    for (ktti, kept_a, kept_r, sum_a, sum_r) in rows {
        let kept = Balances {
            available: to_money(kept_a),
            reserved: to_money(kept_r),
        };
        let recomputed = Balances {
            available: to_money(sum_a),
            reserved: to_money(sum_r),
        };
        if kept != recomputed {
            report.differences.push(Difference {
                ktti: KttiId(ktti),
                kept,
                recomputed,
            });
        }
    }
    report.unbalanced_entries = sqlx::query_scalar(
        "SELECT e.id FROM journal_entries e LEFT JOIN postings p ON p.entry_id = e.id \
         GROUP BY e.id HAVING count(p.seq) < 2 OR coalesce(sum(p.amount), 0) <> 0",
    )
    .fetch_all(&mut *tx)
    .await?;
    report.entries_checked = sqlx::query_scalar("SELECT count(*) FROM journal_entries")
        .fetch_one(&mut *tx)
        .await?;
    let sum: Decimal = sqlx::query_scalar("SELECT coalesce(sum(amount), 0) FROM postings")
        .fetch_one(&mut *tx)
        .await?;
    report.ledger_sum = to_money(sum);
    tx.commit().await?;
    Ok(report)
}
