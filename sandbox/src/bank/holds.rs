//! Card holds: authorisation (which reserves funds or is declined), delayed
//! settlement, and release, by the merchant's reversal or by expiry.
//!
//! A released hold is reported the way the issuer reports it: a `CARD_TRANSACTION`
//! event for the same `holdHayId` with `isPending: false` and no `transactionHayId`
//! (nothing posted; the reserved money is free again).

use super::accounts::{CARD_COLUMNS, CardRow};
use super::money::{Movement, amount, insert_movement, transaction_event};
use crate::error::{SandboxError, SbResult};
use chrono::{DateTime, Utc};
use kttipay_providers::shaype::webhook::TransactionType;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long an unsettled authorisation holds funds before it lapses.
pub const HOLD_EXPIRY_DAYS: i64 = 7;

async fn card_by_token(conn: &mut PgConnection, token: &str) -> SbResult<CardRow> {
    let card: Option<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE token = $1"
    )))
    .bind(token)
    .fetch_optional(conn)
    .await?;
    card.ok_or_else(|| SandboxError::not_found("card"))
}

/// A card authorisation. Declined (no money moves, a refused event is sent) when the
/// card is not active or the available balance does not cover it. Returns the hold
/// id when accepted.
pub async fn authorise(
    pool: &PgPool,
    token: &str,
    value: Decimal,
    settle_at: Option<DateTime<Utc>>,
    withhold_webhook: bool,
) -> SbResult<Option<Uuid>> {
    let value = super::check_amount(value)?;
    let merchant = "Sandbox Merchant";
    let mut tx = pool.begin().await?;
    let card = card_by_token(&mut tx, token).await?;
    let refusal = if card.status != "ACTIVE" {
        Some("REFUSED_CARD_PREFERENCE")
    } else {
        let reserved = sqlx::query(
            "UPDATE accounts SET held = held + $2 WHERE id = $1 AND balance - held >= $2 AND status = 'ACTIVE'",
        )
        .bind(card.account_id)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        (reserved.rows_affected() == 0).then_some("REFUSED_NOT_ENOUGH_FUNDS")
    };
    let hold = Uuid::new_v4();
    if refusal.is_none() {
        sqlx::query(
            "INSERT INTO holds (id, account_id, card_id, amount, merchant, settle_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 day')",
        )
        .bind(hold)
        .bind(card.account_id)
        .bind(card.id)
        .bind(value)
        .bind(merchant)
        .bind(settle_at)
        .bind(HOLD_EXPIRY_DAYS)
        .execute(&mut *tx)
        .await?;
    }
    let webhook = transaction_event(&mut tx, card.account_id, TransactionType::CardTransaction, |e| {
        e.hold_hay_id = Some(hold.to_string());
        e.currency_amount = amount(value);
        e.is_pending = Some(true);
        e.merchant_name = Some(merchant.into());
        e.counterpart_name = Some(merchant.into());
        e.card_hay_id = Some(card.id.to_string());
        if let Some(r) = refusal {
            e.outcome = Some(r.into());
        }
    })
    .await?;
    if withhold_webhook {
        crate::events::withhold(&mut tx, webhook).await?;
    }
    tx.commit().await?;
    Ok(refusal.is_none().then_some(hold))
}

/// The merchant presents a hold for `value` now (`/sandbox/utils/settle-hold`):
/// an open hold settles, even above what it held (a tip, a currency move); a hold
/// already settled clears again (a second presentment). The bank books either
/// whatever the balance, as a real issuer must once it authorised the card.
pub async fn settle_now(pool: &PgPool, hold: Uuid, value: Decimal) -> SbResult<Uuid> {
    let value = super::check_amount(value)?;
    let mut tx = pool.begin().await?;
    let row: Option<(String, Uuid, Uuid, Decimal, String)> =
        sqlx::query_as("SELECT status, account_id, card_id, amount, merchant FROM holds WHERE id = $1 FOR UPDATE")
            .bind(hold)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, account, card, held, merchant)) = row else {
        return Err(SandboxError::not_found("hold"));
    };
    let release = match status.as_str() {
        "OPEN" => held,
        "SETTLED" => Decimal::ZERO,
        other => {
            return Err(SandboxError::new(
                poem::http::StatusCode::CONFLICT,
                format!("the hold is {other}: nothing to settle"),
            ));
        }
    };
    sqlx::query("UPDATE holds SET status = 'SETTLED' WHERE id = $1")
        .bind(hold)
        .execute(&mut *tx)
        .await?;
    let presented = Presentment {
        hold,
        account,
        card,
        merchant: &merchant,
        release,
        value,
    };
    let id = present(&mut tx, &presented).await?;
    tx.commit().await?;
    Ok(id)
}

/// A merchant presenting a hold: `release` leaves the held amount (the hold's
/// own amount, or zero for a second clearing) and `value` the balance.
struct Presentment<'a> {
    hold: Uuid,
    account: Uuid,
    card: Uuid,
    merchant: &'a str,
    release: Decimal,
    value: Decimal,
}

/// Books a presentment on a hold already marked settled: the balance, the
/// movement and the `CARD_TRANSACTION_SETTLED` event. The new movement's id.
async fn present(conn: &mut PgConnection, p: &Presentment<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query("UPDATE accounts SET held = held - $2, balance = balance - $3 WHERE id = $1")
        .bind(p.account)
        .bind(p.release)
        .bind(p.value)
        .execute(&mut *conn)
        .await?;
    let id = insert_movement(
        conn,
        &Movement {
            account: p.account,
            kind: "CARD_PRESENT_PAYMENT",
            amount: -p.value,
            hold: Some(p.hold),
            counterpart_name: Some(p.merchant),
            description: Some(p.merchant),
            ..Default::default()
        },
    )
    .await?;
    transaction_event(conn, p.account, TransactionType::CardTransactionSettled, |e| {
        e.transaction_hay_id = Some(id.to_string());
        e.hold_hay_id = Some(p.hold.to_string());
        e.currency_amount = amount(p.value);
        e.merchant_name = Some(p.merchant.to_string());
        e.counterpart_name = Some(p.merchant.to_string());
        e.card_hay_id = Some(p.card.to_string());
    })
    .await?;
    Ok(id)
}

/// Settles holds whose delayed settlement is due: the held money leaves.
pub async fn settle_due(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<(Uuid, Uuid, Uuid, Decimal, String)> = sqlx::query_as(
        "UPDATE holds SET status = 'SETTLED' WHERE id IN \
            (SELECT id FROM holds WHERE status = 'OPEN' AND settle_at <= now() FOR UPDATE SKIP LOCKED) \
         RETURNING id, account_id, card_id, amount, merchant",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (hold, account, card, value, merchant) in &due {
        let presented = Presentment {
            hold: *hold,
            account: *account,
            card: *card,
            merchant,
            release: *value,
            value: *value,
        };
        present(&mut tx, &presented).await?;
    }
    tx.commit().await?;
    Ok(due.len() as u64)
}

/// Why a hold was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The merchant cancelled the authorisation.
    Reversed,
    /// Nobody settled it in time.
    Expired,
}

impl Release {
    fn code(self) -> &'static str {
        match self {
            Release::Reversed => "REVERSED",
            Release::Expired => "EXPIRED",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Release::Reversed => "Authorisation reversed",
            Release::Expired => "Authorisation expired",
        }
    }
}

/// Releases one open hold: its money is available again. Refused (409) when the
/// hold already settled or was released, so a second reversal moves nothing.
pub async fn release(pool: &PgPool, hold: Uuid, why: Release) -> SbResult<()> {
    let mut tx = pool.begin().await?;
    let row: Option<(String,)> = sqlx::query_as("SELECT status FROM holds WHERE id = $1 FOR UPDATE")
        .bind(hold)
        .fetch_optional(&mut *tx)
        .await?;
    match row {
        None => return Err(SandboxError::not_found("hold")),
        Some((status,)) if status != "OPEN" => {
            return Err(SandboxError::new(
                poem::http::StatusCode::CONFLICT,
                format!("the hold is {status}, not OPEN"),
            ));
        }
        Some(_) => {}
    }
    release_locked(&mut tx, hold, why).await?;
    tx.commit().await?;
    Ok(())
}

/// Releases every open, unscheduled hold that lapsed by `as_of`. The background
/// tick calls it with the current time; tests call it with a later time instead
/// of waiting a week.
pub async fn expire_due(pool: &PgPool, as_of: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM holds WHERE status = 'OPEN' AND expires_at <= $1 \
         AND (settle_at IS NULL OR settle_at > expires_at) ORDER BY expires_at FOR UPDATE SKIP LOCKED",
    )
    .bind(as_of)
    .fetch_all(&mut *tx)
    .await?;
    for hold in &due {
        release_locked(&mut tx, *hold, Release::Expired).await?;
    }
    tx.commit().await?;
    Ok(due.len() as u64)
}

/// Frees a hold the caller has locked and checked to be open, and reports it.
async fn release_locked(conn: &mut PgConnection, hold: Uuid, why: Release) -> Result<(), sqlx::Error> {
    let (account, card, value, merchant): (Uuid, Uuid, Decimal, String) = sqlx::query_as(
        "UPDATE holds SET status = 'RELEASED', release_reason = $2 WHERE id = $1 \
         RETURNING account_id, card_id, amount, merchant",
    )
    .bind(hold)
    .bind(why.code())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE accounts SET held = held - $2 WHERE id = $1")
        .bind(account)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    transaction_event(conn, account, TransactionType::CardTransaction, |e| {
        e.hold_hay_id = Some(hold.to_string());
        e.currency_amount = amount(value);
        e.is_pending = Some(false);
        e.merchant_name = Some(merchant.clone());
        e.counterpart_name = Some(merchant.clone());
        e.card_hay_id = Some(card.to_string());
        e.description = Some(why.description().into());
    })
    .await?;
    Ok(())
}
