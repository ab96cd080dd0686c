//! Applies a provider TRANSACTION event: our transaction record and its journal
//! entry, in one database transaction. Each booking is keyed by the provider's ids,
//! so a replayed event moves nothing.
//!
//! Out of order: a settlement whose hold we have not seen yet, or a hold our books
//! cannot cover yet (its deposit is still on the way), fails transiently; the job
//! retries with backoff and applies it once its predecessor has landed.

use crate::JobError;
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::ledger::{self, EntryMeta, PostError};
use kttipay_db::members;
use kttipay_db::transactions::{self as txns, NewTransaction};
use kttipay_db::{PgConnection, PgPool};
use kttipay_domain::Money;
use kttipay_domain::attribution::{Credit, Reason, attribute};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::ledger::{JournalEntry, LedgerError};
use kttipay_providers::shaype::webhook::{TransactionEvent, TransactionType};

pub type Applied = (&'static str, Option<String>);

pub async fn apply(pool: &PgPool, event: &TransactionEvent) -> Result<Applied, JobError> {
    let Some(account) = event.account_hay_id.as_deref() else {
        return Ok(("ignored", Some("the event names no account".into())));
    };
    let Some((ktti, kind, owner)) = txns::ktti_of_account(pool, account).await? else {
        return Ok(("unmatched", Some(format!("no ktti has provider account {account}"))));
    };
    let amount = event
        .currency_amount
        .as_ref()
        .map(|a| a.amount)
        .ok_or_else(|| JobError::Permanent("the event has no amount".into()))
        .and_then(|d| Money::new(d).map_err(|e| JobError::Permanent(format!("amount {d}: {e}"))))
        .and_then(|m| {
            m.positive()
                .map_err(|_| JobError::Permanent("amount must be positive".into()))
        })?;
    let accepted = event.outcome.as_deref().unwrap_or("ACCEPTED") == "ACCEPTED";
    let card = match event.card_hay_id.as_deref() {
        Some(c) => txns::card_by_provider_id(pool, c).await?,
        None => None,
    };
    let mut tx = pool.begin().await?;
    let ctx = Ctx {
        ktti,
        amount,
        event,
        card,
    };
    let applied = match event.transaction_type {
        Some(
            TransactionType::InterbankTransferIn
            | TransactionType::IntrabankTransferIn
            | TransactionType::GeneralCredit,
        ) => {
            // A personal ktti's deposits are its owner's; a group's are attributed.
            let owner = (kind == "personal").then_some(UserId(owner));
            deposit(&mut tx, &ctx, owner).await?
        }
        Some(TransactionType::CardTransaction) if !accepted => declined(&mut tx, &ctx).await?,
        Some(TransactionType::CardTransaction) if is_release(event) => release(&mut tx, &ctx).await?,
        Some(TransactionType::CardTransaction) => hold(&mut tx, &ctx).await?,
        Some(TransactionType::CardTransactionSettled) => settle(&mut tx, &ctx).await?,
        Some(TransactionType::CardTransactionRefund) => refund(&mut tx, &ctx).await?,
        Some(TransactionType::GeneralDebit) => fee(&mut tx, &ctx).await?,
        Some(TransactionType::InterbankTransferOut | TransactionType::IntrabankTransferOut) => {
            transfer_out(&mut tx, &ctx).await?
        }
        other => (
            "ignored",
            Some(format!("{other:?} transactions are not booked by this version")),
        ),
    };
    tx.commit().await?;
    Ok(applied)
}

struct Ctx<'a> {
    ktti: KttiId,
    amount: Money,
    event: &'a TransactionEvent,
    card: Option<uuid::Uuid>,
}

impl Ctx<'_> {
    fn txn_id(&self) -> Result<&str, JobError> {
        self.event
            .transaction_hay_id
            .as_deref()
            .ok_or_else(|| JobError::Permanent("the event has no transactionHayId".into()))
    }

    fn hold_id(&self) -> Result<&str, JobError> {
        self.event
            .hold_hay_id
            .as_deref()
            .ok_or_else(|| JobError::Permanent("the event has no holdHayId".into()))
    }
}

/// Books `entry` for `cause`; our books refusing it means an earlier event has
/// not landed yet, so the job tries again later.
async fn book(
    conn: &mut PgConnection,
    ktti: KttiId,
    kind: &str,
    cause: &str,
    entry: Result<JournalEntry, LedgerError>,
) -> Result<(), JobError> {
    let entry = entry.map_err(|e| JobError::Permanent(format!("cannot build the entry: {e}")))?;
    let meta = EntryMeta {
        ktti: Some(ktti),
        kind,
        source_key: Some(cause),
        description: None,
    };
    match ledger::post(conn, &entry, &meta).await {
        Ok(_) => Ok(()),
        Err(PostError::InsufficientFunds) => Err(JobError::Transient(format!(
            "our books cannot cover {cause} yet; waiting for earlier events"
        ))),
        Err(e) => Err(JobError::Transient(e.to_string())),
    }
}

/// Records a posted transaction and, the first time only, books its entry under
/// the provider transaction id as the cause.
async fn record_posted(
    conn: &mut PgConnection,
    c: &Ctx<'_>,
    txn: NewTransaction<'_>,
    entry_kind: &str,
    entry: Result<JournalEntry, LedgerError>,
) -> Result<Applied, JobError> {
    record_posted_id(conn, c, txn, entry_kind, entry).await?;
    Ok(("applied", None))
}

/// As [`record_posted`]; the new transaction's id, or `None` for a replay.
async fn record_posted_id(
    conn: &mut PgConnection,
    c: &Ctx<'_>,
    txn: NewTransaction<'_>,
    entry_kind: &str,
    entry: Result<JournalEntry, LedgerError>,
) -> Result<Option<uuid::Uuid>, JobError> {
    let id = c.txn_id()?;
    let txn = NewTransaction {
        ktti: Some(c.ktti),
        status: "posted",
        amount: c.amount,
        provider_transaction_id: Some(id),
        ..txn
    };
    let inserted = txns::insert(conn, &txn).await?;
    if inserted.is_some() {
        book(conn, c.ktti, entry_kind, &format!("shaype:txn:{id}"), entry).await?;
    }
    Ok(inserted)
}

/// A deposit: the owner's on a personal ktti; on a group ktti attributed by
/// DOMAIN.md's rules, or left unassigned with an action item for the admins.
async fn deposit(conn: &mut PgConnection, c: &Ctx<'_>, owner: Option<UserId>) -> Result<Applied, JobError> {
    let counterpart = c.event.counterpart_details.as_ref();
    let account = counterpart.and_then(|d| d.basic_account_number.as_ref());
    let credit = Credit {
        sender_name: c
            .event
            .counterpart_name
            .as_deref()
            .or(counterpart.and_then(|d| d.name.as_deref())),
        sender_bsb: account.and_then(|a| a.branch_number.as_deref()),
        sender_account: account.and_then(|a| a.account_number.as_deref()),
        reference: c.event.reference.as_deref(),
        description: c.event.description.as_deref(),
    };
    let attributed = match owner {
        Some(o) => Some((o, None)),
        None => attribute_in_group(conn, c.ktti, &credit)
            .await?
            .map(|(u, why)| (u, Some(why))),
    };
    let txn = NewTransaction {
        kind: "deposit",
        direction: "in",
        description: credit.description,
        counterparty_name: credit.sender_name,
        counterparty_bsb: credit.sender_bsb,
        counterparty_account: credit.sender_account,
        reference: credit.reference,
        assignee: attributed.map(|(u, _)| u),
        ..Default::default()
    };
    let inserted = record_posted_id(conn, c, txn, "deposit", JournalEntry::deposit(c.ktti, c.amount)).await?;
    match (inserted, attributed) {
        (Some(id), None) => {
            actions::create(
                conn,
                &NewAction {
                    kind: Kind::UnassignedDeposit,
                    ktti: c.ktti,
                    audience: Audience::Managers,
                    subject: None,
                    invitation: None,
                    transaction: Some(id),
                    payload: serde_json::json!({
                        "amount": c.amount.to_string(),
                        "senderName": credit.sender_name,
                        "reference": credit.reference,
                    }),
                },
            )
            .await?;
            Ok(("applied", Some("unassigned: no member matched".into())))
        }
        (_, Some((_, Some(why)))) => Ok(("applied", Some(format!("attributed by {}", why.as_str())))),
        _ => Ok(("applied", None)),
    }
}

/// The member of a group ktti who paid `credit` in, if the rules can tell.
async fn attribute_in_group(
    conn: &mut PgConnection,
    ktti: KttiId,
    credit: &Credit<'_>,
) -> Result<Option<(UserId, Reason)>, JobError> {
    let candidates = members::candidates(&mut *conn, ktti).await?;
    let remembered = match (credit.sender_bsb, credit.sender_account) {
        (Some(b), Some(a)) => members::remembered_sender(&mut *conn, ktti, b, a).await?,
        _ => None,
    };
    Ok(attribute(credit, &candidates, remembered))
}

async fn hold(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let hold = c.hold_id()?;
    let inserted = txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            kind: "cardPayment",
            status: "pending",
            amount: c.amount,
            direction: "out",
            description: c.event.merchant_name.as_deref(),
            merchant_name: c.event.merchant_name.as_deref(),
            card: c.card,
            provider_hold_id: Some(hold),
            ..Default::default()
        },
    )
    .await?;
    if inserted.is_some() {
        book(
            conn,
            c.ktti,
            "hold",
            &format!("shaype:hold:{hold}"),
            JournalEntry::hold(c.ktti, c.amount),
        )
        .await?;
    }
    Ok(("applied", None))
}

/// The issuer reports a released hold (merchant reversal or expiry) as a card
/// transaction on the same hold that is no longer pending and posted nothing.
fn is_release(event: &TransactionEvent) -> bool {
    event.is_pending == Some(false) && event.transaction_hay_id.is_none() && event.hold_hay_id.is_some()
}

/// A released hold: its money is available again and the payment shows as
/// reversed. A release before its hold waits for the hold, like a settlement.
async fn release(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let hold = c.hold_id()?;
    let Some(pending) = txns::pending_by_hold(conn, hold).await? else {
        return Err(JobError::Transient(format!(
            "the release of hold {hold} arrived before the hold; waiting for it"
        )));
    };
    if pending.status != "pending" {
        return Ok(("applied", Some(format!("the payment is already {}", pending.status))));
    }
    let held = Money::new(pending.amount).map_err(|e| JobError::Permanent(e.to_string()))?;
    book(
        conn,
        c.ktti,
        "release",
        &format!("shaype:hold:{hold}:released"),
        JournalEntry::release(c.ktti, held),
    )
    .await?;
    txns::mark_reversed(conn, pending.id).await?;
    Ok(("applied", None))
}

/// A refused authorisation: shown as declined, no money moves.
async fn declined(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let hold = c.hold_id()?;
    txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            kind: "cardPayment",
            status: "declined",
            amount: c.amount,
            direction: "out",
            description: c.event.merchant_name.as_deref(),
            merchant_name: c.event.merchant_name.as_deref(),
            card: c.card,
            provider_hold_id: Some(hold),
            decline_reason: c.event.outcome.as_deref(),
            ..Default::default()
        },
    )
    .await?;
    Ok(("applied", None))
}

async fn settle(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let id = c.txn_id()?;
    let Some(hold) = c.event.hold_hay_id.as_deref() else {
        // Settled with no authorisation first (offline payments).
        let txn = NewTransaction {
            kind: "cardPayment",
            direction: "out",
            description: c.event.merchant_name.as_deref(),
            merchant_name: c.event.merchant_name.as_deref(),
            card: c.card,
            ..Default::default()
        };
        return record_posted(conn, c, txn, "spend", JournalEntry::spend(c.ktti, c.amount)).await;
    };
    let Some(pending) = txns::pending_by_hold(conn, hold).await? else {
        return Err(JobError::Transient(format!(
            "settlement {id} arrived before its hold {hold}; waiting for it"
        )));
    };
    let entry = match pending.status.as_str() {
        "pending" => {
            let held = Money::new(pending.amount).map_err(|e| JobError::Permanent(e.to_string()))?;
            ("settle", JournalEntry::settle(c.ktti, held, c.amount))
        }
        // The hold lapsed but the merchant presented the payment anyway (a late or
        // forced settlement): the money left the account, so it is a plain spend.
        "reversed" => ("spend", JournalEntry::spend(c.ktti, c.amount)),
        _ => return Ok(("applied", Some("already settled".into()))),
    };
    book(conn, c.ktti, entry.0, &format!("shaype:txn:{id}"), entry.1).await?;
    txns::post_settlement(conn, pending.id, c.amount, id).await?;
    Ok(("applied", None))
}

async fn refund(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let txn = NewTransaction {
        kind: "refund",
        direction: "in",
        description: c.event.merchant_name.as_deref().or(c.event.description.as_deref()),
        merchant_name: c.event.merchant_name.as_deref(),
        reference: c.event.reference.as_deref(),
        ..Default::default()
    };
    record_posted(conn, c, txn, "refund", JournalEntry::refund(c.ktti, c.amount)).await
}

async fn fee(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let txn = NewTransaction {
        kind: "fee",
        direction: "out",
        description: c.event.description.as_deref(),
        ..Default::default()
    };
    record_posted(conn, c, txn, "fee", JournalEntry::fee(c.ktti, c.amount)).await
}

/// A transfer out the provider reports as done. (Payouts we start ourselves will
/// reserve first and complete here; until they exist, every transfer out is new.)
async fn transfer_out(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let id = c.txn_id()?;
    let inserted = txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            kind: "transferOut",
            status: "posted",
            amount: c.amount,
            direction: "out",
            description: c.event.description.as_deref(),
            counterparty_name: c.event.counterpart_name.as_deref(),
            reference: c.event.reference.as_deref(),
            provider_transaction_id: Some(id),
            ..Default::default()
        },
    )
    .await?;
    if inserted.is_some() {
        let cause = format!("shaype:txn:{id}");
        book(
            conn,
            c.ktti,
            "transferOutStarted",
            &format!("{cause}:started"),
            JournalEntry::transfer_out_started(c.ktti, c.amount),
        )
        .await?;
        book(
            conn,
            c.ktti,
            "transferOutCompleted",
            &cause,
            JournalEntry::transfer_out_completed(c.ktti, c.amount),
        )
        .await?;
    }
    Ok(("applied", None))
}
