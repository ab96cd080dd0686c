//! Money movements. Each runs in one transaction with the webhook that reports it.
//! What a customer initiates is refused if it would overdraw the account
//! (`balance - held >= 0`); what the bank forces through (see [`forced_debit`])
//! is not.

use super::accounts::{AccountRow, account_row};
use super::parties::customer_of_holder;
use crate::error::{SandboxError, SbResult};
use crate::events;
use chrono::{DateTime, Utc};
use kttipay_providers::shaype::types::*;
use kttipay_providers::shaype::webhook::{
    BasicAccountNumber, CounterpartDetails, EventAmount, NotificationType, TransactionEvent, TransactionType,
};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub(super) fn amount(a: Decimal) -> Option<EventAmount> {
    Some(EventAmount {
        currency: Some("AUD".into()),
        amount: super::cents(a),
    })
}

/// A transaction event for `account`, with its balances after the movement.
pub(super) async fn transaction_event(
    conn: &mut PgConnection,
    account: Uuid,
    kind: TransactionType,
    fill: impl FnOnce(&mut TransactionEvent),
) -> Result<Uuid, sqlx::Error> {
    let (holder, balance, held): (Uuid, Decimal, Decimal) =
        sqlx::query_as("SELECT holder_id, balance, held FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&mut *conn)
            .await?;
    let customer = customer_of_holder(conn, holder).await?;
    let mut event = TransactionEvent {
        transaction_hay_id: None,
        hold_hay_id: None,
        account_hay_id: Some(account.to_string()),
        currency_amount: None,
        updated_balance: amount(balance),
        is_pending: Some(false),
        counterpart_name: None,
        outcome: Some("ACCEPTED".into()),
        transaction_time_utc: Some(super::rfc3339(Utc::now())),
        merchant_name: None,
        transaction_type: Some(kind),
        account_balances: Some(kttipay_providers::shaype::webhook::AccountBalances {
            total_balance: amount(balance),
            held_balance: amount(held),
            available_balance: amount(balance - held),
        }),
        card_hay_id: None,
        customer_hay_id: Some(customer.to_string()),
        counterpart_details: None,
        description: None,
        reference: None,
    };
    fill(&mut event);
    let mut n = events::notification(customer, NotificationType::Transaction);
    n.card_hay_id = event.card_hay_id.clone();
    n.transaction_event = Some(event);
    events::enqueue(conn, &n).await
}

pub(super) async fn insert_movement(conn: &mut PgConnection, m: &Movement<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO movements (id, account_id, kind, amount, hold_id, idempotency_key, counterpart_name, \
                                counterpart_bsb, counterpart_account, description, reference) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(m.account)
    .bind(m.kind)
    .bind(m.amount)
    .bind(m.hold)
    .bind(m.idempotency_key)
    .bind(m.counterpart_name)
    .bind(m.counterpart_bsb)
    .bind(m.counterpart_account)
    .bind(m.description)
    .bind(m.reference)
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Default)]
pub(super) struct Movement<'a> {
    pub(super) account: Uuid,
    pub(super) kind: &'a str,
    pub(super) amount: Decimal,
    pub(super) hold: Option<Uuid>,
    pub(super) idempotency_key: Option<&'a str>,
    pub(super) counterpart_name: Option<&'a str>,
    pub(super) counterpart_bsb: Option<&'a str>,
    pub(super) counterpart_account: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) reference: Option<&'a str>,
}

/// An inbound NPP payment to a BSB and account number (`generate-npp-inbound`).
pub async fn npp_inbound(pool: &PgPool, body: &GenerateNppInbound) -> SbResult<()> {
    let value = super::check_amount(body.amount)?;
    let mut tx = pool.begin().await?;
    let account: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, status FROM accounts WHERE bsb = $1 AND account_number = $2 FOR UPDATE")
            .bind(&body.receiver_bsb)
            .bind(&body.receiver_account_number)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((account, status)) = account else {
        return Err(SandboxError::not_found("receiving account"));
    };
    if status == "CLOSED" {
        return Err(SandboxError::invalid("the receiving account is closed"));
    }
    let seen: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM movements WHERE idempotency_key = $1)")
        .bind(&body.idempotency_key)
        .fetch_one(&mut *tx)
        .await?;
    if seen {
        return Ok(()); // the same payment again: it already landed once
    }
    sqlx::query("UPDATE accounts SET balance = balance + $2 WHERE id = $1")
        .bind(account)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    let id = insert_movement(
        &mut tx,
        &Movement {
            account,
            kind: "INTERBANK_TRANSFER_IN",
            amount: value,
            idempotency_key: Some(&body.idempotency_key),
            counterpart_name: Some(&body.sender_name),
            counterpart_bsb: Some(&body.sender_bsb),
            counterpart_account: Some(&body.sender_account_number),
            description: Some(&body.description),
            reference: body.reference.as_deref(),
            ..Default::default()
        },
    )
    .await?;
    transaction_event(&mut tx, account, TransactionType::InterbankTransferIn, |e| {
        e.transaction_hay_id = Some(id.to_string());
        e.currency_amount = amount(value);
        e.counterpart_name = Some(body.sender_name.clone());
        e.counterpart_details = Some(CounterpartDetails {
            name: Some(body.sender_name.clone()),
            basic_account_number: Some(BasicAccountNumber {
                account_number: Some(body.sender_account_number.clone()),
                branch_number: Some(body.sender_bsb.clone()),
            }),
        });
        e.description = Some(body.description.clone());
        e.reference = body.reference.clone();
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A merchant refund of a settled card payment, at most what is left unrefunded.
pub async fn refund(pool: &PgPool, transaction: Uuid, value: Decimal) -> SbResult<Uuid> {
    let value = super::check_amount(value)?;
    let mut tx = pool.begin().await?;
    let original: Option<(Uuid, Decimal, Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT account_id, -amount, hold_id, counterpart_name FROM movements \
         WHERE id = $1 AND kind = 'CARD_PRESENT_PAYMENT' FOR UPDATE",
    )
    .bind(transaction)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((account, paid, hold, merchant)) = original else {
        return Err(SandboxError::not_found("card transaction"));
    };
    let refunded: Decimal = sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0) FROM movements WHERE kind = 'CARD_TRANSACTION_REFUND' AND reference = $1",
    )
    .bind(transaction.to_string())
    .fetch_one(&mut *tx)
    .await?;
    if refunded + value > paid {
        return Err(SandboxError::invalid("refund exceeds what is left of the payment"));
    }
    sqlx::query("UPDATE accounts SET balance = balance + $2 WHERE id = $1")
        .bind(account)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    let reference = transaction.to_string();
    let id = insert_movement(
        &mut tx,
        &Movement {
            account,
            kind: "CARD_TRANSACTION_REFUND",
            amount: value,
            hold,
            counterpart_name: merchant.as_deref(),
            description: Some("Refund"),
            reference: Some(&reference),
            ..Default::default()
        },
    )
    .await?;
    transaction_event(&mut tx, account, TransactionType::CardTransactionRefund, |e| {
        e.transaction_hay_id = Some(id.to_string());
        e.hold_hay_id = hold.map(|h| h.to_string());
        e.currency_amount = amount(value);
        e.merchant_name = merchant.clone();
        e.counterpart_name = merchant.clone();
        e.reference = Some(reference.clone());
    })
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Moves money out of an account: a transfer out or a debit. The same idempotency
/// key always returns the first outcome, refusals included, and moves money once.
pub async fn send_out(pool: &PgPool, out: Outgoing<'_>) -> SbResult<TransactionOutcome> {
    let value = super::check_amount(out.amount)?;
    let mut tx = pool.begin().await?;
    // Serialises twins with the same key: the second waits, then reads the first's outcome.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(out.idempotency_key)
        .execute(&mut *tx)
        .await?;
    let stored: Option<(String, Option<Uuid>)> =
        sqlx::query_as("SELECT outcome, transaction_id FROM transfer_outcomes WHERE idempotency_key = $1")
            .bind(out.idempotency_key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((outcome, id)) = stored {
        return Ok(outcome_of(&outcome, id));
    }
    let account = account_row(pool, out.account).await?;
    let recipient_open = match out.credit_to {
        Some(to) => account_row(pool, to).await.is_ok_and(|r| r.status == "ACTIVE"),
        None => true,
    };
    let debited = if let Some(refusal) = out.refusal {
        Err(refusal)
    } else if account.status != "ACTIVE" {
        Err("REFUSED_ACCOUNT_CLOSED")
    } else if !recipient_open {
        Err("REFUSED_RECIPIENT_ACCOUNT_CLOSED")
    } else {
        let done = sqlx::query("UPDATE accounts SET balance = balance - $2 WHERE id = $1 AND balance - held >= $2")
            .bind(out.account)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err("REFUSED_INSUFFICIENT_FUNDS")
        }
    };
    let (outcome, id) = match debited {
        Ok(()) => {
            let id = insert_movement(
                &mut tx,
                &Movement {
                    account: out.account,
                    kind: out.kind,
                    amount: -value,
                    idempotency_key: Some(out.idempotency_key),
                    counterpart_name: out.counterpart_name,
                    counterpart_bsb: out.counterpart_bsb,
                    counterpart_account: out.counterpart_account,
                    description: Some(out.description),
                    reference: out.reference,
                    ..Default::default()
                },
            )
            .await?;
            let event_type = match out.kind {
                "GENERAL_DEBIT" => TransactionType::GeneralDebit,
                "INTRABANK_TRANSFER_OUT" => TransactionType::IntrabankTransferOut,
                _ => TransactionType::InterbankTransferOut,
            };
            transaction_event(&mut tx, out.account, event_type, |e| {
                e.transaction_hay_id = Some(id.to_string());
                e.currency_amount = amount(value);
                e.counterpart_name = out.counterpart_name.map(str::to_owned);
                e.description = Some(out.description.to_owned());
                e.reference = out.reference.map(str::to_owned);
            })
            .await?;
            if let Some(to) = out.credit_to {
                credit_internal(&mut tx, to, value, &out, out.account).await?;
            }
            ("ACCEPTED", Some(id))
        }
        Err(refusal) => (refusal, None),
    };
    sqlx::query("INSERT INTO transfer_outcomes (idempotency_key, outcome, transaction_id) VALUES ($1, $2, $3)")
        .bind(out.idempotency_key)
        .bind(outcome)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outcome_of(outcome, id))
}

/// The receiving side of an internal transfer: credited in the same
/// transaction as the debit, with its own webhook.
async fn credit_internal(
    conn: &mut PgConnection,
    to: Uuid,
    value: Decimal,
    out: &Outgoing<'_>,
    from: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET balance = balance + $2 WHERE id = $1")
        .bind(to)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    let sender: (String, String) = sqlx::query_as("SELECT bsb, account_number FROM accounts WHERE id = $1")
        .bind(from)
        .fetch_one(&mut *conn)
        .await?;
    let id = insert_movement(
        conn,
        &Movement {
            account: to,
            kind: "INTRABANK_TRANSFER_IN",
            amount: value,
            counterpart_name: out.sender_name,
            counterpart_bsb: Some(&sender.0),
            counterpart_account: Some(&sender.1),
            description: Some(out.description),
            reference: out.reference,
            ..Default::default()
        },
    )
    .await?;
    transaction_event(conn, to, TransactionType::IntrabankTransferIn, |e| {
        e.transaction_hay_id = Some(id.to_string());
        e.currency_amount = amount(value);
        e.counterpart_name = out.sender_name.map(str::to_owned);
        e.counterpart_details = Some(CounterpartDetails {
            name: out.sender_name.map(str::to_owned),
            basic_account_number: Some(BasicAccountNumber {
                account_number: Some(sender.1.clone()),
                branch_number: Some(sender.0.clone()),
            }),
        });
        e.description = Some(out.description.to_owned());
        e.reference = out.reference.map(str::to_owned);
    })
    .await?;
    Ok(())
}

fn outcome_of(outcome: &str, id: Option<Uuid>) -> TransactionOutcome {
    TransactionOutcome {
        outcome: serde_json::from_value(serde_json::Value::String(outcome.to_string())).unwrap_or(Outcome::Unknown),
        transaction_id: id.map(|i| i.to_string()),
    }
}

pub struct Outgoing<'a> {
    pub account: Uuid,
    /// `INTERBANK_TRANSFER_OUT`, `INTRABANK_TRANSFER_OUT` or `GENERAL_DEBIT`.
    pub kind: &'a str,
    /// An internal transfer's receiving account at this bank.
    pub credit_to: Option<Uuid>,
    /// How the receiving side sees the sender (internal transfers).
    pub sender_name: Option<&'a str>,
    /// Refused before anything moves, with this outcome (a fault).
    pub refusal: Option<&'static str>,
    pub amount: Decimal,
    pub idempotency_key: &'a str,
    pub description: &'a str,
    pub reference: Option<&'a str>,
    pub counterpart_name: Option<&'a str>,
    pub counterpart_bsb: Option<&'a str>,
    pub counterpart_account: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct MovementRow {
    id: Uuid,
    account_id: Uuid,
    kind: String,
    amount: Decimal,
    hold_id: Option<Uuid>,
    counterpart_name: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    created_at: DateTime<Utc>,
}

/// `POST /v0/transactions/search`
pub async fn search(pool: &PgPool, body: &SearchTransactions) -> SbResult<Vec<FinancialTransaction>> {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| SandboxError::invalid("dates must be RFC 3339"))
    };
    let (from, to) = (parse(&body.from_date_time_utc)?, parse(&body.to_date_time_utc)?);
    let account: Option<Uuid> = body
        .account_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| SandboxError::invalid("bad accountId"))?;
    let rows: Vec<MovementRow> = sqlx::query_as(
        "SELECT id, account_id, kind, amount, hold_id, counterpart_name, description, reference, created_at FROM movements \
         WHERE created_at >= $1 AND created_at <= $2 AND ($3::uuid IS NULL OR account_id = $3) ORDER BY created_at",
    )
    .bind(from)
    .bind(to)
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|m| FinancialTransaction {
            transaction_hay_id: m.id.to_string(),
            account_hay_id: Some(m.account_id.to_string()),
            card_id: None,
            currency_amount: Some(CurrencyAmount {
                currency: Some("AUD".into()),
                amount: super::cents(m.amount.abs()),
            }),
            counterpart_name: m.counterpart_name,
            description: m.description,
            reference: m.reference,
            kind: Some(m.kind),
            related_hold_hay_id: m.hold_id.map(|h| h.to_string()),
            transaction_time_utc: Some(super::rfc3339(m.created_at)),
        })
        .collect())
}

/// The provider-side view of an account (`GET /sandbox/accounts/{id}`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: Uuid,
    pub bsb: String,
    pub account_number: String,
    pub status: String,
    #[serde(with = "kttipay_providers::shaype::types::amount")]
    pub balance: Decimal,
    #[serde(with = "kttipay_providers::shaype::types::amount")]
    pub held: Decimal,
    #[serde(with = "kttipay_providers::shaype::types::amount")]
    pub available: Decimal,
    pub movements: Vec<MovementView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "kttipay_providers::shaype::types::amount")]
    pub amount: Decimal,
    pub hold_id: Option<Uuid>,
    pub counterpart_name: Option<String>,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub created_at: String,
}

pub async fn account_view(pool: &PgPool, id: Uuid) -> SbResult<AccountView> {
    let account: AccountRow = account_row(pool, id).await?;
    let rows: Vec<MovementRow> = sqlx::query_as(
        "SELECT id, account_id, kind, amount, hold_id, counterpart_name, description, reference, created_at \
         FROM movements WHERE account_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(AccountView {
        id,
        bsb: account.bsb.clone(),
        account_number: account.account_number.clone(),
        status: account.status.clone(),
        balance: super::cents(account.balance),
        held: super::cents(account.held),
        available: super::cents(account.balance - account.held),
        movements: rows
            .into_iter()
            .map(|m| MovementView {
                id: m.id,
                kind: m.kind,
                amount: super::cents(m.amount),
                hold_id: m.hold_id,
                counterpart_name: m.counterpart_name,
                description: m.description,
                reference: m.reference,
                created_at: super::rfc3339(m.created_at),
            })
            .collect(),
    })
}

/// A debit the bank forces through whatever the balance: a bank fee
/// (`/sandbox/utils/bank-fee`). It may take the account below zero.
pub async fn forced_debit(pool: &PgPool, account: Uuid, value: Decimal, description: &str) -> SbResult<Uuid> {
    let value = super::check_amount(value)?;
    let mut tx = pool.begin().await?;
    let found = sqlx::query("UPDATE accounts SET balance = balance - $2 WHERE id = $1")
        .bind(account)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    if found.rows_affected() == 0 {
        return Err(SandboxError::not_found("account"));
    }
    let id = insert_movement(
        &mut tx,
        &Movement {
            account,
            kind: "GENERAL_DEBIT",
            amount: -value,
            description: Some(description),
            ..Default::default()
        },
    )
    .await?;
    transaction_event(&mut tx, account, TransactionType::GeneralDebit, |e| {
        e.transaction_hay_id = Some(id.to_string());
        e.currency_amount = amount(value);
        e.description = Some(description.to_owned());
    })
    .await?;
    tx.commit().await?;
    Ok(id)
}
