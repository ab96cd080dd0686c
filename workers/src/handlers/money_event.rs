//! Applies a provider TRANSACTION event: our transaction record and its journal
//! entry, in one database transaction. Each booking is keyed by the provider's ids,
//! so a replayed event moves nothing.
//!
//! The bank is the source of truth for what it reports: every booking here is
//! [`Origin::Bank`], so a settlement above its hold or a bank fee is booked even
//! when it takes the available balance below zero; a negative position raises an
//! action item for the owner and an operator alert.
//!
//! Out of order: a settlement or release whose hold we have not seen yet is
//! *parked* on the hold, in the same transaction that looked for it (both sides
//! take the hold's advisory lock first, so a hold landing at that moment cannot
//! miss it). Applying the hold wakes it by enqueueing it again, however late.

use crate::JobError;
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::assignments::{self, NewAssignment};
use kttipay_db::ledger::{self, EntryMeta, PostError};
use kttipay_db::mismatches::{self, BankBalances};
use kttipay_db::transactions::{self as txns, NewTransaction};
use kttipay_db::{PgConnection, PgPool};
use kttipay_db::{jobs, ktties, members, payouts, provider_events, splits};
use kttipay_domain::Money;
use kttipay_domain::attribution::{Credit, Reason, attribute};
use kttipay_domain::ids::{KttiId, ProviderEventId, UserId};
use kttipay_domain::ledger::{JournalEntry, LedgerError, Origin};
use kttipay_domain::lifecycle::{KttiKind, KttiStatus, TransactionKind, TransactionStatus};
use kttipay_domain::payout;
use kttipay_jobs::kinds::ApplyProviderEvent;
use kttipay_providers::shaype::webhook::{AccountBalances, EventAmount, TransactionEvent, TransactionType};
use uuid::Uuid;

pub type Applied = (&'static str, Option<String>);

const APPLIED: &str = "applied";
/// How an applied event that was a movement we started (a payout, our fee) is
/// noted: it is not a late movement.
const OURS: &str = "ours:";

/// The status a parked event is left in; its job ends, and the predecessor's
/// booking enqueues it again.
pub const PARKED: &str = "parked";

/// Applies `event` (stored as provider event `event_id`).
pub async fn apply(pool: &PgPool, event_id: Uuid, event: &TransactionEvent) -> Result<Applied, JobError> {
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
        event_id,
    };
    let applied = match event.transaction_type {
        Some(
            TransactionType::InterbankTransferIn
            | TransactionType::IntrabankTransferIn
            | TransactionType::GeneralCredit,
        ) => {
            // A personal ktti's deposits are its owner's; a group's are attributed.
            let owner = (kind == KttiKind::Personal).then_some(UserId(owner));
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
    if applied.0 != PARKED {
        alert_if_negative(&mut tx, ktti, UserId(owner)).await?;
        let ours = applied.1.as_deref().is_some_and(|note| note.starts_with(OURS));
        if applied.0 == APPLIED && !ours {
            after_payouts_started(&mut tx, ktti, UserId(owner), event).await?;
        }
    }
    tx.commit().await?;
    Ok(applied)
}

struct Ctx<'a> {
    ktti: KttiId,
    amount: Money,
    event: &'a TransactionEvent,
    card: Option<Uuid>,
    event_id: Uuid,
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

/// Books `entry` for `cause` as the bank reported it (also what our payouts'
/// completions and refusals book: the bank's answer).
pub(crate) async fn book(
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
        origin: Origin::Bank,
    };
    match ledger::post(conn, &entry, &meta).await {
        Ok(_) => Ok(()),
        // Only reserved can refuse a bank booking (a release of more than is
        // held), which means a hold is booked twice or not at all: a bug to see.
        Err(PostError::InsufficientFunds) => Err(JobError::Permanent(format!(
            "booking {cause} would take reserved below zero"
        ))),
        Err(e) => Err(JobError::Transient(e.to_string())),
    }
}

/// The key a settlement or release parks on until its hold is applied.
fn hold_key(hold: &str) -> String {
    format!("hold:{hold}")
}

/// Parks the event on `key`; it runs again once [`wake`] is called for that key.
async fn park(conn: &mut PgConnection, c: &Ctx<'_>, key: &str, why: String) -> Result<Applied, JobError> {
    provider_events::park(conn, c.event_id, key, &why).await?;
    metrics::counter!("kttipay_provider_events_parked_total").increment(1);
    Ok((PARKED, Some(why)))
}

/// Enqueues again every event parked on `key`, in the caller's transaction.
async fn wake(conn: &mut PgConnection, key: &str) -> Result<(), JobError> {
    for id in provider_events::unpark(conn, key).await? {
        jobs::enqueue(
            conn,
            &ApplyProviderEvent {
                event_id: ProviderEventId(id),
            },
        )
        .await?;
    }
    Ok(())
}

/// Serialises everything about one hold across workers: its authorisation, and a
/// settlement or release looking for it (then parking on it).
async fn lock_hold(conn: &mut PgConnection, hold: &str) -> Result<(), JobError> {
    provider_events::lock_key(conn, &hold_key(hold)).await?;
    Ok(())
}

/// Money that moves once payouts have started (a settlement, a refund, a
/// deposit) is booked like any other and shown to the owner; if it lands on a
/// ktti that was `readyToClose`, the ktti goes back to `closing` so it can be
/// paid out. (Before payouts start, deposits landing while closing are normal.)
async fn after_payouts_started(
    conn: &mut PgConnection,
    ktti: KttiId,
    owner: UserId,
    event: &TransactionEvent,
) -> Result<(), JobError> {
    // A plain read: a row lock on the ktti here would queue every money event of
    // a busy ktti behind each other, and a move it races is re-checked below.
    let status = ktties::status_of(&mut *conn, ktti).await?;
    if !matches!(
        status,
        KttiStatus::Disbursing | KttiStatus::ReadyToClose | KttiStatus::Closed
    ) {
        return Ok(());
    }
    let amount = event
        .currency_amount
        .as_ref()
        .and_then(|a| Money::new(a.amount).ok())
        .map(|m| m.to_string());
    actions::create(
        conn,
        &NewAction {
            kind: Kind::LateMovement,
            ktti,
            audience: Audience::User(owner),
            subject: None,
            invitation: None,
            transaction: None,
            payload: serde_json::json!({
                "transactionType": event.transaction_type,
                "amount": amount,
                "providerTransactionId": event.transaction_hay_id,
                "kttiStatus": status.as_str(),
            }),
        },
    )
    .await?;
    tracing::warn!(%ktti, %status, kind = ?event.transaction_type, "money moved after payouts started");
    if status == KttiStatus::ReadyToClose {
        let Some(b) = ledger::balances(&mut *conn, ktti).await? else {
            return Ok(());
        };
        if b.total() != Money::ZERO || b.available != Money::ZERO {
            ktties::transition(conn, ktti, KttiStatus::ReadyToClose, KttiStatus::Closing).await?;
        }
    }
    Ok(())
}

/// A ktti below zero is the owner's to sort out (an action item, once while one
/// is open) and the operators' to know about (a metric and an error log).
async fn alert_if_negative(conn: &mut PgConnection, ktti: KttiId, owner: UserId) -> Result<(), JobError> {
    let Some(b) = ledger::balances(&mut *conn, ktti).await? else {
        return Ok(());
    };
    if b.available >= Money::ZERO {
        return Ok(());
    }
    let item = NewAction {
        kind: Kind::NegativeBalance,
        ktti,
        audience: Audience::User(owner),
        subject: None,
        invitation: None,
        transaction: None,
        payload: serde_json::json!({
            "availableBalance": b.available.to_string(),
            "totalBalance": b.total().to_string(),
        }),
    };
    if actions::create(conn, &item).await?.is_some() {
        metrics::counter!("kttipay_negative_balance_total").increment(1);
        tracing::error!(%ktti, available = %b.available, total = %b.total(), "ktti balance below zero after a bank-reported movement");
    }
    Ok(())
}

/// As [`record_posted_id`], for money the members bear: the new transaction is split
/// by the ktti's default proportions in the same database transaction.
async fn record_expense(
    conn: &mut PgConnection,
    c: &Ctx<'_>,
    txn: NewTransaction<'_>,
    entry_kind: &str,
    entry: Result<JournalEntry, LedgerError>,
) -> Result<Applied, JobError> {
    if let Some(id) = record_posted_id(conn, c, txn, entry_kind, entry).await? {
        splits::split_by_default(conn, c.ktti, id, c.amount).await?;
        if entry_kind == "spend" {
            tell_spend(conn, c, id).await?;
        }
    }
    Ok(("applied", None))
}

/// Each member with a share of a card payment hears of it, with their share.
async fn tell_spend(conn: &mut PgConnection, c: &Ctx<'_>, txn: Uuid) -> Result<(), JobError> {
    let merchant = c.event.merchant_name.as_deref().unwrap_or("a merchant");
    let amount = c.amount;
    super::tell::by_share(conn, c.ktti, txn, |name, share| {
        kttipay_domain::notification::card_spend(name, merchant, amount, share)
    })
    .await
}

/// Records a posted transaction and, the first time only, books its entry under
/// the provider transaction id as the cause. The new transaction's id, or `None`
/// for a replay.
async fn record_posted_id(
    conn: &mut PgConnection,
    c: &Ctx<'_>,
    txn: NewTransaction<'_>,
    entry_kind: &str,
    entry: Result<JournalEntry, LedgerError>,
) -> Result<Option<Uuid>, JobError> {
    let id = c.txn_id()?;
    let txn = NewTransaction {
        ktti: Some(c.ktti),
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
        description: credit.description,
        counterparty_name: credit.sender_name,
        counterparty_bsb: credit.sender_bsb,
        counterparty_account: credit.sender_account,
        reference: credit.reference,
        assignee: attributed.map(|(u, _)| u),
        ..NewTransaction::new(TransactionKind::Deposit, TransactionStatus::Posted)
    };
    let inserted = record_posted_id(conn, c, txn, "deposit", JournalEntry::deposit(c.ktti, c.amount)).await?;
    if let Some(id) = inserted {
        super::tell::deposit(conn, c.ktti, id, c.amount, attributed.map(|(u, _)| u)).await?;
    }
    if let (Some(id), Some((to, why))) = (inserted, attributed) {
        let change = NewAssignment {
            transaction: id,
            actor: None,
            from: None,
            to,
            reason: why.map_or("owner", Reason::as_str),
        };
        assignments::record(conn, &change).await?;
    }
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
    lock_hold(conn, hold).await?;
    let inserted = txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            amount: c.amount,
            description: c.event.merchant_name.as_deref(),
            merchant_name: c.event.merchant_name.as_deref(),
            card: c.card,
            provider_hold_id: Some(hold),
            ..NewTransaction::new(TransactionKind::CardPayment, TransactionStatus::Pending)
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
        wake(conn, &hold_key(hold)).await?;
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
    lock_hold(conn, hold).await?;
    let Some(pending) = txns::pending_by_hold(conn, hold).await? else {
        let why = format!("the release of hold {hold} arrived before the hold; parked until it lands");
        return park(conn, c, &hold_key(hold), why).await;
    };
    if pending.status != TransactionStatus::Pending {
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
    let inserted = txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            amount: c.amount,
            description: c.event.merchant_name.as_deref(),
            merchant_name: c.event.merchant_name.as_deref(),
            card: c.card,
            provider_hold_id: Some(hold),
            decline_reason: c.event.outcome.as_deref(),
            ..NewTransaction::new(TransactionKind::CardPayment, TransactionStatus::Declined)
        },
    )
    .await?;
    if let (Some(id), Some(card)) = (inserted, c.card)
        && let Some(holder) = kttipay_db::cards::holder_of(&mut *conn, card).await?
    {
        let merchant = c.event.merchant_name.as_deref().unwrap_or("a merchant");
        super::tell::declined(conn, c.ktti, id, UserId(holder), merchant, c.amount).await?;
    }
    Ok(("applied", None))
}

/// A settlement: of its hold (for less or more than it held), of a hold that
/// lapsed, again of a hold already settled, or of no hold at all.
async fn settle(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let id = c.txn_id()?;
    // A payment booked as a plain spend, not tied to the hold's row.
    let spend = || NewTransaction {
        description: c.event.merchant_name.as_deref(),
        merchant_name: c.event.merchant_name.as_deref(),
        card: c.card,
        ..NewTransaction::new(TransactionKind::CardPayment, TransactionStatus::Posted)
    };
    let Some(hold) = c.event.hold_hay_id.as_deref() else {
        // Settled with no authorisation first (offline payments).
        return record_expense(conn, c, spend(), "spend", JournalEntry::spend(c.ktti, c.amount)).await;
    };
    lock_hold(conn, hold).await?;
    if txns::by_provider_transaction_id(&mut *conn, id).await?.is_some() {
        return Ok(("applied", Some("already settled".into())));
    }
    let Some(pending) = txns::pending_by_hold(conn, hold).await? else {
        let why = format!("settlement {id} arrived before its hold {hold}; parked until it lands");
        return park(conn, c, &hold_key(hold), why).await;
    };
    let entry = match pending.status {
        TransactionStatus::Pending => {
            let held = Money::new(pending.amount).map_err(|e| JobError::Permanent(e.to_string()))?;
            ("settle", JournalEntry::settle(c.ktti, held, c.amount))
        }
        // The hold lapsed but the merchant presented the payment anyway (a late or
        // forced settlement): the money left the account, so it is a plain spend.
        TransactionStatus::Reversed => ("spend", JournalEntry::spend(c.ktti, c.amount)),
        _ => {
            // A second clearing of a hold already settled (a split shipment, a
            // re-presentment): the bank took the money again, so it is a payment of
            // its own, booked as reported.
            record_expense(conn, c, spend(), "spend", JournalEntry::spend(c.ktti, c.amount)).await?;
            return Ok(("applied", Some(format!("a further clearing of hold {hold}"))));
        }
    };
    book(conn, c.ktti, entry.0, &format!("shaype:txn:{id}"), entry.1).await?;
    txns::post_settlement(conn, pending.id, c.amount, id).await?;
    // The expense exists from this moment, split by default at once.
    splits::split_by_default(conn, c.ktti, pending.id, c.amount).await?;
    tell_spend(conn, c, pending.id).await?;
    Ok(("applied", None))
}

/// A refund gives back money of a card payment: split pro rata to what each
/// member's share of that payment has not had back yet. (A refund whose payment
/// we cannot tell is split by the default proportions.)
async fn refund(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let reference = c.event.reference.as_deref();
    let expense = txns::refunded_payment(conn, reference, c.event.hold_hay_id.as_deref()).await?;
    let txn = NewTransaction {
        description: c.event.merchant_name.as_deref().or(c.event.description.as_deref()),
        merchant_name: c.event.merchant_name.as_deref(),
        reference,
        refund_of: expense,
        ..NewTransaction::new(TransactionKind::Refund, TransactionStatus::Posted)
    };
    if let Some(id) = record_posted_id(conn, c, txn, "refund", JournalEntry::refund(c.ktti, c.amount)).await? {
        splits::split_refund(conn, c.ktti, id, expense, c.amount).await?;
        let merchant = c.event.merchant_name.as_deref().unwrap_or("A merchant");
        let amount = c.amount;
        super::tell::by_share(conn, c.ktti, id, |name, share| {
            kttipay_domain::notification::refund(name, merchant, amount, share)
        })
        .await?;
    }
    Ok(("applied", None))
}

/// A debit: our billing charge (its reference names it), completed here if its
/// job has not heard yet; or a fee the bank charged, booked as reported and
/// split by the default proportions.
async fn fee(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    if let Some(key) = c
        .event
        .reference
        .as_deref()
        .and_then(kttipay_domain::billing::key_of_reference)
        && let Some(charge) = kttipay_db::billing::id_by_key(&mut *conn, key).await?
    {
        super::billing_charge::complete(conn, charge, Some(c.txn_id()?)).await?;
        return Ok((APPLIED, Some(format!("{OURS} billing charge {charge}"))));
    }
    let txn = NewTransaction {
        description: c.event.description.as_deref(),
        ..NewTransaction::new(TransactionKind::Fee, TransactionStatus::Posted)
    };
    record_expense(conn, c, txn, "fee", JournalEntry::fee(c.ktti, c.amount)).await
}

/// A transfer out the provider reports as done: one of our payouts (its
/// reference names it), completed here if its job has not heard yet; or a
/// transfer we did not start, booked as reported and borne like a fee.
async fn transfer_out(conn: &mut PgConnection, c: &Ctx<'_>) -> Result<Applied, JobError> {
    let id = c.txn_id()?;
    if let Some(key) = c.event.reference.as_deref().and_then(payout::key_of_reference)
        && let Some(payout_id) = payouts::id_by_key(&mut *conn, key).await?
    {
        super::payout::complete(conn, payout_id, Some(id)).await?;
        return Ok((APPLIED, Some(format!("{OURS} payout {payout_id}"))));
    }
    let inserted = txns::insert(
        conn,
        &NewTransaction {
            ktti: Some(c.ktti),
            amount: c.amount,
            description: c.event.description.as_deref(),
            counterparty_name: c.event.counterpart_name.as_deref(),
            reference: c.event.reference.as_deref(),
            provider_transaction_id: Some(id),
            ..NewTransaction::new(TransactionKind::TransferOut, TransactionStatus::Posted)
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
        // Money the bank sent out of the pot is borne like a fee.
        if let Some(id) = inserted {
            splits::split_by_default(conn, c.ktti, id, c.amount).await?;
        }
    }
    Ok(("applied", None))
}

/// After an event about `account` is applied: once every event we know of for
/// that account is applied, our balances must equal the newest the bank reported.
/// A difference is recorded (once per event) and alerted; agreement later (the
/// bank sent an earlier event late) resolves it. While events are still on the
/// way or parked the bank's figures include movements we have not booked yet, so
/// nothing is compared until they land.
pub async fn check_balances(pool: &PgPool, account: &str) -> Result<(), JobError> {
    if provider_events::account_has_open_events(pool, account).await? {
        return Ok(());
    }
    let Some((event, reported)) = provider_events::newest_reported_balances(pool, account).await? else {
        return Ok(());
    };
    let Some((ktti, _, _)) = txns::ktti_of_account(pool, account).await? else {
        return Ok(());
    };
    let reported: AccountBalances = serde_json::from_value(reported)
        .map_err(|e| JobError::Permanent(format!("stored balances unreadable: {e}")))?;
    let money = |a: Option<EventAmount>| a.and_then(|a| Money::new(a.amount).ok());
    let bank = BankBalances {
        total: money(reported.total_balance),
        available: money(reported.available_balance),
    };
    let Some(ours) = ledger::balances(pool, ktti).await? else {
        return Ok(());
    };
    if bank.agree_with(&ours) {
        if mismatches::resolve(pool, ktti).await? > 0 {
            tracing::info!(%ktti, account, "our balances agree with the bank's again");
        }
        return Ok(());
    }
    if mismatches::record(pool, ktti, account, Some(event), &ours, &bank).await? {
        metrics::counter!("kttipay_balance_mismatch_total").increment(1);
        tracing::error!(
            %ktti, account, %event,
            ours_total = %ours.total(), ours_available = %ours.available,
            bank_total = ?bank.total, bank_available = ?bank.available,
            "our balances differ from the bank's"
        );
    }
    Ok(())
}
